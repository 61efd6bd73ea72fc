package capture

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode"

	"gocv.io/x/gocv"
)

func TestParseSource(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    sourceSpec
		wantErr string
	}{
		{name: "index", in: "0", want: sourceSpec{kind: kindDevice, target: "0", index: 0, display: "0"}},
		{name: "index with zeros", in: "007", want: sourceSpec{kind: kindDevice, target: "007", index: 7, display: "007"}},
		{name: "device path", in: "/dev/video2", want: sourceSpec{kind: kindDevice, target: "/dev/video2", index: -1, display: "/dev/video2"}},
		{name: "by-id path", in: "/dev/v4l/by-id/usb-cam-video-index0", want: sourceSpec{kind: kindDevice, target: "/dev/v4l/by-id/usb-cam-video-index0", index: -1, display: "/dev/v4l/by-id/usb-cam-video-index0"}},
		{name: "rtsp with password", in: "rtsp://admin:secret@10.0.0.5:554/stream1",
			want: sourceSpec{kind: kindStream, target: "rtsp://admin:secret@10.0.0.5:554/stream1", index: -1, display: "rtsp://admin:xxxxx@10.0.0.5:554/stream1"}},
		{name: "http mjpeg", in: "http://cam.local/video.mjpg", want: sourceSpec{kind: kindStream, target: "http://cam.local/video.mjpg", index: -1, display: "http://cam.local/video.mjpg"}},
		{name: "upper-case scheme", in: "HTTPS://cam/x", want: sourceSpec{kind: kindStream, target: "HTTPS://cam/x", index: -1, display: "https://cam/x"}},
		{name: "relative path", in: "clips/yard.mp4", want: sourceSpec{kind: kindPath, target: "clips/yard.mp4", index: -1, display: "clips/yard.mp4"}},
		{name: "negative index is a path", in: "-1", want: sourceSpec{kind: kindPath, target: "-1", index: -1, display: "-1"}},
		{name: "empty", in: "", wantErr: "empty"},
		{name: "spaces", in: " 0", wantErr: `" 0" has leading or trailing space`},
		{name: "control character", in: "a\nb", wantErr: `"a\nb" contains a control character`},
		{name: "index too large", in: "123456", wantErr: "device index 123456 is more than 9999"},
		{name: "file scheme", in: "file:///tmp/x.mp4", wantErr: `unsupported URL scheme "file" (want rtsp, rtsps, http or https)`},
		{name: "no host", in: "rtsp:///stream", wantErr: `URL "rtsp:///stream" has no host`},
		{name: "bad URL hides password", in: "rtsp://admin:secret@cam:x/", wantErr: `invalid URL "rtsp://admin:xxxxx@cam:x/": invalid port ":x" after host`},
		{name: "bare /dev/", in: "/dev/", wantErr: `"/dev/" names no device`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseSource(tt.in)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("parseSource(%q): error %v, want %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseSource(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("parseSource(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func FuzzParseSource(f *testing.F) {
	for _, s := range []string{"0", "9999", "10000", "/dev/video0", "rtsp://u:p@h:554/s", "http://h/x.mjpg",
		"ftp://x", "dir/", "a.mp4", "rtsp://u:p@h:x/", "://", "0x1", "/dev/", " x", "rtsp://%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		spec, err := parseSource(s)
		if err != nil {
			if strings.ContainsAny(err.Error(), "\n\r") {
				t.Fatalf("error is not one line: %q", err)
			}
			if i := strings.Index(s, "://"); i >= 0 {
				if at := strings.LastIndex(s[i+3:], "@"); at >= 0 {
					if user := s[i+3 : i+3+at]; strings.Contains(user, ":") {
						pass := user[strings.Index(user, ":")+1:]
						if len(pass) >= 4 && strings.Contains(err.Error(), pass) && !strings.Contains(s[:i+3]+user[:strings.Index(user, ":")], pass) {
							t.Fatalf("error %q leaks the password %q", err, pass)
						}
					}
				}
			}
			return
		}
		if spec.target != s {
			t.Fatalf("target %q, want the input %q", spec.target, s)
		}
		if strings.IndexFunc(spec.display, unicode.IsControl) >= 0 {
			t.Fatalf("display %q has control characters", spec.display)
		}
		switch spec.kind {
		case kindDevice:
			if spec.index > maxDeviceIndex || (spec.index < 0 && !strings.HasPrefix(s, "/dev/")) {
				t.Fatalf("device %+v", spec)
			}
		case kindStream:
			if !strings.Contains(s, "://") || spec.index != -1 {
				t.Fatalf("stream %+v", spec)
			}
		case kindPath:
			if strings.Contains(s, "://") || isDigits(s) || strings.HasPrefix(s, "/dev/") {
				t.Fatalf("path %+v", spec)
			}
		default:
			t.Fatalf("kind %v", spec.kind)
		}
		again, err := parseSource(s)
		if err != nil || again != spec {
			t.Fatalf("not deterministic: %+v, %v", again, err)
		}
	})
}

func TestBackoff(t *testing.T) {
	tests := []struct {
		name     string
		min, max time.Duration
		jitter   float64
		want     []time.Duration
	}{
		{name: "defaults no jitter", min: time.Second, max: 30 * time.Second,
			want: []time.Duration{1e9, 2e9, 4e9, 8e9, 16e9, 30e9, 30e9}},
		{name: "half jitter", min: time.Second, max: 30 * time.Second, jitter: 0.5,
			want: []time.Duration{1e9, 1.8e9, 3.6e9, 7.2e9, 14.4e9, 27e9, 27e9}},
		{name: "min equals max", min: 5 * time.Second, max: 5 * time.Second,
			want: []time.Duration{5e9, 5e9, 5e9}},
		{name: "huge max does not overflow", min: time.Hour, max: time.Duration(1<<63 - 1),
			want: []time.Duration{time.Hour, 2 * time.Hour, 4 * time.Hour}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := backoff{min: tt.min, max: tt.max}
			for i, want := range tt.want {
				if got := b.next(tt.jitter); got != want {
					t.Fatalf("step %d: %v, want %v", i, got, want)
				}
			}
			b.reset()
			if got := b.next(tt.jitter); got != tt.want[0] {
				t.Fatalf("after reset: %v, want %v", got, tt.want[0])
			}
		})
	}
}

func TestFrameInterval(t *testing.T) {
	tests := []struct {
		name string
		fps  float64
		want time.Duration
	}{
		{name: "25", fps: 25, want: 40 * time.Millisecond},
		{name: "29.97", fps: 30000.0 / 1001, want: 33366666 * time.Nanosecond},
		{name: "unknown", fps: 0, want: 40 * time.Millisecond},
		{name: "NaN", fps: nan(), want: 40 * time.Millisecond},
		{name: "absurd", fps: 90000, want: 40 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := frameInterval(tt.fps); got != tt.want {
				t.Fatalf("frameInterval(%v) = %v, want %v", tt.fps, got, tt.want)
			}
		})
	}
}

func TestCopyFrameConverts(t *testing.T) {
	tests := []struct {
		name    string
		mt      gocv.MatType
		pixel   []byte
		want    [3]uint8
		wantErr string
	}{
		{name: "BGR", mt: gocv.MatTypeCV8UC3, pixel: []byte{1, 2, 3}, want: [3]uint8{1, 2, 3}},
		{name: "grey", mt: gocv.MatTypeCV8UC1, pixel: []byte{77}, want: [3]uint8{77, 77, 77}},
		{name: "BGRA", mt: gocv.MatTypeCV8UC4, pixel: []byte{9, 8, 7, 255}, want: [3]uint8{9, 8, 7}},
		{name: "16-bit", mt: gocv.MatTypeCV16UC1, pixel: []byte{1, 0}, wantErr: "unsupported pixel type CV16U"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const w, h = 5, 3
			m := gocv.NewMatWithSize(h, w, tt.mt)
			defer m.Close()
			conv := gocv.NewMat()
			defer conv.Close()
			data, err := m.DataPtrUint8()
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < len(data); i += len(tt.pixel) {
				copy(data[i:], tt.pixel)
			}
			f, err := copyFrame(&m, &conv, newFramePool(1))
			if tt.wantErr != "" {
				var bf *badFrameError
				if !errors.As(err, &bf) || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want a bad frame %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if f.Width != w || f.Height != h || len(f.Data) != 3*w*h {
				t.Fatalf("frame %dx%d with %d bytes", f.Width, f.Height, len(f.Data))
			}
			for i := 0; i < len(f.Data); i += 3 {
				if [3]uint8(f.Data[i:i+3]) != tt.want {
					t.Fatalf("pixel %d: %v, want %v", i/3, f.Data[i:i+3], tt.want)
				}
			}
		})
	}
}

func TestCopyFrameRegion(t *testing.T) {
	// A region of a larger Mat is not continuous: it must be compacted.
	m := gocv.NewMatWithSize(10, 10, gocv.MatTypeCV8UC3)
	defer m.Close()
	data, _ := m.DataPtrUint8()
	for i := range data {
		data[i] = byte(i / 30) // value = row
	}
	roi := m.Region(image.Rect(2, 3, 6, 8))
	defer roi.Close()
	conv := gocv.NewMat()
	defer conv.Close()
	f, err := copyFrame(&roi, &conv, newFramePool(1))
	if err != nil {
		t.Fatal(err)
	}
	if f.Width != 4 || f.Height != 5 {
		t.Fatalf("size %dx%d, want 4x5", f.Width, f.Height)
	}
	for y := range 5 {
		for x := range 4 * 3 {
			if got := f.Data[y*12+x]; got != byte(3+y) {
				t.Fatalf("row %d byte %d: %d, want %d", y, x, got, 3+y)
			}
		}
	}
}

func TestVideoReaderEOF(t *testing.T) {
	path := writeColours(t, t.TempDir(), "three.avi", 10, []ColourSegment{{red, 3}})
	src := &videoSource{spec: sourceSpec{kind: kindFile, target: path, display: path}}
	r, err := src.open()
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	if iv := r.interval(); iv != 100*time.Millisecond {
		t.Fatalf("interval %v, want 100ms (10 fps)", iv)
	}
	p := newFramePool(1)
	for i := range 3 {
		f, err := r.read(context.Background(), p)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		checkColour(t, f, red, jpegTolerance)
		f.Release()
	}
	if _, err := r.read(context.Background(), p); err != io.EOF {
		t.Fatalf("after the last frame: %v, want io.EOF", err)
	}
	if !r.rewind() {
		t.Fatal("rewind of an unchanged file failed")
	}
	if f, err := r.read(context.Background(), p); err != nil {
		t.Fatalf("after rewind: %v", err)
	} else {
		f.Release()
	}
}

func TestIsImageName(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{"png", "a.png", true},
		{"upper JPG", "IMG_0001.JPG", true},
		{"jpeg", "x.jpeg", true},
		{"webp", "x.webp", true},
		{"hidden", ".a.png", false},
		{"upload temp", "a.png.part", false},
		{"text", "a.txt", false},
		{"no ext", "png", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := isImageName(tt.in); got != tt.want {
				t.Fatalf("isImageName(%q) = %v", tt.in, got)
			}
		})
	}
}

