package capture

import (
	"errors"
	"image"
	"math"
	"slices"
	"strconv"
	"testing"
	"time"

	"gocv.io/x/gocv"
)

func TestROIRect(t *testing.T) {
	tests := []struct {
		name   string
		roi    ROI
		rotate int
		w, h   int
		want   image.Rectangle
	}{
		{name: "whole", roi: ROI{0, 0, 1, 1}, w: 40, h: 20, want: image.Rect(0, 0, 40, 20)},
		{name: "top left quarter", roi: ROI{0, 0, .5, .5}, w: 40, h: 20, want: image.Rect(0, 0, 20, 10)},
		{name: "bottom right quarter", roi: ROI{.5, .5, .5, .5}, w: 40, h: 20, want: image.Rect(20, 10, 40, 20)},
		{name: "strip", roi: ROI{.25, .1, .5, .3}, w: 40, h: 20, want: image.Rect(10, 2, 30, 8)},
		// The output's top left quarter is the source's bottom left after 90.
		{name: "90 top left", roi: ROI{0, 0, .5, .5}, rotate: 90, w: 40, h: 20, want: image.Rect(0, 10, 20, 20)},
		{name: "90 top right", roi: ROI{.5, 0, .5, .5}, rotate: 90, w: 40, h: 20, want: image.Rect(0, 0, 20, 10)},
		{name: "180 top left", roi: ROI{0, 0, .5, .5}, rotate: 180, w: 40, h: 20, want: image.Rect(20, 10, 40, 20)},
		{name: "270 top left", roi: ROI{0, 0, .5, .5}, rotate: 270, w: 40, h: 20, want: image.Rect(20, 0, 40, 10)},
		{name: "270 thin band", roi: ROI{0, .25, 1, .5}, rotate: 270, w: 40, h: 20, want: image.Rect(10, 0, 30, 20)},
		{name: "at least one pixel", roi: ROI{.999, .999, .001, .001}, w: 40, h: 20, want: image.Rect(39, 19, 40, 20)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.roi.rect(tt.w, tt.h, tt.rotate); got != tt.want {
				t.Fatalf("rect = %v, want %v", got, tt.want)
			}
		})
	}
}

func FuzzROIRect(f *testing.F) {
	f.Add(0.0, 0.0, 1.0, 1.0, 0, 64, 48)
	f.Add(0.25, 0.5, 0.5, 0.25, 90, 1920, 1080)
	f.Add(0.999, 0.0, 0.001, 1.0, 270, 8, 8)
	f.Fuzz(func(t *testing.T, x, y, w, h float64, rot, width, height int) {
		r := ROI{x, y, w, h}
		if r.check() != nil || r.IsZero() {
			return
		}
		rot = []int{0, 90, 180, 270}[(rot%4+4)%4]
		width, height = width%5000, height%5000
		if width < 1 || height < 1 {
			return
		}
		got := r.rect(width, height, rot)
		if got.Empty() || !got.In(image.Rect(0, 0, width, height)) {
			t.Fatalf("%+v rotate %d on %dx%d: rect %v is empty or outside the frame", r, rot, width, height, got)
		}
		// The region's share of the frame is the ROI's, to within a pixel.
		s := r.source(rot)
		if dx := float64(got.Dx()) - s.W*float64(width); math.Abs(dx) > 1.5 && got.Dx() > 1 {
			t.Fatalf("%+v rotate %d on %dx%d: width %d, want about %.1f", r, rot, width, height, got.Dx(), s.W*float64(width))
		}
	})
}

// quadrants returns a w x h BGR image: red top left, green top right, blue
// bottom left, white bottom right.
func quadrants(w, h int) []byte {
	b := make([]byte, 3*w*h)
	for y := range h {
		for x := range w {
			c := red
			switch {
			case x >= w/2 && y < h/2:
				c = green
			case x < w/2 && y >= h/2:
				c = blue
			case x >= w/2 && y >= h/2:
				c = white
			}
			copy(b[3*(y*w+x):], c[:])
		}
	}
	return b
}

// rotatedQuadrants are the quadrant colours (top left, top right, bottom
// left, bottom right) of quadrants() after a clockwise rotation.
var rotatedQuadrants = map[int][4][3]uint8{
	0:   {red, green, blue, white},
	90:  {blue, red, white, green},
	180: {white, blue, green, red},
	270: {green, white, red, blue},
}

