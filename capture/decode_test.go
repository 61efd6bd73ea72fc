package capture

import (
	"context"
	"fmt"
	"image"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/autoclipd/autoclipd/inference/preprocess"
	"gocv.io/x/gocv"
)

func TestChooseDecodeScale(t *testing.T) {
	half := ROI{X: .25, Y: .25, W: .5, H: .5}
	tall := ROI{X: 0, Y: 0, W: .25, H: 1} // 480 x 1080 of a 1920 x 1080 frame
	for _, tc := range []struct {
		name             string
		scale, min, w, h int
		roi              ROI
		rotate           int
		want             int
	}{
		{"fixed full", DecodeScaleFull, 224, 1920, 1080, ROI{}, 0, 1},
		{"fixed 2 without a minimum", 2, 0, 640, 480, ROI{}, 0, 2},
		{"fixed 8 even below the minimum", 8, 224, 640, 480, ROI{}, 0, 8},
		{"auto without a minimum", DecodeScaleAuto, 0, 1920, 1080, ROI{}, 0, 1},
		{"auto 1080p for 224", DecodeScaleAuto, 224, 1920, 1080, ROI{}, 0, 4},    // 270 >= 224
		{"auto 1080p for 336", DecodeScaleAuto, 336, 1920, 1080, ROI{}, 0, 2},    // 540; 270 < 336
		{"auto 4K for 224", DecodeScaleAuto, 224, 3840, 2160, ROI{}, 0, 8},       // 270
		{"auto 720p for 224", DecodeScaleAuto, 224, 1280, 720, ROI{}, 0, 2},      // 360; 180 < 224
		{"auto VGA for 224", DecodeScaleAuto, 224, 640, 480, ROI{}, 0, 2},        // 240
		{"auto small frame", DecodeScaleAuto, 224, 320, 240, ROI{}, 0, 1},        // 120 < 224
		{"auto exact fit", DecodeScaleAuto, 224, 1792, 896, ROI{}, 0, 4},         // 896/4 = 224
		{"auto just short", DecodeScaleAuto, 224, 1792, 895, ROI{}, 0, 2},        // 895/4 = 223.75
		{"auto half ROI", DecodeScaleAuto, 224, 1920, 1080, half, 0, 2},          // ROI 960x540 -> 270
		{"auto tall ROI", DecodeScaleAuto, 224, 1920, 1080, tall, 0, 2},          // ROI 480x1080 -> 240
		{"auto tall ROI rotated", DecodeScaleAuto, 224, 1920, 1080, tall, 90, 1}, // ROI 270x1920 of the rotated frame: 270/2 < 224
		{"auto never below the minimum frame side", DecodeScaleAuto, 1, 40, 40, ROI{}, 0, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := chooseDecodeScale(tc.scale, tc.min, tc.w, tc.h, tc.roi, tc.rotate); got != tc.want {
				t.Fatalf("chooseDecodeScale(%d, %d, %dx%d, %+v, %d) = %d, want %d", tc.scale, tc.min, tc.w, tc.h, tc.roi, tc.rotate, got, tc.want)
			}
		})
	}
}

func TestDecodeScaleConfig(t *testing.T) {
	for _, s := range []int{-1, 3, 16} {
		_, err := New(Config{Name: "a", Source: "x.avi", DecodeScale: s}, nil)
		if err == nil || !strings.Contains(err.Error(), `camera "a": decode_scale: must be 0 (auto), 1, 2, 4 or 8, got `+fmt.Sprint(s)) {
			t.Errorf("DecodeScale %d: error %v", s, err)
		}
	}
	if _, err := New(Config{Name: "a", Source: "x.avi", MinSide: -1}, nil); err == nil || !strings.Contains(err.Error(), "min_side: must be >= 0") {
		t.Errorf("MinSide -1: error %v", err)
	}
}

func TestIsJPEGCodec(t *testing.T) {
	for fourcc, want := range map[string]bool{"MJPG": true, "mjpe": true, "AVRn": true, "H264": false, "avc1": false, "FFV1": false, "": false} {
		if got := isJPEGCodec(fourcc); got != want {
			t.Errorf("isJPEGCodec(%q) = %v, want %v", fourcc, got, want)
		}
	}
}

