package preprocess

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseConfig(t *testing.T) {
	def := DefaultConfig()
	tests := []struct {
		name string
		json string
		want Config
	}{
		{"empty object takes the defaults", `{}`, def},
		{"size int is the shortest edge, crop int is square", `{"size": 256, "crop_size": 240}`,
			configWith(func(c *Config) { c.Size, c.CropSize = Size{ShortestEdge: 256}, Size{Height: 240, Width: 240} })},
		{"size shortest_edge", `{"size": {"shortest_edge": 336}}`,
			configWith(func(c *Config) { c.Size = Size{ShortestEdge: 336} })},
		{"size shortest_edge with longest_edge ignored", `{"size": {"shortest_edge": 300, "longest_edge": 1000}}`,
			configWith(func(c *Config) { c.Size = Size{ShortestEdge: 300} })},
		{"size height and width", `{"size": {"height": 384, "width": 256}, "do_center_crop": false}`,
			configWith(func(c *Config) { c.Size, c.DoCenterCrop = Size{Height: 384, Width: 256}, false })},
		{"size list is height, width", `{"size": [200, 100], "crop_size": [100, 50]}`,
			configWith(func(c *Config) { c.Size, c.CropSize = Size{Height: 200, Width: 100}, Size{Height: 100, Width: 50} })},
		{"crop_size object", `{"crop_size": {"width": 300, "height": 200}}`,
			configWith(func(c *Config) { c.CropSize = Size{Height: 200, Width: 300} })},
		{"null sizes and stats take defaults", `{"size": null, "crop_size": null, "image_mean": null, "image_std": null}`, def},
		{"scalar mean and std", `{"image_mean": 0.5, "image_std": 0.25}`,
			configWith(func(c *Config) { c.ImageMean, c.ImageStd = [3]float64{0.5, 0.5, 0.5}, [3]float64{0.25, 0.25, 0.25} })},
		{"imagenet stats", `{"image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225]}`,
			configWith(func(c *Config) {
				c.ImageMean, c.ImageStd = [3]float64{0.485, 0.456, 0.406}, [3]float64{0.229, 0.224, 0.225}
			})},
		{"bilinear", `{"resample": 2}`, configWith(func(c *Config) { c.Resample = Bilinear })},
		{"lanczos", `{"resample": 1}`, configWith(func(c *Config) { c.Resample = Lanczos })},
		{"flags off", `{"do_rescale": false, "do_normalize": false, "do_convert_rgb": false, "rescale_factor": 2e-3}`,
			configWith(func(c *Config) {
				c.DoRescale, c.DoNormalize, c.DoConvertRGB, c.RescaleFactor = false, false, false, 0.002
			})},
		{"no resize needs no valid filter", `{"do_resize": false, "resample": 0}`,
			configWith(func(c *Config) { c.DoResize, c.Resample = false, Nearest })},
		{"unknown keys ignored, any type", `{"processor_class": "CLIPProcessor", "x": {"y": [1, null]}, "image_processor_type": "CLIPImageProcessor"}`, def},
		{"last duplicate wins", `{"size": 100, "size": 300}`, configWith(func(c *Config) { c.Size = Size{ShortestEdge: 300} })},
		{"whitespace and BOM-free CRLF", "{\r\n  \"size\" : 224 ,\r\n  \"crop_size\":224\r\n}\r\n", def},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseConfig([]byte(tt.json), "preprocessor_config.json")
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("ParseConfig(%s)\n got %+v\nwant %+v", tt.json, got, tt.want)
			}
		})
	}
}