func TestConverterROIAndRotate(t *testing.T) {
	const w, h = 40, 20
	m := gocv.NewMatWithSize(h, w, gocv.MatTypeCV8UC3)
	defer m.Close()
	data, err := m.DataPtrUint8()
	if err != nil {
		t.Fatal(err)
	}
	copy(data, quadrants(w, h))
	quarters := []ROI{{0, 0, .5, .5}, {.5, 0, .5, .5}, {0, .5, .5, .5}, {.5, .5, .5, .5}}
	for _, rot := range []int{0, 90, 180, 270} {
		ow, oh := w, h
		if rot == 90 || rot == 270 {
			ow, oh = h, w
		}
		t.Run("whole "+strconv.Itoa(rot), func(t *testing.T) {
			v := newConverter(frameOpts{rotate: rot})
			defer v.close()
			f, err := v.frame(&m, newFramePool(1))
			if err != nil {
				t.Fatal(err)
			}
			if f.Width != ow || f.Height != oh {
				t.Fatalf("size %dx%d, want %dx%d", f.Width, f.Height, ow, oh)
			}
			// The top left pixel shows the expected quadrant.
			if got := [3]uint8(f.Data[:3]); got != rotatedQuadrants[rot][0] {
				t.Fatalf("top left %v, want %v", got, rotatedQuadrants[rot][0])
			}
		})
		for qi, q := range quarters {
			t.Run(strconv.Itoa(rot)+" quarter "+strconv.Itoa(qi), func(t *testing.T) {
				v := newConverter(frameOpts{roi: q, rotate: rot})
				defer v.close()
				f, err := v.frame(&m, newFramePool(1))
				if err != nil {
					t.Fatal(err)
				}
				if f.Width != ow/2 || f.Height != oh/2 {
					t.Fatalf("size %dx%d, want %dx%d", f.Width, f.Height, ow/2, oh/2)
				}
				checkColour(t, f, rotatedQuadrants[rot][qi], 0)
			})
		}
	}
}

func TestConverterDropsBadMats(t *testing.T) {
	v := newConverter(frameOpts{})
	defer v.close()
	empty := gocv.NewMat()
	defer empty.Close()
	small := gocv.NewMatWithSize(MinFrameSide-1, 64, gocv.MatTypeCV8UC3)
	defer small.Close()
	for _, tt := range []struct {
		name string
		m    *gocv.Mat
		want string
	}{
		{"empty", &empty, "empty frame"},
		{"undersized", &small, "undersized frame 64x7 (at least 8x8)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.frame(tt.m, newFramePool(1))
			var bf *badFrameError
			if !errors.As(err, &bf) || err.Error() != tt.want {
				t.Fatalf("error %v, want a bad frame %q", err, tt.want)
			}
		})
	}
}

func TestCameraROIAndRotate(t *testing.T) {
	t.Parallel()
	const w, h = 64, 48
	path := t.TempDir() + "/quad.avi"
	q := quadrants(w, h)
	if err := WriteVideo(path, w, h, 50, 4, func(_ int, bgr []byte) { copy(bgr, q) }); err != nil {
		t.Fatal(err)
	}
	// 90 degrees: the output is 48x64; its bottom right quarter is green.
	cam := start(t, Config{Name: "turned", Source: path, Loop: true, Rotate: 90, ROI: ROI{X: .5, Y: .5, W: .5, H: .5}}, nil)
	f := cam.mustNext(t, 3*time.Second)
	if f.Width != h/2 || f.Height != w/2 {
		t.Fatalf("frame %dx%d, want %dx%d", f.Width, f.Height, h/2, w/2)
	}
	checkColour(t, f, green, jpegTolerance)
	f.Release()
}

func TestDeviceProps(t *testing.T) {
	cfg := Config{Width: 1280, Height: 720, FPS: 15, FourCC: "MJPG"}
	got := deviceProps(cfg, kindDevice)
	var names []string
	for _, p := range got {
		names = append(names, p.name)
	}
	// V4L2 wants the pixel format before the size and the size before the rate.
	if want := []string{"fourcc", "width", "height", "fps"}; !slices.Equal(names, want) {
		t.Fatalf("properties %v, want %v", names, want)
	}
	if got[0].prop != gocv.VideoCaptureFOURCC || fourccString(got[0].value) != "MJPG" || got[0].value != 0x47504a4d {
		t.Fatalf("fourcc property %+v, want MJPG = 0x47504a4d", got[0])
	}
	if got[1].prop != gocv.VideoCaptureFrameWidth || got[1].value != 1280 || got[2].prop != gocv.VideoCaptureFrameHeight || got[2].value != 720 ||
		got[3].prop != gocv.VideoCaptureFPS || got[3].value != 15 {
		t.Fatalf("properties %+v", got)
	}
	if ps := deviceProps(Config{}, kindDevice); len(ps) != 0 {
		t.Fatalf("nothing configured: %+v, want none", ps)
	}
	if ps := deviceProps(Config{FPS: 5}, kindStream); len(ps) != 0 {
		t.Fatalf("a stream: %+v, want none", ps)
	}
}

func TestApplyPropsReportsWhatWasNotTaken(t *testing.T) {
	// A real capture (of a file: no device here) ignores size and format
	// requests; applyProps reads every setting back and reports the misses.
	path := writeColours(t, t.TempDir(), "v.avi", 10, []ColourSegment{{red, 2}})
	vc := openVideo(path, fileAPIs)
	if vc == nil {
		t.Fatal("cannot open the test video")
	}
	defer vc.Close()
	misses := applyProps(vc, deviceProps(Config{Width: 320, Height: 48, FourCC: "YUYV"}, kindDevice))
	want := []string{`fourcc: asked "YUYV", got "MJPG"`, "width: asked 320, got 64"}
	if !slices.Equal(misses, want) {
		t.Fatalf("misses %q, want %q", misses, want)
	}
}
