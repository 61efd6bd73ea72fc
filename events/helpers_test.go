package events

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/autoclipd/autoclipd/internal/logtest"
	"github.com/autoclipd/autoclipd/publish"
)

// t0 is the time of frame 0 in tests; frames are 100 ms apart (10 fps).
var t0 = time.Date(2026, 11, 29, 8, 30, 0, 0, time.UTC)

func at(i int) time.Time { return t0.Add(time.Duration(i) * 100 * time.Millisecond) }

var colours = Labels{
	Name:       "colours",
	Classes:    []string{"red", "green", "blue"},
	Thresholds: map[string]float64{"red": 0.5, "green": 0.6},
}

// frame builds frame i of camera demo scored against set with the given
// probabilities (scores equal to the probabilities).
func frame(i int, set string, probs map[string]float64) publish.Classification {
	c := publish.Classification{Camera: "demo", Frame: uint64(i), Time: at(i), LabelSet: set, Method: "autoclip"}
	for _, l := range []string{"red", "green", "blue", "cyan", "magenta"} {
		if p, ok := probs[l]; ok {
			c.Labels = append(c.Labels, publish.LabelScore{Label: l, Score: p / 3, Probability: p})
		}
	}
	return c
}

// topFrame is a frame where label has probability 0.8 and the other
// colours share the rest.
func topFrame(i int, label string) publish.Classification {
	probs := map[string]float64{"red": 0.1, "green": 0.05, "blue": 0.05}
	probs[label] = 0.8
	return frame(i, "colours", probs)
}

func newTracker(t *testing.T, o Options) *Tracker {
	t.Helper()
	if o.Camera == "" {
		o.Camera = "demo"
	}
	if o.Device == "" {
		o.Device = "edge-1"
	}
	tr, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.SetLabels(colours, t0.Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	return tr
}

// only returns the messages of one class.
func only(ms []Message, c Class) []Message {
	var out []Message
	for _, m := range ms {
		if m.Class == c {
			out = append(out, m)
		}
	}
	return out
}

func decode[T any](t *testing.T, m Message) T {
	t.Helper()
	var v T
	dec := json.NewDecoder(bytes.NewReader(m.Payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("%s: %v", m, err)
	}
	return v
}

// checkTopics fails when a message's full topic is not publishable.
func checkTopics(t *testing.T, ms []Message) {
	t.Helper()
	for _, m := range ms {
		topic := m.Topic
		if !m.Absolute {
			topic = "autoclipd/edge-1/" + topic
		}
		if err := publish.ValidateTopic(topic); err != nil {
			t.Errorf("%s: %v", m, err)
		}
	}
}

// testLogger logs at debug level into b.
func testLogger(b *logtest.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// countLines counts the lines in b that contain substr.
func countLines(b *logtest.Buffer, substr string) int {
	n := 0
	for _, l := range strings.Split(b.String(), "\n") {
		if strings.Contains(l, substr) {
			n++
		}
	}
	return n
}
