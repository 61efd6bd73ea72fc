package autoclip

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"testing"
)

// TestEvalRoundTrip writes embeddings as .npy files (float32 images, float64
// text, int64 labels), loads and evaluates them, writes scores and weights
// as .npy and checks them against the library on the same inputs.
func TestEvalRoundTrip(t *testing.T) {
	dir := t.TempDir()
	rng := newRand(20)
	n, k, c, d := 37, 6, 8, 16
	text := randText(rng, k, c, d)
	img, labels := correlatedImages(rng, text, k, c, d, n, 2)
	for i := range img { // un-normalised on disk: Eval normalises
		img[i] *= 5
	}
	text64 := make([]float64, len(text))
	for i, v := range text {
		text64[i] = 2 * float64(v)
	}
	lbl := make([]int64, n)
	for i, y := range labels {
		lbl[i] = int64(y)
	}
	imgPath := writeFile(t, dir, "img.npy", numpyBytes(1, "<f4", false, fmt.Sprintf("(%d, %d)", n, d), leBytes(binary.LittleEndian, img)))
	txtPath := writeFile(t, dir, "txt.npy", numpyBytes(1, "<f8", false, fmt.Sprintf("(%d, %d, %d)", k, c, d), leBytes(binary.LittleEndian, text64)))
	lblPath := writeFile(t, dir, "y.npy", numpyBytes(1, "<i8", false, fmt.Sprintf("(%d,)", n), leBytes(binary.LittleEndian, lbl)))

	data, err := LoadEvalData(imgPath, txtPath, lblPath)
	if err != nil {
		t.Fatal(err)
	}
	if data.N != n || data.D != d || data.K != k || data.C != c || !slices.Equal(data.Labels, labels) {
		t.Fatalf("LoadEvalData: N=%d D=%d K=%d C=%d labels %v", data.N, data.D, data.K, data.C, data.Labels)
	}
	o := DefaultOptions()
	o.Beta = 0.7
	rep, err := Eval(data, Methods(), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Methods) != 3 || !rep.Labelled {
		t.Fatalf("report has %d methods, labelled %v", len(rep.Methods), rep.Labelled)
	}
	// The library on the same inputs, frame by frame.
	unit := make([]float32, len(img))
	for f := 0; f < n; f++ {
		if err := normaliseRow(unit[f*d:(f+1)*d], img[f*d:(f+1)*d]); err != nil {
			t.Fatal(err)
		}
	}
	for _, me := range rep.Methods {
		sPath, wPath := filepath.Join(dir, "s.npy"), filepath.Join(dir, "w.npy")
		if err := WriteNPY(sPath, me.Scores, n, c); err != nil {
			t.Fatal(err)
		}
		if err := WriteNPY(wPath, me.Weights, n, k); err != nil {
			t.Fatal(err)
		}
		scores, sShape, err := LoadNPYFloat64(sPath)
		if err != nil || !slices.Equal(sShape, []int{n, c}) {
			t.Fatalf("%s scores: shape %v, %v", me.Method, sShape, err)
		}
		weights, wShape, err := LoadNPYFloat64(wPath)
		if err != nil || !slices.Equal(wShape, []int{n, k}) {
			t.Fatalf("%s weights: shape %v, %v", me.Method, wShape, err)
		}
		lo := o
		lo.Method = me.Method
		cl := mustNew(t, text, k, c, d, lo) // float32 text at half the scale: same after normalising
		top1, top5 := 0, 0
		for f := 0; f < n; f++ {
			r := classifyOne(t, cl, unit[f*d:(f+1)*d])
			if dd := maxAbsDiff(scores[f*c:(f+1)*c], r.Scores); dd > 1e-6 {
				t.Errorf("%s frame %d: scores from the .npy differ from the library by %g", me.Method, f, dd)
			}
			if dd := maxAbsDiff(weights[f*k:(f+1)*k], r.Weights); dd > 1e-5 {
				t.Errorf("%s frame %d: weights from the .npy differ from the library by %g", me.Method, f, dd)
			}
			if r.Best == labels[f] {
				top1++
			}
			if slices.Contains(TopK(r.Scores, 5, nil), labels[f]) {
				top5++
			}
		}
		if me.Top1 != top1 || me.Top5 != top5 {
			t.Errorf("%s: top-1/top-5 hits %d/%d, library %d/%d", me.Method, me.Top1, me.Top5, top1, top5)
		}
		if me.Top1Accuracy != float64(top1)/float64(n) || me.Top5Accuracy != float64(top5)/float64(n) {
			t.Errorf("%s: accuracies %v/%v for %d/%d hits of %d", me.Method, me.Top1Accuracy, me.Top5Accuracy, top1, top5, n)
		}
		if me.Method != MethodAutoCLIP {
			for _, w := range weights {
				if w != 1/float64(k) {
					t.Fatalf("%s: weight %v, want 1/K", me.Method, w)
				}
			}
		}
	}
	// Without labels: same scores, no table.
	noLabels, err := LoadEvalData(imgPath, txtPath, "")
	if err != nil {
		t.Fatal(err)
	}
	rep2, err := Eval(noLabels, []Method{MethodAutoCLIP}, o)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep2.Methods[0].Scores, rep.Methods[2].Scores) || rep2.Labelled {
		t.Fatalf("unlabelled evaluation differs from the labelled one")
	}
	if err := rep2.WriteTable(&bytes.Buffer{}); err == nil || err.Error() != "autoclip eval: no labels, accuracy unknown" {
		t.Fatalf("WriteTable without labels: %v", err)
	}
}

