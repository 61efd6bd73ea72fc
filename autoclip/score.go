package autoclip

import "math"

// Bisection constants of AUTOCLIP.md step 4.
const (
	alphaMax      = 1e7  // upper end of the step size bracket
	alphaAbsTol   = 1e-2 // stop when hi-lo <= alphaAbsTol ...
	alphaRelTol   = 1e-2 // ... or hi-lo <= alphaRelTol * (lo+hi)/2
	alphaMaxIters = 100
)

// weightedScores sets out[j] = sum_i w[i] * s[i*C+j] for s in template-major
// [K][C] order (K = len(w), C = len(out)): in AVX2+FMA assembly where the
// CPU has both (weightedScoresSIMD, four classes at a time), in Go
// otherwise. At K=80, C=10 a call takes 0.13 us with the kernel, 0.41 us in
// Go four templates at a time (BenchmarkScoreKernels; one template at a
// time it took 0.6 us).
func weightedScores(s []float32, w []float64, out []float64) {
	n := weightedScoresSIMD(s, w, out)
	weightedScoresGo(s, w, out, n)
}

// weightedScoresGo is weightedScores in Go for the classes j >= lo: four
// templates at a time, their sum added into out[j].
func weightedScoresGo(s []float32, w []float64, out []float64, lo int) {
	c := len(out)
	part := out[lo:]
	if len(part) == 0 {
		return
	}
	clear(part)
	i := 0
	for ; i+4 <= len(w); i += 4 {
		w0, w1, w2, w3 := w[i], w[i+1], w[i+2], w[i+3]
		r0 := s[i*c+lo : (i+1)*c]
		r1 := s[(i+1)*c+lo : (i+2)*c]
		r2 := s[(i+2)*c+lo : (i+3)*c]
		r3 := s[(i+3)*c+lo : (i+4)*c]
		r0, r1, r2, r3 = r0[:len(part)], r1[:len(part)], r2[:len(part)], r3[:len(part)]
		for j := range part {
			part[j] += (w0*float64(r0[j]) + w1*float64(r1[j])) + (w2*float64(r2[j]) + w3*float64(r3[j]))
		}
	}
	for ; i < len(w); i++ {
		wi := w[i]
		row := s[i*c+lo : (i+1)*c]
		row = row[:len(part)]
		for j := range part {
			part[j] += wi * float64(row[j])
		}
	}
}

// templateGradient computes g_i = dL/drho_i of the objective
// L(rho) = agg_j(c_j), c_j = sum_i w_i s_ij, w = softmax(rho), at the
// weights w whose class scores are cs. With q_j = dL/dc_j:
//
//	a_i = sum_j q_j s_ij,  g_i = w_i (a_i - sum_k w_k a_k)
//
// which is AUTOCLIP.md step 3 when agg is logsumexp (q = softmax(c)). q ([C])
// and a ([K]) are scratch.
func templateGradient(s []float32, w, cs []float64, agg Aggregation, scale float64, q, a, g []float64) {
	aggregationGradient(cs, agg, scale, q)
	a = a[:len(w)]
	rowDots(s, q[:len(cs)], a)
	var abar float64
	for i, wi := range w {
		abar += wi * a[i]
	}
	for i, wi := range w {
		g[i] = wi * (a[i] - abar)
	}
}

// rowDots sets a[i] = sum_j q[j] * s[i*C+j] for s in template-major [K][C]
// order (K = len(a), C = len(q)): in AVX2+FMA assembly where the CPU has
// both and K >= 4 (rowDotsSIMD, four templates by four classes at a time),
// in Go otherwise. Every a[i] is summed in the same order, so identical
// templates get identical sums. At K=80, C=10: 0.09 us with the kernel,
// 0.32 us in Go (BenchmarkScoreKernels).
func rowDots(s []float32, q, a []float64) {
	n := rowDotsSIMD(s, q, a)
	if n == 0 {
		clear(a)
	}
	rowDotsGo(s, q, a, n)
}

// rowDotsGo adds sum_{j >= lo} q[j] * s[i*C+j] to a[i], four templates at
// a time, each summed over j in order.
func rowDotsGo(s []float32, q, a []float64, lo int) {
	c := len(q)
	q = q[lo:]
	if len(q) == 0 {
		return
	}
	i := 0
	for ; i+4 <= len(a); i += 4 {
		r0 := s[i*c+lo : (i+1)*c]
		r1 := s[(i+1)*c+lo : (i+2)*c]
		r2 := s[(i+2)*c+lo : (i+3)*c]
		r3 := s[(i+3)*c+lo : (i+4)*c]
		r0, r1, r2, r3 = r0[:len(q)], r1[:len(q)], r2[:len(q)], r3[:len(q)]
		var a0, a1, a2, a3 float64
		for j, qj := range q {
			a0 += qj * float64(r0[j])
			a1 += qj * float64(r1[j])
			a2 += qj * float64(r2[j])
			a3 += qj * float64(r3[j])
		}
		a[i] += a0
		a[i+1] += a1
		a[i+2] += a2
		a[i+3] += a3
	}
	for ; i < len(a); i++ {
		row := s[i*c+lo : (i+1)*c]
		row = row[:len(q)]
		var sum float64
		for j, qj := range q {
			sum += qj * float64(row[j])
		}
		a[i] += sum
	}
}

