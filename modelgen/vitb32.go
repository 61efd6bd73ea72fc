package modelgen

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math"
	"strings"

	"github.com/autoclipd/autoclipd/inference/tokenizer"
	"github.com/autoclipd/autoclipd/modelgen/onnx"
)

// ViTB32Version is the version of the full-size random model generator. It
// is part of the cache folder's name (vit-b-32-random-<version>): change it
// whenever the graphs, the weights or the tokenizer change, so that a stale
// folder is never reused.
const ViTB32Version = "1"

// The shapes of OpenAI's CLIP ViT-B/32, which the full-size random models
// copy.
const (
	// ViTB32ImageSize is the input height and width.
	ViTB32ImageSize = 224
	// ViTB32Patch is the patch size of the image encoder.
	ViTB32Patch = 32
	// ViTB32VisionWidth is the width of the image transformer.
	ViTB32VisionWidth = 768
	// ViTB32VisionHeads is the number of attention heads of the image
	// transformer.
	ViTB32VisionHeads = 12
	// ViTB32TextWidth is the width of the text transformer.
	ViTB32TextWidth = 512
	// ViTB32TextHeads is the number of attention heads of the text
	// transformer.
	ViTB32TextHeads = 8
	// ViTB32Layers is the depth of both transformers.
	ViTB32Layers = 12
	// ViTB32Context is the text context length.
	ViTB32Context = 77
	// ViTB32Vocab is the size of the text vocabulary (CLIP's).
	ViTB32Vocab = 49408
	// ViTB32Dim is the embedding size both encoders project to.
	ViTB32Dim = 512
)

// vitSeed seeds every weight of the random models.
const vitSeed = 0x5eed_c11b

// weightStd is the standard deviation of the random matrices: small enough
// that activations stay well within float32 through 12 pre-norm layers.
const weightStd = 0.02

// randomTensor returns a FLOAT tensor of the given dims holding
// deterministic uniform noise of standard deviation std, seeded by name.
func randomTensor(name string, std float64, dims ...int64) *onnx.Tensor {
	n := int64(1)
	for _, d := range dims {
		n *= d
	}
	h := fnv.New64a()
	h.Write([]byte(name))
	s := h.Sum64() ^ vitSeed
	a := std * math.Sqrt(3) // uniform [-a, a) has standard deviation std
	scale := 2 * a / (1 << 24)
	raw := make([]byte, 4*n)
	for i := int64(0); i < n; i++ {
		s += 0x9e3779b97f4a7c15
		z := (s ^ s>>30) * 0xbf58476d1ce4e5b9
		z = (z ^ z>>27) * 0x94d049bb133111eb
		z ^= z >> 31
		v := float32(float64(z>>40)*scale - a)
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	return &onnx.Tensor{Name: name, Type: onnx.Float, Dims: dims, Raw: raw}
}

// constTensor returns a FLOAT tensor filled with v.
func constTensor(name string, v float32, dims ...int64) *onnx.Tensor {
	n := int64(1)
	for _, d := range dims {
		n *= d
	}
	data := make([]float32, n)
	for i := range data {
		data[i] = v
	}
	return onnx.FloatTensor(name, dims, data)
}

// transformer adds the pre-norm residual blocks of a CLIP transformer to
// g, over x [B,S,width]; mask is an additive [S,S] attention mask or "".
type transformer struct {
	g            *onnx.Graph
	prefix       string
	width, heads int64
	mlp          int64
	mask         string
	// consts caches the shape and scalar initializers by name.
	consts map[string]bool
}

func (t *transformer) constant(tensor *onnx.Tensor) string {
	if !t.consts[tensor.Name] {
		t.consts[tensor.Name] = true
		t.g.AddInitializer(tensor)
	}
	return tensor.Name
}

func (t *transformer) layerNorm(x, name string) string {
	scale := t.g.AddInitializer(constTensor(name+".weight", 1, t.width))
	bias := t.g.AddInitializer(constTensor(name+".bias", 0, t.width))
	return t.g.OpAttrs("LayerNormalization", []string{x, scale, bias},
		[]onnx.Attribute{onnx.IntAttr("axis", -1), onnx.FloatAttr("epsilon", 1e-5)})
}

func (t *transformer) linear(x, name string, in, out int64) string {
	w := t.g.AddInitializer(randomTensor(name+".weight", weightStd, in, out))
	b := t.g.AddInitializer(constTensor(name+".bias", 0, out))
	return t.g.Op("Add", t.g.Op("MatMul", x, w), b)
}

// attention is multi-head self-attention over x [B,S,width].
func (t *transformer) attention(x, name string) string {
	g := t.g
	dh := t.width / t.heads
	heads := t.constant(onnx.Int64Tensor(t.prefix+"shape_heads", []int64{4}, []int64{0, 0, t.heads, dh}))
	merged := t.constant(onnx.Int64Tensor(t.prefix+"shape_merged", []int64{3}, []int64{0, 0, t.width}))
	scale := t.constant(onnx.FloatTensor(t.prefix+"attention_scale", nil, []float32{float32(1 / math.Sqrt(float64(dh)))}))
	split := func(proj string, perm ...int64) string {
		h := g.Op("Reshape", t.linear(x, name+"."+proj, t.width, t.width), heads)
		return g.OpAttrs("Transpose", []string{h}, []onnx.Attribute{onnx.IntsAttr("perm", perm...)})
	}
	q := split("q_proj", 0, 2, 1, 3) // [B,H,S,dh]
	k := split("k_proj", 0, 2, 3, 1) // [B,H,dh,S]
	v := split("v_proj", 0, 2, 1, 3) // [B,H,S,dh]
	scores := g.Op("Mul", g.Op("MatMul", q, k), scale)
	if t.mask != "" {
		scores = g.Op("Add", scores, t.mask)
	}
	probs := g.OpAttrs("Softmax", []string{scores}, []onnx.Attribute{onnx.IntAttr("axis", -1)})
	ctx := g.OpAttrs("Transpose", []string{g.Op("MatMul", probs, v)}, []onnx.Attribute{onnx.IntsAttr("perm", 0, 2, 1, 3)})
	return t.linear(g.Op("Reshape", ctx, merged), name+".out_proj", t.width, t.width)
}

// quickGELU is CLIP's activation, x*sigmoid(1.702x).
func (t *transformer) quickGELU(x string) string {
	k := t.constant(onnx.FloatTensor(t.prefix+"quick_gelu_scale", nil, []float32{1.702}))
	return t.g.Op("Mul", x, t.g.Op("Sigmoid", t.g.Op("Mul", x, k)))
}

// layers adds n residual blocks.
func (t *transformer) layers(x string, n int) string {
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("%sencoder.layers.%d", t.prefix, i)
		x = t.g.Op("Add", x, t.attention(t.layerNorm(x, name+".layer_norm1"), name+".self_attn"))
		h := t.linear(t.layerNorm(x, name+".layer_norm2"), name+".mlp.fc1", t.width, t.mlp)
		h = t.linear(t.quickGELU(h), name+".mlp.fc2", t.mlp, t.width)
		x = t.g.Op("Add", x, h)
	}
	return x
}

