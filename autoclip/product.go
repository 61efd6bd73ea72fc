package autoclip

import gblas "gonum.org/v1/gonum/blas/gonum"

// similarities computes the float32 product of emb [rows][d] and the b
// frames x [b][d], transposed: out[f*rows+r] = <emb_r, x_f>. Each frame's
// similarities are then contiguous, in emb's row order.
//
// It walks emb once per batch: each row is loaded from memory once and
// reused from L1 for all b frames, which sit in L1 themselves (b*d*4 bytes).
// The dot products are gonum's Sdot (SSE assembly on amd64, Go elsewhere).
// Measured on the 2-core CI machine (bench_test.go, BenchmarkSimilarity
// against BenchmarkGemm) it is faster than gonum's blas32.Gemm for every
// issue-3 shape (K=80, D=512, C in {10, 100, 1000}, B in {1, 8}), even
// though Gemm runs on both cores, and unlike Gemm it never allocates. A
// plain-Go register-blocked loop was 3 to 4 times slower than Sdot.
func similarities(emb []float32, rows, d int, x []float32, b int, out []float32) {
	var impl gblas.Implementation
	out = out[:b*rows]
	for r := 0; r < rows; r++ {
		er := emb[r*d : (r+1)*d]
		for f := 0; f < b; f++ {
			out[f*rows+r] = impl.Sdot(d, er, 1, x[f*d:(f+1)*d], 1)
		}
	}
}
