package capture

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"testing"

	"gocv.io/x/gocv"
)

// BenchmarkReadCopy1080p measures the per-frame read path of a video source:
// OpenCV reads a 1920x1080 MJPG frame and decodes it (in full, or reduced
// from the raw packet at 1/2, 1/4, 1/8: the sub-benchmarks), and its pixels
// are copied into a pooled Frame, which is then released.
func BenchmarkReadCopy1080p(b *testing.B) {
	const w, h = 1920, 1080
	path := filepath.Join(b.TempDir(), "hd.avi")
	err := WriteVideo(path, w, h, 25, 8, func(i int, bgr []byte) {
		for y := range h {
			row := bgr[y*3*w : (y+1)*3*w]
			for x := range row {
				row[x] = byte(x/3 + y + 16*i)
			}
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	for _, scale := range []int{1, 2, 4, 8} {
		b.Run(fmt.Sprintf("scale=1/%d", scale), func(b *testing.B) {
			src := &videoSource{spec: sourceSpec{kind: kindFile, target: path, display: path}, opts: frameOpts{decodeScale: scale}}
			r, err := src.open()
			if err != nil {
				b.Fatal(err)
			}
			defer r.close()
			p := newFramePool(poolSize)
			ctx := context.Background()
			b.SetBytes(3 * w * h)
			b.ReportAllocs()
			for b.Loop() {
				f, err := r.read(ctx, p)
				if err == io.EOF {
					if !r.rewind() {
						b.Fatal("rewind failed")
					}
					f, err = r.read(ctx, p)
				}
				if err != nil {
					b.Fatal(err)
				}
				if f.Width != w/scale || f.Height != h/scale {
					b.Fatalf("frame %dx%d", f.Width, f.Height)
				}
				f.Release()
			}
		})
	}
}

// BenchmarkCopyFrame1080p measures only the copy of a decoded 1920x1080 BGR
// Mat into a pooled Frame.
func BenchmarkCopyFrame1080p(b *testing.B) {
	m := gocv.NewMatWithSize(1080, 1920, gocv.MatTypeCV8UC3)
	defer m.Close()
	conv := gocv.NewMat()
	defer conv.Close()
	p := newFramePool(poolSize)
	b.SetBytes(int64(3 * 1920 * 1080))
	b.ReportAllocs()
	for b.Loop() {
		f, err := copyFrame(&m, &conv, p)
		if err != nil {
			b.Fatal(err)
		}
		f.Release()
	}
}

// BenchmarkConvertROIRotate1080p measures cropping a decoded 1920x1080 BGR
// Mat to its centre quarter, rotating it by 90 degrees and copying it into a
// pooled Frame.
func BenchmarkConvertROIRotate1080p(b *testing.B) {
	m := gocv.NewMatWithSize(1080, 1920, gocv.MatTypeCV8UC3)
	defer m.Close()
	v := newConverter(frameOpts{roi: ROI{X: .25, Y: .25, W: .5, H: .5}, rotate: 90})
	defer v.close()
	p := newFramePool(poolSize)
	b.SetBytes(3 * 960 * 540)
	b.ReportAllocs()
	for b.Loop() {
		f, err := v.frame(&m, p)
		if err != nil {
			b.Fatal(err)
		}
		if f.Width != 540 || f.Height != 960 {
			b.Fatalf("frame %dx%d", f.Width, f.Height)
		}
		f.Release()
	}
}
