package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/autoclipd/autoclipd/publish"
)

const schemaDir = "../docs/schema"

// schemas compiles every docs/schema/*.schema.json (draft 2020-12, formats
// asserted) by file name.
func schemas(t testing.TB) map[string]*jsonschema.Schema {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(schemaDir, "*.schema.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no schemas in %s: %v", schemaDir, err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	urls := map[string]string{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		m := doc.(map[string]any)
		if m["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
			t.Errorf("%s: $schema %v, want draft 2020-12", f, m["$schema"])
		}
		id, _ := m["$id"].(string)
		if !strings.HasSuffix(id, "/"+filepath.Base(f)) {
			t.Errorf("%s: $id %q does not end with the file name", f, id)
		}
		if err := c.AddResource(id, doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		urls[filepath.Base(f)] = id
	}
	out := map[string]*jsonschema.Schema{}
	for name, id := range urls {
		s, err := c.Compile(id)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out[name] = s
	}
	return out
}

// validate checks payload against a schema; plain-text payloads (not
// JSON) are checked as a JSON string, as the text schemas say.
func validate(t testing.TB, s *jsonschema.Schema, payload []byte, text bool) error {
	t.Helper()
	if text {
		var err error
		if payload, err = json.Marshal(string(payload)); err != nil {
			t.Fatal(err)
		}
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(payload))
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	return s.Validate(v)
}

// sample runs a tracker, the control helpers and discovery through a
// scenario that produces every kind of message, and returns them.
func sample(t *testing.T) []Message {
	t.Helper()
	tr := newTracker(t, Options{Snapshot: true, UpdateInterval: 200 * time.Millisecond})
	var ms []Message
	snap := func() ([]byte, error) { return []byte{0xff, 0xd8, 0xff, 0xd9}, nil }
	reds := []float64{.6, .6, .6, .7, .8, .9, .9, .1, .1, .1}
	for i, p := range reds {
		c := frame(i, "colours", map[string]float64{"red": p, "green": (1 - p) * 0.7, "blue": (1 - p) * 0.3})
		c.Weights = &publish.Weights{EntropyBits: 1.5, Count: 4, Top: []publish.TemplateWeight{{Template: "a photo of a {}.", Weight: 0.4}}}
		ms = append(ms, tr.Update(c, snap)...)
	}
	for i := 10; i < 14; i++ {
		ms = append(ms, tr.Update(frame(i, "colours", map[string]float64{"red": .9}), nil)...)
	}
	sw, err := tr.SetLabels(pets, at(14)) // ends the open red event
	if err != nil {
		t.Fatal(err)
	}
	ms = append(ms, sw...)
	ms = append(ms, EnabledMessage("demo", true), EnabledMessage("demo", false), LabelsMessage("demo", "pets"),
		AvailabilityMessage("demo", true), AvailabilityMessage("demo", false))
	for _, st := range []LabelsStatus{
		{OK: true, Classes: 3, Templates: 40, Loaded: t0},
		{Error: "labels/pets.yaml:3: classes[0]: empty class name", Classes: 3, Templates: 40, Loaded: t0},
		{Error: "label set \"pets\" not found"},
	} {
		m, err := LabelsStatusMessage("pets", st)
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
	}
	d, err := discovery.Messages([]DiscoveryCamera{{Name: "demo", Labels: colours}, {Name: "yard", Labels: pets, LabelSets: []string{"pets", "colours"}}})
	if err != nil {
		t.Fatal(err)
	}
	return append(ms, d...)
}

// schemaFor names the schema of a message by its topic.
func schemaFor(m Message) (name string, text bool) {
	switch {
	case m.Class == ClassDiscovery:
		component := strings.Split(m.Topic, "/")[1]
		return "ha-" + strings.ReplaceAll(component, "_", "-") + ".schema.json", false
	case strings.HasSuffix(m.Topic, "/classification"):
		return "classification.schema.json", false
	case strings.HasSuffix(m.Topic, "/state"):
		return "state.schema.json", false
	case strings.HasSuffix(m.Topic, "/event"):
		return "event.schema.json", false
	case strings.HasSuffix(m.Topic, "/status"):
		return "labels-status.schema.json", false
	case strings.HasSuffix(m.Topic, "/enabled"), strings.HasSuffix(m.Topic, "/active"):
		return "on-off.schema.json", true
	case strings.HasSuffix(m.Topic, "/availability"):
		return "availability.schema.json", true
	case strings.HasSuffix(m.Topic, "/labels"):
		return "labels.schema.json", true
	}
	return "", false
}

func TestPayloadsMatchSchemas(t *testing.T) {
	sch := schemas(t)
	ms := sample(t)
	seen := map[string]int{}
	for _, m := range ms {
		if m.Class == ClassSnapshot {
			seen["snapshot"]++
			continue // a JPEG
		}
		name, text := schemaFor(m)
		s := sch[name]
		if s == nil {
			t.Errorf("%v: no schema", m)
			continue
		}
		seen[name]++
		if err := validate(t, s, m.Payload, text); err != nil {
			t.Errorf("%v\ndoes not match %s: %v", m, name, err)
		}
	}
	// Every schema was exercised, and every kind of event message.
	for name := range sch {
		if seen[name] == 0 {
			t.Errorf("no payload checked against %s", name)
		}
	}
	types := map[string]bool{}
	for _, m := range only(ms, ClassEvent) {
		types[decode[EventPayload](t, m).Type] = true
	}
	if len(types) != 3 || seen["snapshot"] == 0 {
		t.Errorf("event types %v, snapshots %d: the sample misses some", types, seen["snapshot"])
	}
	t.Logf("checked %v", seen)
}

func TestClassificationGoldenMatchesSchema(t *testing.T) {
	s := schemas(t)["classification.schema.json"]
	for _, name := range []string{"classification", "classification-no-weights", "classification-empty-weights", "classification-escaping"} {
		data, err := os.ReadFile(filepath.Join("..", "publish", "testdata", name+".golden.json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := validate(t, s, data, false); err != nil {
			t.Errorf("publish golden %s: %v", name, err)
		}
	}
	// What MarshalJSON produces now matches too.
	c := publish.Classification{
		Device: "edge-1", Camera: "demo", Frame: 17, Time: time.Date(2026, 11, 29, 8, 30, 0, 123e6, time.UTC),
		LabelSet: "colours", Method: "uniform",
		Labels:  []publish.LabelScore{{Label: "red", Score: 0.31, Probability: 0.93}, {Label: "blue", Score: 0.28, Probability: 0.07}},
		Weights: &publish.Weights{EntropyBits: 2, Count: 4, Top: []publish.TemplateWeight{{Template: "a {}.", Weight: 0.25}}},
	}
	data, err := c.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if err := validate(t, s, data, false); err != nil {
		t.Errorf("%s: %v", data, err)
	}
	// The zero-valued golden (no method, no label set) is not a payload
	// the daemon sends, and the schema says so.
	data, _ = os.ReadFile(filepath.Join("..", "publish", "testdata", "classification-no-labels.golden.json"))
	if err := validate(t, s, data, false); err == nil || !strings.Contains(err.Error(), "method") {
		t.Errorf("no-labels golden: %v, want a method error", err)
	}
}

func TestSchemasReject(t *testing.T) {
	sch := schemas(t)
	for _, tc := range []struct {
		schema, payload, want string
		text                  bool
	}{
		{"event.schema.json", `{"type":"begin","id":"1-demo-red-1","seq":1,"camera":"demo","label":"red","label_set":"c","start_time":"2026-11-29T08:30:00.100Z","end_time":null,"top_score":0.9,"threshold":0.5}`, "type", false},
		{"event.schema.json", `{"type":"end","id":"1-demo-red-1","seq":2,"camera":"demo","label":"red","label_set":"c","start_time":"2026-11-29T08:30:00.100Z","end_time":null,"top_score":0.9,"threshold":0.5}`, "end_time", false},
		{"event.schema.json", `{"type":"start","id":"1-demo-red-1","seq":0,"camera":"demo","label":"red","label_set":"c","start_time":"2026-11-29T08:30:00.100Z","end_time":null,"top_score":0.9,"threshold":0.5}`, "seq", false},
		{"event.schema.json", `{"type":"start","id":"1-demo-red-1","seq":1,"camera":"demo","label":"red","label_set":"c","start_time":"2026-11-29 08:30","end_time":null,"top_score":0.9,"threshold":0.5}`, "start_time", false},
		{"state.schema.json", `{"label":"red","probability":0.9,"since":"2026-11-29T08:30:00.100Z","time":"2026-11-29T08:30:00.100Z","camera":"demo","label_set":"c"}`, "scores", false},
		{"state.schema.json", `{"label":"red","probability":1.5,"since":"2026-11-29T08:30:00.100Z","time":"2026-11-29T08:30:00.100Z","camera":"demo","label_set":"c","scores":{"red":1}}`, "probability", false},
		{"labels-status.schema.json", `{"state":"error","classes":0,"templates":0,"loaded":null}`, "error", false},
		{"labels-status.schema.json", `{"state":"ok","error":"x","classes":0,"templates":0,"loaded":null}`, "", false},
		{"classification.schema.json", `{"device":"d","camera":"c","frame":-1,"time":"2026-11-29T08:30:00.100Z","label_set":"s","method":"autoclip","labels":[]}`, "frame", false},
		{"on-off.schema.json", "on", "", true},
		{"availability.schema.json", "Online", "", true},
		{"labels.schema.json", "a/b", "", true},
		{"ha-sensor.schema.json", `{"name":"Label"}`, "missing", false},
		{"ha-select.schema.json", `{"name":"Label set","options":[]}`, "options", false},
		{"ha-switch.schema.json", `{"name":"Enabled","command_topic":"a/e/c/enabled"}`, "command_topic", false},
		{"ha-binary-sensor.schema.json", `{"name":"red","unique_id":"autoclipd__e__c__red__active","default_entity_id":"sensor.c_red","state_topic":"a/e/c/red/active","payload_on":"ON","payload_off":"OFF","availability":[{"topic":"a/e/status","payload_available":"online","payload_not_available":"offline"}],"availability_mode":"all","qos":1,"device":{"identifiers":["autoclipd__e__c"],"name":"c","model":"autoclipd","manufacturer":"autoclipd"},"origin":{"name":"autoclipd","support_url":"https://github.com/autoclipd/autoclipd"}}`, "default_entity_id", false},
	} {
		err := validate(t, sch[tc.schema], []byte(tc.payload), tc.text)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s accepts %s (err %v, want one mentioning %q)", tc.schema, tc.payload, err, tc.want)
		}
	}
}

// TestPayloadsGolden pins the exact bytes of every message of the sample
// scenario (field order, number formatting, retained flags), so a change
// subscribers would notice shows up as a diff of testdata/payloads.golden.
func TestPayloadsGolden(t *testing.T) {
	var got bytes.Buffer
	for _, m := range sample(t) {
		if m.Class == ClassDiscovery {
			continue // discovery.golden
		}
		fmt.Fprintf(&got, "%s\n", m)
	}
	path := filepath.Join("testdata", "payloads.golden")
	if *update {
		if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Errorf("%s differs:\n%s", path, got.Bytes())
	}
}
