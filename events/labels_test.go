package events

import (
	"reflect"
	"testing"

	"github.com/autoclipd/autoclipd/config"
)

func TestLabelsFrom(t *testing.T) {
	set := &config.LabelSet{Name: "yard", Classes: []config.Class{
		{Name: "person", Aliases: []string{"pedestrian"}, Threshold: 0.6},
		{Name: "car"},
		{Name: "fox", Threshold: 1},
	}}
	got := LabelsFrom(set)
	want := Labels{Name: "yard", Classes: []string{"person", "car", "fox"}, Thresholds: map[string]float64{"person": 0.6, "fox": 1}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("LabelsFrom = %+v, want %+v", got, want)
	}
	if err := got.Validate(); err != nil {
		t.Error(err)
	}
	// A .txt set has no thresholds.
	if got := LabelsFrom(&config.LabelSet{Name: "colours", Classes: []config.Class{{Name: "red"}}}); got.Thresholds != nil || len(got.EventClasses(0)) != 0 {
		t.Errorf("txt set: %+v", got)
	}
}
