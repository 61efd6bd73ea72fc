package inference

import (
	"fmt"
	"strings"
	"testing"
)

// TestTextEncodeKeepsOrder encodes more prompts than one batch holds, of
// mixed lengths (so they are sorted by length into batches), and checks that
// each embedding comes back at its prompt's index: equal to the prompt
// encoded alone.
func TestTextEncodeKeepsOrder(t *testing.T) {
	rt := openRuntime(t)
	m, err := LoadModel(rt, demoModel(t), Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	colours := []string{"red", "green", "blue", "yellow", "white", "black", "purple"}
	var prompts []string
	for i := range 2*textBatch + 5 {
		c := colours[i%len(colours)]
		prompts = append(prompts, fmt.Sprintf("a photo of something %s%s.", c, strings.Repeat(" in the rain", (i*7)%5)))
	}
	order := m.Text.batchOrder(prompts)
	sorted := true
	for i := range order {
		sorted = sorted && order[i] == i
	}
	if sorted {
		t.Fatal("prompts of mixed lengths were not reordered; the test proves nothing")
	}
	all, err := m.Text.Encode(prompts)
	if err != nil {
		t.Fatal(err)
	}
	d := m.Text.Dim()
	if len(all) != len(prompts)*d {
		t.Fatalf("%d values, want %d", len(all), len(prompts)*d)
	}
	for i, p := range prompts {
		one, err := m.Text.Encode([]string{p})
		if err != nil {
			t.Fatal(err)
		}
		if c := dot(one, all[i*d:(i+1)*d]); c < 0.99999 {
			t.Errorf("prompt %d %q: cosine %v to itself encoded alone", i, p, c)
		}
	}
}
