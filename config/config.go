// Package config holds the daemon's configuration and its label sets.
//
// Load decodes a YAML file strictly: unknown keys, values of the wrong type and
// invalid settings are errors that name the file, the line and the field, for
// example `demo/config.yaml:7: cameras[0].fps: must be >= 0, got -1`.
// Relative paths in the file resolve against the file's folder.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Config is the daemon configuration. It is an immutable value once Load
// returns: a reload builds a new one.
type Config struct {
	// Path is the file the config was loaded from ("" when built in code).
	Path string `yaml:"-"`

	Device   string   `yaml:"device"`
	Model    Model    `yaml:"model"`
	Cameras  []Camera `yaml:"cameras"`
	Labels   Labels   `yaml:"labels"`
	MQTT     MQTT     `yaml:"mqtt"`
	AutoCLIP AutoCLIP `yaml:"autoclip"`
	Log      Log      `yaml:"log"`

	lines map[string]int
}

// Model says where the CLIP model and the ONNX Runtime library are.
type Model struct {
	// Dir is the model directory (Hugging Face layout).
	Dir string `yaml:"dir"`
	// ONNXRuntime is the path of libonnxruntime.so; "" searches ORT_LIB and
	// the system's library paths.
	ONNXRuntime string `yaml:"onnxruntime"`
	// Threads is ONNX Runtime's intra-op thread count; 0 lets it choose.
	Threads int `yaml:"threads"`
}

// Camera is one frame source.
type Camera struct {
	Name   string  `yaml:"name"`
	Source string  `yaml:"source"`
	Loop   bool    `yaml:"loop"`
	FPS    float64 `yaml:"fps"`
	Labels string  `yaml:"labels"`
}

// Labels says where the label sets are.
type Labels struct {
	// Dir holds NAME.txt files, one label set each.
	Dir string `yaml:"dir"`
	// Templates names the built-in prompt template set used for .txt label
	// files ("default" or "simple").
	Templates string `yaml:"templates"`
}

// MQTT configures the output.
type MQTT struct {
	// URL is tcp://host:port, or "embedded" for the in-process broker.
	URL string `yaml:"url"`
	// Listen is the embedded broker's address (default 127.0.0.1:1883).
	Listen      string `yaml:"listen"`
	TopicPrefix string `yaml:"topic_prefix"`
	ClientID    string `yaml:"client_id"`
	QoS         int    `yaml:"qos"`
	Username    string `yaml:"username"`
	// PasswordFile holds the password (never written in the config itself).
	PasswordFile string `yaml:"password_file"`
	// Top is how many labels each classification message carries.
	Top int `yaml:"top"`
}

// AutoCLIP configures the scoring.
type AutoCLIP struct {
	Method         string  `yaml:"method"`
	Aggregation    string  `yaml:"aggregation"`
	Beta           float64 `yaml:"beta"`
	Scale          float64 `yaml:"scale"`
	LogitScale     float64 `yaml:"logit_scale"`
	PublishWeights bool    `yaml:"publish_weights"`
}

// Log configures logging.
type Log struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level"`
	// Format is text or json.
	Format string `yaml:"format"`
}

// Default values.
const (
	DefaultEmbeddedListen = "127.0.0.1:1883"
	DefaultTopicPrefix    = "autoclipd"
	DefaultTop            = 5
	DefaultBeta           = 0.85
	DefaultTemplates      = "default"
)

// Error is a config error at a place in a file.
type Error struct {
	File  string // file name as given to Load
	Line  int    // 0 when unknown
	Field string // dotted path, e.g. cameras[0].fps; "" for file-level errors
	Msg   string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":")
		b.WriteString(strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Load reads, strictly decodes, defaults and validates the config file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(data, path)
}

// Parse decodes config data read from path (used for messages and for
// resolving relative paths).
func Parse(data []byte, path string) (*Config, error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Error{File: path, Msg: "empty config file"}
		}
		return nil, yamlError(path, err)
	}
	doc := &root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		doc = doc.Content[0]
	}
	if doc.Kind != yaml.MappingNode {
		return nil, &Error{File: path, Line: doc.Line, Msg: "the config must be a mapping of keys to values"}
	}
	lines := map[string]int{}
	if err := checkKeys(path, doc, reflect.TypeOf(Config{}), "", lines); err != nil {
		return nil, err
	}
	cfg := &Config{}
	if err := doc.Decode(cfg); err != nil {
		return nil, yamlError(path, err)
	}
	cfg.Path = path
	cfg.lines = lines
	if err := cfg.finish(); err != nil {
		return nil, err
	}
	return cfg, nil
}

