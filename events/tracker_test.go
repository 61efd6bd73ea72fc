package events

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/autoclipd/autoclipd/internal/logtest"
	"github.com/autoclipd/autoclipd/publish"
)

var letter = map[byte]string{'r': "red", 'g': "green", 'b': "blue"}

func TestStateHysteresis(t *testing.T) {
	for _, tc := range []struct {
		name      string
		tops      string // one letter per frame: r, g, b, or '-' for a frame without labels
		minFrames int
		want      []string // "frame:label" of each state message
	}{
		{name: "steady", tops: "rrrrrr", want: []string{"2:red"}},
		{name: "too short", tops: "rr", want: nil},
		{name: "flicker resets the count", tops: "rrgrrr", want: []string{"5:red"}},
		{name: "alternating never settles", tops: "rgrgrgrgrg", want: nil},
		{name: "change after stable", tops: "rrrrggg", want: []string{"2:red", "6:green"}},
		{name: "flicker inside a state keeps it", tops: "rrrgrrgbr", want: []string{"2:red"}},
		{name: "back and forth", tops: "rrrgggrrr", want: []string{"2:red", "5:green", "8:red"}},
		{name: "brief change does not publish", tops: "rrrggrrr", want: []string{"2:red"}},
		{name: "empty frame breaks a streak", tops: "rr-rrr", want: []string{"5:red"}},
		{name: "min_frames 1 follows every change", tops: "rgbb", minFrames: 1, want: []string{"0:red", "1:green", "2:blue"}},
		{name: "min_frames 5", tops: "rrrrgrrrrr", minFrames: 5, want: []string{"9:red"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTracker(t, Options{MinFrames: tc.minFrames})
			var got []string
			for i := range len(tc.tops) {
				var c publish.Classification
				if tc.tops[i] == '-' {
					c = frame(i, "colours", nil)
				} else {
					c = topFrame(i, letter[tc.tops[i]])
				}
				ms := tr.Update(c, nil)
				checkTopics(t, ms)
				for _, m := range only(ms, ClassState) {
					if m.Topic != "demo/state" {
						continue // active flags
					}
					if !m.Retained {
						t.Errorf("frame %d: state not retained", i)
					}
					s := decode[StatePayload](t, m)
					got = append(got, fmt.Sprintf("%d:%s", i, s.Label))
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("state messages %v, want %v", got, tc.want)
			}
		})
	}
}

func TestStatePayload(t *testing.T) {
	tr := newTracker(t, Options{})
	tr.Update(topFrame(0, "green"), nil)
	tr.Update(topFrame(1, "red"), nil)
	tr.Update(topFrame(2, "red"), nil)
	ms := tr.Update(frame(3, "colours", map[string]float64{"red": 0.7, "green": 0.2, "blue": 0.1}), nil)
	var st []Message
	for _, m := range ms {
		if m.Topic == "demo/state" {
			st = append(st, m)
		}
	}
	if len(st) != 1 {
		t.Fatalf("got %v, want one state message", ms)
	}
	s := decode[StatePayload](t, st[0])
	want := StatePayload{
		Label: "red", Probability: 0.7, Since: "2026-11-29T08:30:00.100Z", Time: "2026-11-29T08:30:00.300Z",
		Camera: "demo", LabelSet: "colours", Scores: map[string]float64{"red": 0.7, "green": 0.2, "blue": 0.1},
	}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("state %+v\nwant %+v", s, want)
	}
	if tr.State() != "red" {
		t.Errorf("State() = %q", tr.State())
	}
}

// eventTrace runs probabilities of red (threshold 0.5) through a tracker
// and returns "frame:type" for each event message.
func eventTrace(t *testing.T, tr *Tracker, reds []float64) []string {
	t.Helper()
	var got []string
	for i, p := range reds {
		ms := tr.Update(frame(i, "colours", map[string]float64{"red": p, "blue": 1 - p}), nil)
		checkTopics(t, ms)
		for _, m := range only(ms, ClassEvent) {
			e := decode[EventPayload](t, m)
			got = append(got, fmt.Sprintf("%d:%s", i, e.Type))
		}
	}
	return got
}

