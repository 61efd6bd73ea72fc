package publish

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/autoclipd/autoclipd/internal/logtest"
	"github.com/autoclipd/autoclipd/internal/mqtttest"
)

func TestStartBrokerAddressInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	mosq, _ := mqtttest.Mosquitto(t)
	for _, tc := range []struct {
		name, addr string
	}{
		{"plain listener", l.Addr().String()},
		{"mosquitto", mosq},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := StartBroker(tc.addr, testLogger(t))
			if err == nil {
				b.Close()
				t.Fatalf("StartBroker(%s) succeeded on an address in use", tc.addr)
			}
			want := "embedded mqtt broker: " + tc.addr + " is already in use (another MQTT broker?): to use what listens there set mqtt.url: tcp://" + tc.addr + ", or listen on another address: address in use"
			if err.Error() != want {
				t.Errorf("error:\n got %q\nwant %q", err, want)
			}
			if !errors.Is(err, ErrAddrInUse) {
				t.Errorf("error %v does not wrap ErrAddrInUse", err)
			}
		})
	}
}

func TestStartBrokerBadAddress(t *testing.T) {
	for _, tc := range []struct {
		name, addr, want string
	}{
		{"no port", "localhost", `embedded mqtt broker: address "localhost": want host:port`},
		{"unknown host", "no-such-host.invalid:1883", "embedded mqtt broker: listen on no-such-host.invalid:1883: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := StartBroker(tc.addr, nil)
			if err == nil {
				b.Close()
				t.Fatalf("StartBroker(%q) succeeded", tc.addr)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error %q, want prefix %q", err, tc.want)
			}
		})
	}
}

func TestBrokerAddrAndQuietLog(t *testing.T) {
	log, buf := testLoggerBuf(t)
	b, err := StartBroker("127.0.0.1:0", log.With("component", "broker"))
	if err != nil {
		t.Fatal(err)
	}
	host, port, err := net.SplitHostPort(b.Addr())
	if err != nil || host != "127.0.0.1" || port == "0" {
		t.Fatalf("Addr %q: want 127.0.0.1 and the actual port", b.Addr())
	}
	if b.URL() != "tcp://"+b.Addr() {
		t.Errorf("URL %q", b.URL())
	}
	p := newPublisher(t, testOptions(b.URL(), "edge-b"))
	waitConnected(t, p, wait)
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if c, err := net.Dial("tcp", b.Addr()); err == nil {
		c.Close()
		t.Errorf("still listening on %s after Close", b.Addr())
	}
	out := buf.String()
	if !strings.Contains(out, "level=INFO msg=\"embedded mqtt broker listening\"") {
		t.Errorf("no listening line at info level:\n%s", out)
	}
	// mochi's own info lines (hooks, listeners, clients) come at debug.
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "component=broker") && strings.Contains(line, "level=INFO") && !strings.Contains(line, "embedded mqtt broker listening") {
			t.Errorf("mochi line at info level: %s", line)
		}
	}
	if !strings.Contains(out, "level=DEBUG") || !strings.Contains(out, "component=broker") {
		t.Errorf("mochi lines missing at debug level:\n%s", out)
	}
}

func TestQuietHandlerLevels(t *testing.T) {
	for _, tc := range []struct {
		name  string
		min   slog.Level
		level slog.Level
		msg   string
		want  string // the line logged, without time; "" for none
	}{
		{"info hidden at info", slog.LevelInfo, slog.LevelInfo, "hello", ""},
		{"info shown at debug", slog.LevelDebug, slog.LevelInfo, "hello", "level=DEBUG msg=hello g.k=v"},
		{"warn kept", slog.LevelWarn, slog.LevelWarn, "hello", "level=WARN msg=hello g.k=v"},
		{"error kept", slog.LevelInfo, slog.LevelError, "hello", "level=ERROR msg=hello g.k=v"},
		{"debug hidden at info", slog.LevelInfo, slog.LevelDebug, "hello", ""},
		{"unnamed warning hidden at info", slog.LevelInfo, slog.LevelWarn, "", ""},
		{"unnamed warning named at debug", slog.LevelDebug, slog.LevelWarn, "", `level=DEBUG msg="mqtt client connection ended" g.k=v`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var lb logtest.Buffer
			h := quietHandler{slog.NewTextHandler(&lb, &slog.HandlerOptions{
				Level: tc.min,
				ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
					if a.Key == slog.TimeKey {
						return slog.Attr{}
					}
					return a
				},
			})}
			slog.New(h).WithGroup("g").With("k", "v").Log(context.Background(), tc.level, tc.msg)
			if got := strings.TrimSpace(lb.String()); got != tc.want {
				t.Errorf("logged %q, want %q", got, tc.want)
			}
		})
	}
}
