package autoclip

import (
	"math"
	"math/big"
	"testing"
)

// TestExpTable checks that every expTable entry is 2^(j/128) rounded to
// the nearest float64: t^128 is computed exactly with big.Float for the
// midpoints between the entry and its two neighbours, and 2^j must lie
// strictly between them.
func TestExpTable(t *testing.T) {
	pow128 := func(a, b float64) *big.Float { // ((a+b)/2)^128, exactly
		p := new(big.Float).SetPrec(8192).SetFloat64(a)
		p.Add(p, new(big.Float).SetFloat64(b))
		p.Quo(p, big.NewFloat(2))
		for range 7 {
			p.Mul(p, p)
		}
		return p
	}
	for j, bits := range expTable {
		v := math.Float64frombits(bits)
		lo := pow128(v, math.Nextafter(v, 0))
		hi := pow128(v, math.Nextafter(v, 2))
		want := new(big.Float).SetPrec(8192).SetMantExp(big.NewFloat(1), j)
		if !(lo.Cmp(want) < 0 && want.Cmp(hi) < 0) {
			t.Errorf("expTable[%d] = %v (%#x) is not 2^(%d/128) rounded to nearest", j, v, bits, j)
		}
	}
}

// expFast is expScaled for one value.
func expFast(x float64) float64 {
	var e [1]float64
	expScaled(e[:], []float64{x}, 1, 0)
	return e[0]
}

// expFastTolerance is the relative error allowed between expFast and
// math.Exp (each is within about 1 ulp of e^x; 1e-15 is 4.5 ulp).
const expFastTolerance = 1e-15

// checkExpFast compares expFast(x) with math.Exp(x): equal bits for
// results that are not normal numbers (NaN, zero, Inf, subnormal), relative
// error within expFastTolerance otherwise.
func checkExpFast(t *testing.T, x float64) {
	t.Helper()
	got, want := expFast(x), math.Exp(x)
	if math.IsNaN(want) {
		if !math.IsNaN(got) {
			t.Fatalf("expFast(%v) = %v, want NaN", x, got)
		}
		return
	}
	if want < 0x1p-1022 || math.IsInf(want, 0) {
		if got != want {
			t.Fatalf("expFast(%v) = %v, math.Exp %v", x, got, want)
		}
		return
	}
	if rel := math.Abs(got-want) / want; !(rel <= expFastTolerance) {
		t.Fatalf("expFast(%v) = %v, math.Exp %v: relative error %.3g", x, got, want, rel)
	}
}

// TestExpFast covers the whole input range: a dense grid over
// [-746, 710], random points, the edges of the fast path and of the
// subnormal, zero and infinite results, and special values.
func TestExpFast(t *testing.T) {
	for _, x := range []float64{
		0, math.Copysign(0, -1), 1, -1, 0.5, -0.5, 1e-300, -1e-300, 5e-324, -5e-324, 1e-17, -1e-17,
		math.Ln2, -math.Ln2, math.Ln2 / 256, -math.Ln2 / 256, math.Ln2 / 128, 3 * math.Ln2 / 256,
		-708.3, math.Nextafter(-708.3, 0), math.Nextafter(-708.3, -1000), -708.39641853226408, -708.4,
		-709, -744, -745, -745.1332191019411, -745.1332191019412, -745.2, -746, -1000, -1e10, -math.MaxFloat64,
		709.7, math.Nextafter(709.7, 0), math.Nextafter(709.7, 1000), 709.782712893384, 709.8, 1e10, math.MaxFloat64,
		math.Inf(-1), math.Inf(1), math.NaN(),
	} {
		checkExpFast(t, x)
	}
	// A grid with a step that is no fraction of ln2/128, so that it
	// meets every table entry at many offsets.
	n := 0
	for x := -746.0; x <= 710; x += 1.0 / 1013 {
		checkExpFast(t, x)
		n++
	}
	rng := newRand(7)
	for range 200000 {
		checkExpFast(t, -746*rng.Float64())
		checkExpFast(t, (rng.Float64()*2-1)*math.Ln2) // one binade, all entries
		checkExpFast(t, (rng.Float64()*2-1)*math.Pow(10, -20+20*rng.Float64()))
	}
	t.Logf("%d grid points", n)
}

// FuzzExpFast checks expFast against math.Exp on arbitrary inputs.
func FuzzExpFast(f *testing.F) {
	for _, x := range []float64{0, -1, 1, -708.3, -745.2, 709.7, -1e-300, math.Inf(-1)} {
		f.Add(x)
	}
	f.Fuzz(func(t *testing.T, x float64) {
		checkExpFast(t, x)
	})
}

var expSink float64

func BenchmarkExp(b *testing.B) {
	xs := make([]float64, 80)
	rng := newRand(1)
	for i := range xs {
		xs[i] = -30 * rng.Float64()
	}
	b.Run("math.Exp", func(b *testing.B) {
		var s float64
		for b.Loop() {
			for _, x := range xs {
				s += math.Exp(x)
			}
		}
		expSink = s
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(xs)), "ns/exp")
	})
	b.Run("expScaled", func(b *testing.B) {
		dst := make([]float64, len(xs))
		var s float64
		for b.Loop() {
			expScaled(dst, xs, 1, 0)
			s += dst[0]
		}
		expSink = s
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(xs)), "ns/exp")
	})
}