func TestEventThresholds(t *testing.T) {
	for _, tc := range []struct {
		name string
		reds []float64
		want []string
	}{
		{name: "start and end", reds: []float64{.9, .9, .9, .9, .1, .1, .1}, want: []string{"2:start", "6:end"}},
		{name: "exactly at threshold counts", reds: []float64{.5, .5, .5}, want: []string{"2:start"}},
		{name: "just below never starts", reds: []float64{.49, .49, .49, .49}, want: nil},
		{name: "flicker above does not start", reds: []float64{.9, .9, .1, .9, .9, .1, .9}, want: nil},
		{name: "flicker below does not end", reds: []float64{.9, .9, .9, .1, .1, .9, .1, .1, .9}, want: []string{"2:start"}},
		{name: "two events", reds: []float64{.9, .9, .9, .1, .1, .1, .8, .8, .8, .1, .1, .1}, want: []string{"2:start", "5:end", "8:start", "11:end"}},
		{name: "below then back up needs min_frames again", reds: []float64{.9, .9, .9, .1, .1, .1, .9, .9}, want: []string{"2:start", "5:end"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTracker(t, Options{UpdateInterval: -1})
			got := eventTrace(t, tr, tc.reds)
			if !slices.Equal(got, tc.want) {
				t.Errorf("events %v, want %v", got, tc.want)
			}
		})
	}
}

func TestEventClassesWithoutThreshold(t *testing.T) {
	// blue has no threshold in colours: no events by default.
	tr := newTracker(t, Options{})
	var n int
	for i := range 10 {
		n += len(only(tr.Update(topFrame(i, "blue"), nil), ClassEvent))
	}
	if n != 0 {
		t.Errorf("%d event messages for blue, which has no threshold", n)
	}
	// With events.threshold set it gets one; red and green keep theirs.
	tr = newTracker(t, Options{Threshold: 0.7})
	var labels []string
	for i := range 10 {
		for _, m := range only(tr.Update(topFrame(i, "blue"), nil), ClassEvent) {
			e := decode[EventPayload](t, m)
			labels = append(labels, fmt.Sprintf("%s@%v", e.Label, e.Threshold))
		}
	}
	if !slices.Equal(labels, []string{"blue@0.7"}) {
		t.Errorf("events %v, want one for blue at 0.7", labels)
	}
	got := colours.EventClasses(0.7)
	want := []EventClass{{"red", "red", 0.5}, {"green", "green", 0.6}, {"blue", "blue", 0.7}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("EventClasses(0.7) = %v, want %v", got, want)
	}
}

