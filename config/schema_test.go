package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// base is a minimal valid config; cases append lines after line 6 (camera
// keys indented by four spaces, top-level keys by none).
const base = `model: {dir: m}
labels: {dir: l}
cameras:
  - name: a
    source: a.avi
    labels: x
`

func TestSchemaDefaults(t *testing.T) {
	t.Setenv("STATE_DIRECTORY", "/var/lib/autoclipd:/other")
	t.Setenv("CACHE_DIRECTORY", "")
	t.Setenv("XDG_CACHE_HOME", "/xdg/cache")
	cfg, err := Parse([]byte(base), "/etc/autoclipd/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cam := cfg.Cameras[0]
	checks := []struct {
		name      string
		got, want any
	}{
		{"state_dir", cfg.StateDir, "/var/lib/autoclipd"},
		{"cache_dir", cfg.CacheDir, "/xdg/cache/autoclipd"},
		{"shutdown_timeout", cfg.ShutdownTimeout, 5 * time.Second},
		{"model.providers", cfg.Model.Providers, []string{"tensorrt", "cuda", "cpu"}},
		{"model.graph_optimization", cfg.Model.GraphOptimization, "all"},
		{"model.cache_dir", cfg.Model.CacheDir, "/xdg/cache/autoclipd/onnxruntime"},
		{"inference.batch_window", cfg.Inference.BatchWindow, 5 * time.Millisecond},
		{"inference.max_batch", cfg.Inference.MaxBatch, 4},
		{"cameras[0].enabled", cam.Enabled, true},
		{"cameras[0].roi", cam.ROI, (*ROI)(nil)},
		{"cameras[0].stall_timeout", cam.StallTimeout, 10 * time.Second},
		{"cameras[0].reconnect", cam.Reconnect, Backoff{Min: time.Second, Max: 30 * time.Second}},
		{"mqtt.classifications", cfg.MQTT.Classifications, "all"},
		{"mqtt.queue", cfg.MQTT.Queue, 10000},
		{"mqtt.qos", cfg.MQTT.QoS, 0},
		{"mqtt.events_qos", cfg.MQTT.EventsQoS, 1},
		{"mqtt.tls", cfg.MQTT.TLS.Enabled(), false},
		{"events.min_frames", cfg.Events.MinFrames, 3},
		{"homeassistant", cfg.HomeAssistant, HomeAssistant{Prefix: "homeassistant"}},
		{"http.listen", cfg.HTTP.Listen, "127.0.0.1:9464"},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.name, c.got, c.want)
		}
	}
}

func TestSchemaDefaultDirsFromHome(t *testing.T) {
	t.Setenv("STATE_DIRECTORY", "")
	t.Setenv("CACHE_DIRECTORY", "")
	t.Setenv("XDG_STATE_HOME", "")
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", "/home/u")
	cfg, err := Parse([]byte(base), "/etc/autoclipd/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.StateDir != "/home/u/.local/state/autoclipd" || cfg.CacheDir != "/home/u/.cache/autoclipd" {
		t.Errorf("state %s cache %s", cfg.StateDir, cfg.CacheDir)
	}
	cfg, err = Parse([]byte(base+"state_dir: st\ncache_dir: /c\n"), "/etc/autoclipd/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.StateDir != "/etc/autoclipd/st" || cfg.CacheDir != "/c" || cfg.Model.CacheDir != "/c/onnxruntime" {
		t.Errorf("state %s cache %s model cache %s", cfg.StateDir, cfg.CacheDir, cfg.Model.CacheDir)
	}
}

