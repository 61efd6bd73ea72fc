package onnx

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"

	"google.golang.org/protobuf/encoding/protowire"
)

// Field numbers from onnx.proto (onnx/onnx.proto, IR version 8 and later).
const (
	modelIRVersion       = 1
	modelProducerName    = 2
	modelProducerVersion = 3
	modelDomain          = 4
	modelModelVersion    = 5
	modelDocString       = 6
	modelGraph           = 7
	modelOpsetImport     = 8
	modelMetadataProps   = 14
	modelTrainingInfo    = 20
	modelFunctions       = 25

	opsetDomain  = 1
	opsetVersion = 2

	entryKey   = 1
	entryValue = 2

	graphNode               = 1
	graphName               = 2
	graphInitializer        = 5
	graphDocString          = 10
	graphInput              = 11
	graphOutput             = 12
	graphValueInfo          = 13
	graphSparseInitializer  = 15
	nodeInput               = 1
	nodeOutput              = 2
	nodeName                = 3
	nodeOpType              = 4
	nodeAttribute           = 5
	nodeDocString           = 6
	nodeDomain              = 7
	attrName                = 1
	attrF                   = 2
	attrI                   = 3
	attrS                   = 4
	attrT                   = 5
	attrG                   = 6
	attrFloats              = 7
	attrInts                = 8
	attrStrings             = 9
	attrType                = 20
	tensorDims              = 1
	tensorDataType          = 2
	tensorSegment           = 3
	tensorFloatData         = 4
	tensorInt32Data         = 5
	tensorStringData        = 6
	tensorInt64Data         = 7
	tensorName              = 8
	tensorRawData           = 9
	tensorDoubleData        = 10
	tensorUint64Data        = 11
	tensorExternalData      = 13
	tensorDataLocation      = 14
	valueInfoName           = 1
	valueInfoType           = 2
	typeTensorType          = 1
	typeTensorElemType      = 1
	typeTensorShape         = 2
	shapeDim                = 1
	dimValue                = 1
	dimParam                = 2
	maxProtobufMessageBytes = math.MaxInt32
)

// encoder writes protobuf fields to w, or only counts their bytes when w is
// nil. Nested messages are written length-prefixed, so each message's size
// is computed first by a counting pass over it; raw tensor data is counted by
// its length, never walked, so the passes stay cheap for large models.
type encoder struct {
	w       *bufio.Writer
	n       int64
	err     error
	scratch []byte
}

func (e *encoder) write(b []byte) {
	e.n += int64(len(b))
	if e.w != nil && e.err == nil {
		_, e.err = e.w.Write(b)
	}
}

func (e *encoder) tag(num protowire.Number, typ protowire.Type) {
	e.scratch = protowire.AppendTag(e.scratch[:0], num, typ)
	e.write(e.scratch)
}

func (e *encoder) varint(num protowire.Number, v uint64) {
	e.tag(num, protowire.VarintType)
	e.scratch = protowire.AppendVarint(e.scratch[:0], v)
	e.write(e.scratch)
}

func (e *encoder) fixed32(num protowire.Number, v uint32) {
	e.tag(num, protowire.Fixed32Type)
	e.scratch = protowire.AppendFixed32(e.scratch[:0], v)
	e.write(e.scratch)
}

func (e *encoder) bytes(num protowire.Number, b []byte) {
	e.tag(num, protowire.BytesType)
	e.scratch = protowire.AppendVarint(e.scratch[:0], uint64(len(b)))
	e.write(e.scratch)
	e.write(b)
}

func (e *encoder) string(num protowire.Number, s string) {
	e.tag(num, protowire.BytesType)
	e.scratch = protowire.AppendVarint(e.scratch[:0], uint64(len(s)))
	e.write(e.scratch)
	e.n += int64(len(s))
	if e.w != nil && e.err == nil {
		_, e.err = e.w.WriteString(s)
	}
}

// optString writes s unless it is empty (proto2 optional, absent = "").
func (e *encoder) optString(num protowire.Number, s string) {
	if s != "" {
		e.string(num, s)
	}
}

// message writes a nested message: its size from a counting pass, then its
// fields.
func (e *encoder) message(num protowire.Number, body func(*encoder)) {
	counter := &encoder{}
	body(counter)
	e.tag(num, protowire.BytesType)
	e.scratch = protowire.AppendVarint(e.scratch[:0], uint64(counter.n))
	e.write(e.scratch)
	if e.w == nil {
		e.n += counter.n // the counting pass already knows the body's size
		return
	}
	body(e)
}

// The fields are written in field-number order, as protobuf's own
// serializers do, except that repeated scalars stay unpacked: onnx.proto is
// proto2, where that is the canonical form (parsers accept both).

func (m *Model) encode(e *encoder) {
	e.varint(modelIRVersion, uint64(m.IRVersion))
	e.optString(modelProducerName, m.ProducerName)
	e.optString(modelProducerVersion, m.ProducerVersion)
	e.optString(modelDomain, m.Domain)
	if m.ModelVersion != 0 {
		e.varint(modelModelVersion, uint64(m.ModelVersion))
	}
	e.optString(modelDocString, m.Doc)
	if m.Graph != nil {
		e.message(modelGraph, m.Graph.encode)
	}
	for _, o := range m.Opsets {
		e.message(modelOpsetImport, func(e *encoder) {
			e.optString(opsetDomain, o.Domain)
			e.varint(opsetVersion, uint64(o.Version))
		})
	}
	for _, kv := range m.Metadata {
		e.message(modelMetadataProps, func(e *encoder) {
			e.string(entryKey, kv.Key)
			e.string(entryValue, kv.Value)
		})
	}
}