// ViTB32VisionModel returns an image encoder shaped like CLIP ViT-B/32 with
// deterministic random weights (about 88M parameters): pixel_values float32
// [batch_size,3,224,224] -> 32x32 patch embedding (Conv) -> class token and
// position embeddings -> LayerNorm -> 12 pre-norm blocks (12 heads, width
// 768, MLP 3072, QuickGELU) -> LayerNorm of the class token -> projection ->
// image_embeds float32 [batch_size,512]. It is for benchmarks and tests: it
// does the compute of the real model, and its embeddings mean nothing.
func ViTB32VisionModel() *onnx.Model {
	const (
		w       = ViTB32VisionWidth
		grid    = ViTB32ImageSize / ViTB32Patch
		patches = grid * grid
	)
	g := onnx.NewGraph("vit_b_32_random_vision")
	g.AddInput("pixel_values", onnx.Float, onnx.Sym("batch_size"), onnx.Fixed(3), onnx.Fixed(ViTB32ImageSize), onnx.Fixed(ViTB32ImageSize))
	t := &transformer{g: g, prefix: "vision_model.", width: w, heads: ViTB32VisionHeads, mlp: 4 * w, consts: map[string]bool{}}
	patchW := g.AddInitializer(randomTensor("vision_model.embeddings.patch_embedding.weight", weightStd, w, 3, ViTB32Patch, ViTB32Patch))
	x := g.OpAttrs("Conv", []string{"pixel_values", patchW}, []onnx.Attribute{
		onnx.IntsAttr("kernel_shape", ViTB32Patch, ViTB32Patch), onnx.IntsAttr("strides", ViTB32Patch, ViTB32Patch)})
	x = g.Op("Reshape", x, g.AddInitializer(onnx.Int64Tensor("vision_model.shape_patches", []int64{3}, []int64{0, w, patches})))
	x = g.OpAttrs("Transpose", []string{x}, []onnx.Attribute{onnx.IntsAttr("perm", 0, 2, 1)}) // [B,49,768]
	// The class token, expanded to [B,1,768].
	batch := g.OpAttrs("Shape", []string{"pixel_values"}, []onnx.Attribute{onnx.IntAttr("start", 0), onnx.IntAttr("end", 1)})
	rest := g.AddInitializer(onnx.Int64Tensor("vision_model.shape_token_rest", []int64{2}, []int64{1, w}))
	tokenShape := g.OpAttrs("Concat", []string{batch, rest}, []onnx.Attribute{onnx.IntAttr("axis", 0)})
	cls := g.AddInitializer(randomTensor("vision_model.embeddings.class_embedding", weightStd, 1, 1, w))
	x = g.OpAttrs("Concat", []string{g.Op("Expand", cls, tokenShape), x}, []onnx.Attribute{onnx.IntAttr("axis", 1)})
	pos := g.AddInitializer(randomTensor("vision_model.embeddings.position_embedding.weight", weightStd, patches+1, w))
	x = g.Op("Add", x, pos)
	x = t.layerNorm(x, "vision_model.pre_layrnorm")
	x = t.layers(x, ViTB32Layers)
	zero := g.AddInitializer(onnx.Int64Tensor("vision_model.class_index", nil, []int64{0}))
	x = g.OpAttrs("Gather", []string{x, zero}, []onnx.Attribute{onnx.IntAttr("axis", 1)}) // [B,768]
	x = t.layerNorm(x, "vision_model.post_layernorm")
	proj := g.AddInitializer(randomTensor("visual_projection.weight", weightStd, w, ViTB32Dim))
	g.AddNode("MatMul", []string{x, proj}, []string{"image_embeds"})
	g.AddOutput("image_embeds", onnx.Float, onnx.Sym("batch_size"), onnx.Fixed(ViTB32Dim))
	m := onnx.NewModel(g)
	m.Doc = "autoclipd benchmark model: CLIP ViT-B/32-shaped image encoder with random weights (not a real CLIP model)"
	return m
}

