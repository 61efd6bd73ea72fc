// Package events turns per-frame classifications into the MQTT messages a
// camera publishes besides them: the classification itself (all, only on
// changes, or none, rate limited), the retained state after hysteresis,
// start/update/end events with a persistent sequence number, snapshots,
// the echoes of the control topics, and Home Assistant discovery.
//
// The package is pure: it builds [Message] values and never talks to a
// broker. The daemon hands the messages to the publisher, which owns
// transport, QoS and queueing (see [Class] for the drop priority).
//
// Topics of camera messages are suffixes under <topic_prefix>/<device>/
// (e.g. "demo/state"); discovery messages carry their full topic
// ([Message.Absolute]). docs/MQTT.md describes every topic and payload, and
// docs/schema/ holds a JSON Schema for each.
package events

import (
	"fmt"
	"hash/fnv"
	"strings"
)

// Class says what kind of payload a [Message] carries, so the publisher can
// choose its QoS and what to drop first when its queue is full
// (classifications first, events last).
type Class string

// The message classes.
const (
	// ClassClassification is a per-frame classification (QoS 0 by
	// default, dropped first).
	ClassClassification Class = "classification"
	// ClassState is a retained state: the camera state, a label's
	// active flag, the enabled and labels echoes, availability and the
	// label set status.
	ClassState Class = "state"
	// ClassEvent is an event start, update or end (dropped last).
	ClassEvent Class = "event"
	// ClassSnapshot is the JPEG of the frame that started an event.
	ClassSnapshot Class = "snapshot"
	// ClassDiscovery is a Home Assistant discovery config (or its removal).
	ClassDiscovery Class = "discovery"
)

// Message is one MQTT message to publish.
type Message struct {
	// Topic is the topic below <topic_prefix>/<device>/ (for example
	// "demo/state"), or the full topic when Absolute is set.
	Topic string
	// Absolute marks Topic as complete: Home Assistant discovery topics
	// live under the discovery prefix, not under the device.
	Absolute bool
	// Payload is the message body; empty with Retained set clears a
	// retained message.
	Payload []byte
	// Retained asks the broker to keep the message for new subscribers.
	Retained bool
	// Class is the kind of payload.
	Class Class
}

// String describes m for logs and test failures (payloads of snapshots are
// summarised).
func (m Message) String() string {
	p := string(m.Payload)
	if m.Class == ClassSnapshot {
		p = fmt.Sprintf("<%d bytes>", len(m.Payload))
	}
	r := ""
	if m.Retained {
		r = " retained"
	}
	return fmt.Sprintf("%s [%s%s] %s", m.Topic, m.Class, r, p)
}

// Topic suffixes below <topic_prefix>/<device>/<camera>/.
const (
	SuffixClassification = "classification"
	SuffixState          = "state"
	SuffixEvent          = "event"
	SuffixSnapshot       = "snapshot"
	SuffixAvailability   = "availability"
	SuffixSet            = "set"
	SuffixEnabled        = "enabled"
	SuffixLabels         = "labels"
	SuffixLabelsSet      = "labels/set"
	SuffixActive         = "active" // <camera>/<label slug>/active
)

// CameraTopic joins camera and suffix: CameraTopic("demo", SuffixState) is
// "demo/state".
func CameraTopic(camera, suffix string) string { return camera + "/" + suffix }

// ActiveTopic is "<camera>/<slug>/active", the retained ON/OFF flag of a
// label's event (slug from [Slugs]).
func ActiveTopic(camera, slug string) string { return camera + "/" + slug + "/" + SuffixActive }

// Slug turns a name into a lower-case identifier of [a-z0-9_] that is
// valid as an MQTT topic level, in a Home Assistant discovery topic and in
// an entity id: letters and digits are kept (lowered), every other run of
// characters becomes one '_', leading and trailing '_' are cut. A name with
// characters outside ASCII gets "_" and 8 hex digits of its FNV-1a hash
// appended so that names differing only there stay apart; a name with
// nothing left becomes "x" and the hash.
func Slug(name string) string {
	var b strings.Builder
	under := false
	ascii := true
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
			under = false
		case r >= 'A' && r <= 'Z':
			b.WriteRune(r + 'a' - 'A')
			under = false
		default:
			if r >= 0x80 {
				ascii = false
			}
			if !under && b.Len() > 0 {
				b.WriteByte('_')
				under = true
			}
		}
	}
	s := strings.TrimSuffix(b.String(), "_")
	if !ascii || s == "" {
		h := fnv.New32a()
		h.Write([]byte(name))
		if s == "" {
			s = "x"
		}
		s = fmt.Sprintf("%s_%08x", s, h.Sum32())
	}
	return s
}

// Slugs returns the slug of each name, in order, made unique within the
// list: a slug already taken by an earlier name gets "_2", "_3", ...
// appended. It is deterministic, so the same list always gives the same
// slugs.
func Slugs(names []string) []string {
	out := make([]string, len(names))
	taken := make(map[string]bool, len(names))
	for i, n := range names {
		s := Slug(n)
		base := s
		for k := 2; taken[s]; k++ {
			s = fmt.Sprintf("%s_%d", base, k)
		}
		taken[s] = true
		out[i] = s
	}
	return out
}
