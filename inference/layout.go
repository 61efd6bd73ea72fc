package inference

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/autoclipd/autoclipd/inference/preprocess"
)

// Layout names a model folder layout.
type Layout string

// Known layouts.
const (
	// LayoutHF is the Hugging Face layout (e.g. Xenova/clip-vit-base-patch32):
	// onnx/vision_model.onnx, onnx/text_model.onnx, tokenizer.json,
	// preprocessor_config.json. Variants sit beside the plain files:
	// onnx/vision_model_fp16.onnx, onnx/text_model_quantized.onnx, ...
	LayoutHF Layout = "huggingface"
	// LayoutImmich is Immich's layout (e.g. immich-app/ViT-B-32__openai):
	// visual/model.onnx, visual/preprocess_cfg.json, textual/model.onnx,
	// textual/tokenizer.json.
	LayoutImmich Layout = "immich"
	// LayoutOpenCLIP is a flat open_clip-style export: visual.onnx,
	// textual.onnx, a tokenizer (tokenizer.json or OpenAI's merges file) and
	// open_clip's preprocess_cfg.json (or a Hugging Face
	// preprocessor_config.json).
	LayoutOpenCLIP Layout = "openclip"
)

// ModelFiles are the files of a model folder.
type ModelFiles struct {
	Dir          string
	Layout       Layout
	Variant      string // the Hugging Face variant ("" for the plain files, "fp16", "quantized", ...)
	Vision       string // image encoder .onnx
	Text         string // text encoder .onnx
	Tokenizer    string // tokenizer.json or merges file
	Preprocessor string // preprocessor_config.json (Hugging Face) or preprocess_cfg.json (open_clip)
}

// PreprocessConfig reads the image preprocessing settings from
// Preprocessor, in the format its name says: open_clip's preprocess_cfg.json
// (see ParsePreprocessCfg) or Hugging Face's preprocessor_config.json.
func (f ModelFiles) PreprocessConfig() (preprocess.Config, error) {
	if filepath.Base(f.Preprocessor) == preprocessCfgName {
		return LoadPreprocessCfg(f.Preprocessor)
	}
	return preprocess.LoadConfig(f.Preprocessor)
}

// layoutSpec says which files make up a layout. Where a role has several
// candidates, the first present is used.
type layoutSpec struct {
	layout     Layout
	title      string
	vision     string
	text       string
	tokenizer  []string
	preprocess []string
}

var (
	hfSpec = layoutSpec{
		layout: LayoutHF, title: "Hugging Face",
		vision: "onnx/vision_model.onnx", text: "onnx/text_model.onnx",
		tokenizer: []string{"tokenizer.json"}, preprocess: []string{"preprocessor_config.json"},
	}
	immichSpec = layoutSpec{
		layout: LayoutImmich, title: "Immich",
		vision: "visual/model.onnx", text: "textual/model.onnx",
		tokenizer: []string{"textual/tokenizer.json"}, preprocess: []string{"visual/" + preprocessCfgName},
	}
	openCLIPSpec = layoutSpec{
		layout: LayoutOpenCLIP, title: "open_clip",
		vision: "visual.onnx", text: "textual.onnx",
		tokenizer:  []string{"tokenizer.json", "bpe_simple_vocab_16e6.txt.gz", "bpe_simple_vocab_16e6.txt"},
		preprocess: []string{preprocessCfgName, "preprocessor_config.json"},
	}
	layoutSpecs = []layoutSpec{hfSpec, immichSpec, openCLIPSpec}
)

// hfFiles are the Hugging Face layout's files, relative to the folder.
var hfFiles = hfSpec.expected("")

// withVariant names a Hugging Face variant's file: onnx/vision_model.onnx
// becomes onnx/vision_model_fp16.onnx.
func withVariant(path, variant string) string {
	if variant == "" {
		return path
	}
	return strings.TrimSuffix(path, ".onnx") + "_" + variant + ".onnx"
}

