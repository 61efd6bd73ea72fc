package inference

import (
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/autoclipd/autoclipd/config"
	"github.com/autoclipd/autoclipd/modelgen"
)

// The full-size random ViT-B/32 model is generated once per test binary
// into the user's cache folder (modelgen.DefaultCacheDir), where later runs
// and the modelgen tests find it.
var (
	fullOnce sync.Once
	fullDir  string
	fullErr  error
)

func fullModel(t testing.TB) string {
	t.Helper()
	fullOnce.Do(func() {
		cache, err := modelgen.DefaultCacheDir()
		if err != nil {
			fullErr = err
			return
		}
		fullDir, fullErr = modelgen.EnsureViTB32(cache)
	})
	if fullErr != nil {
		t.Fatal(fullErr)
	}
	return fullDir
}

func finite(v []float32) bool {
	for _, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return false
		}
	}
	return true
}

// TestViTB32Runs loads the full-size random model through LoadModel and
// encodes images in batches of 1 and 2 and prompts: finite unit vectors of
// 512 dimensions, and an image encodes the same alone as in a batch.
func TestViTB32Runs(t *testing.T) {
	rt := openRuntime(t)
	m, err := LoadModel(rt, fullModel(t), Options{MaxBatch: 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Files.Layout != LayoutHF {
		t.Errorf("layout %s, want %s", m.Files.Layout, LayoutHF)
	}
	if h, w := m.Image.Size(); h != 224 || w != 224 || m.Image.Dim() != 512 || m.Text.Dim() != 512 {
		t.Fatalf("image %dx%d, dims %d/%d; want 224x224, 512/512", w, h, m.Image.Dim(), m.Text.Dim())
	}
	if !m.Text.dynamic {
		t.Error("text model: sequence axis should be dynamic")
	}
	if v := m.Tokenizer.VocabSize(); v != modelgen.ViTB32Vocab || m.Tokenizer.StartID() != 49406 || m.Tokenizer.EndID() != 49407 {
		t.Errorf("tokenizer: %d tokens, start %d, end %d; want 49408, 49406, 49407", v, m.Tokenizer.StartID(), m.Tokenizer.EndID())
	}
	fill := func(buf []float32, seed int) {
		for i := range buf {
			buf[i] = float32(math.Sin(float64(i*(seed+1))*0.001)) * 2
		}
	}
	in, err := m.Image.Input(1)
	if err != nil {
		t.Fatal(err)
	}
	fill(in, 0)
	one, err := m.Image.Run(1)
	if err != nil {
		t.Fatal(err)
	}
	one = append([]float32(nil), one...)
	in, err = m.Image.Input(2)
	if err != nil {
		t.Fatal(err)
	}
	plane := 3 * 224 * 224
	fill(in[:plane], 0)
	fill(in[plane:], 1)
	two, err := m.Image.Run(2)
	if err != nil {
		t.Fatal(err)
	}
	if len(two) != 2*512 || !finite(two) || !finite(one) {
		t.Fatalf("image embeddings: %d values, finite %v/%v", len(two), finite(one), finite(two))
	}
	if c := dot(one, two[:512]); c < 0.9999 {
		t.Errorf("image 0 alone and in a batch of 2: cosine %v", c)
	}
	if c := dot(two[:512], two[512:]); c > 0.9999 {
		t.Errorf("two different images embed alike: cosine %v", c)
	}
	txt, err := m.Text.Encode([]string{"a photo of a dog.", "a photo of a cat."})
	if err != nil {
		t.Fatal(err)
	}
	if len(txt) != 2*512 || !finite(txt) {
		t.Fatalf("text embeddings: %d values, finite %v", len(txt), finite(txt))
	}
	for i := range 2 {
		if n := norm(txt[i*512 : (i+1)*512]); math.Abs(n-1) > 1e-4 {
			t.Errorf("prompt %d: norm %v", i, n)
		}
	}
	if c := dot(txt[:512], txt[512:]); c > 0.9999 {
		t.Errorf("different prompts embed alike: cosine %v", c)
	}
}

// truncationPrompts are the default templates filled with a few classes.
func truncationPrompts(t testing.TB, classes ...string) []string {
	tpl, ok := config.TemplateSet("default")
	if !ok {
		t.Fatal("no default template set")
	}
	var prompts []string
	for _, c := range classes {
		for _, p := range tpl {
			prompts = append(prompts, strings.ReplaceAll(p, "{}", c))
		}
	}
	return prompts
}

// TestViTB32TextTruncation proves on the full-size random text model that
// cutting a batch to its longest prompt gives the embeddings of the same
// prompts padded to the 77-token context: cosine >= 0.9999 for each, on
// every default template with one short and one long class, and for a
// prompt longer than the context.
func TestViTB32TextTruncation(t *testing.T) {
	rt := openRuntime(t)
	m, err := LoadModel(rt, fullModel(t), Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	prompts := truncationPrompts(t, "dog")
	prompts = append(prompts,
		"a photo of a delivery person leaving a large parcel at the front door.",
		"x",
		strings.Repeat("a very long prompt ", 30))
	var longest, shortest int = 0, ContextLength
	buf := make([]int64, ContextLength)
	for _, p := range prompts {
		n, _ := m.Tokenizer.EncodeTo(buf, p, m.Tokenizer.EndID())
		longest, shortest = max(longest, n), min(shortest, n)
	}
	if longest != ContextLength || shortest > 4 {
		t.Fatalf("prompts span %d..%d tokens, want a short one and one of %d", shortest, longest, ContextLength)
	}
	start := time.Now()
	cut, err := m.Text.Encode(prompts)
	if err != nil {
		t.Fatal(err)
	}
	cutTime := time.Since(start)
	m.Text.dynamic = false // pad every prompt to ContextLength
	start = time.Now()
	full, err := m.Text.Encode(prompts)
	fullTime := time.Since(start)
	m.Text.dynamic = true
	if err != nil {
		t.Fatal(err)
	}
	worst := 1.0
	for i, p := range prompts {
		c := dot(cut[i*512:(i+1)*512], full[i*512:(i+1)*512])
		worst = min(worst, c)
		if c < 0.9999 || !finite(cut[i*512:(i+1)*512]) {
			t.Errorf("prompt %q: cosine %v between cut and padded", p, c)
		}
	}
	// Different prompts must embed differently, or equality proves nothing.
	if c := dot(cut[:512], cut[512:1024]); c > 0.999 {
		t.Errorf("prompts %q and %q: cosine %v, want different embeddings", prompts[0], prompts[1], c)
	}
	t.Logf("%d prompts: worst cosine %.7f; cut %v, padded to 77 %v (informational)", len(prompts), worst, cutTime, fullTime)
}

// benchmarkTextEncode encodes the default templates for 4 classes (one
// batch of prompts per iteration) and reports prompts/s.
func benchmarkTextEncode(b *testing.B, dynamic bool) {
	rt := openRuntime(b)
	m, err := LoadModel(rt, fullModel(b), Options{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	prompts := truncationPrompts(b, "dog", "person", "car", "package")
	m.Text.dynamic = dynamic
	b.ResetTimer()
	for b.Loop() {
		if _, err := m.Text.Encode(prompts); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(prompts))/b.Elapsed().Seconds(), "prompts/s")
}

// BenchmarkTextEncodePadded77 encodes every prompt padded to the 77-token
// context, as a model with a fixed sequence axis needs.
func BenchmarkTextEncodePadded77(b *testing.B) { benchmarkTextEncode(b, false) }

// BenchmarkTextEncodeCut encodes batches cut to their longest prompt.
func BenchmarkTextEncodeCut(b *testing.B) { benchmarkTextEncode(b, true) }

// BenchmarkViTB32ImageEncode runs the full-size random image encoder on
// one image per iteration, the cost preprocessing is measured against.
func BenchmarkViTB32ImageEncode(b *testing.B) {
	rt := openRuntime(b)
	m, err := LoadModel(rt, fullModel(b), Options{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	in, err := m.Image.Input(1)
	if err != nil {
		b.Fatal(err)
	}
	for i := range in {
		in[i] = float32(i%255)/128 - 1
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := m.Image.Run(1); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "images/s")
}
