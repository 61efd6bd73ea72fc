package ops

import (
	"errors"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// fakeClock is a settable clock for the last-frame-age gauge.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock(t time.Time) *fakeClock {
	c := &fakeClock{}
	c.ns.Store(t.UnixNano())
	return c
}
func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func newTestMetrics(t testing.TB) (*prometheus.Registry, *Metrics, *fakeClock) {
	t.Helper()
	reg := NewRegistry()
	clock := newFakeClock(t0)
	m, err := newMetrics(reg, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	return reg, m, clock
}

// gather returns the registry's families by name.
func gather(t *testing.T, g prometheus.Gatherer) map[string]*dto.MetricFamily {
	t.Helper()
	fams, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := make(map[string]*dto.MetricFamily, len(fams))
	for _, f := range fams {
		out[f.GetName()] = f
	}
	return out
}

// metric finds the series of family name whose labels include want
// (name=value pairs); it fails the test if there is none.
func metric(t *testing.T, fams map[string]*dto.MetricFamily, name string, want ...string) *dto.Metric {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		t.Fatalf("metric %s not exported", name)
	}
next:
	for _, m := range f.GetMetric() {
		for i := 0; i+1 < len(want); i += 2 {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == want[i] && l.GetValue() == want[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		return m
	}
	t.Fatalf("metric %s%v not exported; have %v", name, want, f.GetMetric())
	return nil
}

// value returns the value of a counter, gauge or untyped series.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	m := metric(t, fams, name, labels...)
	switch {
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Untyped != nil:
		return m.GetUntyped().GetValue()
	}
	t.Fatalf("metric %s%v is not a counter or gauge", name, labels)
	return 0
}

func assertValue(t *testing.T, fams map[string]*dto.MetricFamily, want float64, name string, labels ...string) {
	t.Helper()
	if got := value(t, fams, name, labels...); math.Abs(got-want) > 1e-9 {
		t.Errorf("%s%v = %v, want %v", name, labels, got, want)
	}
}

// exercise drives every metric through its API with known counts.
func exercise(m *Metrics, clock *fakeClock) {
	yard := m.Camera("yard")
	door := m.Camera("door")
	for i := 0; i < 5; i++ {
		yard.FrameRead(clock.Now())
		clock.Advance(100 * time.Millisecond)
	}
	for i := 0; i < 3; i++ {
		yard.FrameScored(clock.Now())
	}
	yard.FrameSkipped()
	yard.FrameDropped()
	yard.FrameDropped()
	yard.Reconnect()
	yard.ObservePreprocess(3 * time.Millisecond)
	yard.ObservePreprocess(5 * time.Millisecond)
	door.SetEnabled(false)
	m.ObserveInference(120 * time.Millisecond)
	m.ObserveAutoCLIP(2 * time.Millisecond)
	m.ObserveAutoCLIP(4 * time.Millisecond)
	m.ObserveAutoCLIP(6 * time.Millisecond)
	m.SetQueueDepth(func() int { return 42 })
	m.SetMQTTConnected(true)
	m.MQTTReconnect()
	m.MQTTPublished("event")
	m.MQTTDropped("classification")
	m.MQTTDropped("classification")
	m.Reload("config", nil)
	m.Reload("yard", errors.New("labels/yard.yaml:3: bad"))
	m.Error("capture")
	m.Error("capture")
	m.Error("publish")
	clock.Advance(2 * time.Second)
}

func TestMetricsValues(t *testing.T) {
	reg, m, clock := newTestMetrics(t)
	exercise(m, clock)
	fams := gather(t, reg)

	assertValue(t, fams, 5, "autoclipd_frames_read_total", "camera", "yard")
	assertValue(t, fams, 3, "autoclipd_frames_scored_total", "camera", "yard")
	assertValue(t, fams, 1, "autoclipd_frames_skipped_total", "camera", "yard")
	assertValue(t, fams, 2, "autoclipd_frames_dropped_total", "camera", "yard")
	assertValue(t, fams, 1, "autoclipd_camera_reconnects_total", "camera", "yard")
	// A camera without traffic is exported at zero.
	assertValue(t, fams, 0, "autoclipd_frames_read_total", "camera", "door")
	// Last frame read at t0+400ms, now t0+2.5s.
	assertValue(t, fams, 2.1, "autoclipd_last_frame_age_seconds", "camera", "yard")
	// No frame yet: age since the camera was added (t0).
	assertValue(t, fams, 2.5, "autoclipd_last_frame_age_seconds", "camera", "door")
	assertValue(t, fams, 1, "autoclipd_camera_enabled", "camera", "yard")
	assertValue(t, fams, 0, "autoclipd_camera_enabled", "camera", "door")
	assertValue(t, fams, 42, "autoclipd_mqtt_queue_depth")
	assertValue(t, fams, 1, "autoclipd_mqtt_connected")
	assertValue(t, fams, 1, "autoclipd_mqtt_reconnects_total")
	assertValue(t, fams, 1, "autoclipd_mqtt_messages_published_total", "class", "event")
	assertValue(t, fams, 2, "autoclipd_mqtt_messages_dropped_total", "class", "classification")
	assertValue(t, fams, 0, "autoclipd_mqtt_messages_dropped_total", "class", "event")
	assertValue(t, fams, 1, "autoclipd_reloads_total", "set", "config", "result", "ok")
	assertValue(t, fams, 1, "autoclipd_reloads_total", "set", "yard", "result", "error")
	assertValue(t, fams, 2, "autoclipd_errors_total", "component", "capture")
	assertValue(t, fams, 1, "autoclipd_errors_total", "component", "publish")

	pre := metric(t, fams, "autoclipd_preprocess_duration_seconds", "camera", "yard").GetHistogram()
	if pre.GetSampleCount() != 2 || math.Abs(pre.GetSampleSum()-0.008) > 1e-12 {
		t.Errorf("preprocess histogram: count %d sum %v, want 2 and 0.008", pre.GetSampleCount(), pre.GetSampleSum())
	}
	inf := metric(t, fams, "autoclipd_inference_duration_seconds").GetHistogram()
	if inf.GetSampleCount() != 1 || math.Abs(inf.GetSampleSum()-0.12) > 1e-12 {
		t.Errorf("inference histogram: count %d sum %v, want 1 and 0.12", inf.GetSampleCount(), inf.GetSampleSum())
	}
	ac := metric(t, fams, "autoclipd_autoclip_duration_seconds").GetHistogram()
	if ac.GetSampleCount() != 3 || math.Abs(ac.GetSampleSum()-0.012) > 1e-12 {
		t.Errorf("autoclip histogram: count %d sum %v, want 3 and 0.012", ac.GetSampleCount(), ac.GetSampleSum())
	}
	// Go runtime and process collectors live on the same private registry.
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total", "go_build_info"} {
		if _, ok := fams[name]; !ok {
			t.Errorf("%s missing from the private registry", name)
		}
	}
}