// TestEvalAccuracyTable checks the table on a case small enough to work out
// by hand. D = C = 6, class j is the axis a_j. Template 0 describes class j
// as a_j, template 1 as (a_j + 0.5 a_{j+1 mod 6})/sqrt(1.25).
//
//	image 0: a_0, label 0. Every method is right.
//	image 1: (0.6, 0.8, 0, ...), label 0. Uniform: class 0 scores
//	  (0.6 + 1.0/1.118)/2 = 0.747, class 1 (0.8 + 0.8/1.118)/2 = 0.758, so
//	  class 1 wins; mean-embedding likewise (0.768 vs 0.779). AutoCLIP: the
//	  posterior favours classes 0 and 1, where template 1 is the more similar
//	  (a_1 = 0.396 > a_0 = 0.317), so with K = 2 and 0.85 bits w = (0.276,
//	  0.724) and class 0 scores 0.814 against 0.739: right.
//	image 2: a_3, label 3. Every method is right.
//	image 3: (a_5 + 0.3 a_3)/1.044, label 3. Class 5 wins for every method,
//	  class 3 is second or third: top-5 only.
//	image 4: the same image, label 1. Classes 0 and 1 both score exactly 0
//	  and tie for the last places; the lower index, 0, takes the 5th: miss.
//
// So uniform and mean-embedding get 2/5 top-1, AutoCLIP 3/5; all 4/5 top-5.
func TestEvalAccuracyTable(t *testing.T) {
	const d = 6
	axis := func(j int) []float64 { v := make([]float64, d); v[j%d] = 1; return v }
	add := func(a []float64, s float64, b []float64) []float64 {
		out := slices.Clone(a)
		for i := range out {
			out[i] += s * b[i]
		}
		return out
	}
	var text []float32
	for tmpl := 0; tmpl < 2; tmpl++ {
		for j := 0; j < d; j++ {
			v := axis(j)
			if tmpl == 1 {
				v = add(v, 0.5, axis(j+1))
			}
			for _, f := range v {
				text = append(text, float32(f))
			}
		}
	}
	var images []float32
	for _, v := range [][]float64{axis(0), {0.6, 0.8, 0, 0, 0, 0}, axis(3), add(axis(5), 0.3, axis(3)), add(axis(5), 0.3, axis(3))} {
		for _, f := range v {
			images = append(images, float32(f))
		}
	}
	data := &EvalData{Images: images, N: 5, D: d, Text: text, K: 2, C: d, Labels: []int{0, 0, 3, 3, 1}}
	rep, err := Eval(data, Methods(), DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := rep.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"method              top-1    top-5\n" +
		"uniform            40.00%   80.00%\n" +
		"mean-embedding     40.00%   80.00%\n" +
		"autoclip           60.00%   80.00%\n" +
		"5 images, 6 classes, 2 templates, 6 dims\n"
	if buf.String() != want {
		t.Fatalf("table:\n%s\nwant:\n%s", buf.String(), want)
	}
	// The hand-worked weights of image 1.
	if w := rep.Methods[2].Weights[2:4]; math.Abs(w[0]-0.276) > 0.002 || math.Abs(w[1]-0.724) > 0.002 {
		t.Fatalf("image 1 weights %v, want about (0.276, 0.724)", w)
	}
}

func TestEvalErrors(t *testing.T) {
	dir := t.TempDir()
	f32 := func(n int) []byte { return leBytes(binary.LittleEndian, make([]float32, n)) }
	ones := func(n int) []byte {
		v := make([]float32, n)
		for i := range v {
			v[i] = 1
		}
		return leBytes(binary.LittleEndian, v)
	}
	img := writeFile(t, dir, "img.npy", numpyBytes(1, "<f4", false, "(3, 4)", ones(12)))
	img3d := writeFile(t, dir, "img3.npy", numpyBytes(1, "<f4", false, "(3, 4, 1)", ones(12)))
	txt := writeFile(t, dir, "txt.npy", numpyBytes(1, "<f4", false, "(2, 2, 4)", ones(16)))
	txt2d := writeFile(t, dir, "txt2.npy", numpyBytes(1, "<f4", false, "(4, 4)", ones(16)))
	txtD5 := writeFile(t, dir, "txt5.npy", numpyBytes(1, "<f4", false, "(2, 2, 5)", ones(20)))
	lbl := writeFile(t, dir, "y.npy", numpyBytes(1, "<i8", false, "(2,)", leBytes(binary.LittleEndian, []int64{0, 1})))
	lblF := writeFile(t, dir, "yf.npy", numpyBytes(1, "<f4", false, "(3,)", f32(3)))
	for _, tc := range []struct {
		name          string
		img, txt, lbl string
		want          string
	}{
		{name: "images 3-D", img: img3d, txt: txt,
			want: img3d + ": images have shape [3 4 1], want [N, D]"},
		{name: "text 2-D", img: img, txt: txt2d,
			want: txt2d + ": text embeddings have shape [4 4], want [K, C, D] (template, class, dim)"},
		{name: "dims differ", img: img, txt: txtD5,
			want: img + " has shape [3 4] and " + txtD5 + " has shape [2 2 5]: embedding dims differ (4 vs 5)"},
		{name: "label count", img: img, txt: txt, lbl: lbl,
			want: lbl + " has shape [2] and " + img + " has shape [3 4]: want labels of shape [3]"},
		{name: "float labels", img: img, txt: txt, lbl: lblF,
			want: lblF + `: dtype "<f4" of shape [3], want an integer dtype`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadEvalData(tc.img, tc.txt, tc.lbl)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error = %v\nwant %s", err, tc.want)
			}
		})
	}

	good := func() *EvalData {
		rng := newRand(21)
		return &EvalData{Images: randImages(rng, 3, 4), N: 3, D: 4, Text: randText(rng, 2, 2, 4), K: 2, C: 2,
			Labels: []int{0, 1, 1}, ImagesName: "img.npy", TextName: "txt.npy", LabelsName: "y.npy"}
	}
	for _, tc := range []struct {
		name    string
		mod     func(*EvalData)
		methods []Method
		want    string
	}{
		{name: "no methods", mod: func(*EvalData) {}, methods: nil,
			want: "autoclip eval: no method given"},
		{name: "no images", mod: func(d *EvalData) { d.Images, d.N = nil, 0 }, methods: Methods(),
			want: "img.npy: 0 floats for [N=0][D=4] images, want N, D >= 1 and N*D floats"},
		{name: "label out of range", mod: func(d *EvalData) { d.Labels[2] = 2 }, methods: Methods(),
			want: "y.npy: label 2 is 2, want a class id in [0, 2) (txt.npy has 2 classes)"},
		{name: "negative label", mod: func(d *EvalData) { d.Labels[0] = -1 }, methods: Methods(),
			want: "y.npy: label 0 is -1, want a class id in [0, 2) (txt.npy has 2 classes)"},
		{name: "label count", mod: func(d *EvalData) { d.Labels = d.Labels[:2] }, methods: Methods(),
			want: "y.npy has 2 labels and img.npy has 3 images: want one label per image"},
		{name: "zero image", mod: func(d *EvalData) { clear(d.Images[4:8]) }, methods: Methods(),
			want: "img.npy: image 1: zero vector"},
		{name: "NaN image", mod: func(d *EvalData) { d.Images[9] = float32(math.NaN()) }, methods: Methods(),
			want: "img.npy: image 2: non-finite value NaN at dim 1"},
		{name: "NaN text", mod: func(d *EvalData) { d.Text[13] = float32(math.Inf(1)) }, methods: Methods(),
			want: "txt.npy: autoclip: text embedding template 1, class 1: non-finite value +Inf at dim 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := good()
			tc.mod(d)
			_, err := Eval(d, tc.methods, DefaultOptions())
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error = %v\nwant %s", err, tc.want)
			}
		})
	}
}
