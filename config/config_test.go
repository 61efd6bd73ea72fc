package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadGood(t *testing.T) {
	cfg, err := Load("testdata/good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs("testdata")
	if cfg.Device != "edge-1" {
		t.Errorf("device %q", cfg.Device)
	}
	if cfg.Model.Dir != filepath.Join(abs, "model") {
		t.Errorf("model.dir %q not resolved against the config's folder", cfg.Model.Dir)
	}
	if cfg.Model.ONNXRuntime != "" {
		t.Errorf("model.onnxruntime %q, want empty", cfg.Model.ONNXRuntime)
	}
	if got := cfg.Cameras[0].Source; got != filepath.Join(abs, "colours.avi") {
		t.Errorf("file source %q not resolved", got)
	}
	if got := cfg.Cameras[1].Source; got != "rtsp://10.0.0.2/stream" {
		t.Errorf("URL source changed to %q", got)
	}
	if !cfg.Cameras[0].Loop || cfg.Cameras[0].FPS != 5 || cfg.Cameras[0].Labels != "colours" {
		t.Errorf("camera 0: %+v", cfg.Cameras[0])
	}
	if cfg.Labels.Dir != filepath.Join(abs, "labels") || cfg.Labels.Templates != "default" {
		t.Errorf("labels: %+v", cfg.Labels)
	}
	if cfg.MQTT.URL != "embedded" || cfg.MQTT.Listen != DefaultEmbeddedListen || cfg.MQTT.TopicPrefix != "autoclipd" || cfg.MQTT.Top != 5 {
		t.Errorf("mqtt: %+v", cfg.MQTT)
	}
	o := cfg.AutoCLIP.Options()
	if o.Beta != 0.85 || o.Method != "autoclip" || o.Aggregation != "logsumexp" || o.Scale != 1 || o.LogitScale != 100 {
		t.Errorf("autoclip options: %+v", o)
	}
	if cfg.Line("cameras[1].source") != 12 {
		t.Errorf("line of cameras[1].source = %d, want 12", cfg.Line("cameras[1].source"))
	}
}

func TestDefaultDeviceIsHostname(t *testing.T) {
	cfg, err := Parse([]byte("model: {dir: m}\ncameras: [{name: a, source: a.avi, labels: x}]\nlabels: {dir: l}\n"), "/etc/autoclipd/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	if host != "" && cfg.Device != sanitizeName(host) {
		t.Errorf("device %q, want the hostname %q", cfg.Device, host)
	}
	if cfg.Model.Dir != "/etc/autoclipd/m" {
		t.Errorf("model.dir %q", cfg.Model.Dir)
	}
}

// TestLoadBadConfigs pairs each testdata/invalid-*.yaml with its exact error.
func TestLoadBadConfigs(t *testing.T) {
	tests := []struct {
		name string
		want string
	}{
		{"unknown-key", `testdata/invalid-unknown-key.yaml:4: model.weights: unknown key "weights"`},
		{"unknown-camera-key", `testdata/invalid-unknown-camera-key.yaml:6: cameras[0].colour: unknown key "colour"`},
		{"bad-type", "testdata/invalid-bad-type.yaml:5: cannot unmarshal !!str `fast` into float64"},
		{"negative-fps", `testdata/invalid-negative-fps.yaml:5: cameras[0].fps: must be a number >= 0 (0 = no limit), got -1`},
		{"no-cameras", `testdata/invalid-no-cameras.yaml: cameras: at least one camera is required`},
		{"duplicate-camera", `testdata/invalid-duplicate-camera.yaml:4: cameras[1].name: duplicate camera "a" (also cameras[0])`},
		{"beta", `testdata/invalid-beta.yaml:6: autoclip.beta: must be in (0, 1], got 1.5`},
		{"method", `testdata/invalid-method.yaml:6: autoclip.method: `},
		{"mqtt-url", `testdata/invalid-mqtt-url.yaml:6: mqtt.url: unsupported scheme "http" (want tcp://, mqtt://, ssl://, tls://, mqtts://, ws:// or wss://)`},
		{"topic-prefix", `testdata/invalid-topic-prefix.yaml:6: mqtt.topic_prefix: "home/+/cams" is not a valid topic prefix (no empty segments, '+' or '#')`},
		{"camera-name", `testdata/invalid-camera-name.yaml:3: cameras[0].name: "front door" is not a valid name (letters, digits, '_', '.', '-'; at most 64)`},
		{"no-model", `testdata/invalid-no-model.yaml: model.dir: required`},
		{"no-labels", `testdata/invalid-no-labels.yaml:3: cameras[0].labels: required: the name of a label set in labels.dir`},
		{"duplicate-key", `testdata/invalid-duplicate-key.yaml:2: mapping key "model" already defined at line 1`},
		{"not-mapping", `testdata/invalid-not-mapping.yaml:1: the config must be a mapping of keys to values`},
		{"templates", `testdata/invalid-templates.yaml:4: labels.templates: unknown template set "fancy" (have default, simple)`},
		{"qos", `testdata/invalid-qos.yaml:5: mqtt.qos: must be 0, 1 or 2, got 3`},
		{"syntax", `testdata/invalid-syntax.yaml:1: did not find expected ',' or '}'`},
		{"loop-stream", `testdata/invalid-loop-stream.yaml:6: cameras[0].loop: the source is a stream: only file and folder sources can loop`},
		{"roi", `testdata/invalid-roi.yaml:7: cameras[0].roi: x + w = 1.1 goes past the right edge (must be <= 1)`},
		{"duration", `testdata/invalid-duration.yaml:7: cameras[0].stall_timeout: want a duration with a unit such as 5ms, 10s or 1m, got 10`},
		{"provider", `testdata/invalid-provider.yaml:1: model.providers[0]: unknown execution provider "gpu" (want tensorrt, cuda, cpu)`},
	}
	files, _ := filepath.Glob("testdata/invalid-*.yaml")
	if len(files) != len(tests) {
		t.Errorf("%d invalid-*.yaml files but %d test cases: pair each file with its error", len(files), len(tests))
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load("testdata/invalid-" + tc.name + ".yaml")
			if err == nil {
				t.Fatal("no error")
			}
			got := err.Error()
			if strings.HasSuffix(tc.want, ": ") {
				if !strings.HasPrefix(got, tc.want) {
					t.Errorf("error\n got %s\nwant prefix %s", got, tc.want)
				}
			} else if got != tc.want {
				t.Errorf("error\n got %s\nwant %s", got, tc.want)
			}
			if strings.Contains(got, "\n") {
				t.Errorf("error is not one line: %q", got)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("testdata/nope.yaml")
	if err == nil || !strings.Contains(err.Error(), "testdata/nope.yaml") {
		t.Errorf("error %v does not name the file", err)
	}
}

// FuzzParse: any input gives a config or an error, never a panic, and errors
// name the file.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	files = append(files, "testdata/check/config.yaml")
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data, "fuzz.yaml")
		if err != nil {
			for _, e := range Problems(err) {
				if !strings.HasPrefix(e.Error(), "fuzz.yaml") || strings.Contains(e.Error(), "\n") {
					t.Fatalf("problem does not start with the file name on one line: %q", e)
				}
			}
			return
		}
		if len(cfg.Cameras) == 0 || cfg.Model.Dir == "" || cfg.Labels.Dir == "" || !ValidName(cfg.Device) {
			t.Fatalf("invalid config accepted: %+v", cfg)
		}
		if cfg.Inference.MaxBatch < 1 || len(cfg.Model.Providers) == 0 || cfg.ShutdownTimeout <= 0 || cfg.Events.MinFrames < 1 ||
			cfg.MQTT.Queue < 1 || cfg.MQTT.EventsQoS < 0 || cfg.MQTT.EventsQoS > 2 {
			t.Fatalf("invalid values accepted: %+v", cfg)
		}
		names := map[string]bool{}
		for _, cam := range cfg.Cameras {
			if names[cam.Name] || (cam.Loop && cam.Kind() != SourcePath) || cam.StallTimeout <= 0 || cam.Reconnect.Min <= 0 || cam.Reconnect.Max < cam.Reconnect.Min {
				t.Fatalf("invalid camera accepted: %+v", cam)
			}
			names[cam.Name] = true
			if r := cam.ROI; r != nil && (r.W <= 0 || r.H <= 0 || r.X < 0 || r.Y < 0 || r.X+r.W > 1+1e-9 || r.Y+r.H > 1+1e-9) {
				t.Fatalf("invalid roi accepted: %+v", r)
			}
		}
	})
}
