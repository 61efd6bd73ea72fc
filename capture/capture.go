// Package capture reads camera frames through GoCV (OpenCV): video files,
// image folders, V4L2 devices and RTSP/HTTP(S) streams.
//
// Each Camera has one Run goroutine that supervises a worker goroutine; the
// worker opens the source and reads it continuously, keeping only the newest
// frame. The consumer takes frames with Next (or TryNext, with Ready and
// WaitAny to batch several cameras), at most Config.FPS per second. A frame
// that is replaced before it is taken is counted as skipped, never queued.
// Image folders are the exception: their files are a queue, each delivered
// once, in name order.
//
// Open failures and read errors reconnect with jittered exponential backoff;
// a camera never stops the daemon. An open or read of a file, device or
// stream that blocks for Config.StallTimeout is a stall: the worker is
// abandoned (it closes its capture when OpenCV finally returns) and the
// source is reopened on a fresh worker; at most one abandoned worker per
// camera exists. Every gocv.Mat is closed deterministically: a worker's
// capture owns one reusable read Mat and two scratch Mats (colour
// conversion, rotation), closed when the capture closes; frame pixels,
// cropped to Config.ROI and rotated by Config.Rotate, are copied into pooled
// Go memory owned by the Frame.
package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"
)

// Defaults used when the matching Config field is zero.
const (
	DefaultReconnectMin = time.Second
	DefaultReconnectMax = 30 * time.Second
	DefaultPollInterval = 500 * time.Millisecond
	// DefaultVideoFPS paces a video file whose frame rate OpenCV cannot tell.
	DefaultVideoFPS = 25.0
	// MinPollInterval is the smallest accepted Config.PollInterval.
	MinPollInterval = 10 * time.Millisecond
	// DefaultStallTimeout is how long an open or read may block before the
	// source is reopened.
	DefaultStallTimeout = 10 * time.Second
	// MinStallTimeout is the smallest accepted Config.StallTimeout.
	MinStallTimeout = 100 * time.Millisecond
)

// maxBadFrames is how many unusable frames in a row a live or file source may
// return before the capture is treated as faulty and reopened.
const maxBadFrames = 25

// poolSize is how many spare frame buffers a camera keeps.
const poolSize = 4

var (
	// ErrFinished is returned (wrapped) by Next once a non-looping video file
	// has ended and its last frame has been taken.
	ErrFinished = errors.New("source finished")
	// ErrStopped is returned (wrapped) by Next once Run has returned because
	// its context was done and the last frame has been taken.
	ErrStopped = errors.New("camera stopped")
)

// Frame is one captured image. The consumer that receives it from Next owns
// it and calls Release when done.
type Frame struct {
	// Camera is the name of the camera that captured the frame.
	Camera string
	// Seq numbers the frames a camera accepted, from 1, across reconnects and
	// loops; a gap between two delivered frames is frames skipped.
	Seq uint64
	// Time is when the frame was read.
	Time time.Time
	// Width and Height are the frame size in pixels.
	Width, Height int
	// Data holds packed BGR pixels, row after row, stride 3*Width.
	Data []byte
	// File is the image file's name (no folder) for folder sources, "" otherwise.
	File string

	buf  []byte
	pool *framePool
}

// Release gives the frame's buffer back to its camera's pool. Call it once,
// from one goroutine, when done with the frame; the Frame (and Data) must not
// be used afterwards. A second call does nothing.
func (f *Frame) Release() {
	if f == nil || f.pool == nil {
		return
	}
	p := f.pool
	f.pool = nil
	p.put(f.buf)
	f.buf, f.Data = nil, nil
}

// framePool is a small bounded free list of frame buffers. Unlike sync.Pool it
// is not emptied by the garbage collector, so a steady stream of frames of one
// size allocates no new buffers.
type framePool struct {
	free   chan []byte
	allocs atomic.Int64 // buffers allocated, for tests
}

func newFramePool(n int) *framePool { return &framePool{free: make(chan []byte, n)} }

// get returns a buffer of length n, reused when a large enough one is free.
func (p *framePool) get(n int) []byte {
	select {
	case b := <-p.free:
		if cap(b) >= n {
			return b[:n]
		}
	default:
	}
	p.allocs.Add(1)
	return make([]byte, n)
}