// aggregationGradient sets q_j = dL/dc_j for the aggregation L = agg(c):
//
//	logsumexp: L = (1/scale) log sum_j exp(scale c_j)  q = softmax(scale c)
//	mean:      L = (1/C) sum_j c_j                     q_j = 1/C
//	max:       L = max_j c_j                           q = onehot(argmax c)
//	entropy:   L = sum_j p_j log p_j, p = softmax(c)   q_j = p_j (log p_j + H(p))
func aggregationGradient(c []float64, agg Aggregation, scale float64, q []float64) {
	switch agg {
	case AggMean:
		for j := range q {
			q[j] = 1 / float64(len(q))
		}
	case AggMax:
		best := 0
		for j, v := range c {
			if v > c[best] {
				best = j
			}
		}
		clear(q)
		q[best] = 1
	case AggEntropy:
		// log p_j = c_j - m - log Z; H = -sum_j p_j log p_j.
		m := maxOf(c)
		var z float64
		for j, v := range c {
			q[j] = math.Exp(v - m)
			z += q[j]
		}
		logZ := math.Log(z)
		var h float64
		for j, v := range c {
			q[j] /= z
			h -= q[j] * (v - m - logZ)
		}
		for j, v := range c {
			q[j] *= v - m - logZ + h
		}
	default: // AggLogSumExp; Options.Validate rejects anything else.
		softmaxScaled(q, c, scale)
	}
}

// softmaxScaled sets dst = softmax(scale * x). scale must be >= 0.
func softmaxScaled(dst, x []float64, scale float64) {
	dst = dst[:len(x)]
	expScaled(dst, x, scale, scale*maxOf(x))
	var z float64
	for _, e := range dst {
		z += e
	}
	inv := 1 / z
	for i := range dst {
		dst[i] *= inv
	}
}

// softmaxEntropy sets w = softmax(alpha * d) for d with max(d) = 0 and
// alpha >= 0, and returns the entropy of w in nats, computed as entropyVar
// does from the same exps (no log per term).
func softmaxEntropy(w, d []float64, alpha float64) float64 {
	z, s1, _ := expSums(w, d, alpha)
	inv := 1 / z
	for i := range w {
		w[i] *= inv
	}
	return math.Log(z) - alpha*(s1*inv)
}

// maxOf returns the largest element of x, which must not be empty and
// holds no NaN (a comparison per element rather than the builtin max, which
// orders NaNs and signed zeros at a cost).
func maxOf(x []float64) float64 {
	m := x[0]
	for _, v := range x[1:] {
		if v > m {
			m = v
		}
	}
	return m
}

// entropyNats returns the entropy, in nats, of softmax(alpha * d) for d with
// max(d) = 0 and alpha >= 0: with z_i = alpha d_i <= 0 and Z = sum_i e^z_i,
// H = log Z - sum_i e^z_i z_i / Z (one exp per template, no log per term).
func entropyNats(d []float64, alpha float64) float64 {
	h, _ := entropyVar(d, alpha)
	return h
}

// bisectAlpha returns the step size alpha in [0, alphaMax] at which the
// weights softmax(alpha d) have entropy target (nats), by bisection: the
// entropy falls monotonically from log K at alpha = 0. It stops when the
// bracket is within alphaAbsTol absolute or alphaRelTol relative, or after
// alphaMaxIters halvings, and returns the bracket's midpoint. d must have
// max(d) = 0 and not be constant; target must be below log K.
//
// The result is that of the plain bisection (bisectAlphaPlain in the
// tests); see bisectAlphaEvals for how it gets there with fewer entropy
// evaluations.
func bisectAlpha(d []float64, target float64) float64 {
	alpha, _ := bisectAlphaEvals(d, target)
	return alpha
}

