package publish

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/autoclipd/autoclipd/internal/logtest"
	"github.com/autoclipd/autoclipd/internal/mqtttest"
)

// testBroker is a broker a test can stop and start again on the same
// address: mosquitto or the embedded one.
type testBroker interface {
	Addr() string
	URL() string
	Stop()
	Start()
}

// brokers lists the brokers every integration test runs against.
var brokers = []struct {
	name  string
	start func(t *testing.T) testBroker
}{
	{"mosquitto", func(t *testing.T) testBroker { return mqtttest.StartMosquitto(t) }},
	{"embedded", func(t *testing.T) testBroker { return startEmbedded(t, "127.0.0.1:0") }},
}

// embedded wraps Broker for restarts on the same address.
type embedded struct {
	t    *testing.T
	addr string
	b    *Broker
}

func startEmbedded(t *testing.T, addr string) *embedded {
	t.Helper()
	e := &embedded{t: t, addr: addr}
	e.Start()
	t.Cleanup(e.Stop)
	return e
}

func (e *embedded) Addr() string { return e.addr }
func (e *embedded) URL() string  { return "tcp://" + e.addr }

func (e *embedded) Start() {
	e.t.Helper()
	if e.b != nil {
		return
	}
	b, err := StartBroker(e.addr, testLogger(e.t))
	if err != nil {
		e.t.Fatal(err)
	}
	e.b = b
	e.addr = b.Addr() // the actual port when started on port 0
}

func (e *embedded) Stop() {
	if e.b == nil {
		return
	}
	if err := e.b.Close(); err != nil {
		e.t.Errorf("embedded broker close: %v", err)
	}
	e.b = nil
}

// forEachBroker runs f as a parallel subtest against each broker.
func forEachBroker(t *testing.T, f func(t *testing.T, b testBroker)) {
	t.Helper()
	for _, bc := range brokers {
		t.Run(bc.name, func(t *testing.T) {
			t.Parallel()
			f(t, bc.start(t))
		})
	}
}

// testOptions returns fast-retrying options for device dev on url.
func testOptions(url, dev string) Options {
	return Options{
		URL:                  url,
		TopicPrefix:          "test/autoclipd",
		Device:               dev,
		KeepAlive:            10 * time.Second,
		ConnectTimeout:       2 * time.Second,
		ConnectRetryInterval: 100 * time.Millisecond,
		MaxReconnectInterval: 200 * time.Millisecond,
		WriteTimeout:         2 * time.Second,
	}
}

// newPublisher starts a publisher closed by t.Cleanup.
func newPublisher(t *testing.T, o Options) *Publisher {
	t.Helper()
	p, err := New(context.Background(), o, testLogger(t))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = p.Close(ctx)
	})
	return p
}

// waitConnected waits until p's connection is up and its on-connect
// handler (which publishes "online") has run.
func waitConnected(t *testing.T, p *Publisher, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !p.Connected() || p.Stats().Connects == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("publisher not connected after %s (stats %+v)", timeout, p.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitDrained waits until p's queue is empty.
func waitDrained(t *testing.T, p *Publisher, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for p.Stats().QueueDepth > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("queue not drained after %s (stats %+v)", timeout, p.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// testLogger returns a debug-level logger whose output is shown when t
// fails.
func testLogger(t *testing.T) *slog.Logger {
	log, _ := testLoggerBuf(t)
	return log
}

func testLoggerBuf(t *testing.T) (*slog.Logger, *logtest.Buffer) {
	lb := &logtest.Buffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", strings.TrimSpace(lb.String()))
		}
	})
	return slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug})), lb
}
