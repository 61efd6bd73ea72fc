package daemon

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/autoclipd/autoclipd/config"
	"github.com/autoclipd/autoclipd/internal/mqtttest"
)

// withConfig rewrites cfg's file with edit applied and loads it again.
func withConfig(t *testing.T, cfg *config.Config, edit func(string) string) *config.Config {
	t.Helper()
	data, err := os.ReadFile(cfg.Path)
	must(t, err)
	must(t, os.WriteFile(cfg.Path, []byte(edit(string(data))), 0o644))
	ncfg, err := config.Load(cfg.Path)
	if err != nil {
		t.Fatal(err)
	}
	return ncfg
}

// TestTLSBroker: the daemon publishes to a mosquitto that requires TLS and
// a client certificate; with the wrong CA it logs a clear certificate error,
// keeps retrying and does not crash.
func TestTLSBroker(t *testing.T) {
	s := newSetup(t, "red")
	pki := mqtttest.NewPKI(t)
	mq := mqtttest.StartMosquittoWith(t, mqtttest.MosquittoConfig{TLS: pki.Server(), RequireCertificate: true})
	tlsCfg := func(ca string) func(string) string {
		return func(c string) string {
			c = strings.Replace(c, "url: tcp://"+s.broker, "url: ssl://"+mq.Addr(), 1)
			return c + fmt.Sprintf("  tls:\n    ca: %s\n    cert: %s\n    key: %s\n", ca, pki.ClientCert, pki.ClientKey)
		}
	}
	sub := mqtttest.Subscribe(t, mq.PlainAddr(), "t/dev/cam/classification")
	r := start(t, withConfig(t, s.config("cam=red"), tlsCfg(pki.CA)), Options{})
	if _, err := sub.Next(30 * time.Second); err != nil {
		t.Fatalf("no classification over TLS: %v; log:\n%s", err, r.log.String())
	}
	r.stop(t)

	other := mqtttest.NewPKI(t)
	r = start(t, withConfig(t, s.config("cam=red"), tlsCfg(other.CA)), Options{})
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) && strings.Count(r.log.String(), "certificate") < 2 {
		time.Sleep(200 * time.Millisecond)
	}
	if n := strings.Count(r.log.String(), "certificate"); n < 2 {
		t.Fatalf("wrong CA: want repeated certificate errors in the log (retrying), got %d:\n%s", n, r.log.String())
	}
	r.stop(t) // stops cleanly: no crash, no hang
}

// TestFleet: four daemons with different device ids share one broker; no
// topic collides and each status is right.
func TestFleet(t *testing.T) {
	s := newSetup(t, "red", "green", "blue", "white")
	colours := []string{"red", "green", "blue", "white"}
	sub := mqtttest.Subscribe(t, s.broker, "t/#")
	var rs []*running
	for i, c := range colours {
		dev := fmt.Sprintf("edge-%d", i)
		cfg := withConfig(t, s.config("cam="+c), func(y string) string {
			y = strings.Replace(y, "device: dev", "device: "+dev, 1)
			y = strings.Replace(y, "state_dir: state", "state_dir: state-"+dev, 1)
			return y
		})
		rs = append(rs, start(t, cfg, Options{}))
	}
	deadline := time.Now().Add(60 * time.Second)
	seen := map[string]string{}
	for time.Now().Before(deadline) && len(seen) < 4 {
		m, err := sub.Next(time.Until(deadline))
		if err != nil {
			break
		}
		dev, rest, _ := strings.Cut(strings.TrimPrefix(m.Topic, "t/"), "/")
		if rest == "cam/classification" {
			c := decode(t, m)
			seen[dev] = c.Labels[0].Label
		}
	}
	for i, c := range colours {
		dev := fmt.Sprintf("edge-%d", i)
		if seen[dev] != c {
			t.Errorf("device %s: top label %q, want %q (its own camera)", dev, seen[dev], c)
		}
	}
	// Stop one: its status goes offline, the others stay online.
	rs[1].stop(t)
	late := mqtttest.Subscribe(t, s.broker, "t/+/status")
	status := map[string]string{}
	for len(status) < 4 {
		m, err := late.Next(10 * time.Second)
		if err != nil {
			t.Fatalf("statuses %v: %v", status, err)
		}
		status[strings.Split(m.Topic, "/")[1]] = string(m.Payload)
	}
	want := map[string]string{"edge-0": "online", "edge-1": "offline", "edge-2": "online", "edge-3": "online"}
	for d, w := range want {
		if status[d] != w {
			t.Errorf("status of %s: %q, want %q", d, status[d], w)
		}
	}
}

