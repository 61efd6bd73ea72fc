package events

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/autoclipd/autoclipd/publish"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var discovery = Discovery{TopicPrefix: "autoclipd", Device: "edge-1", SWVersion: "1.2.3", QoS: 1}

var pets = Labels{
	Name:       "pets",
	Classes:    []string{"Red car", "red-car", "狗", "fire_truck", "cat"},
	Thresholds: map[string]float64{"Red car": 0.5, "red-car": 0.5, "狗": 0.7, "fire_truck": 0.4},
}

var idRE = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

// validEntityID is Home Assistant's valid_entity_id: domain.object_id,
// each lower-case [a-z0-9_], no leading or trailing '_', no "__".
func validEntityID(s string) bool {
	domain, obj, ok := strings.Cut(s, ".")
	part := regexp.MustCompile(`^[a-z0-9_]+$`)
	for _, p := range []string{domain, obj} {
		if !part.MatchString(p) || strings.HasPrefix(p, "_") || strings.HasSuffix(p, "_") || strings.Contains(p, "__") {
			return false
		}
	}
	return ok
}

func TestDiscoveryMessages(t *testing.T) {
	cams := []DiscoveryCamera{{Name: "front.door", Labels: colours}, {Name: "yard", Labels: pets, LabelSets: []string{"pets", "colours"}}}
	ms, err := discovery.Messages(cams)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := discovery.Messages(cams)
	if !slices.EqualFunc(ms, again, func(a, b Message) bool { return a.Topic == b.Topic && bytes.Equal(a.Payload, b.Payload) }) {
		t.Error("two calls give different messages")
	}
	// front.door: sensor, switch, red, green; yard: sensor, switch,
	// select, 4 classes with thresholds.
	if len(ms) != 4+7 {
		t.Fatalf("%d messages, want 11", len(ms))
	}
	checkTopics(t, ms)
	uids := map[string]bool{}
	var topics []string
	for _, m := range ms {
		if !m.Absolute || !m.Retained || m.Class != ClassDiscovery {
			t.Errorf("%v: want absolute retained discovery", m)
		}
		parts := strings.Split(m.Topic, "/")
		if len(parts) != 5 || parts[0] != "homeassistant" || parts[4] != "config" || !idRE.MatchString(parts[2]) || !idRE.MatchString(parts[3]) {
			t.Errorf("topic %s: want homeassistant/<component>/<node_id>/<object_id>/config with ids of [a-zA-Z0-9_-]", m.Topic)
		}
		topics = append(topics, parts[1]+"/"+parts[3])
		c := decode[HAConfig](t, m)
		if uids[c.UniqueID] {
			t.Errorf("unique_id %s twice", c.UniqueID)
		}
		uids[c.UniqueID] = true
		if !validEntityID(c.DefaultEntityID) || !strings.HasPrefix(c.DefaultEntityID, parts[1]+".") {
			t.Errorf("default_entity_id %q is not a valid %s entity id", c.DefaultEntityID, parts[1])
		}
		wantAvail := 2
		if parts[1] == "switch" || parts[1] == "select" {
			wantAvail = 1 // controls stay usable while the camera is off
		}
		if len(c.Availability) != wantAvail || c.Availability[0].Topic != "autoclipd/edge-1/status" || c.AvailabilityMode != "all" || c.QoS != 1 {
			t.Errorf("%s: availability %+v mode %q qos %d", m.Topic, c.Availability, c.AvailabilityMode, c.QoS)
		}
		if c.Device.Model != "autoclipd" || c.Device.SWVersion != "1.2.3" || len(c.Device.Identifiers) != 1 || c.Origin.Name != "autoclipd" {
			t.Errorf("%s: device %+v origin %+v", m.Topic, c.Device, c.Origin)
		}
	}
	want := []string{
		"sensor/front_door__state", "switch/front_door__enabled", "binary_sensor/front_door__red__active", "binary_sensor/front_door__green__active",
		"sensor/yard__state", "switch/yard__enabled", "select/yard__labels", "binary_sensor/yard__red_car__active", "binary_sensor/yard__red_car_2__active",
		"binary_sensor/yard__" + Slug("狗") + "__active", "binary_sensor/yard__fire_truck__active",
	}
	if !slices.Equal(topics, want) {
		t.Errorf("configs\n%v\nwant\n%v", topics, want)
	}
	s := decode[HAConfig](t, ms[4])
	if s.StateTopic != "autoclipd/edge-1/yard/state" || s.JSONAttributesTopic != s.StateTopic || s.ValueTemplate != "{{ value_json.label }}" ||
		s.JSONAttributesTemplate != "{{ value_json.scores | tojson }}" || s.Availability[1].Topic != "autoclipd/edge-1/yard/availability" || s.Device.Name != "yard" {
		t.Errorf("yard sensor %+v", s)
	}
	b := decode[HAConfig](t, ms[10])
	if b.Name != "fire_truck" || b.StateTopic != "autoclipd/edge-1/yard/fire_truck/active" || b.PayloadOn != "ON" || b.PayloadOff != "OFF" || b.Device.Identifiers[0] != s.Device.Identifiers[0] {
		t.Errorf("fire_truck binary sensor %+v", b)
	}
	sw := decode[HAConfig](t, ms[5])
	if sw.CommandTopic != "autoclipd/edge-1/yard/set" || sw.StateTopic != "autoclipd/edge-1/yard/enabled" || sw.PayloadOn != "ON" {
		t.Errorf("yard switch %+v", sw)
	}
	sel := decode[HAConfig](t, ms[6])
	if sel.CommandTopic != "autoclipd/edge-1/yard/labels/set" || sel.StateTopic != "autoclipd/edge-1/yard/labels" || !slices.Equal(sel.Options, []string{"colours", "pets"}) {
		t.Errorf("yard select %+v", sel)
	}

	// Golden: the exact payloads of the front.door camera.
	var golden bytes.Buffer
	for _, m := range ms[:4] {
		golden.WriteString(m.Topic + "\n" + string(m.Payload) + "\n")
	}
	path := filepath.Join("testdata", "discovery.golden")
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(path, golden.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	wantGolden, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(golden.Bytes(), wantGolden) {
		t.Errorf("%s differs:\n%s", path, golden.Bytes())
	}
}

// TestDiscoveryMatchesTracker checks that the entities listen where the
// tracker and the control echoes publish, and command the control topics.
func TestDiscoveryMatchesTracker(t *testing.T) {
	tr, err := New(Options{Camera: "yard", Device: "edge-1", MinFrames: 1})
	if err != nil {
		t.Fatal(err)
	}
	ms, err := tr.SetLabels(pets, t0)
	if err != nil {
		t.Fatal(err)
	}
	c := frame(0, "pets", nil)
	for _, l := range pets.Classes {
		c.Labels = append(c.Labels, publish.LabelScore{Label: l, Probability: 0.99})
	}
	ms = append(ms, tr.Update(c, nil)...)
	ms = append(ms, EnabledMessage("yard", true), LabelsMessage("yard", "pets"))
	published := map[string]bool{}
	for _, m := range ms {
		published["autoclipd/edge-1/"+m.Topic] = true
	}
	dms, err := discovery.Messages([]DiscoveryCamera{{Name: "yard", Labels: pets, LabelSets: []string{"pets"}}})
	if err != nil {
		t.Fatal(err)
	}
	commands := 0
	for _, m := range dms {
		c := decode[HAConfig](t, m)
		if !published[c.StateTopic] {
			t.Errorf("%s listens on %s, which the tracker never publishes (it publishes %v)", m.Topic, c.StateTopic, published)
		}
		if c.CommandTopic != "" {
			commands++
			camera, _, ok := ParseControlTopic(strings.TrimPrefix(c.CommandTopic, "autoclipd/edge-1/"))
			if !ok || camera != "yard" {
				t.Errorf("%s commands %s, which is no control topic", m.Topic, c.CommandTopic)
			}
		}
	}
	if commands != 2 {
		t.Errorf("%d configs with a command topic, want the switch and the select", commands)
	}
}

func TestDiscoveryRemovals(t *testing.T) {
	yard := DiscoveryCamera{Name: "yard", Labels: pets}
	front := DiscoveryCamera{Name: "front", Labels: colours}
	noRed := colours
	noRed.Thresholds = map[string]float64{"green": 0.6}
	for _, tc := range []struct {
		name     string
		old, cur []DiscoveryCamera
		want     []string
	}{
		{"unchanged", []DiscoveryCamera{front, yard}, []DiscoveryCamera{front, yard}, nil},
		{"camera removed", []DiscoveryCamera{front, yard}, []DiscoveryCamera{yard}, []string{
			"homeassistant/sensor/autoclipd__edge_1/front__state/config",
			"homeassistant/switch/autoclipd__edge_1/front__enabled/config",
			"homeassistant/binary_sensor/autoclipd__edge_1/front__red__active/config",
			"homeassistant/binary_sensor/autoclipd__edge_1/front__green__active/config",
		}},
		{"threshold dropped", []DiscoveryCamera{front}, []DiscoveryCamera{{Name: "front", Labels: noRed}}, []string{
			"homeassistant/binary_sensor/autoclipd__edge_1/front__red__active/config",
		}},
		{"label set switched", []DiscoveryCamera{front}, []DiscoveryCamera{{Name: "front", Labels: pets}}, []string{
			"homeassistant/binary_sensor/autoclipd__edge_1/front__red__active/config",
			"homeassistant/binary_sensor/autoclipd__edge_1/front__green__active/config",
		}},
		{"camera added", []DiscoveryCamera{front}, []DiscoveryCamera{front, yard}, nil},
		{"no more label sets to offer", []DiscoveryCamera{{Name: "yard", Labels: pets, LabelSets: []string{"pets"}}}, []DiscoveryCamera{yard}, []string{
			"homeassistant/select/autoclipd__edge_1/yard__labels/config",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ms, err := discovery.Removals(tc.old, tc.cur)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, m := range ms {
				if len(m.Payload) != 0 || !m.Retained || !m.Absolute || m.Class != ClassDiscovery {
					t.Errorf("%v: want an empty retained discovery message", m)
				}
				got = append(got, m.Topic)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("removals\n%v\nwant\n%v", got, tc.want)
			}
		})
	}
}

func TestDiscoveryErrors(t *testing.T) {
	for _, tc := range []struct {
		d    Discovery
		cams []DiscoveryCamera
		want string
	}{
		{discovery, []DiscoveryCamera{{Name: "Front"}, {Name: "front"}}, `cameras "Front" and "front" have the same Home Assistant id "front": rename one`},
		{discovery, []DiscoveryCamera{{Name: "a/b"}}, "homeassistant discovery: camera: \"a/b\": '/'"},
		{Discovery{Prefix: "home/+", TopicPrefix: "a", Device: "d"}, nil, "homeassistant.prefix: \"home/+\": segment 2"},
		{Discovery{TopicPrefix: "", Device: "d"}, nil, "topic prefix: empty"},
		{Discovery{TopicPrefix: "a", Device: ""}, nil, "device: empty topic segment"},
		{Discovery{TopicPrefix: "a", Device: "d", QoS: 3}, nil, "qos 3"},
	} {
		_, err := tc.d.Messages(tc.cams)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v %v: err %v, want %q", tc.d, tc.cams, err, tc.want)
		}
	}
}

