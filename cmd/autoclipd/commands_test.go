package main

import (
	"bytes"
	"context"
	"encoding/json"
	"github.com/sbinet/npyio"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/autoclipd/autoclipd/autoclip"
	"github.com/autoclipd/autoclipd/capture"
	"github.com/autoclipd/autoclipd/inference/preprocess"
	"github.com/autoclipd/autoclipd/modelgen"
)

// sharedDir is ../shared from the repository root.
func sharedDir(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "..", "shared")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's folder")
		}
		dir = parent
	}
}

func runCmd(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), code
}

func TestTokenizeCommand(t *testing.T) {
	vocab := filepath.Join(sharedDir(t), "clip", "bpe_simple_vocab_16e6.txt.gz")
	data, err := os.ReadFile(filepath.Join(sharedDir(t), "clip", "token_vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var vectors []struct {
		Text string  `json:"text"`
		IDs  []int64 `json:"ids"`
	}
	if err := json.Unmarshal(data, &vectors); err != nil {
		t.Fatal(err)
	}
	var want, stdin strings.Builder
	args := []string{"tokenize", "--vocab", vocab}
	for _, v := range vectors {
		ids := make([]string, len(v.IDs))
		for i, id := range v.IDs {
			ids[i] = strconv.FormatInt(id, 10)
		}
		want.WriteString(strings.Join(ids, " ") + "\n")
		args = append(args, v.Text)
		stdin.WriteString(v.Text + "\n")
	}
	out, errOut, code := runCmd(t, "", args...)
	if code != 0 || out != want.String() {
		t.Errorf("arguments: exit %d, stderr %q\n got %q\nwant %q", code, errOut, out, want.String())
	}
	out, errOut, code = runCmd(t, stdin.String(), "tokenize", "--vocab", vocab)
	if code != 0 || out != want.String() {
		t.Errorf("stdin: exit %d, stderr %q\n got %q\nwant %q", code, errOut, out, want.String())
	}
	if _, errOut, code := runCmd(t, "", "tokenize", "x"); code != 2 || !strings.Contains(errOut, "give exactly one of --model DIR or --vocab FILE") {
		t.Errorf("no vocabulary: exit %d, %q", code, errOut)
	}
}

func TestPreprocessCommand(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "model")
	if err := modelgen.WriteDemoModel(model); err != nil {
		t.Fatal(err)
	}
	const w, h = 320, 200
	img := make([]byte, 3*w*h)
	for i := range img {
		img[i] = byte(i * 7 % 251)
	}
	png := filepath.Join(dir, "x.png")
	if err := capture.WriteImage(png, w, h, img); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "t.npy")
	if _, errOut, code := runCmd(t, "", "preprocess", "--model", model, png, "--out", out); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	got, shape, err := autoclip.LoadNPY(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(shape) != 3 || shape[0] != 3 || shape[1] != 224 || shape[2] != 224 {
		t.Fatalf("shape %v, want [3 224 224]", shape)
	}
	cfg, err := preprocess.LoadConfig(filepath.Join(model, "preprocessor_config.json"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := preprocess.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]float32, 3*224*224)
	if err := p.Run(want, img, w, h, 3*w, preprocess.BGR); err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("value %d: %v, want %v", i, got[i], want[i])
		}
	}
	if _, errOut, code := runCmd(t, "", "preprocess", "--model", model, filepath.Join(dir, "nope.png"), "--out", out); code != 1 || !strings.Contains(errOut, "nope.png") {
		t.Errorf("missing image: exit %d, %q", code, errOut)
	}
}

