package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/autoclipd/autoclipd/autoclip"
	"github.com/autoclipd/autoclipd/capture"
	"github.com/autoclipd/autoclipd/config"
	"github.com/autoclipd/autoclipd/daemon"
	"github.com/autoclipd/autoclipd/inference"
	"github.com/autoclipd/autoclipd/modelgen"
)

// benchClasses are the classes the pipeline scores against.
var benchClasses = []string{"person", "car", "bicycle", "dog", "cat", "truck", "bird", "bus", "motorcycle", "empty street"}

// stageStats is one stage's latency percentiles.
type stageStats struct {
	P50 float64 `json:"p50_ms"`
	P99 float64 `json:"p99_ms"`
}

// benchReport is the output of `bench --json`.
type benchReport struct {
	Model       string                `json:"model"`
	Provider    string                `json:"provider,omitempty"`
	Batch       int                   `json:"batch"`
	DecodeScale string                `json:"decode_scale"`
	BareFPS     float64               `json:"bare_fps"`
	PipelineFPS float64               `json:"pipeline_fps"`
	Ratio       float64               `json:"ratio"`
	Stages      map[string]stageStats `json:"stages"`
	TextRate    float64               `json:"text_prompts_per_s"`
	PeakRSS     int64                 `json:"peak_rss_bytes"`
	Frames      int                   `json:"frames"`
	// RSSStart and RSSEnd are the resident set after warm-up and at the
	// end of the pipeline run (flatness over many frames).
	RSSStart int64 `json:"rss_start_bytes"`
	RSSEnd   int64 `json:"rss_end_bytes"`
	// RSSEvery1000 is the resident set after every 1000 scored frames.
	RSSEvery1000 []int64 `json:"rss_every_1000_frames,omitempty"`
	// GoEvery1000 is the memory the Go runtime has mapped (heap, stacks,
	// its own metadata) at the same points: what RSS grows by beyond it is
	// C memory (OpenCV, ONNX Runtime, glibc's allocator).
	GoEvery1000 []int64 `json:"go_mapped_every_1000_frames,omitempty"`
}

