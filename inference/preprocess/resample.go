package preprocess

import "math"

// This file ports the coefficient computation of Pillow's
// src/libImaging/Resample.c (precompute_coeffs, normalize_coeffs_8bpc and the
// filters), which every Pillow release since 4.x shares. Every float64
// product is wrapped in an explicit float64 conversion: the Go spec lets the
// compiler fuse x*y+z into one FMA (it does on arm64), and an explicit
// conversion forbids that, so the rounding is that of Pillow built for x86-64.

// precisionBits is Pillow's PRECISION_BITS: 32 - 8 (result) - 2 (headroom
// for kernels whose negative lobes make partial sums exceed 1).
const precisionBits = 32 - 8 - 2

// half is the rounding term each 8-bit accumulation starts from.
const half = 1 << (precisionBits - 1)

// filter is one of Pillow's resampling kernels with its support (radius).
type filter struct {
	fn      func(x float64) float64
	support float64
}

func filterFor(r Resample) filter {
	switch r {
	case Box:
		return filter{boxFilter, 0.5}
	case Bilinear:
		return filter{bilinearFilter, 1}
	case Hamming:
		return filter{hammingFilter, 1}
	case Bicubic:
		return filter{bicubicFilter, 2}
	case Lanczos:
		return filter{lanczosFilter, 3}
	}
	panic("preprocess: unsupported filter " + r.String()) // Config.validate rejects it first
}

func boxFilter(x float64) float64 {
	if x > -0.5 && x <= 0.5 {
		return 1
	}
	return 0
}

func bilinearFilter(x float64) float64 {
	if x < 0 {
		x = -x
	}
	if x < 1 {
		return 1 - x
	}
	return 0
}

// The float32 constants of Pillow's hamming_filter (0.54f, 0.46f).
var (
	hamming054 = float64(float32(0.54))
	hamming046 = float64(float32(0.46))
)

func hammingFilter(x float64) float64 {
	if x < 0 {
		x = -x
	}
	if x == 0 {
		return 1
	}
	if x >= 1 {
		return 0
	}
	x = float64(x * math.Pi)
	return float64(math.Sin(x)/x) * (hamming054 + float64(hamming046*math.Cos(x)))
}

// bicubicFilter is Keys' cubic convolution kernel with a = -0.5.
func bicubicFilter(x float64) float64 {
	const a = -0.5
	if x < 0 {
		x = -x
	}
	if x < 1 {
		return float64(float64(float64(float64((a+2)*x)-(a+3))*x)*x) + 1
	}
	if x < 2 {
		return float64(float64(float64(float64(x-5)*x)+8)*x-4) * a
	}
	return 0
}

func sincFilter(x float64) float64 {
	if x == 0 {
		return 1
	}
	x = float64(x * math.Pi)
	return math.Sin(x) / x
}

func lanczosFilter(x float64) float64 {
	if -3 <= x && x < 3 {
		return float64(sincFilter(x) * sincFilter(x/3))
	}
	return 0
}

// axis holds the fixed-point coefficients of one resampling direction for a
// run of consecutive output positions: output position i reads n[i] input
// samples starting at start[i], weighted by k[i*ksize : i*ksize+n[i]].
type axis struct {
	ksize int
	start []int
	n     []int
	k     []int32
}

// reset sizes the axis for count outputs of ksize taps, reusing its memory.
func (a *axis) reset(count, ksize int) {
	a.ksize = ksize
	a.start = grow(a.start, count)
	a.n = grow(a.n, count)
	a.k = grow(a.k, count*ksize)
	clear(a.k)
}

// compute fills the axis with Pillow's coefficients for resampling inSize
// samples to outSize samples (box 0..inSize), for the output positions
// from..to-1 only. Each position's coefficients depend on that position alone,
// so the result equals the matching rows of Pillow's full table. scratch
// holds the float64 weights of one position.
func (a *axis) compute(inSize, outSize, from, to int, f filter, scratch *[]float64) {
	// filterscale = scale = (double)(in1 - in0) / outSize, in1 - in0 in float.
	scale := float64(float32(inSize)) / float64(outSize)
	filterscale := scale
	if filterscale < 1 {
		filterscale = 1
	}
	support := float64(f.support * filterscale)
	ksize := int(math.Ceil(support))*2 + 1
	a.reset(to-from, ksize)
	*scratch = grow(*scratch, ksize)
	w := *scratch
	ss := 1 / filterscale
	for xx := from; xx < to; xx++ {
		center := float64((float64(xx) + 0.5) * scale) // in0 = 0
		xmin := int(center - support + 0.5)
		if xmin < 0 {
			xmin = 0
		}
		xmax := int(center + support + 0.5)
		if xmax > inSize {
			xmax = inSize
		}
		xmax -= xmin
		ww := 0.0
		for x := range xmax {
			v := f.fn(float64((float64(x+xmin) - center + 0.5) * ss))
			w[x] = v
			ww += v
		}
		i := xx - from
		k := a.k[i*ksize : i*ksize+ksize]
		for x := range xmax {
			v := w[x]
			if ww != 0 {
				v /= ww
			}
			// normalize_coeffs_8bpc: round half away from zero, truncate.
			if v < 0 {
				k[x] = int32(-0.5 + float64(v*(1<<precisionBits)))
			} else {
				k[x] = int32(0.5 + float64(v*(1<<precisionBits)))
			}
		}
		a.start[i] = xmin
		a.n[i] = max(xmax, 0)
	}
}

// identity fills the axis with one tap of weight 1.0 per position, mapping
// output position from+i to input position from+i: a pass Pillow skips (the
// size is unchanged) or a missing resize. It rounds to the same bytes.
func (a *axis) identity(from, to int) {
	a.reset(to-from, 1)
	for i := range to - from {
		a.start[i] = from + i
		a.n[i] = 1
		a.k[i] = 1 << precisionBits
	}
}

// span returns the first input sample any position reads and one past the
// last. Starts and ends grow with the position, so the ends decide.
func (a *axis) span() (lo, hi int) {
	m := len(a.start)
	if m == 0 {
		return 0, 0
	}
	lo, hi = a.start[0], a.start[0]+a.n[0]
	for i := range m {
		lo = min(lo, a.start[i])
		hi = max(hi, a.start[i]+a.n[i])
	}
	return lo, hi
}

// clip8 is Pillow's clip8: drop the fraction bits (arithmetic shift) and
// clamp to a byte.
func clip8(v int32) uint8 {
	v >>= precisionBits
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}
