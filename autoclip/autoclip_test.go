package autoclip

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
)

func TestNewErrors(t *testing.T) {
	ok := func() []float32 { return randText(newRand(1), 2, 3, 4) }
	with := func(idx int, v float32) []float32 {
		x := ok()
		x[idx] = v
		return x
	}
	zeroRow := ok()
	clear(zeroRow[(1*3+2)*4 : (1*3+3)*4]) // template 1, class 2
	// Two templates that cancel: class 0's mean embedding is zero.
	cancel := []float32{1, 0, 0, 1, -1, 0, 0, 1}
	bad := DefaultOptions()
	bad.Beta = 1.5
	for _, tc := range []struct {
		name    string
		text    []float32
		k, c, d int
		opts    Options
		want    string
	}{
		{name: "K zero", text: nil, k: 0, c: 3, d: 4, opts: DefaultOptions(),
			want: "autoclip: text embeddings [K=0][C=3][D=4]: every size must be >= 1"},
		{name: "D negative", text: ok(), k: 2, c: 3, d: -4, opts: DefaultOptions(),
			want: "autoclip: text embeddings [K=2][C=3][D=-4]: every size must be >= 1"},
		{name: "short", text: ok()[:23], k: 2, c: 3, d: 4, opts: DefaultOptions(),
			want: "autoclip: text embeddings have 23 floats, want K*C*D = 2*3*4"},
		{name: "overflowing sizes", text: ok(), k: math.MaxInt / 2, c: 3, d: 4, opts: DefaultOptions(),
			want: fmt.Sprintf("autoclip: text embeddings have 24 floats, want K*C*D = %d*3*4", math.MaxInt/2)},
		{name: "NaN", text: with((1*3+1)*4+2, float32(math.NaN())), k: 2, c: 3, d: 4, opts: DefaultOptions(),
			want: "autoclip: text embedding template 1, class 1: non-finite value NaN at dim 2"},
		{name: "Inf", text: with(3, float32(math.Inf(-1))), k: 2, c: 3, d: 4, opts: DefaultOptions(),
			want: "autoclip: text embedding template 0, class 0: non-finite value -Inf at dim 3"},
		{name: "zero row", text: zeroRow, k: 2, c: 3, d: 4, opts: DefaultOptions(),
			want: "autoclip: text embedding template 1, class 2: zero vector"},
		{name: "zero mean embedding", text: cancel, k: 2, c: 2, d: 2, opts: opts(MethodMeanEmbedding, AggLogSumExp, 0.85),
			want: "autoclip: class 0: the mean of its 2 text embeddings is zero, mean-embedding is undefined"},
		{name: "bad options", text: ok(), k: 2, c: 3, d: 4, opts: bad,
			want: "autoclip.beta: must be in (0, 1], got 1.5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl, err := New(tc.text, tc.k, tc.c, tc.d, tc.opts)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("New error = %v, want %q", err, tc.want)
			}
			if cl != nil {
				t.Fatalf("New returned a classifier with an error")
			}
		})
	}
}

func TestNewCopiesInput(t *testing.T) {
	rng := newRand(2)
	k, c, d := 4, 3, 8
	text := randText(rng, k, c, d)
	for i := range text {
		text[i] *= 2
	}
	orig := slices.Clone(text)
	x := randImages(rng, 1, d)
	cl := mustNew(t, text, k, c, d, DefaultOptions())
	if !slices.Equal(text, orig) {
		t.Fatalf("New modified the caller's slice")
	}
	before := classifyOne(t, cl, x)
	for i := range text {
		text[i] = -text[i]
	}
	after := classifyOne(t, cl, x)
	if !slices.Equal(before.Scores, after.Scores) {
		t.Fatalf("changing the caller's slice after New changed the scores: %v -> %v", before.Scores, after.Scores)
	}
	if cl.K() != k || cl.C() != c || cl.D() != d || cl.Options() != DefaultOptions() {
		t.Fatalf("accessors: K=%d C=%d D=%d options %+v", cl.K(), cl.C(), cl.D(), cl.Options())
	}
}

