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

// expSumsAVX2 sets e[i] = e^(alpha*d[i]) for i < n (a multiple of 4) and
// sums to [sum e_i, sum e_i d_i, sum e_i d_i^2], and reports whether every
// argument was in [-708.3, 0]; where one was not, e and sums are garbage
// (exp_amd64.s).
//
//go:noescape
func expSumsAVX2(e, d *float64, n int, alpha float64, sums *[3]float64) (inRange bool)

// expSumsSIMD runs expSums on the longest prefix of d that is a multiple
// of 4 long with the AVX2+FMA kernel, and returns the prefix's length and
// its sums: n = 0 on CPUs without AVX2 or FMA. Where an argument was
// outside [-708.3, 0], it redoes it with math.Exp and the sums with
// expSumsGo. len(e) must be at least len(d).
func expSumsSIMD(e, d []float64, alpha float64) (n int, z, s1, s2 float64) {
	n = len(d) &^ 3
	if !hasAVX2FMA || n == 0 {
		return 0, 0, 0, 0
	}
	_ = e[n-1]
	var sums [3]float64
	if expSumsAVX2(&e[0], &d[0], n, alpha, &sums) {
		return n, sums[0], sums[1], sums[2]
	}
	for i, x := range d[:n] {
		if t := alpha * x; !(t >= -708.3 && t <= 0) {
			e[i] = math.Exp(t)
		}
	}
	z, s1, s2 = sumsGo(e[:n], d[:n])
	return n, z, s1, s2
}