func TestEventPayloads(t *testing.T) {
	tr := newTracker(t, Options{UpdateInterval: -1})
	reds := []float64{.2, .6, .9, .7, .3, .2, .1, .1}
	var evs []EventPayload
	var active []string
	for i, p := range reds {
		for _, m := range tr.Update(frame(i, "colours", map[string]float64{"red": p, "green": 1 - p}), nil) {
			switch {
			case m.Class == ClassEvent && decode[EventPayload](t, m).Label == "red":
				evs = append(evs, decode[EventPayload](t, m))
			case m.Topic == "demo/red/active":
				if !m.Retained {
					t.Errorf("%s not retained", m)
				}
				active = append(active, fmt.Sprintf("%d:%s", i, m.Payload))
			}
		}
	}
	if len(evs) != 2 {
		t.Fatalf("got %d events, want start and end", len(evs))
	}
	start, end := evs[0], evs[1]
	// Frames 1..3 are above 0.5: start at frame 3, start_time frame 1.
	if start.Type != "start" || start.StartTime != "2026-11-29T08:30:00.100Z" || start.EndTime != nil || start.TopScore != 0.9 || start.Seq != 1 {
		t.Errorf("start %+v", start)
	}
	// Frames 4..6 are below: end at frame 6, end_time frame 4.
	endTime := "2026-11-29T08:30:00.400Z"
	if end.Type != "end" || end.ID != start.ID || end.StartTime != start.StartTime || end.EndTime == nil || *end.EndTime != endTime || end.TopScore != 0.9 || end.Seq != 2 {
		t.Errorf("end %+v (end_time %v)", end, end.EndTime)
	}
	if want := fmt.Sprintf("%d-demo-red-1", at(1).UnixMilli()); start.ID != want {
		t.Errorf("id %q, want %q", start.ID, want)
	}
	if start.Label != "red" || start.Camera != "demo" || start.LabelSet != "colours" || start.Threshold != 0.5 {
		t.Errorf("start %+v", start)
	}
	if !slices.Equal(active, []string{"3:ON", "6:OFF"}) {
		t.Errorf("active flags %v", active)
	}
}

func TestEventIDsUniqueAndSeqMonotonic(t *testing.T) {
	tr := newTracker(t, Options{UpdateInterval: -1})
	ids := map[string]bool{}
	var last uint64
	for i := range 300 {
		// red on for 4 frames, off for 4; green on every 7th run of 3.
		r := 0.1
		if (i/4)%2 == 0 {
			r = 0.9
		}
		g := 0.0
		if (i/3)%7 < 2 {
			g = 0.95
		}
		for _, m := range only(tr.Update(frame(i, "colours", map[string]float64{"red": r, "green": g}), nil), ClassEvent) {
			e := decode[EventPayload](t, m)
			if e.Seq != last+1 {
				t.Fatalf("frame %d: seq %d after %d", i, e.Seq, last)
			}
			last = e.Seq
			if e.Type == "start" {
				if ids[e.ID] {
					t.Fatalf("id %s used twice", e.ID)
				}
				ids[e.ID] = true
			} else if !ids[e.ID] {
				t.Fatalf("%s for unknown id %s", e.Type, e.ID)
			}
		}
	}
	if len(ids) < 40 || tr.Seq() != last {
		t.Errorf("%d events, Seq() %d, last %d", len(ids), tr.Seq(), last)
	}
}

func TestEventUpdateRateLimited(t *testing.T) {
	// red rises every frame at 10 fps for 5 s: updates at most once a
	// second, the first one second after the start.
	tr := newTracker(t, Options{UpdateInterval: time.Second})
	var got []string
	var tops []float64
	for i := range 50 {
		p := 0.5 + float64(i)*0.009
		for _, m := range only(tr.Update(frame(i, "colours", map[string]float64{"red": p}), nil), ClassEvent) {
			e := decode[EventPayload](t, m)
			got = append(got, fmt.Sprintf("%d:%s", i, e.Type))
			tops = append(tops, e.TopScore)
		}
	}
	want := []string{"2:start", "12:update", "22:update", "32:update", "42:update"}
	if !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
	if !slices.IsSorted(tops) || math.Abs(tops[len(tops)-1]-(0.5+42*0.009)) > 1e-12 {
		t.Errorf("top scores %v", tops)
	}
	// No rise: no update, however long.
	tr = newTracker(t, Options{UpdateInterval: time.Second})
	got = nil
	for i := range 50 {
		for _, m := range only(tr.Update(frame(i, "colours", map[string]float64{"red": 0.8}), nil), ClassEvent) {
			got = append(got, decode[EventPayload](t, m).Type)
		}
	}
	if !slices.Equal(got, []string{"start"}) {
		t.Errorf("steady score: events %v, want only start", got)
	}
	// A rise inside the interval goes out at the first frame after it;
	// the end carries the final top score.
	tr = newTracker(t, Options{UpdateInterval: time.Second})
	reds := map[int]float64{0: .6, 1: .6, 2: .6, 3: .7, 4: .95}
	got = nil
	for i := range 20 {
		p, ok := reds[i]
		if !ok && i < 13 {
			p = 0.6
		}
		for _, m := range only(tr.Update(frame(i, "colours", map[string]float64{"red": p}), nil), ClassEvent) {
			e := decode[EventPayload](t, m)
			got = append(got, fmt.Sprintf("%d:%s:%v", i, e.Type, e.TopScore))
		}
	}
	want = []string{"2:start:0.6", "12:update:0.95", "15:end:0.95"}
	if !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
}