// ViTB32TextModel returns a text encoder shaped like CLIP ViT-B/32's with
// deterministic random weights (about 63M parameters): input_ids int64
// [batch_size,sequence_length] (at most 77) -> token and position
// embeddings -> 12 pre-norm blocks (8 heads, width 512, MLP 2048,
// QuickGELU) under a causal mask -> final LayerNorm -> the features at the
// end token, found as CLIP does as the argmax of input_ids (the end token
// has the largest id; the first one wins) -> projection -> text_embeds
// float32 [batch_size,512]. Since the mask is causal and the features are
// read at the end token, tokens after it change nothing: a batch may be cut
// to its longest prompt.
func ViTB32TextModel() *onnx.Model {
	const w = ViTB32TextWidth
	g := onnx.NewGraph("vit_b_32_random_text")
	g.AddInput("input_ids", onnx.Int64, onnx.Sym("batch_size"), onnx.Sym("sequence_length"))
	// The causal mask: 0 on and below the diagonal, -inf above.
	mask := make([]float32, ViTB32Context*ViTB32Context)
	for i := 0; i < ViTB32Context; i++ {
		for j := i + 1; j < ViTB32Context; j++ {
			mask[i*ViTB32Context+j] = float32(math.Inf(-1))
		}
	}
	mask77 := g.AddInitializer(onnx.FloatTensor("text_model.causal_mask", []int64{ViTB32Context, ViTB32Context}, mask))
	seq := g.OpAttrs("Shape", []string{"input_ids"}, []onnx.Attribute{onnx.IntAttr("start", 1), onnx.IntAttr("end", 2)})
	zeros := g.AddInitializer(onnx.Int64Tensor("text_model.zeros2", []int64{2}, []int64{0, 0}))
	axes01 := g.AddInitializer(onnx.Int64Tensor("text_model.axes01", []int64{2}, []int64{0, 1}))
	ends := g.OpAttrs("Concat", []string{seq, seq}, []onnx.Attribute{onnx.IntAttr("axis", 0)})
	maskS := g.Op("Slice", mask77, zeros, ends, axes01) // [S,S]
	t := &transformer{g: g, prefix: "text_model.", width: w, heads: ViTB32TextHeads, mlp: 4 * w, mask: maskS, consts: map[string]bool{}}

	table := g.AddInitializer(randomTensor("text_model.embeddings.token_embedding.weight", weightStd, ViTB32Vocab, w))
	x := g.OpAttrs("Gather", []string{table, "input_ids"}, []onnx.Attribute{onnx.IntAttr("axis", 0)}) // [B,S,512]
	posTable := g.AddInitializer(randomTensor("text_model.embeddings.position_embedding.weight", weightStd/2, ViTB32Context, w))
	zero := g.AddInitializer(onnx.Int64Tensor("text_model.zero1", []int64{1}, []int64{0}))
	axis0 := g.AddInitializer(onnx.Int64Tensor("text_model.axis0", []int64{1}, []int64{0}))
	x = g.Op("Add", x, g.Op("Slice", posTable, zero, seq, axis0))
	x = t.layers(x, ViTB32Layers)
	x = t.layerNorm(x, "text_model.final_layer_norm")
	ids32 := g.OpAttrs("Cast", []string{"input_ids"}, []onnx.Attribute{onnx.IntAttr("to", int64(onnx.Int32))})
	end := g.OpAttrs("ArgMax", []string{ids32}, []onnx.Attribute{onnx.IntAttr("axis", 1), onnx.IntAttr("keepdims", 1)}) // [B,1]
	x = g.OpAttrs("GatherND", []string{x, end}, []onnx.Attribute{onnx.IntAttr("batch_dims", 1)})                        // [B,512]
	proj := g.AddInitializer(randomTensor("text_projection.weight", weightStd, w, ViTB32Dim))
	g.AddNode("MatMul", []string{x, proj}, []string{"text_embeds"})
	g.AddOutput("text_embeds", onnx.Float, onnx.Sym("batch_size"), onnx.Fixed(ViTB32Dim))
	m := onnx.NewModel(g)
	m.Doc = "autoclipd benchmark model: CLIP ViT-B/32-shaped text encoder with random weights (not a real CLIP model)"
	return m
}

