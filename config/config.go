// Package config holds the daemon's configuration and its label sets.
//
// Load decodes a YAML file strictly: unknown keys, values of the wrong type and
// invalid settings are errors that name the file, the line and the field, for
// example `demo/config.yaml:7: cameras[0].fps: must be >= 0, got -1`.
// Relative paths in the file resolve against the file's folder. Parse
// reports every problem it finds (Errors), not only the first; Check adds
// the label files and the paths that must exist, for check-config.
//
// Label sets are NAME.txt or NAME.yaml files in labels.dir (LoadLabelSet,
// LoadLabelDir, ParseLabelText, ParseLabelYAML); a LabelWatcher reports
// their changes, debounced, for hot reload.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"gopkg.in/yaml.v3"
)

// Config is the daemon configuration. It is an immutable value once Load
// returns: a reload builds a new one.
type Config struct {
	// Path is the file the config was loaded from ("" when built in code).
	Path string `yaml:"-"`

	Device string `yaml:"device"`
	// StateDir holds state kept across restarts (the MQTT queue, say).
	// Default: $STATE_DIRECTORY (systemd), else $XDG_STATE_HOME/autoclipd,
	// else ~/.local/state/autoclipd. Relative paths resolve against the
	// config file's folder, like every path in the file.
	StateDir string `yaml:"state_dir"`
	// CacheDir holds caches (text embeddings, TensorRT engines). Default:
	// $CACHE_DIRECTORY (systemd), else $XDG_CACHE_HOME/autoclipd, else
	// ~/.cache/autoclipd.
	CacheDir string `yaml:"cache_dir"`
	// ShutdownTimeout bounds the shutdown (default 5s).
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`

	Model         Model         `yaml:"model"`
	Inference     Inference     `yaml:"inference"`
	Cameras       []Camera      `yaml:"cameras"`
	Labels        Labels        `yaml:"labels"`
	MQTT          MQTT          `yaml:"mqtt"`
	Events        Events        `yaml:"events"`
	HomeAssistant HomeAssistant `yaml:"homeassistant"`
	HTTP          HTTP          `yaml:"http"`
	AutoCLIP      AutoCLIP      `yaml:"autoclip"`
	Log           Log           `yaml:"log"`

	lines map[string]int
}

// Model says where the CLIP model and the ONNX Runtime library are and how
// ONNX Runtime runs it.
type Model struct {
	// Dir is the model directory (Hugging Face layout).
	Dir string `yaml:"dir"`
	// Variant picks one of the model's ONNX files (e.g. "fp16"); "" is the
	// plain one. It is a name, not a path.
	Variant string `yaml:"variant"`
	// ONNXRuntime is the path of libonnxruntime.so; "" searches ORT_LIB and
	// the system's library paths.
	ONNXRuntime string `yaml:"onnxruntime"`
	// Providers are ONNX Runtime execution providers in order of preference,
	// each one of tensorrt, cuda, cpu (default all three in that order).
	Providers []string `yaml:"providers"`
	// DeviceID is the GPU used by the tensorrt and cuda providers.
	DeviceID int `yaml:"device_id"`
	// Threads is ONNX Runtime's intra-op thread count; 0 lets it choose.
	Threads int `yaml:"threads"`
	// GraphOptimization is disable, basic, extended or all (default all).
	GraphOptimization string `yaml:"graph_optimization"`
	// Spinning lets ONNX Runtime's idle intra-op threads spin waiting for
	// work (its own default). Off here: spinning threads take the CPU that
	// decoding and preprocessing need on a small board.
	Spinning bool `yaml:"spinning"`
	// CacheDir holds provider caches such as TensorRT engines (default
	// CACHE_DIR/onnxruntime).
	CacheDir string `yaml:"cache_dir"`
}

// Inference configures batching of frames from several cameras.
type Inference struct {
	// BatchWindow is how long the first frame of a batch waits for others
	// (default 5ms; 0 does not wait).
	BatchWindow time.Duration `yaml:"batch_window"`
	// MaxBatch is the most frames encoded at once (default 4).
	MaxBatch int `yaml:"max_batch"`
}

// Camera is one frame source.
type Camera struct {
	Name string `yaml:"name"`
	// Enabled: a disabled camera is not opened (default true).
	Enabled bool   `yaml:"enabled"`
	Source  string `yaml:"source"`
	// Loop replays a file or folder source at its end; streams and devices
	// cannot loop.
	Loop   bool    `yaml:"loop"`
	FPS    float64 `yaml:"fps"`
	Labels string  `yaml:"labels"`
	// ROI is the part of the frame classified; nil is the whole frame.
	ROI *ROI `yaml:"roi"`
	// Rotate turns frames clockwise by 0, 90, 180 or 270 degrees; ROI
	// fractions refer to the rotated frame.
	Rotate int `yaml:"rotate"`
	// Width, Height and FourCC ask a device for a mode; 0 and "" leave the
	// device's default.
	Width  int    `yaml:"width"`
	Height int    `yaml:"height"`
	FourCC string `yaml:"fourcc"`
	// StallTimeout: a source without a frame for this long is reopened
	// (default 10s).
	StallTimeout time.Duration `yaml:"stall_timeout"`
	// Reconnect is the backoff between attempts to reopen a failed source.
	Reconnect Backoff `yaml:"reconnect"`
	// Snapshot publishes a JPEG of the frame with its classification.
	Snapshot bool `yaml:"snapshot"`
	// DecodeScale is how Motion JPEG files and streams are decoded: "auto"
	// (the default) at the largest of 1/2, 1/4, 1/8 that leaves the model's
	// input size on the short side of the ROI, "1" always in full, or "2",
	// "4", "8" at that reduction. Frames and snapshots come out at the
	// decoded size. Other codecs and V4L2 devices are decoded in full.
	DecodeScale string `yaml:"decode_scale"`
}

// DecodeScaleAuto is Camera.DecodeScale's default.
const DecodeScaleAuto = "auto"

// Scale is c.DecodeScale as a number: 0 for auto (and the empty default),
// else 1, 2, 4 or 8; -1 for anything else (Check reports it).
func (c Camera) Scale() int {
	switch c.DecodeScale {
	case "", DecodeScaleAuto:
		return 0
	case "1":
		return 1
	case "2":
		return 2
	case "4":
		return 4
	case "8":
		return 8
	}
	return -1
}

// ROI is a region of interest as fractions of the frame: X and Y of the top
// left corner, W and H the size, each in [0, 1] with X+W <= 1 and Y+H <= 1.
type ROI struct {
	X float64 `yaml:"x"`
	Y float64 `yaml:"y"`
	W float64 `yaml:"w"`
	H float64 `yaml:"h"`
}

// Backoff is an exponential backoff from Min up to Max.
type Backoff struct {
	Min time.Duration `yaml:"min"`
	Max time.Duration `yaml:"max"`
}

// Labels says where the label sets are.
type Labels struct {
	// Dir holds NAME.txt and NAME.yaml files, one label set each.
	Dir string `yaml:"dir"`
	// Templates names the built-in prompt template set used for label
	// files that choose none ("default" or "simple").
	Templates string `yaml:"templates"`
}

// MQTT configures the output.
type MQTT struct {
	// URL is tcp://host:port (or mqtt://, ssl://, tls://, mqtts://, ws://,
	// wss://), or "embedded" for the in-process broker.
	URL string `yaml:"url"`
	// Listen is the embedded broker's address (default 127.0.0.1:1883).
	Listen      string `yaml:"listen"`
	TopicPrefix string `yaml:"topic_prefix"`
	ClientID    string `yaml:"client_id"`
	// QoS of classification messages, 0 to 2.
	QoS int `yaml:"qos"`
	// EventsQoS is the QoS of event messages, 0 to 2 (default 1).
	EventsQoS int    `yaml:"events_qos"`
	Username  string `yaml:"username"`
	// PasswordFile holds the password (never written in the config itself).
	// It must exist.
	PasswordFile string `yaml:"password_file"`
	// Top is how many labels each classification message carries.
	Top int `yaml:"top"`
	// Classifications is all (every frame), changes (only when the top
	// label changes) or off (default all).
	Classifications string `yaml:"classifications"`
	// MaxRate limits classification messages per second per camera; 0 is
	// no limit.
	MaxRate float64 `yaml:"max_rate"`
	// Queue is how many messages are kept while the broker is unreachable
	// (default 10000).
	Queue int `yaml:"queue"`
	// QueueDir keeps the queue on disk; "" keeps it in memory.
	QueueDir string `yaml:"queue_dir"`
	// TLS for ssl://, tls://, mqtts:// and wss:// URLs.
	TLS TLS `yaml:"tls"`
}

// TLS configures the broker connection's TLS. Files resolve against the
// config's folder and must exist; Cert and Key go together.
type TLS struct {
	CA                 string `yaml:"ca"`
	Cert               string `yaml:"cert"`
	Key                string `yaml:"key"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// Enabled reports whether any TLS setting is made.
func (t TLS) Enabled() bool {
	return t.CA != "" || t.Cert != "" || t.Key != "" || t.InsecureSkipVerify
}

// Events configures event detection.
type Events struct {
	// MinFrames is how many consecutive frames a class must pass its
	// threshold (or stop passing it) before an event starts (ends).
	// Default 3.
	MinFrames int `yaml:"min_frames"`
}

// HomeAssistant configures MQTT discovery messages for Home Assistant.
type HomeAssistant struct {
	Enabled bool `yaml:"enabled"`
	// Prefix is the discovery topic prefix (default homeassistant).
	Prefix string `yaml:"prefix"`
}

// HTTP configures the metrics and health server.
type HTTP struct {
	// Listen is host:port (default 127.0.0.1:9464); "" or "off" in the
	// file disables the server, and Listen is "" then.
	Listen string `yaml:"listen"`
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
	DefaultEmbeddedListen    = "127.0.0.1:1883"
	DefaultTopicPrefix       = "autoclipd"
	DefaultTop               = 5
	DefaultBeta              = 0.85
	DefaultTemplates         = "default"
	DefaultShutdownTimeout   = 5 * time.Second
	DefaultBatchWindow       = 5 * time.Millisecond
	DefaultMaxBatch          = 4
	DefaultStallTimeout      = 10 * time.Second
	DefaultReconnectMin      = time.Second
	DefaultReconnectMax      = 30 * time.Second
	DefaultGraphOptimization = "all"
	DefaultClassifications   = "all"
	DefaultQueue             = 10000
	DefaultEventsQoS         = 1
	DefaultMinFrames         = 3
	DefaultHomeAssistant     = "homeassistant"
	DefaultHTTPListen        = "127.0.0.1:9464"
)

// DefaultProviders are the ONNX Runtime execution providers tried in order.
func DefaultProviders() []string { return []string{"tensorrt", "cuda", "cpu"} }

// Error is a config error at a place in a file.
type Error struct {
	File  string // file name as given to Load
	Line  int    // 0 when unknown
	Field string // dotted path, e.g. cameras[0].fps; "" for file-level errors
	Msg   string
}

// Error formats the error as file:line: field: message, leaving out the
// line and the field when they are unknown.
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

// Errors is every problem found in one file, in the order found. Load and
// Parse return a single *Error when there is one problem and Errors when
// there are more.
type Errors []*Error

// Error lists the problems, one per line.
func (e Errors) Error() string {
	lines := make([]string, len(e))
	for i, err := range e {
		lines[i] = err.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the problems for errors.As and errors.Is.
func (e Errors) Unwrap() []error {
	out := make([]error, len(e))
	for i, err := range e {
		out[i] = err
	}
	return out
}

// Problems returns every *Error in err (an *Error, Errors or a wrapping of
// them) in order, or err itself when it holds none.
func Problems(err error) []error {
	if err == nil {
		return nil
	}
	var list Errors
	if errors.As(err, &list) {
		return list.Unwrap()
	}
	return []error{err}
}

// errs collects the problems of one file.
type errs struct{ list Errors }

func (e *errs) add(err error) {
	if err == nil {
		return
	}
	var ce *Error
	if errors.As(err, &ce) {
		e.list = append(e.list, ce)
		return
	}
	e.list = append(e.list, &Error{Msg: err.Error()})
}

func (e *errs) err() error {
	switch len(e.list) {
	case 0:
		return nil
	case 1:
		return e.list[0]
	}
	return e.list
}

// Load reads, strictly decodes, defaults and validates the config file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{File: path, Msg: unwrapPathError(err)}
	}
	return Parse(data, path)
}

// Parse decodes config data read from path (used for messages and for
// resolving relative paths). It reports every problem it finds, not only
// the first.
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
	var problems errs
	lines := map[string]int{}
	checkKeys(path, doc, reflect.TypeOf(Config{}), "", lines, &problems)
	cfg := &Config{}
	if err := doc.Decode(cfg); err != nil {
		// Values of the wrong type (and duplicate keys): report them, except
		// on lines checkKeys has reported already, and stop: the defaults
		// and checks would complain about the values that did not decode.
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			problems.add(yamlError(path, err))
			return nil, problems.err()
		}
		reported := map[int]bool{}
		for _, e := range problems.list {
			reported[e.Line] = true
		}
		for _, msg := range te.Errors {
			ye := yamlError(path, errors.New(msg)).(*Error)
			if !reported[ye.Line] || ye.Line == 0 {
				problems.add(ye)
			}
		}
		return nil, problems.err()
	}
	cfg.Path = path
	cfg.lines = lines
	cfg.finish(&problems)
	if err := problems.err(); err != nil {
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

var durationType = reflect.TypeOf(time.Duration(0))

// checkKeys walks the YAML tree against the Go type and reports every key
// the type does not have. It records the line of
// every field path in lines.
func checkKeys(file string, n *yaml.Node, t reflect.Type, path string, lines map[string]int, problems *errs) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if path != "" {
		if _, ok := lines[path]; !ok {
			lines[path] = n.Line
		}
	}
	if n.Kind == yaml.AliasNode {
		problems.add(&Error{File: file, Line: n.Line, Field: path, Msg: "YAML aliases are not supported"})
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			if n.Tag != "!!null" {
				problems.add(&Error{File: file, Line: n.Line, Field: path, Msg: "must be a mapping"})
			}
			return
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
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			child := join(path, k.Value)
			if seen[k.Value] {
				continue // yaml.v3 reports it
			}
			seen[k.Value] = true
			f, ok := fields[k.Value]
			if !ok {
				problems.add(&Error{File: file, Line: k.Line, Field: child, Msg: fmt.Sprintf("unknown key %q", k.Value)})
				continue
			}
			lines[child] = k.Line
			checkKeys(file, v, f.Type, child, lines, problems)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			if n.Tag != "!!null" {
				problems.add(&Error{File: file, Line: n.Line, Field: path, Msg: "must be a list"})
			}
			return
		}
		for i, item := range n.Content {
			checkKeys(file, item, t.Elem(), fmt.Sprintf("%s[%d]", path, i), lines, problems)
		}
	default:
		if t == durationType && n.Kind == yaml.ScalarNode && n.Tag == "!!int" && n.Value != "0" {
			problems.add(&Error{File: file, Line: n.Line, Field: path, Msg: fmt.Sprintf("want a duration with a unit such as 5ms, 10s or 1m, got %s", n.Value)})
		}
	}
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