func TestSeqPersistedAcrossTrackers(t *testing.T) {
	path := StateFile(t.TempDir(), "demo")
	run := func(tr *Tracker, from int) []uint64 {
		var seqs []uint64
		for i := from; i < from+40; i++ {
			r := 0.1
			if (i/5)%2 == 0 {
				r = 0.9
			}
			for _, m := range only(tr.Update(frame(i, "colours", map[string]float64{"red": r}), nil), ClassEvent) {
				seqs = append(seqs, decode[EventPayload](t, m).Seq)
			}
		}
		return seqs
	}
	first := run(newTracker(t, Options{StateFile: path}), 0)
	if len(first) < 4 || first[0] != 1 {
		t.Fatalf("first run seqs %v", first)
	}
	tr := newTracker(t, Options{StateFile: path})
	if tr.Seq() != first[len(first)-1] {
		t.Fatalf("restarted tracker Seq() = %d, want %d", tr.Seq(), first[len(first)-1])
	}
	second := run(tr, 40)
	all := append(first, second...)
	for i := 1; i < len(all); i++ {
		if all[i] != all[i-1]+1 {
			t.Fatalf("seqs across restart %v: gap at %d", all, i)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf(`{"version":1,"camera":"demo","seq":%d}`+"\n", all[len(all)-1]); string(data) != want {
		t.Errorf("state file %q, want %q", data, want)
	}
	// No temporary files are left behind.
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Errorf("state dir holds %d entries, want 1", len(ents))
	}
}

func TestSeqPersistedBeforeMessagesLeave(t *testing.T) {
	// A crash right after Update returned must not reuse the seq of a
	// message it returned: the file already holds it.
	path := StateFile(t.TempDir(), "demo")
	tr := newTracker(t, Options{StateFile: path})
	for i := range 3 {
		ms := only(tr.Update(frame(i, "colours", map[string]float64{"red": 0.9}), nil), ClassEvent)
		if len(ms) == 0 {
			continue
		}
		seq, err := parseState(must(os.ReadFile(path)))
		if err != nil || seq != decode[EventPayload](t, ms[0]).Seq {
			t.Fatalf("state file seq %d (%v) after event seq %d", seq, err, decode[EventPayload](t, ms[0]).Seq)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestCorruptStateFile(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, content, reason string
	}{
		{"garbage", "\x00\x01garbage", "not a state file"},
		{"truncated", `{"version":1,"camera":"demo","se`, "not a state file"},
		{"empty", "", "not a state file"},
		{"wrong version", `{"version":2,"camera":"demo","seq":5}`, "version 2: want 1"},
		{"negative seq", `{"version":1,"camera":"demo","seq":-5}`, "not a state file"},
		{"huge seq", `{"version":1,"camera":"demo","seq":18446744073709551615}`, "beyond 2^53"},
		{"unknown field", `{"version":1,"camera":"demo","seq":5,"x":1}`, "unknown field"},
		{"trailing data", `{"version":1,"camera":"demo","seq":5}{}`, "data after"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := StateFile(t.TempDir(), "demo")
			if err := os.WriteFile(path, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			var logs logtest.Buffer
			tr := newTracker(t, Options{StateFile: path, Log: testLogger(&logs), Now: func() time.Time { return now }})
			safe := uint64(now.UnixMilli())
			if tr.Seq() != safe {
				t.Errorf("Seq() = %d, want the safe value %d", tr.Seq(), safe)
			}
			if countLines(&logs, "level=ERROR") != 1 || countLines(&logs, path) != 1 || countLines(&logs, tc.reason) != 1 {
				t.Errorf("want one error line naming %s and %q, got:\n%s", path, tc.reason, logs.String())
			}
			var seqs []uint64
			for i := range 4 {
				for _, m := range only(tr.Update(topFrame(i, "red"), nil), ClassEvent) {
					seqs = append(seqs, decode[EventPayload](t, m).Seq)
				}
			}
			if !slices.Equal(seqs, []uint64{safe + 1}) {
				t.Errorf("seqs %v, want [%d]", seqs, safe+1)
			}
			// The file is repaired.
			if seq, err := parseState(must(os.ReadFile(path))); err != nil || seq != safe+1 {
				t.Errorf("state file after repair: %d, %v", seq, err)
			}
		})
	}
}

func TestStateFileErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := New(Options{Camera: "demo", Device: "edge-1", StateFile: filepath.Join(dir, "missing", "events-demo.json")})
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "missing", "events-demo.json")) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state file in a missing directory: err %v, want one naming the path", err)
	}
	// A missing file is a first start: seq 0, nothing logged.
	var logs logtest.Buffer
	tr, err := New(Options{Camera: "demo", Device: "edge-1", StateFile: filepath.Join(dir, "events-demo.json"), Log: testLogger(&logs)})
	if err != nil || tr.Seq() != 0 || logs.String() != "" {
		t.Errorf("first start: seq %d, err %v, log %q", tr.Seq(), err, logs.String())
	}
	// A state file that becomes unwritable is logged and counted; events
	// still go out.
	path := filepath.Join(dir, "sub", "events-demo.json")
	os.Mkdir(filepath.Dir(path), 0o755)
	tr, err = New(Options{Camera: "demo", Device: "edge-1", StateFile: path, Log: testLogger(&logs)})
	if err != nil {
		t.Fatal(err)
	}
	tr.SetLabels(colours, t0)
	os.RemoveAll(filepath.Dir(path))
	var n int
	for i := range 3 {
		n += len(only(tr.Update(topFrame(i, "red"), nil), ClassEvent))
	}
	if n != 1 || tr.PersistFailures() != 1 || countLines(&logs, "event seq not persisted") != 1 {
		t.Errorf("events %d, failures %d, log:\n%s", n, tr.PersistFailures(), logs.String())
	}
}

