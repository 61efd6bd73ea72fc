// Package daemon wires autoclipd's stages together: cameras, the CLIP model,
// AutoCLIP scoring and MQTT publishing.
//
// Run owns everything it starts: it returns after the context is cancelled
// and every stage has stopped, the retained status has gone "offline" and the
// model has been released.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"time"

	"github.com/autoclipd/autoclipd/autoclip"
	"github.com/autoclipd/autoclipd/capture"
	"github.com/autoclipd/autoclipd/config"
	"github.com/autoclipd/autoclipd/events"
	"github.com/autoclipd/autoclipd/inference"
	"github.com/autoclipd/autoclipd/inference/preprocess"
	"github.com/autoclipd/autoclipd/inference/textcache"
	"github.com/autoclipd/autoclipd/ops"
	"github.com/autoclipd/autoclipd/publish"
	"github.com/prometheus/client_golang/prometheus"
)

// Notifier is told about the daemon's life cycle (systemd's sd_notify). All
// methods must be cheap and safe for concurrent use.
type Notifier interface {
	Ready()
	Reloading()
	Stopping()
	Status(s string)
	// Alive is called from the frame loops; a watchdog pets systemd only
	// while it is called.
	Alive()
}

type nopNotifier struct{}

func (nopNotifier) Ready()        {}
func (nopNotifier) Reloading()    {}
func (nopNotifier) Stopping()     {}
func (nopNotifier) Status(string) {}
func (nopNotifier) Alive()        {}

// Options are the daemon's collaborators, built by the caller.
type Options struct {
	// Log receives the daemon's logs; nil discards them.
	Log *slog.Logger
	// Notify is told about start, reloads and stop; nil ignores them.
	Notify Notifier
	// Ready, if set, is called once cameras, model, label sets and MQTT are
	// up.
	Ready func()
	// Reload delivers a freshly loaded config on each SIGHUP (nil: none). A
	// config that failed to load is never sent: the caller logs it.
	Reload <-chan *config.Config
	// ShutdownTimeout bounds the shutdown (default 10 s).
	ShutdownTimeout time.Duration
	// Capture, if set, adjusts each camera's capture settings before it
	// starts (the bench command reads its video unpaced).
	Capture func(*capture.Config)
	// Frames, if set, is called for every scored frame with how long its
	// stages took (the bench command's figures). It must be cheap and safe
	// for concurrent use.
	Frames func(FrameTimes)
	// Model, if set, is called with the loaded and warmed-up model before
	// cameras start (the bench command times the bare encoder on the same
	// session while it holds every camera inside Frames). The model is
	// closed when Run returns.
	Model func(*inference.Model)
	// Version is the daemon version, shown in Home Assistant's device block.
	Version string
	// Metrics, if set, is filled with the daemon's metrics (frames, drops,
	// durations, queue depth, reloads, errors); nil makes a private one.
	Metrics *ops.Metrics
	// Registry is where Metrics is registered; the HTTP server serves it.
	Registry *prometheus.Registry
}

// FrameTimes are one scored frame's stage durations.
type FrameTimes struct {
	Camera string
	// Capture is how long the frame loop waited for the frame.
	Capture time.Duration
	// Preprocess, Encode, Score and Publish are the stages after it
	// (Encode is the encoder run of the frame's batch).
	Preprocess, Encode, Score, Publish time.Duration
	// Batch is the size of the frame's batch.
	Batch int
}

// daemon is one run's state.
type daemon struct {
	log       *slog.Logger
	notify    Notifier
	frames    func(FrameTimes)
	capHook   func(*capture.Config)
	model     *inference.Model
	batcher   *Batcher
	sets      *LabelSets
	textCache *textcache.Cache
	pub       *publish.Publisher
	version   string
	metrics   *ops.Metrics

	discMu   sync.Mutex
	discLast []events.DiscoveryCamera // what discovery last announced

	// camOps serialises starting and stopping cameras (config reloads,
	// control topics, shutdown), so a camera never runs twice.
	camOps sync.Mutex

	mu      sync.Mutex
	cfg     *config.Config
	cams    map[string]*camRun
	enabled map[string]bool // run-time ON/OFF from <camera>/set, by camera
	// labelsOverride holds label sets chosen on <camera>/labels/set.
	labelsOverride map[string]string
	camCtx         context.Context
	wg             sync.WaitGroup
}

