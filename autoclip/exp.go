package autoclip

import "math"

// expScaled sets dst[i] = e^(scale*x[i] - shift) for i < len(x), with a
// relative error below 1e-15 (about 1 ulp; the tests check it against
// math.Exp over the whole range). Its callers pass arguments t <= 0 (values
// minus their maximum, times a step size): on [-708.3, 0] it reduces
// t = (128 k + j) ln2/128 + r with |r| <= ln2/256 and computes
// 2^k 2^(j/128) (1 + expm1(r)), 2^(j/128) from expTable and expm1(r) from
// its Taylor polynomial of degree 5 (truncation error below 1e-18). Below
// -708.3 (subnormal or zero results) and above 0 it calls math.Exp.
//
// It works on slices: the AVX2+FMA kernel (exp_amd64.s) takes four values
// at a time, and in Go (expScaledGo) the loop body, too large to inline as
// a function of one value, runs without a call per element. On the 2-core
// CI machine (BenchmarkExp, 80 values) that is 1.2 ns per exp with the
// kernel and 4.4 ns in Go, against 8.1 ns for math.Exp: it serves the
// per-frame step's loops over the K templates (expSums for entropyVar and
// softmaxEntropy) and the softmaxes over the C classes.
func expScaled(dst, x []float64, scale, shift float64) {
	dst = dst[:len(x)]
	n := expScaledSIMD(dst, x, scale, shift)
	expScaledGo(dst[n:], x[n:], scale, shift)
}

// expScaledGo is expScaled in Go, for CPUs without a SIMD kernel and for
// the last len(x)%4 values.
func expScaledGo(dst, x []float64, scale, shift float64) {
	const (
		n = expTableSize
		// Adding expShift rounds t*n/ln2 to an integer held in the low
		// bits of the sum's mantissa (round to nearest even).
		expShift = 0x1.8p52
		invLn2N  = n / math.Ln2
		// ln2/n in two parts, math.Exp's Ln2Hi and Ln2Lo over n: ln2HiN
		// has 32 significant bits, so kd*ln2HiN is exact for |kd| < 2^21.
		ln2HiN = 6.93147180369123816490e-01 / n
		ln2LoN = 1.90821492927058770002e-10 / n
	)
	dst = dst[:len(x)]
	for i, v := range x {
		t := scale*v - shift
		if !(t >= -708.3 && t <= 0) {
			dst[i] = math.Exp(t)
			continue
		}
		kd := t*invLn2N + expShift
		ki := math.Float64bits(kd)
		kd -= expShift
		r := t - kd*ln2HiN - kd*ln2LoN
		// kd = 128 k + j: j is the low 7 bits of ki, and ki>>7 is k plus
		// the shift's bits, which <<52 drops.
		s := math.Float64frombits(expTable[ki&(n-1)] + ki>>7<<52)
		p := r + r*r*(1.0/2+r*(1.0/6+r*(1.0/24+r*(1.0/120))))
		dst[i] = s + s*p
	}
}

// expSums sets e[i] = e^(alpha*d[i]) for i < len(d), as expScaled(e, d,
// alpha, 0) does, and returns z = sum_i e[i], s1 = sum_i e[i] d[i] and
// s2 = sum_i e[i] d[i]^2, the sums of entropyVar and softmaxEntropy. The
// AVX2+FMA kernel keeps them in registers beside the exps; the order of the
// additions depends on len(d) only, so equal inputs give equal bits.
func expSums(e, d []float64, alpha float64) (z, s1, s2 float64) {
	e = e[:len(d)]
	n, z, s1, s2 := expSumsSIMD(e, d, alpha)
	expScaledGo(e[n:], d[n:], alpha, 0)
	tz, t1, t2 := sumsGo(e[n:], d[n:])
	return z + tz, s1 + t1, s2 + t2
}

// sumsGo returns sum_i e[i], sum_i e[i] d[i] and sum_i e[i] d[i]^2, the
// even and odd terms apart (half the chain of dependent adds).
func sumsGo(e, d []float64) (z, s1, s2 float64) {
	e = e[:len(d)]
	var z1, s11, s21 float64
	i := 0
	for ; i+2 <= len(d); i += 2 {
		e0, e1, x0, x1 := e[i], e[i+1], d[i], d[i+1]
		z += e0
		z1 += e1
		s1 += e0 * x0
		s11 += e1 * x1
		s2 += e0 * x0 * x0
		s21 += e1 * x1 * x1
	}
	if i < len(d) {
		z += e[i]
		s1 += e[i] * d[i]
		s2 += e[i] * d[i] * d[i]
	}
	return z + z1, s1 + s11, s2 + s21
}

// expTableSize is the number of entries of expTable.
const expTableSize = 128

