package preprocess

import (
	"fmt"
	"math"
	"testing"
)

// texture returns a deterministic packed RGB image with smooth gradients,
// hard edges, saturated 0/255 areas (which make the bicubic overshoot clip)
// and noise.
func texture(w, h int, seed uint32) []byte {
	pix := make([]byte, 3*w*h)
	s := seed | 1
	for y := range h {
		for x := range w {
			for c := range 3 {
				s = s*1664525 + 1013904223
				var v int
				switch (x/7 + y/5 + c) % 4 {
				case 0:
					v = (x*255)/max(w-1, 1) ^ (c * 40)
				case 1:
					v = 255
				case 2:
					v = 0
				default:
					v = int(s >> 24)
				}
				pix[3*(y*w+x)+c] = byte(v)
			}
		}
	}
	return pix
}

// refResize is a literal port of Pillow's ImagingResampleInner for an RGB
// image (packed bytes): all columns and rows, horizontal pass first over the
// rows [ybox_first, ybox_last), then vertical; a pass whose size does not
// change is skipped, as in Pillow.
func refResize(rgb []byte, w, h, ow, oh int, r Resample) []byte {
	f := filterFor(r)
	var scratch []float64
	var vert, horiz axis
	vert.compute(h, oh, 0, oh, f, &scratch)
	yFirst := vert.start[0]
	yLast := vert.start[oh-1] + vert.n[oh-1]
	img, iw, ih := rgb, w, h
	if ow != w {
		horiz.compute(w, ow, 0, ow, f, &scratch)
		for i := range vert.start {
			vert.start[i] -= yFirst
		}
		tmp := make([]byte, 3*ow*(yLast-yFirst))
		for y := range yLast - yFirst {
			for xx := range ow {
				for c := range 3 {
					ss := int32(1 << (precisionBits - 1))
					for x := range horiz.n[xx] {
						ss += int32(img[3*((y+yFirst)*iw+x+horiz.start[xx])+c]) * horiz.k[xx*horiz.ksize+x]
					}
					tmp[3*(y*ow+xx)+c] = clip8(ss)
				}
			}
		}
		img, iw, ih = tmp, ow, yLast-yFirst
	}
	if oh != h {
		out := make([]byte, 3*iw*oh)
		for yy := range oh {
			for x := range iw {
				for c := range 3 {
					ss := int32(1 << (precisionBits - 1))
					for y := range vert.n[yy] {
						ss += int32(img[3*((y+vert.start[yy])*iw+x)+c]) * vert.k[yy*vert.ksize+y]
					}
					out[3*(yy*iw+x)+c] = clip8(ss)
				}
			}
		}
		img, ih = out, oh
	}
	_ = ih
	return img
}

// refCenterCrop follows transformers.image_transforms.center_crop literally:
// crop when it fits, else pad with zeros and slice.
func refCenterCrop(rgb []byte, w, h, cw, ch int) []byte {
	top := int(math.Floor(float64(h-ch) / 2))
	left := int(math.Floor(float64(w-cw) / 2))
	if top >= 0 && top+ch <= h && left >= 0 && left+cw <= w {
		return cropRGB(rgb, w, left, top, cw, ch)
	}
	nh, nw := max(ch, h), max(cw, w)
	padded := make([]byte, 3*nh*nw)
	topPad := int(math.Ceil(float64(nh-h) / 2))
	leftPad := int(math.Ceil(float64(nw-w) / 2))
	for y := range h {
		copy(padded[3*((y+topPad)*nw+leftPad):], rgb[3*y*w:3*(y+1)*w])
	}
	top += topPad
	left += leftPad
	y0, y1 := max(0, top), min(nh, top+ch)
	x0, x1 := max(0, left), min(nw, left+cw)
	return cropRGB(padded, nw, x0, y0, x1-x0, y1-y0)
}

