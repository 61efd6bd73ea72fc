package autoclip

import (
	"fmt"
	"math"
	"testing"
)

// refResult is what the naive reference computes for one frame.
type refResult struct {
	scores, weights []float64
	alpha           float64
}

// refSimilarities computes s_ij = <e_ij, x> in float64 from the raw (not yet
// normalised) text rows, normalising them in float64.
func refSimilarities(text []float32, k, c, d int, x []float32) [][]float64 {
	s := make([][]float64, k)
	for i := range s {
		s[i] = make([]float64, c)
		for j := range s[i] {
			row := text[(i*c+j)*d : (i*c+j+1)*d]
			var dot, ss float64
			for t, v := range row {
				dot += float64(v) * float64(x[t])
				ss += float64(v) * float64(v)
			}
			s[i][j] = dot / math.Sqrt(ss)
		}
	}
	return s
}

func refSoftmax(x []float64, scale float64) []float64 {
	m := math.Inf(-1)
	for _, v := range x {
		m = math.Max(m, scale*v)
	}
	out := make([]float64, len(x))
	var z float64
	for i, v := range x {
		out[i] = math.Exp(scale*v - m)
		z += out[i]
	}
	for i := range out {
		out[i] /= z
	}
	return out
}

func refEntropyBits(w []float64) float64 {
	var h float64
	for _, v := range w {
		if v > 0 {
			h -= v * math.Log2(v)
		}
	}
	return h
}

// refAutoCLIP follows AUTOCLIP.md literally (logsumexp, scale 1), with no
// shared code: uniform start, p, a, g, bisection on entropy in bits,
// weights, scores.
func refAutoCLIP(s [][]float64, beta float64) refResult {
	k, c := len(s), len(s[0])
	w := make([]float64, k)
	for i := range w {
		w[i] = 1 / float64(k)
	}
	score := func(w []float64) []float64 {
		out := make([]float64, c)
		for j := 0; j < c; j++ {
			for i := 0; i < k; i++ {
				out[j] += w[i] * s[i][j]
			}
		}
		return out
	}
	if k == 1 || beta == 1 {
		return refResult{score(w), w, 0}
	}
	p := refSoftmax(score(w), 1)
	a := make([]float64, k)
	for i := 0; i < k; i++ {
		for j := 0; j < c; j++ {
			a[i] += p[j] * s[i][j]
		}
	}
	var abar float64
	for i := range a {
		abar += w[i] * a[i]
	}
	g := make([]float64, k)
	gmin, gmax := math.Inf(1), math.Inf(-1)
	for i := range g {
		g[i] = w[i] * (a[i] - abar)
		gmin, gmax = math.Min(gmin, g[i]), math.Max(gmax, g[i])
	}
	if gmax-gmin < 1e-12 {
		return refResult{score(w), w, 0}
	}
	target := beta * math.Log2(float64(k))
	lo, hi := 0.0, 1e7
	for it := 0; it < 100; it++ {
		mid := (lo + hi) / 2
		if hi-lo <= 1e-2 || hi-lo <= 1e-2*mid {
			break
		}
		if refEntropyBits(refSoftmax(g, mid)) > target {
			lo = mid
		} else {
			hi = mid
		}
	}
	alpha := (lo + hi) / 2
	w = refSoftmax(g, alpha)
	return refResult{score(w), w, alpha}
}