func TestOptionsValidation(t *testing.T) {
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{Camera: ""}, "events: camera: empty topic segment"},
		{Options{Camera: "demo"}, "events: camera demo: device: empty topic segment"},
		{Options{Camera: "a/b"}, "'/'"},
		{Options{Camera: "demo", Device: "edge-1", Classifications: "some"}, `camera demo: classifications "some": want all, changes or off`},
		{Options{Camera: "demo", Device: "edge-1", MaxRate: -1}, "max_rate -1"},
		{Options{Camera: "demo", Device: "edge-1", MaxRate: math.NaN()}, "max_rate NaN"},
		{Options{Camera: "demo", Device: "edge-1", MinFrames: -2}, "min_frames -2"},
		{Options{Camera: "demo", Device: "edge-1", Threshold: 1.5}, "threshold 1.5"},
		{Options{Camera: "demo", Device: "edge-1", Top: -1}, "top -1"},
	} {
		_, err := New(tc.o)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err %v, want %q", tc.o, err, tc.want)
		}
	}
	tr := newTracker(t, Options{})
	for _, tc := range []struct {
		l    Labels
		want string
	}{
		{Labels{Classes: []string{"a"}}, "label set: empty name"},
		{Labels{Name: "s"}, `label set "s": no classes`},
		{Labels{Name: "s", Classes: []string{"a", "a"}}, `classes[1] "a": duplicate`},
		{Labels{Name: "s", Classes: []string{"a", ""}}, `classes[1]: empty name`},
		{Labels{Name: "s", Classes: []string{"a"}, Thresholds: map[string]float64{"b": 0.5}}, `threshold for "b": no such class`},
		{Labels{Name: "s", Classes: []string{"a"}, Thresholds: map[string]float64{"a": 0}}, `class "a": threshold 0: must be in (0, 1]`},
		{Labels{Name: "s", Classes: []string{"a"}, Thresholds: map[string]float64{"a": 1.01}}, `threshold 1.01`},
	} {
		_, err := tr.SetLabels(tc.l, t0)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "camera demo") {
			t.Errorf("%+v: err %v, want %q", tc.l, err, tc.want)
		}
	}
}

