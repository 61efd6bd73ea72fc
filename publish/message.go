package publish

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"
)

// TimeLayout is the layout of the "time" field of published messages:
// RFC 3339 in UTC with milliseconds, e.g. 2026-11-29T08:30:00.123Z.
const TimeLayout = "2006-01-02T15:04:05.000Z07:00"

// Classification is the result of scoring one frame against one label set,
// published on <prefix>/<device>/<camera>/classification. Its JSON form has
// the fields in this order:
//
//	{"device":"edge-1","camera":"demo","frame":17,"time":"2026-11-29T08:30:00.123Z",
//	 "label_set":"colours","method":"autoclip",
//	 "labels":[{"label":"red","score":0.31,"probability":0.93},...],
//	 "weights":{...}}
//
// with labels sorted by score, best first, and "weights" left out when nil.
type Classification struct {
	// Device is the daemon's device name; PublishClassification fills it in
	// when empty.
	Device string
	// Camera is the camera name, a topic segment.
	Camera string
	// Frame is the camera's frame sequence number.
	Frame uint64
	// Time is the capture time; it is published in UTC with milliseconds.
	Time time.Time
	// LabelSet names the label set the frame was scored against.
	LabelSet string
	// Method is the scoring method ("autoclip", "uniform", "mean-embedding").
	Method string
	// Labels holds one score per class, in any order: MarshalJSON sorts.
	Labels []LabelScore
	// Weights optionally describes the template weights (AutoCLIP).
	Weights *Weights
}

// LabelScore is one class's result: its score (the weighted cosine
// similarity) and its probability (softmax over classes).
type LabelScore struct {
	Label       string  `json:"label"`
	Score       float64 `json:"score"`
	Probability float64 `json:"probability"`
}

// Weights describes the per-frame template weights AutoCLIP chose: the
// entropy of the whole weight vector in bits, the number of templates (so
// that log2(Count) is the maximum entropy), and the templates with the
// largest weights, largest first.
type Weights struct {
	EntropyBits float64          `json:"entropy_bits"`
	Count       int              `json:"count"`
	Top         []TemplateWeight `json:"top"`
}

// TemplateWeight is one prompt template (e.g. "a photo of a {}.") and its
// weight.
type TemplateWeight struct {
	Template string  `json:"template"`
	Weight   float64 `json:"weight"`
}

// classificationJSON fixes the field order and names of the wire format.
type classificationJSON struct {
	Device   string       `json:"device"`
	Camera   string       `json:"camera"`
	Frame    uint64       `json:"frame"`
	Time     string       `json:"time"`
	LabelSet string       `json:"label_set"`
	Method   string       `json:"method"`
	Labels   []LabelScore `json:"labels"`
	Weights  *Weights     `json:"weights,omitempty"`
}

// MarshalJSON encodes m in the wire format described on [Classification]:
// fields in a fixed order, time in UTC with milliseconds, labels sorted by
// score (best first, ties keep their order), top template weights sorted
// largest first, "weights" left out when nil or all zero, HTML characters
// not escaped. It does not modify m. Non-finite numbers are an error that
// names the label or template.
func (m Classification) MarshalJSON() ([]byte, error) {
	if y := m.Time.UTC().Year(); y < 0 || y > 9999 {
		return nil, fmt.Errorf("classification %s/%s frame %d: time %s: year outside 0000-9999", m.Device, m.Camera, m.Frame, m.Time)
	}
	labels := slices.Clone(m.Labels)
	if labels == nil {
		labels = []LabelScore{}
	}
	for i, l := range labels {
		if !finite(l.Score) || !finite(l.Probability) {
			return nil, fmt.Errorf("classification %s/%s frame %d: labels[%d] %q: score %v, probability %v: not finite", m.Device, m.Camera, m.Frame, i, l.Label, l.Score, l.Probability)
		}
	}
	slices.SortStableFunc(labels, func(a, b LabelScore) int { return cmp.Compare(b.Score, a.Score) })
	w := m.Weights
	if w != nil && w.Count == 0 && len(w.Top) == 0 && w.EntropyBits == 0 {
		w = nil // empty: left out
	}
	if w != nil {
		if !finite(w.EntropyBits) {
			return nil, fmt.Errorf("classification %s/%s frame %d: weights.entropy_bits %v: not finite", m.Device, m.Camera, m.Frame, w.EntropyBits)
		}
		top := slices.Clone(w.Top)
		if top == nil {
			top = []TemplateWeight{}
		}
		for i, t := range top {
			if !finite(t.Weight) {
				return nil, fmt.Errorf("classification %s/%s frame %d: weights.top[%d] %q: weight %v: not finite", m.Device, m.Camera, m.Frame, i, t.Template, t.Weight)
			}
		}
		slices.SortStableFunc(top, func(a, b TemplateWeight) int { return cmp.Compare(b.Weight, a.Weight) })
		w = &Weights{EntropyBits: w.EntropyBits, Count: w.Count, Top: top}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // "cats & dogs" stays readable
	if err := enc.Encode(classificationJSON{
		Device:   m.Device,
		Camera:   m.Camera,
		Frame:    m.Frame,
		Time:     m.Time.UTC().Format(TimeLayout),
		LabelSet: m.LabelSet,
		Method:   m.Method,
		Labels:   labels,
		Weights:  w,
	}); err != nil {
		return nil, fmt.Errorf("classification %s/%s frame %d: %w", m.Device, m.Camera, m.Frame, err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }
