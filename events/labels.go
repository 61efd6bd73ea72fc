package events

import "github.com/autoclipd/autoclipd/config"

// LabelsFrom converts a loaded label set into what a [Tracker] and
// [Discovery] need: its name, class names in file order and the thresholds
// of the classes that set one.
func LabelsFrom(set *config.LabelSet) Labels {
	l := Labels{Name: set.Name, Classes: set.ClassNames()}
	for _, c := range set.Classes {
		if c.Threshold > 0 {
			if l.Thresholds == nil {
				l.Thresholds = map[string]float64{}
			}
			l.Thresholds[c.Name] = c.Threshold
		}
	}
	return l
}
