package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/autoclipd/autoclipd/capture"
	"github.com/autoclipd/autoclipd/config"
	"github.com/autoclipd/autoclipd/internal/logtest"
	"github.com/autoclipd/autoclipd/internal/mqtttest"
	"github.com/autoclipd/autoclipd/modelgen"
)

// setup is a folder with the demo model, one looping single-colour video per
// colour, the colours label set and a config publishing to a real broker.
type setup struct {
	t      *testing.T
	dir    string
	broker string
}

func newSetup(t *testing.T, colours ...string) *setup {
	t.Helper()
	if os.Getenv("ORT_LIB") == "" {
		t.Fatal("ORT_LIB is not set: run the tests with `make test`")
	}
	s := &setup{t: t, dir: t.TempDir()}
	if err := modelgen.WriteDemoModel(filepath.Join(s.dir, "model")); err != nil {
		t.Fatal(err)
	}
	byName := map[string]modelgen.DemoColour{}
	var all []string
	for _, c := range modelgen.DemoColours() {
		byName[c.Name] = c
		all = append(all, c.Name)
	}
	for _, name := range colours {
		c, ok := byName[name]
		if !ok {
			t.Fatalf("no demo colour %q", name)
		}
		segs := []capture.ColourSegment{{BGR: c.BGR, Frames: 10}}
		if err := capture.WriteColourVideo(filepath.Join(s.dir, name+".avi"), 96, 64, 10, segs); err != nil {
			t.Fatal(err)
		}
	}
	s.writeLabels("colours", all)
	s.broker = mqtttest.StartMosquitto(t).Addr()
	return s
}

func (s *setup) writeLabels(set string, classes []string) {
	s.t.Helper()
	if err := os.MkdirAll(filepath.Join(s.dir, "labels"), 0o755); err != nil {
		s.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.dir, "labels", set+".txt"), []byte(strings.Join(classes, "\n")+"\n"), 0o644); err != nil {
		s.t.Fatal(err)
	}
}

// config returns a config with one camera per entry of cams
// ("name=colour"), each looping its colour's video at 10 fps.
func (s *setup) config(cams ...string) *config.Config {
	s.t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "device: dev\nstate_dir: state\ncache_dir: cache\nhttp:\n  listen: \"off\"\nmodel:\n  dir: model\ncameras:\n")
	for _, c := range cams {
		name, colour, _ := strings.Cut(c, "=")
		fmt.Fprintf(&b, "  - name: %s\n    source: %s.avi\n    loop: true\n    fps: 10\n    labels: colours\n", name, colour)
	}
	fmt.Fprintf(&b, "labels:\n  dir: labels\nmqtt:\n  url: tcp://%s\n  topic_prefix: t\n  top: 3\n", s.broker)
	path := filepath.Join(s.dir, "config.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		s.t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		s.t.Fatal(err)
	}
	return cfg
}

// running is a daemon started by a test.
type running struct {
	cancel context.CancelFunc
	done   chan error
	reload chan *config.Config
	log    *logtest.Buffer
	once   sync.Once
}

