package config

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// LabelSet is a named set of classes with the prompt templates that describe
// them. It is immutable once loaded.
type LabelSet struct {
	// Name is the file's stem: labels/colours.txt is "colours".
	Name string
	// Path is the file it was loaded from.
	Path string
	// Classes in file order.
	Classes []Class
	// Templates are prompt templates with "{}" where the class name goes.
	Templates []string
	// TemplateSet is the name of the built-in template set Templates came
	// from, or "" when the file lists its own templates.
	TemplateSet string
}

// Class is one label.
type Class struct {
	Name string
	// Aliases are other names of the class (.yaml files only). Each fills
	// every template like Name does; see LabelSet.Descriptors.
	Aliases []string
	// Threshold is the probability from which the class counts as an event,
	// in (0, 1]; 0 means not set.
	Threshold float64
	// Line is the line of the file the class was defined on.
	Line int
}

// ClassNames returns the class names in order.
func (s *LabelSet) ClassNames() []string {
	out := make([]string, len(s.Classes))
	for i, c := range s.Classes {
		out[i] = c.Name
	}
	return out
}

// Prompts returns the K x C prompts, template-major: prompt (i, j) is
// Templates[i] filled with Classes[j].Name. Aliases are left out: it is
// Descriptors with only the first prompt of each entry, so a set whose classes
// have aliases must be encoded from PromptPlan (or Descriptors) to use them.
func (s *LabelSet) Prompts() []string {
	out := make([]string, 0, len(s.Templates)*len(s.Classes))
	for _, t := range s.Templates {
		for _, c := range s.Classes {
			out = append(out, Fill(t, c.Name))
		}
	}
	return out
}

// Descriptors returns the K x C class descriptors, template-major: entry
// i*C+j lists the prompts of template i and class j, Templates[i] filled with
// Classes[j].Name first and then with each alias in order. A class without
// aliases has one prompt, the one Prompts returns. The text encoder averages
// the embeddings of an entry's prompts and re-normalises them into e_ij.
func (s *LabelSet) Descriptors() [][]string {
	out := make([][]string, 0, len(s.Templates)*len(s.Classes))
	for _, t := range s.Templates {
		for _, c := range s.Classes {
			d := make([]string, 0, 1+len(c.Aliases))
			d = append(d, Fill(t, c.Name))
			for _, a := range c.Aliases {
				d = append(d, Fill(t, a))
			}
			out = append(out, d)
		}
	}
	return out
}

// Fill puts name into the template at its "{}".
func Fill(template, name string) string {
	return strings.Replace(template, "{}", name, 1)
}

// Limits on label files.
const (
	// MaxClassLen is the longest class name or alias accepted, in bytes.
	MaxClassLen = 200
	// MaxTemplateLen is the longest template a .yaml file may list, in bytes.
	MaxTemplateLen = 300
	// MaxLabelFileSize is the largest label file read, in bytes.
	MaxLabelFileSize = 1 << 20
)

// Label file extensions: NAME.txt and NAME.yaml define the label set NAME.
const (
	LabelTextExt = ".txt"
	LabelYAMLExt = ".yaml"
)

// LabelSetName returns the label set a file in labels.dir defines: the stem
// of NAME.txt or NAME.yaml where NAME is a ValidName. Other files (editor
// backups and swap files such as .NAME.txt.swp, NAME.txt~ or #NAME.txt#)
// define none.
func LabelSetName(file string) (string, bool) {
	base := filepath.Base(file)
	for _, ext := range []string{LabelTextExt, LabelYAMLExt} {
		if stem, ok := strings.CutSuffix(base, ext); ok && ValidName(stem) {
			return stem, true
		}
	}
	return "", false
}

// notFoundError says that no file defines a label set.
type notFoundError struct{ name, txt, yaml string }

func (e *notFoundError) Error() string {
	return fmt.Sprintf("label set %q not found: no %s or %s", e.name, e.txt, filepath.Base(e.yaml))
}

func (e *notFoundError) Unwrap() error { return fs.ErrNotExist }