// bisectAlphaEvals is bisectAlpha, and also returns the number of entropy
// evaluations it made.
//
// The plain bisection's path is fixed by which of its midpoints lie below
// the root; by monotonicity, the largest such midpoint it visits (its final
// lo) and the smallest above (its final hi) prove every decision. So each
// round walks the bisection, deciding each midpoint from the points known
// to lie below (aLo, entropy > target) and above (aHi) the root, or, where
// neither applies, from a predicted root r; if some midpoint was undecided,
// it evaluates the undecided midpoint nearest r, with the same arithmetic as
// the plain bisection, and takes a Newton step on H(alpha) - target from
// there, H'(alpha) = -alpha Var_w(d), for the next r. The first r is the
// second-order guess H(alpha) ~ log K - alpha^2 Var_uniform(d) / 2. Once r is
// close, the last two evaluations are the final lo and hi themselves. At
// K=80 this takes the entropy evaluations per frame from 17 to 30 (plain) or
// 4.75 (Newton iterations to a bracket of 1e-6, then the bisection) down to
// 3.1 on the benchmark's frames (3.2 on the tests' random gradients, where
// the plain bisection takes 14.5).
func bisectAlphaEvals(d []float64, target float64) (alpha float64, evals int) {
	aLo, aHi := 0.0, math.Inf(1)
	var m1, m2 float64
	for _, x := range d {
		m1 += x
		m2 += x * x
	}
	n := float64(len(d))
	v0 := m2/n - (m1/n)*(m1/n)
	r := alphaMax
	if v0 > 0 {
		r = math.Sqrt(2 * (math.Log(n) - target) / v0)
	}
	// The walk up to its first undecided midpoint stays the same from
	// round to round (aLo and aHi only move inwards): each round resumes
	// there.
	lo0, hi0, it0 := 0.0, alphaMax, 0
	for round := 0; ; round++ {
		lo, hi := lo0, hi0
		probe := -1.0
		for it := it0; it < alphaMaxIters; it++ {
			width := hi - lo
			mid := lo + width/2
			if width <= alphaAbsTol || width <= alphaRelTol*mid {
				break
			}
			above := mid <= aLo // H(mid) > target
			if mid > aLo && mid < aHi {
				if probe < 0 {
					lo0, hi0, it0 = lo, hi, it
				}
				// Undecided. After a few rounds without convergence
				// (r is no help), evaluate the first such midpoint, as
				// the plain bisection would.
				if probe < 0 || round < bisectRounds && math.Abs(mid-r) < math.Abs(probe-r) {
					probe = mid
				}
				above = mid < r
			}
			if above {
				lo = mid
			} else {
				hi = mid
			}
		}
		if probe < 0 {
			return lo + (hi-lo)/2, evals
		}
		h, v := entropyVar(d, probe)
		evals++
		if h > target {
			aLo = probe
		} else {
			aHi = probe
		}
		next := probe + (h-target)/(probe*v) // Newton: alpha - (h-target)/H'
		switch {
		case next > aLo && next < aHi: // not NaN
			r = next
		case math.IsInf(aHi, 1):
			r = alphaMax // no point above the root known: look at the top
		default:
			r = aLo + (aHi-aLo)/2
		}
	}
}

// bisectRounds is the number of rounds in which bisectAlphaEvals evaluates
// the undecided midpoint nearest its predicted root; after that, the first
// undecided midpoint, so that it never takes more evaluations than the
// plain bisection plus bisectRounds.
const bisectRounds = 8

// entropyVar returns the entropy in nats (see entropyNats) and the variance
// of d under the weights softmax(alpha d). All entropy evaluations go
// through it, so that every decision of the bisection sees the same bits.
//
// With e_i = exp(alpha d_i), Z = sum_i e_i and the mean m = sum_i e_i d_i / Z,
// H = log Z - alpha m. The exps go through a stack buffer of entropyChunk
// values (expScaled works on slices), so any K takes no heap memory.
func entropyVar(d []float64, alpha float64) (h, v float64) {
	var buf [entropyChunk]float64
	var z, s1, s2 float64
	for len(d) > 0 {
		n := min(len(d), entropyChunk)
		cz, c1, c2 := expSums(buf[:n], d[:n], alpha)
		z, s1, s2 = z+cz, s1+c1, s2+c2
		d = d[n:]
	}
	m := s1 / z
	return math.Log(z) - alpha*m, max(s2/z-m*m, 0)
}

// entropyChunk is the size of entropyVar's stack buffer: K = 80 templates
// (CLIP's ImageNet set) in one chunk.
const entropyChunk = 128

// entropyBits returns -sum_i w_i log2 w_i (terms with w_i = 0 count 0).
func entropyBits(w []float64) float64 {
	var h float64
	for _, v := range w {
		if v > 0 {
			h -= v * math.Log(v)
		}
	}
	return h / math.Ln2
}
