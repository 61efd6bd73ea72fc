package autoclip

import (
	"math"
	"slices"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	mod := func(f func(*Options)) Options {
		o := DefaultOptions()
		f(&o)
		return o
	}
	for _, tc := range []struct {
		name string
		opts Options
		want string // "" for valid
	}{
		{name: "defaults", opts: DefaultOptions()},
		{name: "uniform", opts: mod(func(o *Options) { o.Method = MethodUniform })},
		{name: "mean-embedding entropy", opts: mod(func(o *Options) { o.Method, o.Aggregation = MethodMeanEmbedding, AggEntropy })},
		{name: "beta one", opts: mod(func(o *Options) { o.Beta = 1 })},
		{name: "tiny beta", opts: mod(func(o *Options) { o.Beta = 1e-9 })},
		{name: "empty method", opts: mod(func(o *Options) { o.Method = "" }),
			want: `autoclip.method: unknown method "" (want autoclip, uniform or mean-embedding)`},
		{name: "bad method", opts: mod(func(o *Options) { o.Method = "AutoCLIP" }),
			want: `autoclip.method: unknown method "AutoCLIP" (want autoclip, uniform or mean-embedding)`},
		{name: "bad aggregation", opts: mod(func(o *Options) { o.Aggregation = "median" }),
			want: `autoclip.aggregation: unknown aggregation "median" (want logsumexp, mean, max or entropy)`},
		{name: "beta above one", opts: mod(func(o *Options) { o.Beta = 1.5 }),
			want: "autoclip.beta: must be in (0, 1], got 1.5"},
		{name: "beta zero", opts: mod(func(o *Options) { o.Beta = 0 }),
			want: "autoclip.beta: must be in (0, 1], got 0"},
		{name: "beta NaN", opts: mod(func(o *Options) { o.Beta = math.NaN() }),
			want: "autoclip.beta: must be in (0, 1], got NaN"},
		{name: "scale negative", opts: mod(func(o *Options) { o.Scale = -1 }),
			want: "autoclip.scale: must be a finite number > 0, got -1"},
		{name: "scale Inf", opts: mod(func(o *Options) { o.Scale = math.Inf(1) }),
			want: "autoclip.scale: must be a finite number > 0, got +Inf"},
		{name: "logit scale zero", opts: mod(func(o *Options) { o.LogitScale = 0 }),
			want: "autoclip.logit_scale: must be a finite number > 0, got 0"},
		{name: "logit scale NaN", opts: mod(func(o *Options) { o.LogitScale = math.NaN() }),
			want: "autoclip.logit_scale: must be a finite number > 0, got NaN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.opts.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tc.want != "" && (err == nil || err.Error() != tc.want):
				t.Fatalf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestDefaultOptions(t *testing.T) {
	want := Options{Method: "autoclip", Aggregation: "logsumexp", Beta: 0.85, Scale: 1, LogitScale: 100}
	if got := DefaultOptions(); got != want {
		t.Fatalf("DefaultOptions() = %+v, want %+v", got, want)
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		method  Method
		agg     Aggregation
		methods []Method
		wantErr string
	}{
		{name: "autoclip", in: "autoclip", method: MethodAutoCLIP, methods: []Method{MethodAutoCLIP}},
		{name: "uniform", in: "uniform", method: MethodUniform, methods: []Method{MethodUniform}},
		{name: "mean-embedding", in: "mean-embedding", method: MethodMeanEmbedding, methods: []Method{MethodMeanEmbedding}},
		{name: "logsumexp", in: "logsumexp", agg: AggLogSumExp},
		{name: "mean", in: "mean", agg: AggMean},
		{name: "max", in: "max", agg: AggMax},
		{name: "entropy", in: "entropy", agg: AggEntropy},
		{name: "all", in: "all", methods: []Method{MethodUniform, MethodMeanEmbedding, MethodAutoCLIP}},
		{name: "list", in: "autoclip, uniform", methods: []Method{MethodAutoCLIP, MethodUniform}},
		{name: "duplicate", in: "uniform,uniform", wantErr: `method list item 1: "uniform" given twice`},
		{name: "bad item", in: "uniform,,autoclip", wantErr: `method list item 1: unknown method "" (want autoclip, uniform or mean-embedding)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, errM := ParseMethod(tc.in)
			if tc.method != "" && (errM != nil || m != tc.method) {
				t.Errorf("ParseMethod(%q) = %q, %v", tc.in, m, errM)
			}
			if tc.method == "" && errM == nil {
				t.Errorf("ParseMethod(%q) = %q, want an error", tc.in, m)
			}
			a, errA := ParseAggregation(tc.in)
			if tc.agg != "" && (errA != nil || a != tc.agg) {
				t.Errorf("ParseAggregation(%q) = %q, %v", tc.in, a, errA)
			}
			if tc.agg == "" && errA == nil {
				t.Errorf("ParseAggregation(%q) = %q, want an error", tc.in, a)
			}
			ms, err := ParseMethodList(tc.in)
			switch {
			case tc.wantErr != "" && (err == nil || err.Error() != tc.wantErr):
				t.Errorf("ParseMethodList(%q) error = %v, want %q", tc.in, err, tc.wantErr)
			case tc.methods != nil && (err != nil || !slices.Equal(ms, tc.methods)):
				t.Errorf("ParseMethodList(%q) = %v, %v, want %v", tc.in, ms, err, tc.methods)
			}
		})
	}
}

// FuzzParse checks the option parsers: no panic, and what parses prints
// back to its input.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"autoclip", "uniform", "mean-embedding", "all", "logsumexp", "max", "uniform,autoclip", "a,,b", " mean , max"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if m, err := ParseMethod(s); err == nil && string(m) != s {
			t.Fatalf("ParseMethod(%q) = %q", s, m)
		}
		if a, err := ParseAggregation(s); err == nil && string(a) != s {
			t.Fatalf("ParseAggregation(%q) = %q", s, a)
		}
		ms, err := ParseMethodList(s)
		if err != nil {
			return
		}
		if len(ms) == 0 {
			t.Fatalf("ParseMethodList(%q) gave no methods and no error", s)
		}
		if s != "all" {
			parts := strings.Split(s, ",")
			for i, m := range ms {
				if strings.TrimSpace(parts[i]) != string(m) {
					t.Fatalf("ParseMethodList(%q)[%d] = %q", s, i, m)
				}
			}
		}
	})
}
