package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// stateVersion is the version of the state file format.
const stateVersion = 1

// stateFile is the JSON form of a tracker's persistent state:
//
//	{"version":1,"camera":"demo","seq":42}
type stateFile struct {
	Version int    `json:"version"`
	Camera  string `json:"camera"`
	Seq     uint64 `json:"seq"`
}

// StateFile returns the conventional state file of a camera under the
// daemon's state directory: <dir>/events-<camera>.json.
func StateFile(dir, camera string) string {
	return filepath.Join(dir, "events-"+camera+".json")
}

// parseState decodes a state file strictly (unknown fields, a wrong
// version, trailing data and a seq beyond 2^53 are errors) and returns the
// last seq it records.
func parseState(data []byte) (uint64, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var s stateFile
	if err := dec.Decode(&s); err != nil {
		return 0, fmt.Errorf("not a state file: %w", err)
	}
	if dec.More() {
		return 0, errors.New("not a state file: data after the JSON object")
	}
	if s.Version != stateVersion {
		return 0, fmt.Errorf("version %d: want %d", s.Version, stateVersion)
	}
	if s.Seq > maxSeq {
		return 0, fmt.Errorf("seq %d: beyond 2^53, the largest integer JSON consumers read exactly", s.Seq)
	}
	return s.Seq, nil
}

// maxSeq keeps seq exact in JavaScript and other float64 JSON readers.
const maxSeq = 1 << 53

// loadSeq reads the last seq from path. A missing file is a first start:
// 0, no note. An unreadable or corrupt file returns a safe restart value,
// the current Unix time in milliseconds (greater than any seq this camera
// can have reached unless it averaged more than 1000 events a second
// since the previous safe restart), and a note saying why, for the log.
func loadSeq(path string, now time.Time) (seq uint64, note error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	safe := uint64(max(now.UnixMilli(), 0))
	if err != nil {
		return safe, fmt.Errorf("state file %s: %w", path, err)
	}
	seq, err = parseState(data)
	if err != nil {
		return safe, fmt.Errorf("state file %s: %w", path, err)
	}
	return seq, nil
}

// saveSeq writes the state file atomically: a temporary file in the same
// directory, synced, renamed over path, then the directory synced.
func saveSeq(path, camera string, seq uint64) error {
	data, err := json.Marshal(stateFile{Version: stateVersion, Camera: camera, Seq: seq})
	if err != nil {
		return err
	}
	data = append(data, '\n')
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".events-*.tmp")
	if err != nil {
		return fmt.Errorf("state file %s: %w", path, err)
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("state file %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("state file %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("state file %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync() // best effort: some file systems refuse to sync a directory
		d.Close()
	}
	return nil
}
