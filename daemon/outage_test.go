package daemon

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/autoclipd/autoclipd/capture"
	"github.com/autoclipd/autoclipd/config"
	"github.com/autoclipd/autoclipd/internal/mqtttest"
	"github.com/autoclipd/autoclipd/modelgen"
)

// eventSetup writes a video that alternates red and blue every 5 frames at
// 10 fps and a label set whose red and blue have event thresholds, so an
// event starts and ends about every half second. The daemon reaches the
// broker through a proxy.
type eventSetup struct {
	*setup
	mq    *mqtttest.MosquittoServer
	proxy *mqtttest.Proxy
}

func newEventSetup(t *testing.T) *eventSetup {
	t.Helper()
	s := newSetup(t)
	colours := map[string][3]uint8{}
	for _, c := range modelgen.DemoColours() {
		colours[c.Name] = c.BGR
	}
	segs := []capture.ColourSegment{{BGR: colours["red"], Frames: 5}, {BGR: colours["blue"], Frames: 5}}
	if err := capture.WriteColourVideo(filepath.Join(s.dir, "flip.avi"), 96, 64, 10, segs); err != nil {
		t.Fatal(err)
	}
	yaml := "templates: simple\nclasses:\n  - name: red\n    threshold: 0.5\n  - name: blue\n    threshold: 0.5\n  - green\n  - white\n"
	must(t, os.WriteFile(filepath.Join(s.dir, "labels", "flip.yaml"), []byte(yaml), 0o644))
	// newSetup started a broker; use it, behind a proxy for the daemon.
	es := &eventSetup{setup: s}
	return es
}

func (es *eventSetup) config(t *testing.T, extra string) *config.Config {
	t.Helper()
	text := fmt.Sprintf(`device: dev
state_dir: state
cache_dir: cache
shutdown_timeout: 1s
http:
  listen: "off"
model:
  dir: model
cameras:
  - name: cam
    source: flip.avi
    loop: true
    fps: 10
    labels: flip
labels:
  dir: labels
events:
  min_frames: 2
mqtt:
  url: tcp://%s
  topic_prefix: t
  classifications: "off"
%s`, es.proxy.Addr(), extra)
	path := filepath.Join(es.dir, "config.yaml")
	must(t, os.WriteFile(path, []byte(text), 0o644))
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

type eventMsg struct {
	Type  string `json:"type"`
	ID    string `json:"id"`
	Label string `json:"label"`
	Seq   uint64 `json:"seq"`
}

// checkSeq asserts that the events' seq numbers run without gaps and in
// order from the first to the last (a QoS 1 duplicate is allowed: it
// repeats the previous number).
func checkSeq(t *testing.T, evs []eventMsg) {
	t.Helper()
	if len(evs) == 0 {
		t.Fatal("no events")
	}
	for i := 1; i < len(evs); i++ {
		prev, cur := evs[i-1].Seq, evs[i].Seq
		if cur == prev+1 {
			continue
		}
		if cur <= prev {
			// A duplicate of something already seen is allowed.
			seen := false
			for _, e := range evs[:i] {
				if e.Seq == cur && e.ID == evs[i].ID && e.Type == evs[i].Type {
					seen = true
				}
			}
			if seen {
				evs[i].Seq = prev // keep counting from the highest
				continue
			}
		}
		t.Fatalf("event %d: seq %d after %d", i, cur, prev)
	}
}

func collectEvents(t *testing.T, sub *mqtttest.Sub) []eventMsg {
	t.Helper()
	var out []eventMsg
	for _, m := range sub.All() {
		if m.Topic != "t/dev/cam/event" {
			continue
		}
		var e eventMsg
		if err := json.Unmarshal(m.Payload, &e); err != nil {
			t.Fatalf("event %s: %v", m.Payload, err)
		}
		out = append(out, e)
	}
	return out
}

// outage kills the broker (the daemon's path through the proxy goes down
// with it), waits d, restarts the broker, waits for the test subscriber to
// be back, and only then lets the daemon through: the daemon must resend
// what it queued, and the subscriber must be there to see it.
func (es *eventSetup) outage(t *testing.T, sub *mqtttest.Sub, d time.Duration, during func()) {
	t.Helper()
	es.proxy.Down()
	es.mq.Kill()
	start := time.Now()
	if during != nil {
		during()
	}
	time.Sleep(d - time.Since(start))
	es.mq.Start()
	// The subscriber reconnects on its own; a probe message it receives
	// says when it is subscribed again.
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://" + es.mq.Addr()).SetClientID("probe"))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("probe client: %v", tok.Error())
	}
	defer c.Disconnect(100)
	deadline := time.Now().Add(20 * time.Second)
	for n := 0; ; n++ {
		c.Publish("t/dev/probe", 1, false, fmt.Sprint(n)).WaitTimeout(time.Second)
		if _, err := sub.WaitFor(func(m mqtttest.Message) bool { return m.Topic == "t/dev/probe" }, time.Second); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("test subscriber not back 20 s after the broker restarted")
		}
	}
	es.proxy.Up()
}

