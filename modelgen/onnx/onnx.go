// Package onnx builds, writes and reads ONNX models (ModelProto files) in pure
// Go, hand-encoding the protobuf wire format with
// google.golang.org/protobuf/encoding/protowire after the field numbers of
// onnx.proto.
//
// It covers the part of ONNX a generated inference model needs: one graph of
// nodes in the default or a custom domain, initializers stored as raw
// little-endian bytes (so multi-hundred-megabyte weights cost one copy), graph
// inputs and outputs with fixed or symbolic dimensions, and node attributes of
// the kinds float, int, string, tensor, graph and their lists of floats, ints
// and strings. A model is built with [NewGraph], [Graph.AddInput],
// [Graph.AddInitializer], [Graph.Op] and [NewModel], checked with
// [Graph.Validate] and written with [Model.WriteTo], [Model.Marshal] or
// [Model.WriteFile]. [Unmarshal] reads such a file back into the same types.
//
// Nothing here runs a model: ONNX Runtime does, in package inference.
package onnx

import (
	"fmt"
	"strconv"
)

// DataType is an element type, the values of onnx.proto's TensorProto.DataType.
type DataType int32

// The element types this package can store. Their values are onnx.proto's.
const (
	Undefined DataType = 0
	Float     DataType = 1
	Uint8     DataType = 2
	Int8      DataType = 3
	Uint16    DataType = 4
	Int16     DataType = 5
	Int32     DataType = 6
	Int64     DataType = 7
	String    DataType = 8
	Bool      DataType = 9
	Float16   DataType = 10
	Double    DataType = 11
	Uint32    DataType = 12
	Uint64    DataType = 13
	BFloat16  DataType = 16
)

// String returns the onnx.proto name of t, such as "FLOAT", or its number.
func (t DataType) String() string {
	switch t {
	case Undefined:
		return "UNDEFINED"
	case Float:
		return "FLOAT"
	case Uint8:
		return "UINT8"
	case Int8:
		return "INT8"
	case Uint16:
		return "UINT16"
	case Int16:
		return "INT16"
	case Int32:
		return "INT32"
	case Int64:
		return "INT64"
	case String:
		return "STRING"
	case Bool:
		return "BOOL"
	case Float16:
		return "FLOAT16"
	case Double:
		return "DOUBLE"
	case Uint32:
		return "UINT32"
	case Uint64:
		return "UINT64"
	case BFloat16:
		return "BFLOAT16"
	}
	return "DataType(" + strconv.Itoa(int(t)) + ")"
}

// Size returns the bytes one element of t takes in raw_data, or 0 for types
// that have no fixed-width raw form (UNDEFINED, STRING, unknown values).
func (t DataType) Size() int {
	switch t {
	case Uint8, Int8, Bool:
		return 1
	case Uint16, Int16, Float16, BFloat16:
		return 2
	case Float, Int32, Uint32:
		return 4
	case Int64, Double, Uint64:
		return 8
	}
	return 0
}

// Dim is one dimension of a value's shape: a fixed size, or a symbolic name
// (dim_param) such as "batch_size" that the runtime binds per call. A Dim with
// neither is an unknown dimension.
type Dim struct {
	// Value is the fixed size; meaningful only when Param is empty.
	Value int64
	// Param is the symbolic name; when set, Value is ignored.
	Param string
}

// Fixed returns a dimension of fixed size n.
func Fixed(n int64) Dim { return Dim{Value: n} }

// Sym returns a symbolic dimension named name.
func Sym(name string) Dim { return Dim{Param: name} }

// String returns the size, or the symbolic name.
func (d Dim) String() string {
	if d.Param != "" {
		return d.Param
	}
	return strconv.FormatInt(d.Value, 10)
}