func TestCameraLastScored(t *testing.T) {
	_, m, clock := newTestMetrics(t)
	c := m.Camera("yard")
	if !c.LastScored().IsZero() || !c.LastFrame().IsZero() {
		t.Fatalf("new camera: LastScored %v LastFrame %v, want zero times", c.LastScored(), c.LastFrame())
	}
	at := clock.Now().Add(time.Second)
	c.FrameScored(at)
	if !c.LastScored().Equal(at) {
		t.Errorf("LastScored = %v, want %v", c.LastScored(), at)
	}
	if m.Camera("yard") != c {
		t.Error("Camera(name) returned a different handle the second time")
	}
	if c.Name() != "yard" || !c.Enabled() {
		t.Errorf("Name %q Enabled %v, want yard true", c.Name(), c.Enabled())
	}
}

func TestQueueDepthUnset(t *testing.T) {
	reg, m, _ := newTestMetrics(t)
	assertValue(t, gather(t, reg), 0, "autoclipd_mqtt_queue_depth")
	depth := 7
	m.SetQueueDepth(func() int { return depth })
	assertValue(t, gather(t, reg), 7, "autoclipd_mqtt_queue_depth")
	depth = 9 // read at scrape time, not at SetQueueDepth
	assertValue(t, gather(t, reg), 9, "autoclipd_mqtt_queue_depth")
	m.SetQueueDepth(nil)
	assertValue(t, gather(t, reg), 0, "autoclipd_mqtt_queue_depth")
}

func TestRemoveCamera(t *testing.T) {
	reg, m, clock := newTestMetrics(t)
	m.Camera("yard").FrameRead(clock.Now())
	m.Camera("door").FrameRead(clock.Now())
	m.RemoveCamera("yard")
	fams := gather(t, reg)
	for _, name := range []string{"autoclipd_frames_read_total", "autoclipd_last_frame_age_seconds", "autoclipd_camera_enabled"} {
		for _, s := range fams[name].GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == "camera" && l.GetValue() == "yard" {
					t.Errorf("%s still exports removed camera yard", name)
				}
			}
		}
	}
	assertValue(t, fams, 1, "autoclipd_frames_read_total", "camera", "door")
}

