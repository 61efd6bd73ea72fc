package daemon

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/autoclipd/autoclipd/capture"
	"github.com/autoclipd/autoclipd/inference/preprocess"
)

// ImageModel is what the batcher needs of an image encoder:
// inference.ImageEncoder implements it. Input(b) returns the input tensor of
// a batch of b images ([b][3][H][W], reused), Run(b) runs it and returns the
// L2-normalised embeddings ([b][D], valid until the next Run).
type ImageModel interface {
	Input(b int) ([]float32, error)
	Run(b int) ([]float32, error)
	Dim() int
	MaxBatch() int
}

// StageTimes receives how long each batch's stages took; nil ignores them.
type StageTimes interface {
	Preprocess(d time.Duration)
	Encode(d time.Duration, batch int)
}

// Batcher runs the image encoder for every camera. Frames from several
// cameras that arrive within the batch window go through the encoder as one
// batch; each frame is preprocessed straight into its slot of the encoder's
// input tensor, so a frame's pixels are converted once and never copied.
//
// A camera submits one frame at a time and waits for its embedding, so no
// queue forms: while the encoder is busy, the camera's reader keeps only the
// newest frame.
type Batcher struct {
	model  ImageModel
	window time.Duration
	max    int
	times  StageTimes
	reqs   chan *embedReq
	active atomic.Int32 // cameras registered: a batch holding all of them need not wait
	pool   sync.Pool

	batches atomic.Uint64
	frames  atomic.Uint64
}

type embedReq struct {
	pre  *preprocess.Preprocessor
	f    *capture.Frame
	in   []float32 // already preprocessed (EmbedPrepared), or nil
	emb  []float32
	err  error
	st   EmbedStats
	done chan struct{}
}

// EmbedStats says how one frame's encoding went.
type EmbedStats struct {
	// Preprocess is the time spent converting this frame.
	Preprocess time.Duration
	// Encode is the encoder run of the batch the frame was in.
	Encode time.Duration
	// Batch is the size of that batch.
	Batch int
}

// NewBatcher builds a batcher over model. window is how long the first frame
// of a batch waits for others (0: no waiting); maxBatch bounds the batch
// (at most model.MaxBatch()).
func NewBatcher(model ImageModel, window time.Duration, maxBatch int, times StageTimes) *Batcher {
	if maxBatch < 1 {
		maxBatch = 1
	}
	if m := model.MaxBatch(); m > 0 && maxBatch > m {
		maxBatch = m
	}
	b := &Batcher{model: model, window: window, max: maxBatch, times: times, reqs: make(chan *embedReq)}
	b.pool.New = func() any { return &embedReq{done: make(chan struct{}, 1)} }
	return b
}

// Register counts a camera that will submit frames; the returned func
// unregisters it. A batch that holds a frame of every registered camera is
// encoded at once, without waiting out the window.
func (b *Batcher) Register() (unregister func()) {
	b.active.Add(1)
	var once sync.Once
	return func() { once.Do(func() { b.active.Add(-1) }) }
}

// Stats returns how many batches and frames were encoded.
func (b *Batcher) Stats() (batches, frames uint64) { return b.batches.Load(), b.frames.Load() }

// ErrStopped is returned by Embed once the batcher has stopped.
var ErrStopped = errors.New("image encoder stopped")

// Embed preprocesses f with pre and encodes it, in a batch with other
// cameras' frames, and writes the embedding into emb (len Dim). It blocks
// until done or ctx is cancelled. f is not released.
func (b *Batcher) Embed(ctx context.Context, pre *preprocess.Preprocessor, f *capture.Frame, emb []float32) (EmbedStats, error) {
	return b.submit(ctx, pre, f, nil, emb)
}

// EmbedPrepared encodes one image already preprocessed into in (the
// encoder's [3][H][W] input), in a batch with other cameras' frames, and
// writes the embedding into emb. Preprocessing into a buffer of the caller's
// lets it prepare the next frame while this one is encoded; the batcher
// copies in into the encoder's tensor.
func (b *Batcher) EmbedPrepared(ctx context.Context, in, emb []float32) (EmbedStats, error) {
	return b.submit(ctx, nil, nil, in, emb)
}

func (b *Batcher) submit(ctx context.Context, pre *preprocess.Preprocessor, f *capture.Frame, in, emb []float32) (EmbedStats, error) {
	r := b.pool.Get().(*embedReq)
	r.pre, r.f, r.in, r.emb, r.err, r.st = pre, f, in, emb, nil, EmbedStats{}
	select {
	case b.reqs <- r:
	case <-ctx.Done():
		b.pool.Put(r)
		return EmbedStats{}, ctx.Err()
	}
	// Once submitted, the batcher owns r until it signals done; f and emb
	// must stay valid until then, so wait even if ctx ends (a batch takes
	// one encoder run at most).
	<-r.done
	err, st := r.err, r.st
	r.pre, r.f, r.in, r.emb = nil, nil, nil, nil
	b.pool.Put(r)
	return st, err
}

// Run encodes batches until ctx is cancelled.
func (b *Batcher) Run(ctx context.Context) error {
	batch := make([]*embedReq, 0, b.max)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		batch = batch[:0]
		select {
		case r := <-b.reqs:
			batch = append(batch, r)
		case <-ctx.Done():
			return nil
		}
		if b.window > 0 && b.max > 1 {
			timer.Reset(b.window)
		collect:
			for len(batch) < b.max && len(batch) < int(b.active.Load()) {
				select {
				case r := <-b.reqs:
					batch = append(batch, r)
				case <-timer.C:
					break collect
				}
			}
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
		}
		b.encode(batch)
	}
}

// encode runs one batch and answers every request in it.
func (b *Batcher) encode(batch []*embedReq) {
	n := len(batch)
	finish := func(err error) {
		for _, r := range batch {
			if r.err == nil {
				r.err = err
			}
			r.done <- struct{}{}
		}
	}
	in, err := b.model.Input(n)
	if err != nil {
		finish(err)
		return
	}
	size := len(in) / n
	start := time.Now()
	for i, r := range batch {
		slot := in[i*size : (i+1)*size]
		if r.in != nil {
			if len(r.in) != size {
				r.err = fmt.Errorf("prepared input of %d values, the encoder takes %d", len(r.in), size)
				continue
			}
			copy(slot, r.in)
			continue
		}
		f := r.f
		t0 := time.Now()
		r.err = r.pre.Run(slot, f.Data, f.Width, f.Height, 3*f.Width, preprocess.BGR)
		r.st.Preprocess = time.Since(t0)
	}
	mid := time.Now()
	out, err := b.model.Run(n)
	end := time.Now()
	if b.times != nil {
		b.times.Preprocess(mid.Sub(start))
		b.times.Encode(end.Sub(mid), n)
	}
	for _, r := range batch {
		r.st.Encode, r.st.Batch = end.Sub(mid), n
	}
	if err == nil {
		d := b.model.Dim()
		for i, r := range batch {
			if r.err == nil {
				copy(r.emb, out[i*d:(i+1)*d])
			}
		}
		b.batches.Add(1)
		b.frames.Add(uint64(n))
	}
	finish(err)
}