func TestClassifyErrors(t *testing.T) {
	rng := newRand(3)
	k, c, d := 3, 4, 5
	text := randText(rng, k, c, d)
	cl := mustNew(t, text, k, c, d, DefaultOptions())
	other := mustNew(t, text, k, c, d, DefaultOptions())
	x := randImages(rng, 3, d)
	nan := slices.Clone(x)
	nan[2*d+1] = float32(math.NaN())
	inf := slices.Clone(x)
	inf[d] = float32(math.Inf(1))
	long := slices.Clone(x)
	for t := 0; t < d; t++ {
		long[d+t] *= 1.1
	}
	for _, tc := range []struct {
		name   string
		ws     *Workspace
		images []float32
		b      int
		want   string
	}{
		{name: "nil workspace", ws: nil, images: x, b: 3,
			want: "autoclip: workspace was not made by this classifier's NewWorkspace"},
		{name: "foreign workspace", ws: other.NewWorkspace(4), images: x, b: 3,
			want: "autoclip: workspace was not made by this classifier's NewWorkspace"},
		{name: "batch too large", ws: cl.NewWorkspace(2), images: x, b: 3,
			want: "autoclip: batch of 3 frames, workspace holds 1 to 2"},
		{name: "negative batch", ws: cl.NewWorkspace(2), images: nil, b: -1,
			want: "autoclip: batch of -1 frames, workspace holds 1 to 2"},
		{name: "length mismatch", ws: cl.NewWorkspace(4), images: x[:14], b: 3,
			want: "autoclip: images have 14 floats, want 3 frames * 5 dims = 15"},
		{name: "NaN", ws: cl.NewWorkspace(4), images: nan, b: 3,
			want: "autoclip: frame 2: non-finite value NaN at dim 1"},
		{name: "Inf", ws: cl.NewWorkspace(4), images: inf, b: 3,
			want: "autoclip: frame 1: non-finite value +Inf at dim 0"},
		{name: "not normalised", ws: cl.NewWorkspace(4), images: long, b: 3,
			want: "autoclip: frame 1: embedding is not L2-normalised (norm 1.1)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := cl.Classify(tc.ws, tc.images, tc.b)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("Classify error = %v, want %q", err, tc.want)
			}
			if res != nil {
				t.Fatalf("Classify returned results with an error")
			}
		})
	}
	res, err := cl.Classify(cl.NewWorkspace(0), nil, 0)
	if err != nil || len(res) != 0 {
		t.Fatalf("empty batch: %v, %d results", err, len(res))
	}
}

// TestSanityProperties checks AUTOCLIP.md's properties on random data for
// every aggregation: weights positive and summing to 1, the entropy target
// met within the bisection tolerance, Probs/Best/Entropy consistent.
func TestSanityProperties(t *testing.T) {
	for _, agg := range Aggregations() {
		for _, beta := range []float64{0.3, 0.7, 0.85, 0.95} {
			for _, k := range []int{2, 7, 40} {
				t.Run(fmt.Sprintf("%s/beta=%v/K=%d", agg, beta, k), func(t *testing.T) {
					rng := newRand(uint64(k) * 7)
					c, d := 9, 24
					text := randText(rng, k, c, d)
					x, _ := correlatedImages(rng, text, k, c, d, 8, 1.5)
					cl := mustNew(t, text, k, c, d, opts(MethodAutoCLIP, agg, beta))
					res, err := cl.Classify(cl.NewWorkspace(8), x, 8)
					if err != nil {
						t.Fatal(err)
					}
					for f, r := range res {
						if s := sum(r.Weights); math.Abs(s-1) > 1e-12 {
							t.Errorf("frame %d: weights sum to %v", f, s)
						}
						for i, w := range r.Weights {
							if !(w > 0) {
								t.Errorf("frame %d: w[%d] = %v, want > 0", f, i, w)
							}
						}
						if r.Alpha == 0 {
							t.Errorf("frame %d: alpha = 0 with distinct random templates", f)
							continue
						}
						checkEntropyTarget(t, fmt.Sprintf("frame %d", f), cl, r)
						checkDerived(t, fmt.Sprintf("frame %d", f), r, 100)
					}
				})
			}
		}
	}
}

