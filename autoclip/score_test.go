package autoclip

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// objective evaluates L(rho) = agg_j(sum_i softmax(rho)_i s_ij) directly
// from the definitions in Aggregation's doc, in float64.
func objective(s []float32, k, c int, rho []float64, agg Aggregation, scale float64) float64 {
	w := refSoftmax(rho, 1)
	cs := make([]float64, c)
	for i := 0; i < k; i++ {
		for j := 0; j < c; j++ {
			cs[j] += w[i] * float64(s[i*c+j])
		}
	}
	switch agg {
	case AggLogSumExp:
		m := math.Inf(-1)
		for _, v := range cs {
			m = math.Max(m, scale*v)
		}
		var z float64
		for _, v := range cs {
			z += math.Exp(scale*v - m)
		}
		return (m + math.Log(z)) / scale
	case AggMean:
		return sum(cs) / float64(c)
	case AggMax:
		m := math.Inf(-1)
		for _, v := range cs {
			m = math.Max(m, v)
		}
		return m
	case AggEntropy:
		p := refSoftmax(cs, 1)
		var negH float64
		for _, v := range p {
			negH += v * math.Log(v)
		}
		return negH
	}
	panic("unknown aggregation " + agg)
}

// TestGradientMatchesFiniteDifferences checks the closed-form gradient of
// every aggregation against central finite differences of the objective,
// at rho = 0 (what Classify uses) and at a random rho.
func TestGradientMatchesFiniteDifferences(t *testing.T) {
	for _, agg := range Aggregations() {
		for _, scale := range []float64{1, 4} {
			if scale != 1 && agg != AggLogSumExp {
				continue
			}
			for _, randomRho := range []bool{false, true} {
				name := fmt.Sprintf("%s/scale=%v/random-rho=%v", agg, scale, randomRho)
				t.Run(name, func(t *testing.T) {
					rng := newRand(uint64(len(name)))
					k, c := 7, 5
					s := make([]float32, k*c)
					for i := range s {
						s[i] = float32(rng.Float64()*2 - 1)
					}
					rho := make([]float64, k)
					if randomRho {
						for i := range rho {
							rho[i] = rng.NormFloat64()
						}
					}
					w := refSoftmax(rho, 1)
					cs := make([]float64, c)
					weightedScores(s, w, cs)
					g := make([]float64, k)
					templateGradient(s, w, cs, agg, scale, make([]float64, c), make([]float64, k), g)

					const h = 1e-5
					fd := make([]float64, k)
					for i := range rho {
						plus, minus := append([]float64(nil), rho...), append([]float64(nil), rho...)
						plus[i] += h
						minus[i] -= h
						fd[i] = (objective(s, k, c, plus, agg, scale) - objective(s, k, c, minus, agg, scale)) / (2 * h)
					}
					var num, den float64
					for i := range g {
						num += (g[i] - fd[i]) * (g[i] - fd[i])
						den += fd[i] * fd[i]
					}
					if den == 0 {
						t.Fatalf("finite-difference gradient is zero: the test data is degenerate")
					}
					rel := math.Sqrt(num / den)
					if rel > 1e-4 {
						t.Errorf("relative error %g\nclosed form %v\nfinite diff %v", rel, g, fd)
					}
					t.Logf("relative error %.2g, |g| %.3g", rel, math.Sqrt(den))
				})
			}
		}
	}
}

// TestAggregationGradientCases pins dL/dc for small hand-computed cases.
func TestAggregationGradientCases(t *testing.T) {
	e1, e2 := math.Exp(1), math.Exp(2)
	z := 1 + e1 + e2
	p := []float64{1 / z, e1 / z, e2 / z}
	var h float64
	for _, v := range p {
		h -= v * math.Log(v)
	}
	for _, tc := range []struct {
		name  string
		agg   Aggregation
		scale float64
		c     []float64
		want  []float64
	}{
		{name: "logsumexp", agg: AggLogSumExp, scale: 1, c: []float64{0, 1, 2}, want: p},
		{name: "logsumexp scale 2", agg: AggLogSumExp, scale: 2, c: []float64{0, 0.5, 1}, want: p},
		{name: "mean", agg: AggMean, scale: 1, c: []float64{0, 1, 2}, want: []float64{1. / 3, 1. / 3, 1. / 3}},
		{name: "max", agg: AggMax, scale: 1, c: []float64{0, 2, 1}, want: []float64{0, 1, 0}},
		{name: "max ties go low", agg: AggMax, scale: 1, c: []float64{2, 2, 1}, want: []float64{1, 0, 0}},
		{name: "entropy", agg: AggEntropy, scale: 1, c: []float64{0, 1, 2},
			want: []float64{p[0] * (math.Log(p[0]) + h), p[1] * (math.Log(p[1]) + h), p[2] * (math.Log(p[2]) + h)}},
		{name: "entropy of a flat posterior", agg: AggEntropy, scale: 1, c: []float64{0.3, 0.3}, want: []float64{0, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := make([]float64, len(tc.c))
			aggregationGradient(tc.c, tc.agg, tc.scale, q)
			if d := maxAbsDiff(q, tc.want); d > 1e-15 {
				t.Fatalf("dL/dc = %v, want %v", q, tc.want)
			}
		})
	}
}

