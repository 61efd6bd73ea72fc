package inference

/*
#include <signal.h>
#include <string.h>

// acdNSig is one more than the highest Linux signal number.
#define ACD_NSIG 65

static int acd_get(int sig, struct sigaction *sa) { return sigaction(sig, NULL, sa); }
static int acd_set(int sig, const struct sigaction *sa) { return sigaction(sig, sa, NULL); }
static int acd_same(const struct sigaction *a, const struct sigaction *b) {
	return a->sa_handler == b->sa_handler && a->sa_flags == b->sa_flags;
}

// acd_foreign is a handler as a C library would install one: no SA_ONSTACK.
// Tests use it to stand in for the CUDA runtime.
static void acd_foreign(int sig) { (void)sig; }
static int acd_install_foreign(int sig) {
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = acd_foreign;
	return sigaction(sig, &sa, NULL);
}
*/
import "C"

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"

	ort "github.com/yalue/onnxruntime_go"
)

// Execution provider names, as written in model.providers.
const (
	ProviderTensorRT = "tensorrt"
	ProviderCUDA     = "cuda"
	ProviderCPU      = "cpu"
)

// DefaultProviders is the provider list used when none is configured: the
// fastest that works on this machine.
var DefaultProviders = []string{ProviderTensorRT, ProviderCUDA, ProviderCPU}

var validProviders = []string{ProviderTensorRT, ProviderCUDA, ProviderCPU}

// Graph optimisation levels, as written in model.graph_optimization.
var graphLevels = map[string]ort.GraphOptimizationLevel{
	"":         ort.GraphOptimizationLevelEnableAll,
	"all":      ort.GraphOptimizationLevelEnableAll,
	"extended": ort.GraphOptimizationLevelEnableExtended,
	"basic":    ort.GraphOptimizationLevelEnableBasic,
	"disable":  ort.GraphOptimizationLevelDisableAll,
}

// ProviderOptions choose and configure ONNX Runtime's execution providers.
// They are part of Options.
type ProviderOptions struct {
	// Providers are tried in order until one works (model.providers); nil
	// means DefaultProviders. Valid names: tensorrt, cuda, cpu.
	Providers []string
	// DeviceID is the GPU used by TensorRT and CUDA (model.device_id).
	DeviceID int
	// TensorRTFullPrecision makes TensorRT build fp32 engines; by default it
	// builds fp16 ones (faster, and CLIP's embeddings barely change).
	TensorRTFullPrecision bool
	// CacheDir holds TensorRT's engine and timing caches (in its tensorrt
	// subfolder) so that engines are built once; "" disables them.
	CacheDir string
	// GraphOptimization is ONNX Runtime's graph optimisation level
	// (model.graph_optimization): "all" (the default when ""), "extended",
	// "basic" or "disable".
	GraphOptimization string
	// Spinning lets idle intra-op threads spin (ONNX Runtime's
	// session.intra_op.allow_spinning; model.spinning). Off by default:
	// spinning threads compete with capture and preprocessing for the CPU.
	Spinning bool
	// Log receives one line per provider that could not be used and the
	// notes about TensorRT engine builds; nil discards them.
	Log *slog.Logger
}

// ValidateProviders checks a model.providers list: known names, each once.
func ValidateProviders(names []string) error {
	for i, n := range names {
		if !slices.Contains(validProviders, n) {
			return fmt.Errorf("model.providers[%d]: unknown execution provider %q (valid: %s)", i, n, strings.Join(validProviders, ", "))
		}
		if slices.Index(names, n) != i {
			return fmt.Errorf("model.providers[%d]: %q is listed twice", i, n)
		}
	}
	return nil
}

// ValidateGraphOptimization checks a model.graph_optimization value.
func ValidateGraphOptimization(level string) error {
	if _, ok := graphLevels[level]; !ok {
		return fmt.Errorf("model.graph_optimization: unknown level %q (valid: all, extended, basic, disable)", level)
	}
	return nil
}

func (o ProviderOptions) providers() ([]string, error) {
	if len(o.Providers) == 0 {
		return DefaultProviders, nil
	}
	if err := ValidateProviders(o.Providers); err != nil {
		return nil, err
	}
	return o.Providers, nil
}

func (o ProviderOptions) logger() *slog.Logger {
	if o.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Log
}

// trtProfile is a TensorRT optimisation profile for one input: the smallest,
// usual and largest shapes it will see. A fixed batch has Min = Opt = Max, so
// TensorRT builds one engine for exactly that shape.
type trtProfile struct {
	Name          string
	Min, Opt, Max []int64
}

