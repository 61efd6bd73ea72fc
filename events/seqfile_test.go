package events

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestStateFileRoundTrip(t *testing.T) {
	path := StateFile(t.TempDir(), "front-door")
	if filepath.Base(path) != "events-front-door.json" {
		t.Errorf("StateFile: %s", path)
	}
	for _, seq := range []uint64{0, 1, 42, maxSeq} {
		if err := saveSeq(path, "front-door", seq); err != nil {
			t.Fatal(err)
		}
		got, note := loadSeq(path, time.Now())
		if note != nil || got != seq {
			t.Errorf("seq %d read back as %d (%v)", seq, got, note)
		}
	}
}

func FuzzParseState(f *testing.F) {
	for _, s := range []string{
		`{"version":1,"camera":"demo","seq":42}`,
		`{"version":1,"camera":"demo","seq":42}` + "\n",
		`{"version":1,"seq":0}`,
		`{"version":2,"camera":"demo","seq":42}`,
		`{"version":1,"camera":"demo","seq":1e3}`,
		`{"version":1,"camera":"demo","seq":9007199254740993}`,
		`{"version":1,"camera":"demo","seq":42}x`,
		`null`, `[]`, ``, "\x00",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		seq, err := parseState(data)
		if err != nil {
			if seq != 0 {
				t.Fatalf("seq %d with error %v", seq, err)
			}
			return
		}
		if seq > maxSeq {
			t.Fatalf("seq %d beyond 2^53 accepted", seq)
		}
		// What parses is a version 1 object whose seq survives a write.
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil || m["version"] != float64(1) {
			t.Fatalf("%q accepted: %v %v", data, m, err)
		}
		path := filepath.Join(t.TempDir(), "s.json")
		if err := saveSeq(path, "demo", seq); err != nil {
			t.Fatal(err)
		}
		back, err := parseState(must(os.ReadFile(path)))
		if err != nil || back != seq {
			t.Fatalf("seq %d written and read back as %d, %v", seq, back, err)
		}
	})
}
