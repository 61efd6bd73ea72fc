package capture

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"gocv.io/x/gocv"
)

// WriteVideo writes an MJPG .avi of n frames, w x h pixels, at fps, with
// OpenCV's VideoWriter. draw fills frame i's packed BGR bytes (stride 3*w,
// zeroed before each call); the slice is only valid during the call.
func WriteVideo(path string, w, h int, fps float64, n int, draw func(i int, bgr []byte)) error {
	errf := func(format string, args ...any) error {
		return fmt.Errorf("capture: write video %s: %s", path, fmt.Sprintf(format, args...))
	}
	switch {
	case !strings.EqualFold(filepath.Ext(path), ".avi"):
		return errf("want a .avi file")
	case w <= 0 || h <= 0:
		return errf("size %dx%d is not positive", w, h)
	case math.IsNaN(fps) || math.IsInf(fps, 0) || fps <= 0:
		return errf("fps must be a positive number, got %v", fps)
	case n <= 0:
		return errf("frame count must be positive, got %d", n)
	case draw == nil:
		return errf("no draw function")
	}
	vw, err := gocv.VideoWriterFile(path, "MJPG", fps, w, h, true)
	if err != nil {
		return errf("%v", err)
	}
	defer vw.Close()
	if !vw.IsOpened() {
		return errf("OpenCV cannot open it for writing")
	}
	m := gocv.NewMatWithSize(h, w, gocv.MatTypeCV8UC3)
	defer m.Close()
	data, err := m.DataPtrUint8()
	if err != nil {
		return errf("%v", err)
	}
	for i := range n {
		clear(data)
		draw(i, data)
		if err := vw.Write(m); err != nil {
			return errf("frame %d: %v", i, err)
		}
	}
	if err := vw.Close(); err != nil {
		return errf("%v", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return errf("%v", err)
	}
	if fi.Size() == 0 {
		return errf("OpenCV wrote an empty file")
	}
	return nil
}

// ColourSegment is a run of Frames frames of one solid BGR colour.
type ColourSegment struct {
	BGR    [3]uint8
	Frames int
}

// WriteColourVideo writes an MJPG .avi of solid-colour segments, in order.
func WriteColourVideo(path string, w, h int, fps float64, segs []ColourSegment) error {
	if len(segs) == 0 {
		return fmt.Errorf("capture: write video %s: no segments", path)
	}
	n := 0
	for i, s := range segs {
		if s.Frames <= 0 {
			return fmt.Errorf("capture: write video %s: segment %d: frame count must be positive, got %d", path, i, s.Frames)
		}
		n += s.Frames
	}
	return WriteVideo(path, w, h, fps, n, func(i int, bgr []byte) {
		c := SegmentColour(segs, i)
		for p := 0; p+2 < len(bgr); p += 3 {
			bgr[p], bgr[p+1], bgr[p+2] = c[0], c[1], c[2]
		}
	})
}

// SegmentColour returns the colour of frame i (from 0) in segs, or that of
// the last segment when i is past the end.
func SegmentColour(segs []ColourSegment, i int) [3]uint8 {
	for _, s := range segs {
		if i < s.Frames {
			return s.BGR
		}
		i -= s.Frames
	}
	if len(segs) == 0 {
		return [3]uint8{}
	}
	return segs[len(segs)-1].BGR
}

// WriteImage writes a w x h packed BGR image; the format follows the
// extension: .png, .jpg/.jpeg or .bmp.
func WriteImage(path string, w, h int, bgr []byte) error {
	errf := func(format string, args ...any) error {
		return fmt.Errorf("capture: write image %s: %s", path, fmt.Sprintf(format, args...))
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".png", ".jpg", ".jpeg", ".bmp":
	default:
		return errf("want a .png, .jpg, .jpeg or .bmp file")
	}
	if w <= 0 || h <= 0 {
		return errf("size %dx%d is not positive", w, h)
	}
	if len(bgr) != 3*w*h {
		return errf("%d bytes for %dx%d BGR, want %d", len(bgr), w, h, 3*w*h)
	}
	m := gocv.NewMatWithSize(h, w, gocv.MatTypeCV8UC3)
	defer m.Close()
	data, err := m.DataPtrUint8()
	if err != nil {
		return errf("%v", err)
	}
	copy(data, bgr)
	if !gocv.IMWrite(path, m) {
		return errf("OpenCV cannot write it")
	}
	return nil
}