// imageProfiles is the TensorRT profile of an image encoder's input: one
// fixed shape when the model fixes its batch, else batches of 1 to maxBatch,
// built for maxBatch.
func imageProfiles(in TensorInfo, maxBatch int) []trtProfile {
	shape := slices.Clone(in.Shape)
	if len(shape) == 0 {
		return nil
	}
	maxBatch = max(maxBatch, 1)
	if shape[0] > 0 {
		return []trtProfile{{Name: in.Name, Min: shape, Opt: shape, Max: shape}}
	}
	lo, hi := slices.Clone(shape), slices.Clone(shape)
	lo[0], hi[0] = 1, int64(maxBatch)
	if slices.ContainsFunc(hi, func(d int64) bool { return d < 1 }) {
		return nil // other dynamic axes: let TensorRT infer the profile
	}
	return []trtProfile{{Name: in.Name, Min: lo, Opt: hi, Max: hi}}
}

// textProfiles are the TensorRT profiles of a text encoder's token inputs
// (input_ids and, when present, attention_mask; all [N,L]): fixed axes stay,
// a dynamic batch goes from 1 to batch, a dynamic sequence from 1 to
// ContextLength, built for batch x 16 tokens (most prompts are shorter).
func textProfiles(inputs []TensorInfo, batch int) []trtProfile {
	var ps []trtProfile
	for _, in := range inputs {
		if len(in.Shape) != 2 {
			return nil
		}
		lo, opt, hi := slices.Clone(in.Shape), slices.Clone(in.Shape), slices.Clone(in.Shape)
		if in.Shape[0] < 1 {
			lo[0], opt[0], hi[0] = 1, int64(max(batch, 1)), int64(max(batch, 1))
		}
		if in.Shape[1] < 1 {
			lo[1], opt[1], hi[1] = 1, 16, ContextLength
		}
		ps = append(ps, trtProfile{Name: in.Name, Min: lo, Opt: opt, Max: hi})
	}
	return ps
}

func profileOption(ps []trtProfile, pick func(trtProfile) []int64) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		dims := make([]string, len(pick(p)))
		for j, d := range pick(p) {
			dims[j] = strconv.FormatInt(d, 10)
		}
		parts[i] = p.Name + ":" + strings.Join(dims, "x")
	}
	return strings.Join(parts, ",")
}

// baseSessionOptions are the provider-independent settings: threads and
// graph optimisation.
func baseSessionOptions(o Options) (*ort.SessionOptions, error) {
	level, ok := graphLevels[o.GraphOptimization]
	if !ok {
		return nil, ValidateGraphOptimization(o.GraphOptimization)
	}
	if o.Threads < 0 {
		return nil, fmt.Errorf("model.threads: %d is negative", o.Threads)
	}
	so, err := ort.NewSessionOptions()
	if err != nil {
		return nil, err
	}
	if o.Threads > 0 {
		if err := so.SetIntraOpNumThreads(o.Threads); err != nil {
			so.Destroy()
			return nil, fmt.Errorf("model.threads %d: %w", o.Threads, err)
		}
	}
	if err := so.SetGraphOptimizationLevel(level); err != nil {
		so.Destroy()
		return nil, fmt.Errorf("model.graph_optimization %q: %w", o.GraphOptimization, err)
	}
	spin := "0"
	if o.Spinning {
		spin = "1"
	}
	if err := so.AddSessionConfigEntry("session.intra_op.allow_spinning", spin); err != nil {
		so.Destroy()
		return nil, fmt.Errorf("model.spinning: %w", err)
	}
	return so, nil
}

// appendProvider adds provider p to so. For TensorRT, CUDA is added after it
// when CUDA is also in the list, so that nodes TensorRT cannot run go to the
// GPU rather than the CPU.
func appendProvider(so *ort.SessionOptions, p string, o Options, list []string, profiles []trtProfile) error {
	switch p {
	case ProviderCPU:
		return nil
	case ProviderCUDA:
		return appendCUDA(so, o)
	case ProviderTensorRT:
		if err := appendTensorRT(so, o, profiles); err != nil {
			return err
		}
		if slices.Contains(list, ProviderCUDA) {
			if err := appendCUDA(so, o); err != nil {
				o.logger().Warn("TensorRT without CUDA for the nodes it cannot run", "reason", err)
			}
		}
		return nil
	}
	return fmt.Errorf("unknown execution provider %q", p)
}

