package modelgen

import (
	"fmt"
	"slices"

	"github.com/autoclipd/autoclipd/modelgen/onnx"
)

// value is a tensor during reference evaluation: float64 or int64 data.
type value struct {
	shape []int
	f     []float64
	i     []int64
}

func (v value) size() int {
	n := 1
	for _, d := range v.shape {
		n *= d
	}
	return n
}

// evalGraph runs g on inputs with a naive interpreter of the few operators
// the demo models use (ReduceMean, ReduceSum, MatMul, Add, Gather), reading
// the weights from the graph's initializers. It is written from the ONNX
// operator specifications, independently of Demo's forward pass, so that
// comparing the two checks the written graph.
func evalGraph(g *onnx.Graph, inputs map[string]value) (map[string]value, error) {
	env := make(map[string]value)
	for _, t := range g.Initializers {
		v := value{}
		for _, d := range t.Dims {
			v.shape = append(v.shape, int(d))
		}
		switch t.Type {
		case onnx.Float:
			f, err := t.Floats()
			if err != nil {
				return nil, err
			}
			for _, x := range f {
				v.f = append(v.f, float64(x))
			}
		case onnx.Int64:
			i, err := t.Int64s()
			if err != nil {
				return nil, err
			}
			v.i = i
		default:
			return nil, fmt.Errorf("initializer %s: type %v", t.Name, t.Type)
		}
		env[t.Name] = v
	}
	for k, v := range inputs {
		env[k] = v
	}
	for _, n := range g.Nodes {
		in := make([]value, len(n.Inputs))
		for i, name := range n.Inputs {
			v, ok := env[name]
			if !ok {
				return nil, fmt.Errorf("node %s: no value %q", n.Name, name)
			}
			in[i] = v
		}
		var out value
		var err error
		switch n.OpType {
		case "ReduceMean":
			a, _ := n.Attr("axes")
			out, err = reduce(in[0], a.Ints, keepdims(n), true)
		case "ReduceSum":
			out, err = reduce(in[0], in[1].i, keepdims(n), false)
		case "MatMul":
			out, err = matmul(in[0], in[1])
		case "Add":
			out, err = add(in[0], in[1])
		case "Gather":
			a, _ := n.Attr("axis")
			if a.I != 0 {
				return nil, fmt.Errorf("Gather axis %d", a.I)
			}
			out, err = gather0(in[0], in[1])
		default:
			return nil, fmt.Errorf("operator %s not in the reference", n.OpType)
		}
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", n.Name, err)
		}
		env[n.Outputs[0]] = out
	}
	res := make(map[string]value)
	for _, o := range g.Outputs {
		res[o.Name] = env[o.Name]
	}
	return res, nil
}

func keepdims(n *onnx.Node) bool {
	a, ok := n.Attr("keepdims")
	return !ok || a.I != 0 // the ONNX default is 1
}

// reduce sums (or averages) x over axes.
func reduce(x value, axes []int64, keep, mean bool) (value, error) {
	r := len(x.shape)
	red := make([]bool, r)
	for _, a := range axes {
		if a < 0 {
			a += int64(r)
		}
		if a < 0 || a >= int64(r) {
			return value{}, fmt.Errorf("axis %d of rank %d", a, r)
		}
		red[a] = true
	}
	var outShape, kept []int
	count := 1
	for d, n := range x.shape {
		if red[d] {
			count *= n
			if keep {
				outShape = append(outShape, 1)
			}
			continue
		}
		outShape = append(outShape, n)
		kept = append(kept, d)
	}
	out := value{shape: outShape}
	out.f = make([]float64, out.size())
	idx := make([]int, r)
	for flat := 0; flat < x.size(); flat++ {
		// Index of the output element: the kept coordinates, row-major.
		o := 0
		for _, d := range kept {
			o = o*x.shape[d] + idx[d]
		}
		out.f[o] += x.f[flat]
		for d := r - 1; d >= 0; d-- { // advance the multi-index
			idx[d]++
			if idx[d] < x.shape[d] {
				break
			}
			idx[d] = 0
		}
	}
	if mean {
		for i := range out.f {
			out.f[i] /= float64(count)
		}
	}
	return out, nil
}

func matmul(a, b value) (value, error) {
	if len(a.shape) != 2 || len(b.shape) != 2 || a.shape[1] != b.shape[0] {
		return value{}, fmt.Errorf("MatMul shapes %v x %v", a.shape, b.shape)
	}
	n, k, m := a.shape[0], a.shape[1], b.shape[1]
	out := value{shape: []int{n, m}, f: make([]float64, n*m)}
	for i := 0; i < n; i++ {
		for j := 0; j < m; j++ {
			for p := 0; p < k; p++ {
				out.f[i*m+j] += a.f[i*k+p] * b.f[p*m+j]
			}
		}
	}
	return out, nil
}

// add broadcasts b over a when b's shape is a suffix of a's.
func add(a, b value) (value, error) {
	if len(b.shape) > len(a.shape) || !slices.Equal(a.shape[len(a.shape)-len(b.shape):], b.shape) {
		return value{}, fmt.Errorf("Add shapes %v + %v", a.shape, b.shape)
	}
	out := value{shape: a.shape, f: slices.Clone(a.f)}
	for i := range out.f {
		out.f[i] += b.f[i%len(b.f)]
	}
	return out, nil
}

func gather0(data, idx value) (value, error) {
	if len(data.shape) != 2 {
		return value{}, fmt.Errorf("Gather data shape %v", data.shape)
	}
	rows, width := data.shape[0], data.shape[1]
	out := value{shape: append(slices.Clone(idx.shape), width)}
	for _, id := range idx.i {
		if id < 0 {
			id += int64(rows)
		}
		if id < 0 || id >= int64(rows) {
			return value{}, fmt.Errorf("Gather index %d of %d rows", id, rows)
		}
		out.f = append(out.f, data.f[int(id)*width:(int(id)+1)*width]...)
	}
	return out, nil
}
