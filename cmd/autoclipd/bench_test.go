package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/autoclipd/autoclipd/capture"
	"github.com/autoclipd/autoclipd/modelgen"
)

// TestBenchCommand runs `bench --json` briefly on the demo model and a
// generated 1280x720 Motion JPEG video: every figure of the report is there
// and consistent. (Speed is reported, never asserted.)
func TestBenchCommand(t *testing.T) {
	lib := os.Getenv("ORT_LIB")
	if lib == "" {
		t.Fatal("ORT_LIB is not set: run the tests with `make test`")
	}
	dir := t.TempDir()
	model := filepath.Join(dir, "model")
	if err := modelgen.WriteDemoModel(model); err != nil {
		t.Fatal(err)
	}
	const w, h = 1280, 720
	video := filepath.Join(dir, "v.avi")
	err := capture.WriteVideo(video, w, h, 10, 8, func(i int, bgr []byte) {
		for p := 0; p < len(bgr); p += 3 {
			x := p / 3 % w
			bgr[p], bgr[p+1], bgr[p+2] = byte(x+i*8), byte(x/5), 90
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		scale string
		batch int
	}{{"auto", 1}, {"1", 1}, {"auto", 2}} {
		scale := tc.scale
		t.Run(fmt.Sprintf("decode_scale=%s/batch=%d", scale, tc.batch), func(t *testing.T) {
			out, errOut, code := runCmd(t, "", "bench", "--model", model, "--video", video, "--seconds", "0.6", "--slot", "200ms",
				"--batch", fmt.Sprint(tc.batch), "--onnxruntime", lib, "--providers", "cpu", "--cache", filepath.Join(dir, "cache"), "--decode-scale", scale, "--json")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			var rep struct {
				Model       string  `json:"model"`
				Provider    string  `json:"provider"`
				Batch       int     `json:"batch"`
				DecodeScale string  `json:"decode_scale"`
				BareFPS     float64 `json:"bare_fps"`
				PipelineFPS float64 `json:"pipeline_fps"`
				Ratio       float64 `json:"ratio"`
				Stages      map[string]struct {
					P50 *float64 `json:"p50_ms"`
					P99 *float64 `json:"p99_ms"`
				} `json:"stages"`
				TextRate float64 `json:"text_prompts_per_s"`
				PeakRSS  int64   `json:"peak_rss_bytes"`
				Frames   int     `json:"frames"`
				RSSStart int64   `json:"rss_start_bytes"`
				RSSEnd   int64   `json:"rss_end_bytes"`
				Slots    int     `json:"slots"`
				RSSEvery []int64 `json:"rss_every_1000_frames"`
				GoEvery  []int64 `json:"go_mapped_every_1000_frames"`
			}
			dec := json.NewDecoder(strings.NewReader(out))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&rep); err != nil {
				t.Fatalf("%v in %s", err, out)
			}
			t.Logf("%s", out)
			switch {
			case rep.Model != model || rep.Batch != tc.batch || rep.DecodeScale != scale || rep.Provider != "cpu":
				t.Errorf("model %q batch %d decode_scale %q provider %q", rep.Model, rep.Batch, rep.DecodeScale, rep.Provider)
			case !(rep.BareFPS > 0) || !(rep.PipelineFPS > 0) || rep.Frames < 1:
				t.Errorf("bare %v fps, pipeline %v fps over %d frames", rep.BareFPS, rep.PipelineFPS, rep.Frames)
			case math.Abs(rep.Ratio-rep.PipelineFPS/rep.BareFPS) > 1e-9:
				t.Errorf("ratio %v is not %v / %v", rep.Ratio, rep.PipelineFPS, rep.BareFPS)
			case rep.Slots != 3:
				t.Errorf("%d pipeline slots of 200ms for 0.6s, want 3", rep.Slots)
			case !(rep.TextRate > 0):
				t.Errorf("text encoder %v prompts/s", rep.TextRate)
			case rep.PeakRSS <= 0 || rep.RSSStart <= 0 || rep.RSSEnd <= 0 || rep.PeakRSS < rep.RSSEnd:
				t.Errorf("RSS peak %d, start %d, end %d", rep.PeakRSS, rep.RSSStart, rep.RSSEnd)
			}
			for _, s := range []string{"capture", "preprocess", "encode", "score", "publish"} {
				st, ok := rep.Stages[s]
				if !ok || st.P50 == nil || st.P99 == nil || *st.P50 < 0 || *st.P99 < *st.P50 {
					t.Errorf("stage %s: %+v", s, st)
				}
			}
			if len(rep.Stages) != 5 {
				t.Errorf("%d stages, want 5", len(rep.Stages))
			}
		})
	}
	if _, errOut, code := runCmd(t, "", "bench", "--decode-scale", "3"); code != 2 || !strings.Contains(errOut, "--decode-scale must be auto, 1, 2, 4 or 8, got \"3\"") {
		t.Errorf("--decode-scale 3: exit %d, %s", code, errOut)
	}
}
