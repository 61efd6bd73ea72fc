package capture

import (
	"fmt"
	"image"
	"math"
	"strings"
	"time"

	"gocv.io/x/gocv"
)

// MinFrameSide is the smallest width and height a decoded frame may have;
// smaller frames are dropped as undersized.
const MinFrameSide = 8

// ROI is a region of interest as fractions of the frame: X and Y of its top
// left corner, W and H of its size, all measured on the frame after
// Config.Rotate. The zero ROI means the whole frame.
type ROI struct {
	X, Y, W, H float64
}

// IsZero tells whether r is the zero ROI (the whole frame).
func (r ROI) IsZero() bool { return r == ROI{} }

// roiSlack absorbs rounding in configured fractions (0.1 + 0.9 > 1).
const roiSlack = 1e-9

// check reports why r is not a usable region.
func (r ROI) check() error {
	if r.IsZero() {
		return nil
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"x", r.X}, {"y", r.Y}, {"w", r.W}, {"h", r.H}} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			return fmt.Errorf("%s must be a finite number, got %v", f.name, f.v)
		}
	}
	switch {
	case r.X < 0 || r.X >= 1:
		return fmt.Errorf("x must be in [0, 1), got %v", r.X)
	case r.Y < 0 || r.Y >= 1:
		return fmt.Errorf("y must be in [0, 1), got %v", r.Y)
	case r.W <= 0 || r.W > 1:
		return fmt.Errorf("w must be in (0, 1], got %v", r.W)
	case r.H <= 0 || r.H > 1:
		return fmt.Errorf("h must be in (0, 1], got %v", r.H)
	case r.X+r.W > 1+roiSlack:
		return fmt.Errorf("x+w = %v is more than 1", r.X+r.W)
	case r.Y+r.H > 1+roiSlack:
		return fmt.Errorf("y+h = %v is more than 1", r.Y+r.H)
	}
	return nil
}

// source maps r, given on the frame rotated clockwise by rotate degrees, to
// the same region as fractions of the unrotated frame.
func (r ROI) source(rotate int) ROI {
	switch rotate {
	case 90: // output (x', y') shows source (y', 1-x')
		return ROI{X: r.Y, Y: 1 - r.X - r.W, W: r.H, H: r.W}
	case 180:
		return ROI{X: 1 - r.X - r.W, Y: 1 - r.Y - r.H, W: r.W, H: r.H}
	case 270: // output (x', y') shows source (1-y', x')
		return ROI{X: 1 - r.Y - r.H, Y: r.X, W: r.H, H: r.W}
	}
	return r
}

// rect returns the pixels of a w x h source frame that r (given on the
// frame after rotating it by rotate) covers: at least one pixel.
func (r ROI) rect(w, h, rotate int) image.Rectangle {
	s := r.source(rotate)
	span := func(off, size float64, n int) (int, int) {
		a := min(max(int(math.Round(off*float64(n))), 0), n-1)
		b := min(max(int(math.Round((off+size)*float64(n))), a+1), n)
		return a, b
	}
	x0, x1 := span(s.X, s.W, w)
	y0, y1 := span(s.Y, s.H, h)
	return image.Rect(x0, y0, x1, y1)
}

// rotateFlag is OpenCV's code for a clockwise rotation by deg degrees; ok is
// false for anything but 0, 90, 180 and 270 (0 needs no rotation).
func rotateFlag(deg int) (flag gocv.RotateFlag, ok bool) {
	switch deg {
	case 0:
		return 0, true
	case 90:
		return gocv.Rotate90Clockwise, true
	case 180:
		return gocv.Rotate180Clockwise, true
	case 270:
		return gocv.Rotate90CounterClockwise, true
	}
	return 0, false
}

// frameOpts are the per-camera changes made to every frame.
type frameOpts struct {
	roi    ROI
	rotate int
	// decodeScale and minSide choose the Motion JPEG decode size (Config).
	decodeScale, minSide int
}

// converter turns decoded Mats into packed BGR frames, cropped and rotated
// per its frameOpts. It owns two scratch Mats, closed by close; one
// goroutine uses it at a time.
type converter struct {
	opts      frameOpts
	conv, rot gocv.Mat
}

func newConverter(o frameOpts) *converter {
	return &converter{opts: o, conv: gocv.NewMat(), rot: gocv.NewMat()}
}

// frame crops m to the ROI (a view, no copy), rotates it, and copies the
// result into a pooled frame. Empty and undersized Mats are bad frames.
func (v *converter) frame(m *gocv.Mat, p *framePool) (*Frame, error) {
	if m.Empty() {
		return nil, badFrame("empty frame")
	}
	if w, h := m.Cols(), m.Rows(); w < MinFrameSide || h < MinFrameSide {
		return nil, badFrame("undersized frame %dx%d (at least %dx%d)", w, h, MinFrameSide, MinFrameSide)
	}
	src := m
	if !v.opts.roi.IsZero() {
		reg := m.Region(v.opts.roi.rect(m.Cols(), m.Rows(), v.opts.rotate))
		defer reg.Close()
		src = &reg
	}
	if flag, _ := rotateFlag(v.opts.rotate); v.opts.rotate != 0 {
		gocv.Rotate(*src, &v.rot, flag)
		src = &v.rot
	}
	return copyFrame(src, &v.conv, p)
}

