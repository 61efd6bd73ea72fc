package inference

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/autoclipd/autoclipd/inference/preprocess"
	"github.com/autoclipd/autoclipd/modelgen"
)

func TestFindLibrary(t *testing.T) {
	dir := t.TempDir()
	lib := filepath.Join(dir, "libonnxruntime.so.1")
	if err := os.WriteFile(lib, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	sysDir := t.TempDir()
	sysLib := filepath.Join(sysDir, "libonnxruntime.so")
	if err := os.WriteFile(sysLib, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	none := func() string { return "" }
	tests := []struct {
		name       string
		configured string
		env        map[string]string
		ldconfig   func() string
		want       string
		err        string
	}{
		{name: "configured wins", configured: lib, env: map[string]string{"ORT_LIB": "/nope"}, ldconfig: none, want: lib},
		{name: "configured missing", configured: "/nope/libonnxruntime.so", ldconfig: none, err: "model.onnxruntime: /nope/libonnxruntime.so: no such file"},
		{name: "configured is a folder", configured: dir, ldconfig: none, err: "model.onnxruntime: " + dir + ": is a directory, want the path of libonnxruntime.so"},
		{name: "env", env: map[string]string{"ORT_LIB": lib}, ldconfig: none, want: lib},
		{name: "env missing", env: map[string]string{"ORT_LIB": "/nope.so"}, ldconfig: none, err: "ORT_LIB: /nope.so: no such file"},
		{name: "library path", env: map[string]string{"LD_LIBRARY_PATH": "/nonexistent:" + sysDir}, ldconfig: none, want: sysLib},
		{name: "ldconfig", env: map[string]string{}, ldconfig: func() string { return "/from/ldconfig.so" }, want: "/from/ldconfig.so"},
		{name: "nowhere", env: map[string]string{}, ldconfig: none,
			err: "ONNX Runtime library not found: model.onnxruntime is not set, ORT_LIB is not set, and there is no libonnxruntime.so or libonnxruntime.so.1 in the system library paths"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := libFinder{getenv: env(tc.env), goarch: "amd64", ldconfig: tc.ldconfig}
			if tc.name == "nowhere" {
				// The real system folders may hold a library on a developer's
				// machine; the miss is checked on folders that do not exist.
				f.goarch = "none"
			}
			got, err := f.find(tc.configured)
			if tc.err != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.err) {
					t.Fatalf("error %v, want prefix %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("found %q, want %q", got, tc.want)
			}
		})
	}
}

// openRuntime opens the ONNX Runtime library that `make test` provides.
func openRuntime(t testing.TB) *Runtime {
	t.Helper()
	lib, err := FindLibrary("")
	if err != nil {
		t.Fatalf("%v (run the tests with `make test`, which finds or fetches ONNX Runtime)", err)
	}
	rt, err := Open(lib)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	return rt
}

func demoModel(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "model")
	if err := modelgen.WriteDemoModel(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestFindModelFiles(t *testing.T) {
	dir := demoModel(t)
	files, err := FindModelFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	if files.Layout != LayoutHF || files.Vision != filepath.Join(dir, "onnx/vision_model.onnx") {
		t.Errorf("files: %+v", files)
	}
	for _, f := range hfFiles {
		t.Run("missing "+f, func(t *testing.T) {
			broken := demoModel(t)
			if err := os.Remove(filepath.Join(broken, f)); err != nil {
				t.Fatal(err)
			}
			_, err := FindModelFiles(broken)
			want := "model.dir " + broken + ": missing " + f + " (expected the Hugging Face layout: onnx/vision_model.onnx, onnx/text_model.onnx, tokenizer.json, preprocessor_config.json)"
			if err == nil || err.Error() != want {
				t.Errorf("error\n got %v\nwant %s", err, want)
			}
		})
	}
	_, err = FindModelFiles(filepath.Join(dir, "nope"))
	if err == nil || err.Error() != "model.dir "+filepath.Join(dir, "nope")+": no such folder" {
		t.Errorf("missing folder: %v", err)
	}
}

func TestLoadModelAndEncode(t *testing.T) {
	rt := openRuntime(t)
	m, err := LoadModel(rt, demoModel(t), Options{MaxBatch: 4}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if h, w := m.Image.Size(); h != 224 || w != 224 {
		t.Errorf("input size %dx%d, want 224x224 from the model file", w, h)
	}
	d := m.Image.Dim()
	if d < 2 || d != m.Text.Dim() {
		t.Fatalf("dims: image %d text %d", d, m.Text.Dim())
	}

	// Solid frames through the real preprocessing and encoder: each colour's
	// image embedding is closest to its own word's text embedding.
	pre, err := preprocess.New(m.Preprocess)
	if err != nil {
		t.Fatal(err)
	}
	colours := modelgen.DemoColours()
	if len(colours) < 4 {
		t.Fatalf("only %d demo colours", len(colours))
	}
	colours = colours[:4]
	const fw, fh = 64, 48
	in, err := m.Image.Input(len(colours))
	if err != nil {
		t.Fatal(err)
	}
	per := len(in) / len(colours)
	frame := make([]byte, fw*fh*3)
	var prompts []string
	for i, c := range colours {
		for p := 0; p < fw*fh; p++ {
			copy(frame[3*p:], c.BGR[:])
		}
		if err := pre.Run(in[i*per:(i+1)*per], frame, fw, fh, 3*fw, preprocess.BGR); err != nil {
			t.Fatal(err)
		}
		prompts = append(prompts, "a photo of something "+c.Name+".")
	}
	img, err := m.Image.Run(len(colours))
	if err != nil {
		t.Fatal(err)
	}
	txt, err := m.Text.Encode(prompts)
	if err != nil {
		t.Fatal(err)
	}
	if len(img) != len(colours)*d || len(txt) != len(colours)*d {
		t.Fatalf("embedding lengths %d, %d", len(img), len(txt))
	}
	for i := range colours {
		if n := norm(img[i*d : (i+1)*d]); math.Abs(n-1) > 1e-5 {
			t.Errorf("image embedding %d has norm %v", i, n)
		}
		best, bestSim := -1, -2.0
		for j := range colours {
			s := dot(img[i*d:(i+1)*d], txt[j*d:(j+1)*d])
			if s > bestSim {
				best, bestSim = j, s
			}
		}
		if best != i {
			t.Errorf("%s frame: closest prompt is %q", colours[i].Name, prompts[best])
		}
	}

	if _, err := m.Image.Input(5); err == nil || err.Error() != "inference: batch of 5 images, want 1..4" {
		t.Errorf("oversized batch: %v", err)
	}
}

// TestTextCutToLongestPrompt checks that cutting a batch to its longest
// prompt gives the embeddings of prompts padded to the full context.
func TestTextCutToLongestPrompt(t *testing.T) {
	rt := openRuntime(t)
	m, err := LoadModel(rt, demoModel(t), Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if !m.Text.dynamic {
		t.Fatal("demo text model should have a dynamic sequence axis")
	}
	prompts := []string{"red", "a photo of something green.", "a blurry photo of a blue thing in the rain."}
	cut, err := m.Text.Encode(prompts)
	if err != nil {
		t.Fatal(err)
	}
	m.Text.dynamic = false // pad every prompt to ContextLength
	full, err := m.Text.Encode(prompts)
	m.Text.dynamic = true
	if err != nil {
		t.Fatal(err)
	}
	d := m.Text.Dim()
	for i := range prompts {
		if c := dot(cut[i*d:(i+1)*d], full[i*d:(i+1)*d]); c < 0.9999 {
			t.Errorf("prompt %q: cosine %v between cut and padded", prompts[i], c)
		}
	}
}

func TestWrongModelFiles(t *testing.T) {
	rt := openRuntime(t)
	dir := demoModel(t)
	_, err := NewImageEncoder(rt, filepath.Join(dir, "onnx/text_model.onnx"), Options{})
	if err == nil || !strings.Contains(err.Error(), "no image input of shape [N,3,H,W] (inputs: input_ids") {
		t.Errorf("text model as image encoder: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.onnx")
	if err := os.WriteFile(bad, []byte("not a model"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = NewImageEncoder(rt, bad, Options{})
	if err == nil || !strings.HasPrefix(err.Error(), bad+": not a loadable ONNX model") {
		t.Errorf("garbage model: %v", err)
	}
}

func dot(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

func norm(a []float32) float64 { return math.Sqrt(dot(a, a)) }
