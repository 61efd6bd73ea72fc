// Package modelgen writes the models the daemon's tests, demo and
// benchmarks run on, built on the ONNX writer in modelgen/onnx. It is pure
// Go.
//
//   - The demo model (NewDemo, WriteDemoModel): small but meaningful, in
//     the Hugging Face layout users download for real CLIP, and, for
//     layout tests, in Immich's and open_clip's layouts (WriteLayout) and
//     as Hugging Face variants such as fp16 (WriteHFVariant).
//   - The full-size random models (EnsureViTB32): CLIP ViT-B/32-shaped
//     image and text encoders with random weights and a synthetic
//     49408-token tokenizer, generated on demand into a cache folder, so
//     that benchmarks see real compute. They are never committed.
//
// The demo model classifies colours. Its image encoder averages the
// normalised pixels of a frame, undoes CLIP's normalisation and maps the
// mean colour affinely to chroma, brightness and a constant; its text
// encoder sums one vector per token, where each colour word's vector points
// the way its colour's image features do. After L2 normalisation a red frame
// is closest to "a photo of something red", whatever the template.
package modelgen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/autoclipd/autoclipd/inference/tokenizer"
	"github.com/autoclipd/autoclipd/modelgen/onnx"
)

// DemoColour is one colour the demo model knows.
type DemoColour struct {
	// Name is the colour word, a single token of the demo vocabulary.
	Name string
	// BGR is the colour's pixel value, in the frame byte order.
	BGR [3]uint8
}

// DemoColours returns the colours the demo model tells apart, in a fixed
// order. Solid frames of these values, off by up to 12 levels per channel,
// are classified correctly (see the package tests for the margins).
func DemoColours() []DemoColour {
	return []DemoColour{
		{"red", [3]uint8{0, 0, 255}},
		{"orange", [3]uint8{0, 128, 255}},
		{"yellow", [3]uint8{0, 255, 255}},
		{"green", [3]uint8{0, 255, 0}},
		{"cyan", [3]uint8{255, 255, 0}},
		{"blue", [3]uint8{255, 0, 0}},
		{"purple", [3]uint8{128, 0, 128}},
		{"magenta", [3]uint8{255, 0, 255}},
		{"white", [3]uint8{255, 255, 255}},
		{"gray", [3]uint8{128, 128, 128}},
		{"black", [3]uint8{0, 0, 0}},
	}
}

// DemoDim is the embedding size of the demo model.
const DemoDim = 16

// The layout of a demo embedding: chroma (r-m, g-m, b-m with m the mean of
// r, g, b in [0,1]) in dims 0..2, brightness m-0.5 in dim 3, a constant in
// dim 4 (so that a mid-gray frame does not embed to zero), and dims
// 5..DemoDim-1 for the template "noise" of the text encoder, which the image
// encoder leaves at zero.
const (
	dimBrightness = 3
	dimConstant   = 4
	firstNoiseDim = 5

	// The weights of the parts, chosen to maximise the worst-case cosine
	// margin between the demo colours under +-12 levels of per-channel error.
	chromaWeight     = 1.0
	brightnessWeight = 2.8
	constantFeature  = 0.2

	// noiseScale bounds each noise component of a non-colour token: six such
	// tokens lengthen a unit colour vector by about 3%, enough to make
	// templates differ and too little to change a ranking.
	noiseScale = 0.05
)

// clipMean and clipStd return CLIP's image normalisation
// (openai/clip-vit-base-patch32), in RGB order.
func clipMean() [3]float64 { return [3]float64{0.48145466, 0.4578275, 0.40821073} }
func clipStd() [3]float64  { return [3]float64{0.26862954, 0.26130258, 0.27577711} }

// demoVocabulary lists the single-token words of the demo vocabulary besides
// the colours: the words of common prompt templates. Any other word is
// spelled in byte tokens, which the text encoder handles as well.
const demoVocabulary = `a an the of in on at with from and or my this one
photo picture image snapshot frame camera security something thing object showing
colour color coloured colored solid plain blurry sharp grainy noisy low high
resolution compressed jpeg out focus bright dark night daylight harsh sunlight
backlit overexposed infrared close up seen far away above side cropped wide angle
corner partly hidden small big several drawing sketch painting cartoon render
pixelated outdoors indoors rain street room wall background light`

// Demo is the demo model in memory: its tokenizer, its weights, and a Go
// forward pass that computes what ONNX Runtime computes on the written
// files. Build it with NewDemo; it is immutable and safe for concurrent use.
type Demo struct {
	tok           *tokenizer.Tokenizer
	tokenizerJSON []byte
	weight        []float32 // [3][DemoDim]: MatMul weight of the image encoder
	bias          []float32 // [DemoDim]
	table         []float32 // [VocabSize][DemoDim]: token vectors
}