// Run runs the daemon described by cfg until ctx is cancelled. Start-up
// errors (no ONNX Runtime, a broken model, a missing label set) are returned
// at once; a camera that fails is retried, never fatal.
func Run(ctx context.Context, cfg *config.Config, o Options) (err error) {
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = 10 * time.Second
	}
	notify := o.Notify
	if notify == nil {
		notify = nopNotifier{}
	}
	d := &daemon{log: log, notify: notify, frames: o.Frames, capHook: o.Capture, version: o.Version, cfg: cfg, cams: map[string]*camRun{}, enabled: map[string]bool{}, labelsOverride: map[string]string{}}

	for _, dir := range []struct{ field, path string }{{"state_dir", cfg.StateDir}, {"cache_dir", cfg.CacheDir}} {
		if dir.path == "" {
			continue
		}
		if err := os.MkdirAll(dir.path, 0o750); err != nil {
			return cfg.Errorf(dir.field, "%v", err)
		}
	}

	lib, err := inference.FindLibrary(cfg.Model.ONNXRuntime)
	if err != nil {
		return err
	}
	rt, err := inference.Open(lib)
	if err != nil {
		return err
	}
	defer rt.Close()
	log.Info("onnxruntime loaded", "library", lib, "version", rt.Version())

	maxBatch := max(1, cfg.Inference.MaxBatch)
	model, err := inference.LoadModel(rt, cfg.Model.Dir, ModelOptions(cfg, maxBatch, log), log.With("component", "inference"))
	if err != nil {
		return err
	}
	defer model.Close()
	d.model = model
	h, w := model.Image.Size()
	log.Info("model loaded", "dir", cfg.Model.Dir, "layout", model.Files.Layout, "variant", model.Files.Variant,
		"input", fmt.Sprintf("%dx%d", w, h), "dim", model.Image.Dim(), "max_batch", maxBatch)
	// Batches never hold more frames than there are cameras.
	if err := warmUp(model, min(maxBatch, max(1, len(cfg.Cameras))), log); err != nil {
		return err
	}
	if o.Model != nil {
		o.Model(model)
	}
	d.textCache = OpenTextCache(cfg, model, log)
	if d.textCache != nil {
		defer d.textCache.Close()
	}
	d.metrics = o.Metrics
	if d.metrics == nil {
		reg := ops.NewRegistry()
		if d.metrics, err = ops.NewMetrics(reg); err != nil {
			return err
		}
		o.Registry = reg
	}

	// Label sets: every set a camera names must load at start; later
	// failures keep the last good version.
	d.sets = NewLabelSets(d.loadSet, d.encodeSet, d.publishSetStatus, log.With("component", "labels"))
	for i, cc := range cfg.Cameras {
		if err := d.sets.Use(cc.Labels); err != nil {
			return cfg.Errorf(fmt.Sprintf("cameras[%d].labels", i), "%v", err)
		}
	}

	brokerURL := cfg.MQTT.URL
	if brokerURL == "embedded" {
		broker, err := publish.StartBroker(cfg.MQTT.Listen, log.With("component", "broker"))
		switch {
		case errors.Is(err, publish.ErrAddrInUse):
			// Something (often Debian's mosquitto service) already listens
			// there: publish to it rather than fail.
			log.Warn("embedded broker: address in use, publishing to the broker already listening there", "addr", cfg.MQTT.Listen)
		case err != nil:
			return fmt.Errorf("mqtt: %w", err)
		default:
			defer broker.Close()
		}
		brokerURL = "tcp://" + cfg.MQTT.Listen
		if err == nil {
			brokerURL = broker.URL() // the actual port when listen gave 0
		}
	}
	password, err := readPassword(cfg.MQTT.PasswordFile)
	if err != nil {
		return err
	}
	pub, err := publish.New(ctx, publish.Options{
		URL:         brokerURL,
		ClientID:    cfg.MQTT.ClientID,
		TopicPrefix: cfg.MQTT.TopicPrefix,
		Device:      cfg.Device,
		QoS:         byte(cfg.MQTT.QoS),
		ReliableQoS: byte(cfg.MQTT.EventsQoS),
		Queue:       cfg.MQTT.Queue,
		QueueDir:    cfg.MQTT.QueueDir,
		TLS: publish.TLSOptions{
			CA: cfg.MQTT.TLS.CA, Cert: cfg.MQTT.TLS.Cert, Key: cfg.MQTT.TLS.Key,
			InsecureSkipVerify: cfg.MQTT.TLS.InsecureSkipVerify,
		},
		Username: cfg.MQTT.Username,
		Password: password,
		Observer: d.metrics,
	}, log.With("component", "mqtt"))
	if err != nil {
		return fmt.Errorf("mqtt: %w", err)
	}
	d.pub = pub
	if cfg.ShutdownTimeout > 0 {
		o.ShutdownTimeout = cfg.ShutdownTimeout
	}
	d.metrics.SetQueueDepth(pub.QueueDepth)
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), o.ShutdownTimeout)
		defer cancel()
		if cerr := pub.Close(sctx); cerr != nil {
			log.Warn("mqtt close", "err", cerr)
		}
	}()
	for _, name := range d.sets.Names() {
		if st, ok := d.sets.Status(name); ok {
			d.publishSetStatus(name, st)
		}
	}

	d.batcher = NewBatcher(model.Image, cfg.Inference.BatchWindow, maxBatch)
	bctx, stopBatcher := context.WithCancel(context.Background())
	batcherDone := make(chan struct{})
	go func() {
		defer close(batcherDone)
		_ = d.batcher.Run(bctx)
	}()
	defer func() {
		stopBatcher()
		<-batcherDone
	}()

	// Label files hot-reload: the watcher reports each changed set, which
	// is parsed, encoded and swapped in here, off the frame path.
	wctx, stopWatch := context.WithCancel(context.Background())
	watcher := config.NewLabelWatcher(cfg.Labels.Dir, cfg.Labels.Templates, log.With("component", "labels"))
	watchDone := make(chan struct{})
	go func() {
		if err := watcher.Run(wctx); err != nil {
			log.Error("label watcher", "err", err)
		}
	}()
	go func() {
		defer close(watchDone)
		for ev := range watcher.Events() {
			_ = d.sets.Update(ev)
		}
	}()
	defer func() {
		stopWatch()
		<-watchDone
	}()

	// Operations: MQTT counters into metrics, and the HTTP server.
	opsCtx, stopOps := context.WithCancel(context.Background())
	var opsWG sync.WaitGroup
	defer func() {
		stopOps()
		opsWG.Wait()
	}()
	if !ops.Disabled(cfg.HTTP.Listen) && o.Registry != nil {
		srv, err := ops.NewServer(cfg.HTTP.Listen, o.Registry, d.readiness, log.With("component", "http"))
		if err != nil {
			return cfg.Errorf("http.listen", "%v", err)
		}
		opsWG.Add(1)
		go func() {
			defer opsWG.Done()
			if err := srv.Run(opsCtx); err != nil {
				log.Error("http server", "err", err)
			}
		}()
	}

	camCtx, stopCams := context.WithCancel(ctx)
	defer stopCams()
	d.camCtx = camCtx
	for i, cc := range cfg.Cameras {
		if cc.Enabled {
			if err := d.startCamera(camCtx, cc); err != nil {
				d.stopAll()
				return cfg.Errorf(fmt.Sprintf("cameras[%d]", i), "%v", err)
			}
		} else {
			d.metrics.Camera(cc.Name).SetEnabled(false)
			log.Info("camera disabled", "camera", cc.Name)
		}
		d.sets.Release(cc.Labels) // drop the start-up reference taken above
	}
	d.echoControls()
	d.publishDiscovery(false)
	if _, err := d.startControl(ctx); err != nil {
		log.Error("control topics unavailable", "err", err)
	}
	log.Info("autoclipd running", "device", cfg.Device, "cameras", len(cfg.Cameras), "mqtt", brokerURL)
	notify.Ready()
	notify.Status(fmt.Sprintf("running %d cameras", len(cfg.Cameras)))
	if o.Ready != nil {
		o.Ready()
	}

	alive := time.NewTicker(time.Second)
	defer alive.Stop()
	for {
		select {
		case <-alive.C:
			// The frame loops pet the watchdog as they score; when none is
			// expected to score (cameras disabled, offline or finished),
			// this loop does, so only a hung frame loop gets the service
			// restarted.
			if d.idle() {
				notify.Alive()
			}
		case <-ctx.Done():
			log.Info("autoclipd stopping")
			notify.Stopping()
			stopCams()
			d.stopAll()
			return nil
		case ncfg := <-o.Reload:
			if ncfg == nil {
				continue
			}
			notify.Reloading()
			d.applyConfig(camCtx, ncfg)
			notify.Ready()
			notify.Status(fmt.Sprintf("running %d cameras", d.cameraCount()))
		}
	}
}

