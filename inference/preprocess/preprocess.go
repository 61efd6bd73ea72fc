// Package preprocess turns a camera frame into the float32 CHW tensor a CLIP
// image encoder expects, exactly as Hugging Face's CLIPImageProcessor does it
// with Pillow: resize (Pillow's separable, antialiasing convolution with
// fixed-point coefficients and 8-bit rounding between the horizontal and the
// vertical pass), centre crop, rescale and normalise.
//
// It works on the frame's bytes in pure Go and computes only the pixels the
// centre crop keeps: for a 1920x1080 frame and a 224x224 crop, the horizontal
// pass produces 224 of the 398 resized columns, and only for the source rows
// the kept output rows read.
//
// The configuration comes from a model's preprocessor_config.json
// (LoadConfig); a Preprocessor holds the coefficient tables and scratch
// buffers for one input size and is used by one goroutine at a time.
package preprocess

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"runtime"
)

// Order is the channel order of a packed 3-byte-per-pixel input.
type Order int

// The channel orders Run accepts.
const (
	BGR Order = iota // OpenCV's order, the order of capture.Frame
	RGB
)

// String returns "BGR" or "RGB".
func (o Order) String() string {
	switch o {
	case BGR:
		return "BGR"
	case RGB:
		return "RGB"
	}
	return fmt.Sprintf("Order(%d)", int(o))
}

// Preprocessor runs one Config over frames. It keeps the coefficient tables
// for the last input size and its scratch buffers, so that Run does not
// allocate while the input size stays the same. It is not safe for
// concurrent use: use one per goroutine.
type Preprocessor struct {
	cfg        Config
	outH, outW int
	// lut maps a byte of output channel c (RGB order) to its final value:
	// rescale then normalise, in float32 as transformers computes them.
	lut [3][256]float32

	// Plan for the current input size.
	inW, inH int
	planned  bool
	x0, x1   int  // output columns [x0, x1) come from the image, the rest is padding
	y0, y1   int  // output rows likewise
	srcX0    int  // first source column the horizontal pass reads
	srcX1    int  // one past the last
	srcY0    int  // first source row the horizontal pass reads
	tmpRows  int  // source rows the horizontal pass reads
	horiz    axis // starts relative to srcX0
	vert     axis // starts relative to srcY0
	words    int  // uint64 words per tmp row: 3*ceil((x1-x0)/2)

	// pk holds two source rows, one uint64 per pixel and channel with the
	// upper row in the low 32 bits and the lower row in the high 32 bits,
	// planar: channel c of pixel x at pk[c*(srcX1-srcX0)+x].
	pk []uint64
	// pk2 is the second half's scratch when the horizontal pass is split
	// over two goroutines (large frames on more than one CPU).
	pk2  []uint64
	done chan struct{}
	// tmp holds the horizontal pass output, one row of words per source row;
	// word 3*m+c holds channel c of kept columns 2m (low half) and 2m+1
	// (high half), in the input's channel order.
	tmp     []uint64
	acc     []uint64 // one row of vertical accumulators, packed like tmp
	acc2    []uint64 // the second half's, when the pass is split
	out8    []uint8  // the 8-bit crop, planar RGB, before the LUT
	scratch []float64
}

// New validates cfg (see Config.Validate) and returns a Preprocessor for it.
func New(cfg Config) (*Preprocessor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("preprocess: %w", err)
	}
	p := &Preprocessor{cfg: cfg}
	if cfg.DoCenterCrop {
		p.outH, p.outW = cfg.CropSize.Height, cfg.CropSize.Width
	} else {
		p.outH, p.outW = cfg.Size.Height, cfg.Size.Width
	}
	for c := range 3 {
		mean, std := float32(cfg.ImageMean[c]), float32(cfg.ImageStd[c])
		for v := range 256 {
			// transformers' rescale multiplies in float64 then stores float32;
			// normalize subtracts and divides in float32.
			x := float32(v)
			if cfg.DoRescale {
				x = float32(float64(v) * cfg.RescaleFactor)
			}
			if cfg.DoNormalize {
				x = float32(x-mean) / std
			}
			p.lut[c][v] = x
		}
	}
	p.out8 = make([]uint8, 3*p.outH*p.outW)
	p.done = make(chan struct{}, 1)
	return p, nil
}

