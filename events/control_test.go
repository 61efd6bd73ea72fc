package events

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestParseEnabled(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
		err  string
	}{
		{in: "ON", want: true},
		{in: "on", want: true},
		{in: "On", want: true},
		{in: " ON\n", want: true},
		{in: "true", want: true},
		{in: "TRUE", want: true},
		{in: "1", want: true},
		{in: "OFF", want: false},
		{in: "off", want: false},
		{in: "False", want: false},
		{in: "0", want: false},
		{in: "\tOFF\r\n", want: false},
		{in: "", err: `set payload "": want ON or OFF (also true/false, 1/0)`},
		{in: "yes", err: `set payload "yes": want ON or OFF`},
		{in: "ONN", err: `set payload "ONN": want ON or OFF`},
		{in: "2", err: `set payload "2"`},
		{in: `{"state":"ON"}`, err: `set payload "{\"state\":\"ON\"}"`},
		{in: strings.Repeat("O", 300), err: "set payload of 300 bytes: want ON or OFF"},
	} {
		got, err := ParseEnabled([]byte(tc.in))
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: got %v, %v; want error %q", tc.in, got, err, tc.err)
			}
		case err != nil || got != tc.want:
			t.Errorf("%q: got %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestParseLabelSet(t *testing.T) {
	loaded := map[string]bool{"colours": true, "yard animals": true}
	valid := func(name string) error {
		if !loaded[name] {
			return errors.New("no such label set (loaded: colours, yard animals)")
		}
		return nil
	}
	for _, tc := range []struct {
		in, want, err string
	}{
		{in: "colours", want: "colours"},
		{in: "  colours\n", want: "colours"},
		{in: "yard animals", want: "yard animals"},
		{in: "pets", err: `labels/set payload "pets": no such label set (loaded: colours, yard animals)`},
		{in: "", err: "labels/set payload empty: want a label set name"},
		{in: " \n", err: "labels/set payload empty"},
		{in: "a/b", err: `labels/set payload "a/b": character '/' at byte 1 cannot be in a label set name`},
		{in: "a+", err: `character '+' at byte 1`},
		{in: "a\x00b", err: `character '\x00' at byte 1`},
		{in: "\xff\xfe", err: `labels/set payload "\xff\xfe": not valid UTF-8`},
		{in: strings.Repeat("a", 257), err: "labels/set payload of 257 bytes"},
	} {
		got, err := ParseLabelSet([]byte(tc.in), valid)
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: got %q, %v; want error %q", tc.in, got, err, tc.err)
			}
		case err != nil || got != tc.want:
			t.Errorf("%q: got %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	// nil validator: syntax only.
	if got, err := ParseLabelSet([]byte("anything"), nil); err != nil || got != "anything" {
		t.Errorf("nil validator: %q, %v", got, err)
	}
}

func TestEchoMessages(t *testing.T) {
	for _, tc := range []struct {
		m     Message
		topic string
		body  string
	}{
		{EnabledMessage("demo", true), "demo/enabled", "ON"},
		{EnabledMessage("demo", false), "demo/enabled", "OFF"},
		{LabelsMessage("demo", "colours"), "demo/labels", "colours"},
		{AvailabilityMessage("demo", true), "demo/availability", "online"},
		{AvailabilityMessage("demo", false), "demo/availability", "offline"},
	} {
		if tc.m.Topic != tc.topic || string(tc.m.Payload) != tc.body || !tc.m.Retained || tc.m.Class != ClassState || tc.m.Absolute {
			t.Errorf("%v: want %s %s retained state", tc.m, tc.topic, tc.body)
		}
	}
	loaded := time.Date(2026, 11, 29, 8, 30, 0, 123e6, time.FixedZone("CET", 3600))
	for _, tc := range []struct {
		st   LabelsStatus
		want string
	}{
		{LabelsStatus{OK: true, Classes: 12, Templates: 40, Loaded: loaded},
			`{"state":"ok","classes":12,"templates":40,"loaded":"2026-11-29T07:30:00.123Z"}`},
		{LabelsStatus{Error: "labels/yard.yaml:7: classes[3]: empty class name", Classes: 12, Templates: 40, Loaded: loaded},
			`{"state":"error","error":"labels/yard.yaml:7: classes[3]: empty class name","classes":12,"templates":40,"loaded":"2026-11-29T07:30:00.123Z"}`},
		{LabelsStatus{Error: `label set "yard" not found: no labels/yard.txt`},
			`{"state":"error","error":"label set \"yard\" not found: no labels/yard.txt","classes":0,"templates":0,"loaded":null}`},
		{LabelsStatus{}, `{"state":"error","error":"unknown error","classes":0,"templates":0,"loaded":null}`},
	} {
		m, err := LabelsStatusMessage("yard", tc.st)
		if err != nil {
			t.Fatal(err)
		}
		if m.Topic != "labels/yard/status" || !m.Retained || m.Class != ClassState || string(m.Payload) != tc.want {
			t.Errorf("%+v:\ngot  %v\nwant %s", tc.st, m, tc.want)
		}
	}
}

func FuzzParseEnabled(f *testing.F) {
	for _, s := range []string{"ON", "off", "true", "0", "", " 1 ", "yes", "\xff"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		on, err := ParseEnabled(b)
		if err != nil {
			if on {
				t.Fatal("true with an error")
			}
			if len(b) <= maxControlPayload && !strings.Contains(err.Error(), "want ON or OFF") {
				t.Fatalf("error %q does not say what is wanted", err)
			}
			return
		}
		w := strings.ToLower(strings.TrimSpace(string(b)))
		want := w == "on" || w == "true" || w == "1"
		if on != want || !(want || w == "off" || w == "false" || w == "0") {
			t.Fatalf("%q parsed as %v", b, on)
		}
	})
}

