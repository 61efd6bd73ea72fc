package inference

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/autoclipd/autoclipd/inference/preprocess"
	"github.com/autoclipd/autoclipd/modelgen"
	"github.com/autoclipd/autoclipd/modelgen/onnx"
)

func newDemo(t testing.TB) *modelgen.Demo {
	t.Helper()
	d, err := modelgen.NewDemo()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// layoutPrompts are encoded in every layout and compared.
var layoutPrompts = []string{"a photo of something red.", "green", "a blurry photo of a blue thing.", "white", "a dark photo of something gray."}

// encodeAll encodes two distinct images (one batch of 2, or two batches of
// 1) and layoutPrompts.
func encodeAll(t *testing.T, m *Model) (img, txt []float32) {
	t.Helper()
	plane := 3 * 224 * 224
	for i := range 2 {
		in, err := m.Image.Input(1)
		if err != nil {
			t.Fatal(err)
		}
		for j := range in {
			c := j / (plane / 3)
			in[j] = float32(i+1) * 0.3 * float32(c-1) // channel ramps: not gray
		}
		out, err := m.Image.Run(1)
		if err != nil {
			t.Fatal(err)
		}
		img = append(img, out...)
	}
	txt, err := m.Text.Encode(layoutPrompts)
	if err != nil {
		t.Fatal(err)
	}
	return img, txt
}

// TestLayouts writes the demo model in each layout, loads it with
// LoadModel and checks what was detected and read from the files, and that
// every layout embeds images and prompts as the Hugging Face one does.
func TestLayouts(t *testing.T) {
	rt := openRuntime(t)
	d := newDemo(t)
	ref, err := LoadModel(rt, demoModel(t), Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	refImg, refTxt := encodeAll(t, ref)

	tests := []struct {
		name       string
		write      func(dir string) error
		variant    string
		layout     Layout
		files      [4]string // vision, text, tokenizer, preprocessor
		imageIn    string
		textIn     string
		fixedBatch int
		dynamicSeq bool
		minCos     float64
	}{
		{name: "huggingface", write: d.WriteDir, layout: LayoutHF,
			files:   [4]string{"onnx/vision_model.onnx", "onnx/text_model.onnx", "tokenizer.json", "preprocessor_config.json"},
			imageIn: "pixel_values float32[-1 3 224 224]", textIn: "input_ids int64[-1 -1]", dynamicSeq: true, minCos: 0.99999},
		{name: "huggingface fp16", variant: "fp16", layout: LayoutHF,
			write: func(dir string) error {
				if err := d.WriteDir(dir); err != nil {
					return err
				}
				return d.WriteHFVariant(dir, "fp16")
			},
			files:   [4]string{"onnx/vision_model_fp16.onnx", "onnx/text_model_fp16.onnx", "tokenizer.json", "preprocessor_config.json"},
			imageIn: "pixel_values float16[-1 3 224 224]", textIn: "input_ids int64[-1 -1]", dynamicSeq: true, minCos: 0.999},
		{name: "huggingface variant only", variant: "quantized", layout: LayoutHF,
			write: func(dir string) error {
				if err := d.WriteDir(dir); err != nil {
					return err
				}
				if err := d.WriteHFVariant(dir, "quantized"); err != nil {
					return err
				}
				os.Remove(filepath.Join(dir, "onnx/vision_model.onnx"))
				return os.Remove(filepath.Join(dir, "onnx/text_model.onnx"))
			},
			files:   [4]string{"onnx/vision_model_quantized.onnx", "onnx/text_model_quantized.onnx", "tokenizer.json", "preprocessor_config.json"},
			imageIn: "pixel_values float32[-1 3 224 224]", textIn: "input_ids int64[-1 -1]", dynamicSeq: true, minCos: 0.99999},
		{name: "immich", layout: LayoutImmich,
			write: func(dir string) error { return d.WriteLayout(dir, modelgen.LayoutImmich, 4) },
			files: [4]string{"visual/model.onnx", "textual/model.onnx", "textual/tokenizer.json", "visual/preprocess_cfg.json"},
			// Fixed batch of 4 and fixed 77 tokens: batches are padded, never cut.
			imageIn: "image float32[4 3 224 224]", textIn: "text int32[4 77]", fixedBatch: 4, minCos: 0.99999},
		{name: "open_clip", layout: LayoutOpenCLIP,
			write:   func(dir string) error { return d.WriteLayout(dir, modelgen.LayoutOpenCLIP, 0) },
			files:   [4]string{"visual.onnx", "textual.onnx", "tokenizer.json", "preprocess_cfg.json"},
			imageIn: "image float32[-1 3 224 224]", textIn: "text int64[-1 -1]", dynamicSeq: true, minCos: 0.99999},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "model")
			if err := tc.write(dir); err != nil {
				t.Fatal(err)
			}
			m, err := LoadModel(rt, dir, Options{Variant: tc.variant, MaxBatch: 2}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			f := m.Files
			got := [4]string{f.Vision, f.Text, f.Tokenizer, f.Preprocessor}
			for i := range got {
				got[i], _ = filepath.Rel(dir, got[i])
				got[i] = filepath.ToSlash(got[i])
			}
			if f.Layout != tc.layout || f.Variant != tc.variant || got != tc.files {
				t.Errorf("found %s %q %v, want %s %q %v", f.Layout, f.Variant, got, tc.layout, tc.variant, tc.files)
			}
			if s := m.Image.in.String(); s != tc.imageIn {
				t.Errorf("image input %s, want %s", s, tc.imageIn)
			}
			if s := m.Text.ids.String(); s != tc.textIn {
				t.Errorf("text input %s, want %s", s, tc.textIn)
			}
			wantMax := 2
			if tc.fixedBatch > 0 {
				wantMax = tc.fixedBatch
			}
			if m.Image.MaxBatch() != wantMax || m.Text.fixedN != tc.fixedBatch || m.Text.dynamic != tc.dynamicSeq {
				t.Errorf("image max batch %d, text fixed batch %d, dynamic sequence %v; want %d, %d, %v",
					m.Image.MaxBatch(), m.Text.fixedN, m.Text.dynamic, wantMax, tc.fixedBatch, tc.dynamicSeq)
			}
			if !reflect.DeepEqual(m.Preprocess, ref.Preprocess) {
				t.Errorf("preprocessing %+v, want the Hugging Face file's %+v", m.Preprocess, ref.Preprocess)
			}
			img, txt := encodeAll(t, m)
			dim := m.Image.Dim()
			for i := range 2 {
				if c := dot(img[i*dim:(i+1)*dim], refImg[i*dim:(i+1)*dim]); c < tc.minCos {
					t.Errorf("image %d: cosine %v to the Hugging Face layout's, want >= %v", i, c, tc.minCos)
				}
			}
			for i, p := range layoutPrompts {
				if c := dot(txt[i*dim:(i+1)*dim], refTxt[i*dim:(i+1)*dim]); c < tc.minCos {
					t.Errorf("prompt %q: cosine %v to the Hugging Face layout's, want >= %v", p, c, tc.minCos)
				}
			}
		})
	}
}