func TestSchemaValues(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"ca.pem", "cert.pem", "key.pem", "pw"} {
		writeFile(t, filepath.Join(dir, f), "x")
	}
	in := base + `    enabled: false
    roi: {x: 0.25, y: 0, w: 0.75, h: 0.5}
    rotate: 270
    width: 1280
    height: 720
    fourcc: MJPG
    stall_timeout: 3s
    reconnect: {min: 500ms, max: 1m}
    snapshot: true
    decode_scale: 4
  - name: cam
    source: /dev/video0
    labels: x
shutdown_timeout: 2s
inference: {batch_window: 0s, max_batch: 1}
model:
  dir: m
  variant: fp16
  providers: [cpu]
  device_id: 1
  threads: 2
  graph_optimization: basic
  spinning: true
  cache_dir: trt
mqtt:
  url: mqtts://broker:8883
  classifications: changes
  max_rate: 2.5
  queue: 5
  queue_dir: q
  qos: 2
  events_qos: 0
  password_file: pw
  tls: {ca: ca.pem, cert: cert.pem, key: key.pem, insecure_skip_verify: true}
events: {min_frames: 1}
homeassistant: {enabled: true, prefix: ha/disc}
http: {listen: off}
`
	in = strings.Replace(in, "model: {dir: m}\n", "", 1)
	cfg, err := Parse([]byte(in), filepath.Join(dir, "c.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cam := cfg.Cameras[0]
	want := Camera{Name: "a", Source: filepath.Join(dir, "a.avi"), Labels: "x", ROI: &ROI{0.25, 0, 0.75, 0.5}, Rotate: 270, Width: 1280, Height: 720,
		FourCC: "MJPG", StallTimeout: 3 * time.Second, Reconnect: Backoff{500 * time.Millisecond, time.Minute}, Snapshot: true, DecodeScale: "4"}
	if !reflect.DeepEqual(cam, want) {
		t.Errorf("camera\n got %+v\nwant %+v", cam, want)
	}
	if !cfg.Cameras[1].Enabled || cfg.Cameras[1].Kind() != SourceDevice || cam.Kind() != SourcePath {
		t.Errorf("camera 1 %+v", cfg.Cameras[1])
	}
	wantModel := Model{Dir: filepath.Join(dir, "m"), Variant: "fp16", Providers: []string{"cpu"}, DeviceID: 1, Threads: 2, GraphOptimization: "basic", Spinning: true, CacheDir: filepath.Join(dir, "trt")}
	if !reflect.DeepEqual(cfg.Model, wantModel) {
		t.Errorf("model\n got %+v\nwant %+v", cfg.Model, wantModel)
	}
	m := cfg.MQTT
	if m.Classifications != "changes" || m.MaxRate != 2.5 || m.Queue != 5 || m.QueueDir != filepath.Join(dir, "q") || m.QoS != 2 || m.EventsQoS != 0 ||
		m.PasswordFile != filepath.Join(dir, "pw") || m.TLS != (TLS{filepath.Join(dir, "ca.pem"), filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), true}) {
		t.Errorf("mqtt %+v", m)
	}
	if cfg.ShutdownTimeout != 2*time.Second || cfg.Inference != (Inference{0, 1}) || cfg.Events.MinFrames != 1 ||
		cfg.HomeAssistant != (HomeAssistant{true, "ha/disc"}) || cfg.HTTP.Listen != "" {
		t.Errorf("cfg %+v", cfg)
	}
	for _, off := range []string{`""`, "off"} {
		cfg, err := Parse([]byte(base+"http: {listen: "+off+"}\n"), "c.yaml")
		if err != nil || cfg.HTTP.Listen != "" {
			t.Errorf("http.listen %s: %v %q", off, err, cfg.HTTP.Listen)
		}
	}
}

