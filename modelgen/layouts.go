package modelgen

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/autoclipd/autoclipd/modelgen/onnx"
)

// Layout is a model folder layout the demo model can be written in; the
// names match inference.Layout's values.
type Layout string

// The layouts WriteLayout writes.
const (
	// LayoutHF is Hugging Face's: onnx/vision_model.onnx,
	// onnx/text_model.onnx, tokenizer.json, preprocessor_config.json (what
	// WriteDir writes).
	LayoutHF Layout = "huggingface"
	// LayoutImmich is Immich's: visual/model.onnx (input "image"),
	// visual/preprocess_cfg.json, textual/model.onnx (input "text", int32,
	// fixed 77 tokens), textual/tokenizer.json; outputs "embedding"; the
	// batch axis of both models is fixed.
	LayoutImmich Layout = "immich"
	// LayoutOpenCLIP is a flat open_clip export: visual.onnx (input
	// "image"), textual.onnx (input "text", int64), tokenizer.json,
	// preprocess_cfg.json; dynamic batch and sequence axes.
	LayoutOpenCLIP Layout = "openclip"
)

// PreprocessCfg returns the demo's open_clip preprocess_cfg.json, the
// same preprocessing as PreprocessorConfig: shortest edge 224, bicubic,
// centre crop, CLIP's mean and std.
func PreprocessCfg() []byte {
	cfg := struct {
		Size          [2]int     `json:"size"`
		Mode          string     `json:"mode"`
		Mean          [3]float64 `json:"mean"`
		Std           [3]float64 `json:"std"`
		Interpolation string     `json:"interpolation"`
		ResizeMode    string     `json:"resize_mode"`
		FillColor     int        `json:"fill_color"`
	}{[2]int{224, 224}, "RGB", clipMean(), clipStd(), "bicubic", "shortest", 0}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		panic(err) // a fixed struct of plain values always marshals
	}
	return append(b, '\n')
}

// renameIO renames m's graph input from to to and its output from outFrom to
// outTo, in every node that uses them.
func renameIO(m *onnx.Model, inFrom, inTo, outFrom, outTo string) {
	g := m.Graph
	for i := range g.Inputs {
		if g.Inputs[i].Name == inFrom {
			g.Inputs[i].Name = inTo
		}
	}
	for i := range g.Outputs {
		if g.Outputs[i].Name == outFrom {
			g.Outputs[i].Name = outTo
		}
	}
	for _, n := range g.Nodes {
		for i, in := range n.Inputs {
			if in == inFrom {
				n.Inputs[i] = inTo
			}
		}
		for i, out := range n.Outputs {
			if out == outFrom {
				n.Outputs[i] = outTo
			}
		}
	}
}

// ImmichVisionModel returns the demo image encoder as Immich exports it:
// input "image" float32 [batch,3,224,224], output "embedding" [batch,D],
// with a fixed batch size.
func (d *Demo) ImmichVisionModel(batch int) *onnx.Model {
	m := d.VisionModel()
	renameIO(m, "pixel_values", "image", "image_embeds", "embedding")
	m.Graph.Inputs[0].Shape[0] = onnx.Fixed(int64(batch))
	m.Graph.Outputs[0].Shape[0] = onnx.Fixed(int64(batch))
	return m
}

// ImmichTextModel returns the demo text encoder as Immich exports it:
// input "text" int32 [batch,77], output "embedding" [batch,D], with fixed
// batch and sequence axes.
func (d *Demo) ImmichTextModel(batch int) *onnx.Model {
	m := d.TextModel()
	renameIO(m, "input_ids", "text", "text_embeds", "embedding")
	g := m.Graph
	g.Inputs[0].Type = onnx.Int32
	g.Inputs[0].Shape = []onnx.Dim{onnx.Fixed(int64(batch)), onnx.Fixed(77)}
	g.Outputs[0].Shape[0] = onnx.Fixed(int64(batch))
	return m
}

// OpenCLIPVisionModel returns the demo image encoder as a flat open_clip
// export names it: input "image", output "image_features", dynamic batch.
func (d *Demo) OpenCLIPVisionModel() *onnx.Model {
	m := d.VisionModel()
	renameIO(m, "pixel_values", "image", "image_embeds", "image_features")
	return m
}

// OpenCLIPTextModel returns the demo text encoder as a flat open_clip
// export names it: input "text" int64, output "text_features", dynamic
// batch and sequence axes.
func (d *Demo) OpenCLIPTextModel() *onnx.Model {
	m := d.TextModel()
	renameIO(m, "input_ids", "text", "text_embeds", "text_features")
	return m
}

