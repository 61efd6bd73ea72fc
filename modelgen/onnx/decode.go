package onnx

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"

	"google.golang.org/protobuf/encoding/protowire"
)

// Unmarshal decodes an ONNX model in the protobuf format. It reads what this
// package writes and the same subset from other writers: tensors in raw_data
// or in the typed fields (float_data, int64_data, ...; these are converted to
// raw bytes), attributes of the kinds in AttrType, tensor-typed inputs and
// outputs. It returns an error naming the message path and field for anything
// it cannot represent faithfully (external data, string or sparse tensors,
// model-local functions, non-tensor types) or that is malformed; fields that
// carry no meaning for inference (doc strings of values, denotations,
// quantization annotations, training info) are skipped. It does not call
// Validate. Tensor.Raw slices taken from raw_data alias b.
func Unmarshal(b []byte) (*Model, error) {
	m := &Model{}
	if err := m.decode(b, "model"); err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	return m, nil
}

// ReadFile reads and decodes the ONNX model at path; see Unmarshal.
func ReadFile(path string) (*Model, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m, err := Unmarshal(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// field is one decoded protobuf field: u holds varint and fixed values, b
// the bytes of length-delimited ones.
type field struct {
	num protowire.Number
	typ protowire.Type
	u   uint64
	b   []byte
}

// wireName names a wire type in errors.
func wireName(t protowire.Type) string {
	switch t {
	case protowire.VarintType:
		return "varint"
	case protowire.Fixed32Type:
		return "fixed32"
	case protowire.Fixed64Type:
		return "fixed64"
	case protowire.BytesType:
		return "bytes"
	case protowire.StartGroupType:
		return "group"
	case protowire.EndGroupType:
		return "end-group"
	}
	return fmt.Sprintf("wire type %d", t)
}

// fields calls fn for every field in the message b; groups (which onnx.proto
// does not use) are skipped.
func fields(b []byte, where string, fn func(f field) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("%s: bad tag: %v", where, protowire.ParseError(n))
		}
		b = b[n:]
		f := field{num: num, typ: typ}
		switch typ {
		case protowire.VarintType:
			f.u, n = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type:
			var v uint32
			v, n = protowire.ConsumeFixed32(b)
			f.u = uint64(v)
		case protowire.Fixed64Type:
			f.u, n = protowire.ConsumeFixed64(b)
		case protowire.BytesType:
			f.b, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return fmt.Errorf("%s: field %d: %v", where, num, protowire.ParseError(n))
		}
		b = b[n:]
		if typ == protowire.StartGroupType {
			continue
		}
		if err := fn(f); err != nil {
			return err
		}
	}
	return nil
}

func (f field) want(where, name string, typ protowire.Type) error {
	if f.typ != typ {
		return fmt.Errorf("%s: field %d (%s): wire type %s, want %s", where, f.num, name, wireName(f.typ), wireName(typ))
	}
	return nil
}

func (f field) str(where, name string) (string, error) {
	if err := f.want(where, name, protowire.BytesType); err != nil {
		return "", err
	}
	return string(f.b), nil
}

func (f field) int64(where, name string) (int64, error) {
	if err := f.want(where, name, protowire.VarintType); err != nil {
		return 0, err
	}
	return int64(f.u), nil
}

func (f field) msg(where, name string) ([]byte, error) {
	if err := f.want(where, name, protowire.BytesType); err != nil {
		return nil, err
	}
	return f.b, nil
}

// varints appends a repeated varint field, unpacked (one value) or packed.
func (f field) varints(where, name string, dst []uint64) ([]uint64, error) {
	switch f.typ {
	case protowire.VarintType:
		return append(dst, f.u), nil
	case protowire.BytesType:
		b := f.b
		for len(b) > 0 {
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return nil, fmt.Errorf("%s: field %d (%s): packed: %v", where, f.num, name, protowire.ParseError(n))
			}
			dst = append(dst, v)
			b = b[n:]
		}
		return dst, nil
	}
	return nil, fmt.Errorf("%s: field %d (%s): wire type %s, want varint", where, f.num, name, wireName(f.typ))
}

// fixeds appends a repeated fixed32 or fixed64 field (size 4 or 8),
// unpacked or packed.
func (f field) fixeds(where, name string, size int, dst []uint64) ([]uint64, error) {
	typ := protowire.Fixed32Type
	if size == 8 {
		typ = protowire.Fixed64Type
	}
	switch f.typ {
	case typ:
		return append(dst, f.u), nil
	case protowire.BytesType:
		if len(f.b)%size != 0 {
			return nil, fmt.Errorf("%s: field %d (%s): packed length %d is not a multiple of %d", where, f.num, name, len(f.b), size)
		}
		for i := 0; i < len(f.b); i += size {
			if size == 4 {
				dst = append(dst, uint64(binary.LittleEndian.Uint32(f.b[i:])))
			} else {
				dst = append(dst, binary.LittleEndian.Uint64(f.b[i:]))
			}
		}
		return dst, nil
	}
	return nil, fmt.Errorf("%s: field %d (%s): wire type %s, want %s", where, f.num, name, wireName(f.typ), wireName(typ))
}

