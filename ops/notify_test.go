package ops

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// notifySocket listens on a unixgram socket in a temporary directory, points
// NOTIFY_SOCKET at it for the test, and returns a function that reads the
// next datagram (failing the test after 10 s without one).
func notifySocket(t *testing.T) (next func() string, none func(wait time.Duration)) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	buf := make([]byte, 4096)
	next = func() string {
		t.Helper()
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("reading %s: %v", path, err)
		}
		return string(buf[:n])
	}
	none = func(wait time.Duration) {
		t.Helper()
		conn.SetReadDeadline(time.Now().Add(wait))
		if n, err := conn.Read(buf); err == nil {
			t.Fatalf("unexpected notification %q", buf[:n])
		}
	}
	return next, none
}

func TestNotifyOrder(t *testing.T) {
	next, _ := notifySocket(t)
	n := NewNotifier(discardLogger())
	if !n.Enabled() {
		t.Fatal("Enabled() = false with NOTIFY_SOCKET set")
	}
	w := NewWatchdog(n, time.Hour) // ticks driven by hand
	if err := n.Status("starting: loading model"); err != nil {
		t.Fatal(err)
	}
	if err := n.Ready(); err != nil {
		t.Fatal(err)
	}
	w.Alive()
	w.tick()
	if err := n.Stopping(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"STATUS=starting: loading model", "READY=1", "WATCHDOG=1", "STOPPING=1"} {
		if got := next(); got != want {
			t.Fatalf("notification = %q, want %q", got, want)
		}
	}
}

func TestNotifyReloading(t *testing.T) {
	next, _ := notifySocket(t)
	n := NewNotifier(discardLogger())
	if err := n.Reloading(); err != nil {
		t.Fatal(err)
	}
	got := next()
	m := regexp.MustCompile(`^RELOADING=1\nMONOTONIC_USEC=(\d+)\n?$`).FindStringSubmatch(got)
	if m == nil {
		t.Fatalf("reload notification = %q, want RELOADING=1 and MONOTONIC_USEC", got)
	}
	if usec, err := strconv.ParseInt(m[1], 10, 64); err != nil || usec <= 0 {
		t.Fatalf("MONOTONIC_USEC = %q, want a positive integer", m[1])
	}
	if err := n.Ready(); err != nil {
		t.Fatal(err)
	}
	if got := next(); got != "READY=1" {
		t.Fatalf("after reload: %q, want READY=1", got)
	}
}

func TestNotifyStatusIsOneLine(t *testing.T) {
	next, _ := notifySocket(t)
	n := NewNotifier(discardLogger())
	if err := n.Status("2 cameras\nmodel ok\r\nlabels yard"); err != nil {
		t.Fatal(err)
	}
	if got := next(); got != "STATUS=2 cameras model ok labels yard" {
		t.Fatalf("status = %q", got)
	}
}

func TestNotifyWithoutSocketIsNoop(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	os.Unsetenv("NOTIFY_SOCKET")
	n := NewNotifier(discardLogger())
	if n.Enabled() {
		t.Error("Enabled() = true without NOTIFY_SOCKET")
	}
	for name, f := range map[string]func() error{
		"Ready": n.Ready, "Reloading": n.Reloading, "Stopping": n.Stopping, "Watchdog": n.Watchdog,
		"Status": func() error { return n.Status("x") },
	} {
		if err := f(); err != nil {
			t.Errorf("%s without NOTIFY_SOCKET: %v", name, err)
		}
	}
}

func TestNotifyMissingSocketNamesMessage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gone.sock")
	t.Setenv("NOTIFY_SOCKET", path)
	err := NewNotifier(discardLogger()).Ready()
	if err == nil {
		t.Fatal("Ready to a missing socket: nil error")
	}
	for _, want := range []string{`sd_notify "READY=1"`, path} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