func (s layoutSpec) files(variant string) (vision, text string) {
	return withVariant(s.vision, variant), withVariant(s.text, variant)
}

// expected lists the layout's files for the error messages, alternatives
// joined with "or".
func (s layoutSpec) expected(variant string) []string {
	v, t := s.files(variant)
	return []string{v, t, strings.Join(s.tokenizer, " or "), strings.Join(s.preprocess, " or ")}
}

// variantRE is what a variant name may hold: it becomes part of a file name.
var variantRE = regexp.MustCompile(`^[A-Za-z0-9]+(?:[_-][A-Za-z0-9]+)*$`)

// FindModelFiles checks that dir holds a model in a known layout and returns
// its files; see FindModelVariant. It takes the plain (unsuffixed) files of
// the Hugging Face layout.
func FindModelFiles(dir string) (ModelFiles, error) { return FindModelVariant(dir, "") }

// FindModelVariant checks that dir holds a model in a known layout and
// returns its files. The layout is told by the encoders present:
// onnx/{vision,text}_model*.onnx (Hugging Face), visual/model.onnx or
// textual/model.onnx (Immich), visual.onnx or textual.onnx (open_clip).
// variant picks a Hugging Face variant: "" for onnx/vision_model.onnx,
// "fp16" for onnx/vision_model_fp16.onnx, "quantized" for
// onnx/vision_model_quantized.onnx; the other layouts have none. A folder
// that fits no layout gets a one-line error listing what was found and what
// each layout expects; one that fits a layout but lacks some of its files
// gets the missing files and the layout's.
func FindModelVariant(dir, variant string) (ModelFiles, error) {
	st, err := os.Stat(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return ModelFiles{}, fmt.Errorf("model.dir %s: no such folder", dir)
		}
		return ModelFiles{}, fmt.Errorf("model.dir %s: %v", dir, oneLine(err))
	}
	if !st.IsDir() {
		return ModelFiles{}, fmt.Errorf("model.dir %s: not a folder", dir)
	}
	if variant != "" && !variantRE.MatchString(variant) {
		return ModelFiles{}, fmt.Errorf("model.variant %q: want letters and digits, such as fp16 or quantized", variant)
	}
	var found []layoutSpec
	for _, s := range layoutSpecs {
		if s.present(dir) {
			found = append(found, s)
		}
	}
	switch len(found) {
	case 0:
		return ModelFiles{}, noLayoutError(dir)
	case 1:
	default:
		names := make([]string, len(found))
		for i, s := range found {
			v, t := s.files("")
			names[i] = fmt.Sprintf("%s (%s, %s)", s.title, v, t)
		}
		return ModelFiles{}, fmt.Errorf("model.dir %s: holds encoders of more than one layout: %s; keep one", dir, strings.Join(names, " and "))
	}
	s := found[0]
	if variant != "" && s.layout != LayoutHF {
		v, t := s.files("")
		return ModelFiles{}, fmt.Errorf("model.dir %s: model.variant %q is set, but the %s layout (%s, %s) has no variants; leave model.variant empty", dir, variant, s.title, v, t)
	}
	files := ModelFiles{Dir: dir, Layout: s.layout, Variant: variant}
	vision, text := s.files(variant)
	var problems []string
	check := func(dst *string, candidates ...string) {
		for _, c := range candidates {
			if isFile(filepath.Join(dir, c)) {
				*dst = filepath.Join(dir, c)
				return
			}
		}
		for _, c := range candidates {
			if exists(filepath.Join(dir, c)) {
				problems = append(problems, c+" is empty")
				return
			}
		}
		problems = append(problems, "missing "+strings.Join(candidates, " or "))
	}
	check(&files.Vision, vision)
	check(&files.Text, text)
	check(&files.Tokenizer, s.tokenizer...)
	check(&files.Preprocessor, s.preprocess...)
	if len(problems) > 0 {
		msg := fmt.Sprintf("model.dir %s: %s (expected the %s layout: %s)",
			dir, strings.Join(problems, ", "), s.title, strings.Join(s.expected(variant), ", "))
		if s.layout == LayoutHF && !exists(filepath.Join(dir, vision)) && !exists(filepath.Join(dir, text)) {
			// Neither encoder of the requested variant: say which there are.
			msg += fmt.Sprintf("; model.variant %s; variants present: %s", quoteVariant(variant), strings.Join(hfVariants(dir), ", "))
		}
		return ModelFiles{}, fmt.Errorf("%s", msg)
	}
	return files, nil
}

