package modelgen

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/autoclipd/autoclipd/inference/tokenizer"
	"github.com/autoclipd/autoclipd/modelgen/onnx"
)

// demoFiles are the files of the Hugging Face layout, as WriteDemoModel
// writes them.
var demoFiles = []string{"onnx/text_model.onnx", "onnx/vision_model.onnx", "preprocessor_config.json", "tokenizer.json"}

// demoDir writes the demo model into a fresh temporary directory.
func demoDir(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "model")
	if err := WriteDemoModel(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// listFiles returns the regular files under dir, relative, sorted.
func listFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		files = append(files, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(files)
	return files
}

func TestWriteDemoModelIsDeterministic(t *testing.T) {
	a := demoDir(t)
	b := filepath.Join(t.TempDir(), "nested", "model")
	if err := WriteDemoModel(b); err != nil {
		t.Fatal(err)
	}
	if got := listFiles(t, b); !reflect.DeepEqual(got, demoFiles) {
		t.Fatalf("files = %v, want %v", got, demoFiles)
	}
	// Writing over an existing directory replaces the files in place.
	if err := WriteDemoModel(b); err != nil {
		t.Fatal(err)
	}
	if got := listFiles(t, b); !reflect.DeepEqual(got, demoFiles) {
		t.Fatalf("files after rewriting = %v", got)
	}
	for _, f := range demoFiles {
		x, err := os.ReadFile(filepath.Join(a, f))
		if err != nil {
			t.Fatal(err)
		}
		y, err := os.ReadFile(filepath.Join(b, f))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(x, y) {
			t.Errorf("%s differs between two runs", f)
		}
		if len(x) == 0 {
			t.Errorf("%s is empty", f)
		}
	}
}

func TestWriteDemoModelError(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	err := WriteDemoModel(filepath.Join(file, "model"))
	if err == nil || !strings.HasPrefix(err.Error(), "demo model: ") || !strings.Contains(err.Error(), file) {
		t.Errorf("writing under a file: %v", err)
	}
}

func dimsOf(v onnx.ValueInfo) []string {
	var out []string
	for _, d := range v.Shape {
		out = append(out, d.String())
	}
	return out
}

func opTypes(g *onnx.Graph) []string {
	var out []string
	for _, n := range g.Nodes {
		out = append(out, n.OpType)
	}
	return out
}

func TestDemoModelStructure(t *testing.T) {
	dir := demoDir(t)
	tok, err := tokenizer.Load(filepath.Join(dir, "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		file      string
		input     string
		inType    onnx.DataType
		inDims    []string
		output    string
		ops       []string
		initDims  map[string][]int64
		attrCheck func(t *testing.T, g *onnx.Graph)
	}{
		{
			name: "vision", file: "onnx/vision_model.onnx",
			input: "pixel_values", inType: onnx.Float, inDims: []string{"batch_size", "3", "224", "224"},
			output: "image_embeds", ops: []string{"ReduceMean", "ReduceMean", "MatMul", "Add"},
			initDims: map[string][]int64{"visual_projection.weight": {3, DemoDim}, "visual_projection.bias": {DemoDim}},
			attrCheck: func(t *testing.T, g *onnx.Graph) {
				for i, want := range []int64{3, 2} {
					axes, _ := g.Nodes[i].Attr("axes")
					keep, _ := g.Nodes[i].Attr("keepdims")
					if !reflect.DeepEqual(axes.Ints, []int64{want}) || keep.Type != onnx.AttrInt || keep.I != 0 {
						t.Errorf("ReduceMean %d attributes: axes %v keepdims %+v", i, axes.Ints, keep)
					}
				}
				if g.Nodes[0].Inputs[0] != "pixel_values" || g.Nodes[3].Outputs[0] != "image_embeds" {
					t.Errorf("graph ends: %v, %v", g.Nodes[0].Inputs, g.Nodes[3].Outputs)
				}
			},
		},
		{
			name: "text", file: "onnx/text_model.onnx",
			input: "input_ids", inType: onnx.Int64, inDims: []string{"batch_size", "sequence_length"},
			output: "text_embeds", ops: []string{"Gather", "ReduceSum"},
			initDims: map[string][]int64{"token_embedding.weight": {int64(tok.VocabSize()), DemoDim}, "sequence_axis": {1}},
			attrCheck: func(t *testing.T, g *onnx.Graph) {
				axis, ok := g.Nodes[0].Attr("axis")
				keep, _ := g.Nodes[1].Attr("keepdims")
				if !ok || axis.I != 0 || keep.I != 0 || keep.Type != onnx.AttrInt {
					t.Errorf("attributes: Gather axis %+v, ReduceSum keepdims %+v", axis, keep)
				}
				if g.Nodes[0].Inputs[1] != "input_ids" || g.Nodes[1].Inputs[1] != "sequence_axis" {
					t.Errorf("inputs: %v, %v", g.Nodes[0].Inputs, g.Nodes[1].Inputs)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := onnx.ReadFile(filepath.Join(dir, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if err := m.Validate(); err != nil {
				t.Fatal(err)
			}
			if m.IRVersion != 8 || !reflect.DeepEqual(m.Opsets, []onnx.OpsetID{{Domain: "", Version: 17}}) {
				t.Errorf("ir_version %d, opsets %v", m.IRVersion, m.Opsets)
			}
			g := m.Graph
			if len(g.Inputs) != 1 || g.Inputs[0].Name != tt.input || g.Inputs[0].Type != tt.inType ||
				!reflect.DeepEqual(dimsOf(g.Inputs[0]), tt.inDims) {
				t.Errorf("inputs = %+v", g.Inputs)
			}
			if len(g.Outputs) != 1 || g.Outputs[0].Name != tt.output || g.Outputs[0].Type != onnx.Float ||
				!reflect.DeepEqual(dimsOf(g.Outputs[0]), []string{"batch_size", "16"}) {
				t.Errorf("outputs = %+v", g.Outputs)
			}
			if got := opTypes(g); !reflect.DeepEqual(got, tt.ops) {
				t.Errorf("ops = %v, want %v", got, tt.ops)
			}
			got := map[string][]int64{}
			for _, init := range g.Initializers {
				got[init.Name] = init.Dims
			}
			if !reflect.DeepEqual(got, tt.initDims) {
				t.Errorf("initializers = %v, want %v", got, tt.initDims)
			}
			tt.attrCheck(t, g)
		})
	}
}

// clipPixels returns pixel_values [3][size][size] for a frame, with CLIP's
// preprocessing arithmetic: pixel/255, minus mean, over std, RGB order.
// pixel returns the BGR value of pixel i.
func clipPixels(size int, pixel func(i int) [3]int) []float32 {
	mean, std := clipMean(), clipStd()
	plane := size * size
	out := make([]float32, 3*plane)
	for i := 0; i < plane; i++ {
		bgr := pixel(i)
		for c := 0; c < 3; c++ {
			v := min(max(bgr[2-c], 0), 255)
			out[c*plane+i] = float32((float64(v)/255 - mean[c]) / std[c])
		}
	}
	return out
}

func solid(bgr [3]uint8, shift [3]int) func(int) [3]int {
	return func(int) [3]int {
		return [3]int{int(bgr[0]) + shift[0], int(bgr[1]) + shift[1], int(bgr[2]) + shift[2]}
	}
}

// TestReferenceMatchesGraph evaluates the written ONNX graphs with the
// test's own interpreter and compares them with Demo's forward pass.
func TestReferenceMatchesGraph(t *testing.T) {
	dir := demoDir(t)
	d, err := NewDemo()
	if err != nil {
		t.Fatal(err)
	}
	vision, err := onnx.ReadFile(filepath.Join(dir, "onnx/vision_model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	text, err := onnx.ReadFile(filepath.Join(dir, "onnx/text_model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	const size = 32 // the graph reduces any H, W; small keeps the interpreter quick
	rng := rand.New(rand.NewPCG(1, 2))
	var pixels []float32
	colours := DemoColours()
	for _, c := range colours {
		pixels = append(pixels, clipPixels(size, func(int) [3]int {
			n := rng.IntN(25) - 12
			return [3]int{int(c.BGR[0]) + n, int(c.BGR[1]) - n, int(c.BGR[2]) + n/2}
		})...)
	}
	n := len(colours)
	in := value{shape: []int{n, 3, size, size}}
	for _, p := range pixels {
		in.f = append(in.f, float64(p))
	}
	out, err := evalGraph(vision.Graph, map[string]value{"pixel_values": in})
	if err != nil {
		t.Fatal(err)
	}
	want, err := d.ImageEmbeds(pixels, n)
	if err != nil {
		t.Fatal(err)
	}
	got := out["image_embeds"]
	if !reflect.DeepEqual(got.shape, []int{n, DemoDim}) {
		t.Fatalf("image_embeds shape %v", got.shape)
	}
	for i := range want {
		if math.Abs(got.f[i]-float64(want[i])) > 1e-5 {
			t.Fatalf("image_embeds[%d] = %v, Demo.ImageEmbeds %v", i, got.f[i], want[i])
		}
	}

	const seq = 12
	tok := d.Tokenizer()
	ids := make([]int64, 3*seq)
	for i, p := range []string{"a photo of something red.", "", "itap of a Magenta 🍓 thing"} {
		tok.EncodeTo(ids[i*seq:(i+1)*seq], p, tok.EndID())
	}
	out, err = evalGraph(text.Graph, map[string]value{"input_ids": {shape: []int{3, seq}, i: ids}})
	if err != nil {
		t.Fatal(err)
	}
	wantText, err := d.TextEmbeds(ids, 3)
	if err != nil {
		t.Fatal(err)
	}
	got = out["text_embeds"]
	if !reflect.DeepEqual(got.shape, []int{3, DemoDim}) {
		t.Fatalf("text_embeds shape %v", got.shape)
	}
	for i := range wantText {
		if math.Abs(got.f[i]-float64(wantText[i])) > 1e-5 {
			t.Fatalf("text_embeds[%d] = %v, Demo.TextEmbeds %v", i, got.f[i], wantText[i])
		}
	}
	// The empty prompt is start, end and padding: all zero.
	if n := norm(wantText[DemoDim : 2*DemoDim]); n != 0 {
		t.Errorf("empty prompt embeds to norm %v, want 0", n)
	}
}

func norm(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}

func cosine(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s / (norm(a) * norm(b))
}

// testTemplates are prompt templates without colour words.
var testTemplates = []string{
	"a photo of something {}.",
	"a {} picture.",
	"{}",
	"a blurry photo of a {} thing.",
	"a photo of a {}.",
	"a security camera image of a {}.",
	"itap of a {}.",
	"a close-up photo of the {} wall in harsh sunlight.",
	"A JPEG-compressed snapshot, mostly {}!",
}

// encodePrompts tokenizes prompts to the CLIP context of 77, padded with
// pad, and returns their text embeddings.
func encodePrompts(t *testing.T, d *Demo, tok *tokenizer.Tokenizer, prompts []string, pad int64) []float32 {
	t.Helper()
	ids := make([]int64, len(prompts)*tokenizer.ContextLength)
	for i, p := range prompts {
		if _, truncated := tok.EncodeTo(ids[i*tokenizer.ContextLength:(i+1)*tokenizer.ContextLength], p, pad); truncated {
			t.Fatalf("prompt %q truncated", p)
		}
	}
	emb, err := d.TextEmbeds(ids, len(prompts))
	if err != nil {
		t.Fatal(err)
	}
	return emb
}

func fill(template, class string) string { return strings.ReplaceAll(template, "{}", class) }

// TestDemoClassifiesColours checks the point of the demo model: for every
// colour, template and frame (exact, offset by 12 levels per channel either
// way, or with per-pixel noise of 12 levels), the colour's own prompt has
// the highest cosine, by a clear margin.
func TestDemoClassifiesColours(t *testing.T) {
	dir := demoDir(t)
	d, err := NewDemo()
	if err != nil {
		t.Fatal(err)
	}
	// Prompts go through the real tokenizer reading the written file.
	tok, err := tokenizer.Load(filepath.Join(dir, "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	colours := DemoColours()
	const minMargin = 0.1

	// The frames: per colour, the 27 combinations of -12, 0, +12 per channel
	// (solid, so small: the encoder averages), then a full-size frame with
	// per-pixel uniform noise in [-12, 12]. ImageEmbeds takes one frame at a
	// time here, as frames differ in size.
	rng := rand.New(rand.NewPCG(3, 4))
	type frame struct {
		colour int
		what   string
	}
	var frames []frame
	var pixels, img []float32
	for ci, c := range colours {
		for s := 0; s < 27; s++ {
			shift := [3]int{(s%3 - 1) * 12, (s/3%3 - 1) * 12, (s/9 - 1) * 12}
			frames = append(frames, frame{ci, fmt.Sprintf("BGR offset %v", shift)})
			pixels = clipPixels(4, solid(c.BGR, shift))
			x, err := d.ImageEmbeds(pixels, 1)
			if err != nil {
				t.Fatal(err)
			}
			img = append(img, x...)
		}
		frames = append(frames, frame{ci, "per-pixel noise"})
		pixels = clipPixels(224, func(int) [3]int {
			return [3]int{int(c.BGR[0]) + rng.IntN(25) - 12, int(c.BGR[1]) + rng.IntN(25) - 12, int(c.BGR[2]) + rng.IntN(25) - 12}
		})
		x, err := d.ImageEmbeds(pixels, 1)
		if err != nil {
			t.Fatal(err)
		}
		img = append(img, x...)
	}

	worst := math.Inf(1)
	for _, template := range testTemplates {
		var prompts []string
		for _, c := range colours {
			prompts = append(prompts, fill(template, c.Name))
		}
		txt := encodePrompts(t, d, tok, prompts, tok.EndID())
		for fi, f := range frames {
			x := img[fi*DemoDim : (fi+1)*DemoDim]
			own := cosine(x, txt[f.colour*DemoDim:(f.colour+1)*DemoDim])
			rival, rivalSim := -1, math.Inf(-1)
			for j := range colours {
				if j == f.colour {
					continue
				}
				if s := cosine(x, txt[j*DemoDim:(j+1)*DemoDim]); s > rivalSim {
					rival, rivalSim = j, s
				}
			}
			margin := own - rivalSim
			worst = min(worst, margin)
			if margin < minMargin {
				t.Errorf("template %q, %s frame (%s): own cosine %.3f, %s %.3f: margin %.3f < %v",
					template, colours[f.colour].Name, f.what, own, colours[rival].Name, rivalSim, margin, minMargin)
			}
		}
	}
	t.Logf("worst margin over %d templates x %d frames: %.3f", len(testTemplates), len(frames), worst)
}

// TestDemoWithImageNetTemplates scores the 80 CLIP ImageNet templates, some
// of which name colours themselves ("a black and white photo of the {}."),
// by the mean cosine over templates, as the daemon's uniform mode does.
func TestDemoWithImageNetTemplates(t *testing.T) {
	d, err := NewDemo()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(sharedDir(t), "clip", "imagenet_templates.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var templates []string
	for sc := bufio.NewScanner(f); sc.Scan(); {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			templates = append(templates, line)
		}
	}
	if len(templates) != 80 {
		t.Fatalf("%d templates, want 80", len(templates))
	}
	colours := DemoColours()
	tok := d.Tokenizer()
	var prompts []string
	for _, tpl := range templates {
		for _, c := range colours {
			prompts = append(prompts, fill(tpl, c.Name))
		}
	}
	txt := encodePrompts(t, d, tok, prompts, tok.EndID())
	for ci, c := range colours {
		x, err := d.ImageEmbeds(clipPixels(8, solid(c.BGR, [3]int{})), 1)
		if err != nil {
			t.Fatal(err)
		}
		scores := make([]float64, len(colours))
		for ti := range templates {
			for j := range colours {
				k := ti*len(colours) + j
				scores[j] += cosine(x, txt[k*DemoDim:(k+1)*DemoDim]) / float64(len(templates))
			}
		}
		own := scores[ci]
		scores[ci] = math.Inf(-1)
		rival := slices.Index(scores, slices.Max(scores))
		if own-scores[rival] < 0.1 {
			t.Errorf("%s: mean cosine %.3f, %s %.3f", c.Name, own, colours[rival].Name, scores[rival])
		}
	}
}

// sharedDir finds ../shared next to the module root.
func sharedDir(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "..", "shared")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test directory")
		}
		dir = parent
	}
}

func TestTemplatesDifferButAgree(t *testing.T) {
	d, err := NewDemo()
	if err != nil {
		t.Fatal(err)
	}
	tok := d.Tokenizer()
	var prompts []string
	for _, tpl := range testTemplates {
		prompts = append(prompts, fill(tpl, "green"))
	}
	txt := encodePrompts(t, d, tok, prompts, tok.EndID())
	for i := 1; i < len(prompts); i++ {
		a, b := txt[:DemoDim], txt[i*DemoDim:(i+1)*DemoDim]
		c := cosine(a, b)
		if c > 1-1e-4 || c < 0.9 {
			t.Errorf("%q vs %q: cosine %.5f, want different but close (0.9 .. 1-1e-4)", prompts[0], prompts[i], c)
		}
	}
	// Padding with 0, as OpenAI's code does, gives the same embeddings as
	// padding with <|endoftext|>.
	zero := encodePrompts(t, d, tok, prompts, 0)
	if !slices.Equal(zero, txt) {
		t.Error("padding with 0 changes the embeddings")
	}
}

func TestColourWordsAreSingleTokens(t *testing.T) {
	d, err := NewDemo()
	if err != nil {
		t.Fatal(err)
	}
	tok := d.Tokenizer()
	seen := map[int64]string{}
	for _, c := range DemoColours() {
		id, ok := tok.ID(c.Name + "</w>")
		if !ok {
			t.Errorf("%s: no token %q", c.Name, c.Name+"</w>")
			continue
		}
		if other, dup := seen[id]; dup {
			t.Errorf("%s and %s share token %d", c.Name, other, id)
		}
		seen[id] = c.Name
		for _, text := range []string{c.Name, strings.ToUpper(c.Name), " " + c.Name + " "} {
			if got, want := tok.Encode(text), []int64{tok.StartID(), id, tok.EndID()}; !slices.Equal(got, want) {
				t.Errorf("Encode(%q) = %v, want %v", text, got, want)
			}
		}
		// The colour word's vector is its colour's unit feature vector.
		row := d.table[id*DemoDim : (id+1)*DemoDim]
		x, err := d.ImageEmbeds(clipPixels(4, solid(c.BGR, [3]int{})), 1)
		if err != nil {
			t.Fatal(err)
		}
		if n := norm(row); math.Abs(n-1) > 1e-6 {
			t.Errorf("%s: token vector norm %v", c.Name, n)
		}
		if cs := cosine(row, x); cs < 1-1e-5 {
			t.Errorf("%s: token vector and solid frame embedding: cosine %v", c.Name, cs)
		}
	}
	if len(d.table) != tok.VocabSize()*DemoDim {
		t.Errorf("table has %d rows, vocabulary %d tokens", len(d.table)/DemoDim, tok.VocabSize())
	}
	for _, id := range []int64{0, tok.StartID(), tok.EndID()} {
		if n := norm(d.table[id*DemoDim : (id+1)*DemoDim]); n != 0 {
			t.Errorf("token %d: norm %v, want 0", id, n)
		}
	}
	// Words outside the vocabulary fall back to byte tokens, all in the table.
	ids := tok.Encode("zebra crossing ✓")
	if len(ids) < 6 {
		t.Errorf("unknown words encoded to only %v", ids)
	}
	if _, err := d.TextEmbeds(ids, 1); err != nil {
		t.Error(err)
	}
}

func TestEmbedsErrors(t *testing.T) {
	d, err := NewDemo()
	if err != nil {
		t.Fatal(err)
	}
	v := int64(d.Tokenizer().VocabSize())
	tests := []struct {
		name string
		run  func() error
		want string
	}{
		{"no images", func() error { _, err := d.ImageEmbeds(nil, 1); return err }, "demo: 0 pixel values are not 1 images of 3 channels"},
		{"ragged images", func() error { _, err := d.ImageEmbeds(make([]float32, 7), 2); return err }, "demo: 7 pixel values are not 2 images of 3 channels"},
		{"zero batch", func() error { _, err := d.ImageEmbeds(make([]float32, 3), 0); return err }, "demo: 3 pixel values are not 0 images of 3 channels"},
		{"ragged ids", func() error { _, err := d.TextEmbeds(make([]int64, 5), 2); return err }, "demo: 5 ids are not 2 rows"},
		{"id too large", func() error { _, err := d.TextEmbeds([]int64{1, 2, v}, 1); return err },
			fmt.Sprintf("demo: row 0 position 2: token id %d out of range [0,%d)", v, v)},
		{"negative id", func() error { _, err := d.TextEmbeds([]int64{1, -1}, 2); return err },
			fmt.Sprintf("demo: row 1 position 0: token id -1 out of range [0,%d)", v)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.run()
			if err == nil || err.Error() != tt.want {
				t.Errorf("error = %v, want %s", err, tt.want)
			}
		})
	}
}

func TestPreprocessorConfig(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(demoDir(t), "preprocessor_config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"crop_size":              map[string]any{"height": 224.0, "width": 224.0},
		"do_center_crop":         true,
		"do_convert_rgb":         true,
		"do_normalize":           true,
		"do_rescale":             true,
		"do_resize":              true,
		"feature_extractor_type": "CLIPFeatureExtractor",
		"image_mean":             []any{0.48145466, 0.4578275, 0.40821073},
		"image_processor_type":   "CLIPFeatureExtractor",
		"image_std":              []any{0.26862954, 0.26130258, 0.27577711},
		"resample":               3.0,
		"rescale_factor":         1.0 / 255,
		"size":                   map[string]any{"shortest_edge": 224.0},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("preprocessor_config.json =\n%v\nwant\n%v", got, want)
	}
	if !bytes.Contains(data, []byte(`"rescale_factor": 0.00392156862745098,`)) {
		t.Errorf("rescale_factor not written as Hugging Face writes it:\n%s", data)
	}
}

func BenchmarkWriteDemoModel(b *testing.B) {
	dir := b.TempDir()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if err := WriteDemoModel(dir); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkImageEmbeds(b *testing.B) {
	d, err := NewDemo()
	if err != nil {
		b.Fatal(err)
	}
	pixels := make([]float32, 3*224*224)
	b.SetBytes(int64(4 * len(pixels)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := d.ImageEmbeds(pixels, 1); err != nil {
			b.Fatal(err)
		}
	}
}
