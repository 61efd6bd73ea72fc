package daemon

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/autoclipd/autoclipd/internal/mqtttest"
)

// inSet reports whether every label of c is one of classes.
func inSet(c message, classes []string) bool {
	for _, l := range c.Labels {
		found := false
		for _, k := range classes {
			if l.Label == k {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

type labelStatus struct {
	State     string `json:"state"`
	Error     string `json:"error"`
	Classes   int    `json:"classes"`
	Templates int    `json:"templates"`
	Loaded    string `json:"loaded"`
}

// TestHotReloadEditStyles edits the label file the way users and their
// editors do; each time, classification messages use the new classes within
// 2 s. A file made invalid publishes an error status and keeps the old
// classes; fixed again, the status is ok.
func TestHotReloadEditStyles(t *testing.T) {
	s := newSetup(t, "red")
	sub := mqtttest.Subscribe(t, s.broker, "t/dev/cam/classification")
	status := mqtttest.Subscribe(t, s.broker, "t/dev/labels/colours/status")
	r := start(t, s.config("cam=red"), Options{})
	path := filepath.Join(s.dir, "labels", "colours.txt")

	// waitClasses waits up to 2 s for a message whose labels are all in
	// classes, and then checks that later ones are too.
	waitClasses := func(step string, classes []string) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Second)
		for {
			m, err := sub.Next(time.Until(deadline))
			if err != nil {
				t.Fatalf("%s: no message with classes %v within 2 s: %v; log:\n%s", step, classes, err, r.log.String())
			}
			if inSet(decode(t, m), classes) {
				break
			}
		}
		for i := 0; i < 3; i++ {
			m, err := sub.Next(5 * time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if c := decode(t, m); !inSet(c, classes) {
				t.Fatalf("%s: frame %d labels %+v after the switch to %v", step, c.Frame, c.Labels, classes)
			}
		}
	}
	waitStatus := func(step, state string) labelStatus {
		t.Helper()
		m, err := status.WaitFor(func(m mqtttest.Message) bool {
			var st labelStatus
			return json.Unmarshal(m.Payload, &st) == nil && st.State == state
		}, 5*time.Second)
		if err != nil {
			t.Fatalf("%s: no %q status: %v", step, state, err)
		}
		var st labelStatus
		_ = json.Unmarshal(m.Payload, &st)
		return st
	}

	sets := [][]string{
		{"red", "green", "blue"},
		{"red", "cyan", "white"},
		{"red", "black", "gray"},
		{"red", "orange", "purple"},
	}
	edits := []struct {
		name string
		edit func(classes []string)
	}{
		{"plain write", func(c []string) { s.writeLabels("colours", c) }},
		{"write temp then rename", func(c []string) {
			tmp := filepath.Join(s.dir, "labels", ".colours.txt.tmp")
			must(t, os.WriteFile(tmp, []byte(strings.Join(c, "\n")+"\n"), 0o644))
			must(t, os.Rename(tmp, path))
		}},
		{"truncate then write", func(c []string) {
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0o644)
			must(t, err)
			must(t, f.Sync())
			time.Sleep(20 * time.Millisecond)
			_, err = f.WriteString(strings.Join(c, "\n") + "\n")
			must(t, err)
			must(t, f.Close())
		}},
		{"delete then create", func(c []string) {
			must(t, os.Remove(path))
			time.Sleep(50 * time.Millisecond)
			s.writeLabels("colours", c)
		}},
	}
	for i, e := range edits {
		e.edit(sets[i])
		waitClasses(e.name, sets[i])
		if st := waitStatus(e.name, "ok"); st.Classes != len(sets[i]) {
			t.Errorf("%s: status %+v, want %d classes", e.name, st, len(sets[i]))
		}
	}

	// Invalid: a duplicate class. The status says so, with file:line, and
	// the messages keep the last good classes.
	must(t, os.WriteFile(path, []byte("red\nblue\nred\n"), 0o644))
	st := waitStatus("invalid", "error")
	if !strings.Contains(st.Error, "colours.txt:3") {
		t.Errorf("error status %q does not name colours.txt:3", st.Error)
	}
	last := sets[len(sets)-1]
	for i := 0; i < 5; i++ {
		m, err := sub.Next(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if c := decode(t, m); !inSet(c, last) {
			t.Fatalf("after a bad edit, frame %d labels %+v, want the last good set %v", c.Frame, c.Labels, last)
		}
	}
	// Fixed again.
	s.writeLabels("colours", sets[0])
	waitClasses("fixed", sets[0])
	waitStatus("fixed", "ok")

	// Removed: cameras keep the last good set and the status says so.
	must(t, os.Remove(path))
	st = waitStatus("removed", "error")
	if !strings.Contains(st.Error, "removed") || !strings.Contains(st.Error, "keeping the last good version") {
		t.Errorf("removed status %q", st.Error)
	}
	waitClasses("removed", sets[0])
}

// TestHotReloadRace swaps the label set every few milliseconds while frames
// are scored: every message's labels belong to one set.
func TestHotReloadRace(t *testing.T) {
	s := newSetup(t, "red")
	a := []string{"red", "orange", "yellow", "green"}
	b := []string{"red", "cyan", "blue", "purple"}
	sub := mqtttest.Subscribe(t, s.broker, "t/dev/cam/classification")
	r := start(t, s.config("cam=red"), Options{})
	if _, err := sub.Next(30 * time.Second); err != nil {
		t.Fatalf("no first message: %v; log:\n%s", err, r.log.String())
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(3 * time.Millisecond):
			}
			if i%2 == 0 {
				s.writeLabels("colours", a)
			} else {
				s.writeLabels("colours", b)
			}
		}
	}()
	seenA, seenB := 0, 0
	for n := 0; n < 40; n++ {
		m, err := sub.Next(10 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c := decode(t, m)
		switch {
		case inSet(c, a):
			seenA++
		case inSet(c, b):
			seenB++
		default:
			if !inSet(c, []string{"red", "green", "blue", "cyan", "magenta", "yellow", "orange", "purple", "white", "gray", "black"}) {
				t.Fatalf("unknown labels %+v", c.Labels)
			}
			// The first messages may still use the full start-up set.
			if seenA+seenB > 0 {
				t.Fatalf("frame %d mixes label sets: %+v", c.Frame, c.Labels)
			}
		}
	}
	close(stop)
	<-done
	r.stop(t)
	if seenA+seenB == 0 {
		t.Errorf("no message used either swapped set")
	}
	t.Logf("messages with set A %d, set B %d", seenA, seenB)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