// TestSchemaInvalid: each invalid value gives its exact error. $DIR is the
// config's folder.
func TestSchemaInvalid(t *testing.T) {
	tests := []struct {
		name, add, want string
	}{
		{"enabled type", "    enabled: maybe\n", "7: cannot unmarshal !!str `maybe` into bool"},
		{"roi x", "    roi: {x: -0.1, y: 0, w: 0.5, h: 0.5}\n", "7: cameras[0].roi.x: must be a fraction of the frame in [0, 1], got -0.1"},
		{"roi w > 1", "    roi: {x: 0, y: 0, w: 1.5, h: 0.5}\n", "7: cameras[0].roi.w: must be a fraction of the frame in [0, 1], got 1.5"},
		{"roi zero w", "    roi: {x: 0, y: 0, w: 0, h: 0.5}\n", "7: cameras[0].roi.w: must be > 0"},
		{"roi past right", "    roi: {x: 0.5, y: 0, w: 0.75, h: 0.5}\n", "7: cameras[0].roi: x + w = 1.25 goes past the right edge (must be <= 1)"},
		{"roi past bottom", "    roi:\n      x: 0\n      y: 0.5\n      w: 1\n      h: 0.6\n", "7: cameras[0].roi: y + h = 1.1 goes past the bottom edge (must be <= 1)"},
		{"roi unknown key", "    roi: {x: 0, y: 0, width: 1, h: 1}\n", "7: cameras[0].roi.width: unknown key \"width\"\n$PATH:7: cameras[0].roi.w: must be > 0"},
		{"rotate", "    rotate: 45\n", "7: cameras[0].rotate: want 0, 90, 180 or 270 (degrees clockwise), got 45"},
		{"decode_scale", "    decode_scale: 3\n", `7: cameras[0].decode_scale: want auto, 1, 2, 4 or 8, got "3"`},
		{"decode_scale word", "    decode_scale: half\n", `7: cameras[0].decode_scale: want auto, 1, 2, 4 or 8, got "half"`},
		{"width", "    width: -1\n", "7: cameras[0].width: must be in [0, 16384] (0 = the device's default), got -1"},
		{"height", "    height: 100000\n", "7: cameras[0].height: must be in [0, 16384] (0 = the device's default), got 100000"},
		{"fourcc", "    fourcc: MJPEG\n", `7: cameras[0].fourcc: want 4 printable ASCII characters such as MJPG or YUYV, got "MJPEG"`},
		{"stall_timeout unit", "    stall_timeout: 10\n", "7: cameras[0].stall_timeout: want a duration with a unit such as 5ms, 10s or 1m, got 10"},
		{"stall_timeout bad", "    stall_timeout: soon\n", "7: cannot unmarshal !!str `soon` into time.Duration"},
		{"stall_timeout negative", "    stall_timeout: -1s\n", "7: cameras[0].stall_timeout: must be > 0, got -1s"},
		{"reconnect min zero", "    reconnect: {min: 0s}\n", "7: cameras[0].reconnect.min: must be > 0, got 0s"},
		{"reconnect max < min", "    reconnect:\n      min: 10s\n      max: 5s\n", "9: cameras[0].reconnect.max: 5s is less than reconnect.min 10s"},
		{"loop stream", "    loop: true\n  - name: b\n    source: rtsp://cam/stream\n    labels: x\n    loop: true\n", "11: cameras[1].loop: the source is a stream: only file and folder sources can loop"},
		{"loop device", "  - name: b\n    source: /dev/video2\n    labels: x\n    loop: true\n", "10: cameras[1].loop: the source is a device: only file and folder sources can loop"},
		{"loop device index", "  - name: b\n    source: \"0\"\n    labels: x\n    loop: true\n", "10: cameras[1].loop: the source is a device: only file and folder sources can loop"},
		{"camera names unique", "  - name: a\n    source: b.avi\n    labels: x\n", `7: cameras[1].name: duplicate camera "a" (also cameras[0])`},
		{"batch_window", "inference: {batch_window: -5ms}\n", "7: inference.batch_window: must be >= 0, got -5ms"},
		{"max_batch", "inference: {max_batch: 0}\n", "7: inference.max_batch: must be in [1, 256], got 0"},
		{"providers unknown", "model:\n  dir: m\n  providers: [cpu, rocm]\n", `9: model.providers[1]: unknown execution provider "rocm" (want tensorrt, cuda, cpu)`},
		{"providers twice", "model:\n  dir: m\n  providers: [cpu, cpu]\n", `9: model.providers[1]: provider "cpu" listed twice`},
		{"providers empty", "model:\n  dir: m\n  providers: []\n", "9: model.providers: empty: list at least one of tensorrt, cuda, cpu"},
		{"device_id", "model:\n  dir: m\n  device_id: -1\n", "9: model.device_id: must be >= 0, got -1"},
		{"threads", "model:\n  dir: m\n  threads: -2\n", "9: model.threads: must be >= 0, got -2"},
		{"graph_optimization", "model:\n  dir: m\n  graph_optimization: max\n", `9: model.graph_optimization: want disable, basic, extended or all, got "max"`},
		{"variant", "model:\n  dir: m\n  variant: ../x\n", `9: model.variant: "../x" is not a valid variant name (letters, digits, '_', '.', '-'; at most 64)`},
		{"shutdown_timeout", "shutdown_timeout: 0s\n", "7: shutdown_timeout: must be > 0, got 0s"},
		{"classifications", "mqtt: {classifications: some}\n", `7: mqtt.classifications: want all, changes or off, got "some"`},
		{"max_rate", "mqtt: {max_rate: -1}\n", "7: mqtt.max_rate: must be messages per second >= 0 (0 = no limit), got -1"},
		{"queue", "mqtt: {queue: 0}\n", "7: mqtt.queue: must be >= 1, got 0"},
		{"qos", "mqtt: {qos: -1}\n", "7: mqtt.qos: must be 0, 1 or 2, got -1"},
		{"events_qos", "mqtt: {events_qos: 3}\n", "7: mqtt.events_qos: must be 0, 1 or 2, got 3"},
		{"password_file missing", "mqtt: {password_file: nope}\n", "7: mqtt.password_file: stat: no such file or directory: $DIR/nope"},
		{"password_file folder", "mqtt: {password_file: .}\n", "7: mqtt.password_file: $DIR is a folder, not a file"},
		{"tls cert without key", "mqtt:\n  url: ssl://b:8883\n  tls: {cert: f}\n", "9: mqtt.tls.cert: set without mqtt.tls.key: give both or neither"},
		{"tls key without cert", "mqtt:\n  url: ssl://b:8883\n  tls: {key: f}\n", "9: mqtt.tls.key: set without mqtt.tls.cert: give both or neither"},
		{"tls ca missing", "mqtt:\n  url: ssl://b:8883\n  tls: {ca: ca.pem}\n", "9: mqtt.tls.ca: stat: no such file or directory: $DIR/ca.pem"},
		{"tls on tcp", "mqtt:\n  url: tcp://b:1883\n  tls: {insecure_skip_verify: true}\n", `9: mqtt.tls: set but mqtt.url "tcp://b:1883" does not use TLS (use ssl://, mqtts:// or wss://)`},
		{"tls unknown key", "mqtt:\n  tls: {ca_file: x}\n", `8: mqtt.tls.ca_file: unknown key "ca_file"`},
		{"password in url", "mqtt: {url: \"tcp://u:hunter2@b:1883\"}\n", "7: mqtt.url: must not hold a user or password: use mqtt.username and mqtt.password_file"},
		{"min_frames", "events: {min_frames: 0}\n", "7: events.min_frames: must be >= 1, got 0"},
		{"homeassistant prefix", "homeassistant: {enabled: true, prefix: \"ha/#\"}\n", `7: homeassistant.prefix: "ha/#" is not a valid topic prefix (no empty segments, '+' or '#')`},
		{"http listen", "http: {listen: \"9464\"}\n", `7: http.listen: "9464" is not host:port (or "off")`},
		{"http port", "http: {listen: \":99999\"}\n", `7: http.listen: ":99999" has an invalid port (or "off")`},
		{"mqtt listen", "mqtt: {listen: localhost}\n", `7: mqtt.listen: "localhost" is not host:port`},
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "f"), "x")
	path := filepath.Join(dir, "c.yaml")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := base + tc.add
			if strings.HasPrefix(tc.add, "model:") {
				in = strings.Replace(in, "model: {dir: m}\n", "#\n", 1)
			}
			_, err := Parse([]byte(in), path)
			want := path + ":" + strings.ReplaceAll(strings.ReplaceAll(tc.want, "$PATH", path), "$DIR", dir)
			if err == nil || err.Error() != want {
				t.Errorf("error\n got %v\nwant %s", err, want)
			}
			var ce *Error
			if err != nil && !errors.As(err, &ce) {
				t.Errorf("%T is not a *config.Error", err)
			}
			if err != nil && strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the password is in the message: %v", err)
			}
		})
	}
}

