package autoclip

import (
	"fmt"
	"math"
	"strings"
)

// Method selects how class scores are built from the K x C similarities.
type Method string

// The scoring methods.
const (
	// MethodAutoCLIP weights the templates per frame (Metzen et al.).
	MethodAutoCLIP Method = "autoclip"
	// MethodUniform averages the similarities over templates (w_i = 1/K).
	MethodUniform Method = "uniform"
	// MethodMeanEmbedding takes the cosine with the re-normalised mean text
	// embedding of each class (the classic CLIP prompt ensemble).
	MethodMeanEmbedding Method = "mean-embedding"
)

// Methods lists every method, in the order `--method all` runs them.
func Methods() []Method {
	return []Method{MethodUniform, MethodMeanEmbedding, MethodAutoCLIP}
}

// Aggregation selects how AutoCLIP's objective aggregates the weighted class
// scores c_j = sum_i w_i s_ij over classes.
type Aggregation string

// The objective aggregations. All of them are maximised by the gradient step.
const (
	// AggLogSumExp is L = (1/scale) * log sum_j exp(scale * c_j); with
	// scale 1 it is the plain log-sum-exp of AUTOCLIP.md (the default).
	AggLogSumExp Aggregation = "logsumexp"
	// AggMean is L = (1/C) sum_j c_j.
	AggMean Aggregation = "mean"
	// AggMax is L = max_j c_j (ties go to the lowest class index).
	AggMax Aggregation = "max"
	// AggEntropy is L = -H(p) = sum_j p_j log p_j with p = softmax_j(c_j),
	// the negative entropy of the class posterior (Scale is not used).
	AggEntropy Aggregation = "entropy"
)

// Aggregations lists every aggregation.
func Aggregations() []Aggregation {
	return []Aggregation{AggLogSumExp, AggMean, AggMax, AggEntropy}
}

// Options configures a Classifier. Field names in errors follow the config
// file keys (autoclip.method, autoclip.beta, ...).
type Options struct {
	// Method is the scoring method; DefaultOptions sets MethodAutoCLIP.
	Method Method
	// Aggregation is AutoCLIP's objective; DefaultOptions sets AggLogSumExp.
	Aggregation Aggregation
	// Beta is the target entropy rate: the template weights get an entropy of
	// Beta*log2(K) bits. 0 < Beta <= 1; 1 gives uniform weights. Default 0.85.
	Beta float64
	// Scale is the temperature inside the logsumexp objective,
	// L = (1/Scale) log sum_j exp(Scale c_j). Default 1 (plain logsumexp). It
	// changes the weights only through softmax(Scale c): the 1/Scale factor
	// rescales the gradient, which the entropy-targeted step size absorbs.
	Scale float64
	// LogitScale multiplies the class scores before the softmax that gives
	// Result.Probs, as CLIP's logit_scale. Default 100.
	LogitScale float64
}

// DefaultOptions returns the options of AUTOCLIP.md: AutoCLIP with the
// logsumexp objective, beta 0.85, scale 1 and logit scale 100.
func DefaultOptions() Options {
	return Options{
		Method:      MethodAutoCLIP,
		Aggregation: AggLogSumExp,
		Beta:        0.85,
		Scale:       1,
		LogitScale:  100,
	}
}

// Validate reports the first invalid field as a one-line error naming it,
// for example `autoclip.beta: must be in (0, 1], got 1.5`.
func (o Options) Validate() error {
	if _, err := ParseMethod(string(o.Method)); err != nil {
		return fmt.Errorf("autoclip.method: %w", err)
	}
	if _, err := ParseAggregation(string(o.Aggregation)); err != nil {
		return fmt.Errorf("autoclip.aggregation: %w", err)
	}
	if !(o.Beta > 0 && o.Beta <= 1) {
		return fmt.Errorf("autoclip.beta: must be in (0, 1], got %v", o.Beta)
	}
	if !(o.Scale > 0) || math.IsInf(o.Scale, 1) {
		return fmt.Errorf("autoclip.scale: must be a finite number > 0, got %v", o.Scale)
	}
	if !(o.LogitScale > 0) || math.IsInf(o.LogitScale, 1) {
		return fmt.Errorf("autoclip.logit_scale: must be a finite number > 0, got %v", o.LogitScale)
	}
	return nil
}

// ParseMethod returns the Method named s (exact, lower case).
func ParseMethod(s string) (Method, error) {
	for _, m := range Methods() {
		if string(m) == s {
			return m, nil
		}
	}
	return "", fmt.Errorf("unknown method %q (want autoclip, uniform or mean-embedding)", s)
}

// ParseMethodList parses a comma-separated list of methods, or "all" for
// every method (in the order of Methods). Duplicates are errors.
func ParseMethodList(s string) ([]Method, error) {
	if s == "all" {
		return Methods(), nil
	}
	var out []Method
	for i, part := range strings.Split(s, ",") {
		m, err := ParseMethod(strings.TrimSpace(part))
		if err != nil {
			return nil, fmt.Errorf("method list item %d: %w", i, err)
		}
		for _, prev := range out {
			if prev == m {
				return nil, fmt.Errorf("method list item %d: %q given twice", i, m)
			}
		}
		out = append(out, m)
	}
	return out, nil
}

// ParseAggregation returns the Aggregation named s (exact, lower case).
func ParseAggregation(s string) (Aggregation, error) {
	for _, a := range Aggregations() {
		if string(a) == s {
			return a, nil
		}
	}
	return "", fmt.Errorf("unknown aggregation %q (want logsumexp, mean, max or entropy)", s)
}
