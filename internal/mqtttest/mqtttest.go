// Package mqtttest provides MQTT test helpers: a real mosquitto broker
// started on a free loopback port (optionally with TLS and a throw-away
// PKI, see NewPKI), a subscriber that collects messages, and a TCP proxy
// that can cut connections to simulate network failures.
//
// Everything is cleaned up through t.Cleanup. The helpers call t.Fatal only
// from the goroutine that calls them, never from background goroutines.
package mqtttest

import (
	"fmt"
	mathrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/autoclipd/autoclipd/internal/logtest"
)

// mosquittoFallback is where Debian installs mosquitto (outside $PATH for
// non-root users).
const mosquittoFallback = "/usr/sbin/mosquitto"

// startTimeout bounds how long a broker may take to accept connections.
const startTimeout = 10 * time.Second

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago. It
// picks it below the kernel's ephemeral range when it can, so that the
// port cannot be taken meanwhile by the source port of an outgoing
// connection (tests that stop a broker and start it again on the same
// port rely on that).
func FreePort(t testing.TB) int {
	t.Helper()
	low := ephemeralLow()
	for range 100 {
		port := 0
		if low > 11000 {
			port = 10000 + mathrand.IntN(low-10000)
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue // taken: try another
		}
		port = l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		return port
	}
	t.Fatalf("mqtttest: no free port found on 127.0.0.1")
	return 0
}

// ephemeralLow is the first port of the kernel's ephemeral range, 0 if
// unknown.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0
	}
	n, err := strconv.Atoi(f[0])
	if err != nil {
		return 0
	}
	return n
}

// FreeAddr returns "127.0.0.1:PORT" for a port that was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t)))
}

// Mosquitto starts a mosquitto broker on a free 127.0.0.1 port and returns
// its address (host:port) and a function that stops it (also run by
// t.Cleanup). Use StartMosquitto to restart it.
func Mosquitto(t testing.TB) (addr string, stop func()) {
	t.Helper()
	m := StartMosquitto(t)
	return m.Addr(), m.Stop
}

// MosquittoServer is a mosquitto process that can be stopped and started
// again on the same port. Its methods must be called from the test
// goroutine.
type MosquittoServer struct {
	t    testing.TB
	bin  string
	conf string
	addr string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited <-chan error // receives the exit status of cmd
	out    *logtest.Buffer
	tls    bool
	plain  string // plain listener of a TLS broker
}

// StartMosquitto starts mosquitto (from $PATH, else /usr/sbin/mosquitto) on
// a free 127.0.0.1 port with a temporary configuration (anonymous clients
// allowed, no persistence, TCP_NODELAY so that Nagle's algorithm does not
// hold small packets back for up to 40 ms) and waits until it accepts connections. The
// broker is stopped by t.Cleanup; its log is printed if the test failed.
func StartMosquitto(t testing.TB) *MosquittoServer {
	t.Helper()
	return StartMosquittoWith(t, MosquittoConfig{})
}

// MosquittoConfig adds to the configuration StartMosquittoWith writes.
type MosquittoConfig struct {
	// TLS, when set, makes the listener a TLS one with these files
	// (cafile, certfile, keyfile); see NewPKI.
	TLS *TLSFiles
	// RequireCertificate makes mosquitto require a client certificate
	// signed by TLS.CA (require_certificate true).
	RequireCertificate bool
	// Extra is appended to the configuration (global options such as
	// "max_packet_size 1000\n").
	Extra string
	// Users, when set, is written as a password file (user -> password)
	// with mosquitto_passwd: a client that gives a username must give its
	// password; anonymous clients (the test subscribers) are still allowed.
	Users map[string]string
}

// passwordFile writes users into a mosquitto password file in a directory
// mosquitto can read when it drops privileges, and returns its path.
func passwordFile(t testing.TB, users map[string]string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "mqtttest-users-")
	if err != nil {
		t.Fatalf("mqtttest: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatalf("mqtttest: %v", err)
	}
	path := filepath.Join(dir, "passwd")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatalf("mqtttest: %v", err)
	}
	for user, pass := range users {
		out, err := exec.Command("mosquitto_passwd", "-b", path, user, pass).CombinedOutput()
		if err != nil {
			t.Fatalf("mqtttest: mosquitto_passwd: %v: %s", err, out)
		}
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatalf("mqtttest: %v", err)
	}
	return path
}

// TLSFiles are the PEM files of a TLS listener.
type TLSFiles struct {
	CA, Cert, Key string
}

