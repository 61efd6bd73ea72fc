package autoclip

import (
	"runtime"
	"sync"

	gblas "gonum.org/v1/gonum/blas/gonum"
)

// similarities computes the float32 product of emb [rows][d] and the b
// frames x [b][d], transposed: out[f*rows+r] = <emb_r, x_f>. Each frame's
// similarities are then contiguous, in emb's row order. It writes only
// out[:b*rows], runs on the calling goroutine and does not allocate.
//
// It dispatches to a SIMD kernel where there is one (similaritiesSIMD:
// AVX2+FMA assembly on amd64 CPUs that have both, NEON assembly on arm64)
// and to similaritiesGeneric otherwise. The SIMD kernels are register
// blocked: one pass over d reads a few rows and several frames and keeps
// all their dot products in registers (3 rows x 4 frames with AVX2, 4 x 4
// with NEON), so every emb row is read from memory once per batch, the
// frames come from L1, and the rows ahead are prefetched. The NEON kernels
// are tested under qemu-user (make test-autoclip-arm64), not yet timed on
// an arm64 CPU.
//
// Measured on the 2-core CI machine (AMD EPYC Zen 4, bench_test.go, K=80,
// D=512, one run): with AVX2 the product per frame is 8.2 us at C=10, B=8
// (Sdot: 41 us), 87 us at C=100, B=8 (Sdot: 449 us), 24 and 276 us at
// B=1 (Sdot: 42 and 452 us). At C=1000 (164 MB of embeddings) Classify
// splits it across both cores (productWorkers): 5.5 ms per batch of 8
// (Sdot: 36.6 ms) and 4.2 ms for one frame, against 5.1 ms to stream the
// embeddings once with the same kernels (6.4 ms with Sdot on one core).
// The kernels prefetch into L2 (PREFETCHT1): prefetching into L1 left the
// single-core product at C=1000, B=8 near 14 ms, with it it is near 8 ms.
// An AVX-512 3x8 kernel measured only 6 to 13% faster and is not used.
func similarities(emb []float32, rows, d int, x []float32, b int, out []float32) {
	similaritiesRows(emb, rows, d, x, b, out, 0, rows)
}

// similaritiesRows is similarities for the rows [lo, hi) only: it writes
// out[f*rows+r] for lo <= r < hi.
func similaritiesRows(emb []float32, rows, d int, x []float32, b int, out []float32, lo, hi int) {
	if !similaritiesSIMD(emb, rows, d, x, b, out, lo, hi) {
		similaritiesGeneric(emb, rows, d, x, b, out, lo, hi)
	}
}

// similaritiesGeneric is similaritiesRows with gonum's Sdot per row and
// frame (SSE assembly on amd64, Go elsewhere): the fallback for CPUs and
// architectures without a SIMD kernel, and for products too small for one.
// Each row is loaded from memory once and reused from L1 for all b frames.
func similaritiesGeneric(emb []float32, rows, d int, x []float32, b int, out []float32, lo, hi int) {
	var impl gblas.Implementation
	out = out[:b*rows]
	for r := lo; r < hi; r++ {
		er := emb[r*d : (r+1)*d]
		for f := 0; f < b; f++ {
			out[f*rows+r] = impl.Sdot(d, er, 1, x[f*d:(f+1)*d], 1)
		}
	}
}

const (
	// maxProductWorkers bounds the goroutines one product is split across.
	maxProductWorkers = 4
	// parallelProductFloats is the size of emb (rows*d floats, 32 MiB)
	// from which a product is split across goroutines: embeddings that
	// no longer fit in the L3 cache, where one core cannot keep up with
	// memory. Measured on the 2-core CI machine at C = 1000 (164 MB),
	// two goroutines make the product 1.5 times faster at B = 8 (7.7 to
	// 5.1 ms) and 1.6 times at B = 1 (7.4 to 4.6 ms) when the other core
	// is idle, and no slower when it is busy. C = 100 (16 MB) would gain
	// too (0.66 to 0.43 ms at B = 8) but stays on the calling goroutine,
	// next to the encoder's threads.
	parallelProductFloats = 8 << 20
	// productSplitRows is the granularity of a split: parts are whole
	// multiples of it, except the last.
	productSplitRows = 48
)

// productWorkers runs the similarity product of one Workspace, split by
// rows across up to min(GOMAXPROCS, maxProductWorkers) goroutines when emb
// is at least parallelProductFloats floats. The goroutines live for one product
// only: they start from closures made once in newProductWorkers and read
// their arguments from the parts (a go statement on a func() value
// allocates nothing), so a product allocates nothing and leaves no
// goroutine behind. A productWorkers is used by one goroutine at a time.
type productWorkers struct {
	// minParallel is the emb size (rows*d floats) from which a product
	// is split: parallelProductFloats, lower in tests.
	minParallel int
	wg          sync.WaitGroup
	parts       [maxProductWorkers]productPart
}

// productPart is one goroutine's share of a product: rows [lo, hi).
type productPart struct {
	emb, x, out []float32
	rows, d, b  int
	lo, hi      int
	run         func() // computes the part, then wg.Done
}

// newProductWorkers returns a productWorkers with its closures made.
func newProductWorkers() *productWorkers {
	p := &productWorkers{minParallel: parallelProductFloats}
	for i := range p.parts {
		part := &p.parts[i]
		part.run = func() {
			defer p.wg.Done()
			similaritiesRows(part.emb, part.rows, part.d, part.x, part.b, part.out, part.lo, part.hi)
		}
	}
	return p
}

// similarities is the package-level similarities, split across goroutines
// when the product is large; the result is the same either way.
func (p *productWorkers) similarities(emb []float32, rows, d int, x []float32, b int, out []float32) {
	n := 1
	if rows*d >= p.minParallel {
		n = min(runtime.GOMAXPROCS(0), maxProductWorkers)
	}
	if n <= 1 {
		similarities(emb, rows, d, x, b, out)
		return
	}
	// Row ranges in multiples of productSplitRows, the last one taking
	// the rest.
	step := max((rows/n+productSplitRows-1)/productSplitRows*productSplitRows, productSplitRows)
	parts := 0
	for lo := 0; lo < rows; {
		hi := min(lo+step, rows)
		if parts == n-1 || rows-hi < step/4 {
			hi = rows // no sliver of a part at the end
		}
		p.parts[parts] = productPart{emb: emb, x: x, out: out, rows: rows, d: d, b: b, lo: lo, hi: hi, run: p.parts[parts].run}
		parts++
		lo = hi
	}
	p.wg.Add(parts - 1)
	for i := 1; i < parts; i++ {
		go p.parts[i].run()
	}
	part := &p.parts[0]
	similaritiesRows(emb, rows, d, x, b, out, part.lo, part.hi)
	p.wg.Wait()
	for i := range parts {
		p.parts[i].emb, p.parts[i].x, p.parts[i].out = nil, nil, nil
	}
}
