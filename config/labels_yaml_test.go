package config

import (
	"flag"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

var update = flag.Bool("update", false, "rewrite testdata/badlabels/*.err from the current errors")

func TestParseLabelYAML(t *testing.T) {
	in := `# yard cameras
templates: simple
classes:
  - name: person
    aliases: [pedestrian, "man  or woman"]
    threshold: 0.6
  - car
  - name: bicycle
    threshold: 1
  - name: dog
    aliases: []
`
	set, err := ParseLabelYAML([]byte(in), "yard.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := []Class{
		{Name: "person", Aliases: []string{"pedestrian", "man or woman"}, Threshold: 0.6, Line: 4},
		{Name: "car", Line: 7},
		{Name: "bicycle", Threshold: 1, Line: 8},
		{Name: "dog", Line: 10},
	}
	if !reflect.DeepEqual(set.Classes, want) {
		t.Errorf("classes\n got %+v\nwant %+v", set.Classes, want)
	}
	if set.TemplateSet != "simple" || !reflect.DeepEqual(set.Templates, []string{"a photo of a {}."}) {
		t.Errorf("templates %q (%q)", set.Templates, set.TemplateSet)
	}
	if got := set.Thresholds(); !reflect.DeepEqual(got, []float64{0.6, 0, 1, 0}) {
		t.Errorf("thresholds %v", got)
	}
}

func TestParseLabelYAMLTemplates(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
		set  string
	}{
		{name: "list", in: "templates: ['a {}.', ' a  photo of {} ']\nclasses: [x]\n", want: []string{"a {}.", "a photo of {}"}},
		{name: "builtin", in: "templates: default\nclasses: [x]\n", want: templateSets["default"], set: "default"},
		{name: "absent", in: "classes: [x]\n", want: nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set, err := ParseLabelYAML([]byte(tc.in), "t.yaml")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(set.Templates, tc.want) || set.TemplateSet != tc.set {
				t.Errorf("templates %q (%q), want %q (%q)", set.Templates, set.TemplateSet, tc.want, tc.set)
			}
		})
	}
}

