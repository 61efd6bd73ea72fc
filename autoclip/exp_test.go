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

// expFastTolerance is the relative error allowed between expScaled and
// math.Exp (each is within about 1 ulp of e^x; 1e-15 is 4.5 ulp).
const expFastTolerance = 1e-15

// checkExp compares got = e^t with math.Exp(t): equal bits for results
// that are not normal numbers (NaN, zero, Inf, subnormal), relative error
// within expFastTolerance otherwise.
func checkExp(t *testing.T, what string, arg, got float64) {
	t.Helper()
	want := math.Exp(arg)
	if math.IsNaN(want) {
		if !math.IsNaN(got) {
			t.Fatalf("%s: e^%v = %v, want NaN", what, arg, got)
		}
		return
	}
	if want < 0x1p-1022 || math.IsInf(want, 0) {
		if got != want {
			t.Fatalf("%s: e^%v = %v, math.Exp %v", what, arg, got, want)
		}
		return
	}
	if rel := math.Abs(got-want) / want; !(rel <= expFastTolerance) {
		t.Fatalf("%s: e^%v = %v, math.Exp %v: relative error %.3g", what, arg, got, want, rel)
	}
}

// checkExpScaled runs expScaled (the SIMD kernel where there is one, Go
// for the last len(xs)%4 values) and expScaledGo on xs with scale and
// shift, and checks every result against math.Exp(scale*x - shift).
func checkExpScaled(t *testing.T, xs []float64, scale, shift float64) {
	t.Helper()
	got, gotGo := make([]float64, len(xs)), make([]float64, len(xs))
	expScaled(got, xs, scale, shift)
	expScaledGo(gotGo, xs, scale, shift)
	for i, x := range xs {
		arg := scale*x - shift
		checkExp(t, "expScaled", arg, got[i])
		checkExp(t, "expScaledGo", arg, gotGo[i])
	}
}

// TestExpScaled covers the whole input range: special values and the
// edges of the fast path and of subnormal, zero and infinite results, each
// in every lane of a SIMD group next to ordinary values; a dense grid over
// [-746, 710]; random points; scale and shift other than 1 and 0.
func TestExpScaled(t *testing.T) {
	special := []float64{
		0, math.Copysign(0, -1), 1, -1, 0.5, -0.5, 1e-300, -1e-300, 5e-324, -5e-324, 1e-17, -1e-17,
		math.Ln2, -math.Ln2, math.Ln2 / 256, -math.Ln2 / 256, math.Ln2 / 128, -3 * math.Ln2 / 256,
		-708.3, math.Nextafter(-708.3, 0), math.Nextafter(-708.3, -1000), -708.39641853226408, -708.4,
		-709, -744, -745, -745.1332191019411, -745.1332191019412, -745.2, -746, -1000, -1e10, -math.MaxFloat64,
		709.7, 709.782712893384, 709.8, 1e10, math.MaxFloat64,
		math.Inf(-1), math.Inf(1), math.NaN(),
	}
	for _, x := range special {
		for lane := range 5 {
			xs := []float64{-1, -2, -3, -4, -5}
			xs[lane] = x
			checkExpScaled(t, xs, 1, 0)
		}
	}
	// A grid with a step that is no fraction of ln2/128, so that it
	// meets every table entry at many offsets.
	var grid []float64
	for x := -746.0; x <= 710; x += 1.0 / 1013 {
		grid = append(grid, x)
	}
	checkExpScaled(t, grid, 1, 0)
	rng := newRand(7)
	xs := make([]float64, 300001)
	for i := range xs {
		switch i % 3 {
		case 0:
			xs[i] = -746 * rng.Float64()
		case 1:
			xs[i] = (rng.Float64()*2 - 1) * math.Ln2 // one binade, all entries
		case 2:
			xs[i] = (rng.Float64()*2 - 1) * math.Pow(10, -20+20*rng.Float64())
		}
	}
	checkExpScaled(t, xs, 1, 0)
	// As in the callers: a step size times values <= 0, minus a maximum.
	for i := range xs {
		xs[i] = -rng.ExpFloat64() * 1e-3
	}
	checkExpScaled(t, xs, 7919.5, 0)
	checkExpScaled(t, xs, 1e7, 0)
	checkExpScaled(t, xs, 100, -0.25)
	t.Logf("%d grid points", len(grid))
}

// FuzzExpScaled checks expScaled, in each lane of a SIMD group and in Go,
// against math.Exp on arbitrary arguments.
func FuzzExpScaled(f *testing.F) {
	for _, x := range []float64{0, -1, 1, -708.3, -745.2, 709.7, -1e-300, math.Inf(-1)} {
		f.Add(x, 1.0, 0.0)
	}
	f.Add(-1e-3, 8000.0, 0.0)
	f.Fuzz(func(t *testing.T, x, scale, shift float64) {
		checkExpScaled(t, []float64{x, -x, x, 0.5 * x, x}, scale, shift)
	})
}

// TestExpSums checks expSums (the SIMD kernel where there is one, Go for
// the last len(d)%4 values) against math.Exp and plain sums, for lengths
// around the kernel's groups of 4 and step sizes that take some arguments
// below -708.3 (math.Exp's subnormals and zeros, redone in Go).
func TestExpSums(t *testing.T) {
	rng := newRand(43)
	for _, n := range []int{1, 2, 3, 4, 5, 7, 8, 9, 80, 81, 130} {
		d := make([]float64, n)
		for i := range d {
			d[i] = -rng.ExpFloat64() * 1e-3
		}
		d[rng.IntN(n)] = 0
		for _, alpha := range []float64{0, 1, 8000, 3e5, 1e7} {
			e := make([]float64, n+1)
			e[n] = 42 // must stay untouched
			z, s1, s2 := expSums(e[:n], d, alpha)
			var wz, w1, w2 float64
			for i, x := range d {
				checkExp(t, "expSums", alpha*x, e[i])
				ex := math.Exp(alpha * x)
				wz += ex
				w1 += ex * x
				w2 += ex * x * x
			}
			if e[n] != 42 {
				t.Fatalf("n=%d alpha=%v: wrote past the end", n, alpha)
			}
			for _, c := range []struct {
				name      string
				got, want float64
			}{{"sum e", z, wz}, {"sum e d", s1, w1}, {"sum e d^2", s2, w2}} {
				if math.Abs(c.got-c.want) > 1e-13*math.Abs(c.want) {
					t.Errorf("n=%d alpha=%v: %s = %v, want %v", n, alpha, c.name, c.got, c.want)
				}
			}
			// The same inputs give the same bits (entropyVar's contract).
			e2 := make([]float64, n)
			if z2, s12, s22 := expSums(e2, d, alpha); z2 != z || s12 != s1 || s22 != s2 {
				t.Errorf("n=%d alpha=%v: sums differ between two calls", n, alpha)
			}
		}
	}
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
	b.Run("expScaledGo", func(b *testing.B) {
		dst := make([]float64, len(xs))
		var s float64
		for b.Loop() {
			expScaledGo(dst, xs, 1, 0)
			s += dst[0]
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