var yamlLineRE = regexp.MustCompile(`line (\d+): (.*)`)

// yamlError turns a yaml.v3 error into a one-line Error with the line number.
func yamlError(path string, err error) error {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "yaml: unmarshal errors:\n")
	msg = strings.TrimPrefix(msg, "yaml: ")
	first := strings.TrimSpace(strings.SplitN(msg, "\n", 2)[0])
	if m := yamlLineRE.FindStringSubmatch(first); m != nil {
		n, _ := strconv.Atoi(m[1])
		return &Error{File: path, Line: n, Msg: m[2]}
	}
	return &Error{File: path, Msg: first}
}

// checkKeys walks the YAML tree against the Go type and reports the first key
// the type does not have. It records the line of every field path in lines.
func checkKeys(file string, n *yaml.Node, t reflect.Type, path string, lines map[string]int) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if path != "" {
		if _, ok := lines[path]; !ok {
			lines[path] = n.Line
		}
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			if n.Tag == "!!null" {
				return nil
			}
			return &Error{File: file, Line: n.Line, Field: path, Msg: "must be a mapping"}
		}
		fields := map[string]reflect.StructField{}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
			if tag == "" || tag == "-" || !f.IsExported() {
				continue
			}
			fields[tag] = f
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			f, ok := fields[k.Value]
			child := join(path, k.Value)
			if !ok {
				return &Error{File: file, Line: k.Line, Field: child, Msg: fmt.Sprintf("unknown key %q", k.Value)}
			}
			lines[child] = k.Line
			if err := checkKeys(file, v, f.Type, child, lines); err != nil {
				return err
			}
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			if n.Tag == "!!null" {
				return nil
			}
			return &Error{File: file, Line: n.Line, Field: path, Msg: "must be a list"}
		}
		for i, item := range n.Content {
			if err := checkKeys(file, item, t.Elem(), fmt.Sprintf("%s[%d]", path, i), lines); err != nil {
				return err
			}
		}
	}
	return nil
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// errorf returns an Error for field, with the line the field was on.
func (c *Config) errorf(field, format string, args ...any) error {
	line := c.lines[field]
	for f := field; line == 0 && f != ""; {
		i := strings.LastIndexAny(f, ".[")
		if i < 0 {
			break
		}
		f = f[:i]
		line = c.lines[f]
	}
	return &Error{File: c.Path, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Line returns the line of a field in the config file, or 0.
func (c *Config) Line(field string) int { return c.lines[field] }

// Errorf returns an error naming the config file, the field's line and the
// field; for errors found after loading (a missing label set, say).
func (c *Config) Errorf(field, format string, args ...any) error {
	return c.errorf(field, format, args...)
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// ValidName reports whether s can name a device, camera or label set: it
// becomes an MQTT topic segment and a file stem.
func ValidName(s string) bool { return nameRE.MatchString(s) && len(s) <= 64 }

// resolve makes p absolute relative to the config file's folder.
func (c *Config) resolve(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	base := "."
	if c.Path != "" {
		base = filepath.Dir(c.Path)
	}
	abs, err := filepath.Abs(filepath.Join(base, p))
	if err != nil {
		return filepath.Join(base, p)
	}
	return abs
}

// isPathSource tells whether a camera source names a file or folder (as
// opposed to a URL, a device or a device index).
func isPathSource(s string) bool {
	if strings.Contains(s, "://") || strings.HasPrefix(s, "/dev/") {
		return false
	}
	if _, err := strconv.Atoi(s); err == nil {
		return false
	}
	return true
}

// finish fills defaults, resolves paths and validates.
func (c *Config) finish() error {
	if c.Device == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "autoclipd"
		}
		c.Device = sanitizeName(h)
	}
	if !ValidName(c.Device) {
		return c.errorf("device", "%q is not a valid name (letters, digits, '_', '.', '-'; at most 64)", c.Device)
	}
	if c.Model.Dir == "" {
		return c.errorf("model.dir", "required")
	}
	c.Model.Dir = c.resolve(c.Model.Dir)
	c.Model.ONNXRuntime = c.resolve(c.Model.ONNXRuntime)
	if c.Model.Threads < 0 {
		return c.errorf("model.threads", "must be >= 0, got %d", c.Model.Threads)
	}
	if c.Labels.Dir == "" {
		return c.errorf("labels.dir", "required")
	}
	c.Labels.Dir = c.resolve(c.Labels.Dir)
	if c.Labels.Templates == "" {
		c.Labels.Templates = DefaultTemplates
	}
	if _, ok := TemplateSet(c.Labels.Templates); !ok {
		return c.errorf("labels.templates", "unknown template set %q (have %s)", c.Labels.Templates, strings.Join(TemplateSetNames(), ", "))
	}
	if len(c.Cameras) == 0 {
		return c.errorf("cameras", "at least one camera is required")
	}
	seen := map[string]int{}
	for i := range c.Cameras {
		cam := &c.Cameras[i]
		p := fmt.Sprintf("cameras[%d]", i)
		if cam.Name == "" {
			return c.errorf(p+".name", "required")
		}
		if !ValidName(cam.Name) {
			return c.errorf(p+".name", "%q is not a valid name (letters, digits, '_', '.', '-'; at most 64)", cam.Name)
		}
		if j, dup := seen[cam.Name]; dup {
			return c.errorf(p+".name", "duplicate camera %q (also cameras[%d])", cam.Name, j)
		}
		seen[cam.Name] = i
		if cam.Source == "" {
			return c.errorf(p+".source", "required")
		}
		if isPathSource(cam.Source) {
			cam.Source = c.resolve(cam.Source)
		} else if strings.Contains(cam.Source, "://") {
			u, err := url.Parse(cam.Source)
			if err != nil || u.Host == "" {
				return c.errorf(p+".source", "invalid URL %q", cam.Source)
			}
		}
		if math.IsNaN(cam.FPS) || cam.FPS < 0 || math.IsInf(cam.FPS, 0) {
			return c.errorf(p+".fps", "must be a number >= 0 (0 = no limit), got %v", cam.FPS)
		}
		if cam.Labels == "" {
			return c.errorf(p+".labels", "required: the name of a label set in labels.dir")
		}
		if !ValidName(cam.Labels) {
			return c.errorf(p+".labels", "%q is not a valid label set name", cam.Labels)
		}
	}
	if c.MQTT.URL == "" {
		c.MQTT.URL = "embedded"
	}
	if c.MQTT.URL != "embedded" {
		u, err := url.Parse(c.MQTT.URL)
		if err != nil || u.Host == "" {
			return c.errorf("mqtt.url", "want \"embedded\" or tcp://host:port, got %q", c.MQTT.URL)
		}
		switch u.Scheme {
		case "tcp", "mqtt":
		default:
			return c.errorf("mqtt.url", "unsupported scheme %q (want tcp:// or mqtt://)", u.Scheme)
		}
	}
	if c.MQTT.Listen == "" {
		c.MQTT.Listen = DefaultEmbeddedListen
	}
	if c.MQTT.TopicPrefix == "" {
		c.MQTT.TopicPrefix = DefaultTopicPrefix
	}
	for _, seg := range strings.Split(c.MQTT.TopicPrefix, "/") {
		if seg == "" || strings.ContainsAny(seg, "+#") {
			return c.errorf("mqtt.topic_prefix", "%q is not a valid topic prefix (no empty segments, '+' or '#')", c.MQTT.TopicPrefix)
		}
	}
	if c.MQTT.QoS < 0 || c.MQTT.QoS > 2 {
		return c.errorf("mqtt.qos", "must be 0, 1 or 2, got %d", c.MQTT.QoS)
	}
	c.MQTT.PasswordFile = c.resolve(c.MQTT.PasswordFile)
	if c.MQTT.Top == 0 {
		c.MQTT.Top = DefaultTop
	}
	if c.MQTT.Top < 1 {
		return c.errorf("mqtt.top", "must be >= 1, got %d", c.MQTT.Top)
	}
	if err := c.AutoCLIP.finish(c); err != nil {
		return err
	}
	switch c.Log.Level {
	case "":
		c.Log.Level = "info"
	case "debug", "info", "warn", "error":
	default:
		return c.errorf("log.level", "want debug, info, warn or error, got %q", c.Log.Level)
	}
	switch c.Log.Format {
	case "":
		c.Log.Format = "text"
	case "text", "json":
	default:
		return c.errorf("log.format", "want text or json, got %q", c.Log.Format)
	}
	return nil
}

func sanitizeName(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '.', r == '-':
			b.WriteRune(r)
		default:
			b.WriteRune('-')
		}
	}
	out := strings.TrimLeft(b.String(), "-_.")
	if out == "" {
		return "autoclipd"
	}
	if len(out) > 64 {
		out = out[:64]
	}
	return out
}
