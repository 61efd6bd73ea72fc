package autoclip

import (
	"fmt"
	"math"
	"testing"
)

// TestWeightedScores checks weightedScores (the SIMD kernel where there is
// one, Go for the other classes) and weightedScoresGo against a plain sum
// for shapes around the kernel's blocks of 4 classes and 4 templates.
func TestWeightedScores(t *testing.T) {
	rng := newRand(41)
	for _, k := range []int{1, 2, 3, 4, 5, 7, 8, 9, 80} {
		for _, c := range []int{1, 2, 3, 4, 5, 7, 8, 9, 10, 16, 17, 100} {
			t.Run(fmt.Sprintf("K=%d/C=%d", k, c), func(t *testing.T) {
				s := make([]float32, k*c+3) // room past the end: never read
				for i := range s {
					s[i] = float32(rng.Float64()*2 - 1)
				}
				for i := k * c; i < len(s); i++ {
					s[i] = float32(math.NaN())
				}
				w := make([]float64, k)
				for i := range w {
					w[i] = rng.Float64()
				}
				want := make([]float64, c)
				for j := range want {
					for i := range w {
						want[j] += w[i] * float64(s[i*c+j])
					}
				}
				got, gotGo := make([]float64, c+1), make([]float64, c+1)
				got[c], gotGo[c] = 42, 42 // must stay untouched
				weightedScores(s[:k*c], w, got[:c])
				weightedScoresGo(s[:k*c], w, gotGo[:c], 0)
				for j := range want {
					if math.Abs(got[j]-want[j]) > 1e-12 || math.Abs(gotGo[j]-want[j]) > 1e-12 {
						t.Fatalf("class %d: weightedScores %v, weightedScoresGo %v, want %v", j, got[j], gotGo[j], want[j])
					}
				}
				if got[c] != 42 || gotGo[c] != 42 {
					t.Fatalf("wrote past the %d classes", c)
				}
			})
		}
	}
}

// TestRowDots checks rowDots (the SIMD kernel where there is one, Go for
// the other classes) and rowDotsGo against a plain sum for shapes around
// the kernel's blocks of 4 templates and 4 classes, and that identical
// templates, wherever they sit, get identical sums.
func TestRowDots(t *testing.T) {
	rng := newRand(42)
	for _, k := range []int{1, 2, 3, 4, 5, 7, 8, 9, 80} {
		for _, c := range []int{1, 2, 3, 4, 5, 7, 8, 9, 10, 16, 17, 100} {
			t.Run(fmt.Sprintf("K=%d/C=%d", k, c), func(t *testing.T) {
				s := make([]float32, k*c)
				for i := range s {
					s[i] = float32(rng.Float64()*2 - 1)
				}
				copy(s[(k-1)*c:], s[:c]) // the last template repeats the first
				q := make([]float64, c)
				for j := range q {
					q[j] = rng.Float64()
				}
				want := make([]float64, k)
				for i := range want {
					for j := range q {
						want[i] += q[j] * float64(s[i*c+j])
					}
				}
				got, gotGo := make([]float64, k+1), make([]float64, k+1)
				got[k], gotGo[k] = 42, 42 // must stay untouched
				rowDots(s, q, got[:k])
				rowDotsGo(s, q, gotGo[:k], 0)
				for i := range want {
					if math.Abs(got[i]-want[i]) > 1e-12 || math.Abs(gotGo[i]-want[i]) > 1e-12 {
						t.Fatalf("template %d: rowDots %v, rowDotsGo %v, want %v", i, got[i], gotGo[i], want[i])
					}
				}
				if got[k] != 42 || gotGo[k] != 42 {
					t.Fatalf("wrote past the %d templates", k)
				}
				if got[0] != got[k-1] || gotGo[0] != gotGo[k-1] {
					t.Fatalf("identical templates 0 and %d: rowDots %v and %v, rowDotsGo %v and %v", k-1, got[0], got[k-1], gotGo[0], gotGo[k-1])
				}
			})
		}
	}
}

// BenchmarkScoreKernels times weightedScores and rowDots at K=80, C=10 (the
// shape where the per-frame step weighs most next to the product), with
// the SIMD kernels where there are some and in Go.
func BenchmarkScoreKernels(b *testing.B) {
	const k, c = benchK, 10
	rng := newRand(44)
	s := make([]float32, k*c)
	for i := range s {
		s[i] = float32(rng.Float64()*2 - 1)
	}
	w, q := make([]float64, k), make([]float64, c)
	for i := range w {
		w[i] = rng.Float64()
	}
	for j := range q {
		q[j] = rng.Float64()
	}
	out, a := make([]float64, c), make([]float64, k)
	b.Run("weightedScores", func(b *testing.B) {
		for b.Loop() {
			weightedScores(s, w, out)
		}
	})
	b.Run("weightedScoresGo", func(b *testing.B) {
		for b.Loop() {
			weightedScoresGo(s, w, out, 0)
		}
	})
	b.Run("rowDots", func(b *testing.B) {
		for b.Loop() {
			rowDots(s, q, a)
		}
	})
	b.Run("rowDotsGo", func(b *testing.B) {
		for b.Loop() {
			clear(a)
			rowDotsGo(s, q, a, 0)
		}
	})
}