func TestWatchdogInterval(t *testing.T) {
	pid := strconv.Itoa(os.Getpid())
	for _, tc := range []struct {
		name, usec, pid string
		want            time.Duration
		wantErr         string
	}{
		{name: "off", usec: "", pid: "", want: 0},
		{name: "30 s for us", usec: "30000000", pid: pid, want: 30 * time.Second},
		{name: "no pid given", usec: "20000000", pid: "", want: 20 * time.Second},
		{name: "for another process", usec: "30000000", pid: "1", want: 0},
		{name: "garbage", usec: "thirty", pid: pid, wantErr: "WATCHDOG_USEC"},
		{name: "negative", usec: "-5", pid: pid, wantErr: "WATCHDOG_USEC"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("WATCHDOG_USEC", tc.usec)
			t.Setenv("WATCHDOG_PID", tc.pid)
			got, err := WatchdogInterval()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("WatchdogInterval() error = %v, want one mentioning %s", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("WatchdogInterval() = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

// TestWatchdogPetsOnlyWhileAlive drives the ticks by hand: before the loop
// starts the watchdog is fed; afterwards only in periods where Alive was
// called.
func TestWatchdogPetsOnlyWhileAlive(t *testing.T) {
	next, none := notifySocket(t)
	w := NewWatchdog(NewNotifier(discardLogger()), time.Hour)

	w.tick() // start-up, loop not running yet: fed
	if got := next(); got != "WATCHDOG=1" {
		t.Fatalf("start-up tick sent %q, want WATCHDOG=1", got)
	}
	w.Alive()
	w.Alive()
	w.tick() // alive: fed once
	if got := next(); got != "WATCHDOG=1" {
		t.Fatalf("alive tick sent %q", got)
	}
	w.tick() // no Alive since the last tick: hung loop, not fed
	w.tick()
	none(100 * time.Millisecond)
	w.Alive()
	w.tick() // loop recovered
	if got := next(); got != "WATCHDOG=1" {
		t.Fatalf("recovered tick sent %q", got)
	}
	if w.Pings() != 3 {
		t.Fatalf("Pings() = %d, want 3", w.Pings())
	}
}

// TestWatchdogRun runs the real ticker: pings arrive while a loop calls
// Alive, and stop once it stops.
func TestWatchdogRun(t *testing.T) {
	next, _ := notifySocket(t)
	const interval = 40 * time.Millisecond
	w := NewWatchdog(NewNotifier(discardLogger()), interval)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runDone := make(chan error, 1)
	go func() { runDone <- w.Run(ctx) }()

	loopCtx, stopLoop := context.WithCancel(ctx)
	loopDone := make(chan struct{})
	go func() { // the frame loop
		defer close(loopDone)
		t := time.NewTicker(interval / 8)
		defer t.Stop()
		for {
			select {
			case <-loopCtx.Done():
				return
			case <-t.C:
				w.Alive()
			}
		}
	}()
	for i := 0; i < 3; i++ {
		if got := next(); got != "WATCHDOG=1" {
			t.Fatalf("ping %d = %q", i, got)
		}
	}
	stopLoop()
	<-loopDone
	// The period in which the loop stopped may still be fed once; wait for
	// that tick to consume the flag, then nothing for many periods.
	for w.alive.Load() {
		time.Sleep(interval / 4)
	}
	time.Sleep(2 * interval)
	stopped := w.Pings()
	time.Sleep(10 * interval)
	if after := w.Pings(); after != stopped {
		t.Fatalf("watchdog still fed with the loop hung: %d pings, then %d", stopped, after)
	}
	cancel()
	if err := <-runDone; err != nil {
		t.Fatalf("Run = %v", err)
	}
}

func TestWatchdogOffWaitsForContext(t *testing.T) {
	w := NewWatchdog(NewNotifier(discardLogger()), 0)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := w.Run(ctx); err != nil || w.Pings() != 0 {
		t.Fatalf("Run with interval 0 = %v, %d pings; want nil, 0", err, w.Pings())
	}
}

func FuzzStatusOneLine(f *testing.F) {
	for _, s := range []string{"", "ok", "a\nb", "a\r\nb\rc", "\n\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := statusLine(s)
		if strings.ContainsAny(got, "\r\n") || !strings.HasPrefix(got, "STATUS=") {
			t.Fatalf("statusLine(%q) = %q", s, got)
		}
		if want := len("STATUS=") + len(s); len(got) > want {
			t.Fatalf("statusLine(%q) = %q grew", s, got)
		}
	})
}

// TestWatchdogHealthyWithoutSystemd: with systemd's watchdog off nothing is
// sent, but a hung loop still shows in Healthy, and recovers.
func TestWatchdogHealthyWithoutSystemd(t *testing.T) {
	_, none := notifySocket(t)
	w := NewWatchdog(NewNotifier(discardLogger()), 0)
	if w.Period() != LivenessPeriod {
		t.Fatalf("Period() = %v with the watchdog off, want %v", w.Period(), LivenessPeriod)
	}
	w.tick() // start-up
	if err := w.Healthy(); err != nil {
		t.Fatalf("unhealthy during start-up: %v", err)
	}
	w.Alive()
	w.tick()
	if err := w.Healthy(); err != nil {
		t.Fatalf("unhealthy while alive: %v", err)
	}
	w.tick()
	err := w.Healthy()
	if err == nil || err.Error() != "frame loop made no progress in the last 10s" {
		t.Fatalf("Healthy() after a period without Alive = %v", err)
	}
	w.Alive()
	w.tick()
	if err := w.Healthy(); err != nil {
		t.Fatalf("still unhealthy after the loop recovered: %v", err)
	}
	none(100 * time.Millisecond)
	if w.Pings() != 0 {
		t.Fatalf("Pings() = %d with the watchdog off, want 0", w.Pings())
	}
}
