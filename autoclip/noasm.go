//go:build !amd64

package autoclip

// expScaledSIMD computes nothing where there is no SIMD kernel of
// expScaled: expScaledGo does it all.
func expScaledSIMD(dst, x []float64, scale, shift float64) int { return 0 }

// weightedScoresSIMD computes nothing where there is no SIMD kernel of
// weightedScores: weightedScoresGo does it all.
func weightedScoresSIMD(s []float32, w []float64, out []float64) int { return 0 }

// rowDotsSIMD computes nothing where there is no SIMD kernel of rowDots:
// rowDotsGo does it all.
func rowDotsSIMD(s []float32, q, a []float64) int { return 0 }

// expSumsSIMD computes nothing where there is no SIMD kernel of expSums:
// the Go code does it all.
func expSumsSIMD(e, d []float64, alpha float64) (n int, z, s1, s2 float64) { return 0, 0, 0, 0 }