func TestClassificationRateLimit(t *testing.T) {
	for _, tc := range []struct {
		name   string
		rate   float64
		frames int
		step   time.Duration
		jitter bool
		want   int
	}{
		{name: "unlimited", rate: 0, frames: 100, step: 100 * time.Millisecond, want: 100},
		{name: "2/s at 10 fps for 10 s", rate: 2, frames: 100, step: 100 * time.Millisecond, want: 20},
		{name: "2/s with jittered frames", rate: 2, frames: 100, step: 100 * time.Millisecond, jitter: true, want: 20},
		{name: "0.5/s at 10 fps for 10 s", rate: 0.5, frames: 100, step: 100 * time.Millisecond, want: 5},
		{name: "rate above fps passes all", rate: 30, frames: 100, step: 100 * time.Millisecond, want: 100},
		{name: "same timestamps", rate: 1, frames: 10, step: 0, want: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTracker(t, Options{MaxRate: tc.rate})
			var sent []time.Time
			for i := range tc.frames {
				c := topFrame(i, "red")
				c.Time = t0.Add(time.Duration(i) * tc.step)
				if tc.jitter && i%2 == 1 {
					c.Time = c.Time.Add(30 * time.Millisecond)
				}
				for _, m := range only(tr.Update(c, nil), ClassClassification) {
					got := decode[map[string]any](t, m)
					if got["frame"].(float64) != float64(i) || got["device"] != "edge-1" || got["camera"] != "demo" {
						t.Fatalf("payload %s", m.Payload)
					}
					sent = append(sent, c.Time)
				}
			}
			if len(sent) != tc.want {
				t.Errorf("%d classifications, want %d", len(sent), tc.want)
			}
			if tc.rate > 0 && tc.step > 0 {
				min := time.Duration(float64(time.Second)/tc.rate) - 31*time.Millisecond
				for i := 1; i < len(sent); i++ {
					if d := sent[i].Sub(sent[i-1]); d < min && tc.rate < 10 {
						t.Errorf("messages %v apart, rate %v", d, tc.rate)
					}
				}
			}
		})
	}
}