// TestParseReportsEveryProblem: one error per problem, in file order for a
// file with several.
func TestParseReportsEveryProblem(t *testing.T) {
	in := `model: {dir: m, speed: 3}
labels: {dir: l}
cameras:
  - name: a
    source: rtsp://x/y
    labels: x
    loop: true
    rotate: 10
  - name: a
    source: b.avi
    labels: x
mqtt: {qos: 7, password: hunter2}
`
	_, err := Parse([]byte(in), "c.yaml")
	got := Problems(err)
	want := []string{
		`c.yaml:1: model.speed: unknown key "speed"`,
		`c.yaml:12: mqtt.password: unknown key "password"`,
		`c.yaml:7: cameras[0].loop: the source is a stream: only file and folder sources can loop`,
		`c.yaml:8: cameras[0].rotate: want 0, 90, 180 or 270 (degrees clockwise), got 10`,
		`c.yaml:9: cameras[1].name: duplicate camera "a" (also cameras[0])`,
		`c.yaml:12: mqtt.qos: must be 0, 1 or 2, got 7`,
	}
	var msgs []string
	for _, e := range got {
		msgs = append(msgs, e.Error())
	}
	if strings.Join(msgs, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems\n got %s\nwant %s", strings.Join(msgs, "\n"), strings.Join(want, "\n"))
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Error("password value in the message")
	}
	var list Errors
	if !errors.As(err, &list) || len(list) != len(want) {
		t.Errorf("%T is not Errors of %d", err, len(want))
	}
}