func TestEvalCommand(t *testing.T) {
	dir := t.TempDir()
	const n, k, c, d = 12, 4, 3, 8
	rng := rand.New(rand.NewPCG(1, 2))
	randn := func(m int) []float64 {
		v := make([]float64, m)
		for i := range v {
			v[i] = rng.NormFloat64()
		}
		return v
	}
	text := randn(k * c * d)
	labels := make([]float64, n)
	img := make([]float64, n*d)
	for i := 0; i < n; i++ {
		labels[i] = float64(i % c)
		// An image near its class's first-template text embedding.
		for j := 0; j < d; j++ {
			img[i*d+j] = text[(i%c)*d+j] + 0.3*rng.NormFloat64()
		}
	}
	write := func(name string, v []float64, shape ...int) string {
		p := filepath.Join(dir, name)
		if err := autoclip.WriteNPY(p, v, shape...); err != nil {
			t.Fatal(err)
		}
		return p
	}
	imgPath := write("img.npy", img, n, d)
	txtPath := write("txt.npy", text, k*c, d) // rewritten as 3-D below
	// autoclip.WriteNPY writes 1-D and 2-D; the [K,C,D] file is made with the float32 writer.
	txt32 := make([]float32, len(text))
	for i, v := range text {
		txt32[i] = float32(v)
	}
	if err := writeNPYFloat32(txtPath, txt32, k, c, d); err != nil {
		t.Fatal(err)
	}
	// Labels are integers, as users export them (np.int64).
	lblPath := filepath.Join(dir, "y.npy")
	ints := make([]int64, n)
	for i, v := range labels {
		ints[i] = int64(v)
	}
	lf, err := os.Create(lblPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := npyio.Write(lf, ints); err != nil {
		t.Fatal(err)
	}
	if err := lf.Close(); err != nil {
		t.Fatal(err)
	}
	scores := filepath.Join(dir, "s.npy")
	weights := filepath.Join(dir, "w.npy")
	out, errOut, code := runCmd(t, "", "eval", "--images", imgPath, "--text", txtPath, "--labels", lblPath, "--method", "all", "--out-scores", scores, "--out-weights", weights)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, m := range []string{"autoclip", "uniform", "mean-embedding"} {
		if !strings.Contains(out, m) {
			t.Errorf("table lacks %s:\n%s", m, out)
		}
	}
	// The written scores and weights agree with the library on the same inputs.
	data, err := autoclip.LoadEvalData(imgPath, txtPath, lblPath)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := autoclip.Eval(data, []autoclip.Method{"autoclip"}, autoclip.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	gotS, shapeS, err := autoclip.LoadNPYFloat64(filepath.Join(dir, "s.autoclip.npy"))
	if err != nil {
		t.Fatal(err)
	}
	gotW, shapeW, err := autoclip.LoadNPYFloat64(filepath.Join(dir, "w.autoclip.npy"))
	if err != nil {
		t.Fatal(err)
	}
	if len(shapeS) != 2 || shapeS[0] != n || shapeS[1] != c || len(shapeW) != 2 || shapeW[0] != n || shapeW[1] != k {
		t.Fatalf("shapes %v %v", shapeS, shapeW)
	}
	for i := range gotS {
		if math.Abs(gotS[i]-rep.Methods[0].Scores[i]) > 1e-12 {
			t.Fatalf("score %d: %v vs library %v", i, gotS[i], rep.Methods[0].Scores[i])
		}
	}
	for i := range gotW {
		if math.Abs(gotW[i]-rep.Methods[0].Weights[i]) > 1e-12 {
			t.Fatalf("weight %d: %v vs library %v", i, gotW[i], rep.Methods[0].Weights[i])
		}
	}
	// A shape mismatch names the files and shapes and exits non-zero.
	bad := write("bad.npy", randn(n*(d+1)), n, d+1)
	_, errOut, code = runCmd(t, "", "eval", "--images", bad, "--text", txtPath)
	if code != 1 || !strings.Contains(errOut, "bad.npy") || !strings.Contains(errOut, "txt.npy") {
		t.Errorf("mismatch: exit %d, %q", code, errOut)
	}
}

func TestClassifyCommand(t *testing.T) {
	if os.Getenv("ORT_LIB") == "" {
		t.Fatal("ORT_LIB is not set: run the tests with `make test`")
	}
	path := writeE2E(t, "127.0.0.1:1", "")
	dir := filepath.Dir(path)
	colours := map[string][3]uint8{}
	for _, c := range modelgen.DemoColours() {
		colours[c.Name] = c.BGR
	}
	const w, h = 64, 48
	img := make([]byte, 3*w*h)
	green := colours["green"]
	for i := 0; i < w*h; i++ {
		copy(img[3*i:], green[:])
	}
	png := filepath.Join(dir, "green.png")
	if err := capture.WriteImage(png, w, h, img); err != nil {
		t.Fatal(err)
	}
	video := filepath.Join(dir, "colours.avi")
	out, errOut, code := runCmd(t, "", "classify", "--config", path, "--json", "--top", "3", "--every", "800ms", png, video)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	// One image line, then one line per 0.8 s of the 4 s video at 10 fps.
	if len(lines) != 1+5 {
		t.Fatalf("%d lines, want 6:\n%s", len(lines), out)
	}
	for i, line := range lines {
		var r struct {
			Image  string  `json:"image"`
			Frame  *uint64 `json:"frame"`
			Labels []struct {
				Label       string  `json:"label"`
				Score       float64 `json:"score"`
				Probability float64 `json:"probability"`
			} `json:"labels"`
		}
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("line %d %q: %v", i, line, err)
		}
		if len(r.Labels) != 3 {
			t.Errorf("line %d: %d labels", i, len(r.Labels))
		}
		if i == 0 {
			if r.Image != png || r.Frame != nil || r.Labels[0].Label != "green" {
				t.Errorf("image line %s", line)
			}
			continue
		}
		if r.Image != video || r.Frame == nil {
			t.Fatalf("video line %s", line)
		}
		want := e2eColours[(*r.Frame-1)/e2eSegment]
		if r.Labels[0].Label != want {
			t.Errorf("frame %d: %s, want %s", *r.Frame, r.Labels[0].Label, want)
		}
	}
	out, _, code = runCmd(t, "", "classify", "--config", path, "--top", "1", png)
	if code != 0 || !strings.Contains(out, png+"\n  1. green") {
		t.Errorf("table output: exit %d\n%s", code, out)
	}
}
