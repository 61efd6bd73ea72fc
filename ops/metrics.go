package ops

import (
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Namespace prefixes every autoclipd metric name.
const Namespace = "autoclipd"

// Message classes used as the "class" label of the MQTT counters. They are
// initialised to zero so that a dashboard sees every class before the first
// drop.
var messageClasses = []string{"classification", "state", "event", "snapshot", "status", "discovery", "control"}

// Reload results, the "result" label of autoclipd_reloads_total.
const (
	ReloadOK    = "ok"
	ReloadError = "error"
)

// NewRegistry returns a fresh private registry holding the Go runtime,
// process and build-info collectors. It never touches
// prometheus.DefaultRegisterer.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector(),
	)
	return reg
}

// Metrics holds every autoclipd metric. Build it once with NewMetrics and
// pass it down; all methods are safe for concurrent use. The per-frame calls
// go through a pre-resolved *Camera handle and neither allocate nor look up
// maps.
type Metrics struct {
	framesRead    *prometheus.CounterVec
	framesScored  *prometheus.CounterVec
	framesSkipped *prometheus.CounterVec
	framesDropped *prometheus.CounterVec
	reconnects    *prometheus.CounterVec
	preprocess    *prometheus.HistogramVec

	inference prometheus.Histogram
	autoclip  prometheus.Histogram

	queueDepth     atomic.Pointer[func() int]
	mqttConnected  prometheus.Gauge
	mqttReconnects prometheus.Counter
	mqttPublished  *prometheus.CounterVec
	mqttDropped    *prometheus.CounterVec

	reloads *prometheus.CounterVec
	errors  *prometheus.CounterVec

	ageDesc     *prometheus.Desc
	enabledDesc *prometheus.Desc

	now func() time.Time

	mu   sync.Mutex
	cams map[string]*Camera
}

// durationBuckets cover 0.5 ms to ~4 s: preprocessing on a small frame is
// sub-millisecond, a CPU ViT-B/32 batch takes hundreds of milliseconds.
var durationBuckets = prometheus.ExponentialBuckets(0.0005, 2, 14)

// NewMetrics creates the autoclipd metrics and registers them on reg, which
// should be a private registry from NewRegistry. It fails if any of them is
// already registered there.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	return newMetrics(reg, time.Now)
}

func newMetrics(reg prometheus.Registerer, now func() time.Time) (*Metrics, error) {
	camCounter := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help}, []string{"camera"})
	}
	m := &Metrics{
		framesRead:    camCounter("frames_read_total", "Frames read from the camera."),
		framesScored:  camCounter("frames_scored_total", "Frames encoded and scored by AutoCLIP."),
		framesSkipped: camCounter("frames_skipped_total", "Frames read but never scored: a newer frame replaced them first (latest frame wins)."),
		framesDropped: camCounter("frames_dropped_total", "Unusable frames dropped (empty, undersized, undecodable)."),
		reconnects:    camCounter("camera_reconnects_total", "Times the camera source was reopened after a failure."),
		preprocess: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "preprocess_duration_seconds",
			Help:    "Time to turn one frame into the model's input tensor.",
			Buckets: durationBuckets,
		}, []string{"camera"}),
		inference: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "inference_duration_seconds",
			Help:    "Time of one image encoder run (one batch) in ONNX Runtime.",
			Buckets: durationBuckets,
		}),
		autoclip: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "autoclip_duration_seconds",
			Help:    "Time of one AutoCLIP scoring call (one batch).",
			Buckets: durationBuckets,
		}),
		mqttConnected: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "mqtt_connected", Help: "1 while connected to the MQTT broker, else 0.",
		}),
		mqttReconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Name: "mqtt_reconnects_total", Help: "Connections to the MQTT broker made after the first one.",
		}),
		mqttPublished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "mqtt_messages_published_total", Help: "MQTT messages handed to the broker, by message class.",
		}, []string{"class"}),
		mqttDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "mqtt_messages_dropped_total", Help: "MQTT messages dropped because the outgoing queue was full, by message class.",
		}, []string{"class"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "reloads_total", Help: "Configuration and label set reloads, by set and result (ok, error).",
		}, []string{"set", "result"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "errors_total", Help: "Errors, by the component that logged them.",
		}, []string{"component"}),
		ageDesc: prometheus.NewDesc(Namespace+"_last_frame_age_seconds",
			"Seconds since the camera delivered its last frame (since the camera was added, before the first frame).",
			[]string{"camera"}, nil),
		enabledDesc: prometheus.NewDesc(Namespace+"_camera_enabled",
			"1 while the camera is enabled, 0 while it is switched off.",
			[]string{"camera"}, nil),
		now:  now,
		cams: make(map[string]*Camera),
	}
	queueDepth := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "mqtt_queue_depth", Help: "Messages waiting in the outgoing MQTT queue.",
	}, func() float64 {
		if f := m.queueDepth.Load(); f != nil {
			return float64((*f)())
		}
		return 0
	})
	for _, class := range messageClasses {
		m.mqttPublished.WithLabelValues(class)
		m.mqttDropped.WithLabelValues(class)
	}
	for _, c := range []prometheus.Collector{
		m.framesRead, m.framesScored, m.framesSkipped, m.framesDropped, m.reconnects, m.preprocess,
		m.inference, m.autoclip, queueDepth, m.mqttConnected, m.mqttReconnects, m.mqttPublished,
		m.mqttDropped, m.reloads, m.errors, (*cameraCollector)(m),
	} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering autoclipd metrics: %w", err)
		}
	}
	return m, nil
}