// loadSet parses label set name from the current config's label folder.
func (d *daemon) loadSet(name string) (*config.LabelSet, error) {
	d.mu.Lock()
	cfg := d.cfg
	d.mu.Unlock()
	return config.LoadLabelSet(cfg.Labels.Dir, name, cfg.Labels.Templates)
}

func (d *daemon) encodeSet(set *config.LabelSet) (*LabelSet, error) {
	d.mu.Lock()
	opts := d.cfg.AutoCLIP.Options()
	d.mu.Unlock()
	return EncodeLabelSet(set, d.model.Text, d.textCache, opts)
}

// publishSetStatus publishes a label set's status, retained, and counts
// the reload.
func (d *daemon) publishSetStatus(name string, st SetStatus) {
	if d.metrics != nil {
		var err error
		if !st.OK {
			err = errors.New(st.Error)
		}
		d.metrics.Reload(name, err)
	}
	if d.pub == nil {
		return // before MQTT is up: published once it is
	}
	m, err := events.LabelsStatusMessage(name, st)
	if err != nil {
		d.log.Warn("publishing label set status", "set", name, "err", err)
		return
	}
	d.send(m)
	if st.OK {
		d.publishDiscovery(false)
	}
}

// idle reports whether no camera is expected to be scoring: each running
// camera is offline, finished, or has no new frame for a second.
func (d *daemon) idle() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, r := range d.cams {
		st := r.cam.Stats()
		if st.Online && time.Since(st.LastFrame) < time.Second {
			return false
		}
	}
	return true
}

