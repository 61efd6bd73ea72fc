package textcache

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
)

// hashIndexName is the file, in the cache folder, that remembers model hashes
// by path, size and modification time.
const hashIndexName = "model-hashes.json"

type hashEntry struct {
	Size    int64  `json:"size"`
	ModTime int64  `json:"mtime_ns"`
	SHA256  string `json:"sha256"`
}

// modelHash returns the SHA-256 of the file at path, from the index in dir
// when the file's size and modification time are unchanged.
func modelHash(dir, path string, log *slog.Logger) ([32]byte, error) {
	var sum [32]byte
	abs, err := filepath.Abs(path)
	if err != nil {
		return sum, fmt.Errorf("textcache: text model %s: %w", path, err)
	}
	st, err := os.Stat(abs)
	if err != nil {
		return sum, fmt.Errorf("textcache: text model: %w", err)
	}
	if !st.Mode().IsRegular() {
		return sum, fmt.Errorf("textcache: text model %s: not a regular file", path)
	}
	indexPath := filepath.Join(dir, hashIndexName)
	index := map[string]hashEntry{}
	if b, err := os.ReadFile(indexPath); err == nil {
		if err := json.Unmarshal(b, &index); err != nil {
			log.Warn("text embedding cache: ignoring damaged model hash index", "path", indexPath, "reason", err)
			index = map[string]hashEntry{}
		}
	}
	if e, ok := index[abs]; ok && e.Size == st.Size() && e.ModTime == st.ModTime().UnixNano() {
		if b, err := hex.DecodeString(e.SHA256); err == nil && len(b) == len(sum) {
			copy(sum[:], b)
			return sum, nil
		}
	}
	f, err := os.Open(abs)
	if err != nil {
		return sum, fmt.Errorf("textcache: text model: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return sum, fmt.Errorf("textcache: hashing text model %s: %w", path, err)
	}
	h.Sum(sum[:0])
	index[abs] = hashEntry{Size: st.Size(), ModTime: st.ModTime().UnixNano(), SHA256: hex.EncodeToString(sum[:])}
	if err := writeIndex(indexPath, index); err != nil {
		// Only costs a re-hash next time.
		log.Warn("text embedding cache: model hash index not saved", "path", indexPath, "err", err)
	}
	return sum, nil
}

func writeIndex(path string, index map[string]hashEntry) error {
	b, err := json.MarshalIndent(index, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}
