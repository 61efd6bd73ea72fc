package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/autoclipd/autoclipd/capture"
	"github.com/autoclipd/autoclipd/modelgen"
)

// Demo video geometry: each colour is shown for demoSegmentFrames frames at
// demoFPS, so a colour lasts two seconds and is scored ten times at fps 5.
const (
	demoWidth         = 320
	demoHeight        = 240
	demoFPS           = 10
	demoSegmentFrames = 20
)

const demoConfig = `# autoclipd demo: a generated colour model on a generated video.
# Written by 'autoclipd demo'; see README.md for a real CLIP model.
device: edge-1
model:
  dir: model
  onnxruntime: ""
  providers: [cpu]            # the demo model is tiny: no GPU needed
cameras:
  - name: demo
    source: colours.avi
    loop: true
    fps: 5
    labels: colours
labels:
  dir: labels
mqtt:
  url: embedded
  topic_prefix: autoclipd
autoclip:
  beta: 0.85
`

func cmdDemo(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("demo", stderr)
	out := fs.String("out", "demo", "folder to write the demo into")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := writeDemo(*out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "demo written to %s; run: autoclipd run --config %s\n", *out, filepath.Join(*out, "config.yaml"))
	return nil
}

// writeDemo writes the demo model, video, label file and config into dir.
func writeDemo(dir string) error {
	if err := os.MkdirAll(filepath.Join(dir, "labels"), 0o755); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if err := modelgen.WriteDemoModel(filepath.Join(dir, "model")); err != nil {
		return fmt.Errorf("demo model: %w", err)
	}
	colours := modelgen.DemoColours()
	segs := make([]capture.ColourSegment, len(colours))
	names := make([]string, len(colours))
	for i, c := range colours {
		segs[i] = capture.ColourSegment{BGR: c.BGR, Frames: demoSegmentFrames}
		names[i] = c.Name
	}
	if err := capture.WriteColourVideo(filepath.Join(dir, "colours.avi"), demoWidth, demoHeight, demoFPS, segs); err != nil {
		return fmt.Errorf("demo video: %w", err)
	}
	labels := "# The demo label set: one class per line.\n" + strings.Join(names, "\n") + "\n"
	if err := os.WriteFile(filepath.Join(dir, "labels", "colours.txt"), []byte(labels), 0o644); err != nil {
		return fmt.Errorf("demo labels: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(demoConfig), 0o644); err != nil {
		return fmt.Errorf("demo config: %w", err)
	}
	return nil
}