// Config returns the configuration the Preprocessor runs.
func (p *Preprocessor) Config() Config { return p.cfg }

// OutputSize returns the height and width of the output tensor: Run writes
// 3*h*w floats.
func (p *Preprocessor) OutputSize() (h, w int) { return p.outH, p.outW }

// ResizedSize returns the size, height then width, the resize step gives an
// input of width x height pixels, before the centre crop: transformers'
// get_resize_output_image_size with default_to_square=False for a shortest
// edge, the configured size for height and width, the input size when the
// Config does not resize.
func (p *Preprocessor) ResizedSize(width, height int) (h, w int) {
	if !p.cfg.DoResize {
		return height, width
	}
	s := p.cfg.Size
	if s.ShortestEdge == 0 {
		return s.Height, s.Width
	}
	short, long := height, width
	if width <= height {
		short, long = width, height
	}
	// int(requested_new_short * long / short): an exact integer product, a
	// correctly rounded float64 quotient, truncation.
	newLong := int(float64(s.ShortestEdge*long) / float64(short))
	if width <= height {
		return newLong, s.ShortestEdge
	}
	return s.ShortestEdge, newLong
}

// Run preprocesses one frame: src holds height rows of width packed 3-byte
// pixels in the given channel order, each row starting stride bytes after the
// previous one (stride >= 3*width). It writes the normalised tensor into dst
// as float32 [3][h][w] in RGB order, (h, w) = OutputSize(); len(dst) must be
// exactly 3*h*w. Run allocates only when the input size changes.
func (p *Preprocessor) Run(dst []float32, src []byte, width, height, stride int, order Order) error {
	if err := p.check(dst, src, width, height, stride, order); err != nil {
		return err
	}
	if !p.planned || width != p.inW || height != p.inH {
		p.plan(width, height)
	}
	p.resize(src, stride, order)
	p.normalize(dst)
	return nil
}

func (p *Preprocessor) check(dst []float32, src []byte, width, height, stride int, order Order) error {
	switch {
	case width < 1 || height < 1:
		return fmt.Errorf("preprocess: frame size %dx%d is empty", width, height)
	case width > 1<<24 || height > 1<<24:
		return fmt.Errorf("preprocess: frame size %dx%d exceeds %d pixels on a side", width, height, 1<<24)
	case stride < 3*width:
		return fmt.Errorf("preprocess: stride %d is less than 3*width = %d", stride, 3*width)
	case uint64(len(src)) < frameBytes(width, height, stride):
		return fmt.Errorf("preprocess: src has %d bytes, a %dx%d frame with stride %d needs %d", len(src), width, height, stride, frameBytes(width, height, stride))
	case len(dst) != 3*p.outH*p.outW:
		return fmt.Errorf("preprocess: dst has %d floats, want 3*%d*%d = %d", len(dst), p.outH, p.outW, 3*p.outH*p.outW)
	case order != BGR && order != RGB:
		return errors.New("preprocess: order " + order.String() + " is neither BGR nor RGB")
	}
	return nil
}

// frameBytes is stride*(height-1) + 3*width, saturated at MaxUint64.
func frameBytes(width, height, stride int) uint64 {
	hi, lo := bits.Mul64(uint64(stride), uint64(height-1))
	sum, carry := bits.Add64(lo, uint64(3*width), 0)
	if hi != 0 || carry != 0 {
		return math.MaxUint64
	}
	return sum
}

