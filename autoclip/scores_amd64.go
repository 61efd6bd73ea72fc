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
