package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/autoclipd/autoclipd/ops/opstest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/autoclipd/autoclipd/capture"
	"github.com/autoclipd/autoclipd/internal/logtest"
	"github.com/autoclipd/autoclipd/internal/mqtttest"
	"github.com/autoclipd/autoclipd/modelgen"
)

// e2eColours are the segments of the test video, in order.
var e2eColours = []string{"red", "green", "blue", "white", "black"}

const e2eSegment = 8 // frames per colour

// writeE2E writes a model, a video of e2eColours, the label set and a config
// publishing to broker into a temporary folder and returns the config path.
func writeE2E(t *testing.T, broker, extra string) string {
	t.Helper()
	dir := t.TempDir()
	if err := modelgen.WriteDemoModel(filepath.Join(dir, "model")); err != nil {
		t.Fatal(err)
	}
	byName := map[string]modelgen.DemoColour{}
	var all []string
	for _, c := range modelgen.DemoColours() {
		byName[c.Name] = c
		all = append(all, c.Name)
	}
	var segs []capture.ColourSegment
	for _, n := range e2eColours {
		c, ok := byName[n]
		if !ok {
			t.Fatalf("demo model has no colour %q", n)
		}
		segs = append(segs, capture.ColourSegment{BGR: c.BGR, Frames: e2eSegment})
	}
	if err := capture.WriteColourVideo(filepath.Join(dir, "colours.avi"), 160, 120, 10, segs); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "labels"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "labels", "colours.txt"), []byte(strings.Join(all, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`device: e2e-1
state_dir: state
cache_dir: cache
http:
  listen: "off"
model:
  dir: model
cameras:
  - name: cam
    source: colours.avi
    loop: false
    labels: colours
labels:
  dir: labels
mqtt:
  url: tcp://%s
  topic_prefix: test
%s`, broker, extra)
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// classification mirrors the published JSON; decoding is strict.
type classification struct {
	Device   string `json:"device"`
	Camera   string `json:"camera"`
	Frame    uint64 `json:"frame"`
	Time     string `json:"time"`
	LabelSet string `json:"label_set"`
	Method   string `json:"method"`
	Labels   []struct {
		Label       string  `json:"label"`
		Score       float64 `json:"score"`
		Probability float64 `json:"probability"`
	} `json:"labels"`
}

// TestEndToEnd runs the daemon on a generated model and video against a real
// mosquitto and checks what a subscriber sees.
func TestEndToEnd(t *testing.T) {
	if os.Getenv("ORT_LIB") == "" {
		t.Fatal("ORT_LIB is not set: run the tests with `make test`, which finds or fetches ONNX Runtime")
	}
	broker, _ := mqtttest.Mosquitto(t)
	path := writeE2E(t, broker, "")
	sub := mqtttest.Subscribe(t, broker, "test/e2e-1/#")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr logtest.Buffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"run", "--config", path}, nil, &stderr, &stderr) }()

	want := len(e2eColours) * e2eSegment
	var got []classification
	sawOnline, sawStatus, sawAvailable := false, false, false
	var states []string
	deadline := time.Now().Add(60 * time.Second)
	// The video is paced at 10 fps; latest-frame-wins may skip frames under
	// load, but the last frame is always scored.
	for (len(got) == 0 || got[len(got)-1].Frame < uint64(want)) && time.Now().Before(deadline) {
		m, err := sub.Next(time.Until(deadline))
		if err != nil {
			break
		}
		switch m.Topic {
		case "test/e2e-1/status":
			if string(m.Payload) == "online" {
				sawOnline = true
			}
		case "test/e2e-1/cam/classification":
			var c classification
			dec := json.NewDecoder(bytes.NewReader(m.Payload))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&c); err != nil {
				t.Fatalf("classification %s: %v", m.Payload, err)
			}
			got = append(got, c)
		case "test/e2e-1/labels/colours/status":
			var st struct {
				State     string `json:"state"`
				Error     string `json:"error"`
				Classes   int    `json:"classes"`
				Templates int    `json:"templates"`
				Loaded    string `json:"loaded"`
			}
			if err := json.Unmarshal(m.Payload, &st); err != nil {
				t.Fatalf("label status %s: %v", m.Payload, err)
			}
			if st.State != "ok" || st.Error != "" || st.Classes != len(modelgen.DemoColours()) || st.Templates < 40 {
				t.Errorf("label status %s (retained %v), want ok with %d classes", m.Payload, m.Retained, len(modelgen.DemoColours()))
			}
			sawStatus = true
		case "test/e2e-1/cam/enabled":
			if string(m.Payload) != "ON" {
				t.Errorf("enabled %q, want ON", m.Payload)
			}
		case "test/e2e-1/cam/labels":
			if string(m.Payload) != "colours" {
				t.Errorf("labels %q, want colours", m.Payload)
			}
		case "test/e2e-1/cam/availability":
			if string(m.Payload) == "online" {
				sawAvailable = true
			}
		case "test/e2e-1/cam/state":
			var st struct {
				Label string `json:"label"`
			}
			if err := json.Unmarshal(m.Payload, &st); err != nil || st.Label == "" {
				t.Errorf("state %s: %v", m.Payload, err)
			}
			states = append(states, st.Label)
		default:
			t.Errorf("unexpected topic %q", m.Topic)
		}
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("run exited %d:\n%s", code, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("daemon did not stop within 20 s of cancel:\n%s", stderr.String())
	}
	if !sawOnline {
		t.Error("no online status message")
	}
	if !sawStatus {
		t.Error("no label set status message")
	}
	if !sawAvailable {
		t.Error("no camera availability online message")
	}
	// The state follows the colours, each after events.min_frames frames.
	if strings.Join(states, ",") != strings.Join(e2eColours, ",") {
		t.Errorf("states %v, want %v", states, e2eColours)
	}
	if len(got) == 0 || got[len(got)-1].Frame != uint64(want) {
		t.Fatalf("got %d classifications, not up to frame %d (log:\n%s)", len(got), want, stderr.String())
	}
	if len(got) < want/2 {
		t.Errorf("only %d of %d frames scored", len(got), want)
	}

	var order []string
	for _, c := range got {
		if c.Device != "e2e-1" || c.Camera != "cam" || c.LabelSet != "colours" || c.Method != "autoclip" {
			t.Fatalf("bad header fields: %+v", c)
		}
		if _, err := time.Parse("2006-01-02T15:04:05.000Z07:00", c.Time); err != nil || !strings.Contains(c.Time, ".") {
			t.Errorf("time %q is not RFC 3339 with milliseconds", c.Time)
		}
		if len(c.Labels) != 5 {
			t.Fatalf("frame %d: %d labels, want 5", c.Frame, len(c.Labels))
		}
		for i := 1; i < len(c.Labels); i++ {
			if c.Labels[i].Score > c.Labels[i-1].Score {
				t.Errorf("frame %d: labels not sorted by score: %+v", c.Frame, c.Labels)
			}
		}
		if c.Frame < 1 || c.Frame > uint64(want) {
			t.Fatalf("frame number %d out of range 1..%d", c.Frame, want)
		}
		wantLabel := e2eColours[(c.Frame-1)/e2eSegment]
		if c.Labels[0].Label != wantLabel {
			t.Errorf("frame %d: top label %q, want %q (labels %+v)", c.Frame, c.Labels[0].Label, wantLabel, c.Labels)
		}
		if p := c.Labels[0].Probability; p <= 0.5 || p > 1 {
			t.Errorf("frame %d: top probability %v, want a clear winner", c.Frame, p)
		}
		if len(order) == 0 || order[len(order)-1] != c.Labels[0].Label {
			order = append(order, c.Labels[0].Label)
		}
	}
	if strings.Join(order, ",") != strings.Join(e2eColours, ",") {
		t.Errorf("top labels in order %v, want %v", order, e2eColours)
	}

	// After shutdown a new subscriber sees the retained offline status.
	late := mqtttest.Subscribe(t, broker, "test/e2e-1/status")
	m, err := late.Next(5 * time.Second)
	if err != nil || string(m.Payload) != "offline" || !m.Retained {
		t.Errorf("retained status after shutdown: %v (%v), want retained offline", m, err)
	}
	lateSet := mqtttest.Subscribe(t, broker, "test/e2e-1/labels/colours/status")
	if m, err := lateSet.Next(5 * time.Second); err != nil || !m.Retained || !strings.Contains(string(m.Payload), `"state":"ok"`) {
		t.Errorf("retained label set status: %v (%v), want retained ok", m, err)
	}
}

// TestSystemdNotify runs the daemon as systemd would, with NOTIFY_SOCKET and
// a watchdog: READY=1, WATCHDOG=1 and, after SIGTERM (the context), STOPPING=1
// arrive in order.
func TestSystemdNotify(t *testing.T) {
	broker := mqtttest.StartMosquitto(t).Addr()
	path := writeE2E(t, broker, "")
	sock := opstest.ListenNotify(t)
	t.Setenv("WATCHDOG_USEC", "2000000")
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr logtest.Buffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"run", "--config", path}, nil, &stderr, &stderr) }()
	sock.ExpectInOrder(t, 60*time.Second, "READY=1", "WATCHDOG=1")
	cancel()
	sock.ExpectInOrder(t, 20*time.Second, "STOPPING=1")
	if code := <-done; code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr.String())
	}
}
