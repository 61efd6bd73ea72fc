// Command autoclipd classifies camera frames zero-shot with CLIP and AutoCLIP
// and publishes what it sees over MQTT.
//
// Usage:
//
//	autoclipd run --config FILE      run the daemon
//	autoclipd check-config --config FILE
//	autoclipd demo --out DIR         write the demo model, video, labels and config
//	autoclipd classify --config FILE IMAGE|VIDEO ...
//	autoclipd eval --images IMG.npy --text TXT.npy [--labels Y.npy]
//	autoclipd tokenize (--model DIR | --vocab FILE) [TEXT ...]
//	autoclipd preprocess --model DIR IMAGE --out T.npy
//	autoclipd version
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/autoclipd/autoclipd/inference"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	// Before ONNX Runtime and OpenCV start their threads: see
	// inference.LimitMallocArenas.
	inference.LimitMallocArenas(2)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