// NewDemo builds the demo model. It is deterministic: the same weights and
// vocabulary every time.
func NewDemo() (*Demo, error) {
	var words []string
	for _, c := range DemoColours() {
		words = append(words, c.Name)
	}
	words = append(words, strings.Fields(demoVocabulary)...)
	var buf bytes.Buffer
	if err := tokenizer.WriteHFJSON(&buf, tokenizer.MergesFor(words)); err != nil {
		return nil, fmt.Errorf("demo tokenizer: %w", err)
	}
	tok, err := tokenizer.ParseHFJSON(buf.Bytes(), "tokenizer.json")
	if err != nil {
		return nil, fmt.Errorf("demo tokenizer: %w", err)
	}
	d := &Demo{tok: tok, tokenizerJSON: buf.Bytes()}
	d.weight, d.bias = visionWeights()
	if d.table, err = textTable(tok); err != nil {
		return nil, err
	}
	return d, nil
}

// rgbFeatures returns the demo features (dims 0..4) of a colour with
// channels in [0,1], RGB order: the affine map both encoders share.
func rgbFeatures(rgb [3]float64) [firstNoiseDim]float64 {
	m := (rgb[0] + rgb[1] + rgb[2]) / 3
	var f [firstNoiseDim]float64
	for c := 0; c < 3; c++ {
		f[c] = chromaWeight * (rgb[c] - m)
	}
	f[dimBrightness] = brightnessWeight * (m - 0.5)
	f[dimConstant] = constantFeature
	return f
}

// visionWeights folds CLIP's normalisation into the affine map of
// rgbFeatures: with x_c the mean normalised value of channel c, the colour
// is rgb_c = std_c*x_c + mean_c, so features = x·W + b.
func visionWeights() (weight, bias []float32) {
	weight = make([]float32, 3*DemoDim)
	bias = make([]float32, DemoDim)
	base := rgbFeatures(clipMean()) // features at x = 0
	for d := 0; d < firstNoiseDim; d++ {
		bias[d] = float32(base[d])
	}
	for c := 0; c < 3; c++ {
		var unit [3]float64
		unit[c] = 1
		f := rgbFeatures(unit)
		f0 := rgbFeatures([3]float64{})
		for d := 0; d < firstNoiseDim; d++ {
			weight[c*DemoDim+d] = float32((f[d] - f0[d]) * clipStd()[c])
		}
	}
	return weight, bias
}

// textTable builds the token vectors: each colour word points the way its
// colour's image features do (unit length, so that every colour's prompt
// has the same length under a template and cosine ranks as the image side
// does); <|startoftext|>, <|endoftext|> (the Hugging Face pad) and id 0 (the
// OpenAI pad) are zero; every other token is a small deterministic
// pseudo-random vector in the noise dims only, so that templates give
// slightly different embeddings without moving them towards a colour.
func textTable(tok *tokenizer.Tokenizer) ([]float32, error) {
	v := tok.VocabSize()
	table := make([]float32, v*DemoDim)
	for id := 0; id < v; id++ {
		if id == 0 || int64(id) == tok.StartID() || int64(id) == tok.EndID() {
			continue
		}
		row := table[id*DemoDim : (id+1)*DemoDim]
		s := splitmix64(uint64(id))
		for d := firstNoiseDim; d < DemoDim; d++ {
			s = splitmix64(s)
			u := float64(s>>11)/(1<<53)*2 - 1 // [-1, 1)
			row[d] = float32(noiseScale * u)
		}
	}
	for _, c := range DemoColours() {
		id, ok := tok.ID(c.Name + tokenizer.EndOfWord)
		if !ok || id < 0 || id >= int64(v) {
			return nil, fmt.Errorf("demo tokenizer: colour %q is not a single token", c.Name)
		}
		f := rgbFeatures(colourRGB(c.BGR))
		var n float64
		for _, x := range f {
			n += x * x
		}
		n = math.Sqrt(n)
		row := table[id*DemoDim : (id+1)*DemoDim]
		clear(row)
		for d, x := range f {
			row[d] = float32(x / n)
		}
	}
	return table, nil
}

// colourRGB converts a BGR pixel to RGB channels in [0,1].
func colourRGB(bgr [3]uint8) [3]float64 {
	return [3]float64{float64(bgr[2]) / 255, float64(bgr[1]) / 255, float64(bgr[0]) / 255}
}