func (g *Graph) encode(e *encoder) {
	for _, n := range g.Nodes {
		e.message(graphNode, n.encode)
	}
	e.optString(graphName, g.Name)
	for _, t := range g.Initializers {
		e.message(graphInitializer, t.encode)
	}
	e.optString(graphDocString, g.Doc)
	for _, v := range g.Inputs {
		e.message(graphInput, v.encode)
	}
	for _, v := range g.Outputs {
		e.message(graphOutput, v.encode)
	}
	for _, v := range g.ValueInfo {
		e.message(graphValueInfo, v.encode)
	}
}

func (n *Node) encode(e *encoder) {
	for _, s := range n.Inputs {
		e.string(nodeInput, s)
	}
	for _, s := range n.Outputs {
		e.string(nodeOutput, s)
	}
	e.optString(nodeName, n.Name)
	e.string(nodeOpType, n.OpType)
	for i := range n.Attrs {
		e.message(nodeAttribute, n.Attrs[i].encode)
	}
	e.optString(nodeDocString, n.Doc)
	e.optString(nodeDomain, n.Domain)
}

func (a *Attribute) encode(e *encoder) {
	e.string(attrName, a.Name)
	switch a.Type {
	case AttrFloat:
		e.fixed32(attrF, math.Float32bits(a.F))
	case AttrInt:
		e.varint(attrI, uint64(a.I))
	case AttrString:
		e.string(attrS, a.S)
	case AttrTensor:
		if a.T != nil {
			e.message(attrT, a.T.encode)
		}
	case AttrGraph:
		if a.G != nil {
			e.message(attrG, a.G.encode)
		}
	case AttrFloats:
		for _, f := range a.Floats {
			e.fixed32(attrFloats, math.Float32bits(f))
		}
	case AttrInts:
		for _, v := range a.Ints {
			e.varint(attrInts, uint64(v))
		}
	case AttrStrings:
		for _, s := range a.Strings {
			e.string(attrStrings, s)
		}
	}
	e.varint(attrType, uint64(a.Type))
}

func (t *Tensor) encode(e *encoder) {
	for _, d := range t.Dims {
		e.varint(tensorDims, uint64(d))
	}
	e.varint(tensorDataType, uint64(t.Type))
	e.optString(tensorName, t.Name)
	// raw_data is written even when empty, so that a zero-element tensor
	// still says where its (no) data is.
	e.bytes(tensorRawData, t.Raw)
}

func (v *ValueInfo) encode(e *encoder) {
	e.string(valueInfoName, v.Name)
	e.message(valueInfoType, func(e *encoder) {
		e.message(typeTensorType, func(e *encoder) {
			e.varint(typeTensorElemType, uint64(v.Type))
			if v.Shape != nil {
				e.message(typeTensorShape, func(e *encoder) {
					for _, d := range v.Shape {
						e.message(shapeDim, func(e *encoder) {
							if d.Param != "" {
								e.string(dimParam, d.Param)
							} else {
								e.varint(dimValue, uint64(d.Value))
							}
						})
					}
				})
			}
		})
	})
}

// Size returns the number of bytes WriteTo writes for m.
func (m *Model) Size() int64 {
	e := &encoder{}
	m.encode(e)
	return e.n
}

// WriteTo validates m and writes it in the ONNX protobuf format to w,
// streaming tensor data without copying it. It fails for a model over 2 GiB,
// the protobuf limit, which ONNX keeps in external data files (not supported
// here).
func (m *Model) WriteTo(w io.Writer) (int64, error) {
	if err := m.Validate(); err != nil {
		return 0, err
	}
	return m.writeTo(w)
}

func (m *Model) writeTo(w io.Writer) (int64, error) {
	if size := m.Size(); size > maxProtobufMessageBytes {
		return 0, fmt.Errorf("model: %d bytes, over the 2 GiB protobuf limit", size)
	}
	bw := bufio.NewWriterSize(w, 1<<16)
	e := &encoder{w: bw}
	m.encode(e)
	if e.err == nil {
		e.err = bw.Flush()
	}
	return e.n, e.err
}

// Marshal validates m and returns its ONNX protobuf encoding.
func (m *Model) Marshal() ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m.marshal()
}

func (m *Model) marshal() ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(int(min(m.Size(), maxProtobufMessageBytes)))
	if _, err := m.writeTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// WriteFile validates m and writes it to path (through a temporary file in
// the same directory, renamed into place, so a reader never sees half a
// model).
func (m *Model) WriteFile(path string) error {
	if err := m.Validate(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return writeFileAtomic(path, func(w io.Writer) error {
		_, err := m.writeTo(w)
		return err
	})
}

// writeFileAtomic writes path through a temporary file renamed into place.
func writeFileAtomic(path string, fill func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	if err := fill(f); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