// config returns the current config.
func (d *daemon) config() *config.Config {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cfg
}

func (d *daemon) cameraCount() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.cams)
}

// applyConfig applies a reloaded config: cameras added, removed or changed
// are started, stopped or reopened one by one; unchanged cameras and the
// model are untouched. Settings that need a restart are logged.
func (d *daemon) applyConfig(ctx context.Context, ncfg *config.Config) {
	d.camOps.Lock()
	defer d.camOps.Unlock()
	d.mu.Lock()
	old := d.cfg
	d.mu.Unlock()
	if !reflect.DeepEqual(old.Model, ncfg.Model) || !reflect.DeepEqual(old.MQTT, ncfg.MQTT) || old.Device != ncfg.Device {
		d.log.Warn("config reload: model, mqtt and device settings take effect at the next restart")
	}
	labelsChanged := !reflect.DeepEqual(old.Labels, ncfg.Labels) || !reflect.DeepEqual(old.AutoCLIP, ncfg.AutoCLIP)
	d.mu.Lock()
	d.cfg = ncfg
	d.mu.Unlock()

	want := map[string]config.Camera{}
	for _, c := range ncfg.Cameras {
		cc, _ := d.cameraConfig(c.Name) // the new config with run-time overrides
		want[c.Name] = cc
	}
	d.mu.Lock()
	var stop []*camRun
	for name, r := range d.cams {
		if cc, ok := want[name]; !ok || !reflect.DeepEqual(cc, r.cc) {
			stop = append(stop, r)
			delete(d.cams, name)
		}
	}
	d.mu.Unlock()
	for _, r := range stop {
		r.stop()
		if _, ok := want[r.cc.Name]; !ok {
			d.metrics.RemoveCamera(r.cc.Name)
		}
		d.log.Info("camera stopped by reload", "camera", r.cc.Name)
	}
	if old.Labels.Dir != ncfg.Labels.Dir {
		d.log.Warn("config reload: labels.dir takes effect at the next restart")
	}
	if labelsChanged {
		d.sets.ReloadAll()
	}
	for _, c := range ncfg.Cameras {
		cc := want[c.Name]
		d.mu.Lock()
		_, running := d.cams[cc.Name]
		d.mu.Unlock()
		if running || !cc.Enabled {
			continue
		}
		if err := d.startCamera(ctx, cc); err != nil {
			d.log.Error("config reload: camera not started", "camera", cc.Name, "err", err)
			continue
		}
		d.log.Info("camera started by reload", "camera", cc.Name)
	}
	d.publishDiscovery(false)
}

