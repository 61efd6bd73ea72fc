package capture

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gocv.io/x/gocv"
)

// IsImageFile tells whether path names an image (by extension), as opposed
// to a video.
func IsImageFile(path string) bool {
	ext := strings.ToLower(filepath.Ext(path))
	for _, e := range imageExts {
		if ext == e {
			return true
		}
	}
	return false
}

// ReadImage decodes the image file at path into a packed BGR frame. The
// caller owns the frame; Release is optional.
func ReadImage(path string) (*Frame, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	m := gocv.IMRead(path, gocv.IMReadColor)
	defer m.Close()
	if m.Empty() {
		return nil, fmt.Errorf("%s: not an image OpenCV can decode", path)
	}
	conv := gocv.NewMat()
	defer conv.Close()
	f, err := copyFrame(&m, &conv, newFramePool(0))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f.Seq, f.File = 1, path
	if st, err := os.Stat(path); err == nil {
		f.Time = st.ModTime()
	}
	return f, nil
}

// ReadVideoFrames decodes the video file at path and calls fn with one frame
// every `every` of video time (every frame when every <= 0), in order. The
// frame's Seq is its 1-based frame number in the file; fn owns the frame.
// An error from fn stops the reading and is returned.
func ReadVideoFrames(path string, every time.Duration, fn func(*Frame) error) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	vc := openVideo(path, fileAPIs)
	if vc == nil {
		return fmt.Errorf("%s: not a video OpenCV can open", path)
	}
	defer vc.Close()
	fps := vc.Get(gocv.VideoCaptureFPS)
	if fps <= 0 || math.IsNaN(fps) || fps > 1000 {
		fps = DefaultVideoFPS
	}
	step := 1
	if every > 0 {
		step = max(1, int(math.Round(every.Seconds()*fps)))
	}
	m := gocv.NewMat()
	defer m.Close()
	conv := gocv.NewMat()
	defer conv.Close()
	pool := newFramePool(0)
	for n := 1; ; n++ {
		if !vc.Read(&m) || m.Empty() {
			if n == 1 {
				return fmt.Errorf("%s: no frames could be decoded", path)
			}
			return nil
		}
		if (n-1)%step != 0 {
			continue
		}
		f, err := copyFrame(&m, &conv, pool)
		if err != nil {
			return fmt.Errorf("%s: frame %d: %w", path, n, err)
		}
		f.Seq, f.File = uint64(n), path
		f.Time = time.Time{}.Add(time.Duration(float64(n-1) / fps * float64(time.Second)))
		if err := fn(f); err != nil {
			return err
		}
	}
}
