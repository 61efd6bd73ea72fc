package onnx

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// sampleModel uses every kind of value the package writes.
func sampleModel() *Model {
	g := NewGraph("sample")
	g.Doc = "a graph with one of everything"
	g.AddInput("x", Float, Sym("batch_size"), Fixed(3), Sym("sequence_length"))
	g.AddInput("ids", Int64, Sym("batch_size"))
	w := g.AddInitializer(FloatTensor("w", []int64{3, 2}, []float32{1, -2, 3.5, 0, 1e-7, -1e30}))
	h := g.AddInitializer(Float16Tensor("h", []int64{2}, []float32{0.5, -65504}))
	axes := g.AddInitializer(Int64Tensor("axes", []int64{1}, []int64{-1}))
	g.AddInitializer(Int32Tensor("i32", []int64{}, []int32{-7}))
	r := g.OpAttrs("ReduceMean", []string{"x"}, []Attribute{IntsAttr("axes", 2), IntAttr("keepdims", 0)})
	m := g.Op("MatMul", r, w)
	c := g.OpAttrs("Cast", []string{h}, []Attribute{IntAttr("to", int64(Float))})
	s := g.Op("Add", m, c)
	n := g.AddNode("Custom", []string{s, "", axes}, []string{"y", "aux"},
		FloatAttr("alpha", 0.25),
		FloatsAttr("scales", 1, -0.5, float32(math.Inf(1))),
		StringAttr("mode", "nearest"),
		StringsAttr("names", "a", "", "ü"),
		TensorAttr("value", Int64Tensor("", []int64{2}, []int64{1, math.MinInt64})),
		GraphAttr("body", func() *Graph {
			sub := NewGraph("body")
			sub.AddOutput(sub.Op("Identity", s), Float)
			return sub
		}()),
	)
	n.Domain = "com.example"
	n.Doc = "not a real operator"
	g.AddOutput("y", Float, Sym("batch_size"), Fixed(2))
	g.Outputs = append(g.Outputs, ValueInfo{Name: "aux", Type: Float}) // unknown rank
	g.ValueInfo = []ValueInfo{{Name: r, Type: Float, Shape: []Dim{Sym("batch_size"), Fixed(3)}}}
	mod := NewModel(g)
	mod.Opsets = append(mod.Opsets, OpsetID{Domain: "com.example", Version: 1})
	mod.ProducerVersion = "test"
	mod.Domain = "org.autoclipd"
	mod.ModelVersion = 3
	mod.Doc = "sample"
	mod.Metadata = []KeyValue{{"k", "v"}, {"empty", ""}}
	return mod
}

func TestRoundTrip(t *testing.T) {
	want := sampleModel()
	b, err := want.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(b)) != want.Size() {
		t.Errorf("Size() = %d, Marshal wrote %d bytes", want.Size(), len(b))
	}
	got, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := got.Validate(); err != nil {
		t.Fatalf("decoded model does not validate: %v", err)
	}
	// The builder leaves a few slices nil where decoding leaves them nil too,
	// so the decoded model must equal the built one field for field.
	want.Graph.Initializers[3].Dims = nil // []int64{} (scalar) decodes as nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("decoded model differs:\n got %+v\nwant %+v", got.Graph, want.Graph)
		for i := range want.Graph.Nodes {
			if !reflect.DeepEqual(got.Graph.Nodes[i], want.Graph.Nodes[i]) {
				t.Errorf("node %d:\n got %+v\nwant %+v", i, got.Graph.Nodes[i], want.Graph.Nodes[i])
			}
		}
	}
	b2, err := got.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, b2) {
		t.Errorf("re-encoding the decoded model changed the bytes (%d vs %d)", len(b), len(b2))
	}
	f, err := got.Graph.Initializers[1].Floats()
	if err != nil || !reflect.DeepEqual(f, []float32{0.5, -65504}) {
		t.Errorf("float16 initializer = %v, %v", f, err)
	}
	v, err := got.Graph.Initializers[2].Int64s()
	if err != nil || !reflect.DeepEqual(v, []int64{-1}) {
		t.Errorf("int64 initializer = %v, %v", v, err)
	}
	v, err = got.Graph.Initializers[3].Int64s()
	if err != nil || !reflect.DeepEqual(v, []int64{-7}) {
		t.Errorf("int32 scalar initializer = %v, %v", v, err)
	}
}