// put offers b for reuse; it is dropped when the pool is full.
func (p *framePool) put(b []byte) {
	if b == nil {
		return
	}
	select {
	case p.free <- b[:0]:
	default:
	}
}

// newFrame returns a frame with a pooled buffer for w x h BGR pixels.
func (p *framePool) newFrame(w, h int) *Frame {
	b := p.get(3 * w * h)
	return &Frame{Width: w, Height: h, Data: b, buf: b, pool: p}
}

// Config describes one camera.
type Config struct {
	// Name identifies the camera in frames, logs and errors. It may not be
	// empty or contain '/', '+', '#' or control characters.
	Name string
	// Source is what to read:
	//   - a bare integer: a V4L2 device index ("0");
	//   - a path under /dev/: a V4L2 device ("/dev/video0");
	//   - an rtsp://, rtsps://, http:// or https:// URL: a stream;
	//   - a path ending in '/' or naming an existing folder: an image folder;
	//   - any other path: a video file.
	Source string
	// Loop replays a video file from the start when it ends, and repeats a
	// folder's images once all have been delivered. Only for files and folders.
	Loop bool
	// FPS is the most frames per second Next hands out; <= 0 means no limit.
	// A V4L2 device is also asked for this frame rate.
	FPS float64
	// Width, Height and FourCC (four characters, e.g. "MJPG") are asked of a
	// V4L2 device when set; a device that does not take them is logged, not
	// failed. Other sources reject them.
	Width, Height int
	FourCC        string
	// ROI crops every frame to a rectangle given as fractions of the
	// (rotated) frame; the zero ROI keeps the whole frame.
	ROI ROI
	// Rotate turns every frame clockwise by 0, 90, 180 or 270 degrees.
	Rotate int
	// DecodeScale decodes Motion JPEG video files and streams (those read
	// through FFmpeg) at 1/2, 1/4 or 1/8 of their size in the DCT domain,
	// which costs a fraction of a full decode and of the resize after it:
	// DecodeScaleAuto (0) picks the largest reduction that keeps MinSide
	// pixels on the short side of the ROI, DecodeScaleFull (1) never
	// reduces, 2, 4 and 8 force it. Other codecs and V4L2 devices are
	// decoded in full. Frames (and so snapshots) come out at the decoded size.
	DecodeScale int
	// MinSide is the fewest pixels the short side of the ROI must keep when
	// DecodeScale is auto: the model's input size (224 for CLIP ViT-B/32).
	// 0 means frames are decoded in full.
	MinSide int
	// ReconnectMin and ReconnectMax bound the exponential backoff between
	// reconnect attempts (defaults DefaultReconnectMin, DefaultReconnectMax).
	ReconnectMin, ReconnectMax time.Duration
	// StallTimeout is how long an open or a read of a video file, device or
	// stream may block before it counts as a fault and the source is reopened
	// (default DefaultStallTimeout, at least MinStallTimeout).
	StallTimeout time.Duration
	// PollInterval is how often a folder source lists its folder for new
	// files (default DefaultPollInterval). A new file is read once its size
	// and modification time are unchanged between two listings.
	PollInterval time.Duration
	// Unpaced reads a video file as fast as frames are taken, handing out
	// every frame (none skipped), instead of at the file's frame rate like
	// a camera. For benchmarks and batch processing; files only.
	Unpaced bool
	// OnState, when set, is called on every change of the camera's state:
	// online after the source opened, offline with the reason after a fault
	// and when Run returns. The state starts offline (no call). Calls come
	// from Run's goroutine, one at a time and in order; OnState must not
	// block for long and must not call Run.
	OnState func(online bool, reason string)
}

// Stats are a camera's counters since New.
type Stats struct {
	// Read counts frames read and accepted (each got a Seq).
	Read uint64
	// Delivered counts frames handed out by Next and TryNext.
	Delivered uint64
	// Scored counts frames the consumer reported with CountScored.
	Scored uint64
	// Skipped counts frames replaced by a newer one before they were taken,
	// and frames of a live source discarded as stale by a fault.
	Skipped uint64
	// Dropped counts unusable frames: empty, undersized, of an unsupported
	// pixel type, or image files that cannot be decoded.
	Dropped uint64
	// Faults counts open failures, read errors and stalls.
	Faults uint64
	// Stalls counts opens and reads that blocked for StallTimeout.
	Stalls uint64
	// Reconnects counts attempts to reopen the source after a fault.
	Reconnects uint64
	// Hung is how many stalled opens or reads were abandoned and have not
	// returned yet: at most one while Run runs (stopping may abandon one
	// more).
	Hung int
	// LastFrame is when the newest frame was read (zero before the first).
	LastFrame time.Time
	// LastFrameAge is how long before the snapshot LastFrame was (0 before
	// the first frame).
	LastFrameAge time.Duration
	// Online tells whether the source is open and has not failed since.
	Online bool
}

