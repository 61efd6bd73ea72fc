package daemon

import (
	"fmt"
	"sync"

	"github.com/autoclipd/autoclipd/autoclip"
	"github.com/autoclipd/autoclipd/capture"
	"github.com/autoclipd/autoclipd/config"
	"github.com/autoclipd/autoclipd/inference"
	"github.com/autoclipd/autoclipd/inference/preprocess"
	"github.com/autoclipd/autoclipd/inference/textcache"
	"github.com/autoclipd/autoclipd/publish"
)

// LabelSet is a label set with its classifier, ready to score. It is
// immutable and safe for concurrent use (each goroutine needs its own
// autoclip.Workspace).
type LabelSet struct {
	Set        *config.LabelSet
	Classifier *autoclip.Classifier
	// Encoded and Cached count the distinct prompts the text encoder ran on
	// and those the text-embedding cache held.
	Encoded, Cached int
}

// EncodeLabelSet encodes the prompts of set with the text encoder (only
// those cache lacks; cache may be nil), averages each class's name and
// aliases per template into AutoCLIP's K x C descriptors and builds the
// classifier.
func EncodeLabelSet(set *config.LabelSet, text *inference.TextEncoder, cache *textcache.Cache, opts autoclip.Options) (*LabelSet, error) {
	plan := set.PromptPlan()
	emb, st, err := textcache.EncodeWithCache(cache, plan.Prompts, text.Encode)
	if err != nil {
		return nil, fmt.Errorf("label set %s: %w", set.Path, err)
	}
	desc, err := plan.Combine(emb, text.Dim())
	if err != nil {
		return nil, fmt.Errorf("label set %s: %w", set.Path, err)
	}
	clf, err := autoclip.New(desc, plan.K, plan.C, text.Dim(), opts)
	if err != nil {
		return nil, fmt.Errorf("label set %s: %w", set.Path, err)
	}
	return &LabelSet{Set: set, Classifier: clf, Encoded: st.Encoded, Cached: st.Hits}, nil
}

// Labels returns the top n labels of r, best first. idx is scratch space,
// returned for reuse.
func (ls *LabelSet) Labels(r autoclip.Result, n int, idx []int) ([]publish.LabelScore, []int) {
	idx = autoclip.TopK(r.Scores, n, idx[:0])
	out := make([]publish.LabelScore, len(idx))
	for i, j := range idx {
		out[i] = publish.LabelScore{Label: ls.Set.Classes[j].Name, Score: r.Scores[j], Probability: r.Probs[j]}
	}
	return out, idx
}

// Weights describes the template weights of r: the n heaviest templates and
// the entropy in bits.
func (ls *LabelSet) Weights(r autoclip.Result, n int) *publish.Weights {
	idx := autoclip.TopK(r.Weights, n, nil)
	w := &publish.Weights{EntropyBits: r.Entropy, Count: len(r.Weights), Top: make([]publish.TemplateWeight, len(idx))}
	for i, k := range idx {
		w.Top[i] = publish.TemplateWeight{Template: ls.Set.Templates[k], Weight: r.Weights[k]}
	}
	return w
}

// Encoder serialises access to the image encoder, whose tensors are reused.
type Encoder struct {
	mu  sync.Mutex
	img *inference.ImageEncoder
}

// NewEncoder wraps img.
func NewEncoder(img *inference.ImageEncoder) *Encoder { return &Encoder{img: img} }

// Dim is the embedding size.
func (e *Encoder) Dim() int { return e.img.Dim() }

// Embed preprocesses f with pre straight into the encoder's input tensor,
// runs the encoder and copies the L2-normalised embedding into emb.
func (e *Encoder) Embed(pre *preprocess.Preprocessor, f *capture.Frame, emb []float32) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	in, err := e.img.Input(1)
	if err != nil {
		return err
	}
	if err := pre.Run(in, f.Data, f.Width, f.Height, 3*f.Width, preprocess.BGR); err != nil {
		return err
	}
	out, err := e.img.Run(1)
	if err != nil {
		return err
	}
	copy(emb, out)
	return nil
}
