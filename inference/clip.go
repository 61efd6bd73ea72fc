package inference

import (
	"fmt"
	"log/slog"

	"github.com/autoclipd/autoclipd/inference/preprocess"
	"github.com/autoclipd/autoclipd/inference/tokenizer"
)

// Model is a CLIP model loaded from a folder: both encoders, the tokenizer and
// the preprocessing settings, checked against each other.
type Model struct {
	Files      ModelFiles
	Image      *ImageEncoder
	Text       *TextEncoder
	Tokenizer  *tokenizer.Tokenizer
	Preprocess preprocess.Config
}

// LoadModel loads the model in dir, in any layout FindModelVariant knows,
// with the Hugging Face variant o.Variant.
func LoadModel(rt *Runtime, dir string, o Options, log *slog.Logger) (*Model, error) {
	files, err := FindModelVariant(dir, o.Variant)
	if err != nil {
		return nil, err
	}
	pre, err := files.PreprocessConfig()
	if err != nil {
		return nil, err
	}
	tok, err := tokenizer.Load(files.Tokenizer)
	if err != nil {
		return nil, err
	}
	img, err := NewImageEncoder(rt, files.Vision, o)
	if err != nil {
		return nil, err
	}
	pp, err := preprocess.New(pre)
	if err != nil {
		img.Close()
		return nil, fmt.Errorf("%s: %w", files.Preprocessor, err)
	}
	ph, pw := pp.OutputSize()
	if h, w := img.Size(); h != ph || w != pw {
		img.Close()
		return nil, fmt.Errorf("%s: preprocessing gives %dx%d images but %s wants %dx%d", files.Preprocessor, pw, ph, files.Vision, w, h)
	}
	txt, err := NewTextEncoder(rt, files.Text, tok, o, log)
	if err != nil {
		img.Close()
		return nil, err
	}
	if txt.Dim() != img.Dim() {
		img.Close()
		txt.Close()
		return nil, fmt.Errorf("model.dir %s: image embeddings have %d dimensions but text embeddings %d", dir, img.Dim(), txt.Dim())
	}
	return &Model{Files: files, Image: img, Text: txt, Tokenizer: tok, Preprocess: pre}, nil
}

// Close releases both encoders.
func (m *Model) Close() error {
	err1 := m.Image.Close()
	err2 := m.Text.Close()
	if err1 != nil {
		return err1
	}
	return err2
}