// checkEntropyTarget checks that beta*log2(K) lies between the entropies of
// the weights at alpha -/+ the bisection tolerance: the exact root is within
// half a final bracket of alpha.
func checkEntropyTarget(t *testing.T, name string, cl *Classifier, r Result) {
	t.Helper()
	k := cl.K()
	target := cl.Options().Beta * math.Log2(float64(k))
	// Recover g up to a positive factor and shift: log w_i = alpha g_i + const.
	d := make([]float64, k)
	lmax := math.Inf(-1)
	for i, w := range r.Weights {
		d[i] = math.Log(w) / r.Alpha
		lmax = math.Max(lmax, d[i])
	}
	for i := range d {
		d[i] -= lmax
	}
	tol := math.Max(alphaAbsTol, alphaRelTol*r.Alpha)
	hLo := entropyNats(d, math.Max(0, r.Alpha-tol)) / math.Ln2
	hHi := entropyNats(d, r.Alpha+tol) / math.Ln2
	if !(hLo >= target && target >= hHi) {
		t.Errorf("%s: target %v bits not within [H(alpha+tol), H(alpha-tol)] = [%v, %v] (alpha %v, H %v)", name, target, hHi, hLo, r.Alpha, r.Entropy)
	}
	// The tolerance is on alpha; in bits, 1% of alpha is well under 0.025 for
	// these shapes.
	if math.Abs(r.Entropy-target) > 0.025 {
		t.Errorf("%s: entropy %v bits, target %v", name, r.Entropy, target)
	}
}

func TestPermutingTemplatesPermutesWeights(t *testing.T) {
	rng := newRand(4)
	k, c, d := 12, 7, 16
	text := randText(rng, k, c, d)
	perm := rng.Perm(k)
	permuted := make([]float32, len(text))
	for i, p := range perm { // template i of permuted = template p of text
		copy(permuted[i*c*d:(i+1)*c*d], text[p*c*d:(p+1)*c*d])
	}
	x, _ := correlatedImages(rng, text, k, c, d, 5, 1)
	for _, agg := range Aggregations() {
		t.Run(string(agg), func(t *testing.T) {
			a := mustNew(t, text, k, c, d, opts(MethodAutoCLIP, agg, 0.85))
			b := mustNew(t, permuted, k, c, d, opts(MethodAutoCLIP, agg, 0.85))
			for f := 0; f < 5; f++ {
				ra := classifyOne(t, a, x[f*d:(f+1)*d])
				rb := classifyOne(t, b, x[f*d:(f+1)*d])
				for i, p := range perm {
					if math.Abs(rb.Weights[i]-ra.Weights[p]) > 1e-9 {
						t.Errorf("frame %d: permuted w[%d] = %v, original w[%d] = %v", f, i, rb.Weights[i], p, ra.Weights[p])
					}
				}
				if dd := maxAbsDiff(ra.Scores, rb.Scores); dd > 1e-9 {
					t.Errorf("frame %d: scores changed by %g under a template permutation", f, dd)
				}
				if ra.Best != rb.Best || math.Abs(ra.Alpha-rb.Alpha) > 1e-6*ra.Alpha {
					t.Errorf("frame %d: best %d/%d alpha %v/%v", f, ra.Best, rb.Best, ra.Alpha, rb.Alpha)
				}
			}
		})
	}
}

func TestBetaOneEqualsUniform(t *testing.T) {
	rng := newRand(5)
	k, c, d := 10, 6, 12
	text := randText(rng, k, c, d)
	x, _ := correlatedImages(rng, text, k, c, d, 4, 1)
	uni := mustNew(t, text, k, c, d, opts(MethodUniform, AggLogSumExp, 0.85))
	for _, agg := range Aggregations() {
		auto := mustNew(t, text, k, c, d, opts(MethodAutoCLIP, agg, 1))
		resU, err := uni.Classify(uni.NewWorkspace(4), x, 4)
		if err != nil {
			t.Fatal(err)
		}
		resA, err := auto.Classify(auto.NewWorkspace(4), x, 4)
		if err != nil {
			t.Fatal(err)
		}
		for f := range resU {
			u, a := resU[f], resA[f]
			if !slices.Equal(u.Scores, a.Scores) || !slices.Equal(u.Probs, a.Probs) || !slices.Equal(u.Weights, a.Weights) ||
				u.Best != a.Best || u.Entropy != a.Entropy || a.Alpha != 0 {
				t.Errorf("%s frame %d: beta=1 %+v\nuniform %+v", agg, f, a, u)
			}
		}
	}
}

