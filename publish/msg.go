package publish

import (
	"fmt"
	"strings"
)

// Class is the kind of a published message. It decides which messages the
// queue drops first when it is full (see [Publisher]): snapshots first,
// then classifications, discovery, state, control, status, and events
// last.
type Class uint8

// Message classes, from the first dropped to the last. The values are
// stored in Options.QueueDir: append new classes, do not renumber.
const (
	// ClassSnapshot is a <camera>/snapshot JPEG: large, dropped first.
	ClassSnapshot Class = iota
	// ClassClassification is the per-frame <camera>/classification message.
	ClassClassification
	// ClassDiscovery is a Home Assistant discovery config message.
	ClassDiscovery
	// ClassState is the retained <camera>/state message.
	ClassState
	// ClassControl is the retained echo of a control topic
	// (<camera>/enabled, <camera>/labels).
	ClassControl
	// ClassStatus is an availability message.
	ClassStatus
	// ClassEvent is a <camera>/event message: dropped last.
	ClassEvent

	numClasses = iota
)

var classNames = [numClasses]string{"snapshot", "classification", "discovery", "state", "control", "status", "event"}

// Classes lists every class, from the first dropped to the last.
func Classes() []Class {
	out := make([]Class, numClasses)
	for i := range out {
		out[i] = Class(i)
	}
	return out
}

// String is the class name: snapshot, classification, discovery, state,
// control, status or event (the "class" label of the message metrics).
func (c Class) String() string {
	if int(c) < len(classNames) {
		return classNames[c]
	}
	return fmt.Sprintf("class(%d)", uint8(c))
}

// ParseClass is the inverse of [Class.String].
func ParseClass(s string) (Class, error) {
	for i, n := range classNames {
		if n == s {
			return Class(i), nil
		}
	}
	return 0, fmt.Errorf("message class %q: want one of %s", s, strings.Join(classNames[:], ", "))
}

func (c Class) valid() bool { return int(c) < numClasses }

// Msg says how a message is sent: its QoS (0, 1 or 2), whether the broker
// retains it, and its class. [Publisher.MsgFor] builds the usual one for a
// class.
type Msg struct {
	QoS      byte
	Retained bool
	Class    Class
}

// MsgFor returns the options a message of class c is normally sent with:
// classifications with Options.QoS, not retained; events with
// Options.ReliableQoS, not retained; snapshots with Options.QoS, retained
// (the latest event's picture); state, control, status and discovery with
// Options.ReliableQoS, retained.
func (p *Publisher) MsgFor(c Class) Msg {
	switch c {
	case ClassClassification:
		return Msg{QoS: p.opts.QoS, Class: c}
	case ClassSnapshot:
		return Msg{QoS: p.opts.QoS, Retained: true, Class: c}
	case ClassEvent:
		return Msg{QoS: p.opts.ReliableQoS, Class: c}
	default:
		return Msg{QoS: p.opts.ReliableQoS, Retained: true, Class: c}
	}
}
