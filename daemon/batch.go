package daemon

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
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

// Batcher runs the image encoder for every camera. Frames from several
// cameras that arrive within the batch window go through the encoder as one
// batch; each camera preprocesses its frame into a buffer of its own (while
// the previous batch encodes) and the batcher copies it into its slot of the
// encoder's reused input tensor.
//
// A camera submits one frame at a time and waits for its embedding, so no
// queue forms: while the encoder is busy, the camera's reader keeps only the
// newest frame.
type Batcher struct {
	model  ImageModel
	window time.Duration
	max    int
	reqs   chan *embedReq
	active atomic.Int32 // cameras registered: a batch holding all of them need not wait
	pool   sync.Pool

	batches atomic.Uint64
	frames  atomic.Uint64
}

type embedReq struct {
	in   []float32 // the preprocessed image
	emb  []float32
	err  error
	st   EmbedStats
	done chan struct{}
}

// EmbedStats says how one frame's encoding went.
type EmbedStats struct {
	// Encode is the encoder run of the batch the frame was in.
	Encode time.Duration
	// Batch is the size of that batch.
	Batch int
}

// NewBatcher builds a batcher over model. window is how long the first frame
// of a batch waits for others (0: no waiting); maxBatch bounds the batch
// (at most model.MaxBatch()).
func NewBatcher(model ImageModel, window time.Duration, maxBatch int) *Batcher {
	if maxBatch < 1 {
		maxBatch = 1
	}
	if m := model.MaxBatch(); m > 0 && maxBatch > m {
		maxBatch = m
	}
	b := &Batcher{model: model, window: window, max: maxBatch, reqs: make(chan *embedReq)}
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

// Embed encodes one image already preprocessed into in (the encoder's
// [3][H][W] input), in a batch with other cameras' frames, and writes the
// embedding into emb (len Dim). Preprocessing into a buffer of the caller's
// lets it prepare the next frame while this one is encoded; the batcher
// copies in into the encoder's tensor. It blocks until done or ctx is
// cancelled.
func (b *Batcher) Embed(ctx context.Context, in, emb []float32) (EmbedStats, error) {
	r := b.pool.Get().(*embedReq)
	r.in, r.emb, r.err, r.st = in, emb, nil, EmbedStats{}
	select {
	case b.reqs <- r:
	case <-ctx.Done():
		b.pool.Put(r)
		return EmbedStats{}, ctx.Err()
	}
	// Once submitted, the batcher owns r until it signals done; in and emb
	// must stay valid until then, so wait even if ctx ends (a batch takes
	// one encoder run at most).
	<-r.done
	err, st := r.err, r.st
	r.in, r.emb = nil, nil
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
	for i, r := range batch {
		if len(r.in) != size {
			r.err = fmt.Errorf("preprocessed input of %d values, the encoder takes %d", len(r.in), size)
			continue
		}
		copy(in[i*size:(i+1)*size], r.in)
	}
	start := time.Now()
	out, err := b.model.Run(n)
	took := time.Since(start)
	for _, r := range batch {
		r.st.Encode, r.st.Batch = took, n
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
