package modelgen

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/autoclipd/autoclipd/inference/tokenizer"
	"github.com/autoclipd/autoclipd/modelgen/onnx"
)

// TestViTB32Structure checks the full-size models' inputs, outputs,
// parameter counts (CLIP ViT-B/32: 87.8M image, 63.4M text), depth, and
// that the weights are deterministic, finite and small.
func TestViTB32Structure(t *testing.T) {
	tests := []struct {
		name       string
		model      func() *onnx.Model
		input      string
		inType     onnx.DataType
		inDims     []string
		output     string
		params     int64
		layerNorms int
		softmaxes  int
		hash       string
	}{
		{"vision", ViTB32VisionModel, "pixel_values", onnx.Float, []string{"batch_size", "3", "224", "224"}, "image_embeds", 87_849_216 + 15, 2*12 + 2, 12, "26e6b926a654fdabecb14c880b66d058a4878c787b601abbf1dd7bd0e5b0dba3"},
		{"text", ViTB32TextModel, "input_ids", onnx.Int64, []string{"batch_size", "sequence_length"}, "text_embeds", 63_428_096 + 5_944, 2*12 + 1, 12, "e5782e586bfd387cb569cb943256ddbfc84c62ed4ffc77b8f077cac66452c87d"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.model()
			if err := m.Validate(); err != nil {
				t.Fatal(err)
			}
			g := m.Graph
			if len(g.Inputs) != 1 || g.Inputs[0].Name != tc.input || g.Inputs[0].Type != tc.inType || !reflect.DeepEqual(dimsOf(g.Inputs[0]), tc.inDims) {
				t.Errorf("inputs %+v, want %s %v %v", g.Inputs, tc.input, tc.inType, tc.inDims)
			}
			if len(g.Outputs) != 1 || g.Outputs[0].Name != tc.output || !reflect.DeepEqual(dimsOf(g.Outputs[0]), []string{"batch_size", "512"}) {
				t.Errorf("outputs %+v, want %s [batch_size 512]", g.Outputs, tc.output)
			}
			// The parameters the real model has, plus a few shape and scalar
			// constants; within 0.1% of CLIP's counts.
			if got := ParamCount(m); got != tc.params {
				t.Errorf("%d parameters, want %d", got, tc.params)
			}
			counts := map[string]int{}
			for _, n := range g.Nodes {
				counts[n.OpType]++
			}
			if counts["LayerNormalization"] != tc.layerNorms || counts["Softmax"] != tc.softmaxes {
				t.Errorf("%d LayerNormalization, %d Softmax; want %d, %d", counts["LayerNormalization"], counts["Softmax"], tc.layerNorms, tc.softmaxes)
			}
			// The weights are deterministic: their hash is fixed. When this
			// fails after a deliberate change, bump ViTB32Version (so cached
			// folders are regenerated) and update the hash.
			h := sha256.New()
			for _, w := range g.Initializers {
				h.Write([]byte(w.Name))
				h.Write(w.Raw)
			}
			if got := hex.EncodeToString(h.Sum(nil)); got != tc.hash {
				t.Errorf("weights hash %s, want %s", got, tc.hash)
			}
			for _, w := range g.Initializers {
				if w.Type != onnx.Float {
					continue
				}
				vals, err := w.Floats()
				if err != nil {
					t.Fatal(err)
				}
				vals = vals[:min(len(vals), 1<<16)]
				var sum float64
				for _, v := range vals {
					if math.IsNaN(float64(v)) || (math.IsInf(float64(v), 0) && w.Name != "text_model.causal_mask") {
						t.Fatalf("%s: %v", w.Name, v)
					}
					if !math.IsInf(float64(v), 0) {
						sum += float64(v) * float64(v)
					}
				}
				if rms := math.Sqrt(sum / float64(len(vals))); strings.HasSuffix(w.Name, ".weight") && !strings.Contains(w.Name, "norm") && (rms < 0.005 || rms > 0.03) {
					t.Errorf("%s: rms %v, want about %v", w.Name, rms, weightStd)
				}
			}
		})
	}
}

