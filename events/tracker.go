package events

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/autoclipd/autoclipd/publish"
)

// Mode is the mqtt.classifications setting: which scored frames are
// published on <camera>/classification.
type Mode string

// The classification modes.
const (
	// ModeAll publishes every scored frame (subject to MaxRate).
	ModeAll Mode = "all"
	// ModeChanges publishes a frame only when its top label differs from
	// the top label of the last published classification (the first
	// frame, and the first after a label set switch, always go out).
	ModeChanges Mode = "changes"
	// ModeOff publishes no classification; state and events still go out.
	ModeOff Mode = "off"
)

// ParseMode parses a mqtt.classifications value; "" is ModeAll.
func ParseMode(s string) (Mode, error) {
	switch Mode(s) {
	case "", ModeAll:
		return ModeAll, nil
	case ModeChanges, ModeOff:
		return Mode(s), nil
	}
	return "", fmt.Errorf("classifications %q: want all, changes or off", s)
}

// DefaultMinFrames is events.min_frames when unset.
const DefaultMinFrames = 3

// DefaultUpdateInterval is the shortest time between two update messages
// of one event when Options.UpdateInterval is zero.
const DefaultUpdateInterval = time.Second

// Options configure a [Tracker] for one camera.
type Options struct {
	// Device is the daemon's device name (required), put in
	// classification payloads whose Device is empty.
	Device string
	// Camera is the camera name; it starts every topic.
	Camera string
	// Classifications is the mqtt.classifications mode ("" = all).
	Classifications Mode
	// MaxRate is mqtt.max_rate: at most this many classification messages
	// per second of frame time: time is cut into slots of 1/MaxRate
	// seconds and a message takes the first frame of each slot (so two
	// messages can be closer than 1/MaxRate by the frames' jitter, but
	// never more than one per slot). 0 means no limit. It applies to
	// classifications only: state, events and snapshots are never
	// rate limited (see UpdateInterval for event updates).
	MaxRate float64
	// Top, when > 0, keeps only the Top best labels in classification
	// payloads (mqtt.top). State and events always use every label, so
	// give Update the full list.
	Top int
	// MinFrames is events.min_frames: a label must be top for this many
	// consecutive frames to become the state, and above (below) its
	// threshold for as many to start (end) an event. 0 means 3.
	MinFrames int
	// Threshold is events.threshold, the probability threshold of classes
	// whose label set gives none. 0 (the default) means such classes
	// have no events and no Home Assistant binary sensor.
	Threshold float64
	// UpdateInterval is the shortest time (of frame time) between two
	// messages of one event: an update goes out when the event's
	// top_score rose and at least UpdateInterval passed since its start
	// or previous update; a rise inside the interval is sent at the first
	// frame after it, and the end message always carries the final
	// top_score. 0 means 1 s; negative disables updates.
	UpdateInterval time.Duration
	// Snapshot publishes the JPEG of the frame that started an event on
	// <camera>/snapshot (retained), when Update gets a SnapshotFunc.
	Snapshot bool
	// StateFile, when set, keeps the last event seq across restarts
	// (see [StateFile] for the conventional path).
	StateFile string
	// Log receives persistence problems and dropped payloads; nil
	// discards.
	Log *slog.Logger
	// Now gives the wall clock, used only for the safe seq after a
	// corrupt state file; nil means time.Now.
	Now func() time.Time
}

// Labels is what a tracker needs to know of a label set.
type Labels struct {
	// Name is the label set name, compared with each frame's LabelSet.
	Name string
	// Classes are the class names, in label set order.
	Classes []string
	// Thresholds holds the event threshold (a probability in (0, 1]) of
	// the classes that have one.
	Thresholds map[string]float64
}

// EventClass is a class that has events: its name, its slug (the topic
// level of its active flag and part of its Home Assistant ids) and its
// threshold.
type EventClass struct {
	Name      string
	Slug      string
	Threshold float64
}

// Validate checks l: a name, at least one class, no duplicate or empty
// class, thresholds only for its classes and each in (0, 1].
func (l Labels) Validate() error {
	if l.Name == "" {
		return errors.New("label set: empty name")
	}
	if len(l.Classes) == 0 {
		return fmt.Errorf("label set %q: no classes", l.Name)
	}
	seen := make(map[string]bool, len(l.Classes))
	for i, c := range l.Classes {
		if c == "" {
			return fmt.Errorf("label set %q: classes[%d]: empty name", l.Name, i)
		}
		if seen[c] {
			return fmt.Errorf("label set %q: classes[%d] %q: duplicate", l.Name, i, c)
		}
		seen[c] = true
	}
	for _, c := range slices.Sorted(maps.Keys(l.Thresholds)) {
		th := l.Thresholds[c]
		if !seen[c] {
			return fmt.Errorf("label set %q: threshold for %q: no such class", l.Name, c)
		}
		if !(th > 0 && th <= 1) {
			return fmt.Errorf("label set %q: class %q: threshold %v: must be in (0, 1]", l.Name, c, th)
		}
	}
	return nil
}

