package main

import (
	"errors"
	"io"

	"github.com/autoclipd/autoclipd/capture"
	"github.com/autoclipd/autoclipd/inference"
	"github.com/autoclipd/autoclipd/inference/preprocess"
)

// cmdPreprocess writes the [3,H,W] float32 tensor the image encoder would see
// for an image, as .npy.
func cmdPreprocess(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("preprocess", stderr)
	model := fs.String("model", "", "model `DIR` whose preprocessing settings to use")
	out := fs.String("out", "", "output `T.npy`")
	// The image is a positional argument; flags may come before or after it.
	var image string
	rest := args
	for len(rest) > 0 {
		if err := fs.Parse(rest); err != nil {
			return flagErr(err)
		}
		if fs.NArg() == 0 {
			break
		}
		if image != "" {
			return usageError{errors.New("give exactly one IMAGE")}
		}
		image, rest = fs.Arg(0), fs.Args()[1:]
	}
	if *model == "" || *out == "" || image == "" {
		return usageError{errors.New("usage: autoclipd preprocess --model DIR IMAGE --out T.npy")}
	}
	files, err := inference.FindModelFiles(*model)
	if err != nil {
		return err
	}
	cfg, err := files.PreprocessConfig()
	if err != nil {
		return err
	}
	pre, err := preprocess.New(cfg)
	if err != nil {
		return err
	}
	f, err := capture.ReadImage(image)
	if err != nil {
		return err
	}
	h, w := pre.OutputSize()
	t := make([]float32, 3*h*w)
	if err := pre.Run(t, f.Data, f.Width, f.Height, 3*f.Width, preprocess.BGR); err != nil {
		return err
	}
	return writeNPYFloat32(*out, t, 3, h, w)
}