// has reports whether the file sets field.
func (c *Config) has(field string) bool {
	_, ok := c.lines[field]
	return ok
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
	abs, err := filepath.Abs(filepath.Join(c.dir(), p))
	if err != nil {
		return filepath.Join(c.dir(), p)
	}
	return abs
}

// dir is the config file's folder.
func (c *Config) dir() string {
	if c.Path == "" {
		return "."
	}
	return filepath.Dir(c.Path)
}

// SourceKind says what a camera source is.
type SourceKind int

// Source kinds.
const (
	SourcePath   SourceKind = iota // a file or a folder of files
	SourceDevice                   // /dev/videoN or a device index
	SourceStream                   // a URL: rtsp://, http://, ...
)

// Kind tells what the camera's source is.
func (cam *Camera) Kind() SourceKind {
	s := cam.Source
	if strings.Contains(s, "://") {
		return SourceStream
	}
	if strings.HasPrefix(s, "/dev/") {
		return SourceDevice
	}
	if _, err := strconv.Atoi(s); err == nil {
		return SourceDevice
	}
	return SourcePath
}

// isPathSource tells whether a camera source names a file or folder (as
// opposed to a URL, a device or a device index).
func isPathSource(s string) bool { return (&Camera{Source: s}).Kind() == SourcePath }

