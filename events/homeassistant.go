package events

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/autoclipd/autoclipd/publish"
)

// DefaultDiscoveryPrefix is homeassistant.prefix when unset.
const DefaultDiscoveryPrefix = "homeassistant"

// Discovery builds Home Assistant MQTT discovery messages for one daemon.
//
// Each camera is a Home Assistant device (identifiers
// ["autoclipd__<device slug>__<camera slug>"], name the camera, model and
// manufacturer "autoclipd") with:
//   - a sensor whose state is the camera's current label: value_template
//     {{ value_json.label }} on <camera>/state, attributes the "scores"
//     object of the same message;
//   - a binary sensor per event class (see [Labels.EventClasses]) on the
//     retained <camera>/<slug>/active flag the [Tracker] keeps ON while an
//     event of that class is open;
//   - a switch "Enabled" that sends ON/OFF to <camera>/set and follows the
//     retained echo on <camera>/enabled;
//   - when [DiscoveryCamera.LabelSets] lists the sets to choose from, a
//     select "Label set" that sends the chosen name to
//     <camera>/labels/set and follows <camera>/labels.
//
// The sensors are available when the daemon's status is "online" and the
// camera's <camera>/availability is "online" (availability_mode all); the
// switch and the select follow the daemon's status only, so a disabled
// (offline) camera can still be switched back on.
// Config topics are <prefix>/<component>/autoclipd__<device slug>/<object
// id>/config; unique ids join slugs with "__", which no slug contains, so
// they are stable and distinct for distinct names.
type Discovery struct {
	// Prefix is the discovery prefix; "" means "homeassistant".
	Prefix string
	// TopicPrefix is mqtt.topic_prefix; Device is the daemon's device
	// name. Together they locate the state topics.
	TopicPrefix string
	Device      string
	// SWVersion is the daemon version, shown in the device block.
	SWVersion string
	// Threshold is events.threshold (see [Options.Threshold]); it decides
	// which classes get a binary sensor.
	Threshold float64
	// QoS is the QoS Home Assistant subscribes to the state topics with.
	QoS byte
}

// DiscoveryCamera is one camera as discovery sees it: its name, the label
// set it uses, and optionally the label sets it may switch to.
type DiscoveryCamera struct {
	Name   string
	Labels Labels
	// LabelSets, when not empty, are the names offered by the "Label set"
	// select (the daemon's loaded sets); empty means no select.
	LabelSets []string
}

func (d Discovery) prefix() string {
	if d.Prefix == "" {
		return DefaultDiscoveryPrefix
	}
	return d.Prefix
}

// BirthTopic is <prefix>/status, where Home Assistant announces itself.
func (d Discovery) BirthTopic() string { return d.prefix() + "/status" }

// IsBirth reports whether a message is Home Assistant's birth message
// ("online" on BirthTopic), after which the daemon re-publishes
// [Discovery.Messages] (and its retained states, which the broker keeps).
func (d Discovery) IsBirth(topic string, payload []byte) bool {
	return topic == d.BirthTopic() && string(bytes.TrimSpace(payload)) == "online"
}

// Availability is one entry of a discovery config's availability list.
type Availability struct {
	Topic               string `json:"topic"`
	PayloadAvailable    string `json:"payload_available"`
	PayloadNotAvailable string `json:"payload_not_available"`
}

// HADevice is the device block of a discovery config.
type HADevice struct {
	Identifiers  []string `json:"identifiers"`
	Name         string   `json:"name"`
	Model        string   `json:"model"`
	Manufacturer string   `json:"manufacturer"`
	SWVersion    string   `json:"sw_version,omitempty"`
}

// HAOrigin names the software that published a discovery config.
type HAOrigin struct {
	Name       string `json:"name"`
	SWVersion  string `json:"sw_version,omitempty"`
	SupportURL string `json:"support_url"`
}