// Camera is the pre-resolved per-camera handle the frame loop calls. Its
// methods are allocation-free and safe for concurrent use.
type Camera struct {
	name       string
	read       prometheus.Counter
	scored     prometheus.Counter
	skipped    prometheus.Counter
	dropped    prometheus.Counter
	reconnects prometheus.Counter
	preprocess prometheus.Observer

	added      int64 // unix nanoseconds
	lastFrame  atomic.Int64
	lastScored atomic.Int64
	enabled    atomic.Bool
}

// Camera returns the handle for the named camera, creating its series (at
// zero) the first time. A camera starts enabled. Call it when a camera is
// set up, not per frame.
func (m *Metrics) Camera(name string) *Camera {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c, ok := m.cams[name]; ok {
		return c
	}
	c := &Camera{
		name:       name,
		read:       m.framesRead.WithLabelValues(name),
		scored:     m.framesScored.WithLabelValues(name),
		skipped:    m.framesSkipped.WithLabelValues(name),
		dropped:    m.framesDropped.WithLabelValues(name),
		reconnects: m.reconnects.WithLabelValues(name),
		preprocess: m.preprocess.WithLabelValues(name),
		added:      m.now().UnixNano(),
	}
	c.enabled.Store(true)
	m.cams[name] = c
	return c
}

// RemoveCamera deletes the named camera's series, for a camera a reload
// removed. Handles already given out keep working but are no longer exported.
func (m *Metrics) RemoveCamera(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.cams, name)
	for _, v := range []*prometheus.CounterVec{m.framesRead, m.framesScored, m.framesSkipped, m.framesDropped, m.reconnects} {
		v.DeleteLabelValues(name)
	}
	m.preprocess.DeleteLabelValues(name)
}

// Name returns the camera's name.
func (c *Camera) Name() string { return c.name }

// FrameRead counts a frame read from the camera at the given capture time,
// which the last-frame-age gauge is measured from.
func (c *Camera) FrameRead(at time.Time) {
	c.read.Inc()
	c.lastFrame.Store(at.UnixNano())
}

// FrameScored counts a frame scored at the given time, which LastScored
// reports for the readiness check.
func (c *Camera) FrameScored(at time.Time) {
	c.scored.Inc()
	c.lastScored.Store(at.UnixNano())
}

// FrameSkipped counts a frame read but never scored: a newer one replaced
// it before the scorer took it (latest frame wins).
func (c *Camera) FrameSkipped() { c.skipped.Inc() }

// FrameDropped counts an unusable frame (empty, undersized, undecodable).
func (c *Camera) FrameDropped() { c.dropped.Inc() }

// Captured adds what capture counted since the last call, in one go: frames
// read, skipped and dropped, reconnects, and the newest frame's time. For
// mirroring capture's own counters without a call per frame.
func (c *Camera) Captured(read, skipped, dropped, reconnects uint64, lastFrame time.Time) {
	c.read.Add(float64(read))
	c.skipped.Add(float64(skipped))
	c.dropped.Add(float64(dropped))
	c.reconnects.Add(float64(reconnects))
	if !lastFrame.IsZero() {
		c.lastFrame.Store(lastFrame.UnixNano())
	}
}