// refPipeline is CLIPImageProcessor up to the 8-bit crop, written without
// the Preprocessor's crop-only planning, returned as planar RGB.
func refPipeline(cfg Config, rgb []byte, w, h int) []byte {
	if cfg.DoResize {
		var rh, rw int
		if s := cfg.Size; s.ShortestEdge != 0 {
			if w <= h {
				rw, rh = s.ShortestEdge, int(float64(s.ShortestEdge*h)/float64(w))
			} else {
				rh, rw = s.ShortestEdge, int(float64(s.ShortestEdge*w)/float64(h))
			}
		} else {
			rh, rw = s.Height, s.Width
		}
		if rh != h || rw != w {
			rgb = refResize(rgb, w, h, rw, rh, cfg.Resample)
		}
		w, h = rw, rh
	}
	if cfg.DoCenterCrop {
		rgb = refCenterCrop(rgb, w, h, cfg.CropSize.Width, cfg.CropSize.Height)
		w, h = cfg.CropSize.Width, cfg.CropSize.Height
	}
	planar := make([]byte, 3*w*h)
	for i := range w * h {
		for c := range 3 {
			planar[c*w*h+i] = rgb[3*i+c]
		}
	}
	return planar
}

func configWith(mod func(*Config)) Config {
	c := DefaultConfig()
	mod(&c)
	return c
}

// TestRunMatchesReference checks the crop-only, two-lane passes against the
// literal whole-image port on sizes the golden photos do not cover: single
// pixels, single rows and columns, very wide and very tall frames, exact
// and near-exact sizes, and crops larger than the image.
func TestRunMatchesReference(t *testing.T) {
	small := configWith(func(c *Config) {
		c.Size = Size{ShortestEdge: 32}
		c.CropSize = Size{Height: 32, Width: 32}
	})
	tests := []struct {
		name string
		cfg  Config
		w, h int
	}{
		{"1x1", small, 1, 1},
		{"2x1", small, 2, 1},
		{"1x2", small, 1, 2},
		{"3x3", small, 3, 3},
		{"very wide 5000x1", small, 5000, 1},
		{"very tall 1x3000", small, 1, 3000},
		{"wide 4000x9", small, 4000, 9},
		{"identity 32x32", small, 32, 32},
		{"one column wider 33x32", small, 33, 32},
		{"shrink 3x", small, 96, 96},
		{"odd shrink 101x77", small, 101, 77},
		{"odd upscale 13x19", small, 13, 19},
		{"odd crop 31x47 to 17x23", configWith(func(c *Config) {
			c.Size = Size{ShortestEdge: 20}
			c.CropSize = Size{Height: 23, Width: 17}
		}), 31, 47},
		{"224 from 1920x1080", DefaultConfig(), 1920, 1080},
		{"224 from 1080x1920", DefaultConfig(), 1080, 1920},
		{"bilinear", configWith(func(c *Config) {
			c.Size, c.CropSize, c.Resample = Size{ShortestEdge: 24}, Size{Height: 24, Width: 24}, Bilinear
		}), 90, 61},
		{"lanczos upscale", configWith(func(c *Config) {
			c.Size, c.CropSize, c.Resample = Size{ShortestEdge: 40}, Size{Height: 40, Width: 40}, Lanczos
		}), 21, 17},
		{"box", configWith(func(c *Config) {
			c.Size, c.CropSize, c.Resample = Size{ShortestEdge: 30}, Size{Height: 30, Width: 30}, Box
		}), 77, 95},
		{"hamming", configWith(func(c *Config) {
			c.Size, c.CropSize, c.Resample = Size{ShortestEdge: 30}, Size{Height: 30, Width: 30}, Hamming
		}), 95, 77},
		{"pad both sides", configWith(func(c *Config) {
			c.Size, c.CropSize = Size{ShortestEdge: 20}, Size{Height: 31, Width: 29}
		}), 40, 25},
		{"pad without resize", configWith(func(c *Config) {
			c.DoResize, c.CropSize = false, Size{Height: 30, Width: 41}
		}), 25, 14},
		{"crop without resize", configWith(func(c *Config) {
			c.DoResize, c.CropSize = false, Size{Height: 8, Width: 9}
		}), 25, 14},
		{"squash, no crop", configWith(func(c *Config) {
			c.Size, c.DoCenterCrop = Size{Height: 20, Width: 30}, false
		}), 57, 31},
		{"fixed size equal to input", configWith(func(c *Config) {
			c.Size, c.DoCenterCrop = Size{Height: 20, Width: 30}, false
		}), 30, 20},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rgb := texture(tt.w, tt.h, uint32(i))
			want := refPipeline(tt.cfg, rgb, tt.w, tt.h)
			p, err := New(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			oh, ow := p.OutputSize()
			if len(want) != 3*oh*ow {
				t.Fatalf("reference gives %d bytes, OutputSize() %dx%d", len(want), ow, oh)
			}
			dst := make([]float32, 3*oh*ow)
			if err := p.Run(dst, frameOf(rgb, tt.w, tt.h, 3*tt.w, BGR), tt.w, tt.h, 3*tt.w, BGR); err != nil {
				t.Fatal(err)
			}
			for j, v := range want {
				if p.out8[j] != v {
					c, y, x := j/(oh*ow), j%(oh*ow)/ow, j%ow
					t.Fatalf("channel %d pixel (%d, %d) = %d, reference %d", c, x, y, p.out8[j], v)
				}
				if c := j / (oh * ow); dst[j] != p.lut[c][v] {
					t.Fatalf("dst[%d] = %v, want table value %v of byte %d", j, dst[j], p.lut[c][v], v)
				}
			}
		})
	}
}

