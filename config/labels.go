package config

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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
}

// Class is one label.
type Class struct {
	Name string
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
// Templates[i] filled with Classes[j].
func (s *LabelSet) Prompts() []string {
	out := make([]string, 0, len(s.Templates)*len(s.Classes))
	for _, t := range s.Templates {
		for _, c := range s.Classes {
			out = append(out, Fill(t, c.Name))
		}
	}
	return out
}

// Fill puts name into the template at its "{}".
func Fill(template, name string) string {
	return strings.Replace(template, "{}", name, 1)
}

// MaxClassLen is the longest class name accepted, in bytes.
const MaxClassLen = 200

// LabelSetPath returns the file a label set of that name is read from.
func LabelSetPath(dir, name string) string {
	return filepath.Join(dir, name+".txt")
}

// LoadLabelSet reads the label set name from dir (dir/name.txt), with the
// built-in template set templates.
func LoadLabelSet(dir, name, templates string) (*LabelSet, error) {
	path := LabelSetPath(dir, name)
	data, err := os.ReadFile(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("label set %q not found: no %s", name, path)
		}
		return nil, fmt.Errorf("label set %q: %w", name, err)
	}
	tpl, ok := TemplateSet(templates)
	if !ok {
		return nil, fmt.Errorf("label set %q: unknown template set %q", name, templates)
	}
	set, err := ParseLabelText(data, path)
	if err != nil {
		return nil, err
	}
	set.Name = name
	set.Templates = tpl
	return set, nil
}

// ParseLabelText parses a .txt label file: one class name per line, '#'
// starts a comment, blank lines are ignored. path is used in errors.
func ParseLabelText(data []byte, path string) (*LabelSet, error) {
	if !utf8.Valid(data) {
		return nil, &Error{File: path, Msg: "not valid UTF-8 text"}
	}
	set := &LabelSet{Path: path}
	first := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
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
		name := strings.Join(strings.Fields(text), " ")
		if name == "" {
			continue
		}
		if len(name) > MaxClassLen {
			return nil, &Error{File: path, Line: line, Msg: fmt.Sprintf("class name longer than %d bytes", MaxClassLen)}
		}
		if strings.Contains(name, "{}") {
			return nil, &Error{File: path, Line: line, Msg: fmt.Sprintf("class name %q contains the template marker {}", name)}
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
