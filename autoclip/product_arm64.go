package autoclip

// The NEON kernels (product_arm64.s) take n, a multiple of 4, floats of
// each row and frame; addTails adds the rest.

// dot4x4 sets out[f*ostride+r] = <e[r*d:r*d+n], x[f*d:f*d+n]> for r < 4
// and f < 4.
//
//go:noescape
func dot4x4(e *float32, d int, x *float32, n int, out *float32, ostride int)

// dot8x1 sets out[r] = <e[r*d:r*d+n], x[:n]> for r < 8.
//
//go:noescape
func dot8x1(e *float32, d int, x *float32, n int, out *float32)

// dot1x1 returns <e[:n], x[:n]>.
//
//go:noescape
func dot1x1(e *float32, x *float32, n int) float32

// productBlockRows is the number of emb rows one block of a product with
// fewer than 4 frames covers: all frames are multiplied with a block
// before the next one, so the block stays in cache between frames.
const productBlockRows = 48

// similaritiesSIMD runs similaritiesRows with the NEON kernels (every
// arm64 CPU has NEON) and reports true; it reports false, and does
// nothing, when there is nothing to compute.
func similaritiesSIMD(emb []float32, rows, d int, x []float32, b int, out []float32, lo, hi int) bool {
	if d < 1 || b < 1 || lo >= hi {
		return false
	}
	similaritiesNEON(emb, rows, d, x, b, out, lo, hi)
	return true
}

// similaritiesNEON computes the rows [lo, hi) of the product. All kernels
// sum a dot product in the same order (4 lanes over d&^3, the lanes
// pairwise, then addTail over the rest), so a similarity is the same bits
// whatever the batch size and the number of rows. Kernel calls that would
// run past hi or b start earlier and overlap the previous one: the
// overlapped dot products are computed again, identically.
func similaritiesNEON(emb []float32, rows, d int, x []float32, b int, out []float32, lo, hi int) {
	// The kernels do not check bounds: these do, once.
	_ = emb[rows*d-1]
	_ = x[b*d-1]
	_ = out[b*rows-1]
	if lo < 0 || hi > rows {
		panic("autoclip: similarity rows out of range")
	}
	n := d &^ 3
	if hi-lo < 8 {
		for r := lo; r < hi; r++ {
			for f := 0; f < b; f++ {
				o := &out[f*rows+r]
				*o = dot1x1(&emb[r*d], &x[f*d], n)
				addTail(o, emb[r*d+n:(r+1)*d], x[f*d+n:(f+1)*d])
			}
		}
		return
	}
	if b >= 4 {
		for r := lo; r < hi; r += 4 {
			rs := min(r, hi-4)
			for f := 0; f < b; f += 4 {
				fs := min(f, b-4)
				dot4x4(&emb[rs*d], d, &x[fs*d], n, &out[fs*rows+rs], rows)
				if n < d {
					addTails(emb, rows, d, n, x, out, rs, rs+4, fs, fs+4)
				}
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
				dot8x1(&emb[rs*d], d, &x[f*d], n, &out[f*rows+rs])
				if n < d {
					addTails(emb, rows, d, n, x, out, rs, rs+8, f, f+1)
				}
			}
		}
	}
}

// addTails runs addTail on out[f*rows+r] for rows [r0, r1) and frames
// [f0, f1), with the floats [n, d) of each row and frame.
func addTails(emb []float32, rows, d, n int, x, out []float32, r0, r1, f0, f1 int) {
	for f := f0; f < f1; f++ {
		xt := x[f*d+n : (f+1)*d]
		for r := r0; r < r1; r++ {
			addTail(&out[f*rows+r], emb[r*d+n:(r+1)*d], xt)
		}
	}
}

// addTail adds <e, x> to *s, one product at a time. It is the only code
// that sums the tails, never inlined, so that every kernel's result gets
// the same tail arithmetic.
//
//go:noinline
func addTail(s *float32, e, x []float32) {
	acc := *s
	for i, v := range e {
		acc += v * x[i]
	}
	*s = acc
}