// TestRunOrder feeds the same picture as BGR and as RGB and checks both give
// the same tensor, and that a flat colour lands in the right planes.
func TestRunOrder(t *testing.T) {
	p, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	oh, ow := p.OutputSize()
	const w, h = 300, 200
	rgb := texture(w, h, 7)
	fromBGR := make([]float32, 3*oh*ow)
	fromRGB := make([]float32, 3*oh*ow)
	if err := p.Run(fromBGR, frameOf(rgb, w, h, 3*w, BGR), w, h, 3*w, BGR); err != nil {
		t.Fatal(err)
	}
	if err := p.Run(fromRGB, frameOf(rgb, w, h, 3*w, RGB), w, h, 3*w, RGB); err != nil {
		t.Fatal(err)
	}
	for i := range fromBGR {
		if fromBGR[i] != fromRGB[i] {
			t.Fatalf("element %d: %v from BGR, %v from RGB", i, fromBGR[i], fromRGB[i])
		}
	}

	// A flat colour R=200, G=100, B=10 stays flat through any resize.
	flat := make([]byte, 3*w*h)
	for i := 0; i < len(flat); i += 3 {
		flat[i], flat[i+1], flat[i+2] = 200, 100, 10
	}
	for _, order := range []Order{BGR, RGB} {
		t.Run(order.String(), func(t *testing.T) {
			dst := make([]float32, 3*oh*ow)
			if err := p.Run(dst, frameOf(flat, w, h, 3*w, order), w, h, 3*w, order); err != nil {
				t.Fatal(err)
			}
			cfg := p.Config()
			for c, v := range []byte{200, 100, 10} {
				want := reference(cfg, c, v)
				for i := c * oh * ow; i < (c+1)*oh*ow; i++ {
					if math.Abs(float64(dst[i])-want) > 1e-6 {
						t.Fatalf("plane %d element %d = %v, want %v", c, i, dst[i], want)
					}
				}
			}
		})
	}
}

// TestRunStride checks that bytes past 3*width in each row are ignored and
// that the last row needs no padding.
func TestRunStride(t *testing.T) {
	p, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	oh, ow := p.OutputSize()
	const w, h = 250, 230
	rgb := texture(w, h, 3)
	want := make([]float32, 3*oh*ow)
	if err := p.Run(want, frameOf(rgb, w, h, 3*w, BGR), w, h, 3*w, BGR); err != nil {
		t.Fatal(err)
	}
	for _, pad := range []int{1, 2, 3, 64, 3 * w} {
		t.Run(fmt.Sprintf("pad %d", pad), func(t *testing.T) {
			stride := 3*w + pad
			frame := frameOf(rgb, w, h, stride, BGR)
			frame = frame[:stride*(h-1)+3*w] // no padding after the last row
			got := make([]float32, 3*oh*ow)
			if err := p.Run(got, frame, w, h, stride, BGR); err != nil {
				t.Fatal(err)
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("element %d = %v with stride %d, %v packed", i, got[i], stride, want[i])
				}
			}
		})
	}
}

