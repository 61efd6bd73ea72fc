package ops

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// unitPath is the shipped unit, relative to this package.
const unitPath = "../systemd/autoclipd.service"

// maxExposure is the acceptance bar for systemd-analyze security, in the
// tenths it prints.
const maxExposure = 1.5

// unitDirective is one Key=Value line of a unit file.
type unitDirective struct {
	section, key, value string
	line                int
}

// parseUnit reads a systemd unit file: [Section] headers, Key=Value lines,
// comments (# and ;) and blank lines. Continuation lines are not used in
// the shipped unit and are rejected. Errors name file:line.
func parseUnit(name string, data string) ([]unitDirective, error) {
	var out []unitDirective
	section := ""
	sc := bufio.NewScanner(strings.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "["):
			if !strings.HasSuffix(line, "]") || len(line) < 3 {
				return nil, fmt.Errorf("%s:%d: bad section header %q", name, n, line)
			}
			section = line[1 : len(line)-1]
		case strings.HasSuffix(line, "\\"):
			return nil, fmt.Errorf("%s:%d: continuation lines are not supported", name, n)
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || strings.TrimSpace(k) == "" {
				return nil, fmt.Errorf("%s:%d: want Key=Value, got %q", name, n, line)
			}
			if section == "" {
				return nil, fmt.Errorf("%s:%d: %s outside a section", name, n, strings.TrimSpace(k))
			}
			out = append(out, unitDirective{section, strings.TrimSpace(k), strings.TrimSpace(v), n})
		}
	}
	return out, sc.Err()
}

func FuzzParseUnit(f *testing.F) {
	if data, err := os.ReadFile(unitPath); err == nil {
		f.Add(string(data))
	}
	for _, s := range []string{"", "[Service]\nType=notify\n", "Type=x", "[", "[S]\n=v", "[S]\nA=b\\\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ds, err := parseUnit("fuzz.service", s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.service:") && !strings.Contains(err.Error(), "token too long") {
				t.Fatalf("error without file:line: %v", err)
			}
			return
		}
		for _, d := range ds {
			if d.key == "" || d.section == "" || d.line < 1 {
				t.Fatalf("bad directive %+v from %q", d, s)
			}
		}
	})
}

func readUnit(t *testing.T) (string, []unitDirective) {
	t.Helper()
	data, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := parseUnit(unitPath, string(data))
	if err != nil {
		t.Fatal(err)
	}
	return string(data), ds
}

// TestUnitDirectives checks the required settings and the ones that
// must stay out because they break cameras or CUDA.
func TestUnitDirectives(t *testing.T) {
	_, ds := readUnit(t)
	values := map[string][]string{}
	for _, d := range ds {
		if d.section == "Service" {
			values[d.key] = append(values[d.key], d.value)
		}
	}
	has := func(key, want string) {
		t.Helper()
		for _, v := range values[key] {
			if v == want {
				return
			}
		}
		t.Errorf("%s: no %s=%s in [Service] (have %q)", unitPath, key, want, values[key])
	}
	has("Type", "notify")
	has("NotifyAccess", "main")
	has("WatchdogSec", "30")
	has("ExecReload", "/bin/kill -HUP $MAINPID")
	has("Restart", "always")
	has("DynamicUser", "yes")
	has("StateDirectory", "autoclipd")
	has("CacheDirectory", "autoclipd")
	has("ConfigurationDirectory", "autoclipd")
	has("LoadCredential", "mqtt-password:/etc/autoclipd/mqtt-password")
	has("SupplementaryGroups", "video render")
	has("DevicePolicy", "closed")
	has("DeviceAllow", "char-video4linux rw")
	has("DeviceAllow", "char-nvidia* rw")
	has("DeviceAllow", "char-drm rw")
	has("ProtectSystem", "strict")
	has("NoNewPrivileges", "yes")
	has("SystemCallFilter", "@system-service")
	has("CapabilityBoundingSet", "")
	has("RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6 AF_NETLINK")
	if len(values["RestartSec"]) == 0 {
		t.Errorf("%s: RestartSec= missing", unitPath)
	}
	for _, key := range []string{"PrivateDevices", "MemoryDenyWriteExecute", "PrivateNetwork", "ProcSubset"} {
		if len(values[key]) > 0 {
			t.Errorf("%s: %s= is set; it breaks cameras, CUDA or the broker connection", unitPath, key)
		}
	}
	for _, v := range values["DeviceAllow"] {
		if strings.HasPrefix(v, "/dev/") && strings.ContainsAny(strings.Fields(v)[0], "*?[") {
			t.Errorf("%s: DeviceAllow=%s: globs do not work on /dev paths, use a char- device group", unitPath, v)
		}
	}
}