// EventClasses returns the classes that have events, in label set order:
// those with a threshold of their own, and all others at def when def > 0.
// Slugs are computed over all classes with [Slugs], so a class keeps its
// slug whatever the thresholds are.
func (l Labels) EventClasses(def float64) []EventClass {
	slugs := Slugs(l.Classes)
	var out []EventClass
	for i, c := range l.Classes {
		th, ok := l.Thresholds[c]
		if !ok {
			if def <= 0 {
				continue
			}
			th = def
		}
		out = append(out, EventClass{Name: c, Slug: slugs[i], Threshold: th})
	}
	return out
}

// SnapshotFunc returns the JPEG of the frame being tracked. Update calls it
// only for a frame that starts an event and only when snapshots are on.
type SnapshotFunc func() ([]byte, error)

// Tracker turns one camera's scored frames into messages: classification,
// state, event, active flags and snapshots. Feed it frames in order with
// [Tracker.Update]; switch label sets with [Tracker.SetLabels]. A Tracker
// is not safe for concurrent use: each camera's frame loop owns its own.
//
// State: the top label of a frame (highest probability; ties go to the
// label that sorts first) becomes the state once it has been top for
// MinFrames consecutive frames; a retained <camera>/state message goes out
// each time the state changes, and after a label set switch.
//
// Events: a class with a threshold (see [Labels.EventClasses]) starts an
// event when its probability is >= its threshold for MinFrames
// consecutive frames (start_time is the first of those frames), and ends
// it when the probability stays below for MinFrames consecutive frames
// (end_time is the first of those). A class missing from a frame counts as
// probability 0. Each event message takes the camera's next seq; the
// retained <camera>/<slug>/active flag is ON from start to end.
type Tracker struct {
	opts Options
	log  *slog.Logger

	labels  Labels
	hasSet  bool
	classes []*track

	// classifications
	lastTop   string
	published bool
	interval  time.Duration // 1/MaxRate
	next      time.Time     // earliest time of the next classification
	scheduled bool

	// state
	cand      string
	candCount int
	candSince time.Time
	state     string
	stateSet  bool

	seq          uint64
	persistFails uint64

	probs map[string]float64
}

// track is the event state of one class.
type track struct {
	EventClass
	above, below int
	streakStart  time.Time
	streakTop    float64
	belowStart   time.Time

	open     bool
	id       string
	start    time.Time
	top      float64
	lastSent time.Time
	pending  bool
}

