package events

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// maxControlPayload bounds the control payloads accepted: ON/OFF and a
// label set name are short.
const maxControlPayload = 256

// ParseEnabled parses a <camera>/set payload: ON, OFF, true, false, 1 or 0,
// case-insensitive, surrounding white space ignored.
func ParseEnabled(payload []byte) (bool, error) {
	if len(payload) > maxControlPayload {
		return false, fmt.Errorf("set payload of %d bytes: want ON or OFF", len(payload))
	}
	s := strings.TrimSpace(string(payload))
	switch strings.ToLower(s) {
	case "on", "true", "1":
		return true, nil
	case "off", "false", "0":
		return false, nil
	}
	return false, fmt.Errorf("set payload %q: want ON or OFF (also true/false, 1/0)", s)
}

// ParseLabelSet parses a <camera>/labels/set payload: a label set name,
// surrounding white space ignored, checked by valid (for example "is it a
// loaded set?"); valid may be nil. The error names the payload.
func ParseLabelSet(payload []byte, valid func(name string) error) (string, error) {
	if len(payload) > maxControlPayload {
		return "", fmt.Errorf("labels/set payload of %d bytes: want a label set name", len(payload))
	}
	if !utf8.Valid(payload) {
		return "", fmt.Errorf("labels/set payload %q: not valid UTF-8", payload)
	}
	name := strings.TrimSpace(string(payload))
	if name == "" {
		return "", errors.New("labels/set payload empty: want a label set name")
	}
	for i, r := range name {
		if unicode.IsControl(r) || r == '/' || r == '+' || r == '#' {
			return "", fmt.Errorf("labels/set payload %q: character %q at byte %d cannot be in a label set name", name, r, i)
		}
	}
	if valid != nil {
		if err := valid(name); err != nil {
			return "", fmt.Errorf("labels/set payload %q: %w", name, err)
		}
	}
	return name, nil
}

// EnabledMessage is the retained echo on <camera>/enabled: ON or OFF.
func EnabledMessage(camera string, enabled bool) Message {
	return Message{Topic: CameraTopic(camera, SuffixEnabled), Payload: onOff(enabled), Retained: true, Class: ClassState}
}

// LabelsMessage is the retained echo on <camera>/labels: the name of the
// label set the camera now uses.
func LabelsMessage(camera, set string) Message {
	return Message{Topic: CameraTopic(camera, SuffixLabels), Payload: []byte(set), Retained: true, Class: ClassState}
}

// AvailabilityMessage is the retained <camera>/availability: "online" while
// the camera delivers frames, "offline" otherwise (Home Assistant shows
// the camera's entities unavailable).
func AvailabilityMessage(camera string, online bool) Message {
	p := "offline"
	if online {
		p = "online"
	}
	return Message{Topic: CameraTopic(camera, SuffixAvailability), Payload: []byte(p), Retained: true, Class: ClassState}
}

// LabelsStatus is the state of one label set, published retained on
// labels/<set>/status.
type LabelsStatus struct {
	// OK is false when the last load failed (Error says why); the
	// previous good set, if any, stays in use and Classes, Templates
	// and Loaded describe it.
	OK    bool
	Error string
	// Classes and Templates give the set's K x C shape.
	Classes   int
	Templates int
	// Loaded is when the set in use was loaded; zero if none ever was.
	Loaded time.Time
}

type labelsStatusJSON struct {
	State     string  `json:"state"`
	Error     string  `json:"error,omitempty"`
	Classes   int     `json:"classes"`
	Templates int     `json:"templates"`
	Loaded    *string `json:"loaded"`
}

// LabelsStatusMessage is the retained labels/<set>/status message:
//
//	{"state":"ok","classes":12,"templates":40,"loaded":"2026-11-29T08:30:00.123Z"}
//	{"state":"error","error":"labels/yard.yaml:7: classes[3]: empty class name","classes":12,"templates":40,"loaded":"..."}
//
// with "loaded" null when no version of the set ever loaded.
func LabelsStatusMessage(set string, st LabelsStatus) (Message, error) {
	j := labelsStatusJSON{State: "ok", Classes: st.Classes, Templates: st.Templates}
	if !st.OK {
		j.State = "error"
		j.Error = st.Error
		if j.Error == "" {
			j.Error = "unknown error"
		}
	}
	if !st.Loaded.IsZero() {
		s := formatTime(st.Loaded)
		j.Loaded = &s
	}
	payload, err := marshal(j)
	if err != nil {
		return Message{}, fmt.Errorf("labels %s status: %w", set, err)
	}
	return Message{Topic: "labels/" + set + "/status", Payload: payload, Retained: true, Class: ClassState}, nil
}

// Control is a kind of control topic.
type Control int

// The control topics.
const (
	// ControlEnabled is <camera>/set: ON or OFF, see [ParseEnabled].
	ControlEnabled Control = iota + 1
	// ControlLabels is <camera>/labels/set: a label set name, see
	// [ParseLabelSet].
	ControlLabels
)

// ControlFilters are the subscription filters of the control topics,
// relative to <topic_prefix>/<device>/: "+/set" and "+/labels/set".
func ControlFilters() []string { return []string{"+/" + SuffixSet, "+/" + SuffixLabelsSet} }

// ParseControlTopic recognises a control topic relative to
// <topic_prefix>/<device>/ ("demo/set", "demo/labels/set") and returns its
// camera and kind; ok is false for any other topic.
func ParseControlTopic(rel string) (camera string, c Control, ok bool) {
	parts := strings.Split(rel, "/")
	switch {
	case len(parts) == 2 && parts[1] == SuffixSet && parts[0] != "":
		return parts[0], ControlEnabled, true
	case len(parts) == 3 && parts[1] == SuffixLabels && parts[2] == SuffixSet && parts[0] != "":
		return parts[0], ControlLabels, true
	}
	return "", 0, false
}