func TestBirth(t *testing.T) {
	d := Discovery{TopicPrefix: "autoclipd", Device: "edge-1"}
	for _, tc := range []struct {
		d       Discovery
		topic   string
		payload string
		want    bool
	}{
		{d, "homeassistant/status", "online", true},
		{d, "homeassistant/status", "online\n", true},
		{d, "homeassistant/status", "offline", false},
		{d, "homeassistant/statusx", "online", false},
		{Discovery{Prefix: "ha"}, "ha/status", "online", true},
		{Discovery{Prefix: "ha"}, "homeassistant/status", "online", false},
	} {
		if got := tc.d.IsBirth(tc.topic, []byte(tc.payload)); got != tc.want {
			t.Errorf("prefix %q: IsBirth(%q, %q) = %v", tc.d.Prefix, tc.topic, tc.payload, got)
		}
	}
	if d.BirthTopic() != "homeassistant/status" {
		t.Errorf("BirthTopic %q", d.BirthTopic())
	}
}

func TestSlugs(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"red", "red"},
		{"Red Car", "red_car"},
		{"  fire -- truck  ", "fire_truck"},
		{"front.door", "front_door"},
		{"édith", "dith_" + Slug("édith")[5:]},
		{"!!!", "x_" + Slug("!!!")[2:]},
	} {
		if got := Slug(tc.in); got != tc.want {
			t.Errorf("Slug(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if Slug("狗") == Slug("猫") || Slug("é") == Slug("è") {
		t.Error("non-ASCII names share a slug")
	}
	got := Slugs([]string{"a", "A", "a_2", "a b", "狗"})
	want := []string{"a", "a_2", "a_2_2", "a_b", Slug("狗")}
	if !slices.Equal(got, want) {
		t.Errorf("Slugs = %v, want %v", got, want)
	}
	for _, s := range got {
		if !idRE.MatchString(s) || strings.Contains(s, "__") || strings.HasPrefix(s, "_") || strings.HasSuffix(s, "_") {
			t.Errorf("slug %q: not [a-z0-9_] without doubled or edge '_'", s)
		}
	}
}

func FuzzSlug(f *testing.F) {
	for _, s := range []string{"red", "Red Car", "狗", "", "__", "a__b", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		g := Slug(s)
		if !regexp.MustCompile(`^[a-z0-9]+(_[a-z0-9]+)*$`).MatchString(g) {
			t.Fatalf("Slug(%q) = %q", s, g)
		}
	})
}
