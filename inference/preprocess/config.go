package preprocess

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
)

// MaxSize is the largest height, width or shortest edge a Config may ask for.
const MaxSize = 1 << 15

// Resample is a Pillow resampling filter, numbered as in Pillow and in the
// "resample" field of preprocessor_config.json.
type Resample int

// The Pillow filters. Nearest is listed for completeness: Pillow implements it
// with a different code path, and New rejects it.
const (
	Nearest  Resample = 0
	Lanczos  Resample = 1
	Bilinear Resample = 2
	Bicubic  Resample = 3
	Box      Resample = 4
	Hamming  Resample = 5
)

// String returns Pillow's name for the filter.
func (r Resample) String() string {
	switch r {
	case Nearest:
		return "nearest"
	case Lanczos:
		return "lanczos"
	case Bilinear:
		return "bilinear"
	case Bicubic:
		return "bicubic"
	case Box:
		return "box"
	case Hamming:
		return "hamming"
	}
	return "Resample(" + strconv.Itoa(int(r)) + ")"
}

// supported reports whether the filter is implemented here.
func (r Resample) supported() bool { return r >= Lanczos && r <= Hamming }

// Size is a target size: either ShortestEdge (resize the shorter side to it and
// keep the aspect ratio; Height and Width are 0) or Height and Width (resize to
// exactly that; ShortestEdge is 0).
type Size struct {
	ShortestEdge  int
	Height, Width int
}

// String formats the size as in preprocessor_config.json.
func (s Size) String() string {
	if s.ShortestEdge != 0 {
		return fmt.Sprintf(`{"shortest_edge": %d}`, s.ShortestEdge)
	}
	return fmt.Sprintf(`{"height": %d, "width": %d}`, s.Height, s.Width)
}

// OpenAI CLIP's normalisation constants, the defaults of CLIPImageProcessor.
var (
	clipMean = [3]float64{0.48145466, 0.4578275, 0.40821073}
	clipStd  = [3]float64{0.26862954, 0.26130258, 0.27577711}
)

// Config is the image preprocessing of a CLIP model, as Hugging Face's
// CLIPImageProcessor reads it from preprocessor_config.json. Means and
// standard deviations are per channel in RGB order.
type Config struct {
	DoResize      bool
	Size          Size
	Resample      Resample
	DoCenterCrop  bool
	CropSize      Size // Height and Width only
	DoRescale     bool
	RescaleFactor float64
	DoNormalize   bool
	ImageMean     [3]float64
	ImageStd      [3]float64
	// DoConvertRGB is read for completeness: frames are always 3-channel, so
	// conversion to RGB is the BGR->RGB reorder Run does anyway.
	DoConvertRGB bool
}

// DefaultConfig returns CLIPImageProcessor's defaults: shortest edge 224,
// bicubic, centre crop 224x224, rescale by 1/255, OpenAI CLIP mean and std.
// A preprocessor_config.json overrides the fields it names.
func DefaultConfig() Config {
	return Config{
		DoResize:      true,
		Size:          Size{ShortestEdge: 224},
		Resample:      Bicubic,
		DoCenterCrop:  true,
		CropSize:      Size{Height: 224, Width: 224},
		DoRescale:     true,
		RescaleFactor: 1.0 / 255,
		DoNormalize:   true,
		ImageMean:     clipMean,
		ImageStd:      clipStd,
		DoConvertRGB:  true,
	}
}

// MinSourceSide is the fewest pixels a frame's short side needs so that
// the resize (or, without one, the crop) does not enlarge it: the shortest
// edge, the larger target side, or the larger crop side. Capture decodes
// Motion JPEG reduced down to this size, never below. 0 when nothing is
// resized or cropped.
func (c Config) MinSourceSide() int {
	n := 0
	if c.DoResize {
		n = max(c.Size.ShortestEdge, c.Size.Height, c.Size.Width)
	}
	if c.DoCenterCrop {
		n = max(n, c.CropSize.Height, c.CropSize.Width)
	}
	return n
}

// fieldError is a problem with one field, before the file and line are known.
type fieldError struct {
	field string
	msg   string
}

func (e *fieldError) Error() string { return e.field + ": " + e.msg }

// Validate checks that the Config describes a preprocessing this package
// implements with a fixed output size. The error names the field.
func (c Config) Validate() error {
	if fe := c.validate(); fe != nil {
		return fe
	}
	return nil
}