func TestClassificationModes(t *testing.T) {
	tops := "rrgggrbbr"
	for _, tc := range []struct {
		mode Mode
		rate float64
		want []int
	}{
		{ModeAll, 0, []int{0, 1, 2, 3, 4, 5, 6, 7, 8}},
		{"", 0, []int{0, 1, 2, 3, 4, 5, 6, 7, 8}},
		{ModeChanges, 0, []int{0, 2, 5, 6, 8}},
		// Rate limited to one per 0.25 s slot (slots start at 0, 0.25,
		// 0.5, ...): the change at frame 2 (0.2 s) is held back and goes
		// out with frame 3 (0.3 s, still green); the change to red at
		// frame 5 (0.5 s) opens a slot; blue at 6 and 7 falls inside
		// it and red at 8 is no change from the last one sent.
		{ModeChanges, 4, []int{0, 3, 5}},
		{ModeOff, 0, nil},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			tr := newTracker(t, Options{Classifications: tc.mode, MaxRate: tc.rate})
			var got []int
			for i := range len(tops) {
				ms := tr.Update(topFrame(i, letter[tops[i]]), nil)
				if len(only(ms, ClassClassification)) == 1 {
					got = append(got, i)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("classifications at frames %v, want %v", got, tc.want)
			}
		})
	}
	// After a label set switch, "changes" publishes the next frame even
	// with the same top label.
	tr := newTracker(t, Options{Classifications: ModeChanges})
	tr.Update(topFrame(0, "red"), nil)
	if n := len(tr.Update(topFrame(1, "red"), nil)); n != 0 {
		t.Fatalf("unchanged top: %d messages", n)
	}
	tr.SetLabels(colours, at(2))
	if n := len(only(tr.Update(topFrame(3, "red"), nil), ClassClassification)); n != 1 {
		t.Errorf("first frame after a switch: %d classifications, want 1", n)
	}
}

func TestClassificationTop(t *testing.T) {
	tr := newTracker(t, Options{Top: 2, MinFrames: 1, Threshold: 0.01})
	if _, err := tr.SetLabels(Labels{Name: "colours", Classes: colours.Classes}, t0); err != nil {
		t.Fatal(err)
	}
	c := frame(0, "colours", map[string]float64{"red": 0.2, "green": 0.3, "blue": 0.5})
	ms := tr.Update(c, nil)
	cl := decode[map[string]any](t, only(ms, ClassClassification)[0])
	labels := cl["labels"].([]any)
	if len(labels) != 2 || labels[0].(map[string]any)["label"] != "blue" || labels[1].(map[string]any)["label"] != "green" {
		t.Errorf("labels %v, want blue and green", labels)
	}
	// State and events saw all three.
	var st StatePayload
	for _, m := range only(ms, ClassState) {
		if m.Topic == "demo/state" {
			st = decode[StatePayload](t, m)
		}
	}
	if len(st.Scores) != 3 {
		t.Errorf("state scores %v, want all three", st.Scores)
	}
	if got := len(only(ms, ClassEvent)); got != 3 {
		t.Errorf("%d events at min_frames 1, want 3 (red, green, blue)", got)
	}
	if len(c.Labels) != 3 || c.Labels[0].Label != "red" {
		t.Errorf("Update changed the caller's labels: %v", c.Labels)
	}
}

func TestLabelSetSwitch(t *testing.T) {
	tr := newTracker(t, Options{})
	for i := range 4 {
		tr.Update(frame(i, "colours", map[string]float64{"red": 0.9, "green": 0.8}), nil)
	}
	if !slices.Equal(tr.Open(), []string{"red", "green"}) {
		t.Fatalf("open %v", tr.Open())
	}
	animals := Labels{Name: "animals", Classes: []string{"cat", "dog", "red"}, Thresholds: map[string]float64{"cat": 0.4, "red": 0.3}}
	switchAt := at(4)
	ms, err := tr.SetLabels(animals, switchAt)
	if err != nil {
		t.Fatal(err)
	}
	checkTopics(t, ms)
	var got []string
	for _, m := range ms {
		if m.Class == ClassEvent {
			e := decode[EventPayload](t, m)
			if e.EndTime == nil || *e.EndTime != formatTime(switchAt) || e.LabelSet != "colours" {
				t.Errorf("end %+v", e)
			}
			got = append(got, fmt.Sprintf("%s:%s:%d", e.Type, e.Label, e.Seq))
		} else {
			got = append(got, fmt.Sprintf("%s=%s", m.Topic, m.Payload))
		}
	}
	want := []string{
		"end:red:3", "demo/red/active=OFF", "end:green:4", "demo/green/active=OFF",
		"demo/cat/active=OFF", "demo/red/active=OFF",
	}
	if !slices.Equal(got, want) {
		t.Errorf("switch messages\n%v\nwant\n%v", got, want)
	}
	if len(tr.Open()) != 0 || tr.State() != "" {
		t.Errorf("after switch: open %v, state %q", tr.Open(), tr.State())
	}
	// A frame still scored with the old set gives its classification only.
	ms = tr.Update(frame(5, "colours", map[string]float64{"red": 0.9}), nil)
	if len(ms) != 1 || ms[0].Class != ClassClassification {
		t.Errorf("old-set frame: %v", ms)
	}
	// The new set's state is published even though red was the state.
	var states []string
	for i := 6; i < 9; i++ {
		c := frame(i, "animals", nil)
		c.Labels = []publish.LabelScore{{Label: "red", Probability: 0.9}, {Label: "cat", Probability: 0.1}}
		for _, m := range tr.Update(c, nil) {
			if m.Topic == "demo/state" {
				states = append(states, decode[StatePayload](t, m).LabelSet)
			}
		}
	}
	if !slices.Equal(states, []string{"animals"}) {
		t.Errorf("state after switch %v", states)
	}
}