// expTable holds the bits of 2^(j/128), j = 0..127, each rounded to the
// nearest float64 (TestExpTable checks every entry exactly).
var expTable = [expTableSize]uint64{
	0x3ff0000000000000, 0x3ff0163da9fb3335, 0x3ff02c9a3e778061, 0x3ff04315e86e7f85,
	0x3ff059b0d3158574, 0x3ff0706b29ddf6de, 0x3ff0874518759bc8, 0x3ff09e3ecac6f383,
	0x3ff0b5586cf9890f, 0x3ff0cc922b7247f7, 0x3ff0e3ec32d3d1a2, 0x3ff0fb66affed31b,
	0x3ff11301d0125b51, 0x3ff12abdc06c31cc, 0x3ff1429aaea92de0, 0x3ff15a98c8a58e51,
	0x3ff172b83c7d517b, 0x3ff18af9388c8dea, 0x3ff1a35beb6fcb75, 0x3ff1bbe084045cd4,
	0x3ff1d4873168b9aa, 0x3ff1ed5022fcd91d, 0x3ff2063b88628cd6, 0x3ff21f49917ddc96,
	0x3ff2387a6e756238, 0x3ff251ce4fb2a63f, 0x3ff26b4565e27cdd, 0x3ff284dfe1f56381,
	0x3ff29e9df51fdee1, 0x3ff2b87fd0dad990, 0x3ff2d285a6e4030b, 0x3ff2ecafa93e2f56,
	0x3ff306fe0a31b715, 0x3ff32170fc4cd831, 0x3ff33c08b26416ff, 0x3ff356c55f929ff1,
	0x3ff371a7373aa9cb, 0x3ff38cae6d05d866, 0x3ff3a7db34e59ff7, 0x3ff3c32dc313a8e5,
	0x3ff3dea64c123422, 0x3ff3fa4504ac801c, 0x3ff4160a21f72e2a, 0x3ff431f5d950a897,
	0x3ff44e086061892d, 0x3ff46a41ed1d0057, 0x3ff486a2b5c13cd0, 0x3ff4a32af0d7d3de,
	0x3ff4bfdad5362a27, 0x3ff4dcb299fddd0d, 0x3ff4f9b2769d2ca7, 0x3ff516daa2cf6642,
	0x3ff5342b569d4f82, 0x3ff551a4ca5d920f, 0x3ff56f4736b527da, 0x3ff58d12d497c7fd,
	0x3ff5ab07dd485429, 0x3ff5c9268a5946b7, 0x3ff5e76f15ad2148, 0x3ff605e1b976dc09,
	0x3ff6247eb03a5585, 0x3ff6434634ccc320, 0x3ff6623882552225, 0x3ff68155d44ca973,
	0x3ff6a09e667f3bcd, 0x3ff6c012750bdabf, 0x3ff6dfb23c651a2f, 0x3ff6ff7df9519484,
	0x3ff71f75e8ec5f74, 0x3ff73f9a48a58174, 0x3ff75feb564267c9, 0x3ff780694fde5d3f,
	0x3ff7a11473eb0187, 0x3ff7c1ed0130c132, 0x3ff7e2f336cf4e62, 0x3ff80427543e1a12,
	0x3ff82589994cce13, 0x3ff8471a4623c7ad, 0x3ff868d99b4492ed, 0x3ff88ac7d98a6699,
	0x3ff8ace5422aa0db, 0x3ff8cf3216b5448c, 0x3ff8f1ae99157736, 0x3ff9145b0b91ffc6,
	0x3ff93737b0cdc5e5, 0x3ff95a44cbc8520f, 0x3ff97d829fde4e50, 0x3ff9a0f170ca07ba,
	0x3ff9c49182a3f090, 0x3ff9e86319e32323, 0x3ffa0c667b5de565, 0x3ffa309bec4a2d33,
	0x3ffa5503b23e255d, 0x3ffa799e1330b358, 0x3ffa9e6b5579fdbf, 0x3ffac36bbfd3f37a,
	0x3ffae89f995ad3ad, 0x3ffb0e07298db666, 0x3ffb33a2b84f15fb, 0x3ffb59728de5593a,
	0x3ffb7f76f2fb5e47, 0x3ffba5b030a1064a, 0x3ffbcc1e904bc1d2, 0x3ffbf2c25bd71e09,
	0x3ffc199bdd85529c, 0x3ffc40ab5fffd07a, 0x3ffc67f12e57d14b, 0x3ffc8f6d9406e7b5,
	0x3ffcb720dcef9069, 0x3ffcdf0b555dc3fa, 0x3ffd072d4a07897c, 0x3ffd2f87080d89f2,
	0x3ffd5818dcfba487, 0x3ffd80e316c98398, 0x3ffda9e603db3285, 0x3ffdd321f301b460,
	0x3ffdfc97337b9b5f, 0x3ffe264614f5a129, 0x3ffe502ee78b3ff6, 0x3ffe7a51fbc74c83,
	0x3ffea4afa2a490da, 0x3ffecf482d8e67f1, 0x3ffefa1bee615a27, 0x3fff252b376bba97,
	0x3fff50765b6e4540, 0x3fff7bfdad9cbe14, 0x3fffa7c1819e90d8, 0x3fffd3c22b8f71f1,
}
