package autoclip

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

// productDims are the embedding sizes the product tests cover: below, at
// and around the kernels' 8-float steps and their 16-float unrolls, and
// CLIP's 512.
var productDims = []int{1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 31, 33, 63, 64, 65, 100, 127, 512, 513, 600}

// randMatrix returns n floats drawn uniformly from [-1, 1), times scale.
func randMatrix(rng *rand.Rand, n int, scale float32) []float32 {
	m := make([]float32, n)
	for i := range m {
		m[i] = (2*rng.Float32() - 1) * scale
	}
	return m
}

// checkProduct compares out[f*rows+r] for lo <= r < hi with the float64
// dot products. The tolerance is relative to sum_i |e_ri x_fi|: a float32
// sum of d products, in any order (lanes, pairwise reductions, tails),
// stays within d unit roundoffs (2^-24) of it; this allows (d+16) * 2^-23.
// One product missing, doubled or taken from the wrong place is an error
// of the order of sum_i |e_ri x_fi| / d, far beyond that.
func checkProduct(t *testing.T, name string, emb []float32, rows, d int, x []float32, b int, out []float32, lo, hi int) {
	t.Helper()
	for f := 0; f < b; f++ {
		for r := lo; r < hi; r++ {
			want, tol := referenceDot(emb[r*d:(r+1)*d], x[f*d:(f+1)*d])
			if got := float64(out[f*rows+r]); !(math.Abs(got-want) <= tol) {
				t.Fatalf("%s: frame %d row %d: %v, want %v (tolerance %.3g)", name, f, r, got, want, tol)
			}
		}
	}
}

// referenceDot returns <e, x> in float64 and checkProduct's tolerance for
// a float32 sum of it.
func referenceDot(e, x []float32) (dot, tol float64) {
	var sumAbs float64
	for i, v := range e {
		p := float64(v) * float64(x[i])
		dot += p
		sumAbs += math.Abs(p)
	}
	return dot, float64(len(e)+16) * 0x1p-23 * sumAbs
}

// TestSimilaritiesShapes checks the product Classify uses (the SIMD kernel
// where there is one) against a float64 reference for rows 1..67, every
// productDims size and b 1..9: all the kernels' row and frame groupings,
// their overlapping last groups and their d tails.
func TestSimilaritiesShapes(t *testing.T) {
	rng := newRand(31)
	for rows := 1; rows <= 67; rows++ {
		for _, d := range productDims {
			emb := randMatrix(rng, rows*d, 1)
			for b := 1; b <= 9; b++ {
				x := randMatrix(rng, b*d, 1)
				out := make([]float32, b*rows)
				similarities(emb, rows, d, x, b, out)
				checkProduct(t, fmt.Sprintf("rows=%d d=%d b=%d", rows, d, b), emb, rows, d, x, b, out, 0, rows)
			}
		}
	}
}

// TestSimilaritiesGenericAndSIMDAgree runs the fallback and the SIMD
// kernel explicitly on the same inputs: both match the reference and each
// other.
func TestSimilaritiesGenericAndSIMDAgree(t *testing.T) {
	rng := newRand(32)
	for _, tc := range []struct{ rows, d, b int }{
		{1, 1, 1}, {7, 9, 3}, {8, 512, 1}, {13, 17, 4}, {50, 65, 5}, {67, 600, 9}, {160, 512, 8}, {200, 33, 2},
	} {
		name := fmt.Sprintf("rows=%d d=%d b=%d", tc.rows, tc.d, tc.b)
		emb := randMatrix(rng, tc.rows*tc.d, 1)
		x := randMatrix(rng, tc.b*tc.d, 1)
		generic := make([]float32, tc.b*tc.rows)
		simd := make([]float32, tc.b*tc.rows)
		similaritiesGeneric(emb, tc.rows, tc.d, x, tc.b, generic, 0, tc.rows)
		checkProduct(t, name+" generic", emb, tc.rows, tc.d, x, tc.b, generic, 0, tc.rows)
		if !similaritiesSIMD(emb, tc.rows, tc.d, x, tc.b, simd, 0, tc.rows) {
			t.Skipf("no SIMD kernel on this CPU or architecture")
		}
		checkProduct(t, name+" simd", emb, tc.rows, tc.d, x, tc.b, simd, 0, tc.rows)
		for i := range simd {
			f, r := i/tc.rows, i%tc.rows
			_, tol := referenceDot(emb[r*tc.d:(r+1)*tc.d], x[f*tc.d:(f+1)*tc.d])
			if diff := math.Abs(float64(simd[i]) - float64(generic[i])); !(diff <= 2*tol) {
				t.Errorf("%s: out[%d]: SIMD %v, generic %v", name, i, simd[i], generic[i])
			}
		}
	}
}

