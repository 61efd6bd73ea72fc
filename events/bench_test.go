package events

import (
	"fmt"
	"testing"

	"github.com/autoclipd/autoclipd/publish"
)

// BenchmarkUpdate measures the per-frame cost of a tracker with C classes,
// all with thresholds, on a steady scene (no state change, no event).
func BenchmarkUpdate(b *testing.B) {
	for _, c := range []int{3, 100} {
		for _, mode := range []Mode{ModeOff, ModeAll} {
			b.Run(fmt.Sprintf("classes=%d/%s", c, mode), func(b *testing.B) {
				l := Labels{Name: "set", Thresholds: map[string]float64{}}
				frame := publish.Classification{Camera: "demo", LabelSet: "set", Method: "autoclip"}
				for i := range c {
					name := fmt.Sprintf("class %d", i)
					l.Classes = append(l.Classes, name)
					l.Thresholds[name] = 0.5
					frame.Labels = append(frame.Labels, publish.LabelScore{Label: name, Score: 0.1, Probability: 0.1 / float64(c)})
				}
				frame.Labels[0].Probability = 0.9
				tr, err := New(Options{Camera: "demo", Device: "edge-1", Classifications: mode, Top: 5})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := tr.SetLabels(l, t0); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					frame.Time = at(i)
					frame.Frame = uint64(i)
					tr.Update(frame, nil)
				}
			})
		}
	}
}
