package autoclip

import "golang.org/x/sys/cpu"

// hasAVX2FMA says whether this CPU runs the AVX2+FMA kernels. It is read
// once at start-up and never changes.
var hasAVX2FMA = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// dot3x4 sets out[f*ostride+r] = <e[r*d:r*d+n], x[f*d:f*d+n]> for r < 3
// and f < 4 (product_amd64.s).
//
//go:noescape
func dot3x4(e *float32, d int, x *float32, n int, out *float32, ostride int)

// dot8x1 sets out[r] = <e[r*d:r*d+n], x[:n]> for r < 8 (product_amd64.s).
//
//go:noescape
func dot8x1(e *float32, d int, x *float32, n int, out *float32)

// dot1x1 returns <e[:n], x[:n]> (product_amd64.s).
//
//go:noescape
func dot1x1(e *float32, x *float32, n int) float32

// productBlockRows is the number of emb rows one block of the product
// covers: all frames are multiplied with a block before the next one, so
// the block's rows (48 rows are 96 KB at D = 512) stay in L2 between
// frame groups.
const productBlockRows = 48

// similaritiesSIMD runs similaritiesRows with the AVX2+FMA kernels and
// reports true, or reports false (and does nothing) when the CPU lacks AVX2
// or FMA or there is nothing to compute.
func similaritiesSIMD(emb []float32, rows, d int, x []float32, b int, out []float32, lo, hi int) bool {
	if !hasAVX2FMA || d < 1 || b < 1 || lo >= hi {
		return false
	}
	similaritiesAVX2(emb, rows, d, x, b, out, lo, hi)
	return true
}

// similaritiesAVX2 computes the rows [lo, hi) of the product. All kernels
// sum a dot product in the same order (8 lanes over d, the lanes pairwise,
// then the tail), so a similarity is the same bits whatever the batch size
// and the number of rows: a frame scores the same alone as in a batch, and
// a label set scores the same with its templates repeated.
// Blocks and kernel calls that would run past hi start earlier and overlap
// the previous one instead: the overlapped dot products are computed
// twice, identically.
func similaritiesAVX2(emb []float32, rows, d int, x []float32, b int, out []float32, lo, hi int) {
	// The kernels do not check bounds: these do, once.
	_ = emb[rows*d-1]
	_ = x[b*d-1]
	_ = out[b*rows-1]
	if lo < 0 || hi > rows {
		panic("autoclip: similarity rows out of range")
	}
	if hi-lo < 8 {
		for r := lo; r < hi; r++ {
			for f := 0; f < b; f++ {
				out[f*rows+r] = dot1x1(&emb[r*d], &x[f*d], d)
			}
		}
		return
	}
	if b >= 4 {
		// 3 rows x 4 frames per call, all frame groups of a row triple
		// in turn (the triple stays in L1); the last frame group and the
		// last row triple end at b and hi.
		for r := lo; r < hi; r += 3 {
			rs := min(r, hi-3)
			for f := 0; f < b; f += 4 {
				fs := min(f, b-4)
				dot3x4(&emb[rs*d], d, &x[fs*d], d, &out[fs*rows+rs], rows)
			}
		}
		return
	}
	for r0 := lo; r0 < hi; r0 += productBlockRows {
		r1 := min(r0+productBlockRows, hi)
		start := min(r0, r1-8)
		for f := 0; f < b; f++ {
			for r := start; r < r1; r += 8 {
				rs := min(r, r1-8)
				dot8x1(&emb[rs*d], d, &x[f*d], d, &out[f*rows+rs])
			}
		}
	}
}
