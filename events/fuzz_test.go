package events

import (
	"testing"
	"time"
)

// FuzzTracker feeds arbitrary probability sequences (and label set
// switches) and checks the invariants subscribers rely on: seq contiguous,
// start/update/end well nested per label with one id, active flags
// following the events, state only on change, no events below threshold
// or for classes without one, every payload valid against its schema.
func FuzzTracker(f *testing.F) {
	f.Add([]byte{200, 10, 10, 200, 10, 10, 200, 10, 10, 10, 200, 10, 10, 200, 10, 10, 200, 10})
	f.Add([]byte{255, 255, 255, 0, 0, 0, 255, 0, 0, 0xfe, 0, 0, 255, 0, 0, 255, 0, 0, 255})
	f.Add([]byte{128, 153, 0, 127, 152, 0, 128, 153, 0, 128, 153, 0, 127, 0, 0, 0xff, 1, 2})
	sch := schemas(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		tr, err := New(Options{Camera: "demo", Device: "edge-1", MinFrames: 1 + int(len(data)%3), UpdateInterval: 200 * time.Millisecond, MaxRate: 4})
		if err != nil {
			t.Fatal(err)
		}
		sets := []Labels{colours, {Name: "alt", Classes: []string{"red", "green", "blue"}, Thresholds: map[string]float64{"green": 0.3}}}
		cur := 0
		ms, err := tr.SetLabels(sets[cur], t0)
		if err != nil {
			t.Fatal(err)
		}
		var lastSeq uint64
		type open struct {
			id    string
			start string
		}
		opened := map[string]open{} // label -> open event
		active := map[string]string{}
		lastState := ""
		check := func(ms []Message) {
			for _, m := range ms {
				if name, text := schemaFor(m); name != "" {
					if err := validate(t, sch[name], m.Payload, text); err != nil {
						t.Fatalf("%v: %s: %v", m, name, err)
					}
				}
				switch {
				case m.Class == ClassEvent:
					e := decode[EventPayload](t, m)
					if e.Seq != lastSeq+1 {
						t.Fatalf("seq %d after %d", e.Seq, lastSeq)
					}
					lastSeq = e.Seq
					if e.Label == "blue" {
						t.Fatalf("event for blue, which has no threshold: %v", m)
					}
					if e.TopScore < e.Threshold {
						t.Fatalf("top score below threshold: %v", m)
					}
					o, isOpen := opened[e.Label]
					switch e.Type {
					case EventStart:
						if isOpen {
							t.Fatalf("second start for %s: %v", e.Label, m)
						}
						opened[e.Label] = open{e.ID, e.StartTime}
					case EventUpdate, EventEnd:
						if !isOpen || o.id != e.ID || o.start != e.StartTime {
							t.Fatalf("%s without its start (%+v): %v", e.Type, o, m)
						}
						if e.Type == EventEnd {
							if *e.EndTime < e.StartTime {
								t.Fatalf("ends before it starts: %v", m)
							}
							delete(opened, e.Label)
						}
					}
				case m.Topic == "demo/state":
					s := decode[StatePayload](t, m)
					if s.Label == lastState {
						t.Fatalf("state %s published twice", s.Label)
					}
					lastState = s.Label
				case len(m.Topic) > 7 && m.Topic[len(m.Topic)-7:] == "/active":
					active[m.Topic] = string(m.Payload)
				}
			}
			for label := range opened {
				if active["demo/"+label+"/active"] != "ON" {
					t.Fatalf("%s open but its flag is %q", label, active["demo/"+label+"/active"])
				}
			}
			for topic, v := range active {
				label := topic[5 : len(topic)-7]
				if _, ok := opened[label]; v == "ON" && !ok {
					t.Fatalf("%s ON without an open event", topic)
				}
			}
		}
		check(ms)
		for i := 0; i+2 < len(data); i += 3 {
			if data[i] == 0xff && data[i+1] < 4 { // switch label sets
				cur = 1 - cur
				ms, err := tr.SetLabels(sets[cur], at(i))
				if err != nil {
					t.Fatal(err)
				}
				lastState = ""
				check(ms)
				if len(opened) != 0 {
					t.Fatalf("events still open after a switch: %v", opened)
				}
				continue
			}
			probs := map[string]float64{"red": float64(data[i]) / 255, "green": float64(data[i+1]) / 255, "blue": float64(data[i+2]) / 255}
			check(tr.Update(frame(i, sets[cur].Name, probs), nil))
		}
		if tr.Seq() != lastSeq {
			t.Fatalf("Seq() %d, last message %d", tr.Seq(), lastSeq)
		}
	})
}