// plan computes the coefficient tables and buffer sizes for an input size.
func (p *Preprocessor) plan(width, height int) {
	p.inW, p.inH = width, height
	rh, rw := p.ResizedSize(width, height)
	top, left := 0, 0
	if p.cfg.DoCenterCrop {
		// transformers' center_crop: offsets (orig - crop) // 2 (floor), zero
		// padding where the crop extends past the image.
		top, left = floorDiv(rh-p.outH, 2), floorDiv(rw-p.outW, 2)
	}
	// Output pixel (y, x) is resized pixel (y+top, x+left) when that exists.
	p.y0, p.y1 = max(0, -top), min(p.outH, rh-top)
	p.x0, p.x1 = max(0, -left), min(p.outW, rw-left)
	if p.y0 >= p.y1 || p.x0 >= p.x1 { // all padding; cannot happen with valid sizes
		p.y0, p.y1, p.x0, p.x1 = 0, 0, 0, 0
	}
	f := filter{}
	if p.cfg.DoResize {
		f = filterFor(p.cfg.Resample)
	}
	// Pillow skips a pass whose size does not change; identity coefficients
	// give the same bytes.
	if rw != width {
		p.horiz.compute(width, rw, p.x0+left, p.x1+left, f, &p.scratch)
	} else {
		p.horiz.identity(p.x0+left, p.x1+left)
	}
	if rh != height {
		p.vert.compute(height, rh, p.y0+top, p.y1+top, f, &p.scratch)
	} else {
		p.vert.identity(p.y0+top, p.y1+top)
	}
	lo, hi := p.vert.span()
	p.srcY0, p.tmpRows = lo, hi-lo
	for i := range p.vert.start {
		p.vert.start[i] -= lo
	}
	lo, hi = p.horiz.span()
	p.srcX0, p.srcX1 = lo, hi
	for i := range p.horiz.start {
		p.horiz.start[i] -= lo
	}
	p.words = 3 * ((p.x1 - p.x0 + 1) / 2)
	p.pk = grow(p.pk, 3*(hi-lo))
	p.pk2 = grow(p.pk2, 3*(hi-lo))
	// One spare row: the partner of the last row when the count is odd.
	p.tmp = grow(p.tmp, (p.tmpRows+1)*p.words)
	p.acc = grow(p.acc, p.words)
	p.acc2 = grow(p.acc2, p.words)
	p.planned = true
}