// ValueInfo names and types a graph input or output (ValueInfoProto with a
// tensor TypeProto).
type ValueInfo struct {
	Name string
	// Type is the element type.
	Type DataType
	// Shape lists the dimensions; nil means the rank is unknown (no shape is
	// written) and an empty non-nil slice means a scalar.
	Shape []Dim
}

// Tensor is a dense tensor (TensorProto): an initializer or an attribute
// value. The elements are kept as raw little-endian bytes in row-major order,
// which is how they are written (raw_data).
type Tensor struct {
	Name string
	Type DataType
	// Dims is the shape; empty for a scalar.
	Dims []int64
	// Raw holds NumElements()*Type.Size() bytes.
	Raw []byte
}

// NumElements returns the product of t's dims (1 for a scalar), or -1 when a
// dim is negative or the product overflows int64.
func (t *Tensor) NumElements() int64 {
	n := int64(1)
	for _, d := range t.Dims {
		if d < 0 {
			return -1
		}
		if d != 0 && n > (1<<62)/d {
			return -1
		}
		n *= d
	}
	return n
}

// Check reports whether t has a name, a fixed-width type and as many raw
// bytes as its dims call for.
func (t *Tensor) Check() error {
	if t.Type.Size() == 0 {
		return fmt.Errorf("tensor %q: data type %v has no raw form", t.Name, t.Type)
	}
	n := t.NumElements()
	if n < 0 {
		return fmt.Errorf("tensor %q: bad dims %v", t.Name, t.Dims)
	}
	if want := n * int64(t.Type.Size()); int64(len(t.Raw)) != want {
		return fmt.Errorf("tensor %q: %d raw bytes, dims %v of %v need %d", t.Name, len(t.Raw), t.Dims, t.Type, want)
	}
	return nil
}

// AttrType is the kind of an attribute value, onnx.proto's
// AttributeProto.AttributeType.
type AttrType int32

// The attribute kinds this package reads and writes.
const (
	AttrUndefined AttrType = 0
	AttrFloat     AttrType = 1
	AttrInt       AttrType = 2
	AttrString    AttrType = 3
	AttrTensor    AttrType = 4
	AttrGraph     AttrType = 5
	AttrFloats    AttrType = 6
	AttrInts      AttrType = 7
	AttrStrings   AttrType = 8
)

// String returns the onnx.proto name of t, such as "INTS", or its number.
func (t AttrType) String() string {
	switch t {
	case AttrUndefined:
		return "UNDEFINED"
	case AttrFloat:
		return "FLOAT"
	case AttrInt:
		return "INT"
	case AttrString:
		return "STRING"
	case AttrTensor:
		return "TENSOR"
	case AttrGraph:
		return "GRAPH"
	case AttrFloats:
		return "FLOATS"
	case AttrInts:
		return "INTS"
	case AttrStrings:
		return "STRINGS"
	}
	return "AttrType(" + strconv.Itoa(int(t)) + ")"
}

// supported reports whether t is one of the kinds this package handles.
func (t AttrType) supported() bool { return t >= AttrFloat && t <= AttrStrings }

// Attribute is a named node attribute (AttributeProto). Type says which one
// of the value fields holds the value; the others stay zero.
type Attribute struct {
	Name    string
	Type    AttrType
	F       float32
	I       int64
	S       string
	T       *Tensor
	G       *Graph
	Floats  []float32
	Ints    []int64
	Strings []string
}

// FloatAttr returns a FLOAT attribute.
func FloatAttr(name string, v float32) Attribute {
	return Attribute{Name: name, Type: AttrFloat, F: v}
}

// IntAttr returns an INT attribute.
func IntAttr(name string, v int64) Attribute { return Attribute{Name: name, Type: AttrInt, I: v} }

// StringAttr returns a STRING attribute.
func StringAttr(name, v string) Attribute { return Attribute{Name: name, Type: AttrString, S: v} }

// TensorAttr returns a TENSOR attribute, as the Constant operator takes.
func TensorAttr(name string, t *Tensor) Attribute {
	return Attribute{Name: name, Type: AttrTensor, T: t}
}