// splitmix64 is one step of the SplitMix64 generator: a fixed, portable
// source of pseudo-random weights.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// Tokenizer returns the demo tokenizer, the one tokenizer.json holds.
func (d *Demo) Tokenizer() *tokenizer.Tokenizer { return d.tok }

// VisionModel returns the image encoder: pixel_values float32
// [batch_size,3,224,224] -> ReduceMean over W, then over H -> MatMul [3,D]
// -> Add [D] -> image_embeds float32 [batch_size,D].
func (d *Demo) VisionModel() *onnx.Model {
	g := onnx.NewGraph("demo_vision")
	g.AddInput("pixel_values", onnx.Float, onnx.Sym("batch_size"), onnx.Fixed(3), onnx.Fixed(224), onnx.Fixed(224))
	w := g.AddInitializer(onnx.FloatTensor("visual_projection.weight", []int64{3, DemoDim}, d.weight))
	b := g.AddInitializer(onnx.FloatTensor("visual_projection.bias", []int64{DemoDim}, d.bias))
	// Rows first, then columns: two sums of 224 keep ONNX Runtime's float32
	// accumulation within about 1e-6 of the exact mean, where one sum of
	// 50176 drifts by 5e-5.
	rows := g.OpAttrs("ReduceMean", []string{"pixel_values"},
		[]onnx.Attribute{onnx.IntsAttr("axes", 3), onnx.IntAttr("keepdims", 0)})
	mean := g.OpAttrs("ReduceMean", []string{rows},
		[]onnx.Attribute{onnx.IntsAttr("axes", 2), onnx.IntAttr("keepdims", 0)})
	proj := g.Op("MatMul", mean, w)
	g.AddNode("Add", []string{proj, b}, []string{"image_embeds"})
	g.AddOutput("image_embeds", onnx.Float, onnx.Sym("batch_size"), onnx.Fixed(DemoDim))
	m := onnx.NewModel(g)
	m.Doc = "autoclipd demo image encoder: mean colour to colour features (not a real CLIP model)"
	return m
}

// TextModel returns the text encoder: input_ids int64
// [batch_size,sequence_length] -> Gather from the token table [V,D] ->
// ReduceSum over the sequence -> text_embeds float32 [batch_size,D].
func (d *Demo) TextModel() *onnx.Model {
	g := onnx.NewGraph("demo_text")
	g.AddInput("input_ids", onnx.Int64, onnx.Sym("batch_size"), onnx.Sym("sequence_length"))
	table := g.AddInitializer(onnx.FloatTensor("token_embedding.weight", []int64{int64(d.tok.VocabSize()), DemoDim}, d.table))
	axes := g.AddInitializer(onnx.Int64Tensor("sequence_axis", []int64{1}, []int64{1}))
	tokens := g.OpAttrs("Gather", []string{table, "input_ids"}, []onnx.Attribute{onnx.IntAttr("axis", 0)})
	g.AddNode("ReduceSum", []string{tokens, axes}, []string{"text_embeds"}, onnx.IntAttr("keepdims", 0))
	g.AddOutput("text_embeds", onnx.Float, onnx.Sym("batch_size"), onnx.Fixed(DemoDim))
	m := onnx.NewModel(g)
	m.Doc = "autoclipd demo text encoder: sum of token vectors, colour words point at their colour (not a real CLIP model)"
	return m
}

// ImageEmbeds computes image_embeds for pixelValues, n images of
// [3][H][W] normalised pixels, as the vision model does (not normalised).
func (d *Demo) ImageEmbeds(pixelValues []float32, n int) ([]float32, error) {
	if n <= 0 || len(pixelValues)%(3*n) != 0 || len(pixelValues) == 0 {
		return nil, fmt.Errorf("demo: %d pixel values are not %d images of 3 channels", len(pixelValues), n)
	}
	plane := len(pixelValues) / (3 * n)
	out := make([]float32, n*DemoDim)
	for i := 0; i < n; i++ {
		var mean [3]float32
		for c := 0; c < 3; c++ {
			var s float64
			for _, v := range pixelValues[(i*3+c)*plane : (i*3+c+1)*plane] {
				s += float64(v)
			}
			mean[c] = float32(s / float64(plane))
		}
		for k := 0; k < DemoDim; k++ {
			acc := d.bias[k]
			for c := 0; c < 3; c++ {
				acc += mean[c] * d.weight[c*DemoDim+k]
			}
			out[i*DemoDim+k] = acc
		}
	}
	return out, nil
}