// StartMosquittoWith is StartMosquitto with a TLS listener when c.TLS is
// set. Its URL is then ssl://Addr().
func StartMosquittoWith(t testing.TB, c MosquittoConfig) *MosquittoServer {
	t.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		bin = mosquittoFallback
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("mqtttest: mosquitto not found in $PATH nor at %s: install it (`make test` installs it, or apt-get install mosquitto)", mosquittoFallback)
	}
	port := FreePort(t)
	conf := filepath.Join(t.TempDir(), "mosquitto.conf")
	cfg := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\nset_tcp_nodelay true\nlog_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\nlog_type information\nlog_timestamp_format %%H:%%M:%%S\n", port)
	cfg += c.Extra
	if len(c.Users) > 0 {
		cfg += "password_file " + passwordFile(t, c.Users) + "\n"
	}
	plain := ""
	if c.TLS != nil {
		// TLS options apply to the listener above them; the plain one
		// after them is for test subscribers.
		cfg += fmt.Sprintf("cafile %s\ncertfile %s\nkeyfile %s\nrequire_certificate %t\n", c.TLS.CA, c.TLS.Cert, c.TLS.Key, c.RequireCertificate)
		plain = net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t)))
		cfg += "listener " + plain[len("127.0.0.1:"):] + " 127.0.0.1\n"
	}
	if err := os.WriteFile(conf, []byte(cfg), 0o600); err != nil {
		t.Fatalf("mqtttest: write %s: %v", conf, err)
	}
	m := &MosquittoServer{
		t:     t,
		bin:   bin,
		conf:  conf,
		addr:  net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		out:   &logtest.Buffer{Max: 1 << 20}, // a chatty broker cannot eat memory
		tls:   c.TLS != nil,
		plain: plain,
	}
	t.Cleanup(func() {
		m.Stop()
		if t.Failed() {
			t.Logf("mosquitto on %s log:\n%s", m.addr, m.out.String())
		}
	})
	m.Start()
	return m
}

// Addr is the broker's address, host:port.
func (m *MosquittoServer) Addr() string { return m.addr }

// URL is tcp://Addr(), or ssl://Addr() for a TLS listener.
func (m *MosquittoServer) URL() string {
	if m.tls {
		return "ssl://" + m.addr
	}
	return "tcp://" + m.addr
}

// PlainAddr is the address of a plain MQTT listener: Addr() for a broker
// without TLS, a second listener (for test subscribers) for one with TLS.
func (m *MosquittoServer) PlainAddr() string {
	if m.plain != "" {
		return m.plain
	}
	return m.addr
}

// Log returns what the broker logged so far.
func (m *MosquittoServer) Log() string { return m.out.String() }

// Start starts the broker again after Stop or Kill, on the same port, and
// waits until it accepts connections. It does nothing if it is running.
func (m *MosquittoServer) Start() {
	m.t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd != nil {
		return
	}
	cmd := exec.Command(m.bin, "-c", m.conf)
	cmd.Stdout = m.out
	cmd.Stderr = m.out
	if err := cmd.Start(); err != nil {
		m.t.Fatalf("mqtttest: start %s: %v", m.bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	if err := waitListening(m.addr, exited); err != nil {
		_ = cmd.Process.Kill()
		m.t.Fatalf("mqtttest: mosquitto on %s: %v; log:\n%s", m.addr, err, m.out.String())
	}
	m.cmd = cmd
	m.exited = exited
}

// Stop stops the broker with SIGTERM (SIGKILL after 5 s) and waits for it
// to exit. Clients see their connections closed. Retained messages are
// lost (no persistence). It does nothing if the broker is not running.
func (m *MosquittoServer) Stop() { m.stop(syscall.SIGTERM) }

// Kill stops the broker with SIGKILL and waits for it to exit.
func (m *MosquittoServer) Kill() { m.stop(syscall.SIGKILL) }

// Restart is Stop then Start, on the same port.
func (m *MosquittoServer) Restart() {
	m.t.Helper()
	m.Stop()
	m.Start()
}

func (m *MosquittoServer) stop(sig syscall.Signal) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil {
		return
	}
	_ = m.cmd.Process.Signal(sig)
	select {
	case <-m.exited:
	case <-time.After(5 * time.Second):
		_ = m.cmd.Process.Kill()
		<-m.exited
	}
	m.cmd = nil
}

// waitListening dials addr until it accepts a connection, the process
// exits, or startTimeout passes.
func waitListening(addr string, exited <-chan error) error {
	deadline := time.Now().Add(startTimeout)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			_ = c.Close()
			return nil
		}
		select {
		case werr := <-exited:
			return fmt.Errorf("exited before accepting connections: %v", werr)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not accepting connections after %s: %v", startTimeout, err)
		}
	}
}