// testUnit writes the shipped unit into a temporary directory with
// ExecStart pointing at an executable that exists here (the test binary),
// since verify checks that the command is executable.
func testUnit(t *testing.T) string {
	t.Helper()
	data, _ := readUnit(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^ExecStart=/usr/bin/autoclipd\b`)
	if !re.MatchString(data) {
		t.Fatalf("%s: no ExecStart=/usr/bin/autoclipd line", unitPath)
	}
	path := filepath.Join(t.TempDir(), "autoclipd.service")
	if err := os.WriteFile(path, []byte(re.ReplaceAllString(data, "ExecStart="+exe)), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func systemdAnalyze(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatalf("systemd-analyze not found (Debian package: systemd): %v", err)
	}
	return p
}

func TestUnitVerify(t *testing.T) {
	sa := systemdAnalyze(t)
	out, err := exec.Command(sa, "verify", "--man=no", testUnit(t)).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Fatalf("systemd-analyze verify %s: %v\n%s", unitPath, err, out)
	}
}

// overallExposure parses "Overall exposure level for x.service: 1.5 OK" from
// systemd-analyze security output.
func overallExposure(out string) (float64, error) {
	m := regexp.MustCompile(`Overall exposure level for \S+: (\d+(?:\.\d+)?)`).FindStringSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("no \"Overall exposure level\" line in:\n%s", out)
	}
	return strconv.ParseFloat(m[1], 64)
}

func TestOverallExposureParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
		ok   bool
	}{
		{"→ Overall exposure level for autoclipd.service: 1.5 OK 🙂", 1.5, true},
		{"→ Overall exposure level for a.service: 9.6 UNSAFE 😨\n", 9.6, true},
		{"Overall exposure level for x.service: 10 UNSAFE", 10, true},
		{"nothing here", 0, false},
	} {
		got, err := overallExposure(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("overallExposure(%q) = %v, %v; want %v ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestUnitSecurityExposure(t *testing.T) {
	sa := systemdAnalyze(t)
	unit := testUnit(t)
	cmd := exec.Command(sa, "security", "--offline=yes", "--no-pager", unit)
	cmd.Env = append(os.Environ(), "SYSTEMD_COLORS=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security --offline=yes %s: %v\n%s", unitPath, err, out)
	}
	score, err := overallExposure(string(out))
	if err != nil {
		t.Fatal(err)
	}
	var exposed []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "✗") {
			if f := strings.Fields(line); len(f) > 1 {
				exposed = append(exposed, f[1])
			}
		}
	}
	t.Logf("exposure %.1f; remaining: %s", score, strings.Join(exposed, ", "))
	if score > maxExposure {
		t.Fatalf("%s: exposure %.1f, want <= %.1f\n%s", unitPath, score, maxExposure, out)
	}
	// The same bar through systemd-analyze's own threshold (tenths): exit
	// status non-zero if the exposure is above it.
	if out, err := exec.Command(sa, "security", "--offline=yes", "--threshold="+strconv.Itoa(int(maxExposure*10)), unit).CombinedOutput(); err != nil {
		t.Fatalf("systemd-analyze security --threshold=%d: %v\n%s", int(maxExposure*10), err, out)
	}
}