func TestParseConfigErrors(t *testing.T) {
	const filterList = "want 1 (lanczos), 2 (bilinear), 3 (bicubic), 4 (box) or 5 (hamming)"
	tests := []struct {
		name string
		json string
		want string
	}{
		{"empty input", ``, "m/p.json:1:1: invalid JSON: unexpected end of input"},
		{"not an object", `[1, 2]`, "m/p.json:1:2: want a JSON object, got an array"},
		{"string at top", `"x"`, "m/p.json:1:4: want a JSON object, got a string"},
		{"truncated", "{\n \"size\": 224,\n", "m/p.json:3:1: invalid JSON: unexpected end of input"},
		{"bad token", "{\n \"size\": 2x4\n}", "m/p.json:2:11: invalid JSON: invalid character 'x' after object key:value pair"},
		{"trailing data", `{} {}`, "m/p.json:1:5: invalid JSON: '{' after the top-level object"},
		{"resample nearest", "{\n  \"resample\": 0\n}", "m/p.json:2: resample: filter 0 (nearest) is not supported, " + filterList},
		{"resample unknown", `{"resample": 7}`, "m/p.json:1: resample: filter 7 (Resample(7)) is not supported, " + filterList},
		{"resample float", `{"resample": 3.0}`, "m/p.json:1: resample: want an integer, got 3.0"},
		{"resample string", `{"resample": "bicubic"}`, `m/p.json:1: resample: want an integer, got "bicubic"`},
		{"size string", `{"size": "224"}`, `m/p.json:1: size: want an integer, an object or [height, width], got "224"`},
		{"size float", `{"size": 224.5}`, `m/p.json:1: size: want an integer, an object or [height, width], got 224.5`},
		{"size zero", "{\n\n \"size\": 0}", "m/p.json:3: size: shortest_edge 0 is out of range [1, 32768]"},
		{"size negative", `{"size": {"height": -4, "width": 4}, "do_center_crop": false}`, "m/p.json:1: size: height -4 is out of range [1, 32768]"},
		{"size huge", `{"size": 99999999999999999999999}`, "m/p.json:1: size: want an integer, an object or [height, width], got 99999999999999999999999"},
		{"size longest_edge only", `{"size": {"longest_edge": 224}}`, `m/p.json:1: size: has keys ["longest_edge"], want {"shortest_edge"} or {"height", "width"}`},
		{"size unknown key", `{"size": {"shortest_edge": 224, "extra": 1}}`, `m/p.json:1: size: has keys ["extra", "shortest_edge"], want {"shortest_edge"} or {"height", "width"}`},
		{"size height only", `{"size": {"height": 224}}`, `m/p.json:1: size: has keys ["height"], want {"shortest_edge"} or {"height", "width"}`},
		{"size value not int", `{"size": {"shortest_edge": "a"}}`, `m/p.json:1: size: shortest_edge: want an integer, got "a"`},
		{"size list of three", `{"size": [1, 2, 3]}`, "m/p.json:1: size: want [height, width], got [1, 2, 3]"},
		{"value spanning lines shown on one", "{\"crop_size\": [\n0]}", "m/p.json:1: crop_size: want [height, width], got [ 0]"},
		{"key with newline quoted", `{"size": {"a\nb": 1}}`, `m/p.json:1: size: has keys ["a\nb"], want {"shortest_edge"} or {"height", "width"}`},
		{"size list element", `{"size": [1, "2"]}`, `m/p.json:1: size: [1]: want an integer, got "2"`},
		{"crop_size shortest_edge", `{"crop_size": {"shortest_edge": 224}}`, "m/p.json:1: crop_size: needs height and width, not shortest_edge"},
		{"crop_size zero", `{"crop_size": {"height": 0, "width": 5}}`, "m/p.json:1: crop_size: height 0 is out of range [1, 32768]"},
		{"crop_size int zero", `{"crop_size": 0}`, "m/p.json:1: crop_size: height 0 is out of range [1, 32768]"},
		{"crop_size list width zero", `{"crop_size": [4, 0]}`, "m/p.json:1: crop_size: width 0 is out of range [1, 32768]"},
		{"size object shortest_edge too big", `{"size": {"shortest_edge": 32769}}`, "m/p.json:1: size: shortest_edge 32769 is out of range [1, 32768]"},
		{"size object zeros", `{"size": {"height": 0, "width": 0}, "do_center_crop": false}`, "m/p.json:1: size: height 0 is out of range [1, 32768]"},
		{"crop_size bool", `{"crop_size": true}`, "m/p.json:1: crop_size: want an integer, an object or [height, width], got true"},
		{"do_resize string", `{"do_resize": "yes"}`, `m/p.json:1: do_resize: want true or false, got "yes"`},
		{"do_center_crop int", `{"do_center_crop": 1}`, "m/p.json:1: do_center_crop: want true or false, got 1"},
		{"do_normalize null", `{"do_normalize": null}`, "m/p.json:1: do_normalize: want true or false, got null"},
		{"variable output size", "{\n \"do_center_crop\": false\n}", `m/p.json:2: do_center_crop: false needs size {"height", "width"} with do_resize, or the output size would depend on the input`},
		{"rescale_factor string", `{"rescale_factor": "1/255"}`, `m/p.json:1: rescale_factor: want a number, got "1/255"`},
		{"rescale_factor overflow", `{"rescale_factor": 1e999}`, "m/p.json:1: rescale_factor: 1e999 is out of range"},
		{"image_mean two values", `{"image_mean": [0.5, 0.5]}`, "m/p.json:1: image_mean: want 3 numbers (R, G, B), got 2"},
		{"image_mean element", `{"image_mean": [0.5, "x", 0.5]}`, `m/p.json:1: image_mean: [1]: want a number, got "x"`},
		{"image_mean object", `{"image_mean": {"r": 1}}`, `m/p.json:1: image_mean: want a number or 3 numbers, got {"r": 1}`},
		{"image_std zero", "{\"image_std\": [0.2,\n 0, 0.2]}", "m/p.json:1: image_std[1]: 0 is not a finite non-zero number"},
		{"long value shortened", `{"do_resize": "0123456789012345678901234567890123456789"}`, `m/p.json:1: do_resize: want true or false, got "012345678901234567890123456789012345...`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tt.json), "m/p.json")
			if err == nil {
				t.Fatalf("ParseConfig(%s) succeeded, want %q", tt.json, tt.want)
			}
			if err.Error() != tt.want {
				t.Fatalf("ParseConfig(%s)\n got %q\nwant %q", tt.json, err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error spans lines: %q", err)
			}
		})
	}
}