func appendCUDA(so *ort.SessionOptions, o Options) error {
	co, err := ort.NewCUDAProviderOptions()
	if err != nil {
		return err
	}
	defer co.Destroy()
	if err := co.Update(map[string]string{
		"device_id":                    strconv.Itoa(o.DeviceID),
		"cudnn_conv_use_max_workspace": "1",
	}); err != nil {
		return err
	}
	return so.AppendExecutionProviderCUDA(co)
}

func appendTensorRT(so *ort.SessionOptions, o Options, profiles []trtProfile) error {
	to, err := ort.NewTensorRTProviderOptions()
	if err != nil {
		return err
	}
	defer to.Destroy()
	opts := map[string]string{
		"device_id":       strconv.Itoa(o.DeviceID),
		"trt_fp16_enable": strconv.FormatBool(!o.TensorRTFullPrecision),
	}
	if o.CacheDir != "" {
		dir := filepath.Join(o.CacheDir, "tensorrt")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("TensorRT engine cache: %w", err)
		}
		opts["trt_engine_cache_enable"] = "true"
		opts["trt_engine_cache_path"] = dir
		opts["trt_timing_cache_enable"] = "true"
		opts["trt_timing_cache_path"] = dir
	}
	if len(profiles) > 0 {
		opts["trt_profile_min_shapes"] = profileOption(profiles, func(p trtProfile) []int64 { return p.Min })
		opts["trt_profile_opt_shapes"] = profileOption(profiles, func(p trtProfile) []int64 { return p.Opt })
		opts["trt_profile_max_shapes"] = profileOption(profiles, func(p trtProfile) []int64 { return p.Max })
	}
	if err := to.Update(opts); err != nil {
		return err
	}
	return so.AppendExecutionProviderTensorRT(to)
}

var providerTitles = map[string]string{ProviderTensorRT: "TensorRT", ProviderCUDA: "CUDA", ProviderCPU: "CPU"}

// loadedLibrary is the path of the loaded ONNX Runtime, for messages.
func loadedLibrary() string {
	env.Lock()
	defer env.Unlock()
	if env.lib == "" {
		return "the ONNX Runtime library"
	}
	return env.lib
}

// noProviderError is the error when every listed provider failed.
func noProviderError(list []string, reasons []error) error {
	if len(list) == 1 {
		return fmt.Errorf("model.providers [%s]: %s execution provider unavailable in %s: %w",
			list[0], providerTitles[list[0]], loadedLibrary(), reasons[0])
	}
	parts := make([]string, len(list))
	for i, p := range list {
		parts[i] = fmt.Sprintf("%s: %v", p, reasons[i])
	}
	return fmt.Errorf("model.providers [%s]: no execution provider available in %s: %s",
		strings.Join(list, " "), loadedLibrary(), strings.Join(parts, "; "))
}

// ortStatusPrefix matches ONNX Runtime's "file:line function [ONNXRuntimeError] : 1 : FAIL : "
// preamble, which says nothing to a user.
var ortStatusPrefix = regexp.MustCompile(`^.*\[ONNXRuntimeError\] : \d+ : [A-Z_]+ : `)

// loadFailure matches a provider library that could not be loaded.
var loadFailure = regexp.MustCompile(`Failed to load library (\S+) with error: (.*)$`)

// providerReason turns ONNX Runtime's error for a provider into a short
// reason: what could not be loaded, or what failed.
func providerReason(err error) error {
	msg := ortStatusPrefix.ReplaceAllString(err.Error(), "")
	if m := loadFailure.FindStringSubmatch(msg); m != nil {
		lib, why := m[1], strings.TrimPrefix(m[2], m[1]+": ")
		if filepath.Base(lib) == "libonnxruntime_providers_shared.so" && strings.Contains(why, "No such file") {
			return fmt.Errorf("a CPU-only build (there is no %s next to it)", lib)
		}
		return fmt.Errorf("cannot load %s: %s", lib, why)
	}
	return errors.New(msg)
}

// logFallback writes the one line for a provider that could not be used.
func logFallback(log *slog.Logger, model, p, next string, reason error) {
	log.Warn(providerTitles[p]+" execution provider unavailable, falling back",
		"provider", p, "next", next, "model", model, "reason", reason.Error())
}

