//go:build !amd64 && !arm64

package autoclip

// similaritiesSIMD reports false: there is no SIMD kernel for this
// architecture, similarities uses similaritiesGeneric.
func similaritiesSIMD(emb []float32, rows, d int, x []float32, b int, out []float32, lo, hi int) bool {
	return false
}