// camRun is one running camera: its capture and its scorer.
type camRun struct {
	cc     config.Camera
	cam    *capture.Camera
	cancel context.CancelFunc
	done   chan struct{}
}

func (r *camRun) stop() {
	r.cancel()
	<-r.done
}

// startCamera starts capture and scoring for cc.
func (d *daemon) startCamera(ctx context.Context, cc config.Camera) error {
	if err := ctx.Err(); err != nil {
		return err // stopping: no new cameras
	}
	mc := d.metrics.Camera(cc.Name)
	mc.SetEnabled(true)
	ccfg := CaptureConfig(cc)
	// Motion JPEG is decoded no smaller than the model's input.
	ccfg.MinSide = d.model.Preprocess.MinSourceSide()
	ccfg.OnState = func(online bool, reason string) {
		d.send(events.AvailabilityMessage(cc.Name, online))
	}
	if d.capHook != nil {
		d.capHook(&ccfg)
	}
	cam, err := capture.New(ccfg, d.log.With("component", "capture"))
	if err != nil {
		return err
	}
	cfg := d.config()
	tracker, err := events.New(events.Options{
		Device: cfg.Device, Camera: cc.Name,
		Classifications: events.Mode(cfg.MQTT.Classifications), MaxRate: cfg.MQTT.MaxRate, Top: cfg.MQTT.Top,
		MinFrames: cfg.Events.MinFrames, Snapshot: cc.Snapshot,
		StateFile: events.StateFile(cfg.StateDir, cc.Name),
		Log:       d.log.With("component", "events", "camera", cc.Name),
	})
	if err != nil {
		return err
	}
	pre, err := preprocess.New(d.model.Preprocess)
	if err != nil {
		return err
	}
	_ = d.sets.Use(cc.Labels) // a failure is in the set's status; the camera waits
	cctx, cancel := context.WithCancel(ctx)
	r := &camRun{cc: cc, cam: cam, cancel: cancel, done: make(chan struct{})}
	d.mu.Lock()
	d.cams[cc.Name] = r
	d.mu.Unlock()
	unregister := d.batcher.Register()
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		if err := cam.Run(cctx); err != nil && cctx.Err() == nil {
			d.log.Error("camera stopped", "camera", cc.Name, "err", err)
			d.metrics.Error("capture")
		}
	}()
	go func() {
		defer wg.Done()
		cameraMetrics(cctx, cam, mc)
	}()
	s := &scorer{d: d, cc: cc, cam: cam, pre: pre, tracker: tracker, metrics: mc, log: d.log.With("component", "scorer", "camera", cc.Name)}
	go func() {
		defer wg.Done()
		if err := s.run(cctx); err != nil {
			d.log.Error("scorer stopped", "camera", cc.Name, "err", err)
		}
	}()
	d.wg.Add(1)
	go func() {
		wg.Wait()
		unregister()
		d.sets.Release(cc.Labels)
		close(r.done)
		d.wg.Done()
	}()
	return nil
}

// stopAll stops every camera and waits for them.
func (d *daemon) stopAll() {
	d.camOps.Lock()
	defer d.camOps.Unlock()
	d.mu.Lock()
	runs := make([]*camRun, 0, len(d.cams))
	for name, r := range d.cams {
		runs = append(runs, r)
		delete(d.cams, name)
	}
	d.mu.Unlock()
	for _, r := range runs {
		r.cancel()
	}
	d.wg.Wait()
}