// rank3Vision is the demo image encoder with an output of shape [N,1,D].
func rank3Vision(d *modelgen.Demo) *onnx.Model {
	m := d.VisionModel()
	g := m.Graph
	last := g.Nodes[len(g.Nodes)-1]
	last.Outputs[0] = "flat_embeds"
	axes := g.AddInitializer(onnx.Int64Tensor("unsqueeze_axes", []int64{1}, []int64{1}))
	g.AddNode("Unsqueeze", []string{"flat_embeds", axes}, []string{"image_embeds"})
	g.Outputs[0].Shape = []onnx.Dim{onnx.Sym("batch_size"), onnx.Fixed(1), onnx.Fixed(modelgen.DemoDim)}
	return m
}

// TestBrokenModelFolders checks the error for each kind of broken model
// folder. DIR in a wanted error stands for the folder; a wanted error
// ending in "..." is a prefix (the rest is ONNX Runtime's message).
func TestBrokenModelFolders(t *testing.T) {
	rt := openRuntime(t)
	d := newDemo(t)
	hf := func(dir string) {
		if err := d.WriteDir(dir); err != nil {
			t.Fatal(err)
		}
	}
	layout := func(l modelgen.Layout) func(string) {
		return func(dir string) {
			if err := d.WriteLayout(dir, l, 1); err != nil {
				t.Fatal(err)
			}
		}
	}
	variant := func(v string) func(string) {
		return func(dir string) {
			if err := d.WriteHFVariant(dir, v); err != nil {
				t.Fatal(err)
			}
		}
	}
	remove := func(name string) func(string) {
		return func(dir string) {
			if err := os.Remove(filepath.Join(dir, name)); err != nil {
				t.Fatal(err)
			}
		}
	}
	write := func(name, data string) func(string) {
		return func(dir string) {
			if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	const hfWant = "expected the Hugging Face layout: onnx/vision_model.onnx, onnx/text_model.onnx, tokenizer.json, preprocessor_config.json"
	const allWant = "expected Hugging Face: onnx/vision_model.onnx, onnx/text_model.onnx, tokenizer.json, preprocessor_config.json; " +
		"or Immich: visual/model.onnx, textual/model.onnx, textual/tokenizer.json, visual/preprocess_cfg.json; " +
		"or open_clip: visual.onnx, textual.onnx, tokenizer.json or bpe_simple_vocab_16e6.txt.gz or bpe_simple_vocab_16e6.txt, preprocess_cfg.json or preprocessor_config.json"
	tests := []struct {
		name    string
		setup   []func(dir string)
		variant string
		err     string
	}{
		{name: "no folder", setup: []func(string){func(dir string) { os.Remove(dir) }},
			err: "model.dir DIR: no such folder"},
		{name: "empty folder",
			err: "model.dir DIR: no CLIP model layout found (found: nothing; " + allWant + ")"},
		{name: "unrelated files", setup: []func(string){write("README.md", "hi"), write("weights/model.safetensors", "x"), write("empty/.keep", "")},
			err: "model.dir DIR: no CLIP model layout found (found: README.md, empty/.keep, weights/model.safetensors; " + allWant + ")"},
		{name: "missing text model", setup: []func(string){hf, remove("onnx/text_model.onnx")},
			err: "model.dir DIR: missing onnx/text_model.onnx (" + hfWant + ")"},
		{name: "missing tokenizer", setup: []func(string){layout(modelgen.LayoutImmich), remove("textual/tokenizer.json")},
			err: "model.dir DIR: missing textual/tokenizer.json (expected the Immich layout: visual/model.onnx, textual/model.onnx, textual/tokenizer.json, visual/preprocess_cfg.json)"},
		{name: "missing open_clip preprocessing", setup: []func(string){layout(modelgen.LayoutOpenCLIP), remove("preprocess_cfg.json"), remove("tokenizer.json")},
			err: "model.dir DIR: missing tokenizer.json or bpe_simple_vocab_16e6.txt.gz or bpe_simple_vocab_16e6.txt, missing preprocess_cfg.json or preprocessor_config.json (expected the open_clip layout: visual.onnx, textual.onnx, tokenizer.json or bpe_simple_vocab_16e6.txt.gz or bpe_simple_vocab_16e6.txt, preprocess_cfg.json or preprocessor_config.json)"},
		{name: "empty file", setup: []func(string){hf, write("onnx/vision_model.onnx", "")},
			err: "model.dir DIR: onnx/vision_model.onnx is empty (" + hfWant + ")"},
		{name: "not ONNX", setup: []func(string){layout(modelgen.LayoutOpenCLIP), write("textual.onnx", "this is not a model\n")},
			err: "DIR/textual.onnx: not a loadable ONNX model: ..."},
		{name: "wrong output rank", setup: []func(string){hf, func(dir string) {
			if err := rank3Vision(d).WriteFile(filepath.Join(dir, "onnx/vision_model.onnx")); err != nil {
				t.Fatal(err)
			}
		}}, err: "DIR/onnx/vision_model.onnx: no embedding output of shape [N,D] (outputs: image_embeds float32[-1 1 16])"},
		{name: "unknown variant", setup: []func(string){hf, variant("fp16")}, variant: "int8",
			err: `model.dir DIR: missing onnx/vision_model_int8.onnx, missing onnx/text_model_int8.onnx (expected the Hugging Face layout: onnx/vision_model_int8.onnx, onnx/text_model_int8.onnx, tokenizer.json, preprocessor_config.json); model.variant "int8"; variants present: "", "fp16"`},
		{name: "ambiguous variant", setup: []func(string){hf, variant("fp16"), variant("quantized"), remove("onnx/vision_model.onnx"), remove("onnx/text_model.onnx")},
			err: `model.dir DIR: missing onnx/vision_model.onnx, missing onnx/text_model.onnx (` + hfWant + `); model.variant "" (the plain files); variants present: "fp16", "quantized"`},
		{name: "variant of one encoder only", setup: []func(string){hf, variant("q4"), remove("onnx/text_model_q4.onnx")}, variant: "q4",
			err: `model.dir DIR: missing onnx/text_model_q4.onnx (expected the Hugging Face layout: onnx/vision_model_q4.onnx, onnx/text_model_q4.onnx, tokenizer.json, preprocessor_config.json)`},
		{name: "bad variant name", setup: []func(string){hf}, variant: "../fp16",
			err: `model.variant "../fp16": want letters and digits, such as fp16 or quantized`},
		{name: "variant without variants", setup: []func(string){layout(modelgen.LayoutImmich)}, variant: "fp16",
			err: `model.dir DIR: model.variant "fp16" is set, but the Immich layout (visual/model.onnx, textual/model.onnx) has no variants; leave model.variant empty`},
		{name: "two layouts", setup: []func(string){hf, layout(modelgen.LayoutOpenCLIP)},
			err: "model.dir DIR: holds encoders of more than one layout: Hugging Face (onnx/vision_model.onnx, onnx/text_model.onnx) and open_clip (visual.onnx, textual.onnx); keep one"},
		{name: "bad preprocess_cfg.json", setup: []func(string){layout(modelgen.LayoutImmich), write("visual/preprocess_cfg.json", "{\n  \"size\": 224,\n  \"resize_mode\": \"longest\"\n}\n")},
			err: `DIR/visual/preprocess_cfg.json:3: resize_mode: resize_mode "longest" is not supported, want shortest or squash`},
		{name: "text model as image model", setup: []func(string){layout(modelgen.LayoutOpenCLIP), func(dir string) {
			if err := d.OpenCLIPTextModel().WriteFile(filepath.Join(dir, "visual.onnx")); err != nil {
				t.Fatal(err)
			}
		}}, err: "DIR/visual.onnx: no image input of shape [N,3,H,W] (inputs: text int64[-1 -1])"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "model")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			for _, f := range tc.setup {
				f(dir)
			}
			m, err := LoadModel(rt, dir, Options{Variant: tc.variant}, nil)
			if err == nil {
				m.Close()
				t.Fatalf("no error, want %s", tc.err)
			}
			want := strings.ReplaceAll(tc.err, "DIR", dir)
			if p, ok := strings.CutSuffix(want, "..."); ok {
				if !strings.HasPrefix(err.Error(), p) || strings.Contains(err.Error(), "\n") {
					t.Errorf("error\n%s\nwant one line starting\n%s", err, p)
				}
			} else if err.Error() != want {
				t.Errorf("error\n%s\nwant\n%s", err, want)
			}
		})
	}
}

