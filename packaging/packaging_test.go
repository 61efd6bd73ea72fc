// Package packaging holds the Debian packaging of autoclipd (nfpm.yaml, the
// default config, the example label set, maintainer scripts) and tests that
// keep it consistent with the code: the default config loads, every file the
// package names exists, the unit runs what the package installs, and the
// scripts behind make deb parse and fail clearly.
package packaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/autoclipd/autoclipd/config"
	"gopkg.in/yaml.v3"
)

// Paths inside the package, as the default config and the unit use them.
const (
	confPath   = "/etc/autoclipd/config.yaml"
	labelsDir  = "/etc/autoclipd/labels"
	binPath    = "/usr/bin/autoclipd"
	ortPath    = "/usr/lib/autoclipd/libonnxruntime.so.1"
	unitPath   = "/lib/systemd/system/autoclipd.service"
	modelDir   = "/var/lib/autoclipd/model"
	brokerURL  = "tcp://127.0.0.1:1883"
	exampleSet = "example"
)

// nfpmConfig is the part of nfpm.yaml these tests read.
type nfpmConfig struct {
	Name     string   `yaml:"name"`
	Depends  []string `yaml:"depends"`
	Contents []struct {
		Src  string `yaml:"src"`
		Dst  string `yaml:"dst"`
		Type string `yaml:"type"`
	} `yaml:"contents"`
	Scripts map[string]string `yaml:"scripts"`
}

// loadNFPM reads nfpm.yaml with its placeholders filled as scripts/deb.sh
// fills them.
func loadNFPM(t *testing.T) nfpmConfig {
	t.Helper()
	data, err := os.ReadFile("nfpm.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := strings.NewReplacer("@ARCH@", "amd64", "@VERSION@", "1.0.0", "@MTIME@", "2026-12-01T00:00:00Z",
		"@BUILD@", "build/deb/amd64", "@DEPENDS@", `  - "libc6 (>= 2.36)"`).Replace(string(data))
	if m := regexp.MustCompile(`@[A-Z]+@`).FindString(s); m != "" {
		t.Fatalf("nfpm.yaml: placeholder %s that scripts/deb.sh does not fill", m)
	}
	var c nfpmConfig
	if err := yaml.Unmarshal([]byte(s), &c); err != nil {
		t.Fatalf("nfpm.yaml: %v", err)
	}
	return c
}

// repoRoot is where nfpm runs (scripts/deb.sh cds there): sources in
// nfpm.yaml are relative to it.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// TestDefaultConfigLoads: the config the package installs is valid for the
// config package as it is now, points at the packaged paths, and its cameras'
// label sets load from the packaged label folder.
func TestDefaultConfigLoads(t *testing.T) {
	data, err := os.ReadFile("config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(data, confPath)
	if err != nil {
		t.Fatalf("packaging/config.yaml (installed as %s): %v", confPath, err)
	}
	for _, c := range []struct{ field, got, want string }{
		{"labels.dir", cfg.Labels.Dir, labelsDir},
		{"model.dir", cfg.Model.Dir, modelDir},
		{"model.onnxruntime", cfg.Model.ONNXRuntime, ortPath},
		{"mqtt.url", cfg.MQTT.URL, brokerURL},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.field, c.got, c.want)
		}
	}
	if len(cfg.Cameras) == 0 {
		t.Fatal("no camera")
	}
	for i, cam := range cfg.Cameras {
		// labels.dir is /etc/autoclipd/labels once installed; here it is
		// packaging/labels.
		set, err := config.LoadLabelSet("labels", cam.Labels, cfg.Labels.Templates)
		if err != nil {
			t.Errorf("cameras[%d].labels %q: %v", i, cam.Labels, err)
			continue
		}
		if len(set.Classes) < 2 {
			t.Errorf("label set %s: %d classes, want a useful example", set.Name, len(set.Classes))
		}
	}
	if cfg.Cameras[0].Labels != exampleSet {
		t.Errorf("cameras[0].labels = %q, want the packaged %q", cfg.Cameras[0].Labels, exampleSet)
	}
}

// TestPackageContents: every source nfpm.yaml names exists (or is made by
// scripts/deb.sh under build/), the config and every label file are
// conffiles, and the files the unit and the config refer to are packaged.
func TestPackageContents(t *testing.T) {
	c := loadNFPM(t)
	root := repoRoot(t)
	if c.Name != "autoclipd" {
		t.Errorf("name = %q", c.Name)
	}
	if len(c.Depends) == 0 {
		t.Error("no depends: the @DEPENDS@ placeholder is gone")
	}
	dsts := map[string]string{} // dst -> type
	for i, e := range c.Contents {
		if e.Src == "" || e.Dst == "" {
			t.Errorf("contents[%d]: src %q dst %q: both required", i, e.Src, e.Dst)
			continue
		}
		if _, dup := dsts[e.Dst]; dup {
			t.Errorf("contents[%d]: %s packaged twice", i, e.Dst)
		}
		dsts[e.Dst] = e.Type
		if strings.HasPrefix(e.Src, "build/") {
			continue // made by scripts/deb.sh
		}
		if _, err := os.Stat(filepath.Join(root, e.Src)); err != nil {
			t.Errorf("contents[%d]: src %s: %v", i, e.Src, err)
		}
	}
	for _, want := range []string{binPath, ortPath, unitPath, confPath, "/usr/share/doc/autoclipd/copyright", "/usr/share/doc/autoclipd/changelog.gz"} {
		if _, ok := dsts[want]; !ok {
			t.Errorf("%s is not packaged", want)
		}
	}
	labels, err := filepath.Glob("labels/*")
	if err != nil || len(labels) == 0 {
		t.Fatalf("packaging/labels: %v (%d files)", err, len(labels))
	}
	for _, l := range append([]string{"config.yaml"}, labels...) {
		dst := "/etc/autoclipd/" + l
		typ, ok := dsts[dst]
		if !ok {
			t.Errorf("packaging/%s is not packaged as %s", l, dst)
		} else if !strings.HasPrefix(typ, "config") {
			t.Errorf("%s: type %q, want a conffile (config|noreplace)", dst, typ)
		}
	}
	for name, path := range c.Scripts {
		st, err := os.Stat(filepath.Join(root, path))
		if err != nil {
			t.Errorf("scripts.%s: %v", name, err)
		} else if st.Mode()&0o111 == 0 {
			t.Errorf("scripts.%s: %s is not executable", name, path)
		}
	}
}

