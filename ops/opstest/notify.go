// Package opstest helps tests of programs that speak sd_notify: it plays
// systemd's side of the notification socket.
package opstest

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// NotifySocket is a unixgram socket standing in for systemd's notification
// socket. ListenNotify points NOTIFY_SOCKET at it for the rest of the test.
type NotifySocket struct {
	Path string
	conn *net.UnixConn
	buf  []byte
}

// ListenNotify creates the socket in t.TempDir, sets NOTIFY_SOCKET to it
// with t.Setenv (so the test cannot be parallel) and closes it at cleanup.
func ListenNotify(t testing.TB) *NotifySocket {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatalf("opstest: listening on %s: %v", path, err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	return &NotifySocket{Path: path, conn: conn, buf: make([]byte, 64<<10)}
}

// Next returns the next notification datagram, or an error if none arrives
// within timeout.
func (s *NotifySocket) Next(timeout time.Duration) (string, error) {
	if err := s.conn.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return "", err
	}
	n, err := s.conn.Read(s.buf)
	if err != nil {
		return "", fmt.Errorf("no notification on %s within %s: %w", s.Path, timeout, err)
	}
	return string(s.buf[:n]), nil
}

// ExpectInOrder reads notifications until each of want has been seen as a
// line of some datagram, in the given order; other notifications in between
// (STATUS=, repeated WATCHDOG=1) are skipped. It fails the test if the whole
// sequence is not seen within timeout, listing what arrived.
func (s *NotifySocket) ExpectInOrder(t testing.TB, timeout time.Duration, want ...string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var seen []string
	i := 0
	for i < len(want) {
		left := time.Until(deadline)
		if left <= 0 {
			break
		}
		msg, err := s.Next(left)
		if err != nil {
			break
		}
		seen = append(seen, strings.ReplaceAll(msg, "\n", `\n`))
		for _, line := range strings.Split(msg, "\n") {
			if i < len(want) && line == want[i] {
				i++
			}
		}
	}
	if i < len(want) {
		t.Fatalf("sd_notify: want %q in order, got %q within %s (missing %q)", want, seen, timeout, want[i])
	}
}