func (c Config) validate() *fieldError {
	if c.DoResize {
		if fe := checkSize("size", c.Size, true); fe != nil {
			return fe
		}
		if !c.Resample.supported() {
			return &fieldError{"resample", fmt.Sprintf("filter %d (%s) is not supported, want 1 (lanczos), 2 (bilinear), 3 (bicubic), 4 (box) or 5 (hamming)", int(c.Resample), c.Resample)}
		}
	}
	if c.DoCenterCrop {
		if fe := checkSize("crop_size", c.CropSize, false); fe != nil {
			return fe
		}
	}
	if !c.DoCenterCrop && !(c.DoResize && c.Size.ShortestEdge == 0) {
		return &fieldError{"do_center_crop", "false needs size {\"height\", \"width\"} with do_resize, or the output size would depend on the input"}
	}
	if c.DoRescale && (math.IsNaN(c.RescaleFactor) || math.IsInf(c.RescaleFactor, 0)) {
		return &fieldError{"rescale_factor", fmt.Sprintf("%v is not finite", c.RescaleFactor)}
	}
	if c.DoNormalize {
		for i := range 3 {
			if m := c.ImageMean[i]; math.IsNaN(m) || math.IsInf(m, 0) {
				return &fieldError{fmt.Sprintf("image_mean[%d]", i), fmt.Sprintf("%v is not finite", m)}
			}
			if s := c.ImageStd[i]; s == 0 || math.IsNaN(s) || math.IsInf(s, 0) {
				return &fieldError{fmt.Sprintf("image_std[%d]", i), fmt.Sprintf("%v is not a finite non-zero number", s)}
			}
		}
	}
	return nil
}

func checkSize(field string, s Size, shortestOK bool) *fieldError {
	switch {
	case s.ShortestEdge != 0 && !shortestOK:
		return &fieldError{field, "needs height and width, not shortest_edge"}
	case s.ShortestEdge != 0 && (s.Height != 0 || s.Width != 0):
		return &fieldError{field, "has both shortest_edge and height/width"}
	case s.ShortestEdge != 0:
		return checkDim(field, "shortest_edge", s.ShortestEdge)
	case s.Height == 0 && s.Width == 0 && shortestOK:
		return &fieldError{field, "needs shortest_edge or height and width"}
	}
	if fe := checkDim(field, "height", s.Height); fe != nil {
		return fe
	}
	return checkDim(field, "width", s.Width)
}

func checkDim(field, part string, n int) *fieldError {
	if n < 1 || n > MaxSize {
		return &fieldError{field, fmt.Sprintf("%s %d is out of range [1, %d]", part, n, MaxSize)}
	}
	return nil
}

// LoadConfig reads a preprocessor_config.json; see ParseConfig.
func LoadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("preprocess: %w", err)
	}
	return ParseConfig(data, path)
}

// ParseConfig parses the contents of a Hugging Face preprocessor_config.json;
// name (usually the path) prefixes every error, with the line of the faulty
// field: "clip/preprocessor_config.json:9: resample: ...". Fields it does not
// know are ignored, since real files carry many (processor_class, ...); the
// known ones take the forms transformers accepts: size as an int (the shortest
// edge), {"shortest_edge": N} (an optional "longest_edge" is ignored, as
// CLIPImageProcessor does), {"height": H, "width": W} or [H, W]; crop_size as an
// int (square), {"height": H, "width": W} or [H, W]; image_mean and image_std as
// a number or 3 numbers; null size, crop_size, image_mean or image_std take the
// default. Fields absent take DefaultConfig's values.
func ParseConfig(data []byte, name string) (Config, error) {
	fields, err := topLevel(data, name)
	if err != nil {
		return Config{}, err
	}
	cfg := DefaultConfig()
	setters := []struct {
		key string
		set func(raw json.RawMessage) error
	}{
		{"do_resize", boolField(&cfg.DoResize)},
		{"size", func(raw json.RawMessage) error { return sizeField(raw, &cfg.Size, false) }},
		{"resample", func(raw json.RawMessage) error {
			n, err := intValue(raw)
			if err != nil {
				return err
			}
			cfg.Resample = Resample(n)
			return nil
		}},
		{"do_center_crop", boolField(&cfg.DoCenterCrop)},
		{"crop_size", func(raw json.RawMessage) error { return sizeField(raw, &cfg.CropSize, true) }},
		{"do_rescale", boolField(&cfg.DoRescale)},
		{"rescale_factor", func(raw json.RawMessage) error {
			v, err := floatValue(raw)
			cfg.RescaleFactor = v
			return err
		}},
		{"do_normalize", boolField(&cfg.DoNormalize)},
		{"image_mean", func(raw json.RawMessage) error { return tripleField(raw, &cfg.ImageMean, clipMean) }},
		{"image_std", func(raw json.RawMessage) error { return tripleField(raw, &cfg.ImageStd, clipStd) }},
		{"do_convert_rgb", boolField(&cfg.DoConvertRGB)},
	}
	line := map[string]int{}
	for _, s := range setters {
		f, ok := fields[s.key]
		if !ok {
			continue
		}
		line[s.key] = f.line
		if err := s.set(f.raw); err != nil {
			return Config{}, fmt.Errorf("%s:%d: %s: %v", name, f.line, s.key, err)
		}
	}
	if fe := cfg.validate(); fe != nil {
		key, _, _ := strings.Cut(fe.field, "[")
		if l, ok := line[key]; ok {
			return Config{}, fmt.Errorf("%s:%d: %v", name, l, fe)
		}
		return Config{}, fmt.Errorf("%s: %v", name, fe)
	}
	return cfg, nil
}

