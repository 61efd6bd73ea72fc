package preprocess

import (
	"encoding/json"
	"image"
	"image/color"
	_ "image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// skimageData is where Debian's python3-skimage installs its sample photos,
// the sources of the golden cases (testdata/golden.py).
const skimageData = "/usr/lib/python3/dist-packages/skimage/data"

type goldenCase struct {
	Name         string          `json:"name"`
	Source       string          `json:"source"`
	Config       json.RawMessage `json:"config"`
	Golden       string          `json:"golden"`
	Crop         []int           `json:"crop"`
	Mirror       []int           `json:"mirror"`
	InputWidth   int             `json:"input_width"`
	InputHeight  int             `json:"input_height"`
	OutputWidth  int             `json:"output_width"`
	OutputHeight int             `json:"output_height"`
}

type goldenManifest struct {
	Pillow     string       `json:"pillow"`
	Normalised [][]float64  `json:"normalised"`
	Cases      []goldenCase `json:"cases"`
}

func readManifest(t testing.TB) goldenManifest {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m goldenManifest
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("testdata/golden.json: %v", err)
	}
	if len(m.Cases) == 0 {
		t.Fatal("testdata/golden.json: no cases")
	}
	return m
}

// loadSource decodes a sample photo into packed RGB bytes with Go's decoders.
func loadSource(t testing.TB, name string) (pix []byte, w, h int) {
	t.Helper()
	path := filepath.Join(skimageData, name)
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("%v (the golden tests read scikit-image's sample photos: `make test` installs python3-skimage, or apt-get install python3-skimage)", err)
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return packRGB(img), img.Bounds().Dx(), img.Bounds().Dy()
}

// packRGB converts an opaque image into packed RGB bytes.
func packRGB(img image.Image) []byte {
	b := img.Bounds()
	pix := make([]byte, 0, 3*b.Dx()*b.Dy())
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
			pix = append(pix, c.R, c.G, c.B)
		}
	}
	return pix
}

// cropRGB cuts the rectangle (x, y, w, h) out of a packed RGB image of width sw.
func cropRGB(pix []byte, sw, x, y, w, h int) []byte {
	out := make([]byte, 0, 3*w*h)
	for r := y; r < y+h; r++ {
		out = append(out, pix[3*(r*sw+x):3*(r*sw+x+w)]...)
	}
	return out
}

// mirrorRGB tiles a packed RGB image with reflected copies (numpy's
// "symmetric" padding) to w x h, as testdata/golden.py does.
func mirrorRGB(pix []byte, sw, sh, w, h int) []byte {
	reflect := func(i, n int) int {
		i %= 2 * n
		if i >= n {
			i = 2*n - 1 - i
		}
		return i
	}
	out := make([]byte, 0, 3*w*h)
	for y := range h {
		sy := reflect(y, sh)
		for x := range w {
			s := 3 * (sy*sw + reflect(x, sw))
			out = append(out, pix[s:s+3]...)
		}
	}
	return out
}

// frameOf lays packed RGB pixels out as a frame in the given order with the
// given stride, filling the bytes past each row with junk.
func frameOf(rgb []byte, w, h, stride int, order Order) []byte {
	out := make([]byte, stride*h)
	for i := range out {
		out[i] = byte(0xA5 ^ i)
	}
	for y := range h {
		for x := range w {
			s, d := 3*(y*w+x), y*stride+3*x
			r, g, b := rgb[s], rgb[s+1], rgb[s+2]
			if order == BGR {
				r, b = b, r
			}
			out[d], out[d+1], out[d+2] = r, g, b
		}
	}
	return out
}

// readGolden returns a golden PNG as planar RGB bytes.
func readGolden(t testing.TB, name string) (planar []byte, w, h int) {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("testdata/%s: %v", name, err)
	}
	rgb := packRGB(img)
	w, h = img.Bounds().Dx(), img.Bounds().Dy()
	planar = make([]byte, 3*w*h)
	for i := range w * h {
		for c := range 3 {
			planar[c*w*h+i] = rgb[3*i+c]
		}
	}
	return planar, w, h
}

