package inference

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	ort "github.com/yalue/onnxruntime_go"
)

// Layout names a model folder layout.
type Layout string

// Known layouts.
const (
	// LayoutHF is the Hugging Face layout (e.g. Xenova/clip-vit-base-patch32):
	// onnx/vision_model.onnx, onnx/text_model.onnx, tokenizer.json,
	// preprocessor_config.json.
	LayoutHF Layout = "huggingface"
)

// ModelFiles are the files of a model folder.
type ModelFiles struct {
	Dir          string
	Layout       Layout
	Vision       string // image encoder .onnx
	Text         string // text encoder .onnx
	Tokenizer    string // tokenizer.json or merges file
	Preprocessor string // preprocessor_config.json
}

// hfFiles are the Hugging Face layout's files, relative to the folder.
var hfFiles = []string{"onnx/vision_model.onnx", "onnx/text_model.onnx", "tokenizer.json", "preprocessor_config.json"}

// FindModelFiles checks that dir holds a model in a known layout and returns
// its files. A folder that fits no layout gets an error listing what is
// missing and what was expected.
func FindModelFiles(dir string) (ModelFiles, error) {
	st, err := os.Stat(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return ModelFiles{}, fmt.Errorf("model.dir %s: no such folder", dir)
		}
		return ModelFiles{}, fmt.Errorf("model.dir %s: %w", dir, err)
	}
	if !st.IsDir() {
		return ModelFiles{}, fmt.Errorf("model.dir %s: not a folder", dir)
	}
	var missing []string
	for _, f := range hfFiles {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil || st.IsDir() || st.Size() == 0 {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		return ModelFiles{}, fmt.Errorf("model.dir %s: missing %s (expected the Hugging Face layout: %s)",
			dir, strings.Join(missing, ", "), strings.Join(hfFiles, ", "))
	}
	return ModelFiles{
		Dir:          dir,
		Layout:       LayoutHF,
		Vision:       filepath.Join(dir, hfFiles[0]),
		Text:         filepath.Join(dir, hfFiles[1]),
		Tokenizer:    filepath.Join(dir, hfFiles[2]),
		Preprocessor: filepath.Join(dir, hfFiles[3]),
	}, nil
}

// TensorInfo describes one input or output of a model.
type TensorInfo struct {
	Name  string
	Shape []int64 // -1 for a dynamic axis
	Type  ort.TensorElementDataType
}

func (t TensorInfo) String() string {
	return fmt.Sprintf("%s %s%v", t.Name, t.Type, t.Shape)
}

// readIO returns the inputs and outputs of an ONNX file.
func readIO(path string) (in, out []TensorInfo, err error) {
	ins, outs, err := ort.GetInputOutputInfo(path)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: not a loadable ONNX model: %w", path, err)
	}
	conv := func(list []ort.InputOutputInfo) []TensorInfo {
		res := make([]TensorInfo, 0, len(list))
		for _, v := range list {
			if v.OrtValueType != ort.ONNXTypeTensor {
				continue
			}
			res = append(res, TensorInfo{Name: v.Name, Shape: append([]int64(nil), v.Dimensions...), Type: v.DataType})
		}
		return res
	}
	return conv(ins), conv(outs), nil
}

// pick chooses the tensor named want, else the only one that fits ok.
func pick(list []TensorInfo, want string, ok func(TensorInfo) bool) (TensorInfo, bool) {
	for _, t := range list {
		if t.Name == want && ok(t) {
			return t, true
		}
	}
	var found []TensorInfo
	for _, t := range list {
		if ok(t) {
			found = append(found, t)
		}
	}
	if len(found) == 1 {
		return found[0], true
	}
	return TensorInfo{}, false
}

func describe(list []TensorInfo) string {
	if len(list) == 0 {
		return "none"
	}
	parts := make([]string, len(list))
	for i, t := range list {
		parts[i] = t.String()
	}
	return strings.Join(parts, ", ")
}