func TestBisectAlpha(t *testing.T) {
	for _, tc := range []struct {
		name string
		k    int
		beta float64
		// spread scales g: tiny spreads need large alphas.
		spread float64
	}{
		{name: "K2", k: 2, beta: 0.85, spread: 1e-3},
		{name: "K10", k: 10, beta: 0.85, spread: 1e-4},
		{name: "K80 beta0.5", k: 80, beta: 0.5, spread: 1e-5},
		{name: "K80 beta0.99", k: 80, beta: 0.99, spread: 1e-2},
		{name: "K200 large spread", k: 200, beta: 0.7, spread: 10},
		{name: "small alpha", k: 5, beta: 0.9, spread: 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := newRand(uint64(tc.k))
			d := make([]float64, tc.k)
			for i := range d {
				d[i] = tc.spread * rng.NormFloat64()
			}
			m := maxOf(d)
			for i := range d {
				d[i] -= m
			}
			target := tc.beta * math.Log(float64(tc.k))
			alpha := bisectAlpha(d, target)
			tol := math.Max(alphaAbsTol, alphaRelTol*alpha)
			// The root lies within half a final bracket of alpha.
			if hLo, hHi := entropyNats(d, math.Max(0, alpha-tol/2)), entropyNats(d, alpha+tol/2); !(hLo >= target && target >= hHi) {
				t.Fatalf("alpha %v: target %v not in [H(alpha+tol/2), H(alpha-tol/2)] = [%v, %v]", alpha, target, hHi, hLo)
			}
			w := make([]float64, tc.k)
			softmaxScaled(w, d, alpha)
			if math.Abs(sum(w)-1) > 1e-12 {
				t.Fatalf("weights sum to %v", sum(w))
			}
			if math.Abs(entropyBits(w)*math.Ln2-entropyNats(d, alpha)) > 1e-9 {
				t.Fatalf("entropyBits and entropyNats disagree: %v vs %v nats", entropyBits(w)*math.Ln2, entropyNats(d, alpha))
			}
		})
	}
	// Unreachable target: two templates tie for the largest g, so the
	// entropy never falls below 1 bit; the bisection runs to the top of the
	// bracket and the weights split between the two.
	d := []float64{0, 0, -1, -2}
	alpha := bisectAlpha(d, 0.1*math.Log(4))
	if alpha < 0.99*alphaMax {
		t.Fatalf("unreachable target: alpha = %v, want about %v", alpha, alphaMax)
	}
	w := make([]float64, 4)
	softmaxScaled(w, d, alpha)
	if w[0] != 0.5 || w[1] != 0.5 || w[2] != 0 || w[3] != 0 {
		t.Fatalf("unreachable target: weights %v, want [0.5 0.5 0 0]", w)
	}
}

// bisectAlphaPlain is the bisection of AUTOCLIP.md step 4 as written:
// every midpoint evaluated.
func bisectAlphaPlain(d []float64, target float64) (alpha float64, evals int) {
	lo, hi := 0.0, alphaMax
	for it := 0; it < alphaMaxIters; it++ {
		width := hi - lo
		mid := lo + width/2
		if width <= alphaAbsTol || width <= alphaRelTol*mid {
			break
		}
		evals++
		if entropyNats(d, mid) > target {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo + (hi-lo)/2, evals
}

// TestBisectAlphaEqualsPlainBisection checks that the Newton-accelerated
// bisection returns exactly the plain bisection's alpha, over random
// gradients of many scales, sizes and targets, including unreachable ones.
func TestBisectAlphaEqualsPlainBisection(t *testing.T) {
	rng := newRand(30)
	var plainEvals int
	cases := 3000
	for n := 0; n < cases; n++ {
		d := randomGradient(rng, n)
		if d == nil {
			continue
		}
		target := rng.Float64() * math.Log(float64(len(d)))
		want, evals := bisectAlphaPlain(d, target)
		plainEvals += evals
		if got := bisectAlpha(d, target); got != want {
			t.Fatalf("case %d (K=%d, spread %g, target %v): alpha %v, plain bisection %v", n, len(d), -minOf(d), target, got, want)
		}
	}
	t.Logf("%d cases, plain bisection: %.1f entropy evaluations each", cases, float64(plainEvals)/float64(cases))
}

func minOf(x []float64) float64 {
	m := x[0]
	for _, v := range x[1:] {
		m = min(m, v)
	}
	return m
}

func TestEntropyBits(t *testing.T) {
	for _, tc := range []struct {
		name string
		w    []float64
		want float64
	}{
		{name: "one", w: []float64{1}, want: 0},
		{name: "uniform 4", w: []float64{0.25, 0.25, 0.25, 0.25}, want: 2},
		{name: "with zero", w: []float64{0.5, 0, 0.5}, want: 1},
		{name: "skewed", w: []float64{0.75, 0.25}, want: 0.8112781244591328},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := entropyBits(tc.w); math.Abs(got-tc.want) > 1e-15 {
				t.Fatalf("entropyBits(%v) = %v, want %v", tc.w, got, tc.want)
			}
		})
	}
}

// randomGradient draws the n-th shifted gradient (max 0) of the bisection
// tests: 2 to 201 templates, scales from 1e-12 to 100, and by n%4 Gaussian,
// heavy-tailed, tied (few distinct values) or one outlier. It returns nil
// for a constant gradient (uniform weights; no bisection).
func randomGradient(rng *rand.Rand, n int) []float64 {
	k := 2 + rng.IntN(200)
	scale := math.Pow(10, -12+14*rng.Float64())
	d := make([]float64, k)
	for i := range d {
		switch n % 4 {
		case 0:
			d[i] = scale * rng.NormFloat64()
		case 1: // heavy tail
			d[i] = scale * rng.NormFloat64() / (rng.Float64() + 1e-3)
		case 2: // few distinct values, ties for the max
			d[i] = scale * float64(rng.IntN(3))
		case 3: // one outlier
			d[i] = scale * 1e-3 * rng.NormFloat64()
		}
	}
	if n%4 == 3 {
		d[rng.IntN(k)] = scale
	}
	m := maxOf(d)
	for i := range d {
		d[i] -= m
	}
	if maxOf(d)-minOf(d) < 1e-12 {
		return nil
	}
	return d
}
