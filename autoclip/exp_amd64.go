package autoclip

import "math"

// expScaledAVX2 sets dst[i] = e^(scale*x[i] - shift) for i < n (a multiple
// of 4) and reports whether every argument was in [-708.3, 0]; where one
// was not, its dst[i] is garbage (exp_amd64.s).
//
//go:noescape
func expScaledAVX2(dst, x *float64, n int, scale, shift float64) (inRange bool)

// expScaledSIMD runs expScaled on the longest prefix of x that is a
// multiple of 4 long with the AVX2+FMA kernel, redoing arguments outside
// [-708.3, 0] with math.Exp, and returns the prefix's length: 0 on CPUs
// without AVX2 or FMA. len(dst) must be at least len(x).
func expScaledSIMD(dst, x []float64, scale, shift float64) int {
	n := len(x) &^ 3
	if !hasAVX2FMA || n == 0 {
		return 0
	}
	_ = dst[n-1]
	if !expScaledAVX2(&dst[0], &x[0], n, scale, shift) {
		for i, v := range x[:n] {
			if t := scale*v - shift; !(t >= -708.3 && t <= 0) {
				dst[i] = math.Exp(t)
			}
		}
	}
	return n
}
