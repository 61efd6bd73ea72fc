package inference

import (
	"fmt"
	"math"

	ort "github.com/yalue/onnxruntime_go"
)

// Options tune the ONNX Runtime sessions.
type Options struct {
	// Threads is the intra-op thread count; 0 lets ONNX Runtime choose.
	Threads int
	// MaxBatch is the largest image batch (default 1).
	MaxBatch int
	// Variant picks a Hugging Face model variant: "" for
	// onnx/{vision,text}_model.onnx, "fp16" for onnx/vision_model_fp16.onnx,
	// "quantized", "int8", "uint8", "q4", ...: see FindModelVariant.
	Variant string
	// ProviderOptions choose the execution providers (providers.go).
	ProviderOptions
}

// ImageEncoder runs CLIP's image encoder. Input and output tensors are
// allocated once per batch size and reused: callers fill Input(b) in place
// (preprocessing straight into the tensor), then call Run(b).
//
// An ImageEncoder is not safe for concurrent use; the caller serialises.
type ImageEncoder struct {
	path       string
	sess       *ort.DynamicAdvancedSession
	in, out    TensorInfo
	h, w, d    int
	fixedBatch int // > 0 when the model's batch axis is fixed
	maxBatch   int
	batches    map[int]*imageBatch
	closed     bool
	provider   string // execution provider chosen (providers.go)
}

// imageBatch holds the tensors of one batch size. inF and outF are the
// float32 views callers see: the tensors' own data for a float32 model,
// staging buffers converted on Run for a float16 one.
type imageBatch struct {
	in, out   ort.Value
	inF, outF []float32
}

// Provider is the execution provider the encoder runs on: tensorrt, cuda or
// cpu.
func (e *ImageEncoder) Provider() string { return e.provider }

// NewImageEncoder opens the image encoder at path. It reads the input (a
// float32 or float16 [N,3,H,W] tensor, preferably named pixel_values, or
// image as Immich names it) and the output (a float32 or float16 [N,D]
// tensor, preferably named image_embeds) from the file. A fixed batch axis
// (Immich exports) is honoured: smaller batches run padded to it.
func NewImageEncoder(rt *Runtime, path string, o Options) (*ImageEncoder, error) {
	if rt == nil || rt.closed {
		return nil, fmt.Errorf("inference: runtime is not open")
	}
	ins, outs, err := readIO(path)
	if err != nil {
		return nil, err
	}
	want := "pixel_values"
	if len(ins) == 1 && ins[0].Name == "image" {
		want = "image"
	}
	in, ok := pick(ins, want, func(t TensorInfo) bool {
		return len(t.Shape) == 4 && (t.Shape[1] == 3 || t.Shape[1] < 0)
	})
	if !ok {
		return nil, fmt.Errorf("%s: no image input of shape [N,3,H,W] (inputs: %s)", path, describe(ins))
	}
	if !isFloatType(in.Type) {
		return nil, fmt.Errorf("%s: image input %s is %s, want float32 or float16", path, in.Name, typeName(in.Type))
	}
	if in.Shape[2] <= 0 || in.Shape[3] <= 0 {
		return nil, fmt.Errorf("%s: image input %s has dynamic height/width %v; the model must fix its input size", path, in.Name, in.Shape)
	}
	out, ok := pick(outs, "image_embeds", func(t TensorInfo) bool { return len(t.Shape) == 2 })
	if !ok {
		return nil, fmt.Errorf("%s: no embedding output of shape [N,D] (outputs: %s)", path, describe(outs))
	}
	if !isFloatType(out.Type) {
		return nil, fmt.Errorf("%s: output %s is %s, want float32 or float16", path, out.Name, typeName(out.Type))
	}
	if out.Type == ort.TensorElementDataTypeFloat16 && out.Shape[1] < 1 {
		return nil, fmt.Errorf("%s: float16 output %s has a dynamic embedding size %v; want a fixed one", path, out.Name, out.Shape)
	}
	sess, provider, err := newSession(path, []string{in.Name}, []string{out.Name}, o, imageProfiles(in, o.MaxBatch))
	if err != nil {
		return nil, err
	}
	e := &ImageEncoder{
		path: path, sess: sess, in: in, out: out, provider: provider,
		h: int(in.Shape[2]), w: int(in.Shape[3]),
		batches: map[int]*imageBatch{},
	}
	e.maxBatch = o.MaxBatch
	if e.maxBatch < 1 {
		e.maxBatch = 1
	}
	if in.Shape[0] > 0 {
		e.fixedBatch = int(in.Shape[0])
		e.maxBatch = e.fixedBatch
	}
	if out.Shape[1] > 0 {
		e.d = int(out.Shape[1])
	} else {
		// The embedding size is dynamic in the file: find it with one run.
		if _, err := e.batch(1); err != nil {
			e.Close()
			return nil, err
		}
	}
	return e, nil
}