// cmdBench measures the bare image encoder and the whole pipeline in one run.
func cmdBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench", stderr)
	modelDir := fs.String("model", "", "model `DIR` (default: the full-size random ViT-B/32, generated into the cache)")
	video := fs.String("video", "", "video `FILE` to decode (default: a generated 1920x1080 video)")
	batch := fs.Int("batch", 1, "image batch size")
	seconds := fs.Float64("seconds", 20, "seconds for each of the bare and pipeline runs")
	frames := fs.Int("frames", 0, "pipeline frames to score instead of --seconds (0: by time)")
	threads := fs.Int("threads", 0, "ONNX Runtime intra-op threads (0: its default)")
	spin := fs.Bool("spin", false, "let ONNX Runtime's idle threads spin (model.spinning)")
	decodeScale := fs.String("decode-scale", config.DecodeScaleAuto, "Motion JPEG decode reduction: auto, 1 (full), 2, 4 or 8 (cameras[].decode_scale)")
	providers := fs.String("providers", "", "execution providers, comma-separated (default: tensorrt,cuda,cpu)")
	lib := fs.String("onnxruntime", "", "path of libonnxruntime.so (default: searched)")
	cacheDir := fs.String("cache", "", "cache `DIR` for generated models and videos (default: the user cache)")
	asJSON := fs.Bool("json", false, "print one JSON object")
	verbose := fs.Bool("v", false, "log progress to standard error")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *batch < 1 {
		return usageError{fmt.Errorf("--batch must be >= 1, got %d", *batch)}
	}
	if (config.Camera{DecodeScale: *decodeScale}).Scale() < 0 {
		return usageError{fmt.Errorf("--decode-scale must be auto, 1, 2, 4 or 8, got %q", *decodeScale)}
	}
	if !(*seconds > 0) {
		return usageError{fmt.Errorf("--seconds must be > 0, got %v", *seconds)}
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	cache := *cacheDir
	if cache == "" {
		d, err := modelgen.DefaultCacheDir()
		if err != nil {
			return err
		}
		cache = filepath.Dir(d)
	}
	dir := *modelDir
	if dir == "" {
		log.Info("generating the full-size random ViT-B/32 model (first run only)", "cache", cache)
		var err error
		if dir, err = modelgen.EnsureViTB32(filepath.Join(cache, "models")); err != nil {
			return err
		}
	}
	src := *video
	if src == "" {
		var err error
		if src, err = benchVideo(filepath.Join(cache, "videos")); err != nil {
			return err
		}
	}

	libPath, err := inference.FindLibrary(*lib)
	if err != nil {
		return err
	}
	var provs []string
	if *providers != "" {
		provs = strings.Split(*providers, ",")
	}
	rep := benchReport{Model: dir, Batch: *batch, DecodeScale: *decodeScale, Stages: map[string]stageStats{}}
	dur := time.Duration(*seconds * float64(time.Second))

	// The whole pipeline first, through the daemon itself, so that peak
	// RSS is the daemon's own.
	if err := benchPipeline(ctx, &rep, benchSetup{
		lib: libPath, model: dir, video: src, batch: *batch, threads: *threads, spin: *spin, providers: provs,
		decodeScale: *decodeScale,
	}, dur, *frames, log); err != nil {
		return err
	}
	// VmHWM is updated lazily by the kernel and can trail a VmRSS read.
	rep.PeakRSS = max(procStatus("VmHWM"), rep.RSSStart, rep.RSSEnd)
	for _, r := range rep.RSSEvery1000 {
		rep.PeakRSS = max(rep.PeakRSS, r)
	}

	// Then the text encoder and the bare image encoder: the session alone on
	// one input, same batch.
	rt, err := inference.Open(libPath)
	if err != nil {
		return err
	}
	defer rt.Close()
	opts := inference.Options{Threads: *threads, MaxBatch: *batch}
	opts.Providers = provs
	opts.Spinning = *spin
	opts.ProviderOptions.Log = log
	model, err := inference.LoadModel(rt, dir, opts, log)
	if err != nil {
		return err
	}
	defer model.Close()
	rep.Provider = model.Image.Provider()
	set := benchLabelSet()
	t0 := time.Now()
	ls, err := daemon.EncodeLabelSet(set, model.Text, nil, autoclip.DefaultOptions())
	if err != nil {
		return err
	}
	rep.TextRate = float64(ls.Encoded) / time.Since(t0).Seconds()
	in, err := model.Image.Input(*batch)
	if err != nil {
		return err
	}
	for i := range in {
		in[i] = float32(math.Sin(float64(i)))
	}
	if _, err := model.Image.Run(*batch); err != nil { // warm-up
		return err
	}
	n, start := 0, time.Now()
	for time.Since(start) < dur && ctx.Err() == nil {
		if _, err := model.Image.Run(*batch); err != nil {
			return err
		}
		n += *batch
	}
	rep.BareFPS = float64(n) / time.Since(start).Seconds()

	if rep.BareFPS > 0 {
		rep.Ratio = rep.PipelineFPS / rep.BareFPS
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(rep)
	}
	w := bufio.NewWriter(stdout)
	fmt.Fprintf(w, "model            %s\n", rep.Model)
	fmt.Fprintf(w, "batch            %d\n", rep.Batch)
	fmt.Fprintf(w, "decode scale     %s\n", rep.DecodeScale)
	fmt.Fprintf(w, "bare encoder     %.2f frames/s\n", rep.BareFPS)
	fmt.Fprintf(w, "pipeline         %.2f frames/s (%d frames)\n", rep.PipelineFPS, rep.Frames)
	fmt.Fprintf(w, "ratio            %.3f\n", rep.Ratio)
	for _, s := range []string{"capture", "preprocess", "encode", "score", "publish"} {
		st := rep.Stages[s]
		fmt.Fprintf(w, "  %-11s    p50 %8.3f ms   p99 %8.3f ms\n", s, st.P50, st.P99)
	}
	fmt.Fprintf(w, "text encoder     %.1f prompts/s\n", rep.TextRate)
	fmt.Fprintf(w, "peak RSS         %.1f MiB (after warm-up %.1f MiB, at the end %.1f MiB)\n",
		float64(rep.PeakRSS)/(1<<20), float64(rep.RSSStart)/(1<<20), float64(rep.RSSEnd)/(1<<20))
	return w.Flush()
}

