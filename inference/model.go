package inference

import (
	"fmt"
	"strings"

	ort "github.com/yalue/onnxruntime_go"
)

// TensorInfo describes one input or output of a model.
type TensorInfo struct {
	Name  string
	Shape []int64 // -1 for a dynamic axis
	Type  ort.TensorElementDataType
}

// String formats the tensor as "name type[dims]", -1 for a dynamic axis.
func (t TensorInfo) String() string {
	return fmt.Sprintf("%s %s%v", t.Name, typeName(t.Type), t.Shape)
}

// typeName is the short name of an element type, as numpy spells it.
func typeName(t ort.TensorElementDataType) string {
	switch t {
	case ort.TensorElementDataTypeFloat:
		return "float32"
	case ort.TensorElementDataTypeFloat16:
		return "float16"
	case ort.TensorElementDataTypeBFloat16:
		return "bfloat16"
	case ort.TensorElementDataTypeDouble:
		return "float64"
	case ort.TensorElementDataTypeInt64:
		return "int64"
	case ort.TensorElementDataTypeInt32:
		return "int32"
	case ort.TensorElementDataTypeInt16:
		return "int16"
	case ort.TensorElementDataTypeInt8:
		return "int8"
	case ort.TensorElementDataTypeUint8:
		return "uint8"
	case ort.TensorElementDataTypeBool:
		return "bool"
	case ort.TensorElementDataTypeString:
		return "string"
	}
	return strings.TrimPrefix(t.String(), "ONNX_TENSOR_ELEMENT_DATA_TYPE_")
}

// readIO returns the inputs and outputs of an ONNX file.
func readIO(path string) (in, out []TensorInfo, err error) {
	ins, outs, err := ort.GetInputOutputInfo(path)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: not a loadable ONNX model: %s", path, oneLine(err))
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