// present reports whether dir holds any encoder of the layout.
func (s layoutSpec) present(dir string) bool {
	if s.layout == LayoutHF {
		return len(hfVariants(dir)) > 0
	}
	return exists(filepath.Join(dir, s.vision)) || exists(filepath.Join(dir, s.text))
}

func quoteVariant(v string) string {
	if v == "" {
		return `"" (the plain files)`
	}
	return strconv.Quote(v)
}

// hfVariants lists the variants with an encoder in dir/onnx, "" first as
// `""`, the others sorted and quoted.
func hfVariants(dir string) []string {
	entries, err := os.ReadDir(filepath.Join(dir, "onnx"))
	if err != nil {
		return nil
	}
	seen := map[string]bool{}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".onnx") || !exists(filepath.Join(dir, "onnx", name)) {
			continue
		}
		base := strings.TrimSuffix(name, ".onnx")
		for _, prefix := range []string{"vision_model", "text_model"} {
			if base == prefix {
				seen[""] = true
			} else if v, ok := strings.CutPrefix(base, prefix+"_"); ok && variantRE.MatchString(v) {
				seen[v] = true
			}
		}
	}
	var out []string
	for v := range seen {
		out = append(out, strconv.Quote(v))
	}
	sort.Strings(out) // `""` sorts first
	return out
}

// isFile reports whether path is a non-empty regular file (following
// symbolic links, as in the Hugging Face cache).
func isFile(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular() && st.Size() > 0
}

// exists reports whether path is a regular file, empty or not.
func exists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}

// maxListed is how many found files a no-layout error names.
const maxListed = 8

// noLayoutError lists what dir holds (files up to two levels deep, folders
// that are empty or too deep with a trailing slash) and what each layout
// expects.
func noLayoutError(dir string) error {
	var found []string
	var walk func(rel string, depth int)
	walk = func(rel string, depth int) {
		entries, err := os.ReadDir(filepath.Join(dir, rel))
		if err != nil {
			return
		}
		for _, e := range entries {
			p := filepath.ToSlash(filepath.Join(rel, e.Name()))
			isDir := e.IsDir()
			if e.Type()&os.ModeSymlink != 0 {
				st, err := os.Stat(filepath.Join(dir, p))
				isDir = err == nil && st.IsDir()
			}
			if !isDir {
				found = append(found, p)
				continue
			}
			if depth == 0 {
				n := len(found)
				walk(p, depth+1)
				if len(found) > n {
					continue
				}
			}
			found = append(found, p+"/")
		}
	}
	walk("", 0)
	list := "nothing"
	if len(found) > 0 {
		shown := found[:min(len(found), maxListed)]
		list = strings.Join(shown, ", ")
		if n := len(found) - len(shown); n > 0 {
			list += fmt.Sprintf(" and %d more", n)
		}
	}
	want := make([]string, len(layoutSpecs))
	for i, s := range layoutSpecs {
		want[i] = s.title + ": " + strings.Join(s.expected(""), ", ")
	}
	return fmt.Errorf("model.dir %s: no CLIP model layout found (found: %s; expected %s)", dir, list, strings.Join(want, "; or "))
}

// oneLine joins the lines of an error message (ONNX Runtime's can span
// several) so that every error stays on one line.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