func unsupported(where string, num protowire.Number, what string) error {
	return fmt.Errorf("%s: field %d (%s) is not supported", where, num, what)
}

func (m *Model) decode(b []byte, where string) error {
	return fields(b, where, func(f field) error {
		var err error
		switch f.num {
		case modelIRVersion:
			m.IRVersion, err = f.int64(where, "ir_version")
		case modelProducerName:
			m.ProducerName, err = f.str(where, "producer_name")
		case modelProducerVersion:
			m.ProducerVersion, err = f.str(where, "producer_version")
		case modelDomain:
			m.Domain, err = f.str(where, "domain")
		case modelModelVersion:
			m.ModelVersion, err = f.int64(where, "model_version")
		case modelDocString:
			m.Doc, err = f.str(where, "doc_string")
		case modelGraph:
			var body []byte
			if body, err = f.msg(where, "graph"); err != nil {
				return err
			}
			g := &Graph{}
			if err := g.decode(body, where+".graph", 0); err != nil {
				return err
			}
			m.Graph = g
		case modelOpsetImport:
			w := fmt.Sprintf("%s.opset_import[%d]", where, len(m.Opsets))
			var body []byte
			if body, err = f.msg(where, "opset_import"); err != nil {
				return err
			}
			var o OpsetID
			err = fields(body, w, func(f field) error {
				var err error
				switch f.num {
				case opsetDomain:
					o.Domain, err = f.str(w, "domain")
				case opsetVersion:
					o.Version, err = f.int64(w, "version")
				}
				return err
			})
			m.Opsets = append(m.Opsets, o)
		case modelMetadataProps:
			w := fmt.Sprintf("%s.metadata_props[%d]", where, len(m.Metadata))
			var body []byte
			if body, err = f.msg(where, "metadata_props"); err != nil {
				return err
			}
			var kv KeyValue
			err = fields(body, w, func(f field) error {
				var err error
				switch f.num {
				case entryKey:
					kv.Key, err = f.str(w, "key")
				case entryValue:
					kv.Value, err = f.str(w, "value")
				}
				return err
			})
			m.Metadata = append(m.Metadata, kv)
		case modelFunctions:
			err = unsupported(where, f.num, "functions")
		}
		return err
	})
}

func (g *Graph) decode(b []byte, where string, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("%s: subgraphs nested deeper than %d", where, maxDepth)
	}
	return fields(b, where, func(f field) error {
		var err error
		var body []byte
		switch f.num {
		case graphNode:
			if body, err = f.msg(where, "node"); err != nil {
				return err
			}
			n := &Node{}
			if err := n.decode(body, fmt.Sprintf("%s.node[%d]", where, len(g.Nodes)), depth); err != nil {
				return err
			}
			g.Nodes = append(g.Nodes, n)
		case graphName:
			g.Name, err = f.str(where, "name")
		case graphInitializer:
			if body, err = f.msg(where, "initializer"); err != nil {
				return err
			}
			t := &Tensor{}
			if err := t.decode(body, fmt.Sprintf("%s.initializer[%d]", where, len(g.Initializers))); err != nil {
				return err
			}
			g.Initializers = append(g.Initializers, t)
		case graphDocString:
			g.Doc, err = f.str(where, "doc_string")
		case graphInput, graphOutput, graphValueInfo:
			name, list := "input", &g.Inputs
			switch f.num {
			case graphOutput:
				name, list = "output", &g.Outputs
			case graphValueInfo:
				name, list = "value_info", &g.ValueInfo
			}
			if body, err = f.msg(where, name); err != nil {
				return err
			}
			var v ValueInfo
			if err := v.decode(body, fmt.Sprintf("%s.%s[%d]", where, name, len(*list))); err != nil {
				return err
			}
			*list = append(*list, v)
		case graphSparseInitializer:
			err = unsupported(where, f.num, "sparse_initializer")
		}
		return err
	})
}

