package daemon

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/autoclipd/autoclipd/capture"
	"github.com/autoclipd/autoclipd/inference"
	"github.com/autoclipd/autoclipd/inference/preprocess"
	"github.com/autoclipd/autoclipd/modelgen"
)

// loadDemo loads the generated demo model with real ONNX Runtime.
func loadDemo(t testing.TB, maxBatch int) *inference.Model {
	t.Helper()
	lib := os.Getenv("ORT_LIB")
	if lib == "" {
		t.Fatal("ORT_LIB is not set: run the tests with `make test`")
	}
	dir := filepath.Join(t.TempDir(), "model")
	if err := modelgen.WriteDemoModel(dir); err != nil {
		t.Fatal(err)
	}
	rt, err := inference.Open(lib)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	m, err := inference.LoadModel(rt, dir, inference.Options{MaxBatch: maxBatch}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func solidFrame(bgr [3]uint8, w, h int) *capture.Frame {
	data := make([]byte, 3*w*h)
	for i := 0; i < w*h; i++ {
		copy(data[3*i:], bgr[:])
	}
	return &capture.Frame{Width: w, Height: h, Data: data}
}

// embedFrame preprocesses f with pre, as a camera's frame loop does, and
// encodes it through b.
func embedFrame(ctx context.Context, b *Batcher, pre *preprocess.Preprocessor, f *capture.Frame, emb []float32) (EmbedStats, error) {
	h, w := pre.OutputSize()
	in := make([]float32, 3*h*w)
	if err := pre.Run(in, f.Data, f.Width, f.Height, 3*f.Width, preprocess.BGR); err != nil {
		return EmbedStats{}, err
	}
	return b.Embed(ctx, in, emb)
}

func cosine(a, b []float32) float64 {
	var ab, aa, bb float64
	for i := range a {
		ab += float64(a[i]) * float64(b[i])
		aa += float64(a[i]) * float64(a[i])
		bb += float64(b[i]) * float64(b[i])
	}
	return ab / math.Sqrt(aa*bb)
}

// TestBatcherBatchesCameras runs four cameras' frames through the real demo
// encoder: batches of more than one frame form, and every camera gets the
// embedding of its own frame (the one a batch of one gives).
func TestBatcherBatchesCameras(t *testing.T) {
	m := loadDemo(t, 4)
	colours := modelgen.DemoColours()[:4]
	b := NewBatcher(m.Image, 50*time.Millisecond, 4)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = b.Run(ctx) }()
	defer func() { cancel(); <-done }()

	// References: each colour alone, sizes differing per camera.
	want := make([][]float32, len(colours))
	for i, c := range colours {
		pre, err := preprocess.New(m.Preprocess)
		if err != nil {
			t.Fatal(err)
		}
		want[i] = make([]float32, m.Image.Dim())
		unreg := b.Register()
		if _, err := embedFrame(ctx, b, pre, solidFrame(c.BGR, 64+16*i, 48+8*i), want[i]); err != nil {
			t.Fatal(err)
		}
		unreg()
	}
	b0, f0 := b.Stats()
	if b0 != 4 || f0 != 4 {
		t.Fatalf("references: %d batches, %d frames, want 4 and 4", b0, f0)
	}

	const rounds = 10
	var wg sync.WaitGroup
	errs := make(chan error, len(colours))
	for i, c := range colours {
		unreg := b.Register()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer unreg()
			pre, err := preprocess.New(m.Preprocess)
			if err != nil {
				errs <- err
				return
			}
			emb := make([]float32, m.Image.Dim())
			for r := 0; r < rounds; r++ {
				if _, err := embedFrame(ctx, b, pre, solidFrame(c.BGR, 64+16*i, 48+8*i), emb); err != nil {
					errs <- err
					return
				}
				if cs := cosine(emb, want[i]); cs < 0.9999 {
					t.Errorf("camera %d round %d: cosine %.6f to its own frame's embedding", i, r, cs)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	batches, frames := b.Stats()
	batches, frames = batches-b0, frames-f0
	if frames != rounds*uint64(len(colours)) {
		t.Fatalf("%d frames encoded, want %d", frames, rounds*len(colours))
	}
	if batches >= frames {
		t.Errorf("%d batches for %d frames: no batching", batches, frames)
	}
	t.Logf("%d frames in %d batches", frames, batches)
}

// fakeModel is an in-memory image model: the embedding of slot i is the
// first value of its input, so tests can see which frame went where.
type fakeModel struct {
	mu    sync.Mutex
	in    []float32
	sizes []int
	size  int
}

func (f *fakeModel) Input(b int) ([]float32, error) {
	f.in = make([]float32, b*f.size)
	return f.in, nil
}

func (f *fakeModel) Run(b int) ([]float32, error) {
	f.mu.Lock()
	f.sizes = append(f.sizes, b)
	f.mu.Unlock()
	out := make([]float32, b)
	for i := range out {
		out[i] = f.in[i*f.size]
	}
	return out, nil
}
func (f *fakeModel) Dim() int      { return 1 }
func (f *fakeModel) MaxBatch() int { return 8 }

// TestBatcherWindow: with two cameras registered and only one sending, a
// frame waits out the window and is encoded alone; with one camera
// registered it is encoded at once.
func TestBatcherWindow(t *testing.T) {
	pre, err := preprocess.New(preprocess.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	h, w := pre.OutputSize()
	fm := &fakeModel{size: 3 * h * w}
	const window = time.Second
	b := NewBatcher(fm, window, 4)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = b.Run(ctx) }()
	defer func() { cancel(); <-done }()

	emb := make([]float32, 1)
	u1 := b.Register()
	start := time.Now()
	if _, err := embedFrame(ctx, b, pre, solidFrame([3]uint8{255, 255, 255}, 32, 32), emb); err != nil {
		t.Fatal(err)
	}
	alone := time.Since(start)
	u2 := b.Register()
	start = time.Now()
	if _, err := embedFrame(ctx, b, pre, solidFrame([3]uint8{255, 255, 255}, 32, 32), emb); err != nil {
		t.Fatal(err)
	}
	waited := time.Since(start)
	u1()
	u2()
	if waited < window {
		t.Errorf("with a second camera registered the frame went after %v, before the %v window", waited, window)
	}
	if alone >= window {
		t.Errorf("a lone camera's frame waited %v, the window is only for batches", alone)
	}
	if len(fm.sizes) != 2 || fm.sizes[0] != 1 || fm.sizes[1] != 1 {
		t.Errorf("batch sizes %v, want [1 1]", fm.sizes)
	}
}
