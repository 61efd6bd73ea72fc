package onnx

import (
	"encoding/binary"
	"fmt"
	"math"
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
func Float16Bits(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23) & 0xff
	mant := b & 0x7fffff
	if exp == 0xff { // Inf or NaN
		if mant != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15 // half exponent, biased
	if e >= 0x1f {
		return sign | 0x7c00 // overflow
	}
	if e <= 0 {
		// Subnormal half (or zero): value = m * 2^-24 with the implicit bit.
		if e < -10 {
			return sign // rounds to zero: below half of the smallest subnormal
		}
		m := mant | 0x800000
		shift := uint32(14 - e) // bits to drop from the 24-bit significand
		half := uint32(1) << (shift - 1)
		q := m >> shift
		rem := m & (1<<shift - 1)
		if rem > half || (rem == half && q&1 == 1) {
			q++ // may carry into the smallest normal: still right
		}
		return sign | uint16(q)
	}
	q := uint32(e)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && q&1 == 1) {
		q++ // a carry into the exponent, up to Inf, is the right rounding
	}
	return sign | uint16(q)
}

// Float16ToFloat32 returns the value of the half-precision bits h.
func Float16ToFloat32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp == 0 && mant == 0:
		return math.Float32frombits(sign)
	case exp == 0:
		// Subnormal: normalise into a float32 normal.
		e := uint32(127 - 15 + 1)
		for mant&0x400 == 0 {
			mant <<= 1
			e--
		}
		return math.Float32frombits(sign | e<<23 | (mant&0x3ff)<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
}