// scorer takes frames from one camera, encodes, classifies and publishes.
type scorer struct {
	d       *daemon
	cc      config.Camera
	cam     *capture.Camera
	pre     *preprocess.Preprocessor
	tracker *events.Tracker
	metrics *ops.Camera
	log     *slog.Logger
}

func (s *scorer) run(ctx context.Context) error {
	d := s.d
	// Two input buffers: while the encoder runs on frame t, the reader
	// goroutine below takes frame t+1 and preprocesses it into the other.
	h, w := d.model.Image.Size()
	free := make(chan []float32, 2)
	free <- make([]float32, 3*h*w)
	free <- make([]float32, 3*h*w)
	ready := make(chan prepared) // unbuffered: at most one frame ahead
	var readErr error
	finished := false
	go func() {
		defer close(ready)
		finished, readErr = s.prepare(ctx, free, ready)
	}()

	emb := make([]float32, d.model.Image.Dim())
	var (
		all []int
		cur *LabelSet
		ws  *autoclip.Workspace
	)
	for p := range ready {
		f, set := p.f, p.set
		st, err := d.batcher.Embed(ctx, p.buf, emb)
		free <- p.buf
		if err != nil {
			seq := f.Seq
			f.Release()
			if ctx.Err() != nil {
				continue
			}
			s.log.Error("encoding frame", "frame", seq, "err", err)
			d.metrics.Error("inference")
			continue
		}
		s.metrics.ObservePreprocess(p.prep)
		d.metrics.ObserveInference(st.Encode)
		if set != cur {
			cur, ws = set, set.Classifier.NewWorkspace(1)
			msgs, err := s.tracker.SetLabels(set.EventLabels(), time.Now())
			if err != nil {
				s.log.Error("events: label set", "err", err)
			}
			d.sendAll(msgs)
		}
		t0 := time.Now()
		res, err := set.Classifier.Classify(ws, emb, 1)
		d.metrics.ObserveAutoCLIP(time.Since(t0))
		if err != nil {
			s.log.Error("scoring frame", "frame", f.Seq, "err", err)
			f.Release()
			d.metrics.Error("autoclip")
			continue
		}
		now := time.Now()
		s.cam.CountScored(1)
		s.metrics.FrameScored(now)
		d.notify.Alive()
		cfg := d.config()
		msg := publish.Classification{
			Device: cfg.Device, Camera: s.cc.Name, Frame: f.Seq, Time: f.Time,
			LabelSet: set.Set.Name, Method: string(set.Classifier.Options().Method),
		}
		// Every class: the tracker needs them all for state and events,
		// and keeps the top mqtt.top for the classification message.
		msg.Labels, all = set.Labels(res[0], len(set.Set.Classes), all)
		if cfg.AutoCLIP.PublishWeights {
			msg.Weights = set.Weights(res[0], 3)
		}
		var snap events.SnapshotFunc
		if s.cc.Snapshot {
			snap = func() ([]byte, error) { return snapshotJPEG(f) }
		}
		t1 := time.Now()
		d.sendAll(s.tracker.Update(msg, snap))
		f.Release()
		if d.frames != nil {
			d.frames(FrameTimes{Camera: s.cc.Name, Capture: p.wait, Preprocess: p.prep, Encode: st.Encode, Batch: st.Batch, Score: now.Sub(t0), Publish: time.Since(t1)})
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	if finished {
		s.log.Info("camera finished")
		<-ctx.Done()
		return nil
	}
	return readErr
}

// prepared is a frame preprocessed into buf, with the label set version it
// is to be scored with.
type prepared struct {
	f    *capture.Frame
	set  *LabelSet
	buf  []float32
	wait time.Duration // for the frame
	prep time.Duration
}

// prepare takes frames from the camera, preprocesses each into a free
// buffer and hands it to the scorer, until ctx ends or the camera stops.
// It reports whether the camera finished, or its error.
func (s *scorer) prepare(ctx context.Context, free chan []float32, ready chan<- prepared) (finished bool, err error) {
	waiting := false
	for {
		t0 := time.Now()
		f, err := s.cam.Next(ctx)
		wait := time.Since(t0)
		if err != nil {
			if ctx.Err() != nil {
				return false, nil
			}
			if errors.Is(err, capture.ErrFinished) {
				return true, nil
			}
			return false, fmt.Errorf("camera %s: %w", s.cc.Name, err)
		}
		// One label set version for the whole frame.
		set := s.d.sets.Get(s.cc.Labels)
		if set == nil {
			f.Release()
			if !waiting {
				s.log.Warn("label set not loaded: waiting", "set", s.cc.Labels)
				waiting = true
			}
			continue
		}
		waiting = false
		var buf []float32
		select {
		case buf = <-free:
		case <-ctx.Done():
			f.Release()
			return false, nil
		}
		t1 := time.Now()
		if err := s.pre.Run(buf, f.Data, f.Width, f.Height, 3*f.Width, preprocess.BGR); err != nil {
			s.log.Error("preprocessing frame", "frame", f.Seq, "err", err)
			f.Release()
			free <- buf
			continue
		}
		select {
		case ready <- prepared{f: f, set: set, buf: buf, wait: wait, prep: time.Since(t1)}:
		case <-ctx.Done():
			f.Release()
			free <- buf
			return false, nil
		}
	}
}

// EventLabels is what the event tracker and discovery need of the set.
func (ls *LabelSet) EventLabels() events.Labels {
	l := events.Labels{Name: ls.Set.Name, Classes: ls.Set.ClassNames()}
	for i, th := range ls.Set.Thresholds() {
		if th > 0 {
			if l.Thresholds == nil {
				l.Thresholds = map[string]float64{}
			}
			l.Thresholds[l.Classes[i]] = th
		}
	}
	return l
}

// send publishes one message below the device's topic (or at its absolute
// topic), with the QoS and retention its class calls for.
func (d *daemon) send(m events.Message) {
	if d.pub == nil {
		return
	}
	topic := m.Topic
	if !m.Absolute {
		topic = d.pub.Topic(m.Topic)
	}
	class, err := publish.ParseClass(string(m.Class))
	if err != nil {
		d.log.Error("publishing", "topic", topic, "err", err)
		return
	}
	o := d.pub.MsgFor(class)
	o.Retained = m.Retained
	if err := d.pub.Publish(topic, m.Payload, o); err != nil {
		if errors.Is(err, publish.ErrDropped) {
			d.log.Debug("message dropped: the queue is full", "topic", topic)
			return
		}
		d.log.Warn("publishing", "topic", topic, "err", err)
		d.metrics.Error("mqtt")
	}
}

func (d *daemon) sendAll(msgs []events.Message) {
	for _, m := range msgs {
		d.send(m)
	}
}

// publishDiscovery announces every camera to Home Assistant (when enabled)
// and removes what a previous announcement had and the config no longer
// has. Unless force is set (Home Assistant restarted), an unchanged
// announcement is not sent again.
func (d *daemon) publishDiscovery(force bool) {
	cfg := d.config()
	if !cfg.HomeAssistant.Enabled || d.pub == nil {
		return
	}
	disc := d.discovery()
	names, _ := config.LabelSetNames(cfg.Labels.Dir) // for the label set select; a bad file is refused when chosen
	var cams []events.DiscoveryCamera
	for _, c := range cfg.Cameras {
		cc, _ := d.cameraConfig(c.Name)
		ls := d.sets.Get(cc.Labels)
		if ls == nil {
			continue
		}
		cams = append(cams, events.DiscoveryCamera{Name: cc.Name, Labels: ls.EventLabels(), LabelSets: names})
	}
	d.discMu.Lock()
	defer d.discMu.Unlock()
	if !force && d.discLast != nil && reflect.DeepEqual(d.discLast, cams) {
		return
	}
	if d.discLast != nil {
		rm, err := disc.Removals(d.discLast, cams)
		if err != nil {
			d.log.Warn("home assistant discovery", "err", err)
		}
		d.sendAll(rm)
	}
	msgs, err := disc.Messages(cams)
	if err != nil {
		d.log.Warn("home assistant discovery", "err", err)
		return
	}
	d.sendAll(msgs)
	d.discLast = cams
}

// readiness is /readyz: every enabled camera scored a frame within 3/fps s.
func (d *daemon) readiness() error {
	cfg := d.config()
	cams := make([]ops.CameraStatus, 0, len(cfg.Cameras))
	for _, cc := range cfg.Cameras {
		cams = append(cams, d.metrics.Camera(cc.Name).Status(cc.FPS))
	}
	return ops.CheckReady(cams, time.Now())
}

// cameraMetrics copies a camera's capture counters into its metrics once a
// second.
func cameraMetrics(ctx context.Context, cam *capture.Camera, mc *ops.Camera) {
	var last capture.Stats
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st := cam.Stats()
		mc.Captured(st.Read-last.Read, st.Skipped-last.Skipped, st.Dropped-last.Dropped, st.Reconnects-last.Reconnects, st.LastFrame)
		last = st
	}
}

// warmUp runs the image encoder once at each batch size the daemon uses
// (TensorRT builds its engines then, which can take minutes the first
// time), and restores Go's signal handlers in case the first run on a GPU
// replaced them.
func warmUp(model *inference.Model, maxBatch int, log *slog.Logger) error {
	p := model.Image.Provider()
	if p == inference.ProviderTensorRT {
		log.Info("warming up TensorRT: the first engine build can take minutes; later starts use the engine cache")
	}
	start := time.Now()
	saved := inference.SaveSignalHandlers()
	defer func() {
		if sigs := saved.Restore(); len(sigs) > 0 {
			log.Info("restored Go's signal handlers replaced during warm-up", "signals", fmt.Sprint(sigs))
		}
	}()
	sizes := []int{1}
	if maxBatch > 1 {
		sizes = append(sizes, maxBatch)
	}
	for _, b := range sizes {
		if _, err := model.Image.Input(b); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
		if _, err := model.Image.Run(b); err != nil {
			return fmt.Errorf("warm-up (batch %d): %w", b, err)
		}
	}
	log.Info("image encoder ready", "provider", p, "warm_up", time.Since(start).Round(time.Millisecond))
	return nil
}

// CaptureConfig is the capture configuration of camera cc. MinSide, which
// depends on the model, is left 0 (Motion JPEG in full unless decode_scale
// fixes a reduction); the daemon sets it.
func CaptureConfig(cc config.Camera) capture.Config {
	c := capture.Config{
		Name: cc.Name, Source: cc.Source, Loop: cc.Loop, FPS: cc.FPS,
		Width: cc.Width, Height: cc.Height, FourCC: cc.FourCC, Rotate: cc.Rotate,
		DecodeScale:  cc.Scale(),
		ReconnectMin: cc.Reconnect.Min, ReconnectMax: cc.Reconnect.Max, StallTimeout: cc.StallTimeout,
	}
	if cc.ROI != nil {
		c.ROI = capture.ROI{X: cc.ROI.X, Y: cc.ROI.Y, W: cc.ROI.W, H: cc.ROI.H}
	}
	return c
}

// ModelOptions are the inference options cfg asks for.
func ModelOptions(cfg *config.Config, maxBatch int, log *slog.Logger) inference.Options {
	return inference.Options{
		Threads: cfg.Model.Threads, MaxBatch: maxBatch, Variant: cfg.Model.Variant,
		ProviderOptions: inference.ProviderOptions{
			Providers: cfg.Model.Providers, DeviceID: cfg.Model.DeviceID,
			CacheDir: cfg.Model.CacheDir, GraphOptimization: cfg.Model.GraphOptimization,
			Spinning: cfg.Model.Spinning,
			Log:      log.With("component", "inference"),
		},
	}
}

// OpenTextCache opens the text-embedding cache under cfg.CacheDir; a cache
// that cannot be opened is logged and encoding goes on without one.
func OpenTextCache(cfg *config.Config, model *inference.Model, log *slog.Logger) *textcache.Cache {
	if cfg.CacheDir == "" {
		return nil
	}
	c, err := textcache.Open(filepath.Join(cfg.CacheDir, "text"), model.Files.Text, model.Text.Dim(), log.With("component", "textcache"))
	if err != nil {
		log.Warn("text-embedding cache unavailable: every prompt will be encoded", "err", err)
		return nil
	}
	return c
}
