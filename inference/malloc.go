package inference

/*
#include <malloc.h>
#ifndef M_ARENA_MAX
#define M_ARENA_MAX -8
#endif
static int acd_arena_max(int n) { return mallopt(M_ARENA_MAX, n); }
*/
import "C"

import "os"

// LimitMallocArenas caps glibc's malloc arenas at n unless MALLOC_ARENA_MAX
// is set in the environment (the user's choice wins). With one arena per
// thread that allocates (ONNX Runtime's, OpenCV's and cgo's threads), the
// resident set of a long run keeps creeping up; two level it off after a
// few thousand frames. Call it early in main; it reports whether it applied.
func LimitMallocArenas(n int) bool {
	if os.Getenv("MALLOC_ARENA_MAX") != "" {
		return false
	}
	return C.acd_arena_max(C.int(n)) == 1
}