// GraphAttr returns a GRAPH attribute, as If and Loop take.
func GraphAttr(name string, g *Graph) Attribute {
	return Attribute{Name: name, Type: AttrGraph, G: g}
}

// FloatsAttr returns a FLOATS attribute.
func FloatsAttr(name string, v ...float32) Attribute {
	return Attribute{Name: name, Type: AttrFloats, Floats: v}
}

// IntsAttr returns an INTS attribute.
func IntsAttr(name string, v ...int64) Attribute {
	return Attribute{Name: name, Type: AttrInts, Ints: v}
}

// StringsAttr returns a STRINGS attribute.
func StringsAttr(name string, v ...string) Attribute {
	return Attribute{Name: name, Type: AttrStrings, Strings: v}
}

// Node is one operator application (NodeProto). An empty input name stands
// for an omitted optional input, as ONNX specifies.
type Node struct {
	Name   string
	OpType string
	// Domain is the operator set domain; empty means the default ONNX domain.
	Domain  string
	Inputs  []string
	Outputs []string
	Attrs   []Attribute
	Doc     string
}

// Attr returns the attribute named name and whether n has it.
func (n *Node) Attr(name string) (Attribute, bool) {
	for _, a := range n.Attrs {
		if a.Name == name {
			return a, true
		}
	}
	return Attribute{}, false
}

// Graph is a computation graph (GraphProto): nodes in topological order,
// their constant inputs (initializers), and the graph's inputs and outputs.
// Build one with NewGraph and the Add methods; a Graph is not safe for
// concurrent modification.
type Graph struct {
	Name         string
	Doc          string
	Nodes        []*Node
	Initializers []*Tensor
	Inputs       []ValueInfo
	Outputs      []ValueInfo
	// ValueInfo optionally types intermediate values.
	ValueInfo []ValueInfo
}

// NewGraph returns an empty graph named name.
func NewGraph(name string) *Graph { return &Graph{Name: name} }

// AddInput declares a graph input of element type t and the given
// dimensions (none: a scalar; for an unknown rank, append a ValueInfo with a
// nil Shape to Inputs).
func (g *Graph) AddInput(name string, t DataType, shape ...Dim) {
	g.Inputs = append(g.Inputs, ValueInfo{Name: name, Type: t, Shape: nonNil(shape)})
}

// AddOutput declares a graph output, with dimensions as AddInput; some
// node (or an input or initializer) must produce it.
func (g *Graph) AddOutput(name string, t DataType, shape ...Dim) {
	g.Outputs = append(g.Outputs, ValueInfo{Name: name, Type: t, Shape: nonNil(shape)})
}

// AddInitializer adds a constant tensor to the graph and returns its name,
// for use as a node input. The tensor is kept, not copied.
func (g *Graph) AddInitializer(t *Tensor) string {
	g.Initializers = append(g.Initializers, t)
	return t.Name
}

// AddNode appends a node computing outputs from inputs. A node with an empty
// name is named "<op>_<index>". It returns the node for further changes.
func (g *Graph) AddNode(op string, inputs, outputs []string, attrs ...Attribute) *Node {
	n := &Node{
		Name:    fmt.Sprintf("%s_%d", op, len(g.Nodes)),
		OpType:  op,
		Inputs:  inputs,
		Outputs: outputs,
		Attrs:   attrs,
	}
	g.Nodes = append(g.Nodes, n)
	return n
}

// Op appends a node with one output, named after the node ("<op>_<index>"),
// and returns that output's name, so that subgraphs chain:
//
//	h := g.Op("MatMul", x, w)
//	h = g.Op("Add", h, b)
func (g *Graph) Op(op string, inputs ...string) string {
	return g.OpAttrs(op, inputs, nil)
}

