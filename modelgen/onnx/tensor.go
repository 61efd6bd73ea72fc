package onnx

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/autoclipd/autoclipd/internal/half"
)

// FloatTensor returns a FLOAT tensor holding data (row-major, len must be the
// product of dims; Graph.Validate checks it).
func FloatTensor(name string, dims []int64, data []float32) *Tensor {
	raw := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	return &Tensor{Name: name, Type: Float, Dims: dims, Raw: raw}
}

// Float16Tensor returns a FLOAT16 tensor holding data rounded to half
// precision (round to nearest, ties to even).
func Float16Tensor(name string, dims []int64, data []float32) *Tensor {
	raw := make([]byte, 2*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint16(raw[2*i:], Float16Bits(v))
	}
	return &Tensor{Name: name, Type: Float16, Dims: dims, Raw: raw}
}

// Int64Tensor returns an INT64 tensor holding data.
func Int64Tensor(name string, dims []int64, data []int64) *Tensor {
	raw := make([]byte, 8*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint64(raw[8*i:], uint64(v))
	}
	return &Tensor{Name: name, Type: Int64, Dims: dims, Raw: raw}
}

// Int32Tensor returns an INT32 tensor holding data.
func Int32Tensor(name string, dims []int64, data []int32) *Tensor {
	raw := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(raw[4*i:], uint32(v))
	}
	return &Tensor{Name: name, Type: Int32, Dims: dims, Raw: raw}
}

// Floats returns the elements of a FLOAT, FLOAT16 or DOUBLE tensor as
// float32.
func (t *Tensor) Floats() ([]float32, error) {
	if err := t.Check(); err != nil {
		return nil, err
	}
	n := int(t.NumElements())
	out := make([]float32, n)
	switch t.Type {
	case Float:
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.Raw[4*i:]))
		}
	case Float16:
		for i := range out {
			out[i] = Float16ToFloat32(binary.LittleEndian.Uint16(t.Raw[2*i:]))
		}
	case Double:
		for i := range out {
			out[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(t.Raw[8*i:])))
		}
	default:
		return nil, fmt.Errorf("tensor %q: %v is not a floating-point type", t.Name, t.Type)
	}
	return out, nil
}

// Int64s returns the elements of an INT64 or INT32 tensor as int64.
func (t *Tensor) Int64s() ([]int64, error) {
	if err := t.Check(); err != nil {
		return nil, err
	}
	n := int(t.NumElements())
	out := make([]int64, n)
	switch t.Type {
	case Int64:
		for i := range out {
			out[i] = int64(binary.LittleEndian.Uint64(t.Raw[8*i:]))
		}
	case Int32:
		for i := range out {
			out[i] = int64(int32(binary.LittleEndian.Uint32(t.Raw[4*i:])))
		}
	default:
		return nil, fmt.Errorf("tensor %q: %v is not INT64 or INT32", t.Name, t.Type)
	}
	return out, nil
}

// Float16Bits returns the IEEE 754 half-precision bits nearest to f (ties to
// even); values beyond the half range become infinities and NaN stays NaN.
func Float16Bits(f float32) uint16 { return half.Bits(f) }

// Float16ToFloat32 returns the value of the half-precision bits h.
func Float16ToFloat32(h uint16) float32 { return half.Float32(h) }