// drawQuadrants fills a frame with four colours and a horizontal gradient,
// so that a reduced decode shows where and how well it was scaled.
func drawQuadrants(w, h int) func(int, []byte) {
	return func(_ int, bgr []byte) {
		for y := range h {
			for x := range w {
				p := 3 * (y*w + x)
				var c [3]uint8
				switch {
				case x < w/2 && y < h/2:
					c = red
				case y < h/2:
					c = green
				case x < w/2:
					c = blue
				default:
					c = white
				}
				g := uint8(x * 40 / w)
				bgr[p], bgr[p+1], bgr[p+2] = c[0]/2+g, c[1]/2+g, c[2]/2+g
			}
		}
	}
}

// meanAbsDiff is the mean absolute difference of two packed BGR frames of
// the same size.
func meanAbsDiff(t testing.TB, a *Frame, b []byte) float64 {
	t.Helper()
	if len(a.Data) != len(b) {
		t.Fatalf("sizes differ: %d and %d bytes", len(a.Data), len(b))
	}
	var s float64
	for i := range b {
		s += math.Abs(float64(a.Data[i]) - float64(b[i]))
	}
	return s / float64(len(b))
}

// areaScaled is the first frame of path decoded in full by FFmpeg and
// shrunk to w x h with INTER_AREA, the reference a reduced decode must match.
func areaScaled(t testing.TB, path string, w, h int) []byte {
	t.Helper()
	var ref []byte
	err := ReadVideoFrames(path, 0, func(f *Frame) error {
		defer f.Release()
		if ref != nil {
			return nil
		}
		src, err := gocv.NewMatFromBytes(f.Height, f.Width, gocv.MatTypeCV8UC3, f.Data)
		if err != nil {
			return err
		}
		defer src.Close()
		dst := gocv.NewMat()
		defer dst.Close()
		gocv.Resize(src, &dst, image.Pt(w, h), 0, 0, gocv.InterpolationArea)
		ref = dst.ToBytes()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

func TestReducedDecodeVideoFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const w, h = 1280, 720
	path := filepath.Join(dir, "q.avi")
	if err := WriteVideo(path, w, h, 25, 4, drawQuadrants(w, h)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name         string
		cfg          Config
		wantW, wantH int
	}{
		{"auto for 224", Config{MinSide: 224}, 640, 360},
		{"auto for 100", Config{MinSide: 100}, 320, 180},
		{"auto without a minimum", Config{}, 1280, 720},
		{"full", Config{DecodeScale: DecodeScaleFull, MinSide: 100}, 1280, 720},
		{"fixed 8", Config{DecodeScale: 8}, 160, 90},
		{"ROI", Config{MinSide: 100, ROI: ROI{X: .5, Y: 0, W: .5, H: .5}}, 320, 180}, // ROI 640x360 at 1/2
		{"rotated", Config{MinSide: 100, Rotate: 90}, 180, 320},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Name, cfg.Source, cfg.Loop, cfg.Unpaced = "cam", path, true, true
			log, rec := newLogRecorder()
			cam := start(t, cfg, log)
			// Three times round the 4-frame file: the rewind keeps raw mode.
			for i := range 12 {
				f := cam.mustNext(t, 10*time.Second)
				if f.Width != tc.wantW || f.Height != tc.wantH {
					t.Fatalf("frame %d is %dx%d, want %dx%d", i, f.Width, f.Height, tc.wantW, tc.wantH)
				}
				if i == 0 && tc.cfg.ROI.IsZero() && tc.cfg.Rotate == 0 {
					d := meanAbsDiff(t, f, areaScaled(t, path, tc.wantW, tc.wantH))
					t.Logf("mean |reduced - full decode shrunk with INTER_AREA| = %.3f levels", d)
					if d > 2 {
						t.Errorf("mean difference %.3f levels from the full decode shrunk, want <= 2", d)
					}
				}
				if i == 0 && !tc.cfg.ROI.IsZero() {
					checkColour(t, f, [3]uint8{green[0]/2 + 30, green[1]/2 + 30, green[2]/2 + 30}, 12)
				}
				f.Release()
			}
			if st := cam.Stats(); st.Faults != 0 || st.Dropped != 0 {
				t.Fatalf("stats %+v: want no faults and no dropped frames", st)
			}
			reduced := false
			for _, m := range rec.messages() {
				reduced = reduced || strings.Contains(m, "decoding Motion JPEG reduced")
			}
			if want := tc.wantW*tc.wantH < w*h; reduced != want {
				t.Fatalf("logged the reduced decode: %v, want %v (log %q)", reduced, want, rec.messages())
			}
		})
	}
}