// New returns a tracker for opts.Camera. With opts.StateFile set it reads
// the last seq from it (a missing file starts at 0; a corrupt one is
// logged with its path and the reason and starts from a safe value, the
// Unix time in milliseconds) and writes it back at once, so an unwritable
// state directory is an error here rather than on the first event.
// Call [Tracker.SetLabels] before the first frame; until then frames give
// classification messages only.
func New(opts Options) (*Tracker, error) {
	if err := publish.ValidateSegment(opts.Camera); err != nil {
		return nil, fmt.Errorf("events: camera: %w", err)
	}
	if err := publish.ValidateSegment(opts.Device); err != nil {
		return nil, fmt.Errorf("events: camera %s: device: %w", opts.Camera, err)
	}
	mode, err := ParseMode(string(opts.Classifications))
	if err != nil {
		return nil, fmt.Errorf("events: camera %s: %w", opts.Camera, err)
	}
	opts.Classifications = mode
	if !(opts.MaxRate >= 0) || math.IsInf(opts.MaxRate, 0) {
		return nil, fmt.Errorf("events: camera %s: max_rate %v: must be a finite number >= 0", opts.Camera, opts.MaxRate)
	}
	if opts.MinFrames < 0 {
		return nil, fmt.Errorf("events: camera %s: min_frames %d: must be >= 1", opts.Camera, opts.MinFrames)
	}
	if opts.MinFrames == 0 {
		opts.MinFrames = DefaultMinFrames
	}
	if !(opts.Threshold >= 0 && opts.Threshold <= 1) {
		return nil, fmt.Errorf("events: camera %s: threshold %v: must be in [0, 1] (0: no events for classes without a threshold)", opts.Camera, opts.Threshold)
	}
	if opts.Top < 0 {
		return nil, fmt.Errorf("events: camera %s: top %d: must be >= 0", opts.Camera, opts.Top)
	}
	if opts.UpdateInterval == 0 {
		opts.UpdateInterval = DefaultUpdateInterval
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := &Tracker{opts: opts, log: log, probs: map[string]float64{}}
	if opts.MaxRate > 0 {
		t.interval = time.Duration(min(float64(time.Second)/opts.MaxRate, float64(24*time.Hour)))
	}
	if opts.StateFile != "" {
		seq, note := loadSeq(opts.StateFile, opts.Now())
		if note != nil {
			log.Error("event seq state unreadable, restarting seq from a safe value", "camera", opts.Camera, "err", note, "seq", seq)
		}
		if err := saveSeq(opts.StateFile, opts.Camera, seq); err != nil {
			return nil, fmt.Errorf("events: camera %s: %w", opts.Camera, err)
		}
		t.seq = seq
	}
	return t, nil
}

// LabelSet returns the name of the current label set ("" before
// SetLabels). The frame loop compares it with the set it scores with to
// know when to call SetLabels.
func (t *Tracker) LabelSet() string { return t.labels.Name }

// Seq returns the seq of the last event message (0 before the first).
func (t *Tracker) Seq() uint64 { return t.seq }

// PersistFailures counts state file writes that failed (each is logged).
func (t *Tracker) PersistFailures() uint64 { return t.persistFails }

// State returns the current state label ("" before one is decided).
func (t *Tracker) State() string {
	if !t.stateSet {
		return ""
	}
	return t.state
}

// Open returns the classes with an open event, in label set order.
func (t *Tracker) Open() []string {
	var out []string
	for _, c := range t.classes {
		if c.open {
			out = append(out, c.Name)
		}
	}
	return out
}

// SetLabels switches the tracker to label set l at time now (the first
// call sets the initial one). Every open event of the previous set ends
// (end_time now) and its active flag goes OFF; the state is forgotten
// so that the new set's first state is published even if its label is
// the same; the classification "changes" mode publishes the next frame.
// It returns those messages followed by an OFF active flag for every
// event class of l, so Home Assistant's binary sensors start known. An
// invalid l is an error and changes nothing.
func (t *Tracker) SetLabels(l Labels, now time.Time) ([]Message, error) {
	if err := l.Validate(); err != nil {
		return nil, fmt.Errorf("events: camera %s: %w", t.opts.Camera, err)
	}
	var out []Message
	ended := false
	for _, c := range t.classes {
		if c.open {
			out = t.end(out, c, now)
			ended = true
		}
	}
	t.labels = Labels{Name: l.Name, Classes: slices.Clone(l.Classes), Thresholds: maps.Clone(l.Thresholds)}
	t.hasSet = true
	t.classes = t.classes[:0]
	for _, ec := range l.EventClasses(t.opts.Threshold) {
		t.classes = append(t.classes, &track{EventClass: ec})
		out = append(out, t.active(ec.Slug, false))
	}
	t.cand, t.candCount, t.stateSet = "", 0, false
	t.published = false
	if ended {
		out = t.persist(out)
	}
	return out, nil
}

// Update feeds the next scored frame c (its Labels carry every class's
// probability; c.Time is the frame time) and returns the messages it
// causes, in publishing order: classification, state, event messages with
// their active flags and snapshot. snap may be nil. An empty c.Camera or
// c.Device is filled from the options. A frame scored against another
// label set than the current one (in flight during a switch) gives its
// classification only.
func (t *Tracker) Update(c publish.Classification, snap SnapshotFunc) []Message {
	if c.Camera == "" {
		c.Camera = t.opts.Camera
	}
	if c.Device == "" {
		c.Device = t.opts.Device
	}
	var out []Message
	clear(t.probs)
	top, topP := "", math.Inf(-1)
	for _, l := range c.Labels {
		p := l.Probability
		if math.IsNaN(p) || math.IsInf(p, 0) {
			p = 0 // the classification message reports it; state and events ignore it
		}
		t.probs[l.Label] = p
		if p > topP || (p == topP && l.Label < top) {
			top, topP = l.Label, p
		}
	}
	out = t.classification(out, c, top)
	if !t.hasSet || c.LabelSet != t.labels.Name {
		return out
	}
	out = t.updateState(out, c, top)
	nEvents := 0
	for _, tr := range t.classes {
		before := len(out)
		out = t.updateClass(out, tr, c.Time, t.probs[tr.Name], snap)
		nEvents += len(out) - before
	}
	if nEvents > 0 {
		out = t.persist(out)
	}
	return out
}

func (t *Tracker) classification(out []Message, c publish.Classification, top string) []Message {
	switch t.opts.Classifications {
	case ModeOff:
		return out
	case ModeChanges:
		if t.published && top == t.lastTop {
			return out
		}
	}
	if t.interval > 0 {
		// One slot per interval: a frame takes the slot it falls in, so
		// the long-run rate is MaxRate even when frames jitter. After an
		// idle slot, or a clock that went back, the schedule restarts.
		if !t.scheduled || c.Time.Sub(t.next) >= t.interval || t.next.Sub(c.Time) > t.interval {
			t.next, t.scheduled = c.Time, true
		}
		if c.Time.Before(t.next) {
			return out
		}
		t.next = t.next.Add(t.interval)
	}
	if t.opts.Top > 0 && len(c.Labels) > t.opts.Top {
		ls := slices.Clone(c.Labels)
		slices.SortStableFunc(ls, func(a, b publish.LabelScore) int { return cmp.Compare(b.Score, a.Score) })
		c.Labels = ls[:t.opts.Top]
	}
	payload, err := c.MarshalJSON()
	if err != nil {
		t.log.Warn("classification not published", "camera", t.opts.Camera, "frame", c.Frame, "err", err)
		return out
	}
	t.published, t.lastTop = true, top
	return append(out, Message{
		Topic:   CameraTopic(t.opts.Camera, SuffixClassification),
		Payload: payload,
		Class:   ClassClassification,
	})
}

// StatePayload is the JSON of <camera>/state.
type StatePayload struct {
	// Label is the state label.
	Label string `json:"label"`
	// Probability is the label's probability in the frame that made it
	// the state.
	Probability float64 `json:"probability"`
	// Since is the time of the first of the MinFrames frames it was top in.
	Since string `json:"since"`
	// Time is the time of the frame that made it the state.
	Time string `json:"time"`
	// Camera and LabelSet say where it comes from.
	Camera   string `json:"camera"`
	LabelSet string `json:"label_set"`
	// Scores maps every label to its probability in that frame (Home
	// Assistant's attributes).
	Scores map[string]float64 `json:"scores"`
}

func (t *Tracker) updateState(out []Message, c publish.Classification, top string) []Message {
	if top == "" {
		t.cand, t.candCount = "", 0
		return out
	}
	if top == t.cand {
		t.candCount++
	} else {
		t.cand, t.candCount, t.candSince = top, 1, c.Time
	}
	if t.candCount < t.opts.MinFrames || (t.stateSet && t.state == t.cand) {
		return out
	}
	t.state, t.stateSet = t.cand, true
	scores := make(map[string]float64, len(t.probs))
	for k, v := range t.probs {
		scores[k] = v
	}
	payload, err := marshal(StatePayload{
		Label:       t.state,
		Probability: t.probs[t.state],
		Since:       formatTime(t.candSince),
		Time:        formatTime(c.Time),
		Camera:      t.opts.Camera,
		LabelSet:    t.labels.Name,
		Scores:      scores,
	})
	if err != nil {
		t.log.Warn("state not published", "camera", t.opts.Camera, "frame", c.Frame, "err", err)
		return out
	}
	return append(out, Message{Topic: CameraTopic(t.opts.Camera, SuffixState), Payload: payload, Retained: true, Class: ClassState})
}

// Event types.
const (
	EventStart  = "start"
	EventUpdate = "update"
	EventEnd    = "end"
)

// EventPayload is the JSON of <camera>/event.
type EventPayload struct {
	// Type is "start", "update" or "end".
	Type string `json:"type"`
	// ID identifies the event: <start unix ms>-<camera>-<slug>-<seq of
	// its start>; all messages of one event share it.
	ID string `json:"id"`
	// Seq is the camera's event message counter: +1 per message, kept
	// across restarts with a state file. Subscribers drop a message whose
	// seq they have already seen (a QoS 1 duplicate).
	Seq      uint64 `json:"seq"`
	Camera   string `json:"camera"`
	Label    string `json:"label"`
	LabelSet string `json:"label_set"`
	// StartTime is the time of the first frame at or above the threshold.
	StartTime string `json:"start_time"`
	// EndTime is the time of the first frame below it, null until the end.
	EndTime *string `json:"end_time"`
	// TopScore is the highest probability seen so far in the event.
	TopScore float64 `json:"top_score"`
	// Threshold is the class's threshold.
	Threshold float64 `json:"threshold"`
}

func (t *Tracker) updateClass(out []Message, tr *track, now time.Time, p float64, snap SnapshotFunc) []Message {
	if p >= tr.Threshold {
		tr.below = 0
		if tr.open {
			if p > tr.top {
				tr.top, tr.pending = p, true
			}
		} else {
			if tr.above == 0 {
				tr.streakStart, tr.streakTop = now, p
			}
			tr.above++
			tr.streakTop = max(tr.streakTop, p)
			if tr.above >= t.opts.MinFrames {
				out = t.start(out, tr, now, snap)
			}
		}
	} else {
		tr.above = 0
		if tr.open {
			if tr.below == 0 {
				tr.belowStart = now
			}
			tr.below++
			if tr.below >= t.opts.MinFrames {
				return t.end(out, tr, tr.belowStart)
			}
		}
	}
	if tr.open && tr.pending && t.opts.UpdateInterval > 0 && now.Sub(tr.lastSent) >= t.opts.UpdateInterval {
		tr.pending, tr.lastSent = false, now
		out = t.event(out, tr, EventUpdate, nil)
	}
	return out
}

func (t *Tracker) start(out []Message, tr *track, now time.Time, snap SnapshotFunc) []Message {
	tr.open, tr.start, tr.top, tr.lastSent, tr.pending = true, tr.streakStart, tr.streakTop, now, false
	tr.above, tr.below = 0, 0
	tr.id = fmt.Sprintf("%d-%s-%s-%d", tr.start.UnixMilli(), t.opts.Camera, tr.Slug, t.seq+1)
	out = t.event(out, tr, EventStart, nil)
	out = append(out, t.active(tr.Slug, true))
	if t.opts.Snapshot && snap != nil {
		jpeg, err := snap()
		switch {
		case err != nil:
			t.log.Warn("event snapshot not published", "camera", t.opts.Camera, "event", tr.id, "err", err)
		case len(jpeg) == 0:
			t.log.Warn("event snapshot not published", "camera", t.opts.Camera, "event", tr.id, "err", "empty JPEG")
		default:
			out = append(out, Message{Topic: CameraTopic(t.opts.Camera, SuffixSnapshot), Payload: jpeg, Retained: true, Class: ClassSnapshot})
		}
	}
	return out
}

func (t *Tracker) end(out []Message, tr *track, at time.Time) []Message {
	end := formatTime(at)
	out = t.event(out, tr, EventEnd, &end)
	tr.open, tr.above, tr.below, tr.pending = false, 0, 0, false
	return append(out, t.active(tr.Slug, false))
}

func (t *Tracker) event(out []Message, tr *track, typ string, end *string) []Message {
	t.seq++
	payload, err := marshal(EventPayload{
		Type:      typ,
		ID:        tr.id,
		Seq:       t.seq,
		Camera:    t.opts.Camera,
		Label:     tr.Name,
		LabelSet:  t.labels.Name,
		StartTime: formatTime(tr.start),
		EndTime:   end,
		TopScore:  tr.top,
		Threshold: tr.Threshold,
	})
	if err != nil { // cannot happen: Update made the probabilities finite
		t.log.Error("event not published", "camera", t.opts.Camera, "event", tr.id, "err", err)
		return out
	}
	return append(out, Message{Topic: CameraTopic(t.opts.Camera, SuffixEvent), Payload: payload, Class: ClassEvent})
}

func (t *Tracker) active(slug string, on bool) Message {
	return Message{Topic: ActiveTopic(t.opts.Camera, slug), Payload: onOff(on), Retained: true, Class: ClassState}
}

// persist saves the seq (when a state file is set) before the messages
// that used it leave, so a crash cannot reuse a seq.
func (t *Tracker) persist(out []Message) []Message {
	if t.opts.StateFile == "" {
		return out
	}
	if err := saveSeq(t.opts.StateFile, t.opts.Camera, t.seq); err != nil {
		t.persistFails++
		t.log.Error("event seq not persisted", "camera", t.opts.Camera, "seq", t.seq, "err", err)
	}
	return out
}

func onOff(on bool) []byte {
	if on {
		return []byte("ON")
	}
	return []byte("OFF")
}

// formatTime formats a time like publish.TimeLayout (UTC, milliseconds).
func formatTime(t time.Time) string { return t.UTC().Format(publish.TimeLayout) }

// marshal encodes v as compact JSON without HTML escaping and without a
// trailing newline.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
