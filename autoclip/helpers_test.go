package autoclip

import (
	"math"
	"math/rand/v2"
	"testing"
)

// newRand returns a deterministic generator for a test.
func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x5eed)) }

// randUnit fills dst with a random unit vector.
func randUnit(rng *rand.Rand, dst []float32) {
	for {
		var ss float64
		for i := range dst {
			v := rng.NormFloat64()
			dst[i] = float32(v)
			ss += v * v
		}
		if ss > 0 {
			inv := 1 / math.Sqrt(ss)
			for i := range dst {
				dst[i] = float32(float64(dst[i]) * inv)
			}
			return
		}
	}
}

// randText returns random unit text embeddings [K][C][D].
func randText(rng *rand.Rand, k, c, d int) []float32 {
	t := make([]float32, k*c*d)
	for r := 0; r < k*c; r++ {
		randUnit(rng, t[r*d:(r+1)*d])
	}
	return t
}

// randImages returns b random unit image embeddings [B][D].
func randImages(rng *rand.Rand, b, d int) []float32 {
	x := make([]float32, b*d)
	for f := 0; f < b; f++ {
		randUnit(rng, x[f*d:(f+1)*d])
	}
	return x
}

// correlatedImages returns b unit images, each close to the mean text
// embedding of a random class, so that the class posterior is informative.
func correlatedImages(rng *rand.Rand, text []float32, k, c, d, b int, noise float64) ([]float32, []int) {
	x := make([]float32, b*d)
	labels := make([]int, b)
	v := make([]float64, d)
	for f := 0; f < b; f++ {
		y := rng.IntN(c)
		labels[f] = y
		clear(v)
		for i := 0; i < k; i++ {
			for t := 0; t < d; t++ {
				v[t] += float64(text[(i*c+y)*d+t]) / float64(k)
			}
		}
		var ss float64
		for t := range v {
			v[t] += noise * rng.NormFloat64() / math.Sqrt(float64(d))
			ss += v[t] * v[t]
		}
		for t := range v {
			x[f*d+t] = float32(v[t] / math.Sqrt(ss))
		}
	}
	return x, labels
}

// mustNew builds a Classifier or fails the test.
func mustNew(t testing.TB, text []float32, k, c, d int, opts Options) *Classifier {
	t.Helper()
	cl, err := New(text, k, c, d, opts)
	if err != nil {
		t.Fatalf("New(K=%d, C=%d, D=%d, %+v): %v", k, c, d, opts, err)
	}
	return cl
}

// classifyOne classifies one frame and returns a deep copy of its result.
func classifyOne(t testing.TB, cl *Classifier, x []float32) Result {
	t.Helper()
	ws := cl.NewWorkspace(1)
	res, err := cl.Classify(ws, x, 1)
	if err != nil {
		t.Fatalf("Classify: %v", err)
	}
	return cloneResult(res[0])
}

func cloneResult(r Result) Result {
	r.Scores = append([]float64(nil), r.Scores...)
	r.Probs = append([]float64(nil), r.Probs...)
	r.Weights = append([]float64(nil), r.Weights...)
	return r
}

func opts(method Method, agg Aggregation, beta float64) Options {
	o := DefaultOptions()
	o.Method, o.Aggregation, o.Beta = method, agg, beta
	return o
}

// maxAbsDiff returns max_i |a_i - b_i| (Inf when the lengths differ).
func maxAbsDiff(a, b []float64) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	var m float64
	for i := range a {
		m = max(m, math.Abs(a[i]-b[i]))
	}
	return m
}

func sum(x []float64) float64 {
	var s float64
	for _, v := range x {
		s += v
	}
	return s
}
