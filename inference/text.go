package inference

import (
	"fmt"
	"log/slog"
	"sort"
	"sync"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/autoclipd/autoclipd/inference/tokenizer"
)

// ContextLength is CLIP's text context: prompts are at most this many tokens,
// start and end included.
const ContextLength = 77

// textBatch is how many prompts go through the text encoder at once.
const textBatch = 32

// TextEncoder runs CLIP's text encoder on prompts tokenized with the model's
// tokenizer. It is safe for concurrent use (calls are serialised); text
// encoding runs off the frame path, when label sets change.
type TextEncoder struct {
	path    string
	tok     *tokenizer.Tokenizer
	log     *slog.Logger
	sess    *ort.DynamicAdvancedSession
	ids     TensorInfo
	mask    *TensorInfo // attention_mask, when the model has one
	out     TensorInfo
	seqLen  int  // fixed sequence length, or ContextLength when dynamic
	dynamic bool // the sequence axis is dynamic: batches are cut to their longest prompt
	fixedN  int  // fixed batch size, 0 when dynamic
	d       int

	mu        sync.Mutex
	truncated map[string]bool // prompts already logged as truncated
	closed    bool
	provider  string // execution provider chosen (providers.go)
}

// NewTextEncoder opens the text encoder at path. Its token input (int64 or
// int32 [N,L], preferably named input_ids), an optional attention_mask and
// the [N,D] output (preferably text_embeds) are read from the file.
func NewTextEncoder(rt *Runtime, path string, tok *tokenizer.Tokenizer, o Options, log *slog.Logger) (*TextEncoder, error) {
	if rt == nil || rt.closed {
		return nil, fmt.Errorf("inference: runtime is not open")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ins, outs, err := readIO(path)
	if err != nil {
		return nil, err
	}
	intType := func(t TensorInfo) bool {
		return len(t.Shape) == 2 && (t.Type == ort.TensorElementDataTypeInt64 || t.Type == ort.TensorElementDataTypeInt32)
	}
	ids, ok := pick(ins, "input_ids", func(t TensorInfo) bool { return intType(t) && t.Name != "attention_mask" })
	if !ok {
		return nil, fmt.Errorf("%s: no token input of shape [N,L] int64/int32 (inputs: %s)", path, describe(ins))
	}
	e := &TextEncoder{path: path, tok: tok, log: log, ids: ids, truncated: map[string]bool{}}
	names := []string{ids.Name}
	for _, t := range ins {
		if t.Name == "attention_mask" && intType(t) {
			m := t
			e.mask = &m
			names = append(names, t.Name)
		} else if t.Name != ids.Name {
			return nil, fmt.Errorf("%s: unexpected text model input %s (inputs: %s)", path, t, describe(ins))
		}
	}
	out, ok := pick(outs, "text_embeds", func(t TensorInfo) bool { return len(t.Shape) == 2 })
	if !ok {
		return nil, fmt.Errorf("%s: no embedding output of shape [N,D] (outputs: %s)", path, describe(outs))
	}
	if !isFloatType(out.Type) {
		return nil, fmt.Errorf("%s: output %s is %s, want float32 or float16", path, out.Name, typeName(out.Type))
	}
	e.out = out
	if ids.Shape[1] > 0 {
		e.seqLen = int(ids.Shape[1])
	} else {
		e.seqLen, e.dynamic = ContextLength, true
	}
	if ids.Shape[0] > 0 {
		e.fixedN = int(ids.Shape[0])
	}
	tokenInputs := []TensorInfo{ids}
	if e.mask != nil {
		tokenInputs = append(tokenInputs, *e.mask)
	}
	e.sess, e.provider, err = newSession(path, names, []string{out.Name}, o, textProfiles(tokenInputs, e.batchSize()))
	if err != nil {
		return nil, err
	}
	// Find D with one prompt.
	emb, err := e.Encode([]string{"a photo."})
	if err != nil {
		e.sess.Destroy()
		return nil, err
	}
	e.d = len(emb)
	return e, nil
}

// Provider is the execution provider the encoder runs on: tensorrt, cuda or
// cpu.
func (e *TextEncoder) Provider() string { return e.provider }

// Dim is the embedding size D.
func (e *TextEncoder) Dim() int { return e.d }

// Tokenizer is the tokenizer the encoder uses.
func (e *TextEncoder) Tokenizer() *tokenizer.Tokenizer { return e.tok }

// Encode returns the L2-normalised embeddings of prompts, [len(prompts)][D].
func (e *TextEncoder) Encode(prompts []string) ([]float32, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, errClosed
	}
	order := e.batchOrder(prompts)
	var all []float32
	batch := make([]string, 0, e.batchSize())
	for start := 0; start < len(prompts); start += e.batchSize() {
		end := min(start+e.batchSize(), len(prompts))
		batch = batch[:0]
		for _, i := range order[start:end] {
			batch = append(batch, prompts[i])
		}
		emb, err := e.encodeBatch(batch)
		if err != nil {
			return nil, err
		}
		d := len(emb) / len(batch)
		if all == nil {
			all = make([]float32, len(prompts)*d)
		}
		for k, i := range order[start:end] {
			copy(all[i*d:(i+1)*d], emb[k*d:(k+1)*d])
		}
	}
	return all, nil
}

