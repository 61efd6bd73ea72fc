package autoclip

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// numpyBytes builds a .npy file the way numpy.save does: header dict with
// sorted keys, padded with spaces to a multiple of 64 bytes, then '\n'.
func numpyBytes(major byte, descr string, fortran bool, shape string, data []byte) []byte {
	dict := fmt.Sprintf("{'descr': '%s', 'fortran_order': %s, 'shape': %s, }", descr, map[bool]string{false: "False", true: "True"}[fortran], shape)
	pre := 10
	if major == 2 {
		pre = 12
	}
	total := pre + len(dict) + 1
	pad := (64 - total%64) % 64
	hdr := dict + strings.Repeat(" ", pad) + "\n"
	var b bytes.Buffer
	b.WriteString("\x93NUMPY")
	b.WriteByte(major)
	b.WriteByte(0)
	if major == 2 {
		binary.Write(&b, binary.LittleEndian, uint32(len(hdr)))
	} else {
		binary.Write(&b, binary.LittleEndian, uint16(len(hdr)))
	}
	b.WriteString(hdr)
	b.Write(data)
	return b.Bytes()
}

func leBytes(order binary.ByteOrder, vals any) []byte {
	var b bytes.Buffer
	if err := binary.Write(&b, order, vals); err != nil {
		panic(err)
	}
	return b.Bytes()
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadNPY(t *testing.T) {
	dir := t.TempDir()
	f32 := []float32{1.5, -2, 3.25, 0, 1e-3, 7}
	f64 := []float64{1.5, -2, 3.25, 0, 1e-3, 7}
	for _, tc := range []struct {
		name  string
		file  []byte
		shape []int
	}{
		{name: "f4 v1", file: numpyBytes(1, "<f4", false, "(2, 3)", leBytes(binary.LittleEndian, f32)), shape: []int{2, 3}},
		{name: "f4 v2", file: numpyBytes(2, "<f4", false, "(3, 2)", leBytes(binary.LittleEndian, f32)), shape: []int{3, 2}},
		{name: "f8", file: numpyBytes(1, "<f8", false, "(6,)", leBytes(binary.LittleEndian, f64)), shape: []int{6}},
		{name: "f8 big-endian", file: numpyBytes(1, ">f8", false, "(1, 2, 3)", leBytes(binary.BigEndian, f64)), shape: []int{1, 2, 3}},
		{name: "f4 1-D fortran flag", file: numpyBytes(1, "<f4", true, "(6,)", leBytes(binary.LittleEndian, f32)), shape: []int{6}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, dir, "a.npy", tc.file)
			data, shape, err := LoadNPY(p)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(shape, tc.shape) || !slices.Equal(data, f32) {
				t.Fatalf("LoadNPY = %v %v, want %v %v", data, shape, f32, tc.shape)
			}
		})
	}
	empty := writeFile(t, dir, "empty.npy", numpyBytes(1, "<f4", false, "(0, 512)", nil))
	if data, shape, err := LoadNPY(empty); err != nil || len(data) != 0 || !slices.Equal(shape, []int{0, 512}) {
		t.Fatalf("empty array: %v %v %v", data, shape, err)
	}
	scalar := writeFile(t, dir, "scalar.npy", numpyBytes(1, "<f4", false, "()", leBytes(binary.LittleEndian, float32(2.5))))
	if data, shape, err := LoadNPY(scalar); err != nil || !slices.Equal(data, []float32{2.5}) || len(shape) != 0 {
		t.Fatalf("scalar: %v %v %v", data, shape, err)
	}
}

func TestLoadLabelsNPY(t *testing.T) {
	dir := t.TempDir()
	want := []int{0, 3, 1, 2}
	for _, tc := range []struct {
		name string
		file []byte
	}{
		{name: "i8", file: numpyBytes(1, "<i8", false, "(4,)", leBytes(binary.LittleEndian, []int64{0, 3, 1, 2}))},
		{name: "i4", file: numpyBytes(1, "<i4", false, "(4,)", leBytes(binary.LittleEndian, []int32{0, 3, 1, 2}))},
		{name: "u1", file: numpyBytes(1, "|u1", false, "(4,)", []byte{0, 3, 1, 2})},
		{name: "i2 big-endian", file: numpyBytes(1, ">i2", false, "(4,)", leBytes(binary.BigEndian, []int16{0, 3, 1, 2}))},
		{name: "u8", file: numpyBytes(1, "<u8", false, "(4,)", leBytes(binary.LittleEndian, []uint64{0, 3, 1, 2}))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, shape, err := LoadLabelsNPY(writeFile(t, dir, "y.npy", tc.file))
			if err != nil || !slices.Equal(got, want) || !slices.Equal(shape, []int{4}) {
				t.Fatalf("LoadLabelsNPY = %v %v %v, want %v [4]", got, shape, err, want)
			}
		})
	}
}