// Size is the input height and width the encoder wants.
func (e *ImageEncoder) Size() (h, w int) { return e.h, e.w }

// Dim is the embedding size D.
func (e *ImageEncoder) Dim() int { return e.d }

// MaxBatch is the largest batch Run accepts.
func (e *ImageEncoder) MaxBatch() int { return e.maxBatch }

// Input is the [b][3][H][W] input buffer for a batch of b images, to be
// filled before Run(b). It stays valid until Close.
func (e *ImageEncoder) Input(b int) ([]float32, error) {
	t, err := e.batch(b)
	if err != nil {
		return nil, err
	}
	return t.inF[:b*3*e.h*e.w], nil
}

// Run encodes the batch of b images in Input(b) and returns [b][D]
// L2-normalised embeddings. The slice is reused by the next Run.
func (e *ImageEncoder) Run(b int) ([]float32, error) {
	t, err := e.batch(b)
	if err != nil {
		return nil, err
	}
	if in, ok := t.in.(*ort.CustomDataTensor); ok {
		toHalf(in.GetData(), t.inF)
	}
	if err := e.sess.Run([]ort.Value{t.in}, []ort.Value{t.out}); err != nil {
		return nil, fmt.Errorf("%s: %w", e.path, err)
	}
	if out, ok := t.out.(*ort.CustomDataTensor); ok {
		fromHalf(t.outF, out.GetData())
	}
	out := t.outF[:b*e.d]
	for i := 0; i < b; i++ {
		if err := normalize(out[i*e.d : (i+1)*e.d]); err != nil {
			return nil, fmt.Errorf("%s: image %d: %w", e.path, i, err)
		}
	}
	return out, nil
}

func (e *ImageEncoder) batch(b int) (*imageBatch, error) {
	if e.closed {
		return nil, errClosed
	}
	if b < 1 || b > e.maxBatch {
		return nil, fmt.Errorf("inference: batch of %d images, want 1..%d", b, e.maxBatch)
	}
	n := b
	if e.fixedBatch > 0 {
		n = e.fixedBatch
	}
	if t, ok := e.batches[n]; ok {
		return t, nil
	}
	in, inF, err := newFloatTensor(e.in.Type, ort.NewShape(int64(n), 3, int64(e.h), int64(e.w)))
	if err != nil {
		return nil, err
	}
	d := e.d
	if d == 0 {
		// Unknown embedding size: let ONNX Runtime allocate the output once.
		var outs = []ort.Value{nil}
		if err := e.sess.Run([]ort.Value{in}, outs); err != nil {
			in.Destroy()
			return nil, fmt.Errorf("%s: %w", e.path, err)
		}
		shape := outs[0].GetShape()
		outs[0].Destroy()
		if len(shape) != 2 || shape[1] < 1 {
			in.Destroy()
			return nil, fmt.Errorf("%s: output %s has shape %v, want [N,D]", e.path, e.out.Name, shape)
		}
		d = int(shape[1])
		e.d = d
	}
	out, outF, err := newFloatTensor(e.out.Type, ort.NewShape(int64(n), int64(d)))
	if err != nil {
		in.Destroy()
		return nil, err
	}
	t := &imageBatch{in: in, out: out, inF: inF, outF: outF}
	e.batches[n] = t
	return t, nil
}

// Close releases the session and tensors.
func (e *ImageEncoder) Close() error {
	if e.closed {
		return nil
	}
	e.closed = true
	for _, t := range e.batches {
		t.in.Destroy()
		t.out.Destroy()
	}
	e.batches = nil
	return e.sess.Destroy()
}

// normalize scales v to unit length in place.
func normalize(v []float32) error {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	if s == 0 || math.IsNaN(s) || math.IsInf(s, 0) {
		return fmt.Errorf("embedding has norm %v", math.Sqrt(s))
	}
	inv := float32(1 / math.Sqrt(s))
	for i := range v {
		v[i] *= inv
	}
	return nil
}

// isFloatType reports whether t is an element type the encoders convert
// float32 to and from.
func isFloatType(t ort.TensorElementDataType) bool {
	return t == ort.TensorElementDataTypeFloat || t == ort.TensorElementDataTypeFloat16
}

// newFloatTensor allocates a tensor of type typ (float32 or float16) and
// returns it with its float32 view: the tensor's data for float32, a
// staging buffer for float16.
func newFloatTensor(typ ort.TensorElementDataType, shape ort.Shape) (ort.Value, []float32, error) {
	if typ == ort.TensorElementDataTypeFloat16 {
		t, err := ort.NewCustomDataTensor(shape, make([]byte, 2*shape.FlattenedSize()), typ)
		if err != nil {
			return nil, nil, err
		}
		return t, make([]float32, shape.FlattenedSize()), nil
	}
	t, err := ort.NewEmptyTensor[float32](shape)
	if err != nil {
		return nil, nil, err
	}
	return t, t.GetData(), nil
}
