package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseLabelText(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
		err  string
	}{
		{name: "plain", in: "red\ngreen\nblue\n", want: []string{"red", "green", "blue"}},
		{name: "comments and blanks", in: "# colours\n\nred # warm\n  green  \n\n#blue\n", want: []string{"red", "green"}},
		{name: "inner spaces collapse", in: "traffic   light\r\nfire\thydrant\n", want: []string{"traffic light", "fire hydrant"}},
		{name: "bom", in: "\uFEFFperson\ncar", want: []string{"person", "car"}},
		{name: "unicode", in: "café\n猫\n", want: []string{"café", "猫"}},
		{name: "duplicate", in: "red\ngreen\nRed\n", err: `l.txt:3: duplicate class "Red" (first on line 1)`},
		{name: "empty", in: "# nothing\n\n", err: `l.txt: no classes (one class name per line, '#' starts a comment)`},
		{name: "marker", in: "a {} b\n", err: `l.txt:1: class name "a {} b" contains the template marker {}`},
		{name: "too long", in: strings.Repeat("x", 201), err: `l.txt:1: class name longer than 200 bytes`},
		{name: "binary", in: "red\n\xff\xfe\n", err: `l.txt: not valid UTF-8 text`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set, err := ParseLabelText([]byte(tc.in), "l.txt")
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("error %v, want %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := set.ClassNames(); strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("classes %q, want %q", got, tc.want)
			}
		})
	}
}

func TestLoadLabelSet(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "yard.txt"), []byte("person\ncar\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := LoadLabelSet(dir, "yard", "default")
	if err != nil {
		t.Fatal(err)
	}
	if set.Name != "yard" || len(set.Classes) != 2 || len(set.Templates) < 40 {
		t.Fatalf("set %s: %d classes, %d templates", set.Name, len(set.Classes), len(set.Templates))
	}
	p := set.Prompts()
	if len(p) != len(set.Templates)*2 || p[0] != Fill(set.Templates[0], "person") || p[1] != Fill(set.Templates[0], "car") {
		t.Errorf("prompts not template-major: %q", p[:2])
	}
	_, err = LoadLabelSet(dir, "garden", "default")
	if err == nil || !strings.Contains(err.Error(), `label set "garden" not found: no `+filepath.Join(dir, "garden.txt")) {
		t.Errorf("missing set error: %v", err)
	}
}

func TestTemplateSets(t *testing.T) {
	for _, name := range TemplateSetNames() {
		tpl, _ := TemplateSet(name)
		seen := map[string]bool{}
		for _, s := range tpl {
			if strings.Count(s, "{}") != 1 {
				t.Errorf("%s: template %q needs exactly one {}", name, s)
			}
			if seen[s] {
				t.Errorf("%s: duplicate template %q", name, s)
			}
			seen[s] = true
		}
	}
	d, _ := TemplateSet("default")
	if len(d) < 40 {
		t.Errorf("default has %d templates, want >= 40", len(d))
	}
	d[0] = "changed {}"
	if d2, _ := TemplateSet("default"); d2[0] == "changed {}" {
		t.Error("TemplateSet returned the shared slice")
	}
}

func FuzzParseLabelText(f *testing.F) {
	f.Add([]byte("red\ngreen # c\n\n"))
	f.Add([]byte("\uFEFFa\nA\n"))
	f.Add([]byte("{}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		set, err := ParseLabelText(data, "f.txt")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.txt") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, c := range set.Classes {
			if c.Name == "" || c.Name != strings.TrimSpace(c.Name) || strings.Contains(c.Name, "#") || !utf8.ValidString(c.Name) {
				t.Fatalf("bad class %q", c.Name)
			}
			if seen[strings.ToLower(c.Name)] {
				t.Fatalf("duplicate class %q accepted", c.Name)
			}
			seen[strings.ToLower(c.Name)] = true
		}
	})
}