// reference normalises one byte of channel c in float64, independently of
// the Preprocessor's float32 table.
func reference(cfg Config, c int, v byte) float64 {
	x := float64(v)
	if cfg.DoRescale {
		x *= cfg.RescaleFactor
	}
	if cfg.DoNormalize {
		x = (x - cfg.ImageMean[c]) / cfg.ImageStd[c]
	}
	return x
}

// TestGolden runs every case of testdata/golden.json (real photos from
// scikit-image, processed by Pillow as CLIPImageProcessor does) through Run
// and compares with the golden bytes, normalised. PNG sources must match
// byte for byte; the JPEG source is decoded by Go's image/jpeg, not libjpeg,
// so it only has to meet the fidelity bound (mean <= 0.01, max <= 0.15 in
// normalised units).
func TestGolden(t *testing.T) {
	m := readManifest(t)
	for _, gc := range m.Cases {
		t.Run(gc.Name, func(t *testing.T) {
			cfg, err := ParseConfig(gc.Config, "golden.json:"+gc.Name)
			if err != nil {
				t.Fatal(err)
			}
			p, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			rgb, w, h := loadSource(t, gc.Source)
			if c := gc.Crop; c != nil {
				rgb, w, h = cropRGB(rgb, w, c[0], c[1], c[2], c[3]), c[2], c[3]
			}
			if mr := gc.Mirror; mr != nil {
				rgb, w, h = mirrorRGB(rgb, w, h, mr[0], mr[1]), mr[0], mr[1]
			}
			if w != gc.InputWidth || h != gc.InputHeight {
				t.Fatalf("input %dx%d, manifest says %dx%d", w, h, gc.InputWidth, gc.InputHeight)
			}
			want8, gw, gh := readGolden(t, gc.Golden)
			oh, ow := p.OutputSize()
			if ow != gw || oh != gh {
				t.Fatalf("OutputSize() = %dx%d, golden is %dx%d", ow, oh, gw, gh)
			}
			// Padded stride with junk after each row, BGR like a capture.Frame.
			stride := 3*w + 5
			frame := frameOf(rgb, w, h, stride, BGR)
			dst := make([]float32, 3*oh*ow)
			if err := p.Run(dst, frame, w, h, stride, BGR); err != nil {
				t.Fatal(err)
			}
			var sum, maxAbs float64
			mismatched, maxLevels := 0, 0
			for i, v := range want8 {
				c := i / (oh * ow)
				d := math.Abs(float64(dst[i]) - reference(cfg, c, v))
				sum += d
				maxAbs = max(maxAbs, d)
				if got := p.out8[i]; got != v {
					mismatched++
					maxLevels = max(maxLevels, int(math.Abs(float64(got)-float64(v))))
				}
			}
			mean := sum / float64(len(want8))
			t.Logf("%-20s %4dx%-4d -> %dx%d  mean abs %.2e  max abs %.2e  bytes differing %d/%d (max %d levels)",
				gc.Name, w, h, ow, oh, mean, maxAbs, mismatched, len(want8), maxLevels)
			if mean > 0.01 || maxAbs > 0.15 {
				t.Errorf("mean abs %.4f (limit 0.01), max abs %.4f (limit 0.15)", mean, maxAbs)
			}
			exact := !strings.HasSuffix(gc.Source, ".jpg")
			if exact && mismatched != 0 {
				t.Errorf("%d of %d bytes differ from Pillow's (max %d levels), want none", mismatched, len(want8), maxLevels)
			}
			if exact && maxAbs > 1e-5 {
				t.Errorf("max abs %.3g after normalising equal bytes, want float32 rounding only", maxAbs)
			}
		})
	}
}