func (n *Node) decode(b []byte, where string, depth int) error {
	return fields(b, where, func(f field) error {
		var err error
		var s string
		switch f.num {
		case nodeInput:
			s, err = f.str(where, "input")
			n.Inputs = append(n.Inputs, s)
		case nodeOutput:
			s, err = f.str(where, "output")
			n.Outputs = append(n.Outputs, s)
		case nodeName:
			n.Name, err = f.str(where, "name")
		case nodeOpType:
			n.OpType, err = f.str(where, "op_type")
		case nodeAttribute:
			var body []byte
			if body, err = f.msg(where, "attribute"); err != nil {
				return err
			}
			var a Attribute
			if err := a.decode(body, fmt.Sprintf("%s.attribute[%d]", where, len(n.Attrs)), depth); err != nil {
				return err
			}
			n.Attrs = append(n.Attrs, a)
		case nodeDocString:
			n.Doc, err = f.str(where, "doc_string")
		case nodeDomain:
			n.Domain, err = f.str(where, "domain")
		}
		return err
	})
}

// attrField returns the attribute type whose value field num is, and
// whether num is a value field.
func attrField(num protowire.Number) (AttrType, bool) {
	switch num {
	case attrF:
		return AttrFloat, true
	case attrI:
		return AttrInt, true
	case attrS:
		return AttrString, true
	case attrT:
		return AttrTensor, true
	case attrG:
		return AttrGraph, true
	case attrFloats:
		return AttrFloats, true
	case attrInts:
		return AttrInts, true
	case attrStrings:
		return AttrStrings, true
	}
	return AttrUndefined, false
}

func (a *Attribute) decode(b []byte, where string, depth int) error {
	seen := make(map[AttrType]bool)
	err := fields(b, where, func(f field) error {
		var err error
		var body []byte
		var vals []uint64
		if t, ok := attrField(f.num); ok {
			seen[t] = true
		}
		switch f.num {
		case attrName:
			a.Name, err = f.str(where, "name")
		case attrType:
			var t int64
			t, err = f.int64(where, "type")
			a.Type = AttrType(t)
		case attrF:
			if err = f.want(where, "f", protowire.Fixed32Type); err == nil {
				a.F = math.Float32frombits(uint32(f.u))
			}
		case attrI:
			a.I, err = f.int64(where, "i")
		case attrS:
			a.S, err = f.str(where, "s")
		case attrT:
			if body, err = f.msg(where, "t"); err != nil {
				return err
			}
			a.T = &Tensor{}
			err = a.T.decode(body, where+".t")
		case attrG:
			if body, err = f.msg(where, "g"); err != nil {
				return err
			}
			a.G = &Graph{}
			err = a.G.decode(body, where+".g", depth+1)
		case attrFloats:
			if vals, err = f.fixeds(where, "floats", 4, nil); err != nil {
				return err
			}
			for _, v := range vals {
				a.Floats = append(a.Floats, math.Float32frombits(uint32(v)))
			}
		case attrInts:
			if vals, err = f.varints(where, "ints", nil); err != nil {
				return err
			}
			for _, v := range vals {
				a.Ints = append(a.Ints, int64(v))
			}
		case attrStrings:
			var s string
			s, err = f.str(where, "strings")
			a.Strings = append(a.Strings, s)
		case 10, 11, 14, 15, 21, 22, 23:
			// tensors, graphs, tp, type_protos, ref_attr_name, sparse_tensor(s)
			err = unsupported(where, f.num, "attribute value")
		}
		return err
	})
	if err != nil {
		return err
	}
	if a.Name != "" {
		where = fmt.Sprintf("%s %q", where, a.Name)
	}
	if !a.Type.supported() {
		return fmt.Errorf("%s: unsupported attribute type %v", where, a.Type)
	}
	for t := range seen {
		if t != a.Type {
			return fmt.Errorf("%s: type %v but holds a value of type %v", where, a.Type, t)
		}
	}
	return nil
}

func (v *ValueInfo) decode(b []byte, where string) error {
	return fields(b, where, func(f field) error {
		var err error
		switch f.num {
		case valueInfoName:
			v.Name, err = f.str(where, "name")
		case valueInfoType:
			var body []byte
			if body, err = f.msg(where, "type"); err != nil {
				return err
			}
			w := where + ".type"
			err = fields(body, w, func(f field) error {
				switch f.num {
				case typeTensorType:
					body, err := f.msg(w, "tensor_type")
					if err != nil {
						return err
					}
					return v.decodeTensorType(body, w+".tensor_type")
				case 4, 5, 8, 9:
					return unsupported(w, f.num, "non-tensor type")
				}
				return nil
			})
		}
		return err
	})
}

