package capture

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Colours used by the tests (BGR), far apart so JPEG error cannot confuse them.
var (
	red   = [3]uint8{0, 0, 220}
	green = [3]uint8{0, 200, 0}
	blue  = [3]uint8{210, 0, 0}
	white = [3]uint8{230, 230, 230}
	black = [3]uint8{20, 20, 20}
)

// jpegTolerance is how far a decoded JPEG pixel may be from the colour drawn.
const jpegTolerance = 24

// writeColours writes a colour video into dir and returns its path.
func writeColours(t testing.TB, dir, name string, fps float64, segs []ColourSegment) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := WriteColourVideo(p, 64, 48, fps, segs); err != nil {
		t.Fatal(err)
	}
	return p
}

// solid returns a w x h packed BGR image of one colour.
func solid(w, h int, c [3]uint8) []byte {
	b := make([]byte, 3*w*h)
	for i := 0; i < len(b); i += 3 {
		b[i], b[i+1], b[i+2] = c[0], c[1], c[2]
	}
	return b
}

// writeSolidImage writes a solid image atomically (temp name, then rename),
// as an upload tool would, and returns its path.
func writeSolidImage(t testing.TB, dir, name string, c [3]uint8) string {
	t.Helper()
	tmp := filepath.Join(t.TempDir(), name)
	if err := WriteImage(tmp, 32, 24, solid(32, 24, c)); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
	return p
}

// meanColour averages a frame's pixels.
func meanColour(f *Frame) [3]float64 {
	var s [3]float64
	for i := 0; i+2 < len(f.Data); i += 3 {
		s[0] += float64(f.Data[i])
		s[1] += float64(f.Data[i+1])
		s[2] += float64(f.Data[i+2])
	}
	n := float64(len(f.Data) / 3)
	return [3]float64{s[0] / n, s[1] / n, s[2] / n}
}

// checkColour fails unless every channel of f's mean is within tol of want.
func checkColour(t testing.TB, f *Frame, want [3]uint8, tol float64) {
	t.Helper()
	got := meanColour(f)
	for i := range 3 {
		if math.Abs(got[i]-float64(want[i])) > tol {
			t.Fatalf("frame seq %d (%s): mean BGR %.1f, want %v (tolerance %v)", f.Seq, f.File, got, want, tol)
		}
	}
}

// checkFrameShape fails unless f is well formed.
func checkFrameShape(t testing.TB, f *Frame, name string, w, h int) {
	t.Helper()
	if f.Camera != name || f.Width != w || f.Height != h || len(f.Data) != 3*w*h || f.Time.IsZero() || f.Seq == 0 {
		t.Fatalf("frame: camera %q %dx%d, %d bytes, time %v, seq %d; want camera %q %dx%d, %d bytes",
			f.Camera, f.Width, f.Height, len(f.Data), f.Time, f.Seq, name, w, h, 3*w*h)
	}
}

// running is a camera whose Run goroutine the test controls.
type running struct {
	*Camera
	cancel context.CancelFunc
	errc   chan error
	once   sync.Once
	err    error
}

// start builds a camera and runs it until the test ends or stop is called.
func start(t testing.TB, cfg Config, log *slog.Logger) *running {
	t.Helper()
	c, err := New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Camera: c, cancel: cancel, errc: make(chan error, 1)}
	go func() { r.errc <- c.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels Run and waits (bounded) for it to return.
func (r *running) stop(t testing.TB) error {
	t.Helper()
	r.once.Do(func() {
		r.cancel()
		select {
		case r.err = <-r.errc:
		case <-time.After(5 * time.Second):
			r.err = errors.New("Run did not return within 5s of cancel")
		}
	})
	if r.err != nil {
		t.Errorf("Run: %v", r.err)
	}
	return r.err
}

// wait waits (bounded) for Run to return on its own.
func (r *running) wait(t testing.TB, d time.Duration) {
	t.Helper()
	select {
	case err := <-r.errc:
		r.once.Do(func() { r.err = err; r.cancel() })
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(d):
		t.Fatalf("Run did not return within %v", d)
	}
}

// next calls Next with a timeout.
func (r *running) next(t testing.TB, d time.Duration) (*Frame, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return r.Next(ctx)
}

// mustNext calls Next with a timeout and fails the test on error.
func (r *running) mustNext(t testing.TB, d time.Duration) *Frame {
	t.Helper()
	f, err := r.next(t, d)
	if err != nil {
		t.Fatalf("Next: %v (stats %+v)", err, r.Stats())
	}
	return f
}

// eventually polls cond until it holds or d passes.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// logRecorder is an slog.Handler that keeps records for assertions.
type logRecorder struct {
	mu   *sync.Mutex
	recs *[]slog.Record
}

func newLogRecorder() (*slog.Logger, *logRecorder) {
	h := &logRecorder{mu: &sync.Mutex{}, recs: &[]slog.Record{}}
	return slog.New(h), h
}

func (h *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	*h.recs = append(*h.recs, r.Clone())
	return nil
}
func (h *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *logRecorder) WithGroup(string) slog.Handler      { return h }

// durations returns the values of attribute key in records with message msg.
func (h *logRecorder) durations(msg, key string) []time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []time.Duration
	for _, r := range *h.recs {
		if r.Message != msg {
			continue
		}
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == key {
				out = append(out, a.Value.Duration())
			}
			return true
		})
	}
	return out
}

// messages returns the records' messages, with their errors.
func (h *logRecorder) messages() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, r := range *h.recs {
		s := r.Message
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "err" {
				s += fmt.Sprintf(" (%v)", a.Value)
			}
			return true
		})
		out = append(out, s)
	}
	return out
}