// TestRunSizeChanges alternates input sizes on one Preprocessor and checks
// each result against a fresh one.
func TestRunSizeChanges(t *testing.T) {
	p, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	oh, ow := p.OutputSize()
	sizes := [][2]int{{640, 480}, {300, 301}, {640, 480}, {224, 224}, {1, 1}, {640, 480}}
	for i, s := range sizes {
		w, h := s[0], s[1]
		frame := frameOf(texture(w, h, uint32(i)), w, h, 3*w, BGR)
		got := make([]float32, 3*oh*ow)
		if err := p.Run(got, frame, w, h, 3*w, BGR); err != nil {
			t.Fatal(err)
		}
		fresh, _ := New(DefaultConfig())
		want := make([]float32, 3*oh*ow)
		if err := fresh.Run(want, frame, w, h, 3*w, BGR); err != nil {
			t.Fatal(err)
		}
		for j := range want {
			if got[j] != want[j] {
				t.Fatalf("run %d (%dx%d): element %d = %v, fresh Preprocessor %v", i, w, h, j, got[j], want[j])
			}
		}
	}
}

func TestRunErrors(t *testing.T) {
	p, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	good := make([]float32, 3*224*224)
	frame := make([]byte, 3*10*10)
	tests := []struct {
		name                 string
		dst                  []float32
		src                  []byte
		width, height, strid int
		order                Order
		want                 string
	}{
		{"zero width", good, frame, 0, 10, 30, BGR, "preprocess: frame size 0x10 is empty"},
		{"negative height", good, frame, 10, -1, 30, BGR, "preprocess: frame size 10x-1 is empty"},
		{"huge", good, frame, 1 << 25, 1, 3 << 25, BGR, "preprocess: frame size 33554432x1 exceeds 16777216 pixels on a side"},
		{"stride too small", good, frame, 10, 10, 29, BGR, "preprocess: stride 29 is less than 3*width = 30"},
		{"src too short", good, frame[:299], 10, 10, 30, BGR, "preprocess: src has 299 bytes, a 10x10 frame with stride 30 needs 300"},
		{"src short for stride", good, frame, 10, 10, 31, BGR, "preprocess: src has 300 bytes, a 10x10 frame with stride 31 needs 309"},
		{"stride overflows", good, frame, 10, 10, math.MaxInt, BGR, "preprocess: src has 300 bytes, a 10x10 frame with stride 9223372036854775807 needs 18446744073709551615"},
		{"dst too short", good[:100], frame, 10, 10, 30, BGR, "preprocess: dst has 100 floats, want 3*224*224 = 150528"},
		{"dst too long", append(good[:len(good):len(good)], 0), frame, 10, 10, 30, BGR, "preprocess: dst has 150529 floats, want 3*224*224 = 150528"},
		{"bad order", good, frame, 10, 10, 30, Order(7), "preprocess: order Order(7) is neither BGR nor RGB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := p.Run(tt.dst, tt.src, tt.width, tt.height, tt.strid, tt.order)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("Run error = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestRunAllocs checks Run does not allocate for a repeated input size.
func TestRunAllocs(t *testing.T) {
	p, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	const w, h = 1280, 720
	frame := frameOf(texture(w, h, 1), w, h, 3*w, BGR)
	dst := make([]float32, 3*224*224)
	if err := p.Run(dst, frame, w, h, 3*w, BGR); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(5, func() {
		if err := p.Run(dst, frame, w, h, 3*w, BGR); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("Run allocates %v times per call in steady state, want 0", allocs)
	}
}

func TestResizedSize(t *testing.T) {
	fixed := configWith(func(c *Config) { c.Size, c.DoCenterCrop = Size{Height: 100, Width: 50}, false })
	noResize := configWith(func(c *Config) { c.DoResize = false })
	tests := []struct {
		name           string
		cfg            Config
		w, h           int
		wantH, wantW   int
		wantOH, wantOW int
	}{
		{"1080p", DefaultConfig(), 1920, 1080, 224, 398, 224, 224},
		{"portrait 1080p", DefaultConfig(), 1080, 1920, 398, 224, 224, 224},
		{"truncates 335.74", DefaultConfig(), 640, 427, 224, 335, 224, 224},
		{"exact 2:1", DefaultConfig(), 448, 224, 224, 448, 224, 224},
		{"square", DefaultConfig(), 512, 512, 224, 224, 224, 224},
		{"width <= height takes width as short", DefaultConfig(), 300, 300, 224, 224, 224, 224},
		{"1x1", DefaultConfig(), 1, 1, 224, 224, 224, 224},
		{"very wide", DefaultConfig(), 10000, 1, 224, 2240000, 224, 224},
		{"fixed height and width", fixed, 640, 480, 100, 50, 100, 50},
		{"no resize", noResize, 640, 480, 480, 640, 224, 224},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if h, w := p.ResizedSize(tt.w, tt.h); h != tt.wantH || w != tt.wantW {
				t.Errorf("ResizedSize(%d, %d) = %d, %d, want %d, %d", tt.w, tt.h, h, w, tt.wantH, tt.wantW)
			}
			if h, w := p.OutputSize(); h != tt.wantOH || w != tt.wantOW {
				t.Errorf("OutputSize() = %d, %d, want %d, %d", h, w, tt.wantOH, tt.wantOW)
			}
		})
	}
}

// TestNormalizeTable compares the rescale/normalise table with what numpy
// computes the way transformers does (testdata/golden.json "normalised",
// written by golden.py), value for value.
func TestNormalizeTable(t *testing.T) {
	m := readManifest(t)
	if len(m.Normalised) != 3 {
		t.Fatalf("testdata/golden.json: normalised has %d rows, want 3", len(m.Normalised))
	}
	cfg, err := ParseConfig(m.Cases[0].Config, "golden.json:"+m.Cases[0].Name)
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for c, row := range m.Normalised {
		if len(row) != 256 {
			t.Fatalf("normalised[%d] has %d values, want 256", c, len(row))
		}
		for v, want := range row {
			if got := p.lut[c][v]; got != float32(want) {
				t.Errorf("channel %d byte %d: %v, numpy float32 %v", c, v, got, float32(want))
			}
		}
	}
}

// TestNormalizeVariants checks the table when rescale or normalise is off.
func TestNormalizeVariants(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
		want func(c, v int) float64
	}{
		{"rescale only", func(c *Config) { c.DoNormalize = false },
			func(_, v int) float64 { return float64(v) / 255 }},
		{"normalise only", func(c *Config) {
			c.DoRescale, c.ImageMean, c.ImageStd = false, [3]float64{1, 2, 3}, [3]float64{2, 4, 8}
		},
			func(c, v int) float64 { return (float64(v) - float64(c+1)) / math.Pow(2, float64(c+1)) }},
		{"neither", func(c *Config) { c.DoRescale, c.DoNormalize = false, false },
			func(_, v int) float64 { return float64(v) }},
		{"rescale factor 0.5, normalise", func(c *Config) {
			c.RescaleFactor, c.ImageMean, c.ImageStd = 0.5, [3]float64{0, 0, 0}, [3]float64{0.5, 0.5, 0.5}
		},
			func(_, v int) float64 { return float64(v) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(configWith(tt.mod))
			if err != nil {
				t.Fatal(err)
			}
			for c := range 3 {
				for v := range 256 {
					want := tt.want(c, v)
					if got := float64(p.lut[c][v]); math.Abs(got-want) > 1e-6*max(1, math.Abs(want)) {
						t.Fatalf("channel %d byte %d: %v, want %v", c, v, got, want)
					}
				}
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"nearest", func(c *Config) { c.Resample = Nearest }, "preprocess: resample: filter 0 (nearest) is not supported, want 1 (lanczos), 2 (bilinear), 3 (bicubic), 4 (box) or 5 (hamming)"},
		{"unknown filter", func(c *Config) { c.Resample = 9 }, "preprocess: resample: filter 9 (Resample(9)) is not supported, want 1 (lanczos), 2 (bilinear), 3 (bicubic), 4 (box) or 5 (hamming)"},
		{"empty size", func(c *Config) { c.Size = Size{} }, "preprocess: size: needs shortest_edge or height and width"},
		{"both size forms", func(c *Config) { c.Size = Size{ShortestEdge: 5, Height: 5, Width: 5} }, "preprocess: size: has both shortest_edge and height/width"},
		{"zero width", func(c *Config) { c.Size = Size{Height: 5} }, "preprocess: size: width 0 is out of range [1, 32768]"},
		{"huge edge", func(c *Config) { c.Size = Size{ShortestEdge: MaxSize + 1} }, "preprocess: size: shortest_edge 32769 is out of range [1, 32768]"},
		{"crop shortest edge", func(c *Config) { c.CropSize = Size{ShortestEdge: 224} }, "preprocess: crop_size: needs height and width, not shortest_edge"},
		{"crop zero", func(c *Config) { c.CropSize = Size{Height: 0, Width: 3} }, "preprocess: crop_size: height 0 is out of range [1, 32768]"},
		{"variable output", func(c *Config) { c.DoCenterCrop = false }, "preprocess: do_center_crop: false needs size {\"height\", \"width\"} with do_resize, or the output size would depend on the input"},
		{"nothing fixed", func(c *Config) { c.DoCenterCrop, c.DoResize = false, false }, "preprocess: do_center_crop: false needs size {\"height\", \"width\"} with do_resize, or the output size would depend on the input"},
		{"std zero", func(c *Config) { c.ImageStd[2] = 0 }, "preprocess: image_std[2]: 0 is not a finite non-zero number"},
		{"mean NaN", func(c *Config) { c.ImageMean[1] = math.NaN() }, "preprocess: image_mean[1]: NaN is not finite"},
		{"rescale Inf", func(c *Config) { c.RescaleFactor = math.Inf(1) }, "preprocess: rescale_factor: +Inf is not finite"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(configWith(tt.mod))
			if err == nil || err.Error() != tt.want {
				t.Fatalf("New error = %v, want %q", err, tt.want)
			}
		})
	}
	// Unused fields are not validated: no resize means size is not used.
	if _, err := New(configWith(func(c *Config) { c.DoResize, c.Size, c.Resample = false, Size{}, Nearest })); err != nil {
		t.Fatalf("New without resize: %v", err)
	}
}

func TestFilters(t *testing.T) {
	tests := []struct {
		name string
		r    Resample
		x    float64
		want float64
	}{
		{"bicubic centre", Bicubic, 0, 1},
		{"bicubic half", Bicubic, 0.5, 0.5625},
		{"bicubic one", Bicubic, 1, 0},
		{"bicubic lobe", Bicubic, 1.5, -0.0625},
		{"bicubic lobe negative x", Bicubic, -1.5, -0.0625},
		{"bicubic support", Bicubic, 2, 0},
		{"bilinear", Bilinear, 0.25, 0.75},
		{"bilinear outside", Bilinear, -1.5, 0},
		{"box inside right edge", Box, 0.5, 1},
		{"box outside left edge", Box, -0.5, 0},
		{"hamming centre", Hamming, 0, 1},
		{"hamming one", Hamming, 1, 0},
		{"lanczos integer", Lanczos, 2, 0},
		{"lanczos centre", Lanczos, 0, 1},
		{"lanczos support", Lanczos, 3, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := filterFor(tt.r).fn(tt.x); math.Abs(got-tt.want) > 1e-15 {
				t.Fatalf("%v(%v) = %v, want %v", tt.r, tt.x, got, tt.want)
			}
		})
	}
}

// TestCoefficients checks properties of the fixed-point tables: every
// position's weights sum to 1.0 within rounding, bounds stay inside the
// input, and a shrink widens the kernel by the scale factor.
func TestCoefficients(t *testing.T) {
	var scratch []float64
	for _, tc := range []struct {
		name        string
		in, out     int
		r           Resample
		wantMaxTaps int
	}{
		{"shrink 1080 to 224 bicubic", 1080, 224, Bicubic, 21},
		{"upscale 7 to 224 bicubic", 7, 224, Bicubic, 5},
		{"shrink 3x bilinear", 300, 100, Bilinear, 7},
		{"shrink 2x lanczos", 200, 100, Lanczos, 13},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var a axis
			a.compute(tc.in, tc.out, 0, tc.out, filterFor(tc.r), &scratch)
			if a.ksize != tc.wantMaxTaps {
				t.Errorf("ksize = %d, want %d", a.ksize, tc.wantMaxTaps)
			}
			for i := range tc.out {
				if a.start[i] < 0 || a.start[i]+a.n[i] > tc.in || a.n[i] < 1 || a.n[i] > a.ksize {
					t.Fatalf("position %d reads [%d, %d) of %d", i, a.start[i], a.start[i]+a.n[i], tc.in)
				}
				sum := 0
				for _, k := range a.k[i*a.ksize : i*a.ksize+a.n[i]] {
					sum += int(k)
				}
				if d := sum - 1<<precisionBits; d < -a.ksize || d > a.ksize {
					t.Fatalf("position %d weights sum to %d, want 1<<22 within %d", i, sum, a.ksize)
				}
			}
		})
	}
}

