package modelgen

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/autoclipd/autoclipd/modelgen/onnx"
)

// manifestName is the file, written last, that lists a generated model
// folder's files and sizes; a folder whose files do not match it is
// regenerated.
const manifestName = "autoclipd-model.json"

// manifest is the content of manifestName.
type manifest struct {
	Generator string           `json:"generator"`
	Version   string           `json:"version"`
	Files     map[string]int64 `json:"files"`
}

// DefaultCacheDir is where generated models go when the caller has no
// cache folder of its own: $XDG_CACHE_HOME/autoclipd/models, or
// ~/.cache/autoclipd/models.
func DefaultCacheDir() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("model cache: %w", err)
	}
	return filepath.Join(dir, "autoclipd", "models"), nil
}

// ViTB32DirName is the name of the full-size random model's folder inside
// a cache folder.
func ViTB32DirName() string { return "vit-b-32-random-" + ViTB32Version }

// EnsureViTB32 returns the folder cacheDir/vit-b-32-random-<version>,
// holding the full-size random CLIP ViT-B/32 model in the Hugging Face
// layout (onnx/vision_model.onnx, onnx/text_model.onnx, tokenizer.json,
// preprocessor_config.json; about 600 MB). A folder already there and
// complete (every file the size its manifest says) is reused; otherwise the
// model is generated into a temporary folder beside it and renamed into
// place, so that a reader never sees half a model, and two processes racing
// both end with the same complete folder. Generating takes a few seconds
// and about 1 GB of memory.
func EnsureViTB32(cacheDir string) (string, error) {
	return ensureModelDir(cacheDir, ViTB32DirName(), "vit-b-32-random", ViTB32Version, writeViTB32)
}

// writeViTB32 writes the full-size model files into dir.
func writeViTB32(dir string) error {
	tok, err := ViTB32TokenizerJSON()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, "onnx"), 0o755); err != nil {
		return err
	}
	// One model at a time: each holds its weights in memory while written.
	for _, f := range []struct {
		name  string
		model func() *onnx.Model
	}{
		{"onnx/vision_model.onnx", ViTB32VisionModel},
		{"onnx/text_model.onnx", ViTB32TextModel},
	} {
		if err := f.model().WriteFile(filepath.Join(dir, f.name)); err != nil {
			return err
		}
	}
	if err := writeFileAtomic(filepath.Join(dir, "tokenizer.json"), tok); err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, "preprocessor_config.json"), PreprocessorConfig())
}

// ensureModelDir returns cacheDir/name when it holds a complete model made
// by generator at version, else writes one with write (into a temporary
// folder, then renamed into place).
func ensureModelDir(cacheDir, name, generator, version string, write func(dir string) error) (string, error) {
	if cacheDir == "" {
		return "", errors.New("model cache: no cache folder given")
	}
	dst := filepath.Join(cacheDir, name)
	if err := checkManifest(dst, generator, version); err == nil {
		return dst, nil
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", fmt.Errorf("model cache: %w", err)
	}
	tmp, err := os.MkdirTemp(cacheDir, "."+name+".tmp*")
	if err != nil {
		return "", fmt.Errorf("model cache: %w", err)
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	if err := write(tmp); err != nil {
		return "", fmt.Errorf("model cache: writing %s: %w", name, err)
	}
	if err := writeManifest(tmp, generator, version); err != nil {
		return "", fmt.Errorf("model cache: %w", err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", fmt.Errorf("model cache: %w", err)
	}
	if err := os.Rename(tmp, dst); err == nil {
		return dst, nil
	}
	// dst exists: complete (another process won the race) or damaged.
	if checkManifest(dst, generator, version) == nil {
		return dst, nil
	}
	old := tmp + ".old"
	if err := os.Rename(dst, old); err != nil && !os.IsNotExist(err) {
		return "", fmt.Errorf("model cache: replacing %s: %w", dst, err)
	}
	defer os.RemoveAll(old)
	if err := os.Rename(tmp, dst); err != nil {
		if checkManifest(dst, generator, version) == nil {
			return dst, nil
		}
		return "", fmt.Errorf("model cache: %w", err)
	}
	return dst, nil
}

// writeManifest lists the regular files under dir with their sizes.
func writeManifest(dir, generator, version string) error {
	m := manifest{Generator: generator, Version: version, Files: map[string]int64{}}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		m.Files[filepath.ToSlash(rel)] = info.Size()
		return nil
	})
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, manifestName), append(b, '\n'))
}

// checkManifest reports why dir is not a complete model by generator at
// version, or nil when it is.
func checkManifest(dir, generator, version string) error {
	b, err := os.ReadFile(filepath.Join(dir, manifestName))
	if err != nil {
		return err
	}
	var m manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("%s: %w", manifestName, err)
	}
	if m.Generator != generator || m.Version != version {
		return fmt.Errorf("%s: %s %s, want %s %s", manifestName, m.Generator, m.Version, generator, version)
	}
	if len(m.Files) == 0 {
		return fmt.Errorf("%s: no files", manifestName)
	}
	names := make([]string, 0, len(m.Files))
	for name := range m.Files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		st, err := os.Stat(filepath.Join(dir, filepath.FromSlash(name)))
		if err != nil {
			return err
		}
		if !st.Mode().IsRegular() || st.Size() != m.Files[name] {
			return fmt.Errorf("%s: %d bytes, want %d", name, st.Size(), m.Files[name])
		}
	}
	return nil
}