// Camera reads one source. Run reads; Next, TryNext, Ready, Stats and
// CountScored may be called concurrently with Run and with each other.
type Camera struct {
	cfg      Config
	log      *slog.Logger
	src      source
	pool     *framePool
	interval time.Duration // Next's minimum spacing; 0 = no limit
	watched  bool          // reads can hang: the stall watchdog applies
	epoch    time.Time     // origin of worker.busy

	started atomic.Bool
	live    atomic.Int32 // worker goroutines running, abandoned ones included

	mu     sync.Mutex
	latest *Frame // newest frame not yet taken
	seq    uint64
	gen    uint64 // the current worker; frames of others are dropped
	stats  Stats
	end    error         // ErrFinished or ErrStopped once Run has returned
	done   chan struct{} // closed when Run returns
	avail  chan struct{} // a frame was published (buffered 1), for Next
	ready  chan struct{} // a frame was published (buffered 1), for Ready
	taken  chan struct{} // a frame was taken (buffered 1)

	nextMu   sync.Mutex // serialises Next and TryNext
	nextAt   time.Time  // earliest time the next frame may be handed out
	nextWait *waiter    // Next's timer for the FPS limit
}

// New validates cfg and returns a camera for it. It does not open the source.
// log may be nil (nothing is logged).
func New(cfg Config, log *slog.Logger) (*Camera, error) {
	if err := checkName(cfg.Name); err != nil {
		return nil, fmt.Errorf("capture: camera with source %q: name: %w", cfg.Source, err)
	}
	errf := func(field, format string, args ...any) error {
		return fmt.Errorf("capture: camera %q: %s: %s", cfg.Name, field, fmt.Sprintf(format, args...))
	}
	spec, err := parseSource(cfg.Source)
	if err != nil {
		return nil, errf("source", "%v", err)
	}
	spec = spec.resolve()
	if cfg.Unpaced && spec.kind != kindFile {
		return nil, errf("unpaced", "only video files can be read unpaced, %s is a %s", spec.display, spec.kind)
	}
	if cfg.Loop && spec.kind != kindFile && spec.kind != kindFolder {
		return nil, errf("loop", "only video files and folders can loop, %s is a %s", spec.display, spec.kind)
	}
	if math.IsNaN(cfg.FPS) || math.IsInf(cfg.FPS, 0) {
		return nil, errf("fps", "must be a finite number, got %v", cfg.FPS)
	}
	if err := checkDevice(cfg, spec); err != nil {
		return nil, errf(err.field, "%s", err.msg)
	}
	if err := cfg.ROI.check(); err != nil {
		return nil, errf("roi", "%v", err)
	}
	if err := checkDecodeScale(cfg.DecodeScale); err != nil {
		return nil, errf("decode_scale", "%v", err)
	}
	if cfg.MinSide < 0 {
		return nil, errf("min_side", "must be >= 0, got %d", cfg.MinSide)
	}
	if _, ok := rotateFlag(cfg.Rotate); !ok {
		return nil, errf("rotate", "must be 0, 90, 180 or 270, got %d", cfg.Rotate)
	}
	if cfg.ReconnectMin < 0 {
		return nil, errf("reconnect.min", "must be >= 0, got %v", cfg.ReconnectMin)
	}
	if cfg.ReconnectMax < 0 {
		return nil, errf("reconnect.max", "must be >= 0, got %v", cfg.ReconnectMax)
	}
	if cfg.ReconnectMin == 0 {
		cfg.ReconnectMin = DefaultReconnectMin
	}
	if cfg.ReconnectMax == 0 {
		cfg.ReconnectMax = max(DefaultReconnectMax, cfg.ReconnectMin)
	}
	if cfg.ReconnectMin > cfg.ReconnectMax {
		return nil, errf("reconnect.min", "%v is more than reconnect.max %v", cfg.ReconnectMin, cfg.ReconnectMax)
	}
	if cfg.StallTimeout == 0 {
		cfg.StallTimeout = DefaultStallTimeout
	}
	if cfg.StallTimeout < MinStallTimeout {
		return nil, errf("stall_timeout", "must be at least %v, got %v", MinStallTimeout, cfg.StallTimeout)
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.PollInterval < MinPollInterval {
		return nil, errf("poll_interval", "must be at least %v, got %v", MinPollInterval, cfg.PollInterval)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Camera{
		cfg:   cfg,
		log:   log.With("camera", cfg.Name),
		pool:  newFramePool(poolSize),
		epoch: time.Now(),
		done:  make(chan struct{}),
		avail: make(chan struct{}, 1),
		ready: make(chan struct{}, 1),
		taken: make(chan struct{}, 1),

		nextWait: newWaiter(),
	}
	if cfg.FPS > 0 {
		c.interval = time.Duration(float64(time.Second) / cfg.FPS)
	}
	opts := frameOpts{roi: cfg.ROI, rotate: cfg.Rotate, decodeScale: cfg.DecodeScale, minSide: cfg.MinSide}
	switch spec.kind {
	case kindFolder:
		c.src = newFolderSource(spec, cfg.Loop, cfg.PollInterval, opts)
	default:
		c.src = &videoSource{spec: spec, opts: opts, props: deviceProps(cfg, spec.kind), log: c.log}
		c.watched = true
	}
	return c, nil
}

// checkName reports why s cannot name a camera.
func checkName(s string) error {
	if s == "" {
		return errors.New("empty")
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%q is not valid UTF-8", s)
	}
	for _, r := range s {
		if r == '/' || r == '+' || r == '#' || unicode.IsControl(r) {
			return fmt.Errorf("%q contains %q", s, r)
		}
	}
	return nil
}

// Name returns the camera's name.
func (c *Camera) Name() string { return c.cfg.Name }

// Config returns the camera's configuration with defaults filled in.
func (c *Camera) Config() Config { return c.cfg }

// Stats returns a snapshot of the camera's counters.
func (c *Camera) Stats() Stats {
	c.mu.Lock()
	st := c.stats
	c.mu.Unlock()
	if !st.LastFrame.IsZero() {
		st.LastFrameAge = max(time.Since(st.LastFrame), 0)
	}
	return st
}

// CountScored adds n to Stats.Scored: the consumer calls it for frames it
// scored.
func (c *Camera) CountScored(n int) {
	if n <= 0 {
		return
	}
	c.mu.Lock()
	c.stats.Scored += uint64(n)
	c.mu.Unlock()
}

// worker is one open of the source and the reads that follow, on its own
// goroutine, so that an open or read that hangs in OpenCV can be abandoned.
// A worker owns its reader and closes it (and its Mats) when it returns,
// however late.
type worker struct {
	gen    uint64
	ctx    context.Context
	cancel context.CancelFunc
	opened chan struct{} // closed once the source is open
	online chan struct{} // closed once Run has marked the camera online
	done   chan struct{} // closed when the worker has returned
	busy   atomic.Int64  // when the blocking call began (ns since epoch + 1); 0 = none

	// Set before done is closed.
	n   int   // frames published
	err error // why it returned
	// Guarded by Camera.mu.
	exited, abandoned bool
}

// openError marks a worker that could not open its source.
type openError struct{ err error }

func (e *openError) Error() string { return e.err.Error() }
func (e *openError) Unwrap() error { return e.err }

// enter and exit bracket a call that may block in OpenCV.
func (c *Camera) enter(w *worker) { w.busy.Store(int64(time.Since(c.epoch)) + 1) }
func (c *Camera) exit(w *worker)  { w.busy.Store(0) }

// busyFor is how long w has been in its current blocking call (0 if none).
func (c *Camera) busyFor(w *worker) time.Duration {
	b := w.busy.Load()
	if b == 0 {
		return 0
	}
	return max(time.Since(c.epoch)-time.Duration(b-1), 1)
}

// startWorker opens the source and reads it on a new goroutine.
func (c *Camera) startWorker(ctx context.Context) *worker {
	c.mu.Lock()
	c.gen++
	gen := c.gen
	c.mu.Unlock()
	wctx, cancel := context.WithCancel(ctx)
	w := &worker{gen: gen, ctx: wctx, cancel: cancel, opened: make(chan struct{}), online: make(chan struct{}), done: make(chan struct{})}
	c.live.Add(1)
	go c.work(w)
	return w
}

// work is a worker's goroutine.
func (c *Camera) work(w *worker) {
	defer func() {
		c.mu.Lock()
		w.exited = true
		if w.abandoned {
			c.stats.Hung--
		}
		c.mu.Unlock()
		c.live.Add(-1)
		close(w.done)
	}()
	c.enter(w)
	r, err := c.src.open()
	c.exit(w)
	if err != nil {
		w.err = &openError{err}
		return
	}
	defer r.close()
	if w.ctx.Err() != nil {
		w.err = w.ctx.Err()
		return
	}
	close(w.opened)
	// No frame before the camera is reported online.
	select {
	case <-w.online:
	case <-w.ctx.Done():
		w.err = w.ctx.Err()
		return
	}
	w.n, w.err = c.readLoop(w, r)
}

// abandon gives up on w: it keeps running until its blocking call returns,
// then closes what it holds; its frames are dropped.
func (c *Camera) abandon(w *worker) {
	w.cancel()
	c.mu.Lock()
	w.abandoned = true
	if !w.exited {
		c.stats.Hung++
	}
	if c.gen == w.gen {
		c.gen++
	}
	c.mu.Unlock()
}

// watchResult is how watch ended.
type watchResult int

const (
	workerDone watchResult = iota
	workerStalled
	runStopped
)

// watch waits for w to return, reporting it online once it opened, and
// reports a stall when w blocks in one call for StallTimeout.
func (c *Camera) watch(ctx context.Context, w *worker, t *time.Timer) watchResult {
	opened := w.opened
	for {
		var tc <-chan time.Time
		if c.watched {
			left := c.cfg.StallTimeout - c.busyFor(w)
			if left <= 0 {
				return workerStalled
			}
			t.Reset(left)
			tc = t.C
		}
		select {
		case <-w.done:
			t.Stop()
			return workerDone
		case <-ctx.Done():
			t.Stop()
			return runStopped
		case <-opened:
			opened = nil
			c.setState(true, "source opened")
			if !isClosed(w.online) {
				close(w.online)
			}
		case <-tc:
		}
		t.Stop()
	}
}

// stopGrace is how long Run waits, once its context is done, for a worker
// to return before abandoning it.
const stopGrace = 2 * time.Second

// Run opens the source and reads it until ctx is done, reconnecting with
// backoff after open failures, read errors and stalls. A non-looping video
// file that ends makes Run return nil after its last frame; otherwise Run
// returns nil once ctx is done. Opens and reads run on a worker goroutine:
// one that blocks for StallTimeout is abandoned and the source reopened on a
// fresh one; it closes its capture and Mats when its call finally returns.
// At most one abandoned worker per camera exists: a second stall waits for
// the first to return before reopening. Otherwise the capture and its Mats
// are closed before Run returns. Run may be called once per Camera; a second
// call returns an error.
func (c *Camera) Run(ctx context.Context) error {
	if !c.started.CompareAndSwap(false, true) {
		return fmt.Errorf("capture: camera %q: Run called twice", c.cfg.Name)
	}
	end := ErrStopped
	var cur, hung *worker
	defer func() {
		if cur != nil {
			cur.cancel()
			select {
			case <-cur.done:
			case <-time.After(stopGrace):
				c.log.Warn("abandoning a blocked read at stop", "source", c.src)
				c.abandon(cur)
			}
		}
		c.finish(end)
	}()

	w := newWaiter()
	defer w.stop()
	bo := backoff{min: c.cfg.ReconnectMin, max: c.cfg.ReconnectMax}
	var wait time.Duration // > 0: reconnect after this delay
	for {
		if wait > 0 {
			if !w.sleep(ctx, wait) {
				return nil
			}
			wait = 0
			c.mu.Lock()
			c.stats.Reconnects++
			c.mu.Unlock()
		}
		if ctx.Err() != nil {
			return nil
		}
		cur = c.startWorker(ctx)
		res := c.watch(ctx, cur, w.t)
		stallErr := fmt.Errorf("no frame for %v", c.cfg.StallTimeout)
		counted := false
		for res == workerStalled && hung != nil && !isClosed(hung.done) {
			// At most one abandoned worker: count the stall now, wait for
			// the previous worker to return, then look at this one again
			// (it may have recovered meanwhile).
			if !counted {
				counted = true
				c.mu.Lock()
				c.stats.Stalls++
				c.mu.Unlock()
				c.markFault("stalled: " + stallErr.Error())
				c.log.Warn("stalled while an abandoned read still blocks: waiting for it before reopening", "source", c.src, "err", stallErr)
			}
			select {
			case <-hung.done:
			case <-cur.done:
			case <-ctx.Done():
				return nil
			}
			res = c.watch(ctx, cur, w.t)
		}
		switch res {
		case runStopped:
			return nil
		case workerStalled:
			c.abandon(cur)
			hung, cur = cur, nil
			wait = bo.next(rand.Float64())
			if counted {
				c.log.Warn("reopening after the stall", "source", c.src, "retry_in", wait)
				continue
			}
			c.mu.Lock()
			c.stats.Stalls++
			c.mu.Unlock()
			c.fault("stalled", stallErr, wait)
			continue
		}
		n, err := cur.n, cur.err
		cur = nil
		if n > 0 {
			bo.reset()
		}
		var oe *openError
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.As(err, &oe):
			wait = bo.next(rand.Float64())
			c.fault("open failed", oe.err, wait)
		case errors.Is(err, io.EOF) && c.cfg.Loop:
			c.log.Debug("looping by reopening", "source", c.src)
		case errors.Is(err, io.EOF):
			c.log.Info("source finished", "source", c.src, "frames", c.Stats().Read)
			end = ErrFinished
			return nil
		default:
			wait = bo.next(rand.Float64())
			c.fault("read failed", err, wait)
		}
	}
}

// isClosed tells whether ch is closed.
func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// fault counts and logs a failure and marks the camera offline. A frame
// of a live source still waiting to be taken is discarded (counted as
// skipped): after a fault it is stale. Folder images wait.
func (c *Camera) fault(msg string, err error, retryIn time.Duration) {
	c.markFault(msg + ": " + err.Error())
	c.log.Warn(msg, "source", c.src, "err", err, "retry_in", retryIn)
}

// markFault counts a fault, discards a stale frame and marks the camera
// offline for reason.
func (c *Camera) markFault(reason string) {
	var stale *Frame
	c.mu.Lock()
	c.stats.Faults++
	if !c.src.queue() && c.latest != nil {
		stale, c.latest = c.latest, nil
		c.stats.Skipped++
	}
	c.mu.Unlock()
	stale.Release()
	c.setState(false, reason)
}

// setState records the camera state; on a change it logs and calls OnState.
// Only Run's goroutine calls it.
func (c *Camera) setState(on bool, reason string) {
	c.mu.Lock()
	was := c.stats.Online
	c.stats.Online = on
	c.mu.Unlock()
	if on == was {
		return
	}
	if on {
		c.log.Info(reason, "source", c.src)
	}
	if c.cfg.OnState != nil {
		c.cfg.OnState(on, reason)
	}
}

// readLoop reads r until it fails, ends (io.EOF) or w is cancelled. It
// returns how many frames it published.
func (c *Camera) readLoop(w *worker, r reader) (int, error) {
	ctx := w.ctx
	queue := c.src.queue() || c.cfg.Unpaced
	iv := r.interval()
	if c.cfg.Unpaced {
		iv = 0
	}
	wt := newWaiter()
	defer wt.stop()
	p := pacer{w: wt}
	n, bad := 0, 0
	for {
		if queue && !c.waitSpace(ctx) {
			return n, ctx.Err()
		}
		if iv > 0 && !p.wait(ctx, iv) {
			return n, ctx.Err()
		}
		if ctx.Err() != nil {
			return n, ctx.Err()
		}
		c.enter(w)
		f, err := r.read(ctx, c.pool)
		c.exit(w)
		if errors.Is(err, io.EOF) && c.cfg.Loop && r.rewind() {
			c.log.Debug("looping", "source", c.src)
			continue
		}
		if err != nil {
			var bf *badFrameError
			if !errors.As(err, &bf) {
				return n, err
			}
			c.mu.Lock()
			current := c.gen == w.gen
			if current {
				c.stats.Dropped++
			}
			c.mu.Unlock()
			if !current {
				return n, context.Canceled
			}
			c.log.Warn("frame dropped", "source", c.src, "err", err)
			bad++
			if !queue && bad >= maxBadFrames {
				return n, fmt.Errorf("%d unusable frames in a row: %w", bad, err)
			}
			continue
		}
		bad = 0
		if !c.publish(f, w.gen) {
			return n, context.Canceled
		}
		n++
	}
}

// publish makes f the newest frame, releasing an untaken older one. A frame
// from a worker that is no longer current is released instead, and publish
// reports false.
func (c *Camera) publish(f *Frame, gen uint64) bool {
	f.Camera = c.cfg.Name
	c.mu.Lock()
	if gen != c.gen {
		c.mu.Unlock()
		f.Release()
		return false
	}
	c.seq++
	f.Seq = c.seq
	c.stats.Read++
	c.stats.LastFrame = f.Time
	old := c.latest
	c.latest = f
	if old != nil {
		c.stats.Skipped++
	}
	c.mu.Unlock()
	old.Release()
	for _, ch := range []chan struct{}{c.avail, c.ready} {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	return true
}

// waitSpace blocks until no frame is waiting to be taken. It reports false
// when ctx is done first.
func (c *Camera) waitSpace(ctx context.Context) bool {
	for {
		c.mu.Lock()
		empty := c.latest == nil
		c.mu.Unlock()
		if empty {
			return true
		}
		select {
		case <-c.taken:
		case <-ctx.Done():
			return false
		}
	}
}

// finish records why Run returned and wakes Next.
func (c *Camera) finish(end error) {
	reason := "stopped"
	if errors.Is(end, ErrFinished) {
		reason = "finished"
	}
	c.setState(false, reason)
	c.mu.Lock()
	c.end = end
	c.mu.Unlock()
	close(c.done)
	select {
	case c.ready <- struct{}{}:
	default:
	}
}

// take removes the waiting frame, if any, and returns it with the end state.
func (c *Camera) take() (*Frame, error) {
	c.mu.Lock()
	f := c.latest
	c.latest = nil
	if f != nil {
		c.stats.Delivered++
	}
	end := c.end
	c.mu.Unlock()
	if f != nil {
		select {
		case c.taken <- struct{}{}:
		default:
		}
		if c.interval > 0 {
			c.nextAt = time.Now().Add(c.interval)
		}
	}
	return f, end
}

// Next returns the newest frame not yet returned, waiting for one when there
// is none and, with an FPS limit, until 1/FPS after the previous frame was
// handed out. Once Run has returned and the last frame has been taken, Next
// returns an error wrapping ErrFinished (the file ended) or ErrStopped. When
// ctx is done first it returns ctx.Err(). Calls are serialised.
func (c *Camera) Next(ctx context.Context) (*Frame, error) {
	c.nextMu.Lock()
	defer c.nextMu.Unlock()
	if c.interval > 0 && !c.nextWait.sleep(ctx, time.Until(c.nextAt)) {
		return nil, ctx.Err()
	}
	for {
		f, end := c.take()
		if f != nil {
			return f, nil
		}
		if end != nil {
			return nil, fmt.Errorf("capture: camera %q: %w", c.cfg.Name, end)
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		select {
		case <-c.avail:
		case <-c.done:
		case <-ctx.Done():
		}
	}
}

// TryNext is Next without waiting: it returns the newest frame not yet
// returned when there is one and the FPS limit allows it now, and nil
// otherwise (also while a Next call is waiting). The caller owns the frame.
// With Ready it lets one goroutine gather frames from several cameras into
// a batch:
//
//	<-cam.Ready()            // or a select over several cameras
//	if f := cam.TryNext(); f != nil { ... }
func (c *Camera) TryNext() *Frame {
	if !c.nextMu.TryLock() {
		return nil
	}
	defer c.nextMu.Unlock()
	if c.interval > 0 && time.Now().Before(c.nextAt) {
		return nil
	}
	f, _ := c.take()
	return f
}

// ReadyAt tells when TryNext may next hand out a frame: ok is false when no
// frame is waiting; at is the FPS limit's earliest time (zero: now).
func (c *Camera) ReadyAt() (at time.Time, ok bool) {
	c.mu.Lock()
	ok = c.latest != nil
	c.mu.Unlock()
	if !ok || c.interval == 0 || !c.nextMu.TryLock() {
		return time.Time{}, ok
	}
	at = c.nextAt
	c.nextMu.Unlock()
	return at, ok
}

// Ready returns a channel that receives (without blocking the camera; one
// pending value at most) each time a new frame is published and once when
// Run returns. It is separate from Next's own wake-ups: use it with TryNext.
func (c *Camera) Ready() <-chan struct{} { return c.ready }

// Done returns a channel closed when Run has returned.
func (c *Camera) Done() <-chan struct{} { return c.done }

// backoff computes exponential reconnect delays between min and max.
type backoff struct {
	min, max, cur time.Duration
}

// step is the un-jittered delay the next call to next will use.
func (b *backoff) step() time.Duration {
	if b.cur < b.min {
		return b.min
	}
	if b.cur > b.max/2 {
		return b.max
	}
	return 2 * b.cur
}

// next advances the backoff and returns the delay to wait. jitter in [0, 1)
// takes up to a fifth off the delay, never below min, so that cameras failing
// together do not reconnect in lockstep.
func (b *backoff) next(jitter float64) time.Duration {
	b.cur = b.step()
	d := b.cur - time.Duration(float64(b.cur)*0.2*jitter)
	return max(d, b.min)
}

// reset starts the backoff over at min.
func (b *backoff) reset() { b.cur = 0 }

// waiter sleeps on one reusable timer.
type waiter struct {
	t *time.Timer
}

func newWaiter() *waiter {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &waiter{t: t}
}

// sleep waits for d; it reports false when ctx is done first.
func (w *waiter) sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	w.t.Reset(d)
	select {
	case <-w.t.C:
		return true
	case <-ctx.Done():
		w.t.Stop()
		return false
	}
}

func (w *waiter) stop() { w.t.Stop() }

// pacer spaces reads of a video file at its frame interval, like a camera.
// It keeps its schedule across loops and falls back to "now" when the reader
// is more than one interval late, so a stall does not cause a burst.
type pacer struct {
	w    *waiter
	next time.Time
}

// wait blocks until the next frame is due; it reports false when ctx is done.
func (p *pacer) wait(ctx context.Context, iv time.Duration) bool {
	now := time.Now()
	if p.next.IsZero() || now.Sub(p.next) > iv {
		p.next = now
	}
	if !p.w.sleep(ctx, p.next.Sub(now)) {
		return false
	}
	p.next = p.next.Add(iv)
	return true
}

// badFrameError is an unusable frame: counted and skipped, not a fault.
type badFrameError struct {
	what string
}

func (e *badFrameError) Error() string { return e.what }

func badFrame(format string, args ...any) error {
	return &badFrameError{what: strings.ReplaceAll(fmt.Sprintf(format, args...), "\n", " ")}
}

// WaitAny blocks until at least one of cams has a frame that TryNext hands
// out now (FPS limits included), and returns nil. It returns an error
// wrapping ErrStopped once every camera's Run has returned with no frame
// left, and ctx.Err() when ctx is done first. It consumes the cameras' Ready
// signals, so one goroutine should gather frames (with TryNext) from the
// cameras it waits on: the multi-camera batching loop is
//
//	for capture.WaitAny(ctx, cams) == nil {
//		sleep(batchWindow)            // let frames of other cameras arrive
//		for _, c := range cams { if f := c.TryNext(); f != nil { batch = append(batch, f) } }
//		score(batch)
//	}
func WaitAny(ctx context.Context, cams []*Camera) error {
	cases := make([]reflect.SelectCase, 0, len(cams)+2)
	cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())})
	for _, c := range cams {
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(c.ready)})
	}
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(t.C)})
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		now := time.Now()
		var soonest time.Time
		stopped := 0
		for _, c := range cams {
			at, ok := c.ReadyAt()
			if ok && !at.After(now) {
				return nil
			}
			if ok && (soonest.IsZero() || at.Before(soonest)) {
				soonest = at
			}
			if !ok && isClosed(c.done) {
				stopped++
			}
		}
		if stopped == len(cams) {
			return fmt.Errorf("capture: all %d cameras: %w", len(cams), ErrStopped)
		}
		t.Stop()
		if !soonest.IsZero() {
			t.Reset(soonest.Sub(now))
		}
		reflect.Select(cases)
	}
}
