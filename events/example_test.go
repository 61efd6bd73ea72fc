package events_test

import (
	"fmt"
	"time"

	"github.com/autoclipd/autoclipd/events"
	"github.com/autoclipd/autoclipd/publish"
)

// Example shows a camera's frame loop: switch the tracker to the label set
// before the first frame scored with it, feed every scored frame, hand the
// messages to the publisher (topics are below <topic_prefix>/<device>/).
func Example() {
	tr, err := events.New(events.Options{Device: "edge-1", Camera: "demo", Classifications: events.ModeChanges})
	if err != nil {
		panic(err)
	}
	set := events.Labels{Name: "colours", Classes: []string{"red", "green"}, Thresholds: map[string]float64{"red": 0.5}}
	start := time.Date(2026, 11, 29, 8, 30, 0, 0, time.UTC)
	var msgs []events.Message
	for i := range 4 {
		c := publish.Classification{
			Frame: uint64(i), Time: start.Add(time.Duration(i) * 100 * time.Millisecond), LabelSet: "colours", Method: "autoclip",
			Labels: []publish.LabelScore{{Label: "red", Score: 0.3, Probability: 0.9}, {Label: "green", Score: 0.2, Probability: 0.1}},
		}
		if tr.LabelSet() != c.LabelSet {
			m, err := tr.SetLabels(set, c.Time)
			if err != nil {
				panic(err)
			}
			msgs = append(msgs, m...)
		}
		msgs = append(msgs, tr.Update(c, nil)...)
	}
	for _, m := range msgs {
		fmt.Println(m.Topic, m.Class, m.Retained)
	}
	// Output:
	// demo/red/active state true
	// demo/classification classification false
	// demo/state state true
	// demo/event event false
	// demo/red/active state true
}
