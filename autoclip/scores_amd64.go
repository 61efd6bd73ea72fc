package autoclip

// weightedScoresAVX2 sets out[j] = sum_i w[i] * s[i*c+j] for i < k and
// j < c (scores_amd64.s).
//
//go:noescape
func weightedScoresAVX2(s *float32, c int, w *float64, k int, out *float64)

// weightedScoresSIMD computes weightedScores with the AVX2+FMA kernel and
// returns the number of classes it did: all of them, or 0 on CPUs without
// AVX2 or FMA.
func weightedScoresSIMD(s []float32, w []float64, out []float64) int {
	c, k := len(out), len(w)
	if !hasAVX2FMA || c == 0 || k == 0 {
		return 0
	}
	_ = s[k*c-1]
	weightedScoresAVX2(&s[0], c, &w[0], k, &out[0])
	return c
}

// rowDotsAVX2 sets a[i] = sum_j q[j] * s[i*c+j] for i < k (k >= 4) and
// j < c (scores_amd64.s).
//
//go:noescape
func rowDotsAVX2(s *float32, c int, q *float64, a *float64, k int)

// rowDotsSIMD computes rowDots with the AVX2+FMA kernel and returns the
// number of classes it summed: all of them, or 0 on CPUs without AVX2 or
// FMA and for fewer than 4 templates.
func rowDotsSIMD(s []float32, q, a []float64) int {
	k, c := len(a), len(q)
	if !hasAVX2FMA || c == 0 || k < 4 {
		return 0
	}
	_ = s[k*c-1]
	rowDotsAVX2(&s[0], c, &q[0], &a[0], k)
	return c
}
