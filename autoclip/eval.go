package autoclip

import (
	"fmt"
	"io"
	"math"
	"slices"
)

// EvalData is the input of an offline evaluation: image embeddings [N][D],
// text embeddings [K][C][D] and optional labels [N]. The names are used in
// errors; LoadEvalData sets them to the file paths.
type EvalData struct {
	Images []float32 // [N][D]; Eval L2-normalises a copy
	N, D   int
	Text   []float32 // [K][C][D]; New L2-normalises a copy
	K, C   int
	Labels []int // [N] class ids in [0, C), or nil

	ImagesName, TextName, LabelsName string
}

// MethodEval holds the evaluation of one method.
type MethodEval struct {
	Method Method
	// Scores are the class scores c_j, [N][C] row-major.
	Scores []float64
	// Weights are the template weights, [N][K] row-major (1/K for the
	// uniform methods).
	Weights []float64
	// Top1 and Top5 count the frames whose label is the best class and among
	// the 5 best classes (all C when C < 5; ties go to the lower class
	// index); 0 without labels.
	Top1, Top5 int
	// Top1Accuracy and Top5Accuracy are Top1/N and Top5/N (0 without
	// labels).
	Top1Accuracy, Top5Accuracy float64
}

// EvalReport is the outcome of Eval, one MethodEval per method in the order
// asked for.
type EvalReport struct {
	N, K, C, D int
	Labelled   bool
	Methods    []MethodEval
}

// evalBatch is the number of frames Eval classifies per product.
const evalBatch = 16

// LoadEvalData loads the embeddings behind `autoclipd eval`: images [N,D]
// and text [K,C,D] as float32 or float64, labels [N] (optional, labelsPath
// "") as any integer dtype. Shape and dtype mismatches are errors naming the
// files and their shapes.
func LoadEvalData(imagesPath, textPath, labelsPath string) (*EvalData, error) {
	img, imgShape, err := LoadNPY(imagesPath)
	if err != nil {
		return nil, err
	}
	if len(imgShape) != 2 {
		return nil, fmt.Errorf("%s: images have shape %v, want [N, D]", imagesPath, imgShape)
	}
	txt, txtShape, err := LoadNPY(textPath)
	if err != nil {
		return nil, err
	}
	if len(txtShape) != 3 {
		return nil, fmt.Errorf("%s: text embeddings have shape %v, want [K, C, D] (template, class, dim)", textPath, txtShape)
	}
	if imgShape[1] != txtShape[2] {
		return nil, fmt.Errorf("%s has shape %v and %s has shape %v: embedding dims differ (%d vs %d)",
			imagesPath, imgShape, textPath, txtShape, imgShape[1], txtShape[2])
	}
	d := &EvalData{
		Images: img, N: imgShape[0], D: imgShape[1],
		Text: txt, K: txtShape[0], C: txtShape[1],
		ImagesName: imagesPath, TextName: textPath, LabelsName: labelsPath,
	}
	if labelsPath != "" {
		labels, shape, err := LoadLabelsNPY(labelsPath)
		if err != nil {
			return nil, err
		}
		if len(shape) != 1 || shape[0] != d.N {
			return nil, fmt.Errorf("%s has shape %v and %s has shape %v: want labels of shape [%d]",
				labelsPath, shape, imagesPath, imgShape, d.N)
		}
		d.Labels = labels
	}
	return d, nil
}

func nameOr(name, def string) string {
	if name == "" {
		return def
	}
	return name
}

// Eval classifies every image with every method in methods, with opts for
// everything but the method, and counts top-1 and top-5 hits when the data
// has labels. Image rows are L2-normalised (a copy); zero or non-finite rows,
// labels outside [0, C) and size mismatches are errors naming the input.
func Eval(data *EvalData, methods []Method, opts Options) (*EvalReport, error) {
	imgName, txtName, lblName := nameOr(data.ImagesName, "images"), nameOr(data.TextName, "text"), nameOr(data.LabelsName, "labels")
	if data.N < 1 || data.D < 1 || data.N > math.MaxInt/data.D || len(data.Images) != data.N*data.D {
		return nil, fmt.Errorf("%s: %d floats for [N=%d][D=%d] images, want N, D >= 1 and N*D floats", imgName, len(data.Images), data.N, data.D)
	}
	if len(methods) == 0 {
		return nil, fmt.Errorf("autoclip eval: no method given")
	}
	if data.Labels != nil {
		if len(data.Labels) != data.N {
			return nil, fmt.Errorf("%s has %d labels and %s has %d images: want one label per image", lblName, len(data.Labels), imgName, data.N)
		}
		for i, y := range data.Labels {
			if y < 0 || y >= data.C {
				return nil, fmt.Errorf("%s: label %d is %d, want a class id in [0, %d) (%s has %d classes)", lblName, i, y, data.C, txtName, data.C)
			}
		}
	}
	images := make([]float32, len(data.Images))
	for i := 0; i < data.N; i++ {
		row := data.Images[i*data.D : (i+1)*data.D]
		if err := normaliseRow(images[i*data.D:(i+1)*data.D], row); err != nil {
			return nil, fmt.Errorf("%s: image %d: %v", imgName, i, err)
		}
	}
	rep := &EvalReport{N: data.N, K: data.K, C: data.C, D: data.D, Labelled: data.Labels != nil}
	top := make([]int, 0, 5)
	for _, m := range methods {
		o := opts
		o.Method = m
		cl, err := New(data.Text, data.K, data.C, data.D, o)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", txtName, err)
		}
		me := MethodEval{
			Method:  m,
			Scores:  make([]float64, data.N*data.C),
			Weights: make([]float64, data.N*data.K),
		}
		ws := cl.NewWorkspace(evalBatch)
		for start := 0; start < data.N; start += evalBatch {
			b := min(evalBatch, data.N-start)
			res, err := cl.Classify(ws, images[start*data.D:(start+b)*data.D], b)
			if err != nil {
				return nil, fmt.Errorf("%s: frames %d to %d: %v", imgName, start, start+b-1, err)
			}
			for f, r := range res {
				n := start + f
				copy(me.Scores[n*data.C:], r.Scores)
				copy(me.Weights[n*data.K:], r.Weights)
				if data.Labels == nil {
					continue
				}
				top = TopK(r.Scores, 5, top)
				if r.Best == data.Labels[n] {
					me.Top1++
				}
				if slices.Contains(top, data.Labels[n]) {
					me.Top5++
				}
			}
		}
		if data.Labels != nil {
			me.Top1Accuracy = float64(me.Top1) / float64(data.N)
			me.Top5Accuracy = float64(me.Top5) / float64(data.N)
		}
		rep.Methods = append(rep.Methods, me)
	}
	return rep, nil
}

// WriteTable prints the accuracy per method as a table. It is an error
// when the evaluation had no labels.
func (r *EvalReport) WriteTable(w io.Writer) error {
	if !r.Labelled {
		return fmt.Errorf("autoclip eval: no labels, accuracy unknown")
	}
	if _, err := fmt.Fprintf(w, "%-16s %8s %8s\n", "method", "top-1", "top-5"); err != nil {
		return err
	}
	for _, m := range r.Methods {
		if _, err := fmt.Fprintf(w, "%-16s %7.2f%% %7.2f%%\n", m.Method, 100*m.Top1Accuracy, 100*m.Top5Accuracy); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "%d images, %d classes, %d templates, %d dims\n", r.N, r.C, r.K, r.D)
	return err
}