// HAConfig is the JSON of a sensor or binary sensor discovery config.
type HAConfig struct {
	Name                   string         `json:"name"`
	UniqueID               string         `json:"unique_id"`
	DefaultEntityID        string         `json:"default_entity_id"`
	StateTopic             string         `json:"state_topic"`
	CommandTopic           string         `json:"command_topic,omitempty"`
	Options                []string       `json:"options,omitempty"`
	ValueTemplate          string         `json:"value_template,omitempty"`
	JSONAttributesTopic    string         `json:"json_attributes_topic,omitempty"`
	JSONAttributesTemplate string         `json:"json_attributes_template,omitempty"`
	PayloadOn              string         `json:"payload_on,omitempty"`
	PayloadOff             string         `json:"payload_off,omitempty"`
	Icon                   string         `json:"icon,omitempty"`
	Availability           []Availability `json:"availability"`
	AvailabilityMode       string         `json:"availability_mode"`
	QoS                    byte           `json:"qos"`
	Device                 HADevice       `json:"device"`
	Origin                 HAOrigin       `json:"origin"`
}

// supportURL is the project page in origin blocks.
const supportURL = "https://github.com/autoclipd/autoclipd"

// entry is one discovery config before encoding.
type entry struct {
	topic string
	cfg   HAConfig
}

func (d Discovery) validate() error {
	if err := publish.ValidateTopicPrefix(d.prefix()); err != nil {
		return fmt.Errorf("homeassistant.prefix: %w", err)
	}
	if err := publish.ValidateTopicPrefix(d.TopicPrefix); err != nil {
		return fmt.Errorf("homeassistant discovery: topic prefix: %w", err)
	}
	if err := publish.ValidateSegment(d.Device); err != nil {
		return fmt.Errorf("homeassistant discovery: device: %w", err)
	}
	if d.QoS > 2 {
		return fmt.Errorf("homeassistant discovery: qos %d: must be 0, 1 or 2", d.QoS)
	}
	return nil
}

// entries builds the configs of cams in order: per camera its sensor,
// switch and select, then its binary sensors in label set order. It refuses two cameras whose
// slugs collide.
func (d Discovery) entries(cams []DiscoveryCamera) ([]entry, error) {
	node := "autoclipd__" + Slug(d.Device)
	base := d.TopicPrefix + "/" + d.Device + "/"
	status := Availability{Topic: base + "status", PayloadAvailable: "online", PayloadNotAvailable: "offline"}
	origin := HAOrigin{Name: "autoclipd", SWVersion: d.SWVersion, SupportURL: supportURL}
	bySlug := map[string]string{}
	var out []entry
	for _, cam := range cams {
		if err := publish.ValidateSegment(cam.Name); err != nil {
			return nil, fmt.Errorf("homeassistant discovery: camera: %w", err)
		}
		cs := Slug(cam.Name)
		if other, ok := bySlug[cs]; ok {
			return nil, fmt.Errorf("homeassistant discovery: cameras %q and %q have the same Home Assistant id %q: rename one", other, cam.Name, cs)
		}
		bySlug[cs] = cam.Name
		avail := []Availability{status, {Topic: base + CameraTopic(cam.Name, SuffixAvailability), PayloadAvailable: "online", PayloadNotAvailable: "offline"}}
		dev := HADevice{
			Identifiers:  []string{node + "__" + cs},
			Name:         cam.Name,
			Model:        "autoclipd",
			Manufacturer: "autoclipd",
			SWVersion:    d.SWVersion,
		}
		stateTopic := base + CameraTopic(cam.Name, SuffixState)
		out = append(out, entry{
			topic: d.prefix() + "/sensor/" + node + "/" + cs + "__state/config",
			cfg: HAConfig{
				Name:                   "Label",
				UniqueID:               node + "__" + cs + "__state",
				DefaultEntityID:        "sensor." + cs + "_label",
				StateTopic:             stateTopic,
				ValueTemplate:          "{{ value_json.label }}",
				JSONAttributesTopic:    stateTopic,
				JSONAttributesTemplate: "{{ value_json.scores | tojson }}",
				Icon:                   "mdi:label-outline",
				Availability:           avail,
				AvailabilityMode:       "all",
				QoS:                    d.QoS,
				Device:                 dev,
				Origin:                 origin,
			},
		})
		out = append(out, entry{
			topic: d.prefix() + "/switch/" + node + "/" + cs + "__enabled/config",
			cfg: HAConfig{
				Name:             "Enabled",
				UniqueID:         node + "__" + cs + "__enabled",
				DefaultEntityID:  "switch." + cs + "_enabled",
				StateTopic:       base + CameraTopic(cam.Name, SuffixEnabled),
				CommandTopic:     base + CameraTopic(cam.Name, SuffixSet),
				PayloadOn:        "ON",
				PayloadOff:       "OFF",
				Icon:             "mdi:cctv",
				Availability:     []Availability{status},
				AvailabilityMode: "all",
				QoS:              d.QoS,
				Device:           dev,
				Origin:           origin,
			},
		})
		if len(cam.LabelSets) > 0 {
			out = append(out, entry{
				topic: d.prefix() + "/select/" + node + "/" + cs + "__labels/config",
				cfg: HAConfig{
					Name:             "Label set",
					UniqueID:         node + "__" + cs + "__labels",
					DefaultEntityID:  "select." + cs + "_label_set",
					StateTopic:       base + CameraTopic(cam.Name, SuffixLabels),
					CommandTopic:     base + CameraTopic(cam.Name, SuffixLabelsSet),
					Options:          slices.Sorted(slices.Values(cam.LabelSets)),
					Icon:             "mdi:format-list-bulleted",
					Availability:     []Availability{status},
					AvailabilityMode: "all",
					QoS:              d.QoS,
					Device:           dev,
					Origin:           origin,
				},
			})
		}
		for _, ec := range cam.Labels.EventClasses(d.Threshold) {
			out = append(out, entry{
				topic: d.prefix() + "/binary_sensor/" + node + "/" + cs + "__" + ec.Slug + "__active/config",
				cfg: HAConfig{
					Name:             ec.Name,
					UniqueID:         node + "__" + cs + "__" + ec.Slug + "__active",
					DefaultEntityID:  "binary_sensor." + cs + "_" + ec.Slug,
					StateTopic:       base + ActiveTopic(cam.Name, ec.Slug),
					PayloadOn:        "ON",
					PayloadOff:       "OFF",
					Icon:             "mdi:eye-check-outline",
					Availability:     avail,
					AvailabilityMode: "all",
					QoS:              d.QoS,
					Device:           dev,
					Origin:           origin,
				},
			})
		}
	}
	return out, nil
}