// wire is a message decoded without this package's field tables: field
// number to the values it holds, in order (uint64 for varint and fixed, []byte
// for length-delimited).
type wire map[protowire.Number][]any

func parseWire(t *testing.T, b []byte) wire {
	t.Helper()
	m := wire{}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			t.Fatalf("bad tag: %v", protowire.ParseError(n))
		}
		b = b[n:]
		var v any
		switch typ {
		case protowire.VarintType:
			v, n = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type:
			var u uint32
			u, n = protowire.ConsumeFixed32(b)
			v = uint64(u)
		case protowire.BytesType:
			v, n = protowire.ConsumeBytes(b)
		default:
			t.Fatalf("field %d: unexpected wire type %d", num, typ)
		}
		if n < 0 {
			t.Fatalf("field %d: %v", num, protowire.ParseError(n))
		}
		b = b[n:]
		m[num] = append(m[num], v)
	}
	return m
}

func (w wire) one(t *testing.T, num protowire.Number) any {
	t.Helper()
	if len(w[num]) != 1 {
		t.Fatalf("field %d occurs %d times, want once", num, len(w[num]))
	}
	return w[num][0]
}

func (w wire) str(t *testing.T, num protowire.Number) string {
	t.Helper()
	return string(w.one(t, num).([]byte))
}

func (w wire) msgs(t *testing.T, num protowire.Number) []wire {
	t.Helper()
	var out []wire
	for _, v := range w[num] {
		out = append(out, parseWire(t, v.([]byte)))
	}
	return out
}

