package ops

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// Notifier speaks systemd's sd_notify protocol to the socket in
// $NOTIFY_SOCKET. Without NOTIFY_SOCKET (not started by systemd, or not
// Type=notify) every method is a no-op that returns nil. Safe for
// concurrent use.
type Notifier struct {
	log *slog.Logger
}

// NewNotifier returns a Notifier; log receives one debug line per message.
func NewNotifier(log *slog.Logger) *Notifier { return &Notifier{log: log} }

// Enabled reports whether a notification socket is configured.
func (n *Notifier) Enabled() bool {
	return os.Getenv("NOTIFY_SOCKET") != ""
}

func (n *Notifier) send(state string) error {
	sent, err := daemon.SdNotify(false, state)
	if err != nil {
		return fmt.Errorf("sd_notify %q: %w", firstLine(state), err)
	}
	if sent {
		n.log.Debug("sd_notify", "state", strings.ReplaceAll(state, "\n", " "))
	}
	return nil
}

// Ready sends READY=1: start-up (cameras, model, labels live) or a reload is
// complete.
func (n *Notifier) Ready() error { return n.send(daemon.SdNotifyReady) }

// Reloading sends RELOADING=1 with MONOTONIC_USEC, as systemd 253 and later
// require for reload notifications; follow it with Ready when the reload is
// done (or failed and the old configuration stays).
func (n *Notifier) Reloading() error {
	return n.send(daemon.SdNotifyReloading + "\n" + daemon.SdNotifyMonotonicUsec())
}

// Stopping sends STOPPING=1: shutdown has begun.
func (n *Notifier) Stopping() error { return n.send(daemon.SdNotifyStopping) }

// Status sends STATUS=s, the one-line status systemctl status shows.
// Newlines in s are replaced by spaces.
func (n *Notifier) Status(s string) error { return n.send(statusLine(s)) }

// statusLine is the STATUS= message for s, on one line.
func statusLine(s string) string {
	return "STATUS=" + strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s)
}

// Watchdog sends WATCHDOG=1. The frame loop should not call it directly but
// go through a Watchdog, which sends it only while the loop is alive.
func (n *Notifier) Watchdog() error { return n.send(daemon.SdNotifyWatchdog) }

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// WatchdogInterval returns the watchdog timeout systemd set for this process
// (WatchdogSec=, passed as WATCHDOG_USEC and WATCHDOG_PID), or 0 when the
// watchdog is off or meant for another process. A malformed WATCHDOG_USEC
// is an error.
func WatchdogInterval() (time.Duration, error) {
	d, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		return 0, fmt.Errorf("systemd watchdog: %w", err)
	}
	return d, nil
}

// LivenessPeriod is the Watchdog's check period when systemd's watchdog is
// off (interval 0): Healthy still reports a hung frame loop.
const LivenessPeriod = 10 * time.Second

// Watchdog feeds systemd's watchdog only while the frame loop is alive: the
// loop calls Alive on every iteration (including idle ones, e.g. while all
// cameras are disabled or reconnecting, so that only a hung loop stops the
// pings), and Run sends WATCHDOG=1 every interval/2 if and only if Alive was
// called since the previous tick. A loop that stops calling Alive gets the
// service restarted by systemd after WatchdogSec.
//
// Until the first Alive call (model loading, camera start-up), Run pings
// unconditionally: start-up is bounded by TimeoutStartSec, not the watchdog.
// Start Run early, before the model loads.
//
// The same ticks drive Healthy, for /healthz: unhealthy after a whole period
// without Alive, healthy again at the next period with one.
type Watchdog struct {
	n        *Notifier
	interval time.Duration
	alive    atomic.Bool
	started  atomic.Bool
	stalled  atomic.Bool
	pings    atomic.Int64
}

// NewWatchdog returns a Watchdog for the given WatchdogInterval. With
// interval 0 (systemd's watchdog off) Run sends nothing but still checks the
// loop every LivenessPeriod for Healthy.
func NewWatchdog(n *Notifier, interval time.Duration) *Watchdog {
	return &Watchdog{n: n, interval: interval}
}

// Alive records that the frame loop made progress. It is cheap (an atomic
// load, and a store only when the flag was cleared) and never blocks.
func (w *Watchdog) Alive() {
	if !w.alive.Load() {
		w.alive.Store(true)
	}
}

// Pings returns how many times Run fed the watchdog (sent WATCHDOG=1, or
// would have without NOTIFY_SOCKET).
func (w *Watchdog) Pings() int64 { return w.pings.Load() }

// Period returns the time between two checks: interval/2, or LivenessPeriod
// when systemd's watchdog is off.
func (w *Watchdog) Period() time.Duration {
	if w.interval <= 0 {
		return LivenessPeriod
	}
	return w.interval / 2
}

// Healthy returns nil unless the frame loop, once started, let a whole
// period pass without calling Alive; use it as the /healthz check
// (WithHealth).
func (w *Watchdog) Healthy() error {
	if w.stalled.Load() {
		return fmt.Errorf("frame loop made no progress in the last %s", w.Period())
	}
	return nil
}

// Run checks the loop every Period until ctx is done and returns nil,
// sending WATCHDOG=1 when systemd's watchdog is on. A failed send is
// logged, not returned: the next tick tries again and systemd decides.
func (w *Watchdog) Run(ctx context.Context) error {
	t := time.NewTicker(w.Period())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			w.tick()
		}
	}
}

// tick is one period: ping if the loop was alive since the last tick (or
// has not started yet), otherwise mark it stalled.
func (w *Watchdog) tick() {
	if w.alive.Swap(false) {
		w.started.Store(true)
		if w.stalled.Swap(false) {
			w.n.log.Info("frame loop is making progress again")
		}
	} else if w.started.Load() {
		if !w.stalled.Swap(true) {
			w.n.log.Warn("frame loop made no progress in the last period; not feeding the systemd watchdog",
				"period", w.Period())
		}
		return
	}
	if w.interval <= 0 {
		return
	}
	if err := w.n.Watchdog(); err != nil {
		w.n.log.Warn("systemd watchdog", "err", err)
		return
	}
	w.pings.Add(1)
}