// tokenizerHash is the SHA-256 of ViTB32TokenizerJSON's output.
const tokenizerHash = "0ece4e02c20322d31ac169118057ca51abc03d5927948fd7958b23684841d583"

// TestViTB32Tokenizer checks the synthetic tokenizer: CLIP's vocabulary
// size and special ids, template words as single tokens, and prompts of
// about the lengths CLIP's real vocabulary gives.
func TestViTB32Tokenizer(t *testing.T) {
	b, err := ViTB32TokenizerJSON()
	if err != nil {
		t.Fatal(err)
	}
	// Deterministic: when this fails after a deliberate change, bump
	// ViTB32Version and update the hash.
	if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != tokenizerHash {
		t.Errorf("tokenizer.json hash %x, want %s", sum, tokenizerHash)
	}
	tok, err := tokenizer.ParseHFJSON(b, "tokenizer.json")
	if err != nil {
		t.Fatal(err)
	}
	if tok.VocabSize() != ViTB32Vocab || tok.StartID() != 49406 || tok.EndID() != 49407 {
		t.Fatalf("%d tokens, start %d, end %d; want %d, 49406, 49407", tok.VocabSize(), tok.StartID(), tok.EndID(), ViTB32Vocab)
	}
	for _, tc := range []struct {
		prompt string
		tokens int
	}{
		{"a photo of a dog.", 8},
		{"a blurry photo of a person at night.", 11},
		{"a security camera image of a car.", 10},
	} {
		ids := tok.Encode(tc.prompt)
		if len(ids) != tc.tokens {
			t.Errorf("%q: %d tokens %v, want %d", tc.prompt, len(ids), ids, tc.tokens)
		}
		if got := tok.Decode(ids[1 : len(ids)-1]); strings.TrimSpace(got) != tc.prompt && strings.ReplaceAll(got, " ", "") != strings.ReplaceAll(tc.prompt, " ", "") {
			t.Errorf("%q decodes to %q", tc.prompt, got)
		}
	}
	// A word outside the list splits into a few sub-word tokens, not bytes.
	if n := len(tok.Encode("photosynthesis")) - 2; n < 2 || n > 6 {
		t.Errorf("photosynthesis: %d tokens, want 2..6", n)
	}
}

// TestEnsureModelDir checks the cache folder logic with a small model:
// generated once, reused while complete, regenerated when a file is
// missing or has the wrong size or the version changes, and one complete
// folder when several callers race.
func TestEnsureModelDir(t *testing.T) {
	cache := t.TempDir()
	var writes atomic.Int32
	write := func(dir string) error {
		writes.Add(1)
		return WriteDemoModel(dir)
	}
	ensure := func(version string) string {
		t.Helper()
		dir, err := ensureModelDir(cache, "demo-"+version, "demo", version, write)
		if err != nil {
			t.Fatal(err)
		}
		if want := filepath.Join(cache, "demo-"+version); dir != want {
			t.Fatalf("dir %s, want %s", dir, want)
		}
		return dir
	}
	dir := ensure("1")
	if got := listFiles(t, dir); !reflect.DeepEqual(got, append([]string{manifestName}, demoFiles...)) {
		t.Fatalf("files %v", got)
	}
	ensure("1")
	if n := writes.Load(); n != 1 {
		t.Fatalf("%d writes after two calls, want 1 (reuse)", n)
	}
	damage := []struct {
		name string
		do   func() error
	}{
		{"missing file", func() error { return os.Remove(filepath.Join(dir, "tokenizer.json")) }},
		{"truncated file", func() error { return os.Truncate(filepath.Join(dir, "onnx/text_model.onnx"), 10) }},
		{"missing manifest", func() error { return os.Remove(filepath.Join(dir, manifestName)) }},
		{"other version", func() error {
			return os.WriteFile(filepath.Join(dir, manifestName), []byte(`{"generator":"demo","version":"0","files":{"tokenizer.json":1}}`), 0o644)
		}},
	}
	for _, d := range damage {
		before := writes.Load()
		if err := d.do(); err != nil {
			t.Fatal(err)
		}
		if checkManifest(dir, "demo", "1") == nil {
			t.Fatalf("%s: folder still counts as complete", d.name)
		}
		ensure("1")
		if writes.Load() != before+1 {
			t.Errorf("%s: not regenerated", d.name)
		}
		if err := checkManifest(dir, "demo", "1"); err != nil {
			t.Errorf("%s: after regenerating: %v", d.name, err)
		}
	}
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() { ensure("2") })
	}
	wg.Wait()
	if err := checkManifest(filepath.Join(cache, "demo-2"), "demo", "2"); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(cache)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !reflect.DeepEqual(names, []string{"demo-1", "demo-2"}) {
		t.Errorf("cache holds %v, want only demo-1 and demo-2 (temporary folders removed)", names)
	}
	// A failed write leaves nothing behind and says why.
	_, err := ensureModelDir(cache, "broken", "demo", "1", func(string) error { return errors.New("disk full") })
	if err == nil || err.Error() != "model cache: writing broken: disk full" {
		t.Errorf("error %v", err)
	}
	if _, err := os.Stat(filepath.Join(cache, "broken")); !os.IsNotExist(err) {
		t.Errorf("broken folder exists: %v", err)
	}
	if _, err := ensureModelDir("", "x", "demo", "1", write); err == nil || err.Error() != "model cache: no cache folder given" {
		t.Errorf("empty cache folder: error %v", err)
	}
}