func TestSnapshot(t *testing.T) {
	jpeg := []byte{0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 0xff, 0xd9}
	calls := 0
	snap := func() ([]byte, error) { calls++; return jpeg, nil }
	tr := newTracker(t, Options{Snapshot: true})
	var got []Message
	for i := range 6 {
		got = append(got, only(tr.Update(topFrame(i, "red"), snap), ClassSnapshot)...)
	}
	if calls != 1 || len(got) != 1 || string(got[0].Payload) != string(jpeg) || got[0].Topic != "demo/snapshot" || !got[0].Retained {
		t.Errorf("calls %d, snapshots %v", calls, got)
	}
	// Snapshots off: the provider is never called.
	calls = 0
	tr = newTracker(t, Options{})
	for i := range 6 {
		if n := len(only(tr.Update(topFrame(i, "red"), snap), ClassSnapshot)); n != 0 {
			t.Errorf("snapshot with snapshots off")
		}
	}
	if calls != 0 {
		t.Errorf("provider called %d times with snapshots off", calls)
	}
	// A failing provider is logged; the event still starts.
	var logs logtest.Buffer
	tr = newTracker(t, Options{Snapshot: true, Log: testLogger(&logs)})
	var evs int
	for i := range 3 {
		ms := tr.Update(topFrame(i, "red"), func() ([]byte, error) { return nil, errors.New("encoder gone") })
		evs += len(only(ms, ClassEvent))
		if len(only(ms, ClassSnapshot)) != 0 {
			t.Error("snapshot from a failing provider")
		}
	}
	if evs != 1 || countLines(&logs, "encoder gone") != 1 {
		t.Errorf("events %d, log:\n%s", evs, logs.String())
	}
}

func TestNonFiniteProbabilities(t *testing.T) {
	var logs logtest.Buffer
	tr := newTracker(t, Options{Log: testLogger(&logs)})
	c := frame(0, "colours", map[string]float64{"red": math.NaN(), "green": 0.5})
	ms := tr.Update(c, nil)
	if len(only(ms, ClassClassification)) != 0 || countLines(&logs, "classification not published") != 1 || !strings.Contains(logs.String(), `\"red\"`) {
		t.Errorf("NaN frame: %v\nlog:\n%s", ms, logs.String())
	}
	// Non-finite probabilities count as 0 for state and events: an
	// infinite red never starts an event, green still does.
	var evs []string
	for i := 1; i < 5; i++ {
		for _, m := range only(tr.Update(frame(i, "colours", map[string]float64{"red": math.Inf(1), "green": 0.7}), nil), ClassEvent) {
			evs = append(evs, decode[EventPayload](t, m).Label)
		}
	}
	if !slices.Equal(evs, []string{"green"}) {
		t.Errorf("events %v, want green only", evs)
	}
}