// TestParsePreprocessCfg checks the open_clip preprocessing settings
// against the preprocess.Config they mean, and the error for each bad field.
func TestParsePreprocessCfg(t *testing.T) {
	def := preprocess.DefaultConfig()
	squash := def
	squash.Size = preprocess.Size{Height: 256, Width: 320}
	squash.DoCenterCrop = false
	squash.CropSize = preprocess.Size{}
	squash.Resample = preprocess.Bilinear
	big := def
	big.Size = preprocess.Size{ShortestEdge: 336}
	big.CropSize = preprocess.Size{Height: 336, Width: 336}
	big.ImageMean = [3]float64{0.5, 0.5, 0.5}
	big.ImageStd = [3]float64{0.5, 0.5, 0.5}
	tests := []struct {
		name string
		data string
		want preprocess.Config
		err  string
	}{
		{name: "demo", data: string(modelgen.PreprocessCfg()), want: def},
		{name: "defaults", data: "{}", want: def},
		{name: "siglip-like", data: `{"size": 336, "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "extra": {"x": 1}}`, want: big},
		{name: "squash", data: `{"size": [256, 320], "resize_mode": "squash", "interpolation": "bilinear"}`, want: squash},
		{name: "longest", data: "{\n\"resize_mode\": \"longest\"}", err: `F:2: resize_mode: resize_mode "longest" is not supported, want shortest or squash`},
		{name: "non-square shortest", data: `{"size": [224, 256]}`, err: "F:1: size: [224, 256] with resize_mode shortest: only square sizes are supported"},
		{name: "size string", data: `{"size": "224"}`, err: `F:1: size: want a number or [height, width], got "224"`},
		{name: "size zero", data: `{"size": 0}`, err: "F:1: size: 0 is not a whole number in [1, 32768]"},
		{name: "size fraction", data: `{"size": [224.5, 224]}`, err: "F:1: size: 224.5 is not a whole number in [1, 32768]"},
		{name: "mean short", data: "{\n\n\"mean\": [0.5, 0.5]}", err: "F:3: mean: want 3 numbers, got [0.5, 0.5]"},
		{name: "std zero", data: `{"std": [0.5, 0, 0.5]}`, err: "F:1: std: [1] is 0"},
		{name: "mode", data: `{"mode": "L"}`, err: `F:1: mode: "L" is not supported, want RGB`},
		{name: "interpolation", data: `{"interpolation": "random"}`, err: `F:1: interpolation: "random" is not supported, want bicubic or bilinear`},
		{name: "interpolation type", data: `{"interpolation": 3}`, err: "F:1: interpolation: want a string, got 3"},
		{name: "not an object", data: `[1]`, err: "F:1: want a JSON object"},
		{name: "truncated", data: "{\"size\": 224,\n", err: "F:2: invalid JSON: unexpected end of input"},
		{name: "trailing", data: "{} {}", err: "F:1: invalid JSON: more after the top-level object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParsePreprocessCfg([]byte(tc.data), "F")
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Errorf("error %v, want %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// FuzzParsePreprocessCfg: no panic, and a config it accepts is valid and
// builds a Preprocessor.
func FuzzParsePreprocessCfg(f *testing.F) {
	f.Add(modelgen.PreprocessCfg())
	f.Add([]byte(`{"size": [256, 320], "resize_mode": "squash", "interpolation": "bilinear"}`))
	f.Add([]byte(`{"size": 1e9}`))
	f.Add([]byte(`{"mean": [1e400, 0, 0]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParsePreprocessCfg(data, "F")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "F") {
				t.Errorf("error %q does not name the file", err)
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("accepted an invalid config: %v", err)
		}
		if _, err := preprocess.New(cfg); err != nil {
			t.Fatalf("accepted config does not build: %v", err)
		}
	})
}