const nameHelp = "letters, digits, '_', '.', '-'; at most 64"

// finish fills defaults, resolves paths and validates, adding every problem
// to problems.
func (c *Config) finish(problems *errs) {
	add := problems.add
	if c.Device == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "autoclipd"
		}
		c.Device = sanitizeName(h)
	}
	if !ValidName(c.Device) {
		add(c.errorf("device", "%q is not a valid name (%s)", c.Device, nameHelp))
	}
	c.finishDirs(add)
	c.finishModel(add)
	if c.Inference.BatchWindow < 0 {
		add(c.errorf("inference.batch_window", "must be >= 0, got %v", c.Inference.BatchWindow))
	}
	if !c.has("inference.batch_window") {
		c.Inference.BatchWindow = DefaultBatchWindow
	}
	switch {
	case c.Inference.MaxBatch == 0 && !c.has("inference.max_batch"):
		c.Inference.MaxBatch = DefaultMaxBatch
	case c.Inference.MaxBatch < 1 || c.Inference.MaxBatch > 256:
		add(c.errorf("inference.max_batch", "must be in [1, 256], got %d", c.Inference.MaxBatch))
	}
	if c.Labels.Dir == "" {
		add(c.errorf("labels.dir", "required"))
	}
	c.Labels.Dir = c.resolve(c.Labels.Dir)
	if c.Labels.Templates == "" {
		c.Labels.Templates = DefaultTemplates
	}
	if _, ok := TemplateSet(c.Labels.Templates); !ok {
		add(c.errorf("labels.templates", "unknown template set %q (have %s)", c.Labels.Templates, strings.Join(TemplateSetNames(), ", ")))
	}
	c.finishCameras(add)
	c.finishMQTT(add)
	if c.Events.MinFrames == 0 && !c.has("events.min_frames") {
		c.Events.MinFrames = DefaultMinFrames
	}
	if c.Events.MinFrames < 1 {
		add(c.errorf("events.min_frames", "must be >= 1, got %d", c.Events.MinFrames))
	}
	if c.HomeAssistant.Prefix == "" {
		c.HomeAssistant.Prefix = DefaultHomeAssistant
	}
	if msg := checkTopic(c.HomeAssistant.Prefix); msg != "" {
		add(c.errorf("homeassistant.prefix", "%q %s", c.HomeAssistant.Prefix, msg))
	}
	switch {
	case !c.has("http.listen"):
		c.HTTP.Listen = DefaultHTTPListen
	case c.HTTP.Listen == "off":
		c.HTTP.Listen = ""
	}
	if c.HTTP.Listen != "" {
		if msg := checkHostPort(c.HTTP.Listen); msg != "" {
			add(c.errorf("http.listen", "%q %s (or \"off\")", c.HTTP.Listen, msg))
		}
	}
	add(c.AutoCLIP.finish(c))
	switch c.Log.Level {
	case "":
		c.Log.Level = "info"
	case "debug", "info", "warn", "error":
	default:
		add(c.errorf("log.level", "want debug, info, warn or error, got %q", c.Log.Level))
	}
	switch c.Log.Format {
	case "":
		c.Log.Format = "text"
	case "text", "json":
	default:
		add(c.errorf("log.format", "want text or json, got %q", c.Log.Format))
	}
}