func TestNPYErrors(t *testing.T) {
	dir := t.TempDir()
	f32 := leBytes(binary.LittleEndian, []float32{1, 2, 3, 4, 5, 6})
	good := numpyBytes(1, "<f4", false, "(2, 3)", f32)
	raw := func(hdr string, data []byte) []byte {
		var b bytes.Buffer
		b.WriteString("\x93NUMPY\x01\x00")
		binary.Write(&b, binary.LittleEndian, uint16(len(hdr)))
		b.WriteString(hdr)
		b.Write(data)
		return b.Bytes()
	}
	for _, tc := range []struct {
		name   string
		file   []byte
		labels bool
		want   string // after "PATH: "
	}{
		{name: "empty file", file: nil,
			want: "not a .npy file: 0 bytes, shorter than the smallest header"},
		{name: "bad magic", file: append([]byte("\x93NUMPX"), good[6:]...),
			want: `not a .npy file: bad magic "\x93NUMPX"`},
		{name: "version 3", file: append(append([]byte{}, good[:6]...), append([]byte{3, 0}, good[8:]...)...),
			want: "unsupported .npy format version 3.0 (want 1.0 or 2.0)"},
		{name: "truncated data", file: good[:len(good)-3],
			want: "shape [2 3] of <f4 needs 24 data bytes, the file holds 21"},
		{name: "trailing data", file: append(slices.Clone(good), 0),
			want: "shape [2 3] of <f4 needs 24 data bytes, the file holds 25"},
		{name: "header past end", file: good[:40],
			want: "header of 118 bytes does not fit the file (40 bytes, at most 65536 header bytes)"},
		{name: "no newline", file: raw("{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }", f32),
			want: "header does not end with a newline"},
		{name: "keys out of order", file: raw("{'shape': (6,), 'descr': '<f4', 'fortran_order': False, }\n", f32),
			want: `header "{'shape': (6,), 'descr': '<f4', 'fortran_order': False, }" is not a numpy header dictionary {'descr': ..., 'fortran_order': ..., 'shape': (...), }`},
		{name: "no trailing comma in dict", file: raw("{'descr': '<f4', 'fortran_order': False, 'shape': (6,)}\n", f32),
			want: `header "{'descr': '<f4', 'fortran_order': False, 'shape': (6,)}" is not a numpy header dictionary {'descr': ..., 'fortran_order': ..., 'shape': (...), }`},
		{name: "1-tuple without comma", file: raw("{'descr': '<f4', 'fortran_order': False, 'shape': (6), }\n", f32),
			want: "bad shape (6): a 1-tuple needs a trailing comma"},
		{name: "empty shape item", file: raw("{'descr': '<f4', 'fortran_order': False, 'shape': (2, , 3), }\n", f32),
			want: "bad shape (2, , 3): item 1 \"\" is not a size"},
		{name: "huge shape", file: raw("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4294967296), }\n", f32),
			want: "shape [4294967296 4294967296 4294967296] of <f4 is too large (the file holds 24 data bytes)"},
		{name: "large shape", file: raw("{'descr': '<f4', 'fortran_order': False, 'shape': (1048576, 1048576), }\n", f32),
			want: "shape [1048576 1048576] of <f4 needs 4398046511104 data bytes, the file holds 24"},
		{name: "shape overflows int", file: raw("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }\n", f32),
			want: `bad shape (99999999999999999999,): item 0 "99999999999999999999" is not a size`},
		{name: "fortran 2-D", file: numpyBytes(1, "<f4", true, "(2, 3)", f32),
			want: "array of shape [2 3] is in Fortran order, want C order (numpy.ascontiguousarray)"},
		{name: "complex", file: numpyBytes(1, "<c8", false, "(3,)", f32),
			want: `unsupported dtype "<c8"`},
		{name: "structured", file: raw("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (6,), }\n", f32),
			want: `header "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (6,), }" is not a numpy header dictionary {'descr': ..., 'fortran_order': ..., 'shape': (...), }`},
		{name: "ints as floats", file: numpyBytes(1, "<i4", false, "(2, 3)", f32),
			want: `dtype "<i4" of shape [2 3], want float32 or float64 ('<f4' or '<f8')`},
		{name: "float64 out of float32 range", file: numpyBytes(1, "<f8", false, "(2,)", leBytes(binary.LittleEndian, []float64{1, 1e300})),
			want: "element 1 (1e+300) is out of float32 range"},
		{name: "floats as labels", file: good, labels: true,
			want: `dtype "<f4" of shape [2 3], want an integer dtype`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, dir, "bad.npy", tc.file)
			var err error
			if tc.labels {
				_, _, err = LoadLabelsNPY(p)
			} else {
				_, _, err = LoadNPY(p)
			}
			if want := p + ": " + tc.want; err == nil || err.Error() != want {
				t.Fatalf("error = %v\nwant %s", err, want)
			}
		})
	}
	if _, _, err := LoadNPY(filepath.Join(dir, "missing.npy")); err == nil || !strings.Contains(err.Error(), "missing.npy") {
		t.Fatalf("missing file: error %v does not name the file", err)
	}
}

