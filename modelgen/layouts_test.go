package modelgen

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/autoclipd/autoclipd/modelgen/onnx"
)

// TestWriteLayout checks the files of each layout and the names, types and
// shapes of their encoders' inputs and outputs.
func TestWriteLayout(t *testing.T) {
	d, err := NewDemo()
	if err != nil {
		t.Fatal(err)
	}
	type io struct {
		file, in string
		inType   onnx.DataType
		inDims   []string
		out      string
		outDims  []string
	}
	tests := []struct {
		layout Layout
		files  []string
		models []io
	}{
		{LayoutHF, demoFiles, []io{
			{"onnx/vision_model.onnx", "pixel_values", onnx.Float, []string{"batch_size", "3", "224", "224"}, "image_embeds", []string{"batch_size", "16"}},
			{"onnx/text_model.onnx", "input_ids", onnx.Int64, []string{"batch_size", "sequence_length"}, "text_embeds", []string{"batch_size", "16"}},
		}},
		{LayoutImmich, []string{"textual/model.onnx", "textual/tokenizer.json", "visual/model.onnx", "visual/preprocess_cfg.json"}, []io{
			{"visual/model.onnx", "image", onnx.Float, []string{"3", "3", "224", "224"}, "embedding", []string{"3", "16"}},
			{"textual/model.onnx", "text", onnx.Int32, []string{"3", "77"}, "embedding", []string{"3", "16"}},
		}},
		{LayoutOpenCLIP, []string{"preprocess_cfg.json", "textual.onnx", "tokenizer.json", "visual.onnx"}, []io{
			{"visual.onnx", "image", onnx.Float, []string{"batch_size", "3", "224", "224"}, "image_features", []string{"batch_size", "16"}},
			{"textual.onnx", "text", onnx.Int64, []string{"batch_size", "sequence_length"}, "text_features", []string{"batch_size", "16"}},
		}},
	}
	for _, tc := range tests {
		t.Run(string(tc.layout), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "m")
			if err := d.WriteLayout(dir, tc.layout, 3); err != nil {
				t.Fatal(err)
			}
			if got := listFiles(t, dir); !reflect.DeepEqual(got, tc.files) {
				t.Errorf("files %v, want %v", got, tc.files)
			}
			for _, m := range tc.models {
				model, err := onnx.ReadFile(filepath.Join(dir, m.file))
				if err != nil {
					t.Fatal(err)
				}
				g := model.Graph
				if len(g.Inputs) != 1 || g.Inputs[0].Name != m.in || g.Inputs[0].Type != m.inType || !reflect.DeepEqual(dimsOf(g.Inputs[0]), m.inDims) {
					t.Errorf("%s: input %+v, want %s %v %v", m.file, g.Inputs, m.in, m.inType, m.inDims)
				}
				if len(g.Outputs) != 1 || g.Outputs[0].Name != m.out || !reflect.DeepEqual(dimsOf(g.Outputs[0]), m.outDims) {
					t.Errorf("%s: output %+v, want %s %v", m.file, g.Outputs, m.out, m.outDims)
				}
			}
		})
	}
	if err := d.WriteLayout(t.TempDir(), "coreml", 1); err == nil || err.Error() != `demo model: unknown layout "coreml"` {
		t.Errorf("unknown layout: %v", err)
	}
	if err := d.WriteLayout(t.TempDir(), LayoutImmich, 0); err == nil || err.Error() != "demo model: immich layout: batch 0, want 1 or more" {
		t.Errorf("batch 0: %v", err)
	}
}

// TestPreprocessCfg checks the open_clip settings file's values.
func TestPreprocessCfg(t *testing.T) {
	var cfg map[string]any
	if err := json.Unmarshal(PreprocessCfg(), &cfg); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"size": []any{224.0, 224.0}, "mode": "RGB", "interpolation": "bicubic", "resize_mode": "shortest", "fill_color": 0.0,
		"mean": []any{0.48145466, 0.4578275, 0.40821073}, "std": []any{0.26862954, 0.26130258, 0.27577711},
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("got %v, want %v", cfg, want)
	}
}

// TestFloat16IO checks the fp16 variant's structure: float16 inputs,
// outputs and weights, one Cast per converted value. That ONNX Runtime
// computes the same embeddings from it is inference's TestLayouts.
func TestFloat16IO(t *testing.T) {
	d, err := NewDemo()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []*onnx.Model{d.VisionModel(), d.TextModel()} {
		h := Float16IO(m)
		if err := h.Validate(); err != nil {
			t.Fatal(err)
		}
		g := h.Graph
		for _, v := range append(append([]onnx.ValueInfo{}, g.Inputs...), g.Outputs...) {
			want := m.Graph.Inputs[0].Type
			if v.Name == m.Graph.Outputs[0].Name || want == onnx.Float {
				want = onnx.Float16
			}
			if v.Type != want {
				t.Errorf("%s: %s is %v, want %v", g.Name, v.Name, v.Type, want)
			}
		}
		for _, w := range g.Initializers {
			if w.Type == onnx.Float {
				t.Errorf("%s: initializer %s still float32", g.Name, w.Name)
			}
		}
		floats := 0
		for _, w := range m.Graph.Initializers {
			floats += btoi(w.Type == onnx.Float)
		}
		if len(g.Nodes) != len(m.Graph.Nodes)+floats+1+btoi(m.Graph.Inputs[0].Type == onnx.Float) {
			t.Errorf("%s: %d nodes", g.Name, len(g.Nodes))
		}
	}
	dir := t.TempDir()
	if err := d.WriteHFVariant(dir, "fp16"); err != nil {
		t.Fatal(err)
	}
	if got := listFiles(t, dir); !reflect.DeepEqual(got, []string{"onnx/text_model_fp16.onnx", "onnx/vision_model_fp16.onnx"}) {
		t.Errorf("files %v", got)
	}
	if err := d.WriteHFVariant(dir, ""); err == nil {
		t.Error("empty variant: no error")
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
