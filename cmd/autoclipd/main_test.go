package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/autoclipd/autoclipd/internal/logtest"
	"github.com/autoclipd/autoclipd/modelgen"
)

func TestVersion(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"version"}, nil, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !regexp.MustCompile(`^autoclipd \S+ \(go1\.\d+.*, linux/\w+\)\n$`).MatchString(out.String()) {
		t.Errorf("version output %q", out.String())
	}
}

func TestUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no args", nil, 2, "Usage:"},
		{"unknown", []string{"frobnicate"}, 2, `autoclipd: unknown command "frobnicate"`},
		{"run without config", []string{"run"}, 2, "autoclipd run: --config FILE is required"},
		{"bad flag", []string{"run", "--nope"}, 2, "flag provided but not defined: -nope"},
		{"stray argument", []string{"check-config", "--config", "x.yaml", "extra"}, 2, `autoclipd check-config: unexpected argument "extra"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), tc.args, nil, &out, &errb)
			if code != tc.code {
				t.Errorf("exit %d, want %d", code, tc.code)
			}
			if !strings.Contains(errb.String(), tc.want) {
				t.Errorf("stderr %q does not contain %q", errb.String(), tc.want)
			}
		})
	}
}

// TestStartupErrors: each broken setup is one clear line on stderr and a
// non-zero exit, before anything runs.
func TestStartupErrors(t *testing.T) {
	if os.Getenv("ORT_LIB") == "" {
		t.Fatal("ORT_LIB is not set: run the tests with `make test`")
	}
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string) // breaks the setup in dir
		extra string                         // appended to the config
		env   string                         // ORT_LIB override
		want  string                         // regexp for the one stderr line
	}{
		{
			name:  "missing model file",
			setup: func(t *testing.T, dir string) { must(t, os.Remove(filepath.Join(dir, "model/onnx/vision_model.onnx"))) },
			want:  `^autoclipd: model\.dir \S+/model: missing onnx/vision_model\.onnx \(expected the Hugging Face layout: .*\)$`,
		},
		{
			name: "missing onnxruntime library",
			env:  "/nonexistent/libonnxruntime.so",
			want: `^autoclipd: ORT_LIB: /nonexistent/libonnxruntime\.so: no such file$`,
		},
		{
			name: "bad config key",
			setup: func(t *testing.T, dir string) {
				p := filepath.Join(dir, "config.yaml")
				data, err := os.ReadFile(p)
				must(t, err)
				must(t, os.WriteFile(p, bytes.Replace(data, []byte("  dir: model\n"), []byte("  dir: model\n  weights: x\n"), 1), 0o644))
			},
			want: `^autoclipd: \S+/config\.yaml:8: model\.weights: unknown key "weights"$`,
		},
		{
			name:  "missing label set",
			setup: func(t *testing.T, dir string) { must(t, os.Remove(filepath.Join(dir, "labels/colours.txt"))) },
			want:  `^autoclipd: \S+/config\.yaml:\d+: cameras\[0\]\.labels: label set "colours" not found: no \S+/labels/colours\.txt or colours\.yaml$`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeE2E(t, "127.0.0.1:1", "")
			if tc.setup != nil {
				tc.setup(t, filepath.Dir(path))
			}
			if tc.env != "" {
				t.Setenv("ORT_LIB", tc.env)
			}
			var out, errb bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			code := run(ctx, []string{"run", "--config", path}, nil, &out, &errb)
			if code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			// The logger writes to stderr too; the error is the last line.
			lines := strings.Split(strings.TrimSpace(errb.String()), "\n")
			last := lines[len(lines)-1]
			if !regexp.MustCompile(tc.want).MatchString(last) {
				t.Errorf("stderr's last line\n got %s\nwant %s", last, tc.want)
			}
		})
	}
}

func TestCheckConfig(t *testing.T) {
	path := writeE2E(t, "127.0.0.1:1", "")
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"check-config", "--config", path}, nil, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	want := fmt.Sprintf("label set colours: %d classes x 48 templates", len(modelgen.DemoColours()))
	if !strings.Contains(out.String(), want) || !strings.Contains(out.String(), ": ok (1 cameras)") {
		t.Errorf("output %q", out.String())
	}
}

func TestDemoWritesEverything(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"demo", "--out", dir}, nil, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, f := range []string{"config.yaml", "colours.avi", "labels/colours.txt", "model/onnx/vision_model.onnx", "model/onnx/text_model.onnx", "model/tokenizer.json", "model/preprocessor_config.json"} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	errb.Reset()
	if code := run(context.Background(), []string{"check-config", "--config", filepath.Join(dir, "config.yaml")}, nil, &out, &errb); code != 0 {
		t.Errorf("the demo config does not check: %s", errb.String())
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestHangupReloadsConfig sends this process SIGHUP: the config file is read
// again and delivered; a broken file is logged and not delivered.
func TestHangupReloadsConfig(t *testing.T) {
	path := writeE2E(t, "127.0.0.1:1", "")
	var logs logtest.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := watchHangup(ctx, path, log)
	hup := func() {
		t.Helper()
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	hup()
	select {
	case cfg := <-ch:
		if cfg.Device != "e2e-1" {
			t.Errorf("reloaded device %q", cfg.Device)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no config after SIGHUP")
	}
	if err := os.WriteFile(path, []byte("device: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hup()
	select {
	case cfg := <-ch:
		t.Fatalf("a broken config was delivered: %+v", cfg)
	case <-time.After(2 * time.Second):
	}
	if !strings.Contains(logs.String(), "config reload: keeping the running config") || !strings.Contains(logs.String(), "config.yaml:1") {
		t.Errorf("broken reload not logged with file:line:\n%s", logs.String())
	}
}

// TestCheckConfigProblems: check-config prints every problem with file:line
// (config, label files, capture settings) and exits non-zero.
func TestCheckConfigProblems(t *testing.T) {
	path := writeE2E(t, "127.0.0.1:1", "")
	dir := filepath.Dir(path)
	data, err := os.ReadFile(path)
	must(t, err)
	check := func(config string, want ...string) {
		t.Helper()
		must(t, os.WriteFile(path, []byte(config), 0o644))
		var out, errb bytes.Buffer
		code := run(context.Background(), []string{"check-config", "--config", path}, nil, &out, &errb)
		if code != 1 {
			t.Fatalf("exit %d, want 1; stdout:\n%s", code, out.String())
		}
		for _, w := range want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("output lacks %q:\n%s", w, out.String())
			}
		}
	}
	// A config error: reported with its line.
	check(strings.Replace(string(data), "    loop: false\n", "    loop: false\n    fps: -1\n", 1), "config.yaml:12: cameras[0].fps")
	// A loadable config: a bad label file and a capture setting that
	// does not fit the source are both reported.
	must(t, os.WriteFile(filepath.Join(dir, "labels", "extra.yaml"), []byte("classes:\n  - red\n  - red\n"), 0o644))
	check(strings.Replace(string(data), "    loop: false\n", "    loop: false\n    width: 640\n", 1), "extra.yaml:3", "cameras[0]: ", "width")
}
