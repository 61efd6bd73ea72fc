package publish

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func nan() float64 { return math.NaN() }

func TestClassificationGolden(t *testing.T) {
	noWeights := sampleClassification()
	noWeights.Device = "edge-1"
	noWeights.Weights = nil
	emptyWeights := noWeights
	emptyWeights.Weights = &Weights{}
	withWeights := sampleClassification()
	withWeights.Device = "edge-1"
	escaped := noWeights
	escaped.LabelSet = `pets & "friends" <home>`
	escaped.Labels = []LabelScore{{Label: "cats & dogs", Score: 1e-7, Probability: 1}, {Label: "ünïcode\t", Score: -0.5, Probability: 0}}
	for _, tc := range []struct {
		name string
		m    Classification
	}{
		{"classification", withWeights},
		{"classification-no-weights", noWeights},
		{"classification-empty-weights", emptyWeights}, // same as no weights
		{"classification-escaping", escaped},
		{"classification-no-labels", Classification{Device: "d", Camera: "c", Time: time.Unix(0, 0)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.m.MarshalJSON() // what PublishClassification sends
			if err != nil {
				t.Fatal(err)
			}
			if !json.Valid(got) {
				t.Fatalf("invalid JSON: %s", got)
			}
			// Through the json package (which escapes HTML characters)
			// the value is the same.
			viaPkg, err := json.Marshal(tc.m)
			if err != nil {
				t.Fatal(err)
			}
			var a, b any
			if err := json.Unmarshal(got, &a); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(viaPkg, &b); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(a, b) {
				t.Errorf("json.Marshal gives another value:\n%s\n%s", viaPkg, got)
			}
			path := filepath.Join("testdata", tc.name+".golden.json")
			if *update {
				if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, bytes.TrimSuffix(want, []byte("\n"))) {
				t.Errorf("%s differs:\ngot  %s\nwant %s", path, got, want)
			}
		})
	}
}

func TestClassificationMarshalDoesNotModify(t *testing.T) {
	m := sampleClassification()
	before := []LabelScore{m.Labels[0], m.Labels[1], m.Labels[2]}
	top0 := m.Weights.Top[0]
	if _, err := m.MarshalJSON(); err != nil {
		t.Fatal(err)
	}
	for i := range before {
		if m.Labels[i] != before[i] {
			t.Errorf("labels[%d] changed to %+v", i, m.Labels[i])
		}
	}
	if m.Weights.Top[0] != top0 {
		t.Errorf("weights.top[0] changed to %+v", m.Weights.Top[0])
	}
}

func TestClassificationMarshalErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Classification)
		want string
	}{
		{"NaN probability", func(m *Classification) { m.Labels[2].Probability = nan() }, `labels[2] "blue": score 0.28, probability NaN: not finite`},
		{"infinite score", func(m *Classification) { m.Labels[0].Score = math.Inf(1) }, `labels[0] "green": score +Inf`},
		{"NaN entropy", func(m *Classification) { m.Weights.EntropyBits = nan() }, "weights.entropy_bits NaN: not finite"},
		{"infinite weight", func(m *Classification) { m.Weights.Top[1].Weight = math.Inf(-1) }, `weights.top[1] "a {} thing.": weight -Inf`},
		{"year 10000", func(m *Classification) { m.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, "year outside 0000-9999"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := sampleClassification()
			tc.mod(&m)
			_, err := m.MarshalJSON()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), "classification /demo frame 17") {
				t.Errorf("error %q does not say which frame", err)
			}
		})
	}
}

func TestTimeFormat(t *testing.T) {
	for _, tc := range []struct {
		name string
		t    time.Time
		want string
	}{
		{"utc truncates to ms", time.Date(2026, 11, 29, 8, 30, 0, 123999999, time.UTC), "2026-11-29T08:30:00.123Z"},
		{"whole second keeps .000", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), "2026-01-02T03:04:05.000Z"},
		{"zone converted", time.Date(2026, 6, 1, 0, 0, 0, 5e6, time.FixedZone("", -7*3600)), "2026-06-01T07:00:00.005Z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Classification{Time: tc.t}.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), `"time":"`+tc.want+`"`) {
				t.Errorf("%s, want time %s", b, tc.want)
			}
		})
	}
}

// FuzzClassificationJSON checks that any classification either fails to
// marshal with a non-finite number or round-trips through a strict decoder
// with labels sorted best first.
func FuzzClassificationJSON(f *testing.F) {
	f.Add("red", 0.31, 0.93, "blue", 0.28, 0.07, "demo", uint64(17), int64(1795941000123))
	f.Add("cats & dogs", 0.5, 0.5, "", 0.5, 0.5, "\u00e9", uint64(0), int64(0))
	f.Add("\x00\xff", math.Inf(1), 0.0, "x", -1e308, 1.0, "c", uint64(math.MaxUint64), int64(-1))
	f.Fuzz(func(t *testing.T, l1 string, s1, p1 float64, l2 string, s2, p2 float64, camera string, frame uint64, ms int64) {
		m := Classification{
			Device: "edge-1", Camera: camera, Frame: frame, Time: time.UnixMilli(ms % 253402300800000),
			LabelSet: l1 + l2, Method: "autoclip",
			Labels: []LabelScore{{l1, s1, p1}, {l2, s2, p2}},
		}
		b, err := m.MarshalJSON()
		if err != nil {
			if finite(s1) && finite(s2) && finite(p1) && finite(p2) && m.Time.UTC().Year() >= 0 {
				t.Fatalf("marshal: %v", err)
			}
			return
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		var w wireClassification
		if err := dec.Decode(&w); err != nil {
			t.Fatalf("decode %s: %v", b, err)
		}
		if w.Frame != frame || len(w.Labels) != 2 || w.Labels[0].Score < w.Labels[1].Score {
			t.Fatalf("round trip %s", b)
		}
		got, err := time.Parse(time.RFC3339Nano, w.Time)
		if err != nil || !got.Equal(m.Time.Truncate(time.Millisecond)) || !strings.HasSuffix(w.Time, "Z") {
			t.Fatalf("time %q from %v: %v", w.Time, m.Time, err)
		}
	})
}

func BenchmarkClassificationMarshal(b *testing.B) {
	for _, n := range []int{3, 100} {
		m := sampleClassification()
		m.Device = "edge-1"
		m.Labels = make([]LabelScore, n)
		for i := range m.Labels {
			m.Labels[i] = LabelScore{Label: "label-" + strings.Repeat("x", i%7), Score: float64(i%13) / 13, Probability: float64(i) / float64(n)}
		}
		b.Run(fmt.Sprintf("labels=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.MarshalJSON(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