type rawField struct {
	raw  json.RawMessage
	line int
}

// topLevel splits a JSON object into its members, remembering the line of
// each key. A repeated key keeps its last value, as Python's json does.
func topLevel(data []byte, name string) (map[string]rawField, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	syntax := func(err error) error {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			l, c := position(data, se.Offset)
			return fmt.Errorf("%s:%d:%d: invalid JSON: %v", name, l, c, se)
		}
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			l, c := position(data, int64(len(data)))
			return fmt.Errorf("%s:%d:%d: invalid JSON: unexpected end of input", name, l, c)
		}
		return fmt.Errorf("%s: invalid JSON: %v", name, err)
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, syntax(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		l, c := position(data, dec.InputOffset())
		return nil, fmt.Errorf("%s:%d:%d: want a JSON object, got %s", name, l, c, tokenKind(tok))
	}
	fields := map[string]rawField{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, syntax(err)
		}
		key, _ := tok.(string) // object keys are always strings
		l, _ := position(data, dec.InputOffset())
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, syntax(err)
		}
		fields[key] = rawField{raw: raw, line: l}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, syntax(err)
	}
	if tok, err := dec.Token(); err != io.EOF {
		if err != nil {
			return nil, syntax(err)
		}
		l, c := position(data, dec.InputOffset())
		return nil, fmt.Errorf("%s:%d:%d: invalid JSON: %s after the top-level object", name, l, c, tokenKind(tok))
	}
	return fields, nil
}

// position converts a byte offset into a 1-based line and column.
func position(data []byte, off int64) (line, col int) {
	off = min(max(off, 0), int64(len(data)))
	before := data[:off]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(off) - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return line, col
}

func tokenKind(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		if v == '[' {
			return "an array"
		}
		return "'" + v.String() + "'"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%v", tok)
}

// describe names a JSON value for an error message, shortened.
func describe(raw json.RawMessage) string {
	s := strings.Join(strings.Fields(string(raw)), " ")
	if len(s) > 40 {
		s = s[:37] + "..."
	}
	return s
}