// TestSimilaritiesSameBitsAnyBatch checks what Classify's tests of batches
// and repeated templates rely on: a similarity is the same bits whether
// its frame comes alone or in a batch of any size, and whether its row is
// one of few or of many (the kernels differ, their summation order does
// not).
func TestSimilaritiesSameBitsAnyBatch(t *testing.T) {
	rng := newRand(33)
	for _, d := range []int{7, 8, 20, 513} {
		rows, b := 67, 9
		emb := randMatrix(rng, rows*d, 1)
		x := randMatrix(rng, b*d, 1)
		all := make([]float32, b*rows)
		similarities(emb, rows, d, x, b, all)
		for nb := 1; nb <= b; nb++ {
			for nr := 1; nr <= rows; nr += 11 {
				part := make([]float32, nb*nr)
				similarities(emb[:nr*d], nr, d, x[:nb*d], nb, part)
				for f := 0; f < nb; f++ {
					for r := 0; r < nr; r++ {
						if got, want := part[f*nr+r], all[f*rows+r]; math.Float32bits(got) != math.Float32bits(want) {
							t.Fatalf("d=%d: frame %d row %d: %v with %d rows and %d frames, %v with %d and %d", d, f, r, got, nr, nb, want, rows, b)
						}
					}
				}
			}
		}
	}
}

// TestSimilaritiesWritesOnlyItsRows fills out with a sentinel and checks
// that a product writes exactly out[f*rows+r] for its rows [lo, hi) and
// nothing beyond b*rows.
func TestSimilaritiesWritesOnlyItsRows(t *testing.T) {
	rng := newRand(34)
	const sentinel = float32(-12345)
	for _, tc := range []struct{ rows, d, b, lo, hi int }{
		{5, 9, 1, 0, 5}, {30, 17, 3, 0, 30}, {30, 17, 6, 0, 30}, {67, 65, 9, 0, 67},
		{67, 65, 9, 10, 61}, {67, 65, 2, 3, 6}, {100, 8, 5, 48, 100}, {100, 8, 1, 0, 48},
	} {
		name := fmt.Sprintf("rows=%d d=%d b=%d [%d,%d)", tc.rows, tc.d, tc.b, tc.lo, tc.hi)
		emb := randMatrix(rng, tc.rows*tc.d, 1)
		x := randMatrix(rng, tc.b*tc.d, 1)
		impls := []struct {
			name string
			run  func(out []float32)
		}{
			{"dispatch", func(out []float32) { similaritiesRows(emb, tc.rows, tc.d, x, tc.b, out, tc.lo, tc.hi) }},
			{"generic", func(out []float32) { similaritiesGeneric(emb, tc.rows, tc.d, x, tc.b, out, tc.lo, tc.hi) }},
		}
		for _, impl := range impls {
			out := make([]float32, tc.b*tc.rows+37)
			for i := range out {
				out[i] = sentinel
			}
			impl.run(out)
			for i, v := range out {
				f, r := i/tc.rows, i%tc.rows
				inside := f < tc.b && r >= tc.lo && r < tc.hi
				if inside == (v == sentinel) {
					t.Fatalf("%s %s: out[%d] (frame %d row %d) = %v, written: %v, want %v", name, impl.name, i, f, r, v, !inside, inside)
				}
			}
			checkProduct(t, name+" "+impl.name, emb, tc.rows, tc.d, x, tc.b, out, tc.lo, tc.hi)
		}
	}
}

