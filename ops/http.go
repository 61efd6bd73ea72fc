package ops

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// DefaultListen is the default http.listen address.
const DefaultListen = "127.0.0.1:9464"

// shutdownGrace bounds how long Run waits for in-flight requests at shutdown.
const shutdownGrace = 2 * time.Second

// Disabled reports whether an http.listen value switches the server off:
// "" or "off".
func Disabled(listen string) bool { return listen == "" || listen == "off" }

// Option configures the HTTP server.
type Option func(*options)

type options struct {
	health func() error
}

// WithHealth makes /healthz answer 503 with the error text while health
// returns an error (Watchdog.Healthy: the frame loop is hung). Without it
// /healthz is 200 whenever the process serves.
func WithHealth(health func() error) Option {
	return func(o *options) { o.health = health }
}

// Handler returns the HTTP handler with /metrics (the exposition of reg),
// /healthz (200 "ok", or 503 with the reason while a WithHealth check
// fails) and /readyz (200 "ready" when readiness returns nil, 503 with the
// error text otherwise). A nil readiness is always ready.
func Handler(reg *prometheus.Registry, readiness func() error, log *slog.Logger, opts ...Option) http.Handler {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(log.Handler(), slog.LevelError),
		ErrorHandling: promhttp.ContinueOnError,
	}))
	mux.HandleFunc("/healthz", check(o.health, "ok", "unhealthy"))
	mux.HandleFunc("/readyz", check(readiness, "ready", "not ready"))
	return mux
}

// check answers 200 with ok, or 503 with "<bad>: <error>" while f fails.
func check(f func() error, ok, bad string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if f != nil {
			if err := f(); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				io.WriteString(w, bad+": "+err.Error()+"\n")
				return
			}
		}
		io.WriteString(w, ok+"\n")
	}
}

// Server is the operations HTTP server, bound at construction so that an
// address in use fails start-up before READY=1.
type Server struct {
	ln  net.Listener
	srv *http.Server
	log *slog.Logger
}

// NewServer binds listen (host:port, the http.listen setting) and prepares
// the server. It returns (nil, nil) when Disabled(listen). A bind failure,
// such as an address in use, is returned naming the setting and address.
func NewServer(listen string, reg *prometheus.Registry, readiness func() error, log *slog.Logger, opts ...Option) (*Server, error) {
	if Disabled(listen) {
		return nil, nil
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("http.listen %q: %w", listen, err)
	}
	return &Server{
		ln: ln,
		srv: &http.Server{
			Handler:           Handler(reg, readiness, log, opts...),
			ReadHeaderTimeout: 5 * time.Second,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		},
		log: log,
	}, nil
}

// Addr returns the address the server listens on (useful with port 0).
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Run serves until ctx is done, then shuts down, giving in-flight requests
// up to 2 s. It returns nil after a shutdown caused by ctx, or the serve
// error. A nil *Server (disabled) waits for ctx and returns nil.
func (s *Server) Run(ctx context.Context) error {
	if s == nil {
		<-ctx.Done()
		return nil
	}
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	s.log.Info("http server listening", "addr", s.ln.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("http server on %s: %w", s.ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	err := s.srv.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return fmt.Errorf("http server on %s: %w", s.ln.Addr(), serr)
	}
	if err != nil {
		return fmt.Errorf("http server on %s: shutdown: %w", s.ln.Addr(), err)
	}
	return nil
}

// Serve binds listen and serves /metrics, /healthz and /readyz until ctx is
// done (see NewServer and Server.Run). With listen "" or "off" it serves
// nothing and returns nil once ctx is done.
func Serve(ctx context.Context, listen string, reg *prometheus.Registry, readiness func() error, log *slog.Logger, opts ...Option) error {
	s, err := NewServer(listen, reg, readiness, log, opts...)
	if err != nil {
		return err
	}
	if s == nil {
		log.Info("http server disabled", "http.listen", listen)
	}
	return s.Run(ctx)
}