// TestUnitRunsPackagedFiles: the systemd unit starts the packaged binary with
// the packaged config, and any ORT_LIB it sets is the packaged library.
func TestUnitRunsPackagedFiles(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "systemd", "autoclipd.service"))
	if err != nil {
		t.Fatal(err)
	}
	unit := string(data)
	start := regexp.MustCompile(`(?m)^ExecStart=(.*)$`).FindStringSubmatch(unit)
	if start == nil {
		t.Fatal("systemd/autoclipd.service: no ExecStart=")
	}
	if !strings.HasPrefix(strings.TrimLeft(start[1], "-@:+!"), binPath+" ") || !strings.Contains(start[1], confPath) {
		t.Errorf("ExecStart=%s: want %s ... %s", start[1], binPath, confPath)
	}
	if m := regexp.MustCompile(`ORT_LIB=([^\s"]+)`).FindStringSubmatch(unit); m != nil && m[1] != ortPath {
		t.Errorf("the unit sets ORT_LIB=%s; the package installs %s", m[1], ortPath)
	}
}

// TestScriptsParse: the shell scripts behind make deb, make test-deb and make
// build-arm64, and the maintainer scripts, are valid shell.
func TestScriptsParse(t *testing.T) {
	root := repoRoot(t)
	bash, err := filepath.Glob(filepath.Join(root, "scripts", "*.sh"))
	if err != nil || len(bash) < 5 {
		t.Fatalf("scripts/*.sh: %v (%d files)", err, len(bash))
	}
	for _, f := range bash {
		if out, err := exec.Command("bash", "-n", f).CombinedOutput(); err != nil {
			t.Errorf("bash -n %s: %v\n%s", f, err, out)
		}
	}
	for _, f := range []string{"postinst", "prerm", "postrm"} {
		if out, err := exec.Command("sh", "-n", f).CombinedOutput(); err != nil {
			t.Errorf("sh -n packaging/%s: %v\n%s", f, err, out)
		}
	}
}

// TestDebDepends runs scripts/deb-depends.sh: a dynamically linked binary
// gets its libraries' packages; bad inputs fail naming the file or soname.
func TestDebDepends(t *testing.T) {
	script := filepath.Join(repoRoot(t), "scripts", "deb-depends.sh")
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatal(err)
	}
	sh, err = filepath.EvalSymlinks(sh)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	shlibs := filepath.Join(dir, "shlibs")
	must(t, os.WriteFile(shlibs, []byte("udeb: libc 6 libc6-udeb (>= 2.36)\nlibc 6 libc6 (>= 2.36)\nlibc 6 libc6:arm64 (>= 2.36)\n"), 0o644))
	empty := filepath.Join(dir, "empty")
	must(t, os.WriteFile(empty, []byte("libfoo 1 libfoo1\n"), 0o644))
	notELF := filepath.Join(dir, "not-elf")
	must(t, os.WriteFile(notELF, []byte("#!/bin/sh\n"), 0o755))

	tests := []struct {
		name    string
		args    []string
		ok      bool
		want    string // stdout when ok, else a stderr substring
		wantErr string
	}{
		{name: "libc from a shlibs file", args: []string{sh, shlibs}, ok: true, want: "libc6 (>= 2.36)\n"},
		{name: "soname without an entry", args: []string{sh, empty}, wantErr: "soname libc.so.6: no shlibs entry"},
		{name: "not ELF", args: []string{notELF, shlibs}, wantErr: notELF},
		{name: "missing binary", args: []string{filepath.Join(dir, "nope"), shlibs}, wantErr: "nope: no such file"},
		{name: "missing shlibs", args: []string{sh, filepath.Join(dir, "nope.shlibs")}, wantErr: "nope.shlibs: no such shlibs file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command("bash", append([]string{script}, tc.args...)...)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if tc.ok {
				if err != nil {
					t.Fatalf("%v: %s", err, stderr.String())
				}
				if string(out) != tc.want {
					t.Errorf("stdout %q, want %q", out, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("succeeded with %q, want an error", out)
			}
			if !strings.Contains(stderr.String(), tc.wantErr) {
				t.Errorf("stderr %q does not name %q", stderr.String(), tc.wantErr)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
