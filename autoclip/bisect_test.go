package autoclip

import (
	"math"
	"testing"
)

// TestBisectAlphaEvalsBound checks bisectAlphaEvals against the plain
// bisection on random gradients of many scales, sizes and targets: the same
// alpha, never more than bisectRounds evaluations beyond the plain
// bisection's, and fewer than half of them on average.
func TestBisectAlphaEvalsBound(t *testing.T) {
	rng := newRand(31)
	var plainEvals, evals, worst int
	cases := 0
	for n := 0; n < 4000; n++ {
		d := randomGradient(rng, n)
		if d == nil {
			continue
		}
		cases++
		target := rng.Float64() * math.Log(float64(len(d)))
		want, pe := bisectAlphaPlain(d, target)
		got, e := bisectAlphaEvals(d, target)
		if got != want {
			t.Fatalf("case %d (K=%d, spread %g, target %v): alpha %v, plain bisection %v", n, len(d), -minOf(d), target, got, want)
		}
		if e > pe+bisectRounds {
			t.Fatalf("case %d (K=%d, spread %g, target %v): %d evaluations, plain bisection %d", n, len(d), -minOf(d), target, e, pe)
		}
		plainEvals += pe
		evals += e
		worst = max(worst, e)
	}
	if 2*evals >= plainEvals {
		t.Errorf("%d cases: %d entropy evaluations, plain bisection %d: want fewer than half", cases, evals, plainEvals)
	}
	t.Logf("%d cases: %.2f entropy evaluations each (at most %d), plain bisection %.2f", cases,
		float64(evals)/float64(cases), worst, float64(plainEvals)/float64(cases))
}

// TestBisectAlphaEvalsClassify counts the entropy evaluations per frame on
// the benchmark's frames (K=80, C=10): the same alpha as Classify, and at
// most 4 per frame where the final lo and hi of the plain bisection are the
// only ones needed.
func TestBisectAlphaEvalsClassify(t *testing.T) {
	const c = 10
	w := getBenchWorld(c)
	cl := mustNew(t, w.text, benchK, c, benchD, DefaultOptions())
	ws := cl.NewWorkspace(8)
	res, err := cl.Classify(ws, w.images, 8)
	if err != nil {
		t.Fatal(err)
	}
	uniform := make([]float64, benchK)
	for i := range uniform {
		uniform[i] = 1 / float64(benchK)
	}
	cs, g := make([]float64, c), make([]float64, benchK)
	total := 0
	for f, r := range res {
		s := ws.sim[f*cl.rows : (f+1)*cl.rows]
		weightedScores(s, uniform, cs)
		templateGradient(s, uniform, cs, AggLogSumExp, 1, make([]float64, c), make([]float64, benchK), g)
		m := maxOf(g)
		for i := range g {
			g[i] -= m
		}
		alpha, evals := bisectAlphaEvals(g, cl.target)
		if alpha != r.Alpha {
			t.Fatalf("frame %d: alpha %v, Classify %v", f, alpha, r.Alpha)
		}
		if evals > 4 {
			t.Errorf("frame %d: %d entropy evaluations", f, evals)
		}
		total += evals
	}
	t.Logf("%.2f entropy evaluations per frame", float64(total)/float64(len(res)))
}