// TestInvalidLabelFiles pairs each testdata/badlabels/invalid-* label file
// with its exact error in the sibling .err file.
func TestInvalidLabelFiles(t *testing.T) {
	files, _ := filepath.Glob("testdata/badlabels/invalid-*")
	n := 0
	for _, path := range files {
		ext := filepath.Ext(path)
		if ext == ".err" {
			continue
		}
		n++
		t.Run(filepath.Base(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var perr error
			switch ext {
			case ".txt":
				_, perr = ParseLabelText(data, path)
			case ".yaml":
				_, perr = ParseLabelYAML(data, path)
			default:
				t.Fatalf("unexpected file %s", path)
			}
			if perr == nil {
				t.Fatal("no error")
			}
			got := perr.Error()
			if strings.Contains(got, "\n") {
				t.Errorf("error is not one line: %q", got)
			}
			if !strings.HasPrefix(got, path+":") {
				t.Errorf("error %q does not start with the file name", got)
			}
			errFile := strings.TrimSuffix(path, ext) + ".err"
			if *update {
				if err := os.WriteFile(errFile, []byte(got+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(errFile)
			if err != nil {
				t.Fatalf("%v: pair each invalid file with its error (go test -run TestInvalidLabelFiles -update)", err)
			}
			if got != strings.TrimSuffix(string(want), "\n") {
				t.Errorf("error\n got %s\nwant %s", got, want)
			}
			// The loader reports the same error for the file in a folder.
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "set"+ext), data, 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := LoadLabelSet(dir, "set", "default"); err == nil {
				t.Error("LoadLabelSet accepted the file")
			}
		})
	}
	if n < 25 {
		t.Errorf("only %d invalid label files", n)
	}
}

func TestLoadLabelSetYAMLAndBoth(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("yard.yaml", "classes: [person, car]\n")
	set, err := LoadLabelSet(dir, "yard", "simple")
	if err != nil {
		t.Fatal(err)
	}
	if set.Name != "yard" || set.TemplateSet != "simple" || len(set.Templates) != 1 || len(set.Classes) != 2 {
		t.Errorf("set %+v", set)
	}
	write("yard.txt", "person\n")
	_, err = LoadLabelSet(dir, "yard", "simple")
	want := filepath.Join(dir, "yard.txt") + `: label set "yard" is also defined by ` + filepath.Join(dir, "yard.yaml") + ": keep one of the two files"
	if err == nil || err.Error() != want {
		t.Errorf("error %v\nwant %s", err, want)
	}
	sets, errs := LoadLabelDir(dir, "simple")
	if len(sets) != 0 || len(errs) != 1 || errs["yard"] == nil {
		t.Errorf("LoadLabelDir: sets %v errs %v", sets, errs)
	}
}

func TestPromptPlan(t *testing.T) {
	set := &LabelSet{
		Templates: []string{"a {}.", "b {}."},
		Classes: []Class{
			{Name: "person", Aliases: []string{"man", "woman"}},
			{Name: "car"},
		},
	}
	p := set.PromptPlan()
	wantPrompts := []string{"a person.", "a man.", "a woman.", "a car.", "b person.", "b man.", "b woman.", "b car."}
	if !reflect.DeepEqual(p.Prompts, wantPrompts) {
		t.Errorf("prompts %q", p.Prompts)
	}
	wantGroups := [][]int{{0, 1, 2}, {3}, {4, 5, 6}, {7}}
	if !reflect.DeepEqual(p.Groups, wantGroups) || p.K != 2 || p.C != 2 {
		t.Errorf("groups %v K %d C %d", p.Groups, p.K, p.C)
	}
	// Without aliases the plan is Prompts() in order.
	plain := &LabelSet{Templates: set.Templates, Classes: []Class{{Name: "x"}, {Name: "y"}}}
	if got := plain.PromptPlan().Prompts; !reflect.DeepEqual(got, plain.Prompts()) {
		t.Errorf("plain plan %q != Prompts %q", got, plain.Prompts())
	}
	// A template equal after filling (duplicated prompt) is encoded once.
	dup := &LabelSet{Templates: []string{"{}", "{}."}, Classes: []Class{{Name: "a."}, {Name: "a"}}}
	dp := dup.PromptPlan()
	if len(dp.Prompts) != 3 || !reflect.DeepEqual(dp.Groups, [][]int{{0}, {1}, {2}, {0}}) {
		t.Errorf("shared prompt: %q %v", dp.Prompts, dp.Groups)
	}

	// Combine: dim 2, person = mean of (1,0), (0,1), (1,1)/sqrt2 normalised.
	s := float32(1 / math.Sqrt2)
	emb := []float32{1, 0, 0, 1, s, s, 0, 1, 1, 0, 1, 0, 1, 0, 0, -1}
	out, err := p.Combine(emb, 2)
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{s, s, 0, 1, 1, 0, 0, -1}
	for i := range want {
		if math.Abs(float64(out[i]-want[i])) > 1e-6 {
			t.Fatalf("combined %v, want %v", out, want)
		}
	}
	if _, err := p.Combine(emb[:4], 2); err == nil {
		t.Error("short embeddings accepted")
	}
	zero := make([]float32, 16)
	if _, err := p.Combine(zero, 2); err == nil || !strings.Contains(err.Error(), "template 0, class 0") {
		t.Errorf("zero descriptor: %v", err)
	}
}

// colourWords would make a template favour a colour class in the demo.
var colourWords = []string{"black", "white", "red", "green", "blue", "yellow", "orange", "purple", "pink", "brown", "grey", "gray", "violet", "cyan", "magenta", "colour", "color", "golden", "silver", "sepia", "monochrome", "grayscale", "greyscale"}

func TestTemplatesHaveNoColourWords(t *testing.T) {
	for _, name := range TemplateSetNames() {
		tpl, _ := TemplateSet(name)
		for _, s := range tpl {
			for _, w := range strings.Fields(strings.ToLower(strings.NewReplacer(".", " ", ",", " ", "-", " ").Replace(s))) {
				for _, c := range colourWords {
					if strings.Contains(w, c) {
						t.Errorf("%s: template %q has the colour word %q", name, s, c)
					}
				}
			}
			if msg := checkTemplate(s); msg != "" {
				t.Errorf("%s: %s", name, msg)
			}
		}
	}
	if s, _ := TemplateSet("simple"); !reflect.DeepEqual(s, []string{"a photo of a {}."}) {
		t.Errorf("simple = %q", s)
	}
}

func FuzzParseLabelYAML(f *testing.F) {
	files, _ := filepath.Glob("testdata/badlabels/*.yaml")
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("templates: [a {}]\nclasses:\n  - {name: a, aliases: [b, c], threshold: 0.5}\n  - d\n"))
	f.Add([]byte("classes: &x [a]\ntemplates: *x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		set, err := ParseLabelYAML(data, "f.yaml")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.yaml") || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error does not name the file on one line: %q", err)
			}
			return
		}
		if len(set.Classes) == 0 {
			t.Fatal("no classes accepted")
		}
		seen := map[string]bool{}
		for _, c := range set.Classes {
			if c.Threshold < 0 || c.Threshold > 1 || math.IsNaN(c.Threshold) {
				t.Fatalf("threshold %v accepted", c.Threshold)
			}
			for _, n := range append([]string{c.Name}, c.Aliases...) {
				if n == "" || n != normalizeName(n) || strings.Contains(n, "{}") || !utf8.ValidString(n) {
					t.Fatalf("bad name %q", n)
				}
				if seen[strings.ToLower(n)] {
					t.Fatalf("duplicate %q accepted", n)
				}
				seen[strings.ToLower(n)] = true
			}
		}
		tseen := map[string]bool{}
		for _, s := range set.Templates {
			if strings.Count(s, "{}") != 1 || tseen[s] {
				t.Fatalf("bad template %q", s)
			}
			tseen[s] = true
		}
		p := set.PromptPlan()
		if len(p.Groups) != len(set.Templates)*len(set.Classes) {
			t.Fatalf("%d groups", len(p.Groups))
		}
	})
}