// OpAttrs is Op with attributes.
func (g *Graph) OpAttrs(op string, inputs []string, attrs []Attribute) string {
	name := fmt.Sprintf("%s_%d", op, len(g.Nodes))
	g.Nodes = append(g.Nodes, &Node{Name: name, OpType: op, Inputs: inputs, Outputs: []string{name}, Attrs: attrs})
	return name
}

// Validate checks what ONNX Runtime would otherwise reject late or obscurely:
// every name is defined once (as input, initializer or node output), nodes
// are in topological order, every node input and graph output is defined,
// every node has an op type, every initializer's raw data matches its dims,
// and every attribute has a name and a known type. Errors name the node or
// value.
func (g *Graph) Validate() error {
	return g.validate(nil, 0)
}

func (g *Graph) validate(outer map[string]bool, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("graph %q: subgraphs nested deeper than %d", g.Name, maxDepth)
	}
	defined := make(map[string]bool)
	visible := func(name string) bool { return defined[name] || outer[name] }
	define := func(what, name string) error {
		if name == "" {
			return fmt.Errorf("%s with an empty name", what)
		}
		if defined[name] {
			return fmt.Errorf("%s %q defined twice", what, name)
		}
		defined[name] = true
		return nil
	}
	for _, t := range g.Initializers {
		if err := t.Check(); err != nil {
			return fmt.Errorf("graph %q: initializer: %w", g.Name, err)
		}
		if err := define("initializer", t.Name); err != nil {
			return fmt.Errorf("graph %q: %w", g.Name, err)
		}
	}
	for _, in := range g.Inputs {
		if defined[in.Name] {
			// ONNX allows an initializer to be listed as an input too (an
			// overridable default); a second input of the same name is an error.
			if g.isInput(in.Name) > 1 {
				return fmt.Errorf("graph %q: input %q declared twice", g.Name, in.Name)
			}
			continue
		}
		if err := checkValueInfo(in); err != nil {
			return fmt.Errorf("graph %q: input: %w", g.Name, err)
		}
		if err := define("input", in.Name); err != nil {
			return fmt.Errorf("graph %q: %w", g.Name, err)
		}
	}
	for i, n := range g.Nodes {
		where := fmt.Sprintf("graph %q: node %d %q", g.Name, i, n.Name)
		if n.OpType == "" {
			return fmt.Errorf("%s: empty op type", where)
		}
		for _, in := range n.Inputs {
			if in != "" && !visible(in) {
				return fmt.Errorf("%s: input %q is not defined before it", where, in)
			}
		}
		for _, a := range n.Attrs {
			if err := a.check(defined, outer, depth); err != nil {
				return fmt.Errorf("%s: %w", where, err)
			}
		}
		if len(n.Outputs) == 0 {
			return fmt.Errorf("%s: no outputs", where)
		}
		for _, out := range n.Outputs {
			if out == "" {
				continue // an omitted optional output
			}
			if err := define("node output", out); err != nil {
				return fmt.Errorf("%s: %w", where, err)
			}
		}
	}
	if len(g.Outputs) == 0 {
		return fmt.Errorf("graph %q: no outputs", g.Name)
	}
	for _, out := range g.Outputs {
		if err := checkValueInfo(out); err != nil {
			return fmt.Errorf("graph %q: output: %w", g.Name, err)
		}
		if !visible(out.Name) {
			return fmt.Errorf("graph %q: output %q is not produced", g.Name, out.Name)
		}
	}
	return nil
}

func (g *Graph) isInput(name string) int {
	n := 0
	for _, in := range g.Inputs {
		if in.Name == name {
			n++
		}
	}
	return n
}

func checkValueInfo(v ValueInfo) error {
	if v.Name == "" {
		return fmt.Errorf("value with an empty name")
	}
	if v.Type == Undefined {
		return fmt.Errorf("value %q: undefined element type", v.Name)
	}
	for i, d := range v.Shape {
		if d.Param == "" && d.Value < 0 {
			return fmt.Errorf("value %q: dim %d is %d", v.Name, i, d.Value)
		}
	}
	return nil
}

