package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/autoclipd/autoclipd/capture"
	"github.com/autoclipd/autoclipd/config"
	"github.com/autoclipd/autoclipd/daemon"
	"github.com/autoclipd/autoclipd/inference"
	"github.com/autoclipd/autoclipd/inference/preprocess"
	"github.com/autoclipd/autoclipd/publish"
)

// classifyResult is one line of `classify --json`.
type classifyResult struct {
	Image  string               `json:"image"`
	Frame  *uint64              `json:"frame,omitempty"`
	Labels []publish.LabelScore `json:"labels"`
}

// cmdClassify classifies images and sampled video frames once, with the
// config's model, label set and AutoCLIP settings.
func cmdClassify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("classify", stderr)
	path := fs.String("config", "", "config `FILE` (YAML): model, labels and autoclip settings")
	setName := fs.String("labels", "", "label `SET` to use (default: the first camera's)")
	top := fs.Int("top", 5, "labels to print per image or frame")
	asJSON := fs.Bool("json", false, "print one JSON object per image or frame")
	every := fs.Duration("every", time.Second, "sample one video frame per this much video time")
	verbose := fs.Bool("v", false, "log progress to standard error")
	var inputs []string
	rest := args
	for {
		if err := fs.Parse(rest); err != nil {
			return flagErr(err)
		}
		if fs.NArg() == 0 {
			break
		}
		inputs, rest = append(inputs, fs.Arg(0)), fs.Args()[1:]
	}
	if len(inputs) == 0 {
		return usageError{errors.New("give at least one IMAGE or VIDEO")}
	}
	if *top < 1 {
		return usageError{fmt.Errorf("--top must be >= 1, got %d", *top)}
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	name := *setName
	if name == "" {
		name = cfg.Cameras[0].Labels
	}
	logCfg := cfg.Log
	if !*verbose {
		logCfg.Level = "warn"
	}
	log := newLogger(stderr, logCfg)

	lib, err := inference.FindLibrary(cfg.Model.ONNXRuntime)
	if err != nil {
		return err
	}
	rt, err := inference.Open(lib)
	if err != nil {
		return err
	}
	defer rt.Close()
	model, err := inference.LoadModel(rt, cfg.Model.Dir, daemon.ModelOptions(cfg, 1, log), log)
	if err != nil {
		return err
	}
	defer model.Close()
	set, err := config.LoadLabelSet(cfg.Labels.Dir, name, cfg.Labels.Templates)
	if err != nil {
		return err
	}
	tc := daemon.OpenTextCache(cfg, model, log)
	if tc != nil {
		defer tc.Close()
	}
	ls, err := daemon.EncodeLabelSet(set, model.Text, tc, cfg.AutoCLIP.Options())
	if err != nil {
		return err
	}
	pre, err := preprocess.New(model.Preprocess)
	if err != nil {
		return err
	}
	enc := daemon.NewEncoder(model.Image)
	ws := ls.Classifier.NewWorkspace(1)
	emb := make([]float32, enc.Dim())
	var idx []int

	out := bufio.NewWriter(stdout)
	defer out.Flush()
	score := func(input string, video bool, f *capture.Frame) error {
		defer f.Release()
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := enc.Embed(pre, f, emb); err != nil {
			return fmt.Errorf("%s: %w", input, err)
		}
		res, err := ls.Classifier.Classify(ws, emb, 1)
		if err != nil {
			return fmt.Errorf("%s: %w", input, err)
		}
		r := classifyResult{Image: input}
		r.Labels, idx = ls.Labels(res[0], *top, idx)
		if video {
			seq := f.Seq
			r.Frame = &seq
		}
		if *asJSON {
			line, err := json.Marshal(r)
			if err != nil {
				return err
			}
			out.Write(append(line, '\n'))
			return nil
		}
		if video {
			fmt.Fprintf(out, "%s frame %d\n", input, f.Seq)
		} else {
			fmt.Fprintf(out, "%s\n", input)
		}
		for i, l := range r.Labels {
			fmt.Fprintf(out, "  %d. %-24s score %.4f  probability %.4f\n", i+1, l.Label, l.Score, l.Probability)
		}
		return nil
	}
	for _, input := range inputs {
		if capture.IsImageFile(input) {
			f, err := capture.ReadImage(input)
			if err != nil {
				return err
			}
			if err := score(input, false, f); err != nil {
				return err
			}
			continue
		}
		err := capture.ReadVideoFrames(input, *every, func(f *capture.Frame) error { return score(input, true, f) })
		if err != nil {
			return err
		}
	}
	log.Debug("classified", "inputs", len(inputs), "labels", set.Name, "method", ls.Classifier.Options().Method)
	return nil
}