// newSession creates a session for the model at path with the first provider
// in o's list that works, trying the next when adding the provider or
// creating the session fails (one log line each), and returns the chosen
// provider's name. profiles are TensorRT's optimisation profiles (nil: let
// TensorRT infer them). Go's signal handlers are put back if a GPU provider
// replaced them.
func newSession(path string, inputs, outputs []string, o Options, profiles []trtProfile) (*ort.DynamicAdvancedSession, string, error) {
	list, err := o.providers()
	if err != nil {
		return nil, "", err
	}
	log := o.logger()
	var reasons []error
	for i, p := range list {
		sess, err := tryProvider(path, inputs, outputs, o, p, list, profiles)
		if err == nil {
			return sess, p, nil
		}
		var fatal *modelError
		if errors.As(err, &fatal) {
			return nil, "", fatal.err
		}
		err = providerReason(err)
		reasons = append(reasons, err)
		if i+1 < len(list) {
			logFallback(log, path, p, list[i+1], err)
		}
	}
	return nil, "", noProviderError(list, reasons)
}

// modelError marks a failure that no other provider would fix (bad options,
// a model the CPU provider cannot load either).
type modelError struct{ err error }

func (e *modelError) Error() string { return e.err.Error() }

func tryProvider(path string, inputs, outputs []string, o Options, p string, list []string, profiles []trtProfile) (*ort.DynamicAdvancedSession, error) {
	so, err := baseSessionOptions(o)
	if err != nil {
		return nil, &modelError{err}
	}
	defer so.Destroy()
	if p != ProviderCPU {
		// CUDA replaces Go's signal handlers when it initialises (yalue/
		// onnxruntime_go#140): put them back once the session exists.
		saved := SaveSignalHandlers()
		defer func() {
			if restored := saved.Restore(); len(restored) > 0 {
				o.logger().Debug("restored Go's signal handlers after the GPU provider replaced them", "provider", p, "signals", fmt.Sprint(restored))
			}
		}()
	}
	if err := appendProvider(so, p, o, list, profiles); err != nil {
		return nil, err
	}
	if p == ProviderTensorRT {
		cache := "none (model.cache_dir unset: every start rebuilds)"
		if o.CacheDir != "" {
			cache = filepath.Join(o.CacheDir, "tensorrt")
		}
		o.logger().Info("TensorRT: building the engine; the first build for a model can take minutes, later starts reuse the engine cache",
			"model", path, "cache", cache, "fp16", !o.TensorRTFullPrecision)
	}
	sess, err := ort.NewDynamicAdvancedSession(path, inputs, outputs, so)
	if err != nil {
		if p == ProviderCPU {
			return nil, &modelError{fmt.Errorf("%s: %w", path, err)}
		}
		return nil, err
	}
	return sess, nil
}

// nsig is one more than the highest Linux signal number.
const nsig = C.ACD_NSIG

// SignalHandlers is a snapshot of the process's signal handlers. Native
// libraries (the CUDA runtime behind ONNX Runtime's CUDA and TensorRT
// providers) install their own handlers without SA_ONSTACK, replacing Go's:
// Ctrl-C then crashes the process instead of cancelling its context. Take a
// snapshot before such a library initialises and Restore it afterwards.
// Sessions made by this package do so themselves; the daemon should do the
// same around anything else that may first touch CUDA (the warm-up run).
type SignalHandlers struct {
	saved [nsig]C.struct_sigaction
	ok    [nsig]bool
}

// SaveSignalHandlers snapshots every signal's handler.
func SaveSignalHandlers() *SignalHandlers {
	s := &SignalHandlers{}
	for sig := 1; sig < nsig; sig++ {
		s.ok[sig] = C.acd_get(C.int(sig), &s.saved[sig]) == 0
	}
	return s
}

// Restore puts back every handler that changed since the snapshot and
// returns the signals it restored.
func (s *SignalHandlers) Restore() []syscall.Signal {
	var restored []syscall.Signal
	for sig := 1; sig < nsig; sig++ {
		if !s.ok[sig] || sig == int(syscall.SIGKILL) || sig == int(syscall.SIGSTOP) {
			continue
		}
		var now C.struct_sigaction
		if C.acd_get(C.int(sig), &now) != 0 || C.acd_same(&now, &s.saved[sig]) != 0 {
			continue
		}
		if C.acd_set(C.int(sig), &s.saved[sig]) == 0 {
			restored = append(restored, syscall.Signal(sig))
		}
	}
	return restored
}

// installForeignHandler replaces sig's handler the way a C library would
// (no SA_ONSTACK). For tests only.
func installForeignHandler(sig syscall.Signal) error {
	if C.acd_install_foreign(C.int(sig)) != 0 {
		return fmt.Errorf("sigaction(%d) failed", sig)
	}
	return nil
}