// seqAt reads the number drawn by seqJPEG back from a frame of any size
// with seqJPEG's aspect ratio (decodeSeq wants the full size).
func seqAt(f *Frame) (uint64, error) {
	if f.Width*seqH != f.Height*seqW {
		return 0, fmt.Errorf("frame %dx%d is not %d:%d", f.Width, f.Height, seqW, seqH)
	}
	bw, bh := f.Width/seqGrid, f.Height/seqGrid
	var n uint64
	for bit := range seqBits {
		bx, by := bit%seqGrid*bw, bit/seqGrid*bh
		sum, cnt := 0, 0
		for y := by + bh/4; y < by+bh-bh/4; y++ {
			for x := bx + bw/4; x < bx+bw-bw/4; x++ {
				i := 3 * (y*f.Width + x)
				sum += int(f.Data[i]) + int(f.Data[i+1]) + int(f.Data[i+2])
				cnt += 3
			}
		}
		switch mean := sum / cnt; {
		case mean > 200:
			n |= 1 << (seqBits - 1 - bit)
		case mean < 55:
		default:
			return 0, fmt.Errorf("block %d: mean %d is neither black nor white", bit, mean)
		}
	}
	return n, nil
}

func TestReducedDecodeStream(t *testing.T) {
	t.Parallel()
	s := newSeqServer(t, 30)
	states := &stateLog{}
	cfg := streamConfig("reduced", s, states)
	cfg.DecodeScale = 2
	cam := start(t, cfg, nil)
	var last uint64
	for i := 0; i < 10; i++ {
		f := cam.mustNext(t, 10*time.Second)
		if f.Width != seqW/2 || f.Height != seqH/2 {
			t.Fatalf("frame %dx%d, want %dx%d", f.Width, f.Height, seqW/2, seqH/2)
		}
		n, err := seqAt(f)
		f.Release()
		if err != nil {
			t.Fatal(err)
		}
		if n <= last && i > 0 {
			t.Fatalf("frame %d after %d: out of order", n, last)
		}
		last = n
	}
	if st := cam.Stats(); st.Faults != 0 {
		t.Fatalf("stats %+v: want no faults", st)
	}
}