func (v *ValueInfo) decodeTensorType(b []byte, where string) error {
	return fields(b, where, func(f field) error {
		switch f.num {
		case typeTensorElemType:
			t, err := f.int64(where, "elem_type")
			v.Type = DataType(t)
			return err
		case typeTensorShape:
			body, err := f.msg(where, "shape")
			if err != nil {
				return err
			}
			w := where + ".shape"
			if v.Shape == nil {
				v.Shape = []Dim{}
			}
			return fields(body, w, func(f field) error {
				if f.num != shapeDim {
					return nil
				}
				body, err := f.msg(w, "dim")
				if err != nil {
					return err
				}
				wd := fmt.Sprintf("%s.dim[%d]", w, len(v.Shape))
				var d Dim
				err = fields(body, wd, func(f field) error {
					var err error
					switch f.num {
					case dimValue:
						d.Value, err = f.int64(wd, "dim_value")
						d.Param = ""
					case dimParam:
						d.Param, err = f.str(wd, "dim_param")
						d.Value = 0
					}
					return err
				})
				v.Shape = append(v.Shape, d)
				return err
			})
		}
		return nil
	})
}

func (t *Tensor) decode(b []byte, where string) error {
	var (
		raw                 []byte
		hasRaw              bool
		typed               []uint64
		typedField          protowire.Number
		external, location  bool
		unsupportedTypeData bool
	)
	err := fields(b, where, func(f field) error {
		var err error
		var v []uint64
		switch f.num {
		case tensorDims:
			if v, err = f.varints(where, "dims", nil); err != nil {
				return err
			}
			for _, d := range v {
				t.Dims = append(t.Dims, int64(d))
			}
		case tensorDataType:
			var d int64
			d, err = f.int64(where, "data_type")
			t.Type = DataType(d)
		case tensorName:
			t.Name, err = f.str(where, "name")
		case tensorRawData:
			if err = f.want(where, "raw_data", protowire.BytesType); err == nil {
				raw, hasRaw = f.b, true
			}
		case tensorFloatData, tensorInt32Data, tensorInt64Data, tensorDoubleData, tensorUint64Data:
			if typedField != 0 && typedField != f.num {
				return fmt.Errorf("%s: fields %d and %d both hold data", where, typedField, f.num)
			}
			typedField = f.num
			switch f.num {
			case tensorFloatData:
				typed, err = f.fixeds(where, "float_data", 4, typed)
			case tensorDoubleData:
				typed, err = f.fixeds(where, "double_data", 8, typed)
			default:
				typed, err = f.varints(where, "data", typed)
			}
		case tensorStringData:
			unsupportedTypeData = true
		case tensorExternalData:
			external = true
		case tensorDataLocation:
			var loc int64
			loc, err = f.int64(where, "data_location")
			location = loc != 0
		case tensorSegment:
			err = unsupported(where, f.num, "segment")
		}
		return err
	})
	if err != nil {
		return err
	}
	if t.Name != "" {
		where = fmt.Sprintf("%s %q", where, t.Name)
	}
	switch {
	case external || location:
		return fmt.Errorf("%s: external data is not supported", where)
	case unsupportedTypeData || t.Type == String:
		return fmt.Errorf("%s: string tensors are not supported", where)
	case hasRaw && typedField != 0:
		return fmt.Errorf("%s: both raw_data and field %d hold data", where, typedField)
	case hasRaw:
		t.Raw = raw
		return nil
	}
	return t.fromTyped(typed, typedField, where)
}

// fromTyped converts the values of a typed data field into raw bytes.
func (t *Tensor) fromTyped(vals []uint64, num protowire.Number, where string) error {
	var want protowire.Number
	switch t.Type {
	case Float:
		want = tensorFloatData
	case Double:
		want = tensorDoubleData
	case Int64:
		want = tensorInt64Data
	case Uint32, Uint64:
		want = tensorUint64Data
	case Int32, Int16, Int8, Uint16, Uint8, Bool, Float16, BFloat16:
		want = tensorInt32Data
	}
	if want == 0 {
		return fmt.Errorf("%s: unsupported data type %v", where, t.Type)
	}
	if num != 0 && num != want {
		return fmt.Errorf("%s: data type %v stored in field %d, want %d", where, t.Type, num, want)
	}
	size := t.Type.Size()
	t.Raw = make([]byte, size*len(vals))
	for i, v := range vals {
		switch size {
		case 1:
			t.Raw[i] = byte(v)
		case 2:
			binary.LittleEndian.PutUint16(t.Raw[2*i:], uint16(v))
		case 4:
			binary.LittleEndian.PutUint32(t.Raw[4*i:], uint32(v))
		case 8:
			binary.LittleEndian.PutUint64(t.Raw[8*i:], v)
		}
	}
	return nil
}