// TestProductWorkersSplit runs the parallel product (threshold lowered so
// that small products split) and checks it gives the same bits as the
// single-goroutine one, for row counts that split into 2 to 4 parts with
// and without a remainder. Under -race it also checks the hand-off.
func TestProductWorkersSplit(t *testing.T) {
	rng := newRand(35)
	p := newProductWorkers()
	p.minParallel = 1
	for _, tc := range []struct{ rows, d, b int }{
		{10, 20, 3}, {97, 33, 8}, {200, 17, 1}, {481, 64, 5}, {1000, 9, 9},
	} {
		name := fmt.Sprintf("rows=%d d=%d b=%d", tc.rows, tc.d, tc.b)
		emb := randMatrix(rng, tc.rows*tc.d, 1)
		x := randMatrix(rng, tc.b*tc.d, 1)
		want := make([]float32, tc.b*tc.rows)
		similarities(emb, tc.rows, tc.d, x, tc.b, want)
		for rep := 0; rep < 3; rep++ {
			got := make([]float32, tc.b*tc.rows)
			p.similarities(emb, tc.rows, tc.d, x, tc.b, got)
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%s: out[%d]: parallel %v, single %v", name, i, got[i], want[i])
				}
			}
		}
	}
}

// TestProductWorkersDoNotAllocate checks that a split product allocates
// nothing in steady state: the goroutines start from the closures made in
// newProductWorkers, and the runtime reuses exited goroutines once its
// free lists are filled. (The first products make new ones, as a goroutine
// exits on one P and starts on another: measured, about 75 in the first
// 10000 products and none in the next 90000.)
func TestProductWorkersDoNotAllocate(t *testing.T) {
	rng := newRand(36)
	p := newProductWorkers()
	p.minParallel = 1
	rows, d, b := 200, 32, 8
	emb := randMatrix(rng, rows*d, 1)
	x := randMatrix(rng, b*d, 1)
	out := make([]float32, b*rows)
	if runtime.GOMAXPROCS(0) < 2 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	}
	for range 2000 {
		p.similarities(emb, rows, d, x, b, out)
	}
	// testing.AllocsPerRun rounds down to whole allocations per run:
	// count them all instead. A closure, a WaitGroup or an argument
	// block per product would be one allocation or more per run; the
	// runtime's last new goroutines and background work a few in all.
	const runs = 2000
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		p.similarities(emb, rows, d, x, b, out)
	}
	runtime.ReadMemStats(&after)
	if n := after.Mallocs - before.Mallocs; n > runs/20 {
		t.Errorf("split product: %d allocations in %d runs, want none per run", n, runs)
	}
}

// FuzzSimilarities draws a shape (rows 1..80, d 1..300, b 1..10), a value
// scale and random values from the fuzz input and checks the product
// against the reference: no panic, no out-of-range write, values within
// the float32 tolerance.
func FuzzSimilarities(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8})
	f.Add([]byte{66, 7, 8, 3, 9, 9, 9, 9, 9, 9, 9, 9})
	f.Add([]byte{79, 255, 1, 20, 1, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{2, 12, 3, 0, 42, 42, 42, 42, 42, 42, 42, 42})
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) < 12 {
			return
		}
		rows := 1 + int(in[0])%80
		d := 1 + int(in[1])%300
		b := 1 + int(in[2])%10
		scale := float32(math.Ldexp(1, int(in[3])%41-20))
		rng := rand.New(rand.NewPCG(binary.LittleEndian.Uint64(in[4:12]), uint64(len(in))))
		emb := randMatrix(rng, rows*d, scale)
		x := randMatrix(rng, b*d, 1)
		// Bytes past the header overwrite values, exact ones included.
		for i, v := range in[12:] {
			emb[i%len(emb)] = float32(int8(v)) * scale / 64
		}
		const sentinel = float32(7777)
		out := make([]float32, b*rows+9)
		for i := range out {
			out[i] = sentinel
		}
		similarities(emb, rows, d, x, b, out)
		for i, v := range out[b*rows:] {
			if v != sentinel {
				t.Fatalf("rows=%d d=%d b=%d: out[%d] past b*rows written: %v", rows, d, b, b*rows+i, v)
			}
		}
		checkProduct(t, fmt.Sprintf("rows=%d d=%d b=%d", rows, d, b), emb, rows, d, x, b, out, 0, rows)
	})
}
