package publish

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"syscall"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// DefaultBrokerAddr is where StartBroker listens when given an empty address.
const DefaultBrokerAddr = "127.0.0.1:1883"

// ErrAddrInUse is wrapped by StartBroker's error when its address is taken.
var ErrAddrInUse = errors.New("address in use")

// Broker is the embedded in-process MQTT broker (mochi-mqtt) used when
// mqtt.url is "embedded": one TCP listener, every client allowed, retained
// messages and sessions in memory only. Its log lines go to the logger
// given to StartBroker, with mochi's informational messages lowered to
// debug level.
type Broker struct {
	srv       *mochi.Server
	addr      string
	closeOnce sync.Once
}

// StartBroker starts the embedded broker listening on addr (host:port,
// DefaultBrokerAddr when empty; port 0 picks a free port, see Addr). If the
// address is in use, the error says so and suggests connecting to whatever
// listens there with mqtt.url instead. log may be nil.
func StartBroker(addr string, log *slog.Logger) (*Broker, error) {
	if addr == "" {
		addr = DefaultBrokerAddr
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("embedded mqtt broker: address %q: want host:port", addr)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	srv := mochi.New(&mochi.Options{
		Logger: slog.New(quietHandler{log.Handler()}),
		// $SYS statistics every 30 s instead of every second: nobody here
		// reads them and an edge device has better things to do.
		SysTopicResendInterval: 30,
	})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		_ = srv.Close()
		return nil, fmt.Errorf("embedded mqtt broker: %w", err)
	}
	tcp := listeners.NewTCP(listeners.Config{Type: listeners.TypeTCP, ID: "tcp", Address: addr})
	if err := srv.AddListener(tcp); err != nil {
		_ = srv.Close()
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("embedded mqtt broker: %s is already in use (another MQTT broker?): to use what listens there set mqtt.url: tcp://%s, or listen on another address: %w", addr, addr, ErrAddrInUse)
		}
		return nil, fmt.Errorf("embedded mqtt broker: listen on %s: %w", addr, err)
	}
	if err := srv.Serve(); err != nil {
		_ = srv.Close()
		return nil, fmt.Errorf("embedded mqtt broker on %s: %w", addr, err)
	}
	b := &Broker{srv: srv, addr: tcp.Address()}
	log.Info("embedded mqtt broker listening", "addr", b.addr)
	return b, nil
}

// Addr is the address the broker listens on (host:port), with the actual
// port when StartBroker was given port 0.
func (b *Broker) Addr() string { return b.addr }

// URL is the mqtt.url that connects to the broker: tcp://Addr().
func (b *Broker) URL() string { return "tcp://" + b.addr }

// Close disconnects every client, stops listening and waits for the
// client connections to end. Later calls return nil.
func (b *Broker) Close() error {
	var err error
	b.closeOnce.Do(func() { err = b.srv.Close() })
	return err
}

// quietHandler passes records to h with Info lowered to Debug (mochi logs
// every client connection and disconnection at Info), and mochi's
// message-less warning about each client connection that ended with an
// error (EOF included) named and lowered to Debug too.
type quietHandler struct{ h slog.Handler }

func (q quietHandler) level(l slog.Level) slog.Level {
	if l == slog.LevelInfo {
		return slog.LevelDebug
	}
	return l
}

func (q quietHandler) Enabled(ctx context.Context, l slog.Level) bool {
	// A message-less warning may end at Debug: let Handle decide.
	return q.h.Enabled(ctx, q.level(l)) || (l == slog.LevelWarn && q.h.Enabled(ctx, slog.LevelDebug))
}

func (q quietHandler) Handle(ctx context.Context, r slog.Record) error {
	r.Level = q.level(r.Level)
	if r.Message == "" && r.Level == slog.LevelWarn {
		r.Message = "mqtt client connection ended"
		r.Level = slog.LevelDebug
	}
	if !q.h.Enabled(ctx, r.Level) {
		return nil
	}
	return q.h.Handle(ctx, r)
}

func (q quietHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return quietHandler{q.h.WithAttrs(as)}
}

func (q quietHandler) WithGroup(name string) slog.Handler {
	return quietHandler{q.h.WithGroup(name)}
}