// TestMatchesReference compares Classify with the literal reference on
// random data for every method.
func TestMatchesReference(t *testing.T) {
	for _, tc := range []struct {
		name    string
		k, c, d int
		beta    float64
		noise   float64
	}{
		{name: "K8-C5-D16", k: 8, c: 5, d: 16, beta: 0.85, noise: 1},
		{name: "K20-C30-D64", k: 20, c: 30, d: 64, beta: 0.85, noise: 2},
		{name: "K3-C2-D8-beta0.5", k: 3, c: 2, d: 8, beta: 0.5, noise: 1},
		{name: "K50-C10-D32-beta0.7", k: 50, c: 10, d: 32, beta: 0.7, noise: 0.5},
		{name: "K1-C4-D8", k: 1, c: 4, d: 8, beta: 0.85, noise: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := newRand(uint64(tc.k*1000 + tc.c))
			text := randText(rng, tc.k, tc.c, tc.d)
			// Scale rows away from unit length: New must normalise them.
			for i := range text {
				text[i] *= 3
			}
			x, _ := correlatedImages(rng, text, tc.k, tc.c, tc.d, 6, tc.noise)
			auto := mustNew(t, text, tc.k, tc.c, tc.d, opts(MethodAutoCLIP, AggLogSumExp, tc.beta))
			uni := mustNew(t, text, tc.k, tc.c, tc.d, opts(MethodUniform, AggLogSumExp, tc.beta))
			mean := mustNew(t, text, tc.k, tc.c, tc.d, opts(MethodMeanEmbedding, AggLogSumExp, tc.beta))
			for f := 0; f < 6; f++ {
				xf := x[f*tc.d : (f+1)*tc.d]
				s := refSimilarities(text, tc.k, tc.c, tc.d, xf)
				want := refAutoCLIP(s, tc.beta)
				got := classifyOne(t, auto, xf)
				if d := maxAbsDiff(got.Scores, want.scores); d > 1e-6 {
					t.Errorf("frame %d: autoclip scores differ from the reference by %g\n got %v\nwant %v", f, d, got.Scores, want.scores)
				}
				if d := maxAbsDiff(got.Weights, want.weights); d > 1e-5 {
					t.Errorf("frame %d: autoclip weights differ from the reference by %g\n got %v\nwant %v", f, d, got.Weights, want.weights)
				}
				if math.Abs(got.Alpha-want.alpha) > 1e-3*math.Max(1, want.alpha) {
					t.Errorf("frame %d: alpha = %v, reference %v", f, got.Alpha, want.alpha)
				}
				wantUni := refAutoCLIP(s, 1)
				gotUni := classifyOne(t, uni, xf)
				if d := maxAbsDiff(gotUni.Scores, wantUni.scores); d > 1e-6 {
					t.Errorf("frame %d: uniform scores differ from the reference by %g", f, d)
				}
				// mean-embedding: cosine with the re-normalised mean of the
				// normalised rows.
				gotMean := classifyOne(t, mean, xf)
				for j := 0; j < tc.c; j++ {
					m := make([]float64, tc.d)
					for i := 0; i < tc.k; i++ {
						row := text[(i*tc.c+j)*tc.d : (i*tc.c+j+1)*tc.d]
						var ss float64
						for _, v := range row {
							ss += float64(v) * float64(v)
						}
						for t, v := range row {
							m[t] += float64(v) / math.Sqrt(ss)
						}
					}
					var dot, ss float64
					for t, v := range m {
						dot += v * float64(xf[t])
						ss += v * v
					}
					if want := dot / math.Sqrt(ss); math.Abs(gotMean.Scores[j]-want) > 1e-6 {
						t.Errorf("frame %d class %d: mean-embedding score %v, reference %v", f, j, gotMean.Scores[j], want)
					}
				}
				for _, r := range []struct {
					name string
					res  Result
				}{{"autoclip", got}, {"uniform", gotUni}, {"mean-embedding", gotMean}} {
					checkDerived(t, fmt.Sprintf("frame %d %s", f, r.name), r.res, 100)
				}
			}
		})
	}
}

// checkDerived checks Probs, Best and Entropy against Scores and Weights.
func checkDerived(t *testing.T, name string, r Result, logitScale float64) {
	t.Helper()
	if d := maxAbsDiff(r.Probs, refSoftmax(r.Scores, logitScale)); d > 1e-12 {
		t.Errorf("%s: probs differ from softmax(%v * scores) by %g", name, logitScale, d)
	}
	for j, v := range r.Scores {
		if v > r.Scores[r.Best] || (v == r.Scores[r.Best] && j < r.Best) {
			t.Errorf("%s: best = %d (%v) but class %d scores %v", name, r.Best, r.Scores[r.Best], j, v)
		}
	}
	if h := refEntropyBits(r.Weights); math.Abs(h-r.Entropy) > 1e-9 {
		t.Errorf("%s: entropy = %v, weights have %v bits", name, r.Entropy, h)
	}
}