func TestWriteVideoErrors(t *testing.T) {
	dir := t.TempDir()
	draw := func(int, []byte) {}
	tests := []struct {
		name    string
		path    string
		w, h, n int
		fps     float64
		draw    func(int, []byte)
		wantErr string
	}{
		{name: "not avi", path: "x.mp4", w: 8, h: 8, n: 1, fps: 10, draw: draw, wantErr: "capture: write video x.mp4: want a .avi file"},
		{name: "zero size", path: "x.avi", w: 0, h: 8, n: 1, fps: 10, draw: draw, wantErr: "capture: write video x.avi: size 0x8 is not positive"},
		{name: "bad fps", path: "x.avi", w: 8, h: 8, n: 1, fps: -1, draw: draw, wantErr: "capture: write video x.avi: fps must be a positive number, got -1"},
		{name: "no frames", path: "x.avi", w: 8, h: 8, n: 0, fps: 10, draw: draw, wantErr: "capture: write video x.avi: frame count must be positive, got 0"},
		{name: "no draw", path: "x.avi", w: 8, h: 8, n: 1, fps: 10, wantErr: "capture: write video x.avi: no draw function"},
		{name: "missing folder", path: filepath.Join(dir, "no", "x.avi"), w: 8, h: 8, n: 1, fps: 10, draw: draw,
			wantErr: fmt.Sprintf("capture: write video %s: OpenCV cannot open it for writing", filepath.Join(dir, "no", "x.avi"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := WriteVideo(tt.path, tt.w, tt.h, tt.fps, tt.n, tt.draw)
			if err == nil || err.Error() != tt.wantErr {
				t.Fatalf("error %v, want %q", err, tt.wantErr)
			}
		})
	}
	if err := WriteColourVideo(filepath.Join(dir, "x.avi"), 8, 8, 10, []ColourSegment{{red, 0}}); err == nil ||
		!strings.Contains(err.Error(), "segment 0: frame count must be positive, got 0") {
		t.Fatalf("WriteColourVideo with an empty segment: %v", err)
	}
}

func TestWriteVideoDrawsEachFrame(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ramp.avi")
	const n = 6
	// Frame i is grey level 40*i: read back, the levels come in order.
	err := WriteVideo(path, 32, 16, 20, n, func(i int, bgr []byte) {
		for p := range bgr {
			bgr[p] = byte(40 * i)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	vc, err := gocv.VideoCaptureFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer vc.Close()
	if fps := vc.Get(gocv.VideoCaptureFPS); fps != 20 {
		t.Fatalf("fps %v, want 20", fps)
	}
	m := gocv.NewMat()
	defer m.Close()
	conv := gocv.NewMat()
	defer conv.Close()
	p := newFramePool(1)
	for i := range n {
		if !vc.Read(&m) {
			t.Fatalf("frame %d missing", i)
		}
		f, err := copyFrame(&m, &conv, p)
		if err != nil {
			t.Fatal(err)
		}
		c := uint8(40 * i)
		checkColour(t, f, [3]uint8{c, c, c}, 6)
		f.Release()
	}
	if vc.Read(&m) {
		t.Fatalf("more than %d frames", n)
	}
}

func TestWriteImage(t *testing.T) {
	dir := t.TempDir()
	const w, h = 7, 5
	img := make([]byte, 3*w*h)
	for i := range img {
		img[i] = byte(i * 7)
	}
	tests := []struct {
		name    string
		file    string
		data    []byte
		tol     int
		wantErr string
	}{
		{name: "png is exact", file: "a.png", data: img, tol: 0},
		{name: "bmp is exact", file: "a.bmp", data: img, tol: 0},
		{name: "jpg is close", file: "a.jpg", data: solid(w, h, green), tol: jpegTolerance},
		{name: "unknown ext", file: "a.gif", data: img, wantErr: "want a .png, .jpg, .jpeg or .bmp file"},
		{name: "short data", file: "b.png", data: img[:10], wantErr: "10 bytes for 7x5 BGR, want 105"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.file)
			err := WriteImage(path, w, h, tt.data)
			if tt.wantErr != "" {
				want := "capture: write image " + path + ": " + tt.wantErr
				if err == nil || err.Error() != want {
					t.Fatalf("error %v, want %q", err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			m := gocv.IMRead(path, gocv.IMReadColor)
			defer m.Close()
			got, err := m.DataPtrUint8()
			if err != nil || m.Cols() != w || m.Rows() != h {
				t.Fatalf("read back %dx%d: %v", m.Cols(), m.Rows(), err)
			}
			for i := range got {
				if d := int(got[i]) - int(tt.data[i]); d > tt.tol || -d > tt.tol {
					t.Fatalf("byte %d: %d, want %d (tolerance %d)", i, got[i], tt.data[i], tt.tol)
				}
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "a.gif")); !os.IsNotExist(err) {
		t.Fatalf("a rejected image was written: %v", err)
	}
}