// TestWireLayout checks the bytes against onnx.proto's field numbers, written
// out here as literals, independently of the package's own constants.
func TestWireLayout(t *testing.T) {
	b, err := sampleModel().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	model := parseWire(t, b)
	if got := model.one(t, 1); got != uint64(8) {
		t.Errorf("ir_version = %v, want 8", got)
	}
	if got := model.str(t, 2); got != "autoclipd-modelgen" {
		t.Errorf("producer_name = %q", got)
	}
	if got := model.one(t, 5); got != uint64(3) {
		t.Errorf("model_version = %v", got)
	}
	opsets := model.msgs(t, 8)
	if len(opsets) != 2 || len(opsets[0][1]) != 0 || opsets[0].one(t, 2) != uint64(17) ||
		opsets[1].str(t, 1) != "com.example" || opsets[1].one(t, 2) != uint64(1) {
		t.Errorf("opset_import = %v", opsets)
	}
	if meta := model.msgs(t, 14); len(meta) != 2 || meta[0].str(t, 1) != "k" || meta[0].str(t, 2) != "v" {
		t.Errorf("metadata_props = %v", meta)
	}
	graph := model.msgs(t, 7)[0]
	if graph.str(t, 2) != "sample" {
		t.Errorf("graph name = %q", graph.str(t, 2))
	}
	nodes := graph.msgs(t, 1)
	var ops []string
	for _, n := range nodes {
		ops = append(ops, n.str(t, 4))
	}
	if want := []string{"ReduceMean", "MatMul", "Cast", "Add", "Custom"}; !reflect.DeepEqual(ops, want) {
		t.Errorf("op types = %v, want %v", ops, want)
	}
	if in := nodes[1][1]; len(in) != 2 || string(in[0].([]byte)) != "ReduceMean_0" || string(in[1].([]byte)) != "w" {
		t.Errorf("MatMul inputs = %q", in)
	}
	custom := nodes[4]
	if custom.str(t, 7) != "com.example" || custom.str(t, 3) != "Custom_4" {
		t.Errorf("custom node domain/name = %q/%q", custom.str(t, 7), custom.str(t, 3))
	}
	attrs := custom.msgs(t, 5)
	// AttributeProto: name 1, f 2, i 3, s 4, t 5, g 6, floats 7, ints 8, strings 9, type 20.
	wantTypes := map[string]uint64{"alpha": 1, "scales": 6, "mode": 3, "names": 8, "value": 4, "body": 5}
	for _, a := range attrs {
		name := a.str(t, 1)
		if got := a.one(t, 20); got != wantTypes[name] {
			t.Errorf("attribute %s: type %v, want %d", name, got, wantTypes[name])
		}
		switch name {
		case "alpha":
			if math.Float32frombits(uint32(a.one(t, 2).(uint64))) != 0.25 {
				t.Errorf("alpha = %v", a[2])
			}
		case "scales":
			if len(a[7]) != 3 || math.Float32frombits(uint32(a[7][1].(uint64))) != -0.5 {
				t.Errorf("scales = %v", a[7])
			}
		case "mode":
			if a.str(t, 4) != "nearest" {
				t.Errorf("mode = %q", a.str(t, 4))
			}
		case "value":
			tp := a.msgs(t, 5)[0]
			if tp.one(t, 2) != uint64(7) || len(tp.one(t, 9).([]byte)) != 16 {
				t.Errorf("tensor attribute = %v", tp)
			}
		case "body":
			if sub := a.msgs(t, 6)[0]; sub.str(t, 2) != "body" {
				t.Errorf("subgraph = %v", sub)
			}
		}
	}
	reduce := nodes[0].msgs(t, 5)
	if reduce[1].str(t, 1) != "keepdims" || reduce[1].one(t, 3) != uint64(0) || reduce[1].one(t, 20) != uint64(2) {
		t.Errorf("keepdims = %v (a zero INT must still be written)", reduce[1])
	}
	// TensorProto: dims 1, data_type 2, name 8, raw_data 9.
	inits := graph.msgs(t, 5)
	w := inits[0]
	if w.str(t, 8) != "w" || w.one(t, 2) != uint64(1) || !reflect.DeepEqual(w[1], []any{uint64(3), uint64(2)}) {
		t.Errorf("initializer w = %v", w)
	}
	raw := w.one(t, 9).([]byte)
	if len(raw) != 24 || math.Float32frombits(uint32(raw[8])|uint32(raw[9])<<8|uint32(raw[10])<<16|uint32(raw[11])<<24) != 3.5 {
		t.Errorf("raw_data of w = % x", raw)
	}
	if h := inits[1]; h.one(t, 2) != uint64(10) || !bytes.Equal(h.one(t, 9).([]byte), []byte{0x00, 0x38, 0xff, 0xfb}) {
		t.Errorf("float16 initializer = %v", h)
	}
	// ValueInfoProto: name 1, type 2 -> TypeProto.tensor_type 1 -> elem_type 1, shape 2 -> dim 1 -> dim_value 1 / dim_param 2.
	inputs := graph.msgs(t, 11)
	x := inputs[0]
	tensorType := x.msgs(t, 2)[0].msgs(t, 1)[0]
	if x.str(t, 1) != "x" || tensorType.one(t, 1) != uint64(1) {
		t.Errorf("input x = %v", x)
	}
	dims := tensorType.msgs(t, 2)[0].msgs(t, 1)
	if len(dims) != 3 || dims[0].str(t, 2) != "batch_size" || dims[1].one(t, 1) != uint64(3) || dims[2].str(t, 2) != "sequence_length" {
		t.Errorf("input x dims = %v", dims)
	}
	outputs := graph.msgs(t, 12)
	if aux := outputs[1].msgs(t, 2)[0].msgs(t, 1)[0]; len(aux[2]) != 0 {
		t.Errorf("unknown-rank output has a shape: %v", aux)
	}
	if len(graph.msgs(t, 13)) != 1 {
		t.Errorf("value_info count = %d", len(graph[13]))
	}
}

