package autoclip

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/sbinet/npyio"
	"gonum.org/v1/gonum/mat"
)

// maxNPYHeader bounds the header dictionary of a .npy file (numpy itself
// refuses headers over 10000 bytes by default).
const maxNPYHeader = 1 << 16

// npyDict is the header dictionary exactly as numpy (and npyio) write it:
// keys sorted, a ", " after every item.
var npyDict = regexp.MustCompile(`^\{'descr': '([^'\\{}]*)', 'fortran_order': (True|False), 'shape': \(([0-9, ]*)\), \}$`)

// npyHeader is a validated .npy header.
type npyHeader struct {
	descr   string
	fortran bool
	shape   []int
	elem    reflect.Type
	nelems  int
	dataOff int64
}

// parseNPYHeader reads and validates the header of the .npy data in r
// (size bytes). Beyond the format itself it checks that the data section
// holds exactly the elements the shape asks for, so that the decoder never
// reads past the end or allocates more than the file holds.
func parseNPYHeader(r io.ReaderAt, size int64) (npyHeader, error) {
	var h npyHeader
	var pre [12]byte
	n, err := r.ReadAt(pre[:], 0)
	if n < 10 {
		if err != nil && err != io.EOF {
			return h, err
		}
		return h, fmt.Errorf("not a .npy file: %d bytes, shorter than the smallest header", size)
	}
	if !bytes.Equal(pre[:6], npyio.Magic[:]) {
		return h, fmt.Errorf("not a .npy file: bad magic %q", pre[:6])
	}
	var hlen int64
	switch major, minor := pre[6], pre[7]; {
	case major == 1 && minor == 0:
		hlen, h.dataOff = int64(binary.LittleEndian.Uint16(pre[8:10])), 10
	case major == 2 && minor == 0 && n == 12:
		hlen, h.dataOff = int64(binary.LittleEndian.Uint32(pre[8:12])), 12
	default:
		return h, fmt.Errorf("unsupported .npy format version %d.%d (want 1.0 or 2.0)", major, minor)
	}
	if hlen > maxNPYHeader || h.dataOff+hlen > size {
		return h, fmt.Errorf("header of %d bytes does not fit the file (%d bytes, at most %d header bytes)", hlen, size, maxNPYHeader)
	}
	raw := make([]byte, hlen)
	if _, err := r.ReadAt(raw, h.dataOff); err != nil {
		return h, fmt.Errorf("reading header: %v", err)
	}
	h.dataOff += hlen
	if len(raw) == 0 || raw[len(raw)-1] != '\n' {
		return h, fmt.Errorf("header does not end with a newline")
	}
	dict := strings.TrimRight(string(raw[:len(raw)-1]), " ")
	m := npyDict.FindStringSubmatch(dict)
	if m == nil {
		return h, fmt.Errorf("header %.80q is not a numpy header dictionary {'descr': ..., 'fortran_order': ..., 'shape': (...), }", dict)
	}
	h.descr, h.fortran = m[1], m[2] == "True"
	if h.shape, err = parseNPYShape(m[3]); err != nil {
		return h, err
	}
	if h.fortran && len(h.shape) > 1 {
		return h, fmt.Errorf("array of shape %v is in Fortran order, want C order (numpy.ascontiguousarray)", h.shape)
	}
	h.elem = npyio.TypeFrom(h.descr)
	if h.elem == nil || !isNumeric(h.elem.Kind()) {
		return h, fmt.Errorf("unsupported dtype %q", h.descr)
	}
	itemSize := int64(h.elem.Size())
	dataLen := size - h.dataOff
	h.nelems = 1
	if slices.Contains(h.shape, 0) {
		h.nelems = 0
	}
	for _, v := range h.shape {
		if h.nelems > 0 && int64(h.nelems) > (1<<62)/itemSize/int64(v) {
			return h, fmt.Errorf("shape %v of %s is too large (the file holds %d data bytes)", h.shape, h.descr, dataLen)
		}
		h.nelems *= v
	}
	if want := int64(h.nelems) * itemSize; dataLen != want {
		return h, fmt.Errorf("shape %v of %s needs %d data bytes, the file holds %d", h.shape, h.descr, want, dataLen)
	}
	return h, nil
}

