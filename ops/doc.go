// Package ops is what the people and programs that run autoclipd see of it:
// Prometheus metrics on a private registry, the HTTP server for /metrics,
// /healthz and /readyz, the readiness rule, and the systemd sd_notify
// protocol (READY, RELOADING, STOPPING, STATUS and a watchdog that is fed
// only while the frame loop makes progress).
//
// Nothing here is package-level state: cmd/autoclipd builds a registry with
// NewRegistry, the Metrics with NewMetrics, a Notifier with NewNotifier, and
// passes them down. The package has no cgo.
package ops