// batchOrder is the order in which prompts go through the encoder: by
// token count when batches are cut to their longest prompt (so that short
// prompts share batches and a long one does not lengthen them all), else
// as given.
func (e *TextEncoder) batchOrder(prompts []string) []int {
	order := make([]int, len(prompts))
	for i := range order {
		order[i] = i
	}
	if !e.dynamic || len(prompts) <= e.batchSize() {
		return order
	}
	lens := make([]int, len(prompts))
	buf := make([]int64, e.seqLen)
	for i, p := range prompts {
		lens[i], _ = e.tok.EncodeTo(buf, p, e.tok.EndID())
	}
	sort.SliceStable(order, func(a, b int) bool { return lens[order[a]] < lens[order[b]] })
	return order
}

func (e *TextEncoder) batchSize() int {
	if e.fixedN > 0 {
		return e.fixedN
	}
	return textBatch
}

func (e *TextEncoder) encodeBatch(prompts []string) ([]float32, error) {
	n := len(prompts)
	rows := n
	if e.fixedN > 0 {
		rows = e.fixedN
	}
	pad := e.tok.EndID()
	ids := make([]int64, rows*e.seqLen)
	lens := make([]int, rows)
	longest := 1
	for i := range ids {
		ids[i] = pad
	}
	for i, p := range prompts {
		k, truncated := e.tok.EncodeTo(ids[i*e.seqLen:(i+1)*e.seqLen], p, pad)
		lens[i] = k
		longest = max(longest, k)
		if truncated && !e.truncated[p] {
			e.truncated[p] = true
			e.log.Warn("prompt longer than the text context; truncated", "prompt", p, "context", e.seqLen)
		}
	}
	for i := n; i < rows; i++ { // padding rows of a fixed batch
		lens[i] = 2
	}
	seq := e.seqLen
	if e.dynamic {
		// CLIP's text encoder is causal and reads the features at the end
		// token: tokens after the longest prompt change nothing.
		seq = longest
		for i := 0; i < rows; i++ {
			copy(ids[i*seq:(i+1)*seq], ids[i*e.seqLen:i*e.seqLen+seq])
		}
		ids = ids[:rows*seq]
	}
	shape := ort.NewShape(int64(rows), int64(seq))
	idsT, err := newIntTensor(e.ids.Type, shape, ids)
	if err != nil {
		return nil, err
	}
	defer idsT.Destroy()
	inputs := []ort.Value{idsT}
	if e.mask != nil {
		mask := make([]int64, rows*seq)
		for i := 0; i < rows; i++ {
			for j := 0; j < min(lens[i], seq); j++ {
				mask[i*seq+j] = 1
			}
		}
		maskT, err := newIntTensor(e.mask.Type, shape, mask)
		if err != nil {
			return nil, err
		}
		defer maskT.Destroy()
		inputs = append(inputs, maskT)
	}
	outs := []ort.Value{nil}
	if e.out.Type == ort.TensorElementDataTypeFloat16 {
		// onnxruntime_go cannot take over a float16 output ONNX Runtime
		// allocates: give it one, of the size the file says.
		if e.out.Shape[1] < 1 {
			return nil, fmt.Errorf("%s: float16 output %s has a dynamic embedding size %v; want a fixed one", e.path, e.out.Name, e.out.Shape)
		}
		t, _, err := newFloatTensor(e.out.Type, ort.NewShape(int64(rows), e.out.Shape[1]))
		if err != nil {
			return nil, err
		}
		outs[0] = t
	}
	err = e.sess.Run(inputs, outs)
	if outs[0] != nil {
		defer outs[0].Destroy()
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", e.path, err)
	}
	shapeOut := outs[0].(interface{ GetShape() ort.Shape }).GetShape()
	if len(shapeOut) != 2 || int(shapeOut[0]) != rows || shapeOut[1] < 1 {
		return nil, fmt.Errorf("%s: output %s has shape %v, want [%d,D]", e.path, e.out.Name, shapeOut, rows)
	}
	d := int(shapeOut[1])
	res := make([]float32, n*d)
	switch t := outs[0].(type) {
	case *ort.Tensor[float32]:
		copy(res, t.GetData())
	case *ort.CustomDataTensor:
		if ort.TensorElementDataType(t.DataType()) != ort.TensorElementDataTypeFloat16 {
			return nil, fmt.Errorf("%s: output %s is not a float32 or float16 tensor", e.path, e.out.Name)
		}
		fromHalf(res, t.GetData())
	default:
		return nil, fmt.Errorf("%s: output %s is not a float32 or float16 tensor", e.path, e.out.Name)
	}
	for i := 0; i < n; i++ {
		if err := normalize(res[i*d : (i+1)*d]); err != nil {
			return nil, fmt.Errorf("%s: prompt %q: %w", e.path, prompts[i], err)
		}
	}
	return res, nil
}

func newIntTensor(typ ort.TensorElementDataType, shape ort.Shape, v []int64) (ort.Value, error) {
	if typ == ort.TensorElementDataTypeInt32 {
		v32 := make([]int32, len(v))
		for i, x := range v {
			v32[i] = int32(x)
		}
		return ort.NewTensor(shape, v32)
	}
	return ort.NewTensor(shape, v)
}

// Close releases the session.
func (e *TextEncoder) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	return e.sess.Destroy()
}