// TestOutageLosesNoEvent: the daemon scores at 10 fps with events every
// few frames; the broker is killed for 30 s and restarted. Every event
// message arrives, seq without gaps and in order, and the queue stays
// within its bound.
func TestOutageLosesNoEvent(t *testing.T) {
	es := newEventSetup(t)
	es.mq = mqtttest.StartMosquitto(t)
	es.proxy = mqtttest.NewProxy(t, es.mq.Addr())
	sub := mqtttest.Subscribe(t, es.mq.Addr(), "t/dev/#")
	r := start(t, es.config(t, "  queue: 1000\n"), Options{})
	isEvent := func(m mqtttest.Message) bool { return m.Topic == "t/dev/cam/event" }
	if _, err := sub.WaitFor(isEvent, 30*time.Second); err != nil {
		t.Fatalf("no first event: %v; log:\n%s", err, r.log.String())
	}
	before := len(collectEvents(t, sub))
	var heapDuring uint64
	es.outage(t, sub, 30*time.Second, func() {
		time.Sleep(20 * time.Second)
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		heapDuring = ms.HeapAlloc
	})
	// After the outage, wait for the events queued during it and a few
	// new ones.
	deadline := time.Now().Add(30 * time.Second)
	for len(collectEvents(t, sub)) < before+60 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	r.stop(t)
	evs := collectEvents(t, sub)
	if len(evs) < before+60 {
		t.Fatalf("%d events, want at least %d (30 s of events queued); log:\n%s", len(evs), before+60, r.log.String())
	}
	checkSeq(t, evs)
	if heapDuring > 512<<20 {
		t.Errorf("heap %d MiB during the outage", heapDuring>>20)
	}
	t.Logf("%d events, seq %d..%d; heap during the outage %d MiB", len(evs), evs[0].Seq, evs[len(evs)-1].Seq, heapDuring>>20)
}

// TestOutageRestartWithQueueDir: with mqtt.queue_dir set, the daemon is
// restarted during an outage; the events the first one queued are sent by
// the second, and seq continues without a gap.
func TestOutageRestartWithQueueDir(t *testing.T) {
	es := newEventSetup(t)
	es.mq = mqtttest.StartMosquitto(t)
	es.proxy = mqtttest.NewProxy(t, es.mq.Addr())
	sub := mqtttest.Subscribe(t, es.mq.Addr(), "t/dev/#")
	cfg := es.config(t, "  queue_dir: queue\n")
	r1 := start(t, cfg, Options{})
	if _, err := sub.WaitFor(func(m mqtttest.Message) bool { return m.Topic == "t/dev/cam/event" }, 30*time.Second); err != nil {
		t.Fatalf("no first event: %v; log:\n%s", err, r1.log.String())
	}
	var r2 *running
	es.outage(t, sub, 15*time.Second, func() {
		time.Sleep(6 * time.Second)
		r1.stop(t) // queued events stay on disk
		r2 = start(t, cfg, Options{})
		time.Sleep(5 * time.Second)
	})
	deadline := time.Now().Add(30 * time.Second)
	var evs []eventMsg
	for time.Now().Before(deadline) {
		evs = collectEvents(t, sub)
		if len(evs) >= 40 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	r2.stop(t)
	evs = collectEvents(t, sub)
	if len(evs) < 40 {
		t.Fatalf("%d events, want at least 40; log 1:\n%s\nlog 2:\n%s", len(evs), r1.log.String(), r2.log.String())
	}
	checkSeq(t, evs)
	t.Logf("%d events, seq %d..%d", len(evs), evs[0].Seq, evs[len(evs)-1].Seq)
}