// Float16IO returns a copy of m whose float32 inputs, outputs and
// initializers are float16, as in Hugging Face's *_fp16.onnx files: Cast
// nodes convert them to float32 for the unchanged float32 graph, and the
// outputs back to float16. The weights are thereby rounded to half
// precision.
func Float16IO(m *onnx.Model) *onnx.Model {
	src := m.Graph
	g := onnx.NewGraph(src.Name + "_fp16")
	cast := func(from, to string, typ onnx.DataType) {
		g.AddNode("Cast", []string{from}, []string{to}, onnx.IntAttr("to", int64(typ)))
	}
	for _, in := range src.Inputs {
		if in.Type == onnx.Float {
			g.AddInput(in.Name, onnx.Float16, in.Shape...)
			cast(in.Name, in.Name+"_f32", onnx.Float)
		} else {
			g.AddInput(in.Name, in.Type, in.Shape...)
		}
	}
	for _, w := range src.Initializers {
		if w.Type != onnx.Float {
			g.AddInitializer(w)
			continue
		}
		vals, err := w.Floats()
		if err != nil {
			panic(err) // a FLOAT initializer of a validated model decodes
		}
		g.AddInitializer(onnx.Float16Tensor(w.Name+"_f16", w.Dims, vals))
		cast(w.Name+"_f16", w.Name, onnx.Float)
	}
	rename := map[string]string{}
	for _, in := range src.Inputs {
		if in.Type == onnx.Float {
			rename[in.Name] = in.Name + "_f32"
		}
	}
	for _, out := range src.Outputs {
		if out.Type == onnx.Float {
			rename[out.Name] = out.Name + "_f32"
		}
	}
	for _, n := range src.Nodes {
		c := *n
		c.Name = "fp32/" + n.Name
		c.Inputs = make([]string, len(n.Inputs))
		for i, in := range n.Inputs {
			if r, ok := rename[in]; ok {
				in = r
			}
			c.Inputs[i] = in
		}
		c.Outputs = make([]string, len(n.Outputs))
		for i, out := range n.Outputs {
			if r, ok := rename[out]; ok {
				out = r
			}
			c.Outputs[i] = out
		}
		g.Nodes = append(g.Nodes, &c)
	}
	for _, out := range src.Outputs {
		if out.Type == onnx.Float {
			cast(out.Name+"_f32", out.Name, onnx.Float16)
			g.AddOutput(out.Name, onnx.Float16, out.Shape...)
		} else {
			g.AddOutput(out.Name, out.Type, out.Shape...)
		}
	}
	fm := onnx.NewModel(g)
	fm.Doc = m.Doc + " (float16 inputs, outputs and weights)"
	return fm
}

// WriteLayout writes the demo model into dir in the given layout, creating
// folders as needed and replacing files atomically. batch is the fixed
// batch size of the Immich layout's models (ignored by the others, whose
// batch axis is dynamic).
func (d *Demo) WriteLayout(dir string, layout Layout, batch int) error {
	var models []struct {
		name  string
		model *onnx.Model
	}
	var files []struct {
		name string
		data []byte
	}
	add := func(name string, m *onnx.Model) {
		models = append(models, struct {
			name  string
			model *onnx.Model
		}{name, m})
	}
	addFile := func(name string, data []byte) {
		files = append(files, struct {
			name string
			data []byte
		}{name, data})
	}
	switch layout {
	case LayoutHF:
		return d.WriteDir(dir)
	case LayoutImmich:
		if batch < 1 {
			return fmt.Errorf("demo model: immich layout: batch %d, want 1 or more", batch)
		}
		add("visual/model.onnx", d.ImmichVisionModel(batch))
		add("textual/model.onnx", d.ImmichTextModel(batch))
		addFile("visual/preprocess_cfg.json", PreprocessCfg())
		addFile("textual/tokenizer.json", d.tokenizerJSON)
	case LayoutOpenCLIP:
		add("visual.onnx", d.OpenCLIPVisionModel())
		add("textual.onnx", d.OpenCLIPTextModel())
		addFile("preprocess_cfg.json", PreprocessCfg())
		addFile("tokenizer.json", d.tokenizerJSON)
	default:
		return fmt.Errorf("demo model: unknown layout %q", layout)
	}
	for _, f := range models {
		path := filepath.Join(dir, f.name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return fmt.Errorf("demo model: %w", err)
		}
		if err := f.model.WriteFile(path); err != nil {
			return fmt.Errorf("demo model: %w", err)
		}
	}
	for _, f := range files {
		if err := writeFileAtomic(filepath.Join(dir, f.name), f.data); err != nil {
			return fmt.Errorf("demo model: %w", err)
		}
	}
	return nil
}

// WriteHFVariant adds a Hugging Face variant of the demo's encoders to dir:
// onnx/vision_model_<variant>.onnx and onnx/text_model_<variant>.onnx.
// Variant "fp16" gets float16 inputs, outputs and weights (Float16IO);
// any other name gets the float32 models under that name, standing in for
// a quantized export in layout tests.
func (d *Demo) WriteHFVariant(dir, variant string) error {
	if variant == "" {
		return fmt.Errorf("demo model: empty variant name")
	}
	vision, text := d.VisionModel(), d.TextModel()
	if variant == "fp16" {
		vision, text = Float16IO(vision), Float16IO(text)
	}
	if err := os.MkdirAll(filepath.Join(dir, "onnx"), 0o755); err != nil {
		return fmt.Errorf("demo model: %w", err)
	}
	for name, m := range map[string]*onnx.Model{"vision_model": vision, "text_model": text} {
		if err := m.WriteFile(filepath.Join(dir, "onnx", name+"_"+variant+".onnx")); err != nil {
			return fmt.Errorf("demo model: %w", err)
		}
	}
	return nil
}
