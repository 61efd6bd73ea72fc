package ops

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// startServer runs a Server on a free loopback port until the test ends and
// returns its base URL.
func startServer(t *testing.T, s *Server) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run after cancel: %v", err)
		}
	})
	return "http://" + s.Addr().String()
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", url, err)
	}
	return resp.StatusCode, string(body)
}

func TestHTTPMetricsExposition(t *testing.T) {
	reg, m, clock := newTestMetrics(t)
	exercise(m, clock)
	s, err := NewServer("127.0.0.1:0", reg, nil, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	base := startServer(t, s)

	code, body := get(t, base+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: status %d", code)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics does not parse as the text exposition format: %v\n%s", err, body)
	}
	assertValue(t, fams, 5, "autoclipd_frames_read_total", "camera", "yard")
	assertValue(t, fams, 2, "autoclipd_frames_dropped_total", "camera", "yard")
	assertValue(t, fams, 42, "autoclipd_mqtt_queue_depth")
	assertValue(t, fams, 2, "autoclipd_mqtt_messages_dropped_total", "class", "classification")
	assertValue(t, fams, 1, "autoclipd_reloads_total", "set", "yard", "result", "error")
	assertValue(t, fams, 2.1, "autoclipd_last_frame_age_seconds", "camera", "yard")
	inf := metric(t, fams, "autoclipd_inference_duration_seconds")
	if fams["autoclipd_inference_duration_seconds"].GetType() != dto.MetricType_HISTOGRAM || inf.GetHistogram().GetSampleCount() != 1 {
		t.Errorf("inference duration: type %v count %d, want a histogram with 1 sample",
			fams["autoclipd_inference_duration_seconds"].GetType(), inf.GetHistogram().GetSampleCount())
	}
	if _, ok := fams["go_goroutines"]; !ok {
		t.Error("go_goroutines missing from /metrics")
	}

	// The gauge is computed per scrape.
	clock.Advance(time.Second)
	_, body = get(t, base+"/metrics")
	fams, err = parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	assertValue(t, fams, 3.1, "autoclipd_last_frame_age_seconds", "camera", "yard")
}

func TestHTTPHealthAndReadiness(t *testing.T) {
	reg, _, _ := newTestMetrics(t)
	var notReady atomic.Pointer[error]
	readiness := func() error {
		if e := notReady.Load(); e != nil {
			return *e
		}
		return nil
	}
	reason := errors.New(`camera "yard": no frame scored yet`)
	notReady.Store(&reason)
	s, err := NewServer("127.0.0.1:0", reg, readiness, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	base := startServer(t, s)

	if code, body := get(t, base+"/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz = %d %q, want 200 \"ok\\n\"", code, body)
	}
	code, body := get(t, base+"/readyz")
	if code != http.StatusServiceUnavailable || body != "not ready: camera \"yard\": no frame scored yet\n" {
		t.Errorf("/readyz while not ready = %d %q, want 503 with the reason", code, body)
	}
	notReady.Store(nil)
	if code, body := get(t, base+"/readyz"); code != http.StatusOK || body != "ready\n" {
		t.Errorf("/readyz when ready = %d %q, want 200 \"ready\\n\"", code, body)
	}
	if code, _ := get(t, base+"/nothing"); code != http.StatusNotFound {
		t.Errorf("/nothing = %d, want 404", code)
	}
}

func TestHTTPAddressInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = Serve(ctx, addr, NewRegistry(), nil, discardLogger())
	if err == nil {
		t.Fatalf("Serve on %s, which is in use: nil error", addr)
	}
	for _, want := range []string{`http.listen "` + addr + `"`, "address already in use"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

func TestHTTPBadAddress(t *testing.T) {
	_, err := NewServer("127.0.0.1:notaport", NewRegistry(), nil, discardLogger())
	if err == nil || !strings.Contains(err.Error(), `http.listen "127.0.0.1:notaport"`) {
		t.Fatalf("bad address: err = %v, want one naming http.listen", err)
	}
}

func TestHTTPDisabled(t *testing.T) {
	for _, listen := range []string{"", "off"} {
		s, err := NewServer(listen, NewRegistry(), nil, discardLogger())
		if err != nil || s != nil {
			t.Errorf("NewServer(%q) = %v, %v; want nil, nil", listen, s, err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- Serve(ctx, listen, NewRegistry(), nil, discardLogger()) }()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve(%q) = %v, want nil", listen, err)
		}
	}
}

func TestHTTPShutdownClosesPort(t *testing.T) {
	s, err := NewServer("127.0.0.1:0", NewRegistry(), nil, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	addr := s.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	if code, _ := get(t, "http://"+addr+"/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz = %d before shutdown", code)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v after cancel, want nil", err)
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatalf("%s still accepts connections after shutdown", addr)
	}
}

func TestHTTPHealthFollowsWatchdog(t *testing.T) {
	reg, _, _ := newTestMetrics(t)
	w := NewWatchdog(NewNotifier(discardLogger()), 0)
	s, err := NewServer("127.0.0.1:0", reg, nil, discardLogger(), WithHealth(w.Healthy))
	if err != nil {
		t.Fatal(err)
	}
	base := startServer(t, s)
	w.Alive()
	w.tick()
	if code, body := get(t, base+"/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz with a live loop = %d %q", code, body)
	}
	w.tick() // a period without Alive: hung
	if code, body := get(t, base+"/healthz"); code != http.StatusServiceUnavailable ||
		body != "unhealthy: frame loop made no progress in the last 10s\n" {
		t.Errorf("/healthz with a hung loop = %d %q, want 503 with the reason", code, body)
	}
	if code, _ := get(t, base+"/readyz"); code != http.StatusOK {
		t.Errorf("/readyz with nil readiness = %d, want 200", code)
	}
}