// parseNPYShape parses the inside of a shape tuple: "", "3,", "3, 4".
func parseNPYShape(s string) ([]int, error) {
	shape := []int{}
	if strings.TrimSpace(s) == "" {
		return shape, nil
	}
	parts := strings.Split(s, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" && i == len(parts)-1 && i > 0 {
			break // trailing comma of a tuple
		}
		v, err := strconv.Atoi(p)
		if err != nil || v < 0 || strings.ContainsAny(p, "+-") {
			return nil, fmt.Errorf("bad shape (%s): item %d %q is not a size", s, i, p)
		}
		shape = append(shape, v)
	}
	if len(parts) == 1 {
		return nil, fmt.Errorf("bad shape (%s): a 1-tuple needs a trailing comma", s)
	}
	return shape, nil
}

func isNumeric(k reflect.Kind) bool {
	switch k {
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

// fullReader turns every Read into an io.ReadFull: npyio decodes element by
// element with plain Reads and does not retry short ones.
type fullReader struct{ r io.Reader }

func (f fullReader) Read(p []byte) (int, error) { return io.ReadFull(f.r, p) }

// openNPY validates the header and returns an npyio reader positioned at
// the data.
func openNPY(r io.ReaderAt, size int64) (npyHeader, *npyio.Reader, error) {
	h, err := parseNPYHeader(r, size)
	if err != nil {
		return h, nil, err
	}
	rd, err := npyio.NewReader(fullReader{bufio.NewReaderSize(io.NewSectionReader(r, 0, size), 1<<16)})
	if err != nil {
		return h, nil, fmt.Errorf("npyio: %v", err)
	}
	if d := rd.Header.Descr; d.Type != h.descr || !slices.Equal(d.Shape, h.shape) {
		return h, nil, fmt.Errorf("npyio reads the header as dtype %q shape %v, expected %q %v", d.Type, d.Shape, h.descr, h.shape)
	}
	return h, rd, nil
}

// decodeFloatNPY decodes a float32 or float64 array into float32.
func decodeFloatNPY(r io.ReaderAt, size int64) ([]float32, []int, error) {
	h, rd, err := openNPY(r, size)
	if err != nil {
		return nil, nil, err
	}
	switch h.elem.Kind() {
	case reflect.Float32:
		data := make([]float32, h.nelems)
		if err := rd.Read(&data); err != nil {
			return nil, nil, fmt.Errorf("reading %s data: %v", h.descr, err)
		}
		return data, h.shape, nil
	case reflect.Float64:
		data := make([]float64, h.nelems)
		if err := rd.Read(&data); err != nil {
			return nil, nil, fmt.Errorf("reading %s data: %v", h.descr, err)
		}
		out := make([]float32, len(data))
		for i, v := range data {
			if math.Abs(v) > math.MaxFloat32 && !math.IsInf(v, 0) {
				return nil, nil, fmt.Errorf("element %d (%v) is out of float32 range", i, v)
			}
			out[i] = float32(v)
		}
		return out, h.shape, nil
	}
	return nil, nil, fmt.Errorf("dtype %q of shape %v, want float32 or float64 ('<f4' or '<f8')", h.descr, h.shape)
}

// decodeFloat64NPY decodes a float32 or float64 array into float64.
func decodeFloat64NPY(r io.ReaderAt, size int64) ([]float64, []int, error) {
	h, rd, err := openNPY(r, size)
	if err != nil {
		return nil, nil, err
	}
	switch h.elem.Kind() {
	case reflect.Float32:
		data := make([]float32, h.nelems)
		if err := rd.Read(&data); err != nil {
			return nil, nil, fmt.Errorf("reading %s data: %v", h.descr, err)
		}
		out := make([]float64, len(data))
		for i, v := range data {
			out[i] = float64(v)
		}
		return out, h.shape, nil
	case reflect.Float64:
		data := make([]float64, h.nelems)
		if err := rd.Read(&data); err != nil {
			return nil, nil, fmt.Errorf("reading %s data: %v", h.descr, err)
		}
		return data, h.shape, nil
	}
	return nil, nil, fmt.Errorf("dtype %q of shape %v, want float32 or float64 ('<f4' or '<f8')", h.descr, h.shape)
}

// decodeIntNPY decodes an array of any integer dtype into int.
func decodeIntNPY(r io.ReaderAt, size int64) ([]int, []int, error) {
	h, rd, err := openNPY(r, size)
	if err != nil {
		return nil, nil, err
	}
	out := make([]int, h.nelems)
	// ptr is a pointer to a slice of h.elem, made to the right length so that
	// npyio fills it in place.
	ptr := reflect.New(reflect.SliceOf(h.elem))
	ptr.Elem().Set(reflect.MakeSlice(reflect.SliceOf(h.elem), h.nelems, h.nelems))
	switch h.elem.Kind() {
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if err := rd.Read(ptr.Interface()); err != nil {
			return nil, nil, fmt.Errorf("reading %s data: %v", h.descr, err)
		}
		for i := range out {
			out[i] = int(ptr.Elem().Index(i).Int())
		}
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if err := rd.Read(ptr.Interface()); err != nil {
			return nil, nil, fmt.Errorf("reading %s data: %v", h.descr, err)
		}
		for i := range out {
			v := ptr.Elem().Index(i).Uint()
			if v > math.MaxInt {
				return nil, nil, fmt.Errorf("element %d (%d) is out of int range", i, v)
			}
			out[i] = int(v)
		}
	default:
		return nil, nil, fmt.Errorf("dtype %q of shape %v, want an integer dtype", h.descr, h.shape)
	}
	return out, h.shape, nil
}

// LoadNPY reads a float32 or float64 .npy file in C order and returns its
// data as float32 with its shape. Errors name the file, and the dtype or
// shape where they are the problem.
func LoadNPY(path string) ([]float32, []int, error) {
	var data []float32
	var shape []int
	err := withFile(path, func(f *os.File, size int64) (err error) {
		data, shape, err = decodeFloatNPY(f, size)
		return err
	})
	return data, shape, err
}

// LoadNPYFloat64 is LoadNPY returning float64, exact for both dtypes (for
// reading back scores and weights that WriteNPY wrote).
func LoadNPYFloat64(path string) ([]float64, []int, error) {
	var data []float64
	var shape []int
	err := withFile(path, func(f *os.File, size int64) (err error) {
		data, shape, err = decodeFloat64NPY(f, size)
		return err
	})
	return data, shape, err
}

// LoadLabelsNPY reads a .npy file of any integer dtype (int8 to uint64)
// and returns its data as int with its shape.
func LoadLabelsNPY(path string) ([]int, []int, error) {
	var data, shape []int
	err := withFile(path, func(f *os.File, size int64) (err error) {
		data, shape, err = decodeIntNPY(f, size)
		return err
	})
	return data, shape, err
}

func withFile(path string, fn func(*os.File, int64) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err // *PathError names the file
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if err := fn(f, st.Size()); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// WriteNPY writes data as a float64 .npy file of the given shape (one or
// two dimensions, C order), replacing the file.
func WriteNPY(path string, data []float64, shape ...int) error {
	var val any
	switch {
	case len(shape) == 1 && shape[0] == len(data):
		val = data
	case len(shape) == 2 && shape[0] >= 1 && shape[1] >= 1 && shape[0] <= len(data)/shape[1] && shape[0]*shape[1] == len(data):
		val = mat.NewDense(shape[0], shape[1], data)
	default:
		return fmt.Errorf("%s: cannot write %d values as shape %v (want 1 or 2 dims, non-empty rows, matching the data)", path, len(data), shape)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<16)
	err = npyio.Write(bw, val)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%s: writing .npy: %v", path, err)
	}
	return nil
}
