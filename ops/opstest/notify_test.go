package opstest_test

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/autoclipd/autoclipd/ops"
	"github.com/autoclipd/autoclipd/ops/opstest"
)

func TestExpectInOrder(t *testing.T) {
	s := opstest.ListenNotify(t)
	n := ops.NewNotifier(slog.New(slog.NewTextHandler(io.Discard, nil)))
	for _, f := range []func() error{
		func() error { return n.Status("loading") }, n.Ready, n.Watchdog, n.Reloading, n.Ready, n.Watchdog, n.Stopping,
	} {
		if err := f(); err != nil {
			t.Fatal(err)
		}
	}
	s.ExpectInOrder(t, 5*time.Second, "READY=1", "RELOADING=1", "READY=1", "WATCHDOG=1", "STOPPING=1")
	if _, err := s.Next(50 * time.Millisecond); err == nil || !strings.Contains(err.Error(), s.Path) {
		t.Fatalf("Next on an empty socket: %v, want a timeout naming %s", err, s.Path)
	}
}

// TestExpectInOrderFails checks the helper reports a wrong order.
func TestExpectInOrderFails(t *testing.T) {
	s := opstest.ListenNotify(t)
	n := ops.NewNotifier(slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := n.Stopping(); err != nil {
		t.Fatal(err)
	}
	if err := n.Ready(); err != nil {
		t.Fatal(err)
	}
	ft := &fakeT{TB: t}
	func() {
		defer func() { recover() }() // fakeT.Fatalf panics to stop ExpectInOrder
		s.ExpectInOrder(ft, 200*time.Millisecond, "READY=1", "STOPPING=1")
	}()
	if !ft.failed || !strings.Contains(ft.msg, `missing "STOPPING=1"`) {
		t.Fatalf("wrong order not reported: failed=%v msg=%q", ft.failed, ft.msg)
	}
}

type fakeT struct {
	testing.TB
	failed bool
	msg    string
}

func (f *fakeT) Helper() {}
func (f *fakeT) Fatalf(format string, args ...any) {
	f.failed = true
	f.msg = fmt.Sprintf(format, args...)
	panic("fatal")
}