func TestCheck(t *testing.T) {
	abs, _ := filepath.Abs("testdata/check")
	got := Check("testdata/check/config.yaml")
	var msgs []string
	for _, e := range got {
		msgs = append(msgs, strings.ReplaceAll(e.Error(), abs, "$DIR"))
	}
	want := []string{
		"testdata/check/config.yaml:17: model.onnxruntime: stat: no such file or directory: $DIR/lib/libonnxruntime.so",
		"testdata/check/config.yaml:3: cameras[0].source: stat: no such file or directory: $DIR/clip.avi",
		`$DIR/labels/both.txt: label set "both" is also defined by $DIR/labels/both.yaml: keep one of the two files`,
		`$DIR/labels/door.txt:2: duplicate class "Dog" (first on line 1)`,
		`$DIR/labels/street.yaml:2: templates[0]: template "a photo." must contain {} exactly once, where the class name goes`,
		`$DIR/labels/yard.yaml:3: classes[1].name: duplicate class "Person" (first on line 2 as classes[0])`,
	}
	if strings.Join(msgs, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems\n got %s\nwant %s", strings.Join(msgs, "\n"), strings.Join(want, "\n"))
	}
	for _, m := range msgs {
		if strings.Contains(m, "hunter2") {
			t.Errorf("password in %s", m)
		}
	}
	// A config that does not load: its problems, and no label checks.
	if got := Check("testdata/invalid-qos.yaml"); len(got) != 1 || got[0].Error() != "testdata/invalid-qos.yaml:5: mqtt.qos: must be 0, 1 or 2, got 3" {
		t.Errorf("invalid config: %v", got)
	}
	if got := Check("testdata/nope.yaml"); len(got) != 1 || got[0].Error() != "testdata/nope.yaml: open: no such file or directory" {
		t.Errorf("missing config: %v", got)
	}
}

func TestCheckMissingLabelSetAndFolder(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"m", "l"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(dir, "a.avi"), "x")
	path := filepath.Join(dir, "c.yaml")
	writeFile(t, path, base)
	got := Check(path)
	want := path + `:6: cameras[0].labels: label set "x" not found: no ` + filepath.Join(dir, "l", "x.txt") + " or x.yaml"
	if len(got) != 1 || got[0].Error() != want {
		t.Errorf("problems %v\nwant %s", got, want)
	}
	writeFile(t, path, strings.Replace(base, "{dir: l}", "{dir: nolabels}", 1))
	got = Check(path)
	want = path + ":2: labels.dir: open: no such file or directory: " + filepath.Join(dir, "nolabels")
	if len(got) != 1 || got[0].Error() != want {
		t.Errorf("problems %v\nwant %s", got, want)
	}
}

func TestCameraScale(t *testing.T) {
	for in, want := range map[string]int{"": 0, "auto": 0, "1": 1, "2": 2, "4": 4, "8": 8, "3": -1, "Auto": -1, "16": -1, " 2": -1} {
		if got := (Camera{DecodeScale: in}).Scale(); got != want {
			t.Errorf("Scale(%q) = %d, want %d", in, got, want)
		}
	}
}