// TestShutdown: cancelling the daemon (SIGTERM) returns within
// shutdown_timeout plus a margin and leaves "offline" retained, even with
// the broker unreachable and messages queued.
func TestShutdown(t *testing.T) {
	s := newSetup(t, "red")
	mq := mqtttest.StartMosquitto(t)
	proxy := mqtttest.NewProxy(t, mq.Addr())
	cfg := withConfig(t, s.config("cam=red"), func(y string) string {
		y = strings.Replace(y, "url: tcp://"+s.broker, "url: tcp://"+proxy.Addr(), 1)
		return y + "shutdown_timeout: 2s\n"
	})
	sub := mqtttest.Subscribe(t, mq.Addr(), "t/dev/cam/classification")
	r := start(t, cfg, Options{})
	if _, err := sub.Next(30 * time.Second); err != nil {
		t.Fatalf("no classification: %v; log:\n%s", err, r.log.String())
	}
	// Broker reachable: offline is published on the way out.
	begin := time.Now()
	r.stop(t)
	if d := time.Since(begin); d > 2*time.Second+3*time.Second {
		t.Errorf("shutdown took %v with shutdown_timeout 2s", d)
	}
	late := mqtttest.Subscribe(t, mq.Addr(), "t/dev/status")
	if m, err := late.Next(5 * time.Second); err != nil || string(m.Payload) != "offline" || !m.Retained {
		t.Errorf("status after shutdown: %v %v, want retained offline", m, err)
	}
	// Broker unreachable: the flush gives up at shutdown_timeout.
	r = start(t, cfg, Options{})
	if _, err := sub.Next(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	proxy.Down()
	time.Sleep(500 * time.Millisecond)
	begin = time.Now()
	r.stop(t)
	if d := time.Since(begin); d > 2*time.Second+3*time.Second {
		t.Errorf("shutdown with the broker away took %v with shutdown_timeout 2s", d)
	}
}

// TestHTTPMetricsAndReadiness: the daemon serves /metrics with its frame
// counters, /healthz, and /readyz that turns ready once the camera scores.
func TestHTTPMetricsAndReadiness(t *testing.T) {
	s := newSetup(t, "red")
	addr := mqtttest.FreeAddr(t)
	cfg := withConfig(t, s.config("cam=red"), func(y string) string {
		return strings.Replace(y, "  listen: \"off\"", "  listen: "+addr, 1)
	})
	sub := mqtttest.Subscribe(t, s.broker, "t/dev/cam/classification")
	r := start(t, cfg, Options{})
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatalf("GET %s: %v; log:\n%s", path, err, r.log.String())
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	for i := 0; i < 5; i++ {
		if _, err := sub.Next(30 * time.Second); err != nil {
			t.Fatalf("no classification: %v", err)
		}
	}
	if code, body := get("/healthz"); code != 200 {
		t.Errorf("/healthz %d %s", code, body)
	}
	if code, body := get("/readyz"); code != 200 {
		t.Errorf("/readyz %d %s, want ready while the camera scores", code, body)
	}
	code, body := get("/metrics")
	if code != 200 {
		t.Fatalf("/metrics %d", code)
	}
	for _, want := range []string{`autoclipd_frames_scored_total{camera="cam"}`, "autoclipd_inference_duration_seconds_count", "autoclipd_autoclip_duration_seconds_count", `autoclipd_reloads_total{result="ok",set="colours"}`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// Scored frames counted, as many as were published at least.
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, `autoclipd_frames_scored_total{camera="cam"} `); ok {
			if n, _ := strconv.ParseFloat(v, 64); n < 5 {
				t.Errorf("frames scored %v, want >= 5", v)
			}
		}
	}
}