// finishDirs fills state_dir, cache_dir and shutdown_timeout.
func (c *Config) finishDirs(add func(error)) {
	home, _ := os.UserHomeDir()
	c.StateDir = c.resolve(c.StateDir)
	if c.StateDir == "" {
		c.StateDir = defaultDir("STATE_DIRECTORY", "XDG_STATE_HOME", home, filepath.Join(".local", "state"))
	}
	c.CacheDir = c.resolve(c.CacheDir)
	if c.CacheDir == "" {
		c.CacheDir = defaultDir("CACHE_DIRECTORY", "XDG_CACHE_HOME", home, ".cache")
	}
	if c.StateDir == "" {
		add(c.errorf("state_dir", "required: no $STATE_DIRECTORY, $XDG_STATE_HOME or home folder to default to"))
	}
	if c.CacheDir == "" {
		add(c.errorf("cache_dir", "required: no $CACHE_DIRECTORY, $XDG_CACHE_HOME or home folder to default to"))
	}
	switch {
	case c.ShutdownTimeout < 0 || (c.ShutdownTimeout == 0 && c.has("shutdown_timeout")):
		add(c.errorf("shutdown_timeout", "must be > 0, got %v", c.ShutdownTimeout))
	case c.ShutdownTimeout == 0:
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
}

// defaultDir is $systemdVar's first entry, else $xdgVar/autoclipd, else
// home/homeRel/autoclipd, else "".
func defaultDir(systemdVar, xdgVar, home, homeRel string) string {
	if v := os.Getenv(systemdVar); v != "" {
		return filepath.Clean(strings.Split(v, ":")[0])
	}
	if v := os.Getenv(xdgVar); filepath.IsAbs(v) {
		return filepath.Join(v, "autoclipd")
	}
	if home != "" {
		return filepath.Join(home, homeRel, "autoclipd")
	}
	return ""
}

var providerNames = []string{"tensorrt", "cuda", "cpu"}

func (c *Config) finishModel(add func(error)) {
	m := &c.Model
	if m.Dir == "" {
		add(c.errorf("model.dir", "required"))
	}
	m.Dir = c.resolve(m.Dir)
	m.ONNXRuntime = c.resolve(m.ONNXRuntime)
	if m.Variant != "" && !ValidName(m.Variant) {
		add(c.errorf("model.variant", "%q is not a valid variant name (%s)", m.Variant, nameHelp))
	}
	if m.Providers == nil && !c.has("model.providers") {
		m.Providers = DefaultProviders()
	}
	if len(m.Providers) == 0 {
		add(c.errorf("model.providers", "empty: list at least one of %s", strings.Join(providerNames, ", ")))
	}
	seen := map[string]bool{}
	for i, p := range m.Providers {
		f := fmt.Sprintf("model.providers[%d]", i)
		if !slices.Contains(providerNames, p) {
			add(c.errorf(f, "unknown execution provider %q (want %s)", p, strings.Join(providerNames, ", ")))
		} else if seen[p] {
			add(c.errorf(f, "provider %q listed twice", p))
		}
		seen[p] = true
	}
	if m.DeviceID < 0 {
		add(c.errorf("model.device_id", "must be >= 0, got %d", m.DeviceID))
	}
	if m.Threads < 0 {
		add(c.errorf("model.threads", "must be >= 0, got %d", m.Threads))
	}
	switch m.GraphOptimization {
	case "":
		m.GraphOptimization = DefaultGraphOptimization
	case "disable", "basic", "extended", "all":
	default:
		add(c.errorf("model.graph_optimization", "want disable, basic, extended or all, got %q", m.GraphOptimization))
	}
	m.CacheDir = c.resolve(m.CacheDir)
	if m.CacheDir == "" && c.CacheDir != "" {
		m.CacheDir = filepath.Join(c.CacheDir, "onnxruntime")
	}
}

func (c *Config) finishCameras(add func(error)) {
	if len(c.Cameras) == 0 {
		add(c.errorf("cameras", "at least one camera is required"))
	}
	seen := map[string]int{}
	for i := range c.Cameras {
		cam := &c.Cameras[i]
		p := fmt.Sprintf("cameras[%d]", i)
		if !c.has(p + ".enabled") {
			cam.Enabled = true
		}
		switch {
		case cam.Name == "":
			add(c.errorf(p+".name", "required"))
		case !ValidName(cam.Name):
			add(c.errorf(p+".name", "%q is not a valid name (%s)", cam.Name, nameHelp))
		default:
			if j, dup := seen[cam.Name]; dup {
				add(c.errorf(p+".name", "duplicate camera %q (also cameras[%d])", cam.Name, j))
			} else {
				seen[cam.Name] = i
			}
		}
		kind := cam.Kind()
		switch {
		case cam.Source == "":
			add(c.errorf(p+".source", "required"))
		case kind == SourcePath:
			cam.Source = c.resolve(cam.Source)
		case kind == SourceStream:
			u, err := url.Parse(cam.Source)
			if err != nil || u.Host == "" {
				add(c.errorf(p+".source", "invalid URL %q", redactURL(cam.Source)))
			}
		}
		if cam.Loop && cam.Source != "" && kind != SourcePath {
			what := "a stream"
			if kind == SourceDevice {
				what = "a device"
			}
			add(c.errorf(p+".loop", "the source is %s: only file and folder sources can loop", what))
		}
		if math.IsNaN(cam.FPS) || cam.FPS < 0 || math.IsInf(cam.FPS, 0) {
			add(c.errorf(p+".fps", "must be a number >= 0 (0 = no limit), got %v", cam.FPS))
		}
		switch {
		case cam.Labels == "":
			add(c.errorf(p+".labels", "required: the name of a label set in labels.dir"))
		case !ValidName(cam.Labels):
			add(c.errorf(p+".labels", "%q is not a valid label set name", cam.Labels))
		}
		if cam.ROI != nil {
			c.checkROI(p+".roi", cam.ROI, add)
		}
		switch cam.Rotate {
		case 0, 90, 180, 270:
		default:
			add(c.errorf(p+".rotate", "want 0, 90, 180 or 270 (degrees clockwise), got %d", cam.Rotate))
		}
		if cam.Scale() < 0 {
			add(c.errorf(p+".decode_scale", "want auto, 1, 2, 4 or 8, got %q", cam.DecodeScale))
		}
		for _, d := range []struct {
			f string
			v int
		}{{".width", cam.Width}, {".height", cam.Height}} {
			if d.v < 0 || d.v > 16384 {
				add(c.errorf(p+d.f, "must be in [0, 16384] (0 = the device's default), got %d", d.v))
			}
		}
		if cam.FourCC != "" && (len(cam.FourCC) != 4 || strings.IndexFunc(cam.FourCC, func(r rune) bool { return r < 0x20 || r > 0x7e }) >= 0) {
			add(c.errorf(p+".fourcc", "want 4 printable ASCII characters such as MJPG or YUYV, got %q", cam.FourCC))
		}
		switch {
		case cam.StallTimeout < 0 || (cam.StallTimeout == 0 && c.has(p+".stall_timeout")):
			add(c.errorf(p+".stall_timeout", "must be > 0, got %v", cam.StallTimeout))
		case cam.StallTimeout == 0:
			cam.StallTimeout = DefaultStallTimeout
		}
		r := &cam.Reconnect
		if r.Min < 0 || (r.Min == 0 && c.has(p+".reconnect.min")) {
			add(c.errorf(p+".reconnect.min", "must be > 0, got %v", r.Min))
		} else if r.Min == 0 {
			r.Min = DefaultReconnectMin
		}
		if r.Max < 0 || (r.Max == 0 && c.has(p+".reconnect.max")) {
			add(c.errorf(p+".reconnect.max", "must be > 0, got %v", r.Max))
		} else if r.Max == 0 {
			r.Max = max(DefaultReconnectMax, r.Min)
		}
		if r.Min > 0 && r.Max > 0 && r.Max < r.Min {
			add(c.errorf(p+".reconnect.max", "%v is less than reconnect.min %v", r.Max, r.Min))
		}
	}
}

func (c *Config) checkROI(p string, r *ROI, add func(error)) {
	for _, v := range []struct {
		f string
		v float64
	}{{"x", r.X}, {"y", r.Y}, {"w", r.W}, {"h", r.H}} {
		if math.IsNaN(v.v) || v.v < 0 || v.v > 1 {
			add(c.errorf(p+"."+v.f, "must be a fraction of the frame in [0, 1], got %v", v.v))
			return
		}
	}
	const eps = 1e-9
	switch {
	case r.W == 0:
		add(c.errorf(p+".w", "must be > 0"))
	case r.H == 0:
		add(c.errorf(p+".h", "must be > 0"))
	case r.X+r.W > 1+eps:
		add(c.errorf(p, "x + w = %v goes past the right edge (must be <= 1)", r.X+r.W))
	case r.Y+r.H > 1+eps:
		add(c.errorf(p, "y + h = %v goes past the bottom edge (must be <= 1)", r.Y+r.H))
	}
}

func (c *Config) finishMQTT(add func(error)) {
	m := &c.MQTT
	if m.URL == "" {
		m.URL = "embedded"
	}
	tlsScheme := false
	if m.URL != "embedded" {
		u, err := url.Parse(m.URL)
		if err != nil || u.Host == "" {
			add(c.errorf("mqtt.url", "want \"embedded\" or tcp://host:port, got %q", redactURL(m.URL)))
		} else {
			switch u.Scheme {
			case "tcp", "mqtt", "ws":
			case "ssl", "tls", "mqtts", "wss":
				tlsScheme = true
			default:
				add(c.errorf("mqtt.url", "unsupported scheme %q (want tcp://, mqtt://, ssl://, tls://, mqtts://, ws:// or wss://)", u.Scheme))
			}
			if u.User != nil {
				add(c.errorf("mqtt.url", "must not hold a user or password: use mqtt.username and mqtt.password_file"))
			}
		}
	}
	if m.Listen == "" {
		m.Listen = DefaultEmbeddedListen
	}
	if msg := checkHostPort(m.Listen); msg != "" {
		add(c.errorf("mqtt.listen", "%q %s", m.Listen, msg))
	}
	if m.TopicPrefix == "" {
		m.TopicPrefix = DefaultTopicPrefix
	}
	if msg := checkTopic(m.TopicPrefix); msg != "" {
		add(c.errorf("mqtt.topic_prefix", "%q %s", m.TopicPrefix, msg))
	}
	if m.QoS < 0 || m.QoS > 2 {
		add(c.errorf("mqtt.qos", "must be 0, 1 or 2, got %d", m.QoS))
	}
	if !c.has("mqtt.events_qos") {
		m.EventsQoS = DefaultEventsQoS
	}
	if m.EventsQoS < 0 || m.EventsQoS > 2 {
		add(c.errorf("mqtt.events_qos", "must be 0, 1 or 2, got %d", m.EventsQoS))
	}
	m.PasswordFile = c.resolve(m.PasswordFile)
	if m.PasswordFile != "" {
		add(c.checkFile("mqtt.password_file", m.PasswordFile))
	}
	if m.Top == 0 {
		m.Top = DefaultTop
	}
	if m.Top < 1 {
		add(c.errorf("mqtt.top", "must be >= 1, got %d", m.Top))
	}
	switch m.Classifications {
	case "":
		m.Classifications = DefaultClassifications
	case "all", "changes", "off":
	default:
		add(c.errorf("mqtt.classifications", "want all, changes or off, got %q", m.Classifications))
	}
	if math.IsNaN(m.MaxRate) || math.IsInf(m.MaxRate, 0) || m.MaxRate < 0 {
		add(c.errorf("mqtt.max_rate", "must be messages per second >= 0 (0 = no limit), got %v", m.MaxRate))
	}
	switch {
	case m.Queue == 0 && !c.has("mqtt.queue"):
		m.Queue = DefaultQueue
	case m.Queue < 1:
		add(c.errorf("mqtt.queue", "must be >= 1, got %d", m.Queue))
	}
	m.QueueDir = c.resolve(m.QueueDir)
	t := &m.TLS
	t.CA, t.Cert, t.Key = c.resolve(t.CA), c.resolve(t.Cert), c.resolve(t.Key)
	for _, f := range []struct{ field, path string }{{"mqtt.tls.ca", t.CA}, {"mqtt.tls.cert", t.Cert}, {"mqtt.tls.key", t.Key}} {
		if f.path != "" {
			add(c.checkFile(f.field, f.path))
		}
	}
	if (t.Cert == "") != (t.Key == "") {
		if t.Cert == "" {
			add(c.errorf("mqtt.tls.key", "set without mqtt.tls.cert: give both or neither"))
		} else {
			add(c.errorf("mqtt.tls.cert", "set without mqtt.tls.key: give both or neither"))
		}
	}
	if t.Enabled() && m.URL != "embedded" && !tlsScheme && strings.Contains(m.URL, "://") {
		add(c.errorf("mqtt.tls", "set but mqtt.url %q does not use TLS (use ssl://, mqtts:// or wss://)", redactURL(m.URL)))
	}
	if t.Enabled() && m.URL == "embedded" {
		add(c.errorf("mqtt.tls", "set but mqtt.url is embedded (TLS is for an external broker)"))
	}
}

// checkFile returns an error unless path is a regular file that exists.
func (c *Config) checkFile(field, path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return c.errorf(field, "%s", unwrapPathError(err)+": "+path)
	}
	if st.IsDir() {
		return c.errorf(field, "%s is a folder, not a file", path)
	}
	return nil
}

// checkTopic returns what is wrong with an MQTT topic prefix, or "".
func checkTopic(s string) string {
	for _, seg := range strings.Split(s, "/") {
		if seg == "" || strings.ContainsAny(seg, "+#") {
			return "is not a valid topic prefix (no empty segments, '+' or '#')"
		}
	}
	if strings.ContainsFunc(s, unicode.IsControl) {
		return "is not a valid topic prefix (control character)"
	}
	return ""
}

// checkHostPort returns what is wrong with a host:port listen address, or "".
func checkHostPort(s string) string {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return "is not host:port"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return "has an invalid port"
	}
	return ""
}

// redactURL drops a password from a URL for messages.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		if i := strings.LastIndex(s, "@"); i >= 0 {
			return "…@" + s[i+1:]
		}
		return s
	}
	return u.Redacted()
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