// A source whose first packet OpenCV cannot decode on its own is read with
// FFmpeg's decoder from the next open on. (Real packets that FFmpeg decodes
// and imdecode does not are rare; here the reader's decoder is handed
// FFmpeg's decoded frames, which are not packets.)
func TestReducedDecodeFallsBack(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "q.avi")
	if err := WriteVideo(path, 320, 240, 25, 3, drawQuadrants(320, 240)); err != nil {
		t.Fatal(err)
	}
	src := &videoSource{spec: sourceSpec{kind: kindFile, target: path, display: path}, opts: frameOpts{decodeScale: DecodeScaleFull}}
	r, err := src.open()
	if err != nil {
		t.Fatal(err)
	}
	vr := r.(*videoReader)
	if vr.jpeg != nil {
		t.Fatal("decode_scale 1 made a reduced decoder")
	}
	vr.jpeg = newJPEGDecoder(2)
	p := newFramePool(0)
	_, err = vr.read(context.Background(), p)
	r.close()
	if err == nil || !strings.Contains(err.Error(), "does not decode on its own") {
		t.Fatalf("first read: error %v, want the fallback", err)
	}
	if _, bad := err.(*badFrameError); bad {
		t.Fatal("the fallback is a bad frame; it must be a fault so that the source is reopened")
	}
	src.opts.decodeScale = 2
	r, err = src.open()
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	if r.(*videoReader).jpeg != nil {
		t.Fatal("reopened with a reduced decoder after the fallback")
	}
	f, err := r.read(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	if f.Width != 320 || f.Height != 240 {
		t.Fatalf("frame %dx%d after the fallback, want the full 320x240", f.Width, f.Height)
	}
	f.Release()

	// A later bad packet is only a bad frame.
	fresh := &videoSource{spec: src.spec, opts: frameOpts{decodeScale: 2}}
	r2, err := fresh.open()
	if err != nil {
		t.Fatal(err)
	}
	defer r2.close()
	if f, err = r2.read(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	if f.Width != 160 {
		t.Fatalf("frame %dx%d, want 160x120", f.Width, f.Height)
	}
	f.Release()
	var empty gocv.Mat = gocv.NewMat()
	defer empty.Close()
	if _, err := r2.(*videoReader).jpeg.decode(&empty); err == nil {
		t.Fatal("an empty packet decoded")
	} else if _, bad := err.(*badFrameError); !bad {
		t.Fatalf("empty packet: %v is not a bad frame", err)
	}
	garbage, err := gocv.NewMatFromBytes(1, 64, gocv.MatTypeCV8UC1, make([]byte, 64))
	if err != nil {
		t.Fatal(err)
	}
	defer garbage.Close()
	if _, err := r2.(*videoReader).jpeg.decode(&garbage); err == nil || !strings.Contains(err.Error(), "not a JPEG image") {
		t.Fatalf("64 zero bytes: error %v", err)
	}
}

// skimageData is where Debian's python3-skimage installs its sample photos
// (`make test` installs it).
const skimageData = "/usr/lib/python3/dist-packages/skimage/data"

// TestReducedDecodeCLIPInput measures what a reduced decode changes in what
// the model sees: a 1920x1080 Motion JPEG of six photos, decoded in full and
// at 1/4 (the auto choice for a 224 input), both preprocessed for CLIP
// (shortest edge 224, bicubic, centre crop, CLIP's normalisation). The
// tensors must stay close; the figures are logged.
func TestReducedDecodeCLIPInput(t *testing.T) {
	t.Parallel()
	const w, h = 1920, 1080
	var tiles []gocv.Mat
	for _, n := range []string{"astronaut.png", "coffee.png", "motorcycle_left.png", "chelsea.png", "grass.png", "hubble_deep_field.jpg"} {
		p := filepath.Join(skimageData, n)
		m := gocv.IMRead(p, gocv.IMReadColor)
		if m.Empty() {
			t.Fatalf("%s: cannot read it (the test reads scikit-image's sample photos: `make test` installs python3-skimage)", p)
		}
		r := gocv.NewMat()
		gocv.Resize(m, &r, image.Pt(w/3, h/2), 0, 0, gocv.InterpolationArea)
		m.Close()
		defer r.Close()
		tiles = append(tiles, r)
	}
	path := filepath.Join(t.TempDir(), "photos.avi")
	err := WriteVideo(path, w, h, 10, 1, func(_ int, bgr []byte) {
		for y := range h {
			for x := range w {
				p := tiles[x/(w/3)+3*(y/(h/2))].GetVecbAt(y%(h/2), x%(w/3))
				o := 3 * (y*w + x)
				bgr[o], bgr[o+1], bgr[o+2] = p[0], p[1], p[2]
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	var full *Frame
	if err := ReadVideoFrames(path, 0, func(f *Frame) error { full = f; return nil }); err != nil {
		t.Fatal(err)
	}
	cam := start(t, Config{Name: "cam", Source: path, Loop: true, Unpaced: true, MinSide: 224}, nil)
	reduced := cam.mustNext(t, 10*time.Second)
	defer reduced.Release()
	if reduced.Width != w/4 || reduced.Height != h/4 {
		t.Fatalf("reduced frame %dx%d, want %dx%d", reduced.Width, reduced.Height, w/4, h/4)
	}
	pre, err := preprocess.New(preprocess.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	oh, ow := pre.OutputSize()
	a, b := make([]float32, 3*oh*ow), make([]float32, 3*oh*ow)
	if err := pre.Run(a, full.Data, full.Width, full.Height, 3*full.Width, preprocess.BGR); err != nil {
		t.Fatal(err)
	}
	if err := pre.Run(b, reduced.Data, reduced.Width, reduced.Height, 3*reduced.Width, preprocess.BGR); err != nil {
		t.Fatal(err)
	}
	var sum, maxd, dot, na, nb float64
	for i := range a {
		d := math.Abs(float64(a[i]) - float64(b[i]))
		sum += d
		maxd = math.Max(maxd, d)
		dot += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	mean, cos := sum/float64(len(a)), dot/math.Sqrt(na*nb)
	// One 8-bit level is 1/255/std ~ 0.015 in CLIP's normalised units.
	t.Logf("CLIP input from the 1/4 decode vs the full decode: mean |diff| %.4f (%.2f levels), max %.3f, cosine %.6f", mean, mean*255*0.27, maxd, cos)
	if mean > 0.05 || cos < 0.995 {
		t.Errorf("mean |diff| %.4f (want <= 0.05), cosine %.6f (want >= 0.995)", mean, cos)
	}
}
