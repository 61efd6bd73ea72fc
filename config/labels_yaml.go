package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// ParseLabelYAML parses a .yaml label file:
//
//	templates: default            # a built-in template set, or a list of strings with one {}
//	classes:
//	  - name: person
//	    aliases: [pedestrian, "man or woman"]
//	    threshold: 0.6
//	  - car
//
// templates is optional: without it the set's Templates are nil and the
// caller fills in the configured default (LoadLabelSet does). A class is a
// string or a mapping with name (required), aliases and threshold (a
// probability in (0, 1]). Parsing is strict: unknown keys, empty names,
// duplicate classes (without case, aliases included), templates without
// exactly one {} and duplicate templates are errors that name the file, the
// line and the field, e.g. `yard.yaml:7: classes[3].name: empty class name`.
// The set's Name is left for the caller. path is used in errors.
func ParseLabelYAML(data []byte, path string) (*LabelSet, error) {
	p := &labelYAML{path: path}
	set, err := p.parse(data)
	if err != nil {
		return nil, err
	}
	return set, nil
}

// labelYAML is the state of one ParseLabelYAML call.
type labelYAML struct {
	path string
}

func (p *labelYAML) errorf(n *yaml.Node, field, format string, args ...any) error {
	line := 0
	if n != nil {
		line = n.Line
	}
	return &Error{File: p.path, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)}
}

func (p *labelYAML) parse(data []byte) (*LabelSet, error) {
	if !utf8.Valid(data) {
		return nil, &Error{File: p.path, Msg: "not valid UTF-8 text"}
	}
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Error{File: p.path, Msg: "empty label file: want a mapping with classes (and optionally templates)"}
		}
		return nil, yamlError(p.path, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, p.errorf(&extra, "", "more than one YAML document")
	} else if !errors.Is(err, io.EOF) {
		return nil, yamlError(p.path, err)
	}
	doc := &root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		doc = doc.Content[0]
	}
	if doc.Kind != yaml.MappingNode {
		return nil, p.errorf(doc, "", "the label file must be a mapping with classes (and optionally templates)")
	}
	set := &LabelSet{Path: p.path}
	var classes *yaml.Node
	seen := map[string]int{}
	for i := 0; i+1 < len(doc.Content); i += 2 {
		k, v := doc.Content[i], doc.Content[i+1]
		if prev, dup := seen[k.Value]; dup {
			return nil, p.errorf(k, k.Value, "key defined twice (first on line %d)", prev)
		}
		seen[k.Value] = k.Line
		switch k.Value {
		case "templates":
			tpl, name, err := p.templates(v)
			if err != nil {
				return nil, err
			}
			set.Templates, set.TemplateSet = tpl, name
		case "classes":
			classes = v
		default:
			return nil, p.errorf(k, k.Value, "unknown key %q (want templates or classes)", k.Value)
		}
	}
	if classes == nil {
		return nil, p.errorf(doc, "classes", "required: a list of class names or {name, aliases, threshold}")
	}
	cls, err := p.classes(classes)
	if err != nil {
		return nil, err
	}
	set.Classes = cls
	return set, nil
}

// templates parses the templates value: a built-in set's name or a list.
func (p *labelYAML) templates(v *yaml.Node) ([]string, string, error) {
	switch {
	case v.Kind == yaml.AliasNode:
		return nil, "", p.errorf(v, "templates", "YAML aliases are not supported")
	case v.Kind == yaml.ScalarNode && v.Tag == "!!str":
		tpl, ok := TemplateSet(v.Value)
		if !ok {
			return nil, "", p.errorf(v, "templates", "unknown template set %q (have %s, or give a list of templates with {})", v.Value, strings.Join(TemplateSetNames(), ", "))
		}
		return tpl, v.Value, nil
	case v.Kind == yaml.SequenceNode:
	default:
		return nil, "", p.errorf(v, "templates", "want the name of a built-in template set or a list of templates with {}")
	}
	if len(v.Content) == 0 {
		return nil, "", p.errorf(v, "templates", "empty list: give at least one template with {}")
	}
	first := map[string]int{}
	out := make([]string, 0, len(v.Content))
	for i, n := range v.Content {
		field := fmt.Sprintf("templates[%d]", i)
		if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
			return nil, "", p.errorf(n, field, "want a string with {} where the class name goes")
		}
		t := normalizeName(n.Value)
		if msg := checkTemplate(t); msg != "" {
			return nil, "", p.errorf(n, field, "%s", msg)
		}
		if prev, dup := first[t]; dup {
			return nil, "", p.errorf(n, field, "duplicate template %q (first on line %d)", t, prev)
		}
		first[t] = n.Line
		out = append(out, t)
	}
	return out, "", nil
}