// TestBetterTemplateGetsMoreWeight builds a frame for which template 0's
// similarities are higher than template 1's for the likely classes: AutoCLIP
// must weight template 0 more, and must do so for every aggregation that
// looks at the likely classes.
func TestBetterTemplateGetsMoreWeight(t *testing.T) {
	// D = 4; the image is e0. Class 0 is likely. Template 0 describes class
	// 0 close to the image, template 1 farther away; both describe class 1
	// (unlikely) the same way.
	x := []float32{1, 0, 0, 0}
	unit := func(v ...float64) []float32 {
		var ss float64
		for _, f := range v {
			ss += f * f
		}
		out := make([]float32, len(v))
		for i, f := range v {
			out[i] = float32(f / math.Sqrt(ss))
		}
		return out
	}
	var text []float32
	text = append(text, unit(0.9, 0.1, 0.1, 0)...) // t0, class 0: s = 0.99
	text = append(text, unit(0.1, 1, 0, 0)...)     // t0, class 1
	text = append(text, unit(0.6, 0, 0.8, 0)...)   // t1, class 0: s = 0.6
	text = append(text, unit(0.1, 1, 0, 0)...)     // t1, class 1
	for _, agg := range []Aggregation{AggLogSumExp, AggMax, AggEntropy} {
		cl := mustNew(t, text, 2, 2, 4, opts(MethodAutoCLIP, agg, 0.85))
		r := classifyOne(t, cl, x)
		if !(r.Weights[0] > r.Weights[1]) {
			t.Errorf("%s: weights %v, want template 0 above template 1", agg, r.Weights)
		}
		// K = 2 and H(w) = 0.85 bits: w = (0.72396, 0.27604), up to the
		// effect of the 1% tolerance on alpha (about 0.001 on w here).
		if math.Abs(r.Weights[0]-0.72396) > 0.002 {
			t.Errorf("%s: w0 = %v, want about 0.72396 (entropy 0.85 bits)", agg, r.Weights[0])
		}
	}
}

func TestEdgeShapes(t *testing.T) {
	rng := newRand(6)
	for _, tc := range []struct {
		name    string
		k, c, d int
	}{
		{name: "K=1", k: 1, c: 5, d: 8},
		{name: "C=1", k: 6, c: 1, d: 8},
		{name: "K=1 C=1 D=1", k: 1, c: 1, d: 1},
		{name: "D=1", k: 3, c: 4, d: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := randText(rng, tc.k, tc.c, tc.d)
			x := randImages(rng, 3, tc.d)
			for _, m := range Methods() {
				for _, agg := range Aggregations() {
					cl := mustNew(t, text, tc.k, tc.c, tc.d, opts(m, agg, 0.85))
					res, err := cl.Classify(cl.NewWorkspace(3), x, 3)
					if err != nil {
						t.Fatal(err)
					}
					for f, r := range res {
						name := fmt.Sprintf("%s/%s frame %d", m, agg, f)
						if len(r.Scores) != tc.c || len(r.Probs) != tc.c || len(r.Weights) != tc.k {
							t.Fatalf("%s: lengths %d %d %d", name, len(r.Scores), len(r.Probs), len(r.Weights))
						}
						if math.Abs(sum(r.Weights)-1) > 1e-12 || math.Abs(sum(r.Probs)-1) > 1e-12 {
							t.Errorf("%s: weights sum %v, probs sum %v", name, sum(r.Weights), sum(r.Probs))
						}
						if tc.k == 1 && (r.Weights[0] != 1 || r.Alpha != 0 || r.Entropy != 0) {
							t.Errorf("%s: K=1 gives w=%v alpha=%v H=%v, want [1], 0, 0", name, r.Weights, r.Alpha, r.Entropy)
						}
						if tc.c == 1 && (r.Best != 0 || r.Probs[0] != 1) {
							t.Errorf("%s: C=1 gives best %d probs %v", name, r.Best, r.Probs)
						}
						checkDerived(t, name, r, 100)
					}
				}
			}
		})
	}
	// C = 1 with logsumexp still separates templates: g_i = w_i (s_i1 - mean).
	text := randText(rng, 5, 1, 8)
	cl := mustNew(t, text, 5, 1, 8, DefaultOptions())
	r := classifyOne(t, cl, randImages(rng, 1, 8))
	if r.Alpha == 0 {
		t.Errorf("C=1: alpha = 0, want a step towards the templates most similar to the image")
	}
	checkEntropyTarget(t, "C=1", cl, r)
}

