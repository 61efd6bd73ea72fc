// Package daemon wires autoclipd's stages together: cameras, the CLIP model,
// AutoCLIP scoring and MQTT publishing.
//
// Run owns everything it starts: it returns after the context is cancelled
// and every stage has stopped, the retained status has gone "offline" and the
// model has been released.
package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"time"

	"github.com/autoclipd/autoclipd/autoclip"
	"github.com/autoclipd/autoclipd/capture"
	"github.com/autoclipd/autoclipd/config"
	"github.com/autoclipd/autoclipd/inference"
	"github.com/autoclipd/autoclipd/inference/preprocess"
	"github.com/autoclipd/autoclipd/inference/textcache"
	"github.com/autoclipd/autoclipd/publish"
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
	// Times, if set, receives each batch's preprocessing and encoding time
	// and size.
	Times StageTimes
}

// daemon is one run's state.
type daemon struct {
	log       *slog.Logger
	notify    Notifier
	model     *inference.Model
	batcher   *Batcher
	sets      *LabelSets
	textCache *textcache.Cache
	pub       *publish.Publisher

	mu   sync.Mutex
	cfg  *config.Config
	cams map[string]*camRun
	wg   sync.WaitGroup
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
	d := &daemon{log: log, notify: notify, cfg: cfg, cams: map[string]*camRun{}}

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

	maxBatch := 1
	if n := len(cfg.Cameras); n > 1 {
		maxBatch = min(n, 8)
	}
	model, err := inference.LoadModel(rt, cfg.Model.Dir, inference.Options{Threads: cfg.Model.Threads, MaxBatch: maxBatch}, log.With("component", "inference"))
	if err != nil {
		return err
	}
	defer model.Close()
	d.model = model
	h, w := model.Image.Size()
	log.Info("model loaded", "dir", cfg.Model.Dir, "layout", model.Files.Layout, "input", fmt.Sprintf("%dx%d", w, h), "dim", model.Image.Dim())

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
		Username:    cfg.MQTT.Username,
		Password:    password,
	}, log.With("component", "mqtt"))
	if err != nil {
		return fmt.Errorf("mqtt: %w", err)
	}
	d.pub = pub
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

	d.batcher = NewBatcher(model.Image, 5*time.Millisecond, maxBatch, o.Times)
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

	camCtx, stopCams := context.WithCancel(ctx)
	defer stopCams()
	for i, cc := range cfg.Cameras {
		if err := d.startCamera(camCtx, cc); err != nil {
			d.stopAll()
			return cfg.Errorf(fmt.Sprintf("cameras[%d]", i), "%v", err)
		}
		d.sets.Release(cc.Labels) // drop the start-up reference taken above
	}
	log.Info("autoclipd running", "device", cfg.Device, "cameras", len(cfg.Cameras), "mqtt", brokerURL)
	notify.Ready()
	notify.Status(fmt.Sprintf("running %d cameras", len(cfg.Cameras)))
	if o.Ready != nil {
		o.Ready()
	}

	for {
		select {
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

// publishSetStatus publishes a label set's status, retained.
func (d *daemon) publishSetStatus(name string, st SetStatus) {
	if d.pub == nil {
		return // before MQTT is up: published once it is
	}
	payload, err := json.Marshal(st)
	if err != nil {
		return
	}
	if err := d.pub.Publish(d.pub.Topic("labels", name, "status"), payload, d.pub.MsgFor(publish.ClassState)); err != nil {
		d.log.Warn("publishing label set status", "set", name, "err", err)
	}
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
	for _, cc := range ncfg.Cameras {
		want[cc.Name] = cc
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
		d.log.Info("camera stopped by reload", "camera", r.cc.Name)
	}
	if old.Labels.Dir != ncfg.Labels.Dir {
		d.log.Warn("config reload: labels.dir takes effect at the next restart")
	}
	if labelsChanged {
		d.sets.ReloadAll()
	}
	for _, cc := range ncfg.Cameras {
		d.mu.Lock()
		_, running := d.cams[cc.Name]
		d.mu.Unlock()
		if running {
			continue
		}
		if err := d.startCamera(ctx, cc); err != nil {
			d.log.Error("config reload: camera not started", "camera", cc.Name, "err", err)
			continue
		}
		d.log.Info("camera started by reload", "camera", cc.Name)
	}
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
	cam, err := capture.New(capture.Config{Name: cc.Name, Source: cc.Source, Loop: cc.Loop, FPS: cc.FPS}, d.log.With("component", "capture"))
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
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := cam.Run(cctx); err != nil && cctx.Err() == nil {
			d.log.Error("camera stopped", "camera", cc.Name, "err", err)
		}
	}()
	s := &scorer{d: d, cc: cc, cam: cam, pre: pre, log: d.log.With("component", "scorer", "camera", cc.Name)}
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
	d   *daemon
	cc  config.Camera
	cam *capture.Camera
	pre *preprocess.Preprocessor
	log *slog.Logger
}

func (s *scorer) run(ctx context.Context) error {
	d := s.d
	emb := make([]float32, d.model.Image.Dim())
	var (
		top     []int
		cur     *LabelSet
		ws      *autoclip.Workspace
		waiting bool
	)
	for {
		f, err := s.cam.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, capture.ErrFinished) {
				s.log.Info("camera finished")
				<-ctx.Done()
				return nil
			}
			return fmt.Errorf("camera %s: %w", s.cc.Name, err)
		}
		// One label set version for the whole frame.
		set := d.sets.Get(s.cc.Labels)
		if set == nil {
			f.Release()
			if !waiting {
				s.log.Warn("label set not loaded: waiting", "set", s.cc.Labels)
				waiting = true
			}
			continue
		}
		waiting = false
		err = d.batcher.Embed(ctx, s.pre, f, emb)
		seq, when := f.Seq, f.Time
		f.Release()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			s.log.Error("encoding frame", "frame", seq, "err", err)
			continue
		}
		if set != cur {
			cur, ws = set, set.Classifier.NewWorkspace(1)
		}
		res, err := set.Classifier.Classify(ws, emb, 1)
		if err != nil {
			s.log.Error("scoring frame", "frame", seq, "err", err)
			continue
		}
		d.notify.Alive()
		cfg := d.config()
		msg := publish.Classification{
			Device: cfg.Device, Camera: s.cc.Name, Frame: seq, Time: when,
			LabelSet: set.Set.Name, Method: string(set.Classifier.Options().Method),
		}
		msg.Labels, top = set.Labels(res[0], cfg.MQTT.Top, top)
		if cfg.AutoCLIP.PublishWeights {
			msg.Weights = set.Weights(res[0], 3)
		}
		if err := d.pub.PublishClassification(msg); err != nil {
			s.log.Warn("publishing", "frame", seq, "err", err)
		}
	}
}