func TestOpNames(t *testing.T) {
	g := NewGraph("g")
	g.AddInput("x", Float, Fixed(1))
	a := g.Op("Relu", "x")
	b := g.Op("Neg", a)
	n := g.AddNode("Identity", []string{b}, []string{"y"})
	if a != "Relu_0" || b != "Neg_1" || n.Name != "Identity_2" {
		t.Errorf("names = %q %q %q", a, b, n.Name)
	}
	if got := g.Nodes[1].Inputs; !reflect.DeepEqual(got, []string{"Relu_0"}) {
		t.Errorf("Neg inputs = %v", got)
	}
	if _, ok := n.Attr("missing"); ok {
		t.Error("Attr found a missing attribute")
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(m *Model)
		want   string
	}{
		{"valid", func(m *Model) {}, ""},
		{"initializer also an input", func(m *Model) {
			m.Graph.AddInput("w", Float, Fixed(3), Fixed(2))
		}, ""},
		{"old ir", func(m *Model) { m.IRVersion = 2 }, "model: ir_version 2, want 3 or more"},
		{"no opset", func(m *Model) { m.Opsets = nil }, "model: no opset_import"},
		{"opset twice", func(m *Model) { m.Opsets = append(m.Opsets, OpsetID{Version: 13}) }, `model: opset domain "" imported twice`},
		{"no graph", func(m *Model) { m.Graph = nil }, "model: no graph"},
		{"short raw data", func(m *Model) { m.Graph.Initializers[0].Raw = m.Graph.Initializers[0].Raw[:20] },
			`graph "sample": initializer: tensor "w": 20 raw bytes, dims [3 2] of FLOAT need 24`},
		{"string tensor", func(m *Model) { m.Graph.Initializers[0].Type = String },
			`graph "sample": initializer: tensor "w": data type STRING has no raw form`},
		{"negative dim", func(m *Model) { m.Graph.Initializers[0].Dims = []int64{-3, -2} },
			`graph "sample": initializer: tensor "w": bad dims [-3 -2]`},
		{"duplicate initializer", func(m *Model) { m.Graph.AddInitializer(FloatTensor("w", nil, []float32{1})) },
			`graph "sample": initializer "w" defined twice`},
		{"input twice", func(m *Model) { m.Graph.AddInput("x", Float) }, `graph "sample": input "x" declared twice`},
		{"input named like a node output", func(m *Model) { m.Graph.AddInput("MatMul_1", Float) }, `graph "sample": node 1 "MatMul_1": node output "MatMul_1" defined twice`},
		{"undefined input", func(m *Model) { m.Graph.Nodes[1].Inputs[1] = "nope" },
			`graph "sample": node 1 "MatMul_1": input "nope" is not defined before it`},
		{"not topological", func(m *Model) { m.Graph.Nodes[0], m.Graph.Nodes[1] = m.Graph.Nodes[1], m.Graph.Nodes[0] },
			`graph "sample": node 0 "MatMul_1": input "ReduceMean_0" is not defined before it`},
		{"output twice", func(m *Model) { m.Graph.Nodes[2].Outputs[0] = "MatMul_1" },
			`graph "sample": node 2 "Cast_2": node output "MatMul_1" defined twice`},
		{"empty op", func(m *Model) { m.Graph.Nodes[0].OpType = "" }, `graph "sample": node 0 "ReduceMean_0": empty op type`},
		{"no node outputs", func(m *Model) { m.Graph.Nodes[4].Outputs = nil }, `graph "sample": node 4 "Custom_4": no outputs`},
		{"unnamed attribute", func(m *Model) { m.Graph.Nodes[0].Attrs[0].Name = "" },
			`graph "sample": node 0 "ReduceMean_0": attribute with an empty name`},
		{"bad attribute type", func(m *Model) { m.Graph.Nodes[0].Attrs[0].Type = 13 },
			`graph "sample": node 0 "ReduceMean_0": attribute "axes": unsupported type AttrType(13)`},
		{"tensor attribute without tensor", func(m *Model) { m.Graph.Nodes[4].Attrs[4].T = nil },
			`graph "sample": node 4 "Custom_4": attribute "value": TENSOR without a tensor`},
		{"bad subgraph", func(m *Model) { m.Graph.Nodes[4].Attrs[5].G.Nodes[0].Inputs[0] = "later" },
			`graph "sample": node 4 "Custom_4": attribute "body": graph "body": node 0 "Identity_0": input "later" is not defined before it`},
		{"output not produced", func(m *Model) { m.Graph.AddOutput("z", Float) }, `graph "sample": output "z" is not produced`},
		{"no outputs", func(m *Model) { m.Graph.Outputs = nil }, `graph "sample": no outputs`},
		{"undefined output type", func(m *Model) { m.Graph.Outputs[0].Type = Undefined },
			`graph "sample": output: value "y": undefined element type`},
		{"negative input dim", func(m *Model) { m.Graph.Inputs[0].Shape[1] = Fixed(-1) },
			`graph "sample": input: value "x": dim 1 is -1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := sampleModel()
			tt.mutate(m)
			err := m.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || err.Error() != tt.want {
				t.Fatalf("Validate() = %v\nwant %s", err, tt.want)
			}
			if _, err := m.Marshal(); err == nil {
				t.Error("Marshal accepted an invalid model")
			}
			if strings.Contains(err.Error(), "\n") {
				t.Error("multi-line error")
			}
		})
	}
}

// appendMsg appends a length-delimited field.
func appendMsg(b []byte, num protowire.Number, body []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, body)
}

func appendVarint(b []byte, num protowire.Number, v uint64) []byte {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

// modelWithTensor wraps a TensorProto body as the only initializer of a model.
func modelWithTensor(tensor []byte) []byte {
	graph := appendMsg(nil, 5, tensor)
	return appendMsg(appendVarint(nil, 1, 8), 7, graph)
}

func TestUnmarshalTypedData(t *testing.T) {
	f32 := func(vs ...float32) []byte {
		var b []byte
		for _, v := range vs {
			b = protowire.AppendFixed32(b, math.Float32bits(v))
		}
		return b
	}
	tensorHead := func(dtype DataType, dims ...uint64) []byte {
		var b []byte
		for _, d := range dims {
			b = appendVarint(b, 1, d)
		}
		return appendVarint(b, 2, uint64(dtype))
	}
	tests := []struct {
		name   string
		tensor []byte
		want   *Tensor
	}{
		{"float_data packed", appendMsg(tensorHead(Float, 2), 4, f32(1.5, -2)),
			FloatTensor("", []int64{2}, []float32{1.5, -2})},
		{"float_data unpacked", func() []byte {
			b := tensorHead(Float, 2)
			for _, v := range []float32{3, 4} {
				b = protowire.AppendTag(b, 4, protowire.Fixed32Type)
				b = protowire.AppendFixed32(b, math.Float32bits(v))
			}
			return b
		}(), FloatTensor("", []int64{2}, []float32{3, 4})},
		{"int64_data unpacked with name", func() []byte {
			b := tensorHead(Int64, 3)
			for _, v := range []int64{-1, 0, 1 << 40} {
				b = appendVarint(b, 7, uint64(v))
			}
			return appendMsg(b, 8, []byte("axes"))
		}(), Int64Tensor("axes", []int64{3}, []int64{-1, 0, 1 << 40})},
		{"int64_data packed", appendMsg(tensorHead(Int64, 2), 7, protowire.AppendVarint(protowire.AppendVarint(nil, 5), uint64(1<<64-2))),
			Int64Tensor("", []int64{2}, []int64{5, -2})},
		{"int32_data for float16", appendMsg(tensorHead(Float16, 1), 5, protowire.AppendVarint(nil, 0x3c00)),
			Float16Tensor("", []int64{1}, []float32{1})},
		{"int32_data negative int32", appendMsg(tensorHead(Int32), 5, protowire.AppendVarint(nil, uint64(1<<64-3))),
			Int32Tensor("", nil, []int32{-3})},
		{"packed dims", appendMsg(appendVarint(appendMsg(nil, 1, []byte{2, 1}), 2, uint64(Float)), 9, f32(7, 8)),
			FloatTensor("", []int64{2, 1}, []float32{7, 8})},
		{"no data", tensorHead(Float, 0), &Tensor{Type: Float, Dims: []int64{0}, Raw: []byte{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Unmarshal(modelWithTensor(tt.tensor))
			if err != nil {
				t.Fatal(err)
			}
			got := m.Graph.Initializers[0]
			if got.Name != tt.want.Name || got.Type != tt.want.Type || !reflect.DeepEqual(got.Dims, tt.want.Dims) || !bytes.Equal(got.Raw, tt.want.Raw) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
			if err := got.Check(); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestUnmarshalErrors(t *testing.T) {
	tensor := func(fields ...[]byte) []byte {
		b := appendVarint(nil, 2, uint64(Float))
		for _, f := range fields {
			b = append(b, f...)
		}
		return modelWithTensor(b)
	}
	node := func(attr []byte) []byte {
		n := appendMsg(appendMsg(nil, 4, []byte("Op")), 5, attr)
		return appendMsg(appendVarint(nil, 1, 8), 7, appendMsg(nil, 1, n))
	}
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"truncated tag", []byte{0x80}, "onnx: model: bad tag: unexpected EOF"},
		{"truncated length", []byte{0x3a, 0x05, 0x01}, "onnx: model: field 7: unexpected EOF"},
		{"ir_version as bytes", appendMsg(nil, 1, []byte("8")), "onnx: model: field 1 (ir_version): wire type bytes, want varint"},
		{"graph as varint", appendVarint(nil, 7, 1), "onnx: model: field 7 (graph): wire type varint, want bytes"},
		{"bad node", appendMsg(nil, 7, appendMsg(nil, 1, appendVarint(nil, 4, 3))),
			"onnx: model.graph.node[0]: field 4 (op_type): wire type varint, want bytes"},
		{"external data", tensor(appendVarint(nil, 14, 1)), "onnx: model.graph.initializer[0]: external data is not supported"},
		{"string data", tensor(appendMsg(appendMsg(nil, 8, []byte("s")), 6, []byte("x"))),
			`onnx: model.graph.initializer[0] "s": string tensors are not supported`},
		{"raw and typed", tensor(appendMsg(nil, 9, make([]byte, 4)), appendMsg(nil, 4, make([]byte, 4))),
			"onnx: model.graph.initializer[0]: both raw_data and field 4 hold data"},
		{"wrong typed field", tensor(appendMsg(nil, 7, []byte{1})),
			"onnx: model.graph.initializer[0]: data type FLOAT stored in field 7, want 4"},
		{"ragged packed floats", tensor(appendMsg(nil, 4, make([]byte, 5))),
			"onnx: model.graph.initializer[0]: field 4 (float_data): packed length 5 is not a multiple of 4"},
		{"segment", tensor(appendMsg(nil, 3, nil)), "onnx: model.graph.initializer[0]: field 3 (segment) is not supported"},
		{"sparse initializer", appendMsg(nil, 7, appendMsg(nil, 15, nil)),
			"onnx: model.graph: field 15 (sparse_initializer) is not supported"},
		{"functions", appendMsg(nil, 25, nil), "onnx: model: field 25 (functions) is not supported"},
		{"attribute type mismatch", node(appendVarint(appendVarint(appendMsg(nil, 1, []byte("k")), 3, 1), 20, uint64(AttrFloat))),
			`onnx: model.graph.node[0].attribute[0] "k": type FLOAT but holds a value of type INT`},
		{"attribute without type", node(appendMsg(nil, 1, []byte("k"))),
			`onnx: model.graph.node[0].attribute[0] "k": unsupported attribute type UNDEFINED`},
		{"attribute graphs", node(appendMsg(appendMsg(nil, 1, []byte("k")), 11, nil)),
			"onnx: model.graph.node[0].attribute[0]: field 11 (attribute value) is not supported"},
		{"sequence input", appendMsg(nil, 7, appendMsg(nil, 11, appendMsg(nil, 2, appendMsg(nil, 4, nil)))),
			"onnx: model.graph.input[0].type: field 4 (non-tensor type) is not supported"},
		{"dim_value as bytes", appendMsg(nil, 7, appendMsg(nil, 12, appendMsg(nil, 2, appendMsg(nil, 1,
			appendMsg(nil, 2, appendMsg(nil, 1, appendMsg(nil, 1, []byte("x")))))))),
			"onnx: model.graph.output[0].type.tensor_type.shape.dim[0]: field 1 (dim_value): wire type bytes, want varint"},
		{"deep subgraphs", func() []byte {
			g := appendMsg(nil, 2, []byte("leaf"))
			for i := 0; i < maxDepth+2; i++ {
				attr := appendVarint(appendMsg(appendMsg(nil, 1, []byte("g")), 6, g), 20, uint64(AttrGraph))
				g = appendMsg(appendMsg(nil, 4, []byte("If")), 5, attr)
				g = appendMsg(nil, 1, g)
			}
			return appendMsg(nil, 7, g)
		}(), "subgraphs nested deeper than 32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Unmarshal(tt.in)
			if err == nil {
				t.Fatalf("Unmarshal succeeded: %+v", m)
			}
			if tt.name == "deep subgraphs" {
				if !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("error %q does not contain %q", err, tt.want)
				}
				return
			}
			if err.Error() != tt.want {
				t.Fatalf("error = %s\n want %s", err, tt.want)
			}
		})
	}
}

func TestUnmarshalSkipsUnknownFields(t *testing.T) {
	b, err := sampleModel().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	// A field from a newer IR (ModelProto.configuration = 26) and a group.
	extra := appendMsg(nil, 26, []byte("whatever"))
	extra = protowire.AppendTag(extra, 99, protowire.StartGroupType)
	extra = appendVarint(extra, 1, 5)
	extra = protowire.AppendTag(extra, 99, protowire.EndGroupType)
	m, err := Unmarshal(append(extra, b...))
	if err != nil {
		t.Fatal(err)
	}
	b2, err := m.Marshal()
	if err != nil || !bytes.Equal(b, b2) {
		t.Errorf("unknown fields changed the model (%v)", err)
	}
}

func TestFloat16(t *testing.T) {
	// Every half value converts to float32 and back unchanged.
	for h := 0; h < 1<<16; h++ {
		f := Float16ToFloat32(uint16(h))
		if f != f {
			if got := Float16Bits(f); got&0x7c00 != 0x7c00 || got&0x3ff == 0 {
				t.Fatalf("NaN %#04x -> %#04x", h, got)
			}
			continue
		}
		if got := Float16Bits(f); got != uint16(h) {
			t.Fatalf("%#04x -> %v -> %#04x", h, f, got)
		}
	}
	tests := []struct {
		name string
		in   float32
		want uint16
	}{
		{"one", 1, 0x3c00},
		{"minus two", -2, 0xc000},
		{"tie to even down", 1 + 1.0/2048, 0x3c00},
		{"tie to even up", 1 + 3.0/2048, 0x3c02},
		{"above tie", 1 + 1.0/2048 + 1.0/65536, 0x3c01},
		{"max half", 65504, 0x7bff},
		{"rounds to max", 65519, 0x7bff},
		{"rounds to inf", 65520, 0x7c00},
		{"overflow", 1e10, 0x7c00},
		{"minus inf", float32(math.Inf(-1)), 0xfc00},
		{"smallest subnormal", 1.0 / (1 << 24), 0x0001},
		{"half the smallest subnormal ties to zero", 1.0 / (1 << 25), 0x0000},
		{"above half the smallest subnormal", 1.0/(1<<25) + 1.0/(1<<35), 0x0001},
		{"subnormal tie to even up", 3.0 / (1 << 25), 0x0002},
		{"largest subnormal rounds up to normal", 2047.0 / (1 << 35) * (1 << 10), 0x0400},
		{"tiny", 1e-30, 0x0000},
		{"minus zero", float32(math.Copysign(0, -1)), 0x8000},
		{"smallest normal", 1.0 / (1 << 14), 0x0400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Float16Bits(tt.in); got != tt.want {
				t.Errorf("Float16Bits(%g) = %#04x, want %#04x", tt.in, got, tt.want)
			}
		})
	}
}

func TestTensorAccessors(t *testing.T) {
	tests := []struct {
		name    string
		tensor  *Tensor
		floats  []float32
		ints    []int64
		wantErr string
	}{
		{"float", FloatTensor("a", []int64{2}, []float32{1, 2}), []float32{1, 2}, nil, ""},
		{"double", &Tensor{Name: "d", Type: Double, Dims: []int64{1}, Raw: []byte{0, 0, 0, 0, 0, 0, 0xf0, 0x3f}}, []float32{1}, nil, ""},
		{"int64", Int64Tensor("i", []int64{2, 1}, []int64{3, -4}), nil, []int64{3, -4}, ""},
		{"bool is neither", &Tensor{Name: "b", Type: Bool, Dims: []int64{1}, Raw: []byte{1}}, nil, nil, `tensor "b": BOOL is not`},
		{"short", &Tensor{Name: "s", Type: Float, Dims: []int64{2}, Raw: make([]byte, 4)}, nil, nil, `tensor "s": 4 raw bytes`},
		{"overflowing dims", &Tensor{Name: "o", Type: Float, Dims: []int64{1 << 40, 1 << 40}}, nil, nil, `tensor "o": bad dims`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, ferr := tt.tensor.Floats()
			i, ierr := tt.tensor.Int64s()
			if tt.wantErr != "" {
				if (ferr == nil || !strings.Contains(ferr.Error(), tt.wantErr)) || (ierr == nil || !strings.Contains(ierr.Error(), tt.wantErr)) {
					t.Errorf("errors %v / %v, want %q", ferr, ierr, tt.wantErr)
				}
				return
			}
			if tt.floats != nil && (ferr != nil || !reflect.DeepEqual(f, tt.floats)) {
				t.Errorf("Floats() = %v, %v", f, ferr)
			}
			if tt.ints != nil && (ierr != nil || !reflect.DeepEqual(i, tt.ints)) {
				t.Errorf("Int64s() = %v, %v", i, ierr)
			}
		})
	}
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.onnx")
	m := sampleModel()
	if err := m.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	want, _ := m.Marshal()
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("file differs from Marshal (%v)", err)
	}
	if _, err := ReadFile(path); err != nil {
		t.Fatal(err)
	}
	m.Graph.Outputs = nil
	if err := m.WriteFile(filepath.Join(dir, "bad.onnx")); err == nil || !strings.HasPrefix(err.Error(), filepath.Join(dir, "bad.onnx")+": ") {
		t.Errorf("WriteFile of an invalid model: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only m.onnx", len(entries))
	}
	if err := os.WriteFile(filepath.Join(dir, "junk.onnx"), []byte{0xff}, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(filepath.Join(dir, "junk.onnx")); err == nil || !strings.Contains(err.Error(), "junk.onnx: onnx: model:") {
		t.Errorf("ReadFile of junk: %v", err)
	}
}

func FuzzUnmarshal(f *testing.F) {
	b, err := sampleModel().Marshal()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(b[:len(b)/2])
	f.Add(modelWithTensor(appendMsg(appendVarint(nil, 2, uint64(Int64)), 7, []byte{1, 2, 3})))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := Unmarshal(in)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error %q", err)
			}
			return
		}
		// Whatever decodes re-encodes (without validation) to bytes that decode
		// to a model encoding to the same bytes.
		b1, err := m.marshal()
		if err != nil {
			t.Fatal(err)
		}
		m2, err := Unmarshal(b1)
		if err != nil {
			t.Fatalf("re-decoding: %v", err)
		}
		b2, err := m2.marshal()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b1, b2) {
			t.Fatal("encoding is not stable")
		}
		if err := m.Validate(); err != nil && strings.Contains(err.Error(), "\n") {
			t.Fatalf("multi-line error %q", err)
		}
	})
}

// benchModel has ViT-B/32-sized MLP weights: 4 x 768x3072 float32, 36 MiB.
func benchModel() *Model {
	g := NewGraph("bench")
	g.AddInput("x", Float, Sym("batch_size"), Fixed(768))
	x := "x"
	data := make([]float32, 768*3072)
	for i := 0; i < 4; i++ {
		dims := []int64{768, 3072}
		if i%2 == 1 {
			dims = []int64{3072, 768}
		}
		w := g.AddInitializer(FloatTensor("w"+string(rune('0'+i)), dims, data))
		x = g.Op("MatMul", x, w)
	}
	g.AddOutput(x, Float, Sym("batch_size"), Fixed(768))
	return NewModel(g)
}

// BenchmarkWriteTo streams the model to a writer that drops it: the cost of
// encoding and validation alone, as raw data is handed through uncopied.
func BenchmarkWriteTo(b *testing.B) {
	m := benchModel()
	b.SetBytes(m.Size())
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := m.WriteTo(discard{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMarshal encodes the model into memory (one copy of the weights).
func BenchmarkMarshal(b *testing.B) {
	m := benchModel()
	b.SetBytes(m.Size())
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := m.Marshal(); err != nil {
			b.Fatal(err)
		}
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
