package main

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/autoclipd/autoclipd/autoclip"
)

// cmdEval evaluates the scoring methods offline on embeddings exported as
// .npy files.
func cmdEval(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("eval", stderr)
	images := fs.String("images", "", "image embeddings `IMG.npy`, [N,D] float32 or float64")
	text := fs.String("text", "", "text embeddings `TXT.npy`, [K,C,D] (template, class, dim)")
	labels := fs.String("labels", "", "true class ids `Y.npy`, [N] integers (optional)")
	method := fs.String("method", "autoclip", "autoclip, uniform, mean-embedding, or all")
	def := autoclip.DefaultOptions()
	beta := fs.Float64("beta", def.Beta, "target entropy rate of the template weights, (0, 1]")
	agg := fs.String("aggregation", string(def.Aggregation), "objective aggregation over classes: logsumexp, mean, max, entropy")
	scale := fs.Float64("scale", def.Scale, "logsumexp scale inside the objective")
	logitScale := fs.Float64("logit-scale", def.LogitScale, "logit scale for probabilities")
	outScores := fs.String("out-scores", "", "write the [N,C] class scores (float64) to `S.npy`; with --method all, one file per method (S.METHOD.npy)")
	outWeights := fs.String("out-weights", "", "write the [N,K] template weights (float64) to `W.npy`; with --method all, one file per method")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *images == "" || *text == "" {
		return usageError{errors.New("--images and --text are required")}
	}
	methods, err := autoclip.ParseMethodList(*method)
	if err != nil {
		return usageError{fmt.Errorf("--method: %w", err)}
	}
	a, err := autoclip.ParseAggregation(*agg)
	if err != nil {
		return usageError{fmt.Errorf("--aggregation: %w", err)}
	}
	opts := autoclip.Options{Method: methods[0], Aggregation: a, Beta: *beta, Scale: *scale, LogitScale: *logitScale}
	if err := opts.Validate(); err != nil {
		return usageError{err}
	}
	data, err := autoclip.LoadEvalData(*images, *text, *labels)
	if err != nil {
		return err
	}
	report, err := autoclip.Eval(data, methods, opts)
	if err != nil {
		return err
	}
	for _, m := range report.Methods {
		if *outScores != "" {
			p := perMethod(*outScores, m.Method, len(methods))
			if err := autoclip.WriteNPY(p, m.Scores, report.N, report.C); err != nil {
				return err
			}
		}
		if *outWeights != "" {
			p := perMethod(*outWeights, m.Method, len(methods))
			if err := autoclip.WriteNPY(p, m.Weights, report.N, report.K); err != nil {
				return err
			}
		}
	}
	if report.Labelled {
		return report.WriteTable(stdout)
	}
	_, err = fmt.Fprintf(stdout, "%d images, %d classes, %d templates, %d dims (no --labels: no accuracy)\n", report.N, report.C, report.K, report.D)
	return err
}

// perMethod names the output file of method m: the path itself when one
// method runs, else PATH with ".METHOD" before its extension.
func perMethod(path string, m autoclip.Method, n int) string {
	if n == 1 {
		return path
	}
	ext := filepath.Ext(path)
	return strings.TrimSuffix(path, ext) + "." + string(m) + ext
}
