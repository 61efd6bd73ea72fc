// Package logtest holds what tests need to capture log output.
package logtest

import (
	"bytes"
	"sync"
)

// Buffer collects what several goroutines write (slog handlers, a broker's
// output, a daemon that may outlive the test) and hands it out as one
// string. The zero Buffer is ready to use and keeps everything; with Max > 0
// it keeps the first Max bytes or so and drops the rest (still reporting
// them written), so that a chatty writer cannot eat memory.
type Buffer struct {
	Max int

	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p; it never fails.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Max <= 0 || b.buf.Len() < b.Max {
		b.buf.Write(p)
	}
	return len(p), nil
}

// String returns everything kept so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