// LoadLabelSet reads the label set name from dir: dir/name.txt or
// dir/name.yaml (both existing is an error). templates names the built-in
// template set used when the file does not choose its templates. A missing
// set gives an error that matches fs.ErrNotExist.
func LoadLabelSet(dir, name, templates string) (*LabelSet, error) {
	src := readLabelSource(dir, name)
	if !src.present() {
		return nil, &notFoundError{name: name, txt: src.files[0].path, yaml: src.files[1].path}
	}
	return src.parse(templates)
}

// LoadLabelDir loads every label set in dir (each NAME.txt and NAME.yaml; other
// files are ignored). Sets that load go into sets, the others into errs under
// their name, each error naming the file and line. If the folder itself cannot
// be read, errs holds that error under the name "".
func LoadLabelDir(dir, templates string) (sets map[string]*LabelSet, errs map[string]error) {
	sets, errs = map[string]*LabelSet{}, map[string]error{}
	names, err := LabelSetNames(dir)
	if err != nil {
		errs[""] = err
		return sets, errs
	}
	for _, name := range names {
		src := readLabelSource(dir, name)
		if !src.present() {
			continue // removed since the folder was listed
		}
		if set, err := src.parse(templates); err != nil {
			errs[name] = err
		} else {
			sets[name] = set
		}
	}
	return sets, errs
}

// CheckLabels loads every label set in labels.dir and checks that each
// enabled camera's set loads. It returns the sets that load and every
// problem, one error each, naming the file and line: the folder's sets in
// name order, then the cameras whose set is missing.
func (c *Config) CheckLabels() (map[string]*LabelSet, []error) {
	sets, errs := LoadLabelDir(c.Labels.Dir, c.Labels.Templates)
	if err, bad := errs[""]; bad {
		// Every camera's set is missing: the folder error says why.
		return sets, []error{c.Errorf("labels.dir", "%s", unwrapPathError(err)+": "+c.Labels.Dir)}
	}
	names := make([]string, 0, len(errs))
	for n := range errs {
		names = append(names, n)
	}
	sort.Strings(names)
	var problems []error
	for _, n := range names {
		problems = append(problems, errs[n])
	}
	for i, cam := range c.Cameras {
		if !cam.Enabled {
			continue
		}
		if _, ok := sets[cam.Labels]; ok {
			continue
		}
		if _, bad := errs[cam.Labels]; bad {
			continue
		}
		err := &notFoundError{name: cam.Labels, txt: filepath.Join(c.Labels.Dir, cam.Labels+LabelTextExt), yaml: cam.Labels + LabelYAMLExt}
		problems = append(problems, c.Errorf(fmt.Sprintf("cameras[%d].labels", i), "%v", err))
	}
	return sets, problems
}

