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
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/autoclipd/autoclipd/capture"
	"github.com/autoclipd/autoclipd/config"
	"github.com/autoclipd/autoclipd/inference"
	"github.com/autoclipd/autoclipd/inference/preprocess"
	"github.com/autoclipd/autoclipd/publish"
)

// Options are the daemon's collaborators, built by the caller.
type Options struct {
	// Log receives the daemon's logs; nil discards them.
	Log *slog.Logger
	// Ready, if set, is called once cameras, model, label sets and MQTT are
	// up (systemd's READY=1).
	Ready func()
	// ShutdownTimeout bounds the shutdown (default 10 s).
	ShutdownTimeout time.Duration
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

	model, err := inference.LoadModel(rt, cfg.Model.Dir, inference.Options{Threads: cfg.Model.Threads, MaxBatch: 1}, log.With("component", "inference"))
	if err != nil {
		return err
	}
	defer model.Close()
	h, w := model.Image.Size()
	log.Info("model loaded", "dir", cfg.Model.Dir, "layout", model.Files.Layout, "input", fmt.Sprintf("%dx%d", w, h), "dim", model.Image.Dim())

	sets, err := loadLabelSets(cfg, model.Text, log)
	if err != nil {
		return err
	}

	cams := make([]*capture.Camera, len(cfg.Cameras))
	for i, cc := range cfg.Cameras {
		cam, err := capture.New(capture.Config{Name: cc.Name, Source: cc.Source, Loop: cc.Loop, FPS: cc.FPS}, log.With("component", "capture"))
		if err != nil {
			return cfg.Errorf(fmt.Sprintf("cameras[%d]", i), "%v", err)
		}
		cams[i] = cam
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
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), o.ShutdownTimeout)
		defer cancel()
		if cerr := pub.Close(sctx); cerr != nil {
			log.Warn("mqtt close", "err", cerr)
		}
	}()

	enc := NewEncoder(model.Image)
	g, gctx := errgroup.WithContext(ctx)
	for i, cam := range cams {
		cc := cfg.Cameras[i]
		g.Go(func() error {
			if err := cam.Run(gctx); err != nil && gctx.Err() == nil {
				log.Error("camera stopped", "camera", cc.Name, "err", err)
			}
			return nil
		})
		pp, err := preprocess.New(model.Preprocess)
		if err != nil {
			return err
		}
		s := &scorer{
			cfg: cfg, cam: cam, name: cc.Name, set: sets[cc.Labels], pre: pp, enc: enc, pub: pub,
			log: log.With("component", "scorer", "camera", cc.Name),
		}
		g.Go(func() error { return s.run(gctx) })
	}
	log.Info("autoclipd running", "device", cfg.Device, "cameras", len(cams), "mqtt", brokerURL)
	if o.Ready != nil {
		o.Ready()
	}
	err = g.Wait()
	log.Info("autoclipd stopping")
	return err
}

// loadLabelSets loads and encodes every label set a camera names.
func loadLabelSets(cfg *config.Config, text *inference.TextEncoder, log *slog.Logger) (map[string]*LabelSet, error) {
	sets := map[string]*LabelSet{}
	for i, cc := range cfg.Cameras {
		if _, ok := sets[cc.Labels]; ok {
			continue
		}
		set, err := config.LoadLabelSet(cfg.Labels.Dir, cc.Labels, cfg.Labels.Templates)
		if err != nil {
			return nil, cfg.Errorf(fmt.Sprintf("cameras[%d].labels", i), "%v", err)
		}
		start := time.Now()
		ls, err := EncodeLabelSet(set, text, cfg.AutoCLIP.Options())
		if err != nil {
			return nil, err
		}
		log.Info("label set loaded", "set", set.Name, "classes", len(set.Classes), "templates", len(set.Templates), "took", time.Since(start).Round(time.Millisecond))
		sets[cc.Labels] = ls
	}
	return sets, nil
}

// scorer takes frames from one camera, encodes, classifies and publishes.
type scorer struct {
	cfg  *config.Config
	cam  *capture.Camera
	name string
	set  *LabelSet
	pre  *preprocess.Preprocessor
	enc  *Encoder
	pub  *publish.Publisher
	log  *slog.Logger
}

func (s *scorer) run(ctx context.Context) error {
	ws := s.set.Classifier.NewWorkspace(1)
	emb := make([]float32, s.enc.Dim())
	var top []int
	for {
		f, err := s.cam.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, capture.ErrFinished) {
				s.log.Info("camera finished")
				return nil
			}
			return fmt.Errorf("camera %s: %w", s.name, err)
		}
		err = s.enc.Embed(s.pre, f, emb)
		seq, when := f.Seq, f.Time
		f.Release()
		if err != nil {
			s.log.Error("encoding frame", "frame", seq, "err", err)
			continue
		}
		res, err := s.set.Classifier.Classify(ws, emb, 1)
		if err != nil {
			s.log.Error("scoring frame", "frame", seq, "err", err)
			continue
		}
		msg := publish.Classification{
			Device: s.cfg.Device, Camera: s.name, Frame: seq, Time: when,
			LabelSet: s.set.Set.Name, Method: string(s.set.Classifier.Options().Method),
		}
		msg.Labels, top = s.set.Labels(res[0], s.cfg.MQTT.Top, top)
		if s.cfg.AutoCLIP.PublishWeights {
			msg.Weights = s.set.Weights(res[0], 3)
		}
		if err := s.pub.PublishClassification(msg); err != nil {
			s.log.Warn("publishing", "frame", seq, "err", err)
		}
	}
}