func TestIdenticalTemplates(t *testing.T) {
	rng := newRand(7)
	k, c, d := 6, 4, 16
	one := randText(rng, 1, c, d)
	text := make([]float32, 0, k*c*d)
	for i := 0; i < k; i++ {
		text = append(text, one...)
	}
	x, _ := correlatedImages(rng, text, k, c, d, 3, 1)
	for _, agg := range Aggregations() {
		auto := mustNew(t, text, k, c, d, opts(MethodAutoCLIP, agg, 0.85))
		uni := mustNew(t, text, k, c, d, opts(MethodUniform, agg, 0.85))
		single := mustNew(t, one, 1, c, d, DefaultOptions())
		for f := 0; f < 3; f++ {
			xf := x[f*d : (f+1)*d]
			a, u, s := classifyOne(t, auto, xf), classifyOne(t, uni, xf), classifyOne(t, single, xf)
			if a.Alpha != 0 || !slices.Equal(a.Scores, u.Scores) || !slices.Equal(a.Weights, u.Weights) {
				t.Errorf("%s frame %d: identical templates gave alpha %v weights %v, want uniform", agg, f, a.Alpha, a.Weights)
			}
			if math.Abs(a.Entropy-math.Log2(float64(k))) > 1e-12 {
				t.Errorf("%s frame %d: entropy %v, want log2(%d)", agg, f, a.Entropy, k)
			}
			if dd := maxAbsDiff(a.Scores, s.Scores); dd > 1e-12 {
				t.Errorf("%s frame %d: scores differ from the single template's by %g", agg, f, dd)
			}
		}
	}
}

func TestBatchEqualsSingleFrames(t *testing.T) {
	rng := newRand(8)
	k, c, d, b := 9, 11, 20, 8
	text := randText(rng, k, c, d)
	x, _ := correlatedImages(rng, text, k, c, d, b, 1)
	for _, m := range Methods() {
		cl := mustNew(t, text, k, c, d, opts(m, AggLogSumExp, 0.85))
		ws := cl.NewWorkspace(b)
		res, err := cl.Classify(ws, x, b)
		if err != nil {
			t.Fatal(err)
		}
		batch := make([]Result, b)
		for f := range res {
			batch[f] = cloneResult(res[f])
		}
		for f := 0; f < b; f++ {
			one, err := cl.Classify(ws, x[f*d:(f+1)*d], 1) // reuses ws
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(one[0].Scores, batch[f].Scores) || !slices.Equal(one[0].Weights, batch[f].Weights) || one[0].Alpha != batch[f].Alpha {
				t.Errorf("%s frame %d: batch and single results differ", m, f)
			}
		}
	}
}

