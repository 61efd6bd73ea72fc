package inference

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/autoclipd/autoclipd/internal/logtest"
	ort "github.com/yalue/onnxruntime_go"

	"github.com/autoclipd/autoclipd/modelgen"
)

// providerModel writes the demo model and returns its image encoder's path
// and input and output names.
func providerModel(t testing.TB) (path string, in TensorInfo, out string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "model")
	if err := modelgen.WriteDemoModel(dir); err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(dir, "onnx", "vision_model.onnx")
	ins, outs, err := readIO(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(ins) != 1 || len(outs) < 1 {
		t.Fatalf("demo image model: inputs %s, outputs %s", describe(ins), describe(outs))
	}
	return path, ins[0], outs[0].Name
}

// logLines returns the non-empty lines b holds.
func logLines(b *logtest.Buffer) []string {
	var out []string
	for _, l := range strings.Split(b.String(), "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

func captureLog() (*logtest.Buffer, *slog.Logger) {
	b := &logtest.Buffer{}
	return b, slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// isCPUOnly says whether the library under test lacks the GPU providers; the
// fallback tests are about that library (a GPU machine checks the other path
// with scripts/gpu-check.sh).
func isCPUOnly(t *testing.T) bool {
	t.Helper()
	so, err := ort.NewSessionOptions()
	if err != nil {
		t.Fatal(err)
	}
	defer so.Destroy()
	return appendCUDA(so, Options{}) != nil
}

func TestProvidersFallBackToCPU(t *testing.T) {
	rt := openRuntime(t)
	if !isCPUOnly(t) {
		t.Skipf("%s has the CUDA provider; this test is about a CPU-only library", rt.Library())
	}
	path, in, out := providerModel(t)
	for _, list := range [][]string{nil, {"tensorrt", "cuda", "cpu"}} {
		t.Run(fmt.Sprint(list), func(t *testing.T) {
			logs, log := captureLog()
			o := Options{ProviderOptions: ProviderOptions{Providers: list, Log: log}}
			sess, p, err := newSession(path, []string{in.Name}, []string{out}, o, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer sess.Destroy()
			if p != ProviderCPU {
				t.Fatalf("provider %q, want cpu", p)
			}
			lines := logLines(logs)
			t.Logf("log:\n%s", strings.Join(lines, "\n"))
			if len(lines) != 2 {
				t.Fatalf("%d log lines, want one per failed provider (2):\n%s", len(lines), strings.Join(lines, "\n"))
			}
			for i, want := range []string{
				`level=WARN msg="TensorRT execution provider unavailable, falling back" provider=tensorrt next=cuda model=` + path + ` reason=`,
				`level=WARN msg="CUDA execution provider unavailable, falling back" provider=cuda next=cpu model=` + path + ` reason=`,
			} {
				if !strings.Contains(lines[i], want) {
					t.Errorf("log line %d:\n got %s\nwant it to contain %s", i, lines[i], want)
				}
				if strings.HasSuffix(lines[i], `reason=""`) {
					t.Errorf("log line %d gives no reason: %s", i, lines[i])
				}
			}
		})
	}
}

func TestGPUOnlyProvidersFail(t *testing.T) {
	rt := openRuntime(t)
	if !isCPUOnly(t) {
		t.Skipf("%s has the CUDA provider; this test is about a CPU-only library", rt.Library())
	}
	path, in, out := providerModel(t)
	for _, tc := range []struct {
		list []string
		want string
	}{
		{[]string{"cuda"}, "model.providers [cuda]: CUDA execution provider unavailable in " + rt.Library() + ": "},
		{[]string{"tensorrt"}, "model.providers [tensorrt]: TensorRT execution provider unavailable in " + rt.Library() + ": "},
		{[]string{"tensorrt", "cuda"}, "model.providers [tensorrt cuda]: no execution provider available in " + rt.Library() + ": tensorrt: "},
	} {
		t.Run(fmt.Sprint(tc.list), func(t *testing.T) {
			logs, log := captureLog()
			o := Options{ProviderOptions: ProviderOptions{Providers: tc.list, Log: log}}
			sess, _, err := newSession(path, []string{in.Name}, []string{out}, o, nil)
			if err == nil {
				sess.Destroy()
				t.Fatal("no error")
			}
			t.Logf("error: %v", err)
			if !strings.HasPrefix(err.Error(), tc.want) || len(err.Error()) <= len(tc.want)+3 {
				t.Fatalf("error\n got %v\nwant %s<reason>", err, tc.want)
			}
			if len(tc.list) == 2 && !strings.Contains(err.Error(), "; cuda: ") {
				t.Fatalf("error lacks the CUDA reason: %v", err)
			}
			if n := len(logLines(logs)); n != len(tc.list)-1 {
				t.Fatalf("%d log lines, want %d: %q", n, len(tc.list)-1, logLines(logs))
			}
		})
	}
}

func TestBadProviderOptions(t *testing.T) {
	openRuntime(t)
	path, in, out := providerModel(t)
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"unknown name", Options{ProviderOptions: ProviderOptions{Providers: []string{"cuda", "gpu"}}},
			`model.providers[1]: unknown execution provider "gpu" (valid: tensorrt, cuda, cpu)`},
		{"case matters", Options{ProviderOptions: ProviderOptions{Providers: []string{"CUDA"}}},
			`model.providers[0]: unknown execution provider "CUDA" (valid: tensorrt, cuda, cpu)`},
		{"listed twice", Options{ProviderOptions: ProviderOptions{Providers: []string{"cpu", "cuda", "cpu"}}},
			`model.providers[2]: "cpu" is listed twice`},
		{"graph level", Options{ProviderOptions: ProviderOptions{Providers: []string{"cpu"}, GraphOptimization: "max"}},
			`model.graph_optimization: unknown level "max" (valid: all, extended, basic, disable)`},
		{"negative threads", Options{Threads: -2, ProviderOptions: ProviderOptions{Providers: []string{"cpu"}}},
			`model.threads: -2 is negative`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs, log := captureLog()
			tc.o.Log = log
			sess, _, err := newSession(path, []string{in.Name}, []string{out}, tc.o, nil)
			if err == nil {
				sess.Destroy()
			}
			if err == nil || err.Error() != tc.want {
				t.Fatalf("newSession error\n got %v\nwant %s", err, tc.want)
			}
			if len(logLines(logs)) != 0 {
				t.Fatalf("bad options logged fallbacks: %q", logLines(logs))
			}
		})
	}
	if err := ValidateProviders(DefaultProviders); err != nil {
		t.Fatalf("default providers: %v", err)
	}
	if err := ValidateGraphOptimization("extended"); err != nil {
		t.Fatal(err)
	}
}

func TestBrokenModelIsNotAProviderProblem(t *testing.T) {
	rt := openRuntime(t)
	bad := filepath.Join(t.TempDir(), "broken.onnx")
	if err := os.WriteFile(bad, []byte("not a model"), 0o644); err != nil {
		t.Fatal(err)
	}
	logs, log := captureLog()
	o := Options{ProviderOptions: ProviderOptions{Providers: []string{"cpu"}, Log: log}}
	_, p, err := newSession(bad, []string{"x"}, []string{"y"}, o, nil)
	if err == nil || !strings.HasPrefix(err.Error(), bad+": ") || strings.Contains(err.Error(), "model.providers") {
		t.Fatalf("provider %q, error %v; want the model's path and ONNX Runtime's reason", p, err)
	}
	if len(logLines(logs)) != 0 {
		t.Fatalf("logged: %q", logLines(logs))
	}
	_ = rt
}

// runOnce runs the demo image encoder on a fixed input.
func runOnce(t *testing.T, sess *ort.DynamicAdvancedSession, in TensorInfo) []float32 {
	t.Helper()
	shape := slices.Clone(in.Shape)
	if shape[0] < 1 {
		shape[0] = 1
	}
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	data := make([]float32, n)
	for i := range data {
		data[i] = float32(math.Sin(float64(i) / 7))
	}
	x, err := ort.NewTensor(ort.NewShape(shape...), data)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Destroy()
	outs := []ort.Value{nil}
	if err := sess.Run([]ort.Value{x}, outs); err != nil {
		t.Fatal(err)
	}
	defer outs[0].Destroy()
	return slices.Clone(outs[0].(*ort.Tensor[float32]).GetData())
}

func TestThreadsAndGraphOptimizationApplied(t *testing.T) {
	openRuntime(t)
	path, in, out := providerModel(t)
	var want []float32
	for _, tc := range []struct {
		threads int
		level   string
	}{{0, ""}, {1, "all"}, {2, "extended"}, {1, "basic"}, {1, "disable"}} {
		t.Run(fmt.Sprintf("threads=%d level=%q", tc.threads, tc.level), func(t *testing.T) {
			o := Options{Threads: tc.threads, ProviderOptions: ProviderOptions{Providers: []string{"cpu"}, GraphOptimization: tc.level}}
			sess, p, err := newSession(path, []string{in.Name}, []string{out}, o, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer sess.Destroy()
			if p != ProviderCPU {
				t.Fatalf("provider %q", p)
			}
			got := runOnce(t, sess, in)
			if want == nil {
				want = got
				return
			}
			if len(got) != len(want) {
				t.Fatalf("%d outputs, want %d", len(got), len(want))
			}
			for i := range got {
				if math.Abs(float64(got[i]-want[i])) > 1e-4 {
					t.Fatalf("output %d = %v, want %v (as with the defaults)", i, got[i], want[i])
				}
			}
		})
	}
}

func TestTensorRTProfileOption(t *testing.T) {
	ps := []trtProfile{
		{Name: "pixel_values", Min: []int64{4, 3, 224, 224}, Opt: []int64{4, 3, 224, 224}, Max: []int64{4, 3, 224, 224}},
		{Name: "input_ids", Min: []int64{1, 1}, Opt: []int64{32, 16}, Max: []int64{32, 77}},
	}
	for _, tc := range []struct {
		pick func(trtProfile) []int64
		want string
	}{
		{func(p trtProfile) []int64 { return p.Min }, "pixel_values:4x3x224x224,input_ids:1x1"},
		{func(p trtProfile) []int64 { return p.Opt }, "pixel_values:4x3x224x224,input_ids:32x16"},
		{func(p trtProfile) []int64 { return p.Max }, "pixel_values:4x3x224x224,input_ids:32x77"},
	} {
		if got := profileOption(ps, tc.pick); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}

func TestTensorRTProfilesFromModelShapes(t *testing.T) {
	fixed := imageProfiles(TensorInfo{Name: "image", Shape: []int64{4, 3, 224, 224}}, 1)
	dyn := imageProfiles(TensorInfo{Name: "pixel_values", Shape: []int64{-1, 3, 224, 224}}, 8)
	text := textProfiles([]TensorInfo{
		{Name: "input_ids", Shape: []int64{-1, -1}},
		{Name: "attention_mask", Shape: []int64{-1, -1}},
	}, 32)
	immichText := textProfiles([]TensorInfo{{Name: "text", Shape: []int64{1, 77}}}, 32)
	for _, tc := range []struct {
		name string
		ps   []trtProfile
		want string // min | opt | max
	}{
		{"fixed image batch", fixed, "image:4x3x224x224 | image:4x3x224x224 | image:4x3x224x224"},
		{"dynamic image batch", dyn, "pixel_values:1x3x224x224 | pixel_values:8x3x224x224 | pixel_values:8x3x224x224"},
		{"dynamic text", text, "input_ids:1x1,attention_mask:1x1 | input_ids:32x16,attention_mask:32x16 | input_ids:32x77,attention_mask:32x77"},
		{"fixed text", immichText, "text:1x77 | text:1x77 | text:1x77"},
	} {
		got := profileOption(tc.ps, func(p trtProfile) []int64 { return p.Min }) + " | " +
			profileOption(tc.ps, func(p trtProfile) []int64 { return p.Opt }) + " | " +
			profileOption(tc.ps, func(p trtProfile) []int64 { return p.Max })
		if got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
	if ps := imageProfiles(TensorInfo{Name: "x", Shape: []int64{-1, 3, -1, -1}}, 4); ps != nil {
		t.Errorf("dynamic height/width: %v, want nil (TensorRT infers it)", ps)
	}
}

func TestSignalHandlersRestored(t *testing.T) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGUSR1)
	defer signal.Stop(ch)

	saved := SaveSignalHandlers()
	if got := saved.Restore(); len(got) != 0 {
		t.Fatalf("nothing changed, yet restored %v", got)
	}
	// A native library replaces Go's handler (as CUDA does).
	if err := installForeignHandler(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	got := saved.Restore()
	if fmt.Sprint(got) != fmt.Sprint([]syscall.Signal{syscall.SIGUSR1}) {
		t.Fatalf("restored %v, want [%v]", got, syscall.SIGUSR1)
	}
	// Go's handler is back: the signal reaches the channel.
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-ch:
		if s != syscall.SIGUSR1 {
			t.Fatalf("got %v", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("SIGUSR1 never reached Go: its handler was not restored")
	}
	if got := saved.Restore(); len(got) != 0 {
		t.Fatalf("second Restore put back %v", got)
	}
}

// TestProvidersOnGPU runs where the library has the CUDA provider and a GPU
// is present (scripts/gpu-check.sh on a GPU machine): CUDA is chosen, agrees
// with the CPU, and Go's signal handlers survive it.
func TestProvidersOnGPU(t *testing.T) {
	rt := openRuntime(t)
	if isCPUOnly(t) {
		t.Skipf("%s is a CPU-only build: the GPU path is checked by scripts/gpu-check.sh on a GPU machine", rt.Library())
	}
	path, in, out := providerModel(t)
	cpu, _, err := newSession(path, []string{in.Name}, []string{out}, Options{ProviderOptions: ProviderOptions{Providers: []string{"cpu"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cpu.Destroy()
	want := runOnce(t, cpu, in)

	before := SaveSignalHandlers()
	logs, log := captureLog()
	o := Options{ProviderOptions: ProviderOptions{Providers: []string{"cuda"}, Log: log}}
	sess, p, err := newSession(path, []string{in.Name}, []string{out}, o, nil)
	if err != nil {
		t.Fatalf("[cuda] on %s: %v", rt.Library(), err)
	}
	defer sess.Destroy()
	got := runOnce(t, sess, in)
	if changed := before.Restore(); len(changed) != 0 {
		t.Errorf("signal handlers %v were left replaced after the CUDA session", changed)
	}
	if p != ProviderCUDA || len(logLines(logs)) != 0 {
		t.Fatalf("provider %q, log %q", p, logLines(logs))
	}
	for i := range got {
		if math.Abs(float64(got[i]-want[i])) > 1e-3 {
			t.Fatalf("CUDA output %d = %v, CPU %v", i, got[i], want[i])
		}
	}
}

func TestProviderReason(t *testing.T) {
	const pre = "/onnxruntime_src/onnxruntime/core/session/provider_bridge_ort.cc:1988 onnxruntime::Provider& onnxruntime::ProviderLibrary::Get() [ONNXRuntimeError] : 1 : FAIL : "
	for _, tc := range []struct{ in, want string }{
		{pre + "Failed to load library /o/libonnxruntime_providers_shared.so with error: /o/libonnxruntime_providers_shared.so: cannot open shared object file: No such file or directory",
			"a CPU-only build (there is no /o/libonnxruntime_providers_shared.so next to it)"},
		{pre + "Failed to load library /o/libonnxruntime_providers_cuda.so with error: libcudnn.so.9: cannot open shared object file: No such file or directory",
			"cannot load /o/libonnxruntime_providers_cuda.so: libcudnn.so.9: cannot open shared object file: No such file or directory"},
		{"/src/cuda_call.cc:123 [ONNXRuntimeError] : 1 : FAIL : CUDA failure 100: no CUDA-capable device is detected ; GPU=0",
			"CUDA failure 100: no CUDA-capable device is detected ; GPU=0"},
		{"plain error", "plain error"},
	} {
		if got := providerReason(errors.New(tc.in)).Error(); got != tc.want {
			t.Errorf("providerReason(%q)\n got %s\nwant %s", tc.in, got, tc.want)
		}
	}
}

// TestSpinningOption: model.spinning sets ONNX Runtime's
// session.intra_op.allow_spinning, off unless asked for.
func TestSpinningOption(t *testing.T) {
	openRuntime(t)
	for _, spin := range []bool{false, true} {
		so, err := baseSessionOptions(Options{ProviderOptions: ProviderOptions{Spinning: spin}})
		if err != nil {
			t.Fatal(err)
		}
		got, err := so.GetSessionConfigEntry("session.intra_op.allow_spinning")
		so.Destroy()
		if err != nil {
			t.Fatal(err)
		}
		want := map[bool]string{false: "0", true: "1"}[spin]
		if got != want {
			t.Errorf("spinning %v: allow_spinning %q, want %q", spin, got, want)
		}
	}
}