func floorDiv(a, b int) int {
	q := a / b
	if (a%b != 0) && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// Both passes use SIMD within a register: the sums Pillow keeps in 32-bit
// ints fit in 32 bits (with sign), so two of them share a uint64. With
// lanes (a, b) and a coefficient w, (a + b<<32) * w wraps to
// a*w + (b*w)<<32 modulo 2^64, and sums of such products keep both lanes
// apart; unpack recovers them. The horizontal pass pairs two source rows,
// the vertical pass two output columns.

// laneHalf starts both lanes at Pillow's rounding term.
const laneHalf = half | half<<32

// unpack splits a sum of packed products into its two 32-bit lanes.
func unpack(s uint64) (lo, hi int32) {
	lo = int32(uint32(s))
	hi = int32(uint32((s - uint64(int64(lo))) >> 32))
	return lo, hi
}

// resize runs both passes into p.out8 (planar RGB, padding zero).
func (p *Preprocessor) resize(src []byte, stride int, order Order) {
	if p.words == 0 {
		clear(p.out8)
		return
	}
	// Horizontal pass over the source rows the vertical pass reads, two rows
	// at a time, only the kept columns. It is three quarters of the work:
	// on more than one CPU, a large frame's rows are split between this
	// goroutine and one more (the arithmetic per row is unchanged).
	if p.tmpRows >= splitRows && runtime.GOMAXPROCS(0) > 1 {
		mid := (p.tmpRows / 2) &^ 1
		go p.horizontalAsync(src, stride, mid, p.tmpRows)
		p.horizontalRows(src, stride, 0, mid, p.pk)
		<-p.done
	} else {
		p.horizontalRows(src, stride, 0, p.tmpRows, p.pk)
	}

	// Vertical pass, one output row at a time, accumulating whole tmp rows;
	// split the same way.
	clearPadding(p.out8, p.outH, p.outW, p.y0, p.y1, p.x0, p.x1)
	rows := p.y1 - p.y0
	if p.tmpRows >= splitRows && runtime.GOMAXPROCS(0) > 1 && rows > 1 {
		mid := rows / 2
		go p.verticalAsync(mid, rows, order)
		p.verticalRows(0, mid, p.acc[:p.words], order)
		<-p.done
	} else {
		p.verticalRows(0, rows, p.acc[:p.words], order)
	}
}

func (p *Preprocessor) verticalAsync(i0, i1 int, order Order) {
	p.verticalRows(i0, i1, p.acc2[:p.words], order)
	p.done <- struct{}{}
}

// verticalRows runs the vertical pass for output rows [i0, i1) of the image
// part (relative to y0), with acc as its accumulator row.
func (p *Preprocessor) verticalRows(i0, i1 int, acc []uint64, order Order) {
	words := p.words
	plane := p.outH * p.outW
	ri, bi := 0, 2 // where R and B sit in a pixel
	if order == BGR {
		ri, bi = 2, 0
	}
	vk, vs, vn, vks := p.vert.k, p.vert.start, p.vert.n, p.vert.ksize
	cw := p.x1 - p.x0
	for i := i0; i < i1; i++ {
		vertical(acc, p.tmp[vs[i]*words:], vk[i*vks:i*vks+vn[i]])
		row := (p.y0+i)*p.outW + p.x0
		outR := p.out8[row : row+cw]
		outG := p.out8[plane+row : plane+row+cw]
		outB := p.out8[2*plane+row : 2*plane+row+cw]
		for m := range cw / 2 {
			px := acc[3*m : 3*m+3 : 3*m+3]
			r0, r1 := unpack(px[ri])
			g0, g1 := unpack(px[1])
			b0, b1 := unpack(px[bi])
			x := 2 * m
			outR[x], outG[x], outB[x] = clip8(r0), clip8(g0), clip8(b0)
			outR[x+1], outG[x+1], outB[x+1] = clip8(r1), clip8(g1), clip8(b1)
		}
		if cw%2 == 1 {
			m := cw / 2
			px := acc[3*m : 3*m+3 : 3*m+3]
			r0, _ := unpack(px[ri])
			g0, _ := unpack(px[1])
			b0, _ := unpack(px[bi])
			outR[cw-1], outG[cw-1], outB[cw-1] = clip8(r0), clip8(g0), clip8(b0)
		}
	}
}

// splitRows is the number of source rows from which the horizontal pass is
// split over two goroutines.
const splitRows = 256

func (p *Preprocessor) horizontalAsync(src []byte, stride, r0, r1 int) {
	p.horizontalRows(src, stride, r0, r1, p.pk2)
	p.done <- struct{}{}
}

// horizontalRows runs the horizontal pass over tmp rows [r0, r1) (r0 even)
// with pk as its packing scratch.
func (p *Preprocessor) horizontalRows(src []byte, stride, r0, r1 int, pk []uint64) {
	words, n := p.words, p.srcX1-p.srcX0
	pk0, pk1, pk2 := pk[:n], pk[n:2*n], pk[2*n:3*n]
	for r := r0; r < r1; r += 2 {
		off := (p.srcY0+r)*stride + 3*p.srcX0
		upper := src[off : off+3*n]
		lower := upper // an odd last row pairs with itself; its twin is unused
		if r+1 < p.tmpRows {
			lower = src[off+stride : off+stride+3*n]
		}
		packRows(pk0, pk1, pk2, upper, lower)
		horizontal(p.tmp[r*words:(r+1)*words], p.tmp[(r+1)*words:(r+2)*words], pk0, pk1, pk2, &p.horiz)
	}
}

// packRows interleaves two rows of packed 3-byte pixels into one uint64 per
// pixel and channel: upper row low, lower row high.
func packRows(pk0, pk1, pk2 []uint64, upper, lower []byte) {
	pk1, pk2 = pk1[:len(pk0)], pk2[:len(pk0)]
	upper, lower = upper[:3*len(pk0)], lower[:3*len(pk0)]
	for x := range pk0 {
		u := upper[3*x : 3*x+3 : 3*x+3]
		l := lower[3*x : 3*x+3 : 3*x+3]
		pk0[x] = uint64(u[0]) | uint64(l[0])<<32
		pk1[x] = uint64(u[1]) | uint64(l[1])<<32
		pk2[x] = uint64(u[2]) | uint64(l[2])<<32
	}
}

// horizontal resamples two packed source rows into two rows of tmp words
// (upper into out0, lower into out1) with Pillow's 8-bit arithmetic.
func horizontal(out0, out1 []uint64, pk0, pk1, pk2 []uint64, a *axis) {
	k, start, ns, ksize := a.k, a.start, a.n, a.ksize
	for i, s := range start {
		kk := k[i*ksize : i*ksize+ns[i]]
		q0 := pk0[s : s+len(kk)]
		q1 := pk1[s : s+len(kk)]
		q2 := pk2[s : s+len(kk)]
		var a0, a1, a2 uint64 = laneHalf, laneHalf, laneHalf
		var b0, b1, b2 uint64
		j := 1
		for ; j < len(kk); j += 2 {
			w, v := uint64(int64(kk[j-1])), uint64(int64(kk[j]))
			a0 += q0[j-1] * w
			a1 += q1[j-1] * w
			a2 += q2[j-1] * w
			b0 += q0[j] * v
			b1 += q1[j] * v
			b2 += q2[j] * v
		}
		if j == len(kk) { // odd tap count: one left
			w := uint64(int64(kk[j-1]))
			a0 += q0[j-1] * w
			a1 += q1[j-1] * w
			a2 += q2[j-1] * w
		}
		a0, a1, a2 = a0+b0, a1+b1, a2+b2
		u0, l0 := unpack(a0)
		u1, l1 := unpack(a1)
		u2, l2 := unpack(a2)
		m, sh := 3*(i>>1), uint(i&1)*32
		o0 := out0[m : m+3 : m+3]
		o1 := out1[m : m+3 : m+3]
		if sh == 0 {
			o0[0], o0[1], o0[2] = uint64(clip8(u0)), uint64(clip8(u1)), uint64(clip8(u2))
			o1[0], o1[1], o1[2] = uint64(clip8(l0)), uint64(clip8(l1)), uint64(clip8(l2))
		} else {
			o0[0] |= uint64(clip8(u0)) << 32
			o0[1] |= uint64(clip8(u1)) << 32
			o0[2] |= uint64(clip8(u2)) << 32
			o1[0] |= uint64(clip8(l0)) << 32
			o1[1] |= uint64(clip8(l1)) << 32
			o1[2] |= uint64(clip8(l2)) << 32
		}
	}
}

// vertical accumulates len(k) rows of tmp words (len(acc) words each,
// starting at the beginning of tmp) weighted by k into acc.
func vertical(acc, tmp []uint64, k []int32) {
	n := len(acc)
	for i := range acc {
		acc[i] = laneHalf
	}
	for t, w := range k {
		w := uint64(int64(w))
		r := tmp[t*n : t*n+n]
		r = r[:len(acc)]
		for i, v := range r {
			acc[i] += v * w
		}
	}
}

// clearPadding zeroes the parts of the planar 8-bit output outside rows
// [y0, y1) x columns [x0, x1): transformers pads with zero bytes.
func clearPadding(out8 []uint8, h, w, y0, y1, x0, x1 int) {
	if y0 == 0 && y1 == h && x0 == 0 && x1 == w {
		return
	}
	plane := h * w
	for c := range 3 {
		pl := out8[c*plane : (c+1)*plane]
		clear(pl[:y0*w])
		clear(pl[y1*w:])
		for y := y0; y < y1; y++ {
			clear(pl[y*w : y*w+x0])
			clear(pl[y*w+x1 : y*w+w])
		}
	}
}

// normalize maps the 8-bit crop through the rescale/normalise table.
func (p *Preprocessor) normalize(dst []float32) {
	plane := p.outH * p.outW
	for c := range 3 {
		lut := &p.lut[c]
		in := p.out8[c*plane : (c+1)*plane]
		out := dst[c*plane : (c+1)*plane]
		out = out[:len(in)]
		for i, v := range in {
			out[i] = lut[v]
		}
	}
}
