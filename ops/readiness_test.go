package ops

import (
	"strings"
	"testing"
	"time"
)

func TestReadyWindow(t *testing.T) {
	for _, tc := range []struct {
		fps  float64
		want time.Duration
	}{
		{10, 300 * time.Millisecond},
		{1, 3 * time.Second},
		{0.5, 6 * time.Second},
		{30, 100 * time.Millisecond},
		{0, UnlimitedFPSWindow},
		{-1, UnlimitedFPSWindow},
	} {
		if got := ReadyWindow(tc.fps); got != tc.want {
			t.Errorf("ReadyWindow(%v) = %v, want %v", tc.fps, got, tc.want)
		}
	}
}

func TestCheckReady(t *testing.T) {
	now := t0
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	for _, tc := range []struct {
		name string
		cams []CameraStatus
		want []string // substrings of the error, one per failing camera; nil = ready
	}{
		{name: "no cameras", cams: nil},
		{name: "all fresh", cams: []CameraStatus{
			{Name: "yard", FPS: 10, LastScored: ago(100 * time.Millisecond), Enabled: true},
			{Name: "door", FPS: 1, LastScored: ago(2 * time.Second), Enabled: true},
		}},
		{name: "exactly at the window is ready", cams: []CameraStatus{
			{Name: "yard", FPS: 10, LastScored: ago(300 * time.Millisecond), Enabled: true},
		}},
		{name: "just past the window", cams: []CameraStatus{
			{Name: "yard", FPS: 10, LastScored: ago(301 * time.Millisecond), Enabled: true},
		}, want: []string{`camera "yard": last frame scored 301ms ago, more than 3/fps = 300ms (fps 10)`}},
		{name: "never scored", cams: []CameraStatus{
			{Name: "yard", FPS: 5, Enabled: true},
		}, want: []string{`camera "yard": no frame scored yet`}},
		{name: "disabled stale camera is ignored", cams: []CameraStatus{
			{Name: "yard", FPS: 10, LastScored: ago(time.Second), Enabled: true},
			{Name: "door", FPS: 10, Enabled: false},
		}, want: []string{`camera "yard"`}},
		{name: "all disabled is ready", cams: []CameraStatus{
			{Name: "door", FPS: 10, Enabled: false},
		}},
		{name: "unlimited fps uses 3 s", cams: []CameraStatus{
			{Name: "ok", FPS: 0, LastScored: ago(2900 * time.Millisecond), Enabled: true},
			{Name: "late", FPS: 0, LastScored: ago(3100 * time.Millisecond), Enabled: true},
		}, want: []string{`camera "late": last frame scored 3.1s ago, more than 3/fps = 3s (fps 0)`}},
		{name: "every failing camera is named", cams: []CameraStatus{
			{Name: "a", FPS: 2, LastScored: ago(time.Minute), Enabled: true},
			{Name: "b", FPS: 2, LastScored: ago(time.Second), Enabled: true},
			{Name: "c", FPS: 2, Enabled: true},
		}, want: []string{`camera "a": last frame scored 1m0s ago`, `camera "c": no frame scored yet`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckReady(tc.cams, now)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("CheckReady = %v, want ready", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("CheckReady = nil, want errors %q", tc.want)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tc.want) {
				t.Fatalf("CheckReady = %q, want %d lines", err, len(tc.want))
			}
			for i, w := range tc.want {
				if !strings.Contains(lines[i], w) {
					t.Errorf("line %d = %q, want it to contain %q", i, lines[i], w)
				}
			}
		})
	}
}

// TestCheckReadyFromCameraHandles wires the rule to the metrics handles the
// way the daemon does.
func TestCheckReadyFromCameraHandles(t *testing.T) {
	_, m, clock := newTestMetrics(t)
	yard := m.Camera("yard")
	status := func() error {
		return CheckReady([]CameraStatus{yard.Status(10)}, clock.Now())
	}
	if err := status(); err == nil {
		t.Fatal("ready before the first scored frame")
	}
	yard.FrameScored(clock.Now())
	if err := status(); err != nil {
		t.Fatalf("not ready right after a scored frame: %v", err)
	}
	clock.Advance(time.Second)
	if err := status(); err == nil {
		t.Fatal("still ready 1 s after the last frame at 10 fps")
	}
	yard.SetEnabled(false)
	if err := status(); err != nil {
		t.Fatalf("a disabled camera blocks readiness: %v", err)
	}
}