func TestStrings(t *testing.T) {
	for _, tt := range []struct {
		name string
		o    Order
		want string
	}{{"bgr", BGR, "BGR"}, {"rgb", RGB, "RGB"}, {"other", Order(3), "Order(3)"}} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.o.String(); got != tt.want {
				t.Fatalf("String() = %q, want %q", got, tt.want)
			}
		})
	}
	for _, tt := range []struct {
		name string
		s    fmt.Stringer
		want string
	}{
		{"bicubic", Bicubic, "bicubic"},
		{"hamming", Hamming, "hamming"},
		{"unknown filter", Resample(-1), "Resample(-1)"},
		{"shortest edge", Size{ShortestEdge: 224}, `{"shortest_edge": 224}`},
		{"height and width", Size{Height: 3, Width: 4}, `{"height": 3, "width": 4}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.s.String(); got != tt.want {
				t.Fatalf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}

// FuzzRun compares Run with the whole-image reference on small random
// frames and configurations: any size, shrink or upscale, filter, crop or
// pad.
func FuzzRun(f *testing.F) {
	f.Add(uint8(5), uint8(3), uint8(8), uint8(6), uint8(6), uint8(3), false, uint32(1))
	f.Add(uint8(1), uint8(1), uint8(4), uint8(4), uint8(4), uint8(2), false, uint32(2))
	f.Add(uint8(60), uint8(2), uint8(3), uint8(9), uint8(2), uint8(1), true, uint32(3))
	f.Add(uint8(17), uint8(40), uint8(64), uint8(20), uint8(50), uint8(5), false, uint32(4))
	f.Fuzz(func(t *testing.T, w, h, edge, cw, ch, filter uint8, noResize bool, seed uint32) {
		width, height := int(w%64)+1, int(h%64)+1
		cfg := DefaultConfig()
		cfg.Size = Size{ShortestEdge: int(edge%64) + 1}
		cfg.CropSize = Size{Height: int(ch%64) + 1, Width: int(cw%64) + 1}
		cfg.Resample = Resample(filter%5 + 1)
		cfg.DoResize = !noResize
		p, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		rgb := texture(width, height, seed)
		want := refPipeline(cfg, rgb, width, height)
		oh, ow := p.OutputSize()
		dst := make([]float32, 3*oh*ow)
		if err := p.Run(dst, frameOf(rgb, width, height, 3*width+int(seed%4), RGB), width, height, 3*width+int(seed%4), RGB); err != nil {
			t.Fatal(err)
		}
		for j, v := range want {
			if p.out8[j] != v {
				t.Fatalf("%dx%d %+v: byte %d = %d, reference %d", width, height, cfg, j, p.out8[j], v)
			}
		}
	})
}