func TestWriteNPYRoundTrip(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name  string
		data  []float64
		shape []int
	}{
		{name: "2-D", data: []float64{1, 2.5, -3, math.Pi, 1e-300, 6}, shape: []int{2, 3}},
		{name: "1-D", data: []float64{0.25, -0.5, 8}, shape: []int{3}},
		{name: "single row", data: []float64{1, 2}, shape: []int{1, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, "w.npy")
			if err := WriteNPY(p, tc.data, tc.shape...); err != nil {
				t.Fatal(err)
			}
			got, shape, err := LoadNPYFloat64(p)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.data) || !slices.Equal(shape, tc.shape) {
				t.Fatalf("round trip: %v %v, want %v %v", got, shape, tc.data, tc.shape)
			}
		})
	}
	for _, tc := range []struct {
		name  string
		data  []float64
		shape []int
	}{
		{name: "no shape", data: []float64{1}},
		{name: "3-D", data: make([]float64, 8), shape: []int{2, 2, 2}},
		{name: "mismatch", data: make([]float64, 5), shape: []int{2, 3}},
		{name: "empty rows", data: nil, shape: []int{0, 3}},
	} {
		t.Run("error/"+tc.name, func(t *testing.T) {
			p := filepath.Join(dir, "bad.npy")
			err := WriteNPY(p, tc.data, tc.shape...)
			want := fmt.Sprintf("%s: cannot write %d values as shape %v (want 1 or 2 dims, non-empty rows, matching the data)", p, len(tc.data), tc.shape)
			if err == nil || err.Error() != want {
				t.Fatalf("error = %v, want %q", err, want)
			}
		})
	}
	if err := WriteNPY(filepath.Join(dir, "no", "such", "dir.npy"), []float64{1}, 1); err == nil {
		t.Fatalf("writing into a missing directory succeeded")
	}
}

// FuzzReadNPY feeds arbitrary bytes to the .npy decoders: no panic, no
// allocation beyond the file's size, and a success returns as many values
// as the shape says.
func FuzzReadNPY(f *testing.F) {
	f32 := leBytes(binary.LittleEndian, []float32{1, 2, 3, 4, 5, 6})
	f.Add(numpyBytes(1, "<f4", false, "(2, 3)", f32))
	f.Add(numpyBytes(2, "<f8", false, "(3,)", f32))
	f.Add(numpyBytes(1, "<i8", false, "(3,)", f32))
	f.Add(numpyBytes(1, "|u1", false, "(24,)", f32))
	f.Add(numpyBytes(1, "<f4", false, "()", f32[:4]))
	f.Add(numpyBytes(1, "<f4", true, "(2, 3)", f32))
	f.Add([]byte("\x93NUMPY\x01\x00\x10\x00{'descr': '<f4'}\n"))
	f.Add([]byte("\x93NUMPY\x02\x00\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, file []byte) {
		r := bytes.NewReader(file)
		if data, shape, err := decodeFloatNPY(r, int64(len(file))); err == nil {
			if n := prod(shape); n != len(data) {
				t.Fatalf("float decode: %d values for shape %v", len(data), shape)
			}
		}
		if data, shape, err := decodeFloat64NPY(r, int64(len(file))); err == nil {
			if n := prod(shape); n != len(data) {
				t.Fatalf("float64 decode: %d values for shape %v", len(data), shape)
			}
		}
		if data, shape, err := decodeIntNPY(r, int64(len(file))); err == nil {
			if n := prod(shape); n != len(data) {
				t.Fatalf("int decode: %d values for shape %v", len(data), shape)
			}
		}
	})
}

func prod(shape []int) int {
	n := 1
	for _, v := range shape {
		n *= v
	}
	return n
}
