// Package capture reads camera frames through GoCV (OpenCV): video files,
// image folders, V4L2 devices and RTSP/HTTP(S) streams.
//
// Each Camera has one reader goroutine (Run) that reads its source
// continuously and keeps only the newest frame; the consumer takes frames with
// Next, at most Config.FPS per second. A frame that is replaced before it is
// taken is counted as skipped, never queued. Image folders are the exception:
// their files are a queue, each delivered once, in name order.
//
// Open failures and read errors reconnect with jittered exponential backoff;
// a camera never stops the daemon. Every gocv.Mat is closed deterministically:
// a capture owns one reusable read Mat (and one conversion Mat), both closed
// when the capture closes, and frame pixels are copied into pooled Go memory
// owned by the Frame.
package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
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
	free chan []byte
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
	FPS float64
	// ReconnectMin and ReconnectMax bound the exponential backoff between
	// reconnect attempts (defaults DefaultReconnectMin, DefaultReconnectMax).
	ReconnectMin, ReconnectMax time.Duration
	// PollInterval is how often a folder source lists its folder for new
	// files (default DefaultPollInterval). A new file is read once its size
	// and modification time are unchanged between two listings.
	PollInterval time.Duration
}

// Stats are a camera's counters since New.
type Stats struct {
	// Read counts frames read and accepted (each got a Seq).
	Read uint64
	// Delivered counts frames handed out by Next.
	Delivered uint64
	// Skipped counts frames replaced by a newer one before Next took them.
	Skipped uint64
	// Dropped counts unusable frames: empty, of an unsupported pixel type, or
	// image files that cannot be decoded.
	Dropped uint64
	// Reconnects counts attempts to reopen the source after a fault.
	Reconnects uint64
	// LastFrame is when the newest frame was read (zero before the first).
	LastFrame time.Time
	// Online tells whether the source is open and has not failed since.
	Online bool
}

// Camera reads one source. Run reads; Next and Stats may be called
// concurrently with Run and with each other.
type Camera struct {
	cfg      Config
	log      *slog.Logger
	src      source
	pool     *framePool
	interval time.Duration // Next's minimum spacing; 0 = no limit

	started atomic.Bool

	mu     sync.Mutex
	latest *Frame // newest frame not yet taken
	seq    uint64
	stats  Stats
	end    error         // ErrFinished or ErrStopped once Run has returned
	done   chan struct{} // closed when Run returns
	avail  chan struct{} // a frame was published (buffered 1)
	taken  chan struct{} // Next took a frame (buffered 1)

	nextMu   sync.Mutex // serialises Next
	nextAt   time.Time  // earliest time Next may hand out the next frame
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
	if cfg.Loop && spec.kind != kindFile && spec.kind != kindFolder {
		return nil, errf("loop", "only video files and folders can loop, %s is a %s", spec.display, spec.kind)
	}
	if math.IsNaN(cfg.FPS) || math.IsInf(cfg.FPS, 0) {
		return nil, errf("fps", "must be a finite number, got %v", cfg.FPS)
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
		done:  make(chan struct{}),
		avail: make(chan struct{}, 1),
		taken: make(chan struct{}, 1),

		nextWait: newWaiter(),
	}
	if cfg.FPS > 0 {
		c.interval = time.Duration(float64(time.Second) / cfg.FPS)
	}
	switch spec.kind {
	case kindFolder:
		c.src = newFolderSource(spec, cfg.Loop, cfg.PollInterval)
	default:
		c.src = &videoSource{spec: spec}
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
	defer c.mu.Unlock()
	return c.stats
}

// Run opens the source and reads it until ctx is done, reconnecting with
// backoff after open failures and read errors. A non-looping video file that
// ends makes Run return nil after its last frame; otherwise Run returns nil
// once ctx is done. The capture and its Mats are closed before Run returns.
// Run may be called once per Camera; a second call returns an error.
func (c *Camera) Run(ctx context.Context) error {
	if !c.started.CompareAndSwap(false, true) {
		return fmt.Errorf("capture: camera %q: Run called twice", c.cfg.Name)
	}
	end := ErrStopped
	defer func() { c.finish(end) }()

	w := newWaiter()
	defer w.stop()
	bo := backoff{min: c.cfg.ReconnectMin, max: c.cfg.ReconnectMax}
	p := pacer{w: w}
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
		r, err := c.src.open()
		if err != nil {
			wait = bo.next(rand.Float64())
			c.fault("open failed", err, wait)
			continue
		}
		c.setOnline(true, "source opened")
		n, err := c.readLoop(ctx, r, &p)
		r.close()
		if n > 0 {
			bo.reset()
		}
		switch {
		case ctx.Err() != nil:
			return nil
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

// fault logs a failure and marks the camera offline.
func (c *Camera) fault(msg string, err error, retryIn time.Duration) {
	c.setOnline(false, "")
	c.log.Warn(msg, "source", c.src, "err", err, "retry_in", retryIn)
}

// setOnline records the camera state, logging msg when it turns online.
func (c *Camera) setOnline(on bool, msg string) {
	c.mu.Lock()
	was := c.stats.Online
	c.stats.Online = on
	c.mu.Unlock()
	if on && !was && msg != "" {
		c.log.Info(msg, "source", c.src)
	}
}

// readLoop reads r until it fails, ends (io.EOF) or ctx is done. It returns
// how many frames it published.
func (c *Camera) readLoop(ctx context.Context, r reader, p *pacer) (int, error) {
	queue := c.src.queue()
	iv := r.interval()
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
		f, err := r.read(ctx, c.pool)
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
			c.stats.Dropped++
			c.mu.Unlock()
			c.log.Warn("frame dropped", "source", c.src, "err", err)
			bad++
			if !queue && bad >= maxBadFrames {
				return n, fmt.Errorf("%d unusable frames in a row: %w", bad, err)
			}
			continue
		}
		bad = 0
		n++
		c.publish(f)
	}
}

// publish makes f the newest frame, releasing an untaken older one.
func (c *Camera) publish(f *Frame) {
	f.Camera = c.cfg.Name
	c.mu.Lock()
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
	select {
	case c.avail <- struct{}{}:
	default:
	}
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
	c.mu.Lock()
	c.end = end
	c.stats.Online = false
	c.mu.Unlock()
	close(c.done)
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