// LabelSetNames lists the label sets that files in dir define, sorted,
// without reading the files.
func LabelSetNames(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var names []string
	for _, e := range entries {
		if name, ok := LabelSetName(e.Name()); ok && !seen[name] {
			seen[name] = true
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names, nil
}

// labelFile is one candidate file of a label set as read at one moment.
type labelFile struct {
	path string
	data []byte
	err  error // a read error other than "does not exist"
	ok   bool  // the file exists (data or err is set)
}

// labelSource is what defines a label set in a folder at one moment: its
// .txt and its .yaml file, either or both possibly missing.
type labelSource struct {
	name  string
	files [2]labelFile // .txt, .yaml
}

// readLabelSource reads dir/name.txt and dir/name.yaml.
func readLabelSource(dir, name string) labelSource {
	src := labelSource{name: name}
	for i, ext := range []string{LabelTextExt, LabelYAMLExt} {
		f := &src.files[i]
		f.path = filepath.Join(dir, name+ext)
		f.data, f.err = readLabelFile(f.path)
		f.ok = f.err == nil || !errors.Is(f.err, fs.ErrNotExist)
		if !f.ok {
			f.err = nil
		}
	}
	return src
}

// readLabelFile reads a label file of at most MaxLabelFileSize bytes.
func readLabelFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxLabelFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxLabelFileSize {
		return nil, &Error{File: path, Msg: fmt.Sprintf("larger than %d bytes", MaxLabelFileSize)}
	}
	return data, nil
}

// present reports whether either file exists.
func (s *labelSource) present() bool { return s.files[0].ok || s.files[1].ok }

// sum is a fingerprint of the source: which files exist, their bytes and
// their read errors. Equal sums parse to equal results.
func (s *labelSource) sum() [32]byte {
	h := sha256.New()
	for _, f := range s.files {
		switch {
		case !f.ok:
			h.Write([]byte{0})
		case f.err != nil:
			h.Write([]byte{1})
			fmt.Fprintf(h, "%d:%s", len(f.err.Error()), f.err.Error())
		default:
			h.Write([]byte{2})
			fmt.Fprintf(h, "%d:", len(f.data))
			h.Write(f.data)
		}
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// parse parses the source, which must be present.
func (s *labelSource) parse(templates string) (*LabelSet, error) {
	txt, yml := &s.files[0], &s.files[1]
	if txt.ok && yml.ok {
		return nil, &Error{File: txt.path, Msg: fmt.Sprintf("label set %q is also defined by %s: keep one of the two files", s.name, yml.path)}
	}
	f := txt
	if yml.ok {
		f = yml
	}
	if f.err != nil {
		var e *Error
		if errors.As(f.err, &e) {
			return nil, f.err
		}
		return nil, &Error{File: f.path, Msg: unwrapPathError(f.err)}
	}
	var set *LabelSet
	var err error
	if f == txt {
		set, err = ParseLabelText(f.data, f.path)
	} else {
		set, err = ParseLabelYAML(f.data, f.path)
	}
	if err != nil {
		return nil, err
	}
	set.Name = s.name
	if set.Templates == nil {
		tpl, ok := TemplateSet(templates)
		if !ok {
			return nil, &Error{File: f.path, Msg: fmt.Sprintf("unknown template set %q (have %s)", templates, strings.Join(TemplateSetNames(), ", "))}
		}
		set.Templates = tpl
		set.TemplateSet = templates
	}
	return set, nil
}

// unwrapPathError drops the path from an *fs.PathError: the Error around it
// names the file already.
func unwrapPathError(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Op + ": " + pe.Err.Error()
	}
	return err.Error()
}

// ParseLabelText parses a .txt label file: one class name per line, '#'
// starts a comment, blank lines are ignored, runs of white space become one
// space. Duplicates are compared without case. The set's Name and Templates
// are left for the caller. path is used in errors.
func ParseLabelText(data []byte, path string) (*LabelSet, error) {
	if !utf8.Valid(data) {
		return nil, &Error{File: path, Msg: "not valid UTF-8 text"}
	}
	set := &LabelSet{Path: path}
	first := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), MaxLabelFileSize)
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if line == 1 {
			text = strings.TrimPrefix(text, "\uFEFF")
		}
		if i := strings.IndexByte(text, '#'); i >= 0 {
			text = text[:i]
		}
		name := normalizeName(text)
		if name == "" {
			continue
		}
		if msg := checkName(name, "class name"); msg != "" {
			return nil, &Error{File: path, Line: line, Msg: msg}
		}
		key := strings.ToLower(name)
		if prev, dup := first[key]; dup {
			return nil, &Error{File: path, Line: line, Msg: fmt.Sprintf("duplicate class %q (first on line %d)", name, prev)}
		}
		first[key] = line
		set.Classes = append(set.Classes, Class{Name: name, Line: line})
	}
	if err := sc.Err(); err != nil {
		return nil, &Error{File: path, Line: line + 1, Msg: err.Error()}
	}
	if len(set.Classes) == 0 {
		return nil, &Error{File: path, Msg: "no classes (one class name per line, '#' starts a comment)"}
	}
	return set, nil
}

// normalizeName trims s and turns runs of white space into one space.
func normalizeName(s string) string { return strings.Join(strings.Fields(s), " ") }

// checkName returns what is wrong with a normalised, non-empty class name or
// alias (what says which), or "".
func checkName(name, what string) string {
	if len(name) > MaxClassLen {
		return fmt.Sprintf("%s longer than %d bytes", what, MaxClassLen)
	}
	if strings.Contains(name, "{}") {
		return fmt.Sprintf("%s %q contains the template marker {}", what, name)
	}
	if strings.IndexFunc(name, unicode.IsControl) >= 0 {
		return fmt.Sprintf("%s %q contains a control character", what, name)
	}
	return ""
}