func start(t *testing.T, cfg *config.Config, o Options) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1), reload: make(chan *config.Config), log: &logtest.Buffer{}}
	o.Log = slog.New(slog.NewTextHandler(r.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	o.Reload = r.reload
	go func() { r.done <- Run(ctx, cfg, o) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *running) stop(t *testing.T) {
	t.Helper()
	r.once.Do(func() {
		r.cancel()
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("daemon: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("daemon did not stop in 30 s; log:\n%s", r.log.String())
		}
	})
}

type message struct {
	Camera   string `json:"camera"`
	Frame    uint64 `json:"frame"`
	LabelSet string `json:"label_set"`
	Labels   []struct {
		Label       string  `json:"label"`
		Probability float64 `json:"probability"`
	} `json:"labels"`
}

func decode(t *testing.T, m mqtttest.Message) message {
	t.Helper()
	var c message
	if err := json.Unmarshal(m.Payload, &c); err != nil {
		t.Fatalf("%s: %v", m.Topic, err)
	}
	return c
}

type batchSizes struct {
	mu    sync.Mutex
	sizes map[int]int
}

// frame counts, by the size of its batch, every frame scored (a batch of
// n is counted n times).
func (b *batchSizes) frame(ft FrameTimes) {
	b.mu.Lock()
	b.sizes[ft.Batch]++
	b.mu.Unlock()
}

// TestMultiCameraBatching: four cameras, each looking at its own colour,
// share the encoder in batches, and every message names the right camera
// with that camera's colour on top.
func TestMultiCameraBatching(t *testing.T) {
	colours := []string{"red", "green", "blue", "yellow"}
	s := newSetup(t, colours...)
	var cams []string
	for i, c := range colours {
		cams = append(cams, fmt.Sprintf("cam%d=%s", i, c))
	}
	sub := mqtttest.Subscribe(t, s.broker, "t/dev/+/classification")
	sizes := &batchSizes{sizes: map[int]int{}}
	r := start(t, s.config(cams...), Options{Frames: sizes.frame})

	seen := map[string]int{}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		done := true
		for i := range colours {
			if seen[fmt.Sprintf("cam%d", i)] < 10 {
				done = false
			}
		}
		if done {
			break
		}
		m, err := sub.Next(time.Until(deadline))
		if err != nil {
			t.Fatalf("%v; log:\n%s", err, r.log.String())
		}
		c := decode(t, m)
		if m.Topic != "t/dev/"+c.Camera+"/classification" {
			t.Fatalf("topic %s carries camera %q", m.Topic, c.Camera)
		}
		var i int
		if _, err := fmt.Sscanf(c.Camera, "cam%d", &i); err != nil || i >= len(colours) {
			t.Fatalf("unknown camera %q", c.Camera)
		}
		if got := c.Labels[0].Label; got != colours[i] {
			t.Errorf("%s frame %d: top label %q, want %q", c.Camera, c.Frame, got, colours[i])
		}
		seen[c.Camera]++
	}
	sizes.mu.Lock()
	defer sizes.mu.Unlock()
	multi := 0
	for n, count := range sizes.sizes {
		if n > 1 {
			multi += count
		}
	}
	if multi == 0 {
		t.Errorf("no batch of more than one frame formed: %v", sizes.sizes)
	}
	t.Logf("messages per camera %v, batch sizes %v", seen, sizes.sizes)
}

// TestReloadCameras: a config reload adds one camera and removes another
// while a third keeps running, its frame counter uninterrupted.
func TestReloadCameras(t *testing.T) {
	s := newSetup(t, "red", "green", "blue")
	sub := mqtttest.Subscribe(t, s.broker, "t/dev/+/classification")
	r := start(t, s.config("keep=red", "gone=green"), Options{})

	last := map[string]uint64{}
	wait := func(pred func() bool, what string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !pred() {
			m, err := sub.Next(time.Until(deadline))
			if err != nil {
				t.Fatalf("waiting for %s: %v; log:\n%s", what, err, r.log.String())
			}
			c := decode(t, m)
			if c.Frame <= last[c.Camera] && c.Camera == "keep" {
				t.Errorf("camera keep: frame %d after %d: counter restarted", c.Frame, last[c.Camera])
			}
			last[c.Camera] = c.Frame
		}
	}
	wait(func() bool { return last["keep"] >= 5 && last["gone"] >= 5 }, "both cameras")
	keepBefore := last["keep"]

	r.reload <- s.config("keep=red", "new=blue")
	wait(func() bool { return last["new"] >= 5 }, "the new camera")
	if last["keep"] <= keepBefore {
		t.Errorf("camera keep stopped at frame %d", last["keep"])
	}
	// The removed camera publishes nothing more.
	goneAt := last["gone"]
	wait(func() bool { return last["new"] >= 15 }, "more frames")
	if last["gone"] != goneAt {
		t.Errorf("removed camera still publishing: frame %d after %d", last["gone"], goneAt)
	}
	if !strings.Contains(r.log.String(), "camera stopped by reload") || !strings.Contains(r.log.String(), "camera started by reload") {
		t.Errorf("reload not logged:\n%s", r.log.String())
	}
}