func TestLoadConfig(t *testing.T) {
	l336 := configWith(func(c *Config) {
		c.Size, c.CropSize = Size{ShortestEdge: 336}, Size{Height: 336, Width: 336}
	})
	valid := []struct {
		name string
		file string
		want Config
	}{
		{"openai ViT-B/32, old keys", "clip-vit-base-patch32.json", DefaultConfig()},
		{"openai ViT-L/14-336, new keys", "clip-vit-large-patch14-336.json", l336},
	}
	for _, tt := range valid {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LoadConfig(filepath.Join("testdata", "config", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}

	// Every testdata/config/invalid-* file, with its exact error.
	invalid := map[string]string{
		"invalid-resample.json": "testdata/config/invalid-resample.json:4: resample: filter 0 (nearest) is not supported, want 1 (lanczos), 2 (bilinear), 3 (bicubic), 4 (box) or 5 (hamming)",
		"invalid-size.json":     `testdata/config/invalid-size.json:3: size: has keys ["longest_edge"], want {"shortest_edge"} or {"height", "width"}`,
		"invalid-syntax.json":   "testdata/config/invalid-syntax.json:4:1: invalid JSON: invalid character '}' looking for beginning of object key string",
		"invalid-mean.json":     "testdata/config/invalid-mean.json:2: image_mean: want 3 numbers (R, G, B), got 2",
	}
	files, err := filepath.Glob(filepath.Join("testdata", "config", "invalid-*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(invalid) {
		t.Errorf("%d invalid-* files, %d expected errors", len(files), len(invalid))
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			want, ok := invalid[filepath.Base(path)]
			if !ok {
				t.Fatalf("%s has no expected error", path)
			}
			_, err := LoadConfig(filepath.ToSlash(path))
			if err == nil || err.Error() != want {
				t.Fatalf("LoadConfig error\n got %v\nwant %s", err, want)
			}
		})
	}

	t.Run("missing file", func(t *testing.T) {
		_, err := LoadConfig(filepath.Join(t.TempDir(), "nope.json"))
		if err == nil || !strings.HasPrefix(err.Error(), "preprocess: open ") || !strings.Contains(err.Error(), "nope.json") {
			t.Fatalf("LoadConfig error = %v, want the path named", err)
		}
	})
}

// FuzzParseConfig checks that ParseConfig never panics, that what it accepts
// New accepts, and that such a Preprocessor runs on a small frame.
func FuzzParseConfig(f *testing.F) {
	for _, name := range []string{"clip-vit-base-patch32.json", "clip-vit-large-patch14-336.json", "invalid-resample.json", "invalid-syntax.json"} {
		data, err := os.ReadFile(filepath.Join("testdata", "config", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		`{}`, `{"size": 8, "crop_size": 6}`, `{"size": [9, 4], "crop_size": {"height": 5, "width": 3}}`,
		`{"size": {"height": 7, "width": 3}, "do_center_crop": false, "resample": 1}`,
		`{"do_resize": false, "crop_size": 12, "image_mean": 0.5, "image_std": [1, 2, 3]}`,
		`{"size": null, "resample": 5, "do_rescale": false}`, `[`, `{"size": {"shortest_edge": 1e3}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig(data, "fuzz.json")
		if err != nil {
			if msg := err.Error(); !strings.HasPrefix(msg, "fuzz.json") || strings.Contains(msg, "\n") {
				t.Fatalf("error %q does not start with the name or spans lines", msg)
			}
			return
		}
		p, err := New(cfg)
		if err != nil {
			t.Fatalf("ParseConfig accepted %q, New rejects it: %v", data, err)
		}
		oh, ow := p.OutputSize()
		if oh*ow > 64*64 {
			return
		}
		if cfg.DoResize && cfg.Size.ShortestEdge > 512 {
			return // the long side of the resized 5x3 frame gets large
		}
		const w, h = 5, 3
		dst := make([]float32, 3*oh*ow)
		if err := p.Run(dst, texture(w, h, 1), w, h, 3*w, RGB); err != nil {
			t.Fatal(err)
		}
	})
}