func TestNewMetricsTwiceOnOneRegistryFails(t *testing.T) {
	reg := NewRegistry()
	if _, err := NewMetrics(reg); err != nil {
		t.Fatal(err)
	}
	_, err := NewMetrics(reg)
	if err == nil || !strings.Contains(err.Error(), "registering autoclipd metrics") {
		t.Fatalf("second NewMetrics on one registry: err = %v, want a registration error", err)
	}
}

func TestPrivateRegistryOnly(t *testing.T) {
	reg := NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	m.Camera("yard").FrameDropped()
	fams, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if strings.HasPrefix(f.GetName(), Namespace+"_") {
			t.Errorf("%s found on the global default registry", f.GetName())
		}
	}
	// Two independent registries (two daemons in one test process) work.
	if _, err := NewMetrics(NewRegistry()); err != nil {
		t.Errorf("NewMetrics on a second registry: %v", err)
	}
}

// frameLoop is what the daemon does per frame.
func frameLoop(c *Camera, m *Metrics, now time.Time) {
	c.FrameRead(now)
	c.ObservePreprocess(time.Millisecond)
	m.ObserveInference(10 * time.Millisecond)
	m.ObserveAutoCLIP(time.Millisecond)
	c.FrameScored(now)
	c.FrameSkipped()
	c.FrameDropped()
}

func TestHotPathsZeroAllocs(t *testing.T) {
	_, m, _ := newTestMetrics(t)
	c := m.Camera("yard")
	w := NewWatchdog(NewNotifier(discardLogger()), time.Second)
	now := time.Now()
	for name, f := range map[string]func(){
		"frame loop":   func() { frameLoop(c, m, now) },
		"watchdog":     w.Alive,
		"mqtt publish": func() { m.MQTTPublished("event") },
		"mqtt drop":    func() { m.MQTTDropped("classification") },
		"error":        func() { m.Error("capture") },
		"reload":       func() { m.Reload("config", nil) },
		"readiness in": func() { _ = c.Status(10) },
	} {
		if n := testing.AllocsPerRun(1000, f); n != 0 {
			t.Errorf("%s: %v allocations per call, want 0", name, n)
		}
	}
}

func TestConcurrentUpdatesAndScrapes(t *testing.T) {
	reg, m, clock := newTestMetrics(t)
	const workers, frames = 4, 500
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := m.Camera("yard")
			for i := 0; i < frames; i++ {
				frameLoop(c, m, clock.Now())
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 20; i++ {
			if _, err := reg.Gather(); err != nil {
				t.Error(err)
				return
			}
			m.Camera("door").Reconnect()
		}
	}()
	wg.Wait()
	fams := gather(t, reg)
	assertValue(t, fams, workers*frames, "autoclipd_frames_scored_total", "camera", "yard")
	assertValue(t, fams, 20, "autoclipd_camera_reconnects_total", "camera", "door")
}

func BenchmarkFrameLoop(b *testing.B) {
	_, m, _ := newTestMetrics(b)
	c := m.Camera("yard")
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		frameLoop(c, m, now)
	}
}

func BenchmarkWatchdogAlive(b *testing.B) {
	w := NewWatchdog(NewNotifier(discardLogger()), time.Second)
	b.ReportAllocs()
	for b.Loop() {
		w.Alive()
	}
}

// TestCaptured: capture's counters added in one call per interval.
func TestCaptured(t *testing.T) {
	reg, m, clock := newTestMetrics(t)
	c := m.Camera("gate")
	last := clock.Now().Add(-300 * time.Millisecond)
	c.Captured(10, 4, 1, 2, last)
	c.Captured(5, 0, 0, 0, time.Time{}) // no new frame time: the last one stays
	fams := gather(t, reg)
	assertValue(t, fams, 15, "autoclipd_frames_read_total", "camera", "gate")
	assertValue(t, fams, 4, "autoclipd_frames_skipped_total", "camera", "gate")
	assertValue(t, fams, 1, "autoclipd_frames_dropped_total", "camera", "gate")
	assertValue(t, fams, 2, "autoclipd_camera_reconnects_total", "camera", "gate")
	assertValue(t, fams, 0.3, "autoclipd_last_frame_age_seconds", "camera", "gate")
}