// TestEnsureViTB32 generates (or finds) the full-size model in the user's
// cache folder, which the inference tests load with ONNX Runtime, and
// checks its files.
func TestEnsureViTB32(t *testing.T) {
	cache, err := DefaultCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := EnsureViTB32(cache)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(dir) != "vit-b-32-random-"+ViTB32Version {
		t.Errorf("folder %s", dir)
	}
	if err := checkManifest(dir, "vit-b-32-random", ViTB32Version); err != nil {
		t.Fatal(err)
	}
	want := []string{manifestName, "onnx/text_model.onnx", "onnx/vision_model.onnx", "preprocessor_config.json", "tokenizer.json"}
	if got := listFiles(t, dir); !reflect.DeepEqual(got, want) {
		t.Fatalf("files %v, want %v", got, want)
	}
	for name, min := range map[string]int64{"onnx/vision_model.onnx": 350e6, "onnx/text_model.onnx": 253e6} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil || st.Size() < min {
			t.Errorf("%s: %v, want over %d bytes", name, err, min)
		}
	}
	tok, err := tokenizer.Load(filepath.Join(dir, "tokenizer.json"))
	if err != nil || tok.VocabSize() != ViTB32Vocab {
		t.Errorf("tokenizer: %v", err)
	}
}

// FuzzCheckManifest: any manifest content is read without panicking, and
// one accepted names only files that exist with the sizes it lists.
func FuzzCheckManifest(f *testing.F) {
	f.Add([]byte(`{"generator":"g","version":"1","files":{"a.onnx":3}}`))
	f.Add([]byte(`{"generator":"g","version":"1","files":{"../a.onnx":3}}`))
	f.Add([]byte(`{"generator":"g","version":"1","files":{}}`))
	f.Add([]byte(`{"generator":"g","version":"1","files":{"sub":4096}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "a.onnx"), []byte("abc"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, manifestName), data, 0o644); err != nil {
			t.Fatal(err)
		}
		if checkManifest(dir, "g", "1") != nil {
			return
		}
		var m manifest
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatalf("accepted a manifest that does not parse: %v", err)
		}
		for name, size := range m.Files {
			st, err := os.Stat(filepath.Join(dir, name))
			if err != nil || !st.Mode().IsRegular() || st.Size() != size {
				t.Fatalf("accepted %s of size %d: %v", name, size, err)
			}
		}
	})
}