func boolField(dst *bool) func(json.RawMessage) error {
	return func(raw json.RawMessage) error {
		switch string(bytes.TrimSpace(raw)) {
		case "true":
			*dst = true
		case "false":
			*dst = false
		default:
			return fmt.Errorf("want true or false, got %s", describe(raw))
		}
		return nil
	}
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// intValue accepts a JSON integer (no fraction, no exponent), as Python's
// isinstance(x, int) does after json.load.
func intValue(raw json.RawMessage) (int, error) {
	s := string(bytes.TrimSpace(raw))
	n, err := strconv.Atoi(s)
	if err != nil || strings.HasPrefix(s, "+") {
		if len(s) > 0 && (s[0] == '-' || s[0] >= '0' && s[0] <= '9') && !strings.ContainsAny(s, ".eE") {
			return 0, fmt.Errorf("%s is out of range", describe(raw))
		}
		return 0, fmt.Errorf("want an integer, got %s", describe(raw))
	}
	return n, nil
}

func floatValue(raw json.RawMessage) (float64, error) {
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil || n == "" {
		return 0, fmt.Errorf("want a number, got %s", describe(raw))
	}
	v, err := strconv.ParseFloat(string(n), 64)
	if err != nil {
		return 0, fmt.Errorf("%s is out of range", describe(raw))
	}
	return v, nil
}

// sizeField decodes size (crop=false) or crop_size (crop=true) the way
// transformers' get_size_dict does (default_to_square false for size, true for
// crop_size), then keeps what CLIPImageProcessor uses.
func sizeField(raw json.RawMessage, dst *Size, crop bool) error {
	if isNull(raw) {
		if crop {
			*dst = DefaultConfig().CropSize
		} else {
			*dst = DefaultConfig().Size
		}
		return nil
	}
	s := bytes.TrimSpace(raw)
	shortest := false
	switch {
	case len(s) > 0 && s[0] == '{':
		var m map[string]json.RawMessage
		if err := json.Unmarshal(s, &m); err != nil {
			return fmt.Errorf("want an object of integers, got %s", describe(raw))
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		joined := strings.Join(keys, ",")
		switch joined {
		case "height,width", "shortest_edge", "longest_edge,shortest_edge":
		default:
			quoted := make([]string, len(keys))
			for i, k := range keys {
				quoted[i] = strconv.Quote(k)
			}
			return fmt.Errorf("has keys [%s], want {\"shortest_edge\"} or {\"height\", \"width\"}", strings.Join(quoted, ", "))
		}
		vals := map[string]int{}
		for _, k := range keys {
			n, err := intValue(m[k])
			if err != nil {
				return fmt.Errorf("%s: %v", k, err)
			}
			vals[k] = n
		}
		switch joined {
		case "height,width":
			*dst = Size{Height: vals["height"], Width: vals["width"]}
		case "shortest_edge", "longest_edge,shortest_edge":
			if crop {
				return errors.New("needs height and width, not shortest_edge")
			}
			*dst, shortest = Size{ShortestEdge: vals["shortest_edge"]}, true
		}
	case len(s) > 0 && s[0] == '[':
		var l []json.RawMessage
		if err := json.Unmarshal(s, &l); err != nil || len(l) != 2 {
			return fmt.Errorf("want [height, width], got %s", describe(raw))
		}
		h, err := intValue(l[0])
		if err != nil {
			return fmt.Errorf("[0]: %v", err)
		}
		w, err := intValue(l[1])
		if err != nil {
			return fmt.Errorf("[1]: %v", err)
		}
		*dst = Size{Height: h, Width: w}
	default:
		n, err := intValue(raw)
		if err != nil {
			return fmt.Errorf("want an integer, an object or [height, width], got %s", describe(raw))
		}
		if crop {
			*dst = Size{Height: n, Width: n}
		} else {
			*dst, shortest = Size{ShortestEdge: n}, true
		}
	}
	// Range-check here: a zero shortest edge would read as an absent one.
	var fe *fieldError
	if shortest {
		fe = checkDim("", "shortest_edge", dst.ShortestEdge)
	} else if fe = checkDim("", "height", dst.Height); fe == nil {
		fe = checkDim("", "width", dst.Width)
	}
	if fe != nil {
		return errors.New(fe.msg)
	}
	return nil
}

// tripleField decodes a per-channel value: one number for all three channels
// or a list of three.
func tripleField(raw json.RawMessage, dst *[3]float64, def [3]float64) error {
	if isNull(raw) {
		*dst = def
		return nil
	}
	s := bytes.TrimSpace(raw)
	if len(s) > 0 && s[0] == '[' {
		var l []json.RawMessage
		if err := json.Unmarshal(s, &l); err != nil {
			return fmt.Errorf("want 3 numbers, got %s", describe(raw))
		}
		if len(l) != 3 {
			return fmt.Errorf("want 3 numbers (R, G, B), got %d", len(l))
		}
		for i, e := range l {
			v, err := floatValue(e)
			if err != nil {
				return fmt.Errorf("[%d]: %v", i, err)
			}
			dst[i] = v
		}
		return nil
	}
	v, err := floatValue(raw)
	if err != nil {
		return fmt.Errorf("want a number or 3 numbers, got %s", describe(raw))
	}
	*dst = [3]float64{v, v, v}
	return nil
}