// ParamCount returns the number of weights in m's initializers.
func ParamCount(m *onnx.Model) int64 {
	var n int64
	for _, t := range m.Graph.Initializers {
		n += t.NumElements()
	}
	return n
}

// commonWords are the single-token words of the synthetic full-size
// vocabulary besides the demo's: words of prompt templates and common
// labels, so that prompts tokenize to about as many tokens as with CLIP's
// real vocabulary, where nearly every English word is one token.
const commonWords = `person people man woman child kid baby boy girl face hand
car truck bus van bicycle bike motorcycle train boat airplane plane vehicle
dog cat bird horse cow sheep deer fox bear squirrel rabbit raccoon animal
package parcel box delivery mail letter door gate window fence garden yard
driveway road path tree grass flower leaf snow ice fire smoke water puddle
empty nobody nothing present missing open closed lit unlit moving parked
chair table bench bag backpack umbrella bottle cup phone laptop ball toy
large little good bad new old clear cloudy foggy rainy sunny dusty wet dry
is are was be has have there here it its his her their they we you to for by
photograph view shot scene close-up closeup top bottom left right front back
center centre middle inside outside near under over behind between two three
red green blue black white gray grey`

// fillerLetters weights the letters of filler words roughly as English
// text does.
const fillerLetters = "eeeeeeeeeeeettttttttaaaaaaaaoooooooiiiiiiinnnnnnnsssssshhhhhhrrrrrrddddllllcccuuummmwwffggyyppbbvkjxqz"

// ViTB32TokenizerJSON returns the tokenizer.json of the full-size random
// models: a CLIP byte-level BPE with CLIP's vocabulary size (49408, start
// 49406, end 49407) whose merges are synthetic (CLIP's real merges are
// not shipped with autoclipd). The words of common prompt templates and
// labels are single tokens; the remaining merges come from deterministic
// pseudo-words with English letter frequencies, so other words split into
// a few sub-word tokens, as rare words do in CLIP's vocabulary.
func ViTB32TokenizerJSON() ([]byte, error) {
	const want = ViTB32Vocab - 2*256 - 2 // merges
	words := strings.Fields(demoVocabulary + " " + commonWords)
	for _, c := range DemoColours() {
		words = append(words, c.Name)
	}
	merges := tokenizer.MergesFor(words)
	seen := map[string]bool{}
	s := uint64(vitSeed)
	for len(merges) < want {
		var filler []string
		for range 2000 {
			s = splitmix64(s)
			n := 3 + int(s%8)
			var b strings.Builder
			for range n {
				s = splitmix64(s)
				b.WriteByte(fillerLetters[s%uint64(len(fillerLetters))])
			}
			if w := b.String(); !seen[w] {
				seen[w] = true
				filler = append(filler, w)
			}
		}
		words = append(words, filler...)
		merges = tokenizer.MergesFor(words)
	}
	merges = merges[:want]
	var buf bytes.Buffer
	if err := tokenizer.WriteHFJSON(&buf, merges); err != nil {
		return nil, fmt.Errorf("vit-b-32 tokenizer: %w", err)
	}
	return buf.Bytes(), nil
}
