package inference

import "testing"

// TestLimitMallocArenas: glibc accepts the cap, and a user's
// MALLOC_ARENA_MAX is left alone.
func TestLimitMallocArenas(t *testing.T) {
	t.Setenv("MALLOC_ARENA_MAX", "")
	if !LimitMallocArenas(2) {
		t.Error("mallopt(M_ARENA_MAX, 2) was refused")
	}
	t.Setenv("MALLOC_ARENA_MAX", "4")
	if LimitMallocArenas(2) {
		t.Error("applied despite MALLOC_ARENA_MAX in the environment")
	}
}