// checkTemplate returns what is wrong with a normalised template, or "".
func checkTemplate(t string) string {
	switch {
	case t == "":
		return "empty template"
	case len(t) > MaxTemplateLen:
		return fmt.Sprintf("template longer than %d bytes", MaxTemplateLen)
	case strings.Count(t, "{}") != 1:
		return fmt.Sprintf("template %q must contain {} exactly once, where the class name goes", t)
	case strings.ContainsFunc(t, unicode.IsControl):
		return fmt.Sprintf("template %q contains a control character", t)
	}
	return ""
}

// classRef says where a class name or alias was first defined.
type classRef struct {
	line  int
	field string
}

// classes parses the classes list.
func (p *labelYAML) classes(v *yaml.Node) ([]Class, error) {
	if v.Kind != yaml.SequenceNode {
		return nil, p.errorf(v, "classes", "want a list of class names or {name, aliases, threshold}")
	}
	if len(v.Content) == 0 {
		return nil, p.errorf(v, "classes", "empty list: give at least one class")
	}
	seen := map[string]classRef{}
	add := func(n *yaml.Node, field, what string) (string, error) {
		if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
			if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
				return "", p.errorf(n, field, "empty %s", what)
			}
			if n.Kind == yaml.ScalarNode {
				return "", p.errorf(n, field, "want a string, got %s %s (quote it if it is a name)", strings.TrimPrefix(n.Tag, "!!"), n.Value)
			}
			return "", p.errorf(n, field, "want a string")
		}
		name := normalizeName(n.Value)
		if name == "" {
			return "", p.errorf(n, field, "empty %s", what)
		}
		if msg := checkName(name, what); msg != "" {
			return "", p.errorf(n, field, "%s", msg)
		}
		key := strings.ToLower(name)
		if prev, dup := seen[key]; dup {
			return "", p.errorf(n, field, "duplicate class %q (first on line %d as %s)", name, prev.line, prev.field)
		}
		seen[key] = classRef{n.Line, field}
		return name, nil
	}
	out := make([]Class, 0, len(v.Content))
	for i, n := range v.Content {
		field := fmt.Sprintf("classes[%d]", i)
		if n.Kind == yaml.ScalarNode {
			name, err := add(n, field, "class name")
			if err != nil {
				return nil, err
			}
			out = append(out, Class{Name: name, Line: n.Line})
			continue
		}
		if n.Kind != yaml.MappingNode {
			return nil, p.errorf(n, field, "want a class name or {name, aliases, threshold}")
		}
		c, err := p.class(n, field, add)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// class parses one class written as a mapping.
func (p *labelYAML) class(n *yaml.Node, field string, add func(*yaml.Node, string, string) (string, error)) (Class, error) {
	c := Class{Line: n.Line}
	var name, aliases, threshold *yaml.Node
	keys := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		f := field + "." + k.Value
		if prev, dup := keys[k.Value]; dup {
			return c, p.errorf(k, f, "key defined twice (first on line %d)", prev)
		}
		keys[k.Value] = k.Line
		switch k.Value {
		case "name":
			name = v
		case "aliases":
			aliases = v
		case "threshold":
			threshold = v
		default:
			return c, p.errorf(k, f, "unknown key %q (want name, aliases or threshold)", k.Value)
		}
	}
	if name == nil {
		return c, p.errorf(n, field+".name", "required")
	}
	var err error
	if c.Name, err = add(name, field+".name", "class name"); err != nil {
		return c, err
	}
	if aliases != nil {
		switch {
		case aliases.Kind == yaml.SequenceNode:
			for i, a := range aliases.Content {
				s, err := add(a, fmt.Sprintf("%s.aliases[%d]", field, i), "alias")
				if err != nil {
					return c, err
				}
				c.Aliases = append(c.Aliases, s)
			}
		case aliases.Kind == yaml.ScalarNode && aliases.Tag == "!!null":
		default:
			return c, p.errorf(aliases, field+".aliases", "want a list of other names of the class")
		}
	}
	if threshold != nil {
		t, err := p.threshold(threshold, field+".threshold")
		if err != nil {
			return c, err
		}
		c.Threshold = t
	}
	return c, nil
}

func (p *labelYAML) threshold(n *yaml.Node, field string) (float64, error) {
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!float" && n.Tag != "!!int") {
		return 0, p.errorf(n, field, "want a probability in (0, 1], got %q", n.Value)
	}
	t, err := strconv.ParseFloat(n.Value, 64)
	if err != nil || math.IsNaN(t) || t <= 0 || t > 1 {
		return 0, p.errorf(n, field, "want a probability in (0, 1], got %s", n.Value)
	}
	return t, nil
}