func (v *converter) close() {
	v.conv.Close()
	v.rot.Close()
}

// fieldError is a Config field that is wrong.
type fieldError struct {
	field, msg string
}

// checkDevice checks the V4L2 settings: only devices take them.
func checkDevice(cfg Config, spec sourceSpec) *fieldError {
	for _, f := range []struct {
		name string
		v    int
	}{{"width", cfg.Width}, {"height", cfg.Height}} {
		if f.v < 0 {
			return &fieldError{f.name, fmt.Sprintf("must be >= 0, got %d", f.v)}
		}
		if f.v > 1<<16 {
			return &fieldError{f.name, fmt.Sprintf("%d is more than %d", f.v, 1<<16)}
		}
	}
	if cfg.FourCC != "" {
		if len(cfg.FourCC) != 4 || strings.IndexFunc(cfg.FourCC, func(r rune) bool { return r < ' ' || r > '~' }) >= 0 {
			return &fieldError{"fourcc", fmt.Sprintf("want 4 printable ASCII characters, got %q", cfg.FourCC)}
		}
	}
	if spec.kind != kindDevice {
		for _, f := range []struct {
			name string
			set  bool
		}{{"width", cfg.Width != 0}, {"height", cfg.Height != 0}, {"fourcc", cfg.FourCC != ""}} {
			if f.set {
				return &fieldError{f.name, fmt.Sprintf("only V4L2 devices take width, height and fourcc; %s is a %s", spec.display, spec.kind)}
			}
		}
	}
	return nil
}

// deviceProp is one VideoCapture property asked of a device.
type deviceProp struct {
	name  string
	prop  gocv.VideoCaptureProperties
	value float64
}

// fourccValue packs a four-character code as OpenCV's CAP_PROP_FOURCC does.
func fourccValue(s string) float64 {
	var v uint32
	for i := range 4 {
		v |= uint32(s[i]) << (8 * i)
	}
	return float64(v)
}

// fourccString unpacks a CAP_PROP_FOURCC value.
func fourccString(v float64) string {
	u := uint32(v)
	b := make([]byte, 4)
	for i := range 4 {
		b[i] = byte(u >> (8 * i))
	}
	return string(b)
}

// deviceProps lists the properties to set on a V4L2 device, in the order
// V4L2 needs: the pixel format before the size, the size before the rate.
// It is empty for other sources.
func deviceProps(cfg Config, kind sourceKind) []deviceProp {
	if kind != kindDevice {
		return nil
	}
	var ps []deviceProp
	if cfg.FourCC != "" {
		ps = append(ps, deviceProp{"fourcc", gocv.VideoCaptureFOURCC, fourccValue(cfg.FourCC)})
	}
	if cfg.Width > 0 {
		ps = append(ps, deviceProp{"width", gocv.VideoCaptureFrameWidth, float64(cfg.Width)})
	}
	if cfg.Height > 0 {
		ps = append(ps, deviceProp{"height", gocv.VideoCaptureFrameHeight, float64(cfg.Height)})
	}
	if cfg.FPS > 0 {
		ps = append(ps, deviceProp{"fps", gocv.VideoCaptureFPS, cfg.FPS})
	}
	return ps
}

// propSetter is the part of gocv.VideoCapture that applyProps uses.
type propSetter interface {
	Set(prop gocv.VideoCaptureProperties, value float64)
	Get(prop gocv.VideoCaptureProperties) float64
}

// applyProps sets ps on vc in order and reads each back; it returns one line
// per setting the capture did not take (devices pick the nearest mode).
func applyProps(vc propSetter, ps []deviceProp) []string {
	var out []string
	for _, p := range ps {
		vc.Set(p.prop, p.value)
		got := vc.Get(p.prop)
		switch {
		case p.prop == gocv.VideoCaptureFOURCC:
			if uint32(got) != uint32(p.value) {
				out = append(out, fmt.Sprintf("fourcc: asked %q, got %q", fourccString(p.value), fourccString(got)))
			}
		case math.Abs(got-p.value) > 0.5:
			out = append(out, fmt.Sprintf("%s: asked %v, got %v", p.name, p.value, got))
		}
	}
	return out
}

// FFmpegOptionsEnv is the environment variable through which OpenCV passes
// options to FFmpeg when it opens a file or stream.
const FFmpegOptionsEnv = "OPENCV_FFMPEG_CAPTURE_OPTIONS"

// FFmpegOptions returns a value for FFmpegOptionsEnv that makes FFmpeg give
// up a network read or open that has received nothing for timeout (its
// rw_timeout), instead of its 30 s default. A read abandoned by the stall
// watchdog then returns, and closes its capture, soon after. The variable is
// read by every open, process-wide: set it once, in main, before cameras
// run, and only when the user has not set it.
func FFmpegOptions(timeout time.Duration) string {
	return fmt.Sprintf("rw_timeout;%d", max(timeout.Microseconds(), 1))
}