// Messages returns the retained discovery configs of cams: per camera its
// sensor, its switch, its select (with LabelSets), then a binary sensor per
// event class. Publish them at start,
// after a label set switch, and again after each Home Assistant birth
// message ([Discovery.IsBirth]).
func (d Discovery) Messages(cams []DiscoveryCamera) ([]Message, error) {
	if err := d.validate(); err != nil {
		return nil, err
	}
	es, err := d.entries(cams)
	if err != nil {
		return nil, err
	}
	out := make([]Message, 0, len(es))
	for _, e := range es {
		payload, err := marshal(e.cfg)
		if err != nil {
			return nil, fmt.Errorf("homeassistant discovery %s: %w", e.topic, err)
		}
		out = append(out, Message{Topic: e.topic, Absolute: true, Payload: payload, Retained: true, Class: ClassDiscovery})
	}
	return out, nil
}

// Removals returns the empty retained messages that delete, from Home
// Assistant and from the broker, the configs published for old that cur
// no longer has: cameras removed, and classes whose events went away
// (removed from the set, threshold dropped, or another set switched in).
// Publish them before the Messages of cur. Configs the two have in common
// are not touched.
func (d Discovery) Removals(old, cur []DiscoveryCamera) ([]Message, error) {
	if err := d.validate(); err != nil {
		return nil, err
	}
	was, err := d.entries(old)
	if err != nil {
		return nil, fmt.Errorf("previous cameras: %w", err)
	}
	now, err := d.entries(cur)
	if err != nil {
		return nil, err
	}
	keep := make(map[string]bool, len(now))
	for _, e := range now {
		keep[e.topic] = true
	}
	var out []Message
	for _, e := range was {
		if !keep[e.topic] {
			out = append(out, Message{Topic: e.topic, Absolute: true, Payload: []byte{}, Retained: true, Class: ClassDiscovery})
		}
	}
	return slices.Clip(out), nil
}
