package autoclip

// weightedScoresAVX2 sets out[j] = sum_i w[i] * s[i*c+j] for i < k and
// j < n, n a multiple of 4 (scores_amd64.s).
//
//go:noescape
func weightedScoresAVX2(s *float32, c int, w *float64, k int, out *float64, n int)

// weightedScoresSIMD computes the first len(out)&^3 class scores of
// weightedScores with the AVX2+FMA kernel and returns how many: 0 on CPUs
// without AVX2 or FMA.
func weightedScoresSIMD(s []float32, w []float64, out []float64) int {
	c, k := len(out), len(w)
	n := c &^ 3
	if !hasAVX2FMA || n == 0 || k == 0 {
		return 0
	}
	_ = s[k*c-1]
	weightedScoresAVX2(&s[0], c, &w[0], k, &out[0], n)
	return n
}

// rowDotsAVX2 sets a[i] = sum_j q[j] * s[i*c+j] for i < k (k >= 4) and
// j < n, n a multiple of 4 (scores_amd64.s).
//
//go:noescape
func rowDotsAVX2(s *float32, c int, q *float64, n int, a *float64, k int)

// rowDotsSIMD sets a[i] = sum_j q[j] * s[i*C+j] over the first len(q)&^3
// classes with the AVX2+FMA kernel and returns how many classes it summed:
// 0 on CPUs without AVX2 or FMA and for fewer than 4 templates.
func rowDotsSIMD(s []float32, q, a []float64) int {
	k, c := len(a), len(q)
	n := c &^ 3
	if !hasAVX2FMA || n == 0 || k < 4 {
		return 0
	}
	_ = s[k*c-1]
	rowDotsAVX2(&s[0], c, &q[0], n, &a[0], k)
	return n
}
