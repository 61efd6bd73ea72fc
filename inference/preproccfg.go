package inference

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"

	"github.com/autoclipd/autoclipd/inference/preprocess"
)

// preprocessCfgName is the file name of open_clip's preprocessing settings,
// as Immich's visual/ folder and open_clip exports carry them.
const preprocessCfgName = "preprocess_cfg.json"

// LoadPreprocessCfg reads an open_clip preprocess_cfg.json; see
// ParsePreprocessCfg.
func LoadPreprocessCfg(path string) (preprocess.Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return preprocess.Config{}, fmt.Errorf("preprocess: %w", err)
	}
	return ParsePreprocessCfg(data, path)
}

// ParsePreprocessCfg parses open_clip's preprocess_cfg.json, such as
//
//	{"size": [224, 224], "mode": "RGB", "mean": [0.48145466, 0.4578275, 0.40821073],
//	 "std": [0.26862954, 0.26130258, 0.27577711], "interpolation": "bicubic",
//	 "resize_mode": "shortest", "fill_color": 0}
//
// into the preprocess.Config that computes what open_clip's eval transform
// does: resize_mode "shortest" (the default) resizes the shorter edge to the
// size and centre-crops it (square sizes only), "squash" resizes to the size
// exactly; "longest" (letterboxing) is not supported. interpolation is
// "bicubic" (the default) or "bilinear"; mode must be RGB; fill_color and
// keys it does not know are ignored. Absent fields take open_clip's defaults
// (OpenAI CLIP's mean and std, 224). Errors name the file, the line and the
// field: "visual/preprocess_cfg.json:3: interpolation: ...".
func ParsePreprocessCfg(data []byte, name string) (preprocess.Config, error) {
	fields, err := jsonObject(data, name)
	if err != nil {
		return preprocess.Config{}, err
	}
	cfg := preprocess.DefaultConfig()
	h, w := 224, 224
	interp := "bicubic"
	resizeMode := "shortest"
	fail := func(key string, format string, args ...any) error {
		return fmt.Errorf("%s:%d: %s: %s", name, fields[key].line, key, fmt.Sprintf(format, args...))
	}
	if f, ok := fields["size"]; ok {
		var one float64
		var two []float64
		if json.Unmarshal(f.raw, &one) == nil {
			h, w, err = sizeValues(one, one)
		} else if json.Unmarshal(f.raw, &two) == nil && len(two) == 2 {
			h, w, err = sizeValues(two[0], two[1])
		} else {
			err = fmt.Errorf("want a number or [height, width], got %s", short(f.raw))
		}
		if err != nil {
			return preprocess.Config{}, fail("size", "%v", err)
		}
	}
	for _, key := range []string{"mean", "std"} {
		f, ok := fields[key]
		if !ok {
			continue
		}
		var v []float64
		if err := json.Unmarshal(f.raw, &v); err != nil || len(v) != 3 {
			return preprocess.Config{}, fail(key, "want 3 numbers, got %s", short(f.raw))
		}
		for i, x := range v {
			if math.IsNaN(x) || math.IsInf(x, 0) || (key == "std" && x == 0) {
				return preprocess.Config{}, fail(key, "[%d] is %v", i, x)
			}
		}
		if key == "mean" {
			copy(cfg.ImageMean[:], v)
		} else {
			copy(cfg.ImageStd[:], v)
		}
	}
	str := func(key string, dst *string) error {
		f, ok := fields[key]
		if !ok {
			return nil
		}
		if err := json.Unmarshal(f.raw, dst); err != nil {
			return fail(key, "want a string, got %s", short(f.raw))
		}
		return nil
	}
	mode := "RGB"
	for _, s := range []struct {
		key string
		dst *string
	}{{"mode", &mode}, {"interpolation", &interp}, {"resize_mode", &resizeMode}} {
		if err := str(s.key, s.dst); err != nil {
			return preprocess.Config{}, err
		}
	}
	if mode != "RGB" {
		return preprocess.Config{}, fail("mode", "%q is not supported, want RGB", mode)
	}
	switch interp {
	case "bicubic":
		cfg.Resample = preprocess.Bicubic
	case "bilinear":
		cfg.Resample = preprocess.Bilinear
	default:
		return preprocess.Config{}, fail("interpolation", "%q is not supported, want bicubic or bilinear", interp)
	}
	switch resizeMode {
	case "shortest":
		if h != w {
			return preprocess.Config{}, fail("size", "[%d, %d] with resize_mode shortest: only square sizes are supported", h, w)
		}
		cfg.Size = preprocess.Size{ShortestEdge: h}
		cfg.DoCenterCrop = true
		cfg.CropSize = preprocess.Size{Height: h, Width: w}
	case "squash":
		cfg.Size = preprocess.Size{Height: h, Width: w}
		cfg.DoCenterCrop = false
		cfg.CropSize = preprocess.Size{}
	default:
		key := "resize_mode"
		if _, ok := fields[key]; !ok {
			key = "size"
		}
		return preprocess.Config{}, fail(key, "resize_mode %q is not supported, want shortest or squash", resizeMode)
	}
	if err := cfg.Validate(); err != nil {
		return preprocess.Config{}, fmt.Errorf("%s: %v", name, err)
	}
	return cfg, nil
}

// sizeValues checks an open_clip image size.
func sizeValues(h, w float64) (int, int, error) {
	for _, v := range []float64{h, w} {
		if v != math.Trunc(v) || v < 1 || v > preprocess.MaxSize {
			return 0, 0, fmt.Errorf("%v is not a whole number in [1, %d]", v, preprocess.MaxSize)
		}
	}
	return int(h), int(w), nil
}

// short quotes a JSON value for an error, cut to 40 bytes.
func short(raw json.RawMessage) string {
	s := strings.Join(strings.Fields(string(raw)), " ")
	if len(s) > 40 {
		s = s[:37] + "..."
	}
	return s
}

type jsonField struct {
	raw  json.RawMessage
	line int
}

// jsonObject splits a JSON object into its members with the line of each
// key; a repeated key keeps its last value, as Python's json does.
func jsonObject(data []byte, name string) (map[string]jsonField, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	lineAt := func(off int64) int {
		off = min(max(off, 0), int64(len(data)))
		return bytes.Count(data[:off], []byte("\n")) + 1
	}
	syntax := func(err error) error {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return fmt.Errorf("%s:%d: invalid JSON: %v", name, lineAt(se.Offset), se)
		}
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return fmt.Errorf("%s:%d: invalid JSON: unexpected end of input", name, lineAt(int64(len(data))))
		}
		return fmt.Errorf("%s: invalid JSON: %v", name, err)
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, syntax(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("%s:%d: want a JSON object", name, lineAt(dec.InputOffset()))
	}
	fields := map[string]jsonField{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, syntax(err)
		}
		key, _ := tok.(string)
		l := lineAt(dec.InputOffset())
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, syntax(err)
		}
		fields[key] = jsonField{raw: raw, line: l}
	}
	if _, err := dec.Token(); err != nil {
		return nil, syntax(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		if err != nil {
			return nil, syntax(err)
		}
		return nil, fmt.Errorf("%s:%d: invalid JSON: more after the top-level object", name, lineAt(dec.InputOffset()))
	}
	return fields, nil
}