// TextEmbeds computes text_embeds for ids, n rows of equal length, as the
// text model does (not normalised).
func (d *Demo) TextEmbeds(ids []int64, n int) ([]float32, error) {
	if n <= 0 || len(ids)%n != 0 {
		return nil, fmt.Errorf("demo: %d ids are not %d rows", len(ids), n)
	}
	l := len(ids) / n
	out := make([]float32, n*DemoDim)
	v := int64(d.tok.VocabSize())
	for i := 0; i < n; i++ {
		row := out[i*DemoDim : (i+1)*DemoDim]
		for j, id := range ids[i*l : (i+1)*l] {
			if id < 0 || id >= v {
				return nil, fmt.Errorf("demo: row %d position %d: token id %d out of range [0,%d)", i, j, id, v)
			}
			for k, x := range d.table[id*DemoDim : (id+1)*DemoDim] {
				row[k] += x
			}
		}
	}
	return out, nil
}

// preprocessorConfig is a CLIPImageProcessor config in the shape of
// Xenova/clip-vit-base-patch32's preprocessor_config.json (the fields in
// the order Hugging Face writes them: sorted).
type preprocessorConfig struct {
	CropSize           map[string]int `json:"crop_size"`
	DoCenterCrop       bool           `json:"do_center_crop"`
	DoConvertRGB       bool           `json:"do_convert_rgb"`
	DoNormalize        bool           `json:"do_normalize"`
	DoRescale          bool           `json:"do_rescale"`
	DoResize           bool           `json:"do_resize"`
	FeatureExtractor   string         `json:"feature_extractor_type"`
	ImageMean          [3]float64     `json:"image_mean"`
	ImageProcessorType string         `json:"image_processor_type"`
	ImageStd           [3]float64     `json:"image_std"`
	Resample           int            `json:"resample"`
	RescaleFactor      float64        `json:"rescale_factor"`
	Size               map[string]int `json:"size"`
}

// PreprocessorConfig returns the demo's preprocessor_config.json: real
// CLIP's values (resize the shortest edge to 224 with bicubic resampling,
// centre-crop 224x224, rescale by 1/255, normalise with CLIP's mean and
// std).
func PreprocessorConfig() []byte {
	cfg := preprocessorConfig{
		CropSize:           map[string]int{"height": 224, "width": 224},
		DoCenterCrop:       true,
		DoConvertRGB:       true,
		DoNormalize:        true,
		DoRescale:          true,
		DoResize:           true,
		FeatureExtractor:   "CLIPFeatureExtractor",
		ImageMean:          clipMean(),
		ImageProcessorType: "CLIPFeatureExtractor",
		ImageStd:           clipStd(),
		Resample:           3, // PIL.Image.BICUBIC
		RescaleFactor:      1.0 / 255,
		Size:               map[string]int{"shortest_edge": 224},
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		panic(err) // a fixed struct of plain values always marshals
	}
	return append(b, '\n')
}

// WriteDir writes the demo model directory in the Hugging Face layout:
//
//	dir/onnx/vision_model.onnx
//	dir/onnx/text_model.onnx
//	dir/tokenizer.json
//	dir/preprocessor_config.json
//
// creating dir and dir/onnx as needed and replacing the files atomically.
func (d *Demo) WriteDir(dir string) error {
	if err := os.MkdirAll(filepath.Join(dir, "onnx"), 0o755); err != nil {
		return fmt.Errorf("demo model: %w", err)
	}
	for _, f := range []struct {
		name  string
		model *onnx.Model
	}{
		{"onnx/vision_model.onnx", d.VisionModel()},
		{"onnx/text_model.onnx", d.TextModel()},
	} {
		if err := f.model.WriteFile(filepath.Join(dir, f.name)); err != nil {
			return fmt.Errorf("demo model: %w", err)
		}
	}
	for _, f := range []struct {
		name string
		data []byte
	}{
		{"tokenizer.json", d.tokenizerJSON},
		{"preprocessor_config.json", PreprocessorConfig()},
	} {
		if err := writeFileAtomic(filepath.Join(dir, f.name), f.data); err != nil {
			return fmt.Errorf("demo model: %w", err)
		}
	}
	return nil
}

// WriteDemoModel writes the demo model directory (creating DIR/onnx); see
// Demo.WriteDir. Deterministic: the same bytes every time.
func WriteDemoModel(dir string) error {
	d, err := NewDemo()
	if err != nil {
		return err
	}
	return d.WriteDir(dir)
}

// writeFileAtomic writes data to path through a temporary file in the same
// directory, renamed into place.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
