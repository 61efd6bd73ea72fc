// Command gover exits non-zero when the Go toolchain is older than 1.26.
package main

import (
	"fmt"
	"go/version"
	"os"
	"runtime"
)

func main() {
	if version.Compare(runtime.Version(), "go1.26") < 0 {
		fmt.Fprintf(os.Stderr, "Go 1.26 or newer is needed, this is %s\n", runtime.Version())
		os.Exit(1)
	}
}