// benchSetup is what the pipeline run needs.
type benchSetup struct {
	lib, model, video string
	decodeScale       string
	batch, threads    int
	spin              bool
	providers         []string
}

// benchLabelSet is the label set the pipeline scores against: ten everyday
// camera classes with the default templates.
func benchLabelSet() *config.LabelSet {
	set := &config.LabelSet{Name: "bench", Path: "bench"}
	set.Templates, _ = config.TemplateSet(config.DefaultTemplates)
	for _, c := range benchClasses {
		set.Classes = append(set.Classes, config.Class{Name: c})
	}
	return set
}

// benchPipeline runs the daemon (decode -> preprocess -> encode -> AutoCLIP
// -> events -> publish to its embedded broker) with one camera per batch
// slot, all reading src unpaced, for dur or until frames are scored, and
// fills the pipeline figures of rep.
func benchPipeline(ctx context.Context, rep *benchReport, b benchSetup, dur time.Duration, frames int, log *slog.Logger) error {
	tmp, err := os.MkdirTemp("", "autoclipd-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := os.MkdirAll(filepath.Join(tmp, "labels"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, "labels", "bench.txt"), []byte(strings.Join(benchClasses, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	var y strings.Builder
	fmt.Fprintf(&y, "device: bench\nstate_dir: state\ncache_dir: cache\nhttp:\n  listen: \"off\"\n")
	fmt.Fprintf(&y, "model:\n  dir: %q\n  onnxruntime: %q\n  threads: %d\n  spinning: %t\n", b.model, b.lib, b.threads, b.spin)
	if len(b.providers) > 0 {
		fmt.Fprintf(&y, "  providers: [%s]\n", strings.Join(b.providers, ", "))
	}
	fmt.Fprintf(&y, "inference:\n  max_batch: %d\ncameras:\n", b.batch)
	for i := 0; i < b.batch; i++ {
		fmt.Fprintf(&y, "  - name: bench%d\n    source: %q\n    loop: true\n    labels: bench\n    decode_scale: %q\n", i, b.video, b.decodeScale)
	}
	fmt.Fprintf(&y, "labels:\n  dir: labels\nmqtt:\n  url: embedded\n  listen: 127.0.0.1:0\n  topic_prefix: bench\nlog:\n  level: warn\n")
	path := filepath.Join(tmp, "config.yaml")
	if err := os.WriteFile(path, []byte(y.String()), 0o644); err != nil {
		return err
	}
	cfg, err := config.Load(path)
	if err != nil {
		return fmt.Errorf("bench config: %w", err)
	}

	type sample = daemon.FrameTimes
	var (
		mu sync.Mutex
		// Preallocated when the frame count is known, so that the bench's
		// own bookkeeping does not show in the RSS it reports.
		samples = make([]sample, 0, max(frames, 0))
		seen    = map[string]int{}
		begin   time.Time
		warm    = make(chan struct{})
		enough  = make(chan struct{})
	)
	const warmup = 3 // frames per camera not counted
	onFrame := func(ft daemon.FrameTimes) {
		mu.Lock()
		defer mu.Unlock()
		seen[ft.Camera]++
		if begin.IsZero() {
			for i := 0; i < b.batch; i++ {
				if seen[fmt.Sprintf("bench%d", i)] < warmup {
					return
				}
			}
			begin = time.Now()
			close(warm)
			return
		}
		samples = append(samples, ft)
		if len(samples)%1000 == 0 {
			rep.RSSEvery1000 = append(rep.RSSEvery1000, procStatus("VmRSS"))
			rep.GoEvery1000 = append(rep.GoEvery1000, goMapped())
		}
		if frames > 0 && len(samples) == frames {
			close(enough)
		}
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- daemon.Run(rctx, cfg, daemon.Options{
			Log:     log,
			Frames:  onFrame,
			Capture: func(c *capture.Config) { c.Unpaced = true },
		})
	}()
	select {
	case <-warm:
	case err := <-done:
		if err == nil {
			err = errors.New("the daemon stopped before scoring a frame")
		}
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
	rep.RSSStart = procStatus("VmRSS")
	if frames > 0 {
		select {
		case <-enough:
		case <-ctx.Done():
		}
	} else {
		select {
		case <-time.After(dur):
		case <-ctx.Done():
		}
	}
	mu.Lock()
	all := append([]sample(nil), samples...)
	elapsed := time.Since(begin)
	mu.Unlock()
	rep.RSSEnd = procStatus("VmRSS")
	cancel()
	if err := <-done; err != nil {
		return err
	}
	rep.Frames = len(all)
	if len(all) == 0 {
		return errors.New("bench: no frame went through the pipeline")
	}
	rep.PipelineFPS = float64(len(all)) / elapsed.Seconds()
	pick := func(f func(sample) time.Duration) stageStats {
		v := make([]float64, len(all))
		for i, s := range all {
			v[i] = float64(f(s)) / float64(time.Millisecond)
		}
		slices.Sort(v)
		q := func(p float64) float64 { return v[min(len(v)-1, int(p*float64(len(v))))] }
		return stageStats{P50: q(0.50), P99: q(0.99)}
	}
	rep.Stages["capture"] = pick(func(s sample) time.Duration { return s.Capture })
	rep.Stages["preprocess"] = pick(func(s sample) time.Duration { return s.Preprocess })
	rep.Stages["encode"] = pick(func(s sample) time.Duration { return s.Encode })
	rep.Stages["score"] = pick(func(s sample) time.Duration { return s.Score })
	rep.Stages["publish"] = pick(func(s sample) time.Duration { return s.Publish })
	return nil
}

// benchVideo returns a generated 1920x1080 video in dir, writing it the
// first time: 60 frames at 10 fps of moving gradients (not solid colours,
// so decoding and resizing do real work).
func benchVideo(dir string) (string, error) {
	path := filepath.Join(dir, "bench-1920x1080-10fps.avi")
	if st, err := os.Stat(path); err == nil && st.Size() > 0 {
		return path, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp := path + ".tmp" + strconv.Itoa(os.Getpid()) + ".avi"
	const w, h = 1920, 1080
	err := capture.WriteVideo(tmp, w, h, 10, 60, func(i int, bgr []byte) {
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				p := 3 * (y*w + x)
				bgr[p] = byte(x/8 + i*4)
				bgr[p+1] = byte(y/4 + i*2)
				bgr[p+2] = byte((x + y) / 16)
			}
		}
	})
	if err != nil {
		os.Remove(tmp)
		return "", err
	}
	return path, os.Rename(tmp, path)
}

// goMapped is the memory the Go runtime has mapped and not released,
// runtime/metrics' /memory/classes/total minus what it returned to the OS.
func goMapped() int64 {
	m := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(m)
	if m[0].Value.Kind() != metrics.KindUint64 || m[1].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return int64(m[0].Value.Uint64() - m[1].Value.Uint64())
}

// procStatus reads a memory figure (VmRSS, VmHWM) of this process in bytes
// from /proc/self/status; 0 where there is no /proc.
func procStatus(key string) int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			f := strings.Fields(v)
			if len(f) >= 1 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}