func TestSimilaritiesProduct(t *testing.T) {
	rng := newRand(9)
	for _, tc := range []struct {
		name       string
		rows, d, b int
	}{
		{name: "1x1x1", rows: 1, d: 1, b: 1},
		{name: "odd", rows: 13, d: 17, b: 3},
		{name: "clip", rows: 160, d: 512, b: 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := randText(rng, 1, tc.rows, tc.d)
			x := randImages(rng, tc.b, tc.d)
			out := make([]float32, tc.rows*tc.b)
			similarities(e, tc.rows, tc.d, x, tc.b, out)
			for f := 0; f < tc.b; f++ {
				for r := 0; r < tc.rows; r++ {
					var want float64
					for t := 0; t < tc.d; t++ {
						want += float64(e[r*tc.d+t]) * float64(x[f*tc.d+t])
					}
					if got := float64(out[f*tc.rows+r]); math.Abs(got-want) > 1e-6 {
						t.Fatalf("frame %d row %d: %v, want %v", f, r, got, want)
					}
				}
			}
		})
	}
}

func TestClassifyDoesNotAllocate(t *testing.T) {
	rng := newRand(10)
	k, c, d, b := 16, 20, 32, 4
	text := randText(rng, k, c, d)
	x, _ := correlatedImages(rng, text, k, c, d, b, 1)
	for _, m := range Methods() {
		for _, agg := range Aggregations() {
			cl := mustNew(t, text, k, c, d, opts(m, agg, 0.85))
			ws := cl.NewWorkspace(b)
			allocs := testing.AllocsPerRun(20, func() {
				if _, err := cl.Classify(ws, x, b); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 {
				t.Errorf("%s/%s: %v allocations per Classify, want 0", m, agg, allocs)
			}
		}
	}
}

func TestConcurrentClassify(t *testing.T) {
	rng := newRand(11)
	k, c, d, b := 8, 10, 16, 4
	text := randText(rng, k, c, d)
	x, _ := correlatedImages(rng, text, k, c, d, b, 1)
	cl := mustNew(t, text, k, c, d, DefaultOptions())
	want, err := cl.Classify(cl.NewWorkspace(b), x, b)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ws := cl.NewWorkspace(b)
			for it := 0; it < 50; it++ {
				got, err := cl.Classify(ws, x, b)
				if err != nil {
					errs <- err
					return
				}
				for f := range got {
					if !slices.Equal(got[f].Scores, want[f].Scores) || !slices.Equal(got[f].Weights, want[f].Weights) {
						errs <- fmt.Errorf("goroutine result for frame %d differs", f)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestTopK(t *testing.T) {
	for _, tc := range []struct {
		name   string
		scores []float64
		k      int
		want   []int
	}{
		{name: "basic", scores: []float64{0.1, 0.5, 0.3, 0.9, 0.2}, k: 3, want: []int{3, 1, 2}},
		{name: "all", scores: []float64{0.1, 0.5, 0.3}, k: 3, want: []int{1, 2, 0}},
		{name: "k above len", scores: []float64{2, 1}, k: 5, want: []int{0, 1}},
		{name: "k zero", scores: []float64{2, 1}, k: 0, want: []int{}},
		{name: "k negative", scores: []float64{2, 1}, k: -1, want: []int{}},
		{name: "empty", scores: nil, k: 3, want: []int{}},
		{name: "ties lower index first", scores: []float64{1, 3, 3, 1, 3}, k: 4, want: []int{1, 2, 4, 0}},
		{name: "descending input", scores: []float64{5, 4, 3, 2, 1}, k: 2, want: []int{0, 1}},
		{name: "ascending input", scores: []float64{1, 2, 3, 4, 5}, k: 2, want: []int{4, 3}},
		{name: "negative", scores: []float64{-3, -1, -2}, k: 1, want: []int{1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := make([]int, 1, 8)
			dst[0] = 99
			got := TopK(tc.scores, tc.k, dst)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("TopK(%v, %d) = %v, want %v", tc.scores, tc.k, got, tc.want)
			}
			if len(got) > 0 && &got[0] != &dst[:1][0] {
				t.Fatalf("TopK did not write into dst")
			}
		})
	}
	scores := []float64{3, 1, 4, 1, 5, 9, 2, 6}
	dst := make([]int, 0, 5)
	if a := testing.AllocsPerRun(10, func() { dst = TopK(scores, 5, dst) }); a != 0 {
		t.Fatalf("TopK allocates %v times with a large enough dst", a)
	}
}

// FuzzClassify scores random shapes and values: no panic; bad inputs are
// errors; otherwise weights are a distribution and scores are finite.
func FuzzClassify(f *testing.F) {
	f.Add(uint64(1), uint8(3), uint8(4), uint8(5), uint8(2), uint8(0), uint8(0), 0.85, 1.0, []byte{})
	f.Add(uint64(2), uint8(1), uint8(1), uint8(1), uint8(1), uint8(2), uint8(1), 0.5, 3.0, []byte{0xff, 0xff, 0xff, 0x7f})
	f.Add(uint64(3), uint8(40), uint8(2), uint8(3), uint8(4), uint8(0), uint8(3), 0.01, 0.1, []byte{0, 0, 0x80, 0x7f, 1, 2})
	f.Add(uint64(4), uint8(7), uint8(9), uint8(2), uint8(3), uint8(1), uint8(2), 1.0, 50.0, []byte{0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, seed uint64, k8, c8, d8, b8, m8, a8 uint8, beta, scale float64, raw []byte) {
		k, c, d, b := int(k8%48)+1, int(c8%16)+1, int(d8%12)+1, int(b8%4)+1
		o := DefaultOptions()
		o.Method = Methods()[int(m8)%len(Methods())]
		o.Aggregation = Aggregations()[int(a8)%len(Aggregations())]
		o.Beta, o.Scale = beta, scale
		rng := newRand(seed)
		text := make([]float32, k*c*d)
		for i := range text {
			// Heavy-tailed values, some exactly zero, with raw bytes as
			// verbatim float32 bits over the start.
			switch rng.IntN(8) {
			case 0:
				text[i] = 0
			case 1:
				text[i] = float32(rng.NormFloat64() * 1e30)
			case 2:
				text[i] = float32(rng.NormFloat64() * 1e-30)
			default:
				text[i] = float32(rng.NormFloat64())
			}
		}
		for i := 0; i+4 <= len(raw) && i/4 < len(text); i += 4 {
			text[i/4] = math.Float32frombits(uint32(raw[i]) | uint32(raw[i+1])<<8 | uint32(raw[i+2])<<16 | uint32(raw[i+3])<<24)
		}
		cl, err := New(text, k, c, d, o)
		if err != nil {
			if o.Validate() == nil && validText(text, k, c, d) && o.Method != MethodMeanEmbedding {
				t.Fatalf("New rejected valid input: %v", err)
			}
			return
		}
		x := randImages(rng, b, d)
		res, err := cl.Classify(cl.NewWorkspace(b), x, b)
		if err != nil {
			t.Fatalf("Classify: %v", err)
		}
		for f, r := range res {
			if s := sum(r.Weights); math.Abs(s-1) > 1e-9 {
				t.Fatalf("frame %d: weights sum to %v: %v", f, s, r.Weights)
			}
			if s := sum(r.Probs); math.Abs(s-1) > 1e-9 {
				t.Fatalf("frame %d: probs sum to %v", f, s)
			}
			for _, w := range r.Weights {
				if !(w >= 0 && w <= 1) {
					t.Fatalf("frame %d: weight %v outside [0, 1]", f, w)
				}
			}
			for _, v := range r.Scores {
				if math.IsNaN(v) || math.Abs(v) > 1.01 {
					t.Fatalf("frame %d: score %v is not a cosine", f, v)
				}
			}
			if !(r.Alpha >= 0 && r.Alpha <= alphaMax) || !(r.Entropy >= 0 && r.Entropy <= math.Log2(float64(k))+1e-9) {
				t.Fatalf("frame %d: alpha %v entropy %v", f, r.Alpha, r.Entropy)
			}
			if r.Best < 0 || r.Best >= c {
				t.Fatalf("frame %d: best %d", f, r.Best)
			}
		}
	})
}

// validText reports whether every row is finite and non-zero.
func validText(text []float32, k, c, d int) bool {
	for r := 0; r < k*c; r++ {
		var nz bool
		for _, v := range text[r*d : (r+1)*d] {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return false
			}
			nz = nz || v != 0
		}
		if !nz {
			return false
		}
	}
	return true
}