func FuzzParseLabelSet(f *testing.F) {
	for _, s := range []string{"colours", " yard animals ", "", "a/b", "#", "\x00", "\xff"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		name, err := ParseLabelSet(b, func(n string) error {
			if strings.HasPrefix(n, "bad") {
				return errors.New("refused")
			}
			return nil
		})
		if err != nil {
			if name != "" {
				t.Fatalf("name %q with error %v", name, err)
			}
			return
		}
		if name == "" || name != strings.TrimSpace(name) || !utf8.ValidString(name) || strings.ContainsAny(name, "/+#\x00") || strings.HasPrefix(name, "bad") {
			t.Fatalf("%q accepted as %q", b, name)
		}
		// The echo of an accepted name is a valid topic payload and
		// the name fits in a topic level.
		checkTopics(t, []Message{LabelsMessage("demo", name), {Topic: "labels/" + name + "/status"}})
	})
}

func TestParseControlTopic(t *testing.T) {
	for _, tc := range []struct {
		topic  string
		camera string
		c      Control
		ok     bool
	}{
		{"demo/set", "demo", ControlEnabled, true},
		{"demo/labels/set", "demo", ControlLabels, true},
		{"labels/set", "labels", ControlEnabled, true}, // a camera named "labels"
		{"labels/labels/set", "labels", ControlLabels, true},
		{"demo/enabled", "", 0, false},
		{"demo/labels", "", 0, false},
		{"/set", "", 0, false},
		{"demo/x/set", "", 0, false},
		{"demo/labels/set/x", "", 0, false},
		{"set", "", 0, false},
	} {
		camera, c, ok := ParseControlTopic(tc.topic)
		if camera != tc.camera || c != tc.c || ok != tc.ok {
			t.Errorf("ParseControlTopic(%q) = %q, %d, %v; want %q, %d, %v", tc.topic, camera, c, ok, tc.camera, tc.c, tc.ok)
		}
	}
	if f := ControlFilters(); len(f) != 2 || f[0] != "+/set" || f[1] != "+/labels/set" {
		t.Errorf("ControlFilters() = %v", f)
	}
}

func FuzzParseControlTopic(f *testing.F) {
	for _, s := range []string{"demo/set", "demo/labels/set", "a/b/c", "", "/", "//set"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, topic string) {
		camera, c, ok := ParseControlTopic(topic)
		if !ok {
			return
		}
		var back string
		switch c {
		case ControlEnabled:
			back = CameraTopic(camera, SuffixSet)
		case ControlLabels:
			back = CameraTopic(camera, SuffixLabelsSet)
		default:
			t.Fatalf("kind %d", c)
		}
		if back != topic || camera == "" || strings.Contains(camera, "/") {
			t.Fatalf("%q parsed as camera %q kind %d", topic, camera, c)
		}
	})
}

func TestMessageString(t *testing.T) {
	for _, tc := range []struct {
		m    Message
		want string
	}{
		{EnabledMessage("demo", true), "demo/enabled [state retained] ON"},
		{Message{Topic: "demo/snapshot", Payload: make([]byte, 1234), Class: ClassSnapshot, Retained: true}, "demo/snapshot [snapshot retained] <1234 bytes>"},
		{Message{Topic: "demo/event", Payload: []byte("{}"), Class: ClassEvent}, "demo/event [event] {}"},
	} {
		if got := tc.m.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
}