// Reconnect counts a reopen of the camera source.
func (c *Camera) Reconnect() { c.reconnects.Inc() }

// ObservePreprocess records the preprocessing time of one frame.
func (c *Camera) ObservePreprocess(d time.Duration) { c.preprocess.Observe(d.Seconds()) }

// SetEnabled records whether the camera is switched on (the MQTT set topic).
func (c *Camera) SetEnabled(on bool) { c.enabled.Store(on) }

// Enabled reports what SetEnabled last recorded (true for a new camera).
func (c *Camera) Enabled() bool { return c.enabled.Load() }

// LastScored returns the time passed to the last FrameScored, or the zero
// time if no frame was scored yet.
func (c *Camera) LastScored() time.Time { return unixNanoTime(c.lastScored.Load()) }

// LastFrame returns the time passed to the last FrameRead, or the zero time.
func (c *Camera) LastFrame() time.Time { return unixNanoTime(c.lastFrame.Load()) }

func unixNanoTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// ObserveInference records one image encoder run (one batch).
func (m *Metrics) ObserveInference(d time.Duration) { m.inference.Observe(d.Seconds()) }

// ObserveAutoCLIP records one AutoCLIP scoring call (one batch).
func (m *Metrics) ObserveAutoCLIP(d time.Duration) { m.autoclip.Observe(d.Seconds()) }

// SetQueueDepth sets the function the mqtt_queue_depth gauge calls at each
// scrape (the publisher's queue length). nil resets it to report 0.
func (m *Metrics) SetQueueDepth(depth func() int) {
	if depth == nil {
		m.queueDepth.Store(nil)
		return
	}
	m.queueDepth.Store(&depth)
}

// SetMQTTConnected records whether the MQTT client is connected.
func (m *Metrics) SetMQTTConnected(connected bool) {
	if connected {
		m.mqttConnected.Set(1)
	} else {
		m.mqttConnected.Set(0)
	}
}

// MQTTReconnect counts a reconnection to the broker.
func (m *Metrics) MQTTReconnect() { m.mqttReconnects.Inc() }

// MQTTPublished counts a message of the given class (classification, state,
// event, snapshot, status, discovery, control) handed to the broker.
func (m *Metrics) MQTTPublished(class string) { m.mqttPublished.WithLabelValues(class).Inc() }

// MQTTDropped counts a message of the given class dropped from the full
// outgoing queue.
func (m *Metrics) MQTTDropped(class string) { m.mqttDropped.WithLabelValues(class).Inc() }

// Reload counts a reload of the named set ("config", or a label set's name):
// result "ok" when err is nil, "error" otherwise.
func (m *Metrics) Reload(set string, err error) {
	result := ReloadOK
	if err != nil {
		result = ReloadError
	}
	m.reloads.WithLabelValues(set, result).Inc()
}

// Error counts an error in the named component (capture, inference,
// autoclip, publish, config, http, ...).
func (m *Metrics) Error(component string) { m.errors.WithLabelValues(component).Inc() }

// cameraCollector exports the scrape-time per-camera gauges: the last frame
// age (computed from the clock at scrape time) and the enabled state.
type cameraCollector Metrics

func (cc *cameraCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- cc.ageDesc
	ch <- cc.enabledDesc
}

func (cc *cameraCollector) Collect(ch chan<- prometheus.Metric) {
	m := (*Metrics)(cc)
	m.mu.Lock()
	cams := make([]*Camera, 0, len(m.cams))
	for _, c := range m.cams {
		cams = append(cams, c)
	}
	m.mu.Unlock()
	sort.Slice(cams, func(i, j int) bool { return cams[i].name < cams[j].name })
	now := m.now().UnixNano()
	for _, c := range cams {
		since := c.lastFrame.Load()
		if since == 0 {
			since = c.added
		}
		age := time.Duration(now - since).Seconds()
		if age < 0 {
			age = 0
		}
		ch <- prometheus.MustNewConstMetric(m.ageDesc, prometheus.GaugeValue, age, c.name)
		enabled := 0.0
		if c.enabled.Load() {
			enabled = 1
		}
		ch <- prometheus.MustNewConstMetric(m.enabledDesc, prometheus.GaugeValue, enabled, c.name)
	}
}