func (a Attribute) check(defined, outer map[string]bool, depth int) error {
	if a.Name == "" {
		return fmt.Errorf("attribute with an empty name")
	}
	switch a.Type {
	case AttrFloat, AttrInt, AttrString, AttrFloats, AttrInts, AttrStrings:
		return nil
	case AttrTensor:
		if a.T == nil {
			return fmt.Errorf("attribute %q: TENSOR without a tensor", a.Name)
		}
		if err := a.T.Check(); err != nil {
			return fmt.Errorf("attribute %q: %w", a.Name, err)
		}
		return nil
	case AttrGraph:
		if a.G == nil {
			return fmt.Errorf("attribute %q: GRAPH without a graph", a.Name)
		}
		// A subgraph sees every name of the enclosing scopes.
		scope := make(map[string]bool, len(defined)+len(outer))
		for k := range outer {
			scope[k] = true
		}
		for k := range defined {
			scope[k] = true
		}
		if err := a.G.validate(scope, depth+1); err != nil {
			return fmt.Errorf("attribute %q: %w", a.Name, err)
		}
		return nil
	}
	return fmt.Errorf("attribute %q: unsupported type %v", a.Name, a.Type)
}

// OpsetID imports an operator set (OperatorSetIdProto): the default ONNX
// domain is "".
type OpsetID struct {
	Domain  string
	Version int64
}

// KeyValue is one metadata entry (StringStringEntryProto).
type KeyValue struct{ Key, Value string }

// The defaults NewModel uses.
const (
	// DefaultIRVersion is the IR version written: 8 (ONNX 1.10 and later,
	// ONNX Runtime 1.10 and later).
	DefaultIRVersion = 8
	// DefaultOpset is the default-domain opset imported: 17 has
	// LayerNormalization, and ReduceMean still takes its axes as an attribute.
	DefaultOpset = 17
	// DefaultProducer is the producer name written.
	DefaultProducer = "autoclipd-modelgen"
)

// maxDepth bounds graph nesting through GRAPH attributes, in Validate and
// Unmarshal.
const maxDepth = 32

// Model is a whole ONNX file (ModelProto).
type Model struct {
	IRVersion       int64
	Opsets          []OpsetID
	ProducerName    string
	ProducerVersion string
	Domain          string
	ModelVersion    int64
	Doc             string
	Graph           *Graph
	Metadata        []KeyValue
}

// NewModel wraps g in a model with IR version 8, the default domain at opset
// 17 and producer "autoclipd-modelgen". Change the fields to differ.
func NewModel(g *Graph) *Model {
	return &Model{
		IRVersion:    DefaultIRVersion,
		Opsets:       []OpsetID{{Domain: "", Version: DefaultOpset}},
		ProducerName: DefaultProducer,
		Graph:        g,
	}
}

// Validate checks the model header (IR version, at least one opset, no
// domain imported twice) and the graph, see Graph.Validate.
func (m *Model) Validate() error {
	if m.IRVersion < 3 {
		return fmt.Errorf("model: ir_version %d, want 3 or more", m.IRVersion)
	}
	if len(m.Opsets) == 0 {
		return fmt.Errorf("model: no opset_import")
	}
	seen := make(map[string]bool)
	for _, o := range m.Opsets {
		if seen[o.Domain] {
			return fmt.Errorf("model: opset domain %q imported twice", o.Domain)
		}
		seen[o.Domain] = true
		if o.Version < 1 {
			return fmt.Errorf("model: opset domain %q version %d", o.Domain, o.Version)
		}
	}
	if m.Graph == nil {
		return fmt.Errorf("model: no graph")
	}
	return m.Graph.Validate()
}

func nonNil(d []Dim) []Dim {
	if d == nil {
		return []Dim{}
	}
	return d
}
