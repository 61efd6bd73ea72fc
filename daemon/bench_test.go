package daemon

import (
	"context"
	"testing"
	"time"

	"github.com/autoclipd/autoclipd/autoclip"
	"github.com/autoclipd/autoclipd/config"
	"github.com/autoclipd/autoclipd/events"
	"github.com/autoclipd/autoclipd/inference/preprocess"
	"github.com/autoclipd/autoclipd/modelgen"
	"github.com/autoclipd/autoclipd/publish"
)

// BenchmarkFrame is one frame's steady-state work after capture, on the
// real demo encoder: preprocessing straight into the encoder's input
// tensor, encoding, AutoCLIP scoring with the default templates, the label
// list and the event tracker's messages (classification JSON, state,
// events). Its allocs/op are the per-frame heap allocations.
func BenchmarkFrame(b *testing.B) {
	m := loadDemo(b, 1)
	var classes []config.Class
	for _, c := range modelgen.DemoColours() {
		classes = append(classes, config.Class{Name: c.Name})
	}
	tmpl, _ := config.TemplateSet(config.DefaultTemplates)
	set := &config.LabelSet{Name: "colours", Path: "colours.txt", Classes: classes, Templates: tmpl}
	ls, err := EncodeLabelSet(set, m.Text, nil, autoclip.DefaultOptions())
	if err != nil {
		b.Fatal(err)
	}
	batcher := NewBatcher(m.Image, 0, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = batcher.Run(ctx) }()
	unreg := batcher.Register()
	defer unreg()
	pre, err := preprocess.New(m.Preprocess)
	if err != nil {
		b.Fatal(err)
	}
	tr, err := events.New(events.Options{Device: "dev", Camera: "cam", Top: 5})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := tr.SetLabels(ls.EventLabels(), time.Now()); err != nil {
		b.Fatal(err)
	}
	f := solidFrame(modelgen.DemoColours()[0].BGR, 640, 480)
	emb := make([]float32, m.Image.Dim())
	h, w := pre.OutputSize()
	in := make([]float32, 3*h*w)
	ws := ls.Classifier.NewWorkspace(1)
	var all []int
	now := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := pre.Run(in, f.Data, f.Width, f.Height, 3*f.Width, preprocess.BGR); err != nil {
			b.Fatal(err)
		}
		if _, err := batcher.Embed(ctx, in, emb); err != nil {
			b.Fatal(err)
		}
		res, err := ls.Classifier.Classify(ws, emb, 1)
		if err != nil {
			b.Fatal(err)
		}
		msg := publish.Classification{Camera: "cam", Frame: uint64(i + 1), Time: now.Add(time.Duration(i) * 100 * time.Millisecond), LabelSet: "colours", Method: "autoclip"}
		msg.Labels, all = ls.Labels(res[0], len(set.Classes), all)
		if len(tr.Update(msg, nil)) == 0 {
			b.Fatal("no message")
		}
	}
}
