package capture

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestNewValidates(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
		kind    sourceKind
	}{
		{name: "video file", cfg: Config{Name: "a", Source: filepath.Join(dir, "x.avi"), Loop: true}, kind: kindFile},
		{name: "existing folder", cfg: Config{Name: "a", Source: dir, Loop: true}, kind: kindFolder},
		{name: "folder by slash", cfg: Config{Name: "a", Source: filepath.Join(dir, "later") + "/"}, kind: kindFolder},
		{name: "device index", cfg: Config{Name: "a", Source: "0", FPS: 2}, kind: kindDevice},
		{name: "device path", cfg: Config{Name: "a", Source: "/dev/video0"}, kind: kindDevice},
		{name: "rtsp", cfg: Config{Name: "a", Source: "rtsp://u:p@cam/stream"}, kind: kindStream},
		{name: "negative fps is no limit", cfg: Config{Name: "a", Source: "0", FPS: -1}, kind: kindDevice},
		{name: "empty name", cfg: Config{Source: "0"},
			wantErr: `capture: camera with source "0": name: empty`},
		{name: "slash in name", cfg: Config{Name: "a/b", Source: "0"},
			wantErr: `capture: camera with source "0": name: "a/b" contains '/'`},
		{name: "empty source", cfg: Config{Name: "yard"},
			wantErr: `capture: camera "yard": source: empty`},
		{name: "bad scheme", cfg: Config{Name: "yard", Source: "ftp://host/x"},
			wantErr: `capture: camera "yard": source: unsupported URL scheme "ftp" (want rtsp, rtsps, http or https)`},
		{name: "loop on stream", cfg: Config{Name: "yard", Source: "rtsp://cam/s", Loop: true},
			wantErr: `capture: camera "yard": loop: only video files and folders can loop, rtsp://cam/s is a stream`},
		{name: "NaN fps", cfg: Config{Name: "yard", Source: "0", FPS: nan()},
			wantErr: `capture: camera "yard": fps: must be a finite number, got NaN`},
		{name: "negative reconnect min", cfg: Config{Name: "yard", Source: "0", ReconnectMin: -time.Second},
			wantErr: `capture: camera "yard": reconnect.min: must be >= 0, got -1s`},
		{name: "negative reconnect max", cfg: Config{Name: "yard", Source: "0", ReconnectMax: -time.Second},
			wantErr: `capture: camera "yard": reconnect.max: must be >= 0, got -1s`},
		{name: "min above max", cfg: Config{Name: "yard", Source: "0", ReconnectMin: 5 * time.Second, ReconnectMax: time.Second},
			wantErr: `capture: camera "yard": reconnect.min: 5s is more than reconnect.max 1s`},
		{name: "poll too fast", cfg: Config{Name: "yard", Source: dir, PollInterval: time.Millisecond},
			wantErr: `capture: camera "yard": poll_interval: must be at least 10ms, got 1ms`},
		{name: "device settings", cfg: Config{Name: "a", Source: "/dev/video0", Width: 1280, Height: 720, FourCC: "MJPG", FPS: 10}, kind: kindDevice},
		{name: "roi and rotate", cfg: Config{Name: "a", Source: "rtsp://cam/s", ROI: ROI{X: .1, Y: .2, W: .9, H: .8}, Rotate: 270}, kind: kindStream},
		{name: "width on a stream", cfg: Config{Name: "yard", Source: "rtsp://u:secret@cam/s", Width: 640},
			wantErr: `capture: camera "yard": width: only V4L2 devices take width, height and fourcc; rtsp://u:xxxxx@cam/s is a stream`},
		{name: "fourcc on a file", cfg: Config{Name: "yard", Source: filepath.Join(dir, "x.avi"), FourCC: "MJPG"},
			wantErr: `capture: camera "yard": fourcc: only V4L2 devices take width, height and fourcc; ` + filepath.Join(dir, "x.avi") + ` is a video file`},
		{name: "negative height", cfg: Config{Name: "yard", Source: "0", Height: -1},
			wantErr: `capture: camera "yard": height: must be >= 0, got -1`},
		{name: "long fourcc", cfg: Config{Name: "yard", Source: "0", FourCC: "MJPEG"},
			wantErr: `capture: camera "yard": fourcc: want 4 printable ASCII characters, got "MJPEG"`},
		{name: "rotate 45", cfg: Config{Name: "yard", Source: "0", Rotate: 45},
			wantErr: `capture: camera "yard": rotate: must be 0, 90, 180 or 270, got 45`},
		{name: "roi too wide", cfg: Config{Name: "yard", Source: "0", ROI: ROI{X: .5, W: .6, H: 1}},
			wantErr: `capture: camera "yard": roi: x+w = 1.1 is more than 1`},
		{name: "roi without size", cfg: Config{Name: "yard", Source: "0", ROI: ROI{X: .5}},
			wantErr: `capture: camera "yard": roi: w must be in (0, 1], got 0`},
		{name: "roi NaN", cfg: Config{Name: "yard", Source: "0", ROI: ROI{X: nan(), W: 1, H: 1}},
			wantErr: `capture: camera "yard": roi: x must be a finite number, got NaN`},
		{name: "roi off the frame", cfg: Config{Name: "yard", Source: "0", ROI: ROI{Y: 1, W: 1, H: 1}},
			wantErr: `capture: camera "yard": roi: y must be in [0, 1), got 1`},
		{name: "stall timeout too short", cfg: Config{Name: "yard", Source: "0", StallTimeout: time.Millisecond},
			wantErr: `capture: camera "yard": stall_timeout: must be at least 100ms, got 1ms`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.cfg, nil)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("New: got error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			var kind sourceKind
			switch s := c.src.(type) {
			case *videoSource:
				kind = s.spec.kind
			case *folderSource:
				kind = s.spec.kind
			}
			if kind != tt.kind {
				t.Errorf("source kind %v, want %v", kind, tt.kind)
			}
			cfg := c.Config()
			if cfg.ReconnectMin != DefaultReconnectMin || cfg.ReconnectMax != DefaultReconnectMax || cfg.PollInterval != DefaultPollInterval ||
				cfg.StallTimeout != DefaultStallTimeout {
				t.Errorf("defaults not filled: %+v", cfg)
			}
		})
	}
}

func nan() float64 { z := 0.0; return z / z }

func TestVideoColoursInOrder(t *testing.T) {
	t.Parallel()
	segs := []ColourSegment{{red, 5}, {green, 5}, {blue, 5}}
	const fps = 30.0
	path := writeColours(t, t.TempDir(), "colours.avi", fps, segs)
	cam := start(t, Config{Name: "c", Source: path}, nil)

	var frames []*Frame
	for {
		f, err := cam.next(t, 3*time.Second)
		if errors.Is(err, ErrFinished) {
			break
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		checkFrameShape(t, f, "c", 64, 48)
		checkColour(t, f, SegmentColour(segs, int(f.Seq-1)), jpegTolerance)
		if n := len(frames); n > 0 && f.Seq <= frames[n-1].Seq {
			t.Fatalf("seq %d after %d", f.Seq, frames[n-1].Seq)
		}
		frames = append(frames, f)
	}
	cam.wait(t, time.Second)
	st := cam.Stats()
	if st.Read != 15 || st.Delivered+st.Skipped != 15 || st.Delivered != uint64(len(frames)) || st.Reconnects != 0 || st.Dropped != 0 {
		t.Fatalf("stats %+v, want 15 read, all delivered or skipped, %d delivered", st, len(frames))
	}
	// A consumer this fast takes nearly every frame; the colours then come in
	// order through all three segments.
	if len(frames) < 12 {
		t.Fatalf("delivered %d of 15 frames to a fast consumer", len(frames))
	}
	first, last := frames[0], frames[len(frames)-1]
	want := time.Duration(float64(last.Seq-first.Seq) / fps * float64(time.Second))
	got := last.Time.Sub(first.Time)
	if got < want*7/10 || got > want*5/2+300*time.Millisecond {
		t.Fatalf("frames %d..%d read over %v, want about %v (paced at %v fps)", first.Seq, last.Seq, got, want, fps)
	}
	if _, err := cam.next(t, time.Second); !errors.Is(err, ErrFinished) {
		t.Fatalf("Next after the end: %v, want ErrFinished", err)
	}
	for _, f := range frames {
		f.Release()
	}
}

func TestVideoLoops(t *testing.T) {
	t.Parallel()
	segs := []ColourSegment{{red, 2}, {green, 2}, {blue, 2}}
	path := writeColours(t, t.TempDir(), "loop.avi", 60, segs)
	log, rec := newLogRecorder()
	cam := start(t, Config{Name: "loop", Source: path, Loop: true}, log)
	var seqs []uint64
	for {
		f := cam.mustNext(t, 3*time.Second)
		checkColour(t, f, SegmentColour(segs, int(f.Seq-1)%6), jpegTolerance)
		seqs = append(seqs, f.Seq)
		f.Release()
		if f.Seq > 20 {
			break
		}
	}
	if st := cam.Stats(); st.Reconnects != 0 || st.Read < 21 || !st.Online {
		t.Fatalf("stats %+v, want >= 21 read over 3+ loops, no reconnects, online", st)
	}
	if !slices.IsSorted(seqs) {
		t.Fatalf("seqs not increasing: %v", seqs)
	}
	msgs := rec.messages()
	if !slices.Contains(msgs, "looping") || slices.Contains(msgs, "looping by reopening") {
		t.Fatalf("an unchanged file should loop by seeking, not reopening: %q", msgs)
	}
}

func TestVideoReplacedWhileLooping(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := writeColours(t, dir, "v.avi", 100, []ColourSegment{{red, 5}})
	log, rec := newLogRecorder()
	cam := start(t, Config{Name: "swap", Source: path, Loop: true}, log)
	checkColour(t, cam.mustNext(t, 3*time.Second), red, jpegTolerance)
	tmp := writeColours(t, t.TempDir(), "v.avi", 100, []ColourSegment{{blue, 5}})
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	waitForNewFile(t, cam, "after the file was replaced")
	if !slices.Contains(rec.messages(), "looping by reopening") {
		t.Fatalf("a replaced file should be reopened: %q", rec.messages())
	}
}

func TestFPSLimit(t *testing.T) {
	t.Parallel()
	path := writeColours(t, t.TempDir(), "fast.avi", 100, []ColourSegment{{red, 5}, {green, 5}})
	tests := []struct {
		name     string
		fps      float64
		window   time.Duration
		min, max int // frames handed out in window
	}{
		{name: "5 fps", fps: 5, window: 1500 * time.Millisecond, min: 3, max: 9},
		{name: "no limit", fps: 0, window: 500 * time.Millisecond, min: 10, max: 60},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cam := start(t, Config{Name: "fps", Source: path, Loop: true, FPS: tt.fps}, nil)
			cam.mustNext(t, 3*time.Second).Release() // source is up
			begin := time.Now()
			var times []time.Time
			for time.Since(begin) < tt.window {
				f := cam.mustNext(t, 3*time.Second)
				times = append(times, time.Now())
				f.Release()
			}
			if len(times) < tt.min || len(times) > tt.max {
				t.Fatalf("%d frames in %v, want %d..%d", len(times), tt.window, tt.min, tt.max)
			}
			if tt.fps > 0 {
				limit := int(tt.fps) + 1
				for i := range times {
					n := 0
					for j := i; j < len(times) && times[j].Sub(times[i]) < time.Second; j++ {
						n++
					}
					if n > limit {
						t.Fatalf("%d frames within one second from frame %d, limit %v fps", n, i, tt.fps)
					}
				}
				if st := cam.Stats(); st.Skipped == 0 {
					t.Fatalf("a 100 fps source under a %v fps limit skipped nothing: %+v", tt.fps, st)
				}
			}
		})
	}
}

func TestLatestFrameWins(t *testing.T) {
	t.Parallel()
	path := writeColours(t, t.TempDir(), "fast.avi", 100, []ColourSegment{{red, 3}, {green, 3}, {blue, 4}})
	cam := start(t, Config{Name: "slow", Source: path, Loop: true}, nil)
	cam.mustNext(t, 3*time.Second).Release()
	var prev uint64
	gaps := 0
	for range 8 {
		time.Sleep(40 * time.Millisecond) // a slow consumer
		newest := cam.Stats().Read        // the newest Seq published so far
		f := cam.mustNext(t, 3*time.Second)
		if f.Seq < newest {
			t.Fatalf("Next returned seq %d although seq %d had been read: an old frame", f.Seq, newest)
		}
		if f.Seq <= prev {
			t.Fatalf("seq %d after %d", f.Seq, prev)
		}
		if prev != 0 && f.Seq > prev+1 {
			gaps++
		}
		prev = f.Seq
		f.Release()
	}
	if gaps == 0 {
		t.Fatal("a 40 ms consumer of a 100 fps source saw no gaps")
	}
	cam.stop(t)
	for {
		f, err := cam.next(t, time.Second)
		if err != nil {
			if !errors.Is(err, ErrStopped) {
				t.Fatalf("Next after stop: %v, want ErrStopped", err)
			}
			break
		}
		f.Release()
	}
	st := cam.Stats()
	if st.Skipped == 0 || st.Read != st.Delivered+st.Skipped {
		t.Fatalf("stats %+v: want skipped > 0 and read = delivered + skipped", st)
	}
}

func TestFolder(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeSolidImage(t, dir, "b.png", green)
	writeSolidImage(t, dir, "a.png", red)
	writeSolidImage(t, dir, "c.jpg", blue)
	for _, junk := range []string{"notes.txt", ".hidden.png"} {
		if err := os.WriteFile(filepath.Join(dir, junk), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "sub.png"), 0o755); err != nil {
		t.Fatal(err)
	}
	cam := start(t, Config{Name: "ftp", Source: dir, PollInterval: 20 * time.Millisecond, FPS: 100}, nil)

	type want struct {
		file   string
		colour [3]uint8
	}
	expect := func(ws ...want) {
		t.Helper()
		for _, w := range ws {
			f := cam.mustNext(t, 3*time.Second)
			if f.File != w.file {
				t.Fatalf("got file %q (seq %d), want %q", f.File, f.Seq, w.file)
			}
			checkFrameShape(t, f, "ftp", 32, 24)
			checkColour(t, f, w.colour, jpegTolerance)
			f.Release()
		}
	}
	expectNone := func() {
		t.Helper()
		if f, err := cam.next(t, 200*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Next: got frame %v, error %v; want nothing (deadline)", f != nil, err)
		}
	}
	expect(want{"a.png", red}, want{"b.png", green}, want{"c.jpg", blue})
	expectNone()

	writeSolidImage(t, dir, "d.png", white)
	expect(want{"d.png", white})
	expectNone()

	// An undecodable file is dropped and counted; the folder goes on.
	if err := os.WriteFile(filepath.Join(dir, "e.png"), []byte("not a png at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	writeSolidImage(t, dir, "f.bmp", black)
	expect(want{"f.bmp", black})
	expectNone()

	st := cam.Stats()
	if st.Read != 5 || st.Delivered != 5 || st.Skipped != 0 || st.Dropped != 1 || st.Reconnects != 0 {
		t.Fatalf("stats %+v, want 5 read and delivered, 1 dropped, none skipped", st)
	}
}

func TestFolderQueueAndLoop(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	colours := map[string][3]uint8{"1.png": red, "2.png": green, "3.png": blue, "4.png": white}
	for name, c := range colours {
		writeSolidImage(t, dir, name, c)
	}
	cam := start(t, Config{Name: "loop", Source: dir, Loop: true, PollInterval: 20 * time.Millisecond}, nil)
	var got []string
	for range 10 {
		time.Sleep(15 * time.Millisecond) // slower than the reader: a queue does not skip
		f := cam.mustNext(t, 3*time.Second)
		checkColour(t, f, colours[f.File], 1)
		got = append(got, f.File)
		f.Release()
	}
	want := strings.Fields("1.png 2.png 3.png 4.png 1.png 2.png 3.png 4.png 1.png 2.png")
	if !slices.Equal(got, want) {
		t.Fatalf("files %v, want %v", got, want)
	}
	if st := cam.Stats(); st.Skipped != 0 || st.Dropped != 0 {
		t.Fatalf("stats %+v, want nothing skipped or dropped", st)
	}
}

func TestReconnectBackoff(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name, source string
	}{
		{name: "missing file", source: filepath.Join(dir, "missing.avi")},
		{name: "missing folder", source: filepath.Join(dir, "missing") + "/"},
		{name: "not a video", source: filepath.Join(dir, "junk.avi")},
		{name: "missing device", source: "/dev/video-autoclipd-test"},
	}
	if err := os.WriteFile(filepath.Join(dir, "junk.avi"), []byte("junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	const lo, hi = 20 * time.Millisecond, 80 * time.Millisecond
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			log, rec := newLogRecorder()
			cam := start(t, Config{Name: "gone", Source: tt.source, ReconnectMin: lo, ReconnectMax: hi}, log)
			eventually(t, 10*time.Second, "5 reconnects", func() bool { return cam.Stats().Reconnects >= 5 })
			begin := time.Now()
			if err := cam.stop(t); err != nil {
				return
			}
			if d := time.Since(begin); d > time.Second {
				t.Fatalf("Run took %v to return after cancel", d)
			}
			if _, err := cam.next(t, time.Second); !errors.Is(err, ErrStopped) {
				t.Fatalf("Next after stop: %v, want ErrStopped", err)
			}
			st := cam.Stats()
			if st.Read != 0 || st.Online {
				t.Fatalf("stats %+v, want nothing read, offline", st)
			}
			waits := rec.durations("open failed", "retry_in")
			if len(waits) < 5 {
				t.Fatalf("%d 'open failed' logs with retry_in, want >= 5: %q", len(waits), rec.messages())
			}
			// 20ms, 40ms, 80ms, 80ms... less up to a fifth of jitter, never below min.
			for i, w := range waits[:5] {
				step := min(lo<<i, hi)
				if w < max(step*4/5, lo) || w > step {
					t.Fatalf("wait %d: %v, want %v less <= 20%% jitter (all: %v)", i, w, step, waits)
				}
			}
		})
	}
}

func TestSourceAppearsLater(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		source func(dir string) string
		create func(t *testing.T, dir string)
	}{
		{
			name:   "video file",
			source: func(dir string) string { return filepath.Join(dir, "late.avi") },
			create: func(t *testing.T, dir string) {
				tmp := writeColours(t, t.TempDir(), "late.avi", 50, []ColourSegment{{green, 10}})
				if err := os.Rename(tmp, filepath.Join(dir, "late.avi")); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name:   "folder",
			source: func(dir string) string { return filepath.Join(dir, "uploads") + "/" },
			create: func(t *testing.T, dir string) {
				up := filepath.Join(dir, "uploads")
				if err := os.Mkdir(up, 0o755); err != nil {
					t.Fatal(err)
				}
				writeSolidImage(t, up, "x.png", green)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			cam := start(t, Config{Name: "late", Source: tt.source(dir), ReconnectMin: 20 * time.Millisecond,
				ReconnectMax: 50 * time.Millisecond, PollInterval: 20 * time.Millisecond}, nil)
			eventually(t, 3*time.Second, "2 reconnects", func() bool { return cam.Stats().Reconnects >= 2 })
			tt.create(t, dir)
			f := cam.mustNext(t, 3*time.Second)
			checkColour(t, f, green, jpegTolerance)
			f.Release()
			if st := cam.Stats(); !st.Online {
				t.Fatalf("stats %+v, want online", st)
			}
		})
	}
}

func TestGoroutinesReturnToBaseline(t *testing.T) {
	// Not parallel: it counts the process's goroutines.
	dir := t.TempDir()
	video := writeColours(t, dir, "v.avi", 100, []ColourSegment{{red, 4}})
	folder := filepath.Join(dir, "imgs")
	if err := os.Mkdir(folder, 0o755); err != nil {
		t.Fatal(err)
	}
	writeSolidImage(t, folder, "a.png", red)
	base := runtime.NumGoroutine()
	for cycle := range 2 {
		var cams []*running
		for _, cfg := range []Config{
			{Name: "video", Source: video, Loop: true, FPS: 30},
			{Name: "folder", Source: folder, Loop: true, PollInterval: 20 * time.Millisecond},
			{Name: "missing", Source: filepath.Join(dir, "nope.avi"), ReconnectMin: 20 * time.Millisecond},
		} {
			cams = append(cams, start(t, cfg, nil))
		}
		for _, c := range cams[:2] {
			for range 3 {
				c.mustNext(t, 3*time.Second).Release()
			}
		}
		for _, c := range cams {
			c.stop(t)
		}
		eventually(t, 3*time.Second, "goroutines back to baseline", func() bool { return runtime.NumGoroutine() <= base })
		t.Logf("cycle %d: %d goroutines, baseline %d", cycle, runtime.NumGoroutine(), base)
	}
}

func TestRunTwice(t *testing.T) {
	t.Parallel()
	cam := start(t, Config{Name: "twice", Source: filepath.Join(t.TempDir(), "x.avi"), ReconnectMin: 20 * time.Millisecond}, nil)
	eventually(t, 3*time.Second, "first Run going", func() bool { return cam.Stats().Reconnects >= 1 })
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := cam.Run(ctx)
	if err == nil || err.Error() != `capture: camera "twice": Run called twice` {
		t.Fatalf("second Run: %v", err)
	}
}

func TestNextContext(t *testing.T) {
	t.Parallel()
	cam, err := New(Config{Name: "idle", Source: "0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	f, err := cam.Next(ctx) // Run never started: Next waits for ctx
	if f != nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next: %v, %v; want deadline exceeded", f, err)
	}
}

func TestFrameRelease(t *testing.T) {
	p := newFramePool(2)
	f := p.newFrame(4, 2)
	if len(f.Data) != 24 {
		t.Fatalf("len %d, want 24", len(f.Data))
	}
	buf := &f.Data[0]
	f.Release()
	f.Release() // a second call does nothing
	if f.Data != nil {
		t.Fatal("Data still set after Release")
	}
	if n := len(p.free); n != 1 {
		t.Fatalf("pool holds %d buffers after a double Release, want 1", n)
	}
	g := p.newFrame(2, 2) // smaller: reuses the buffer
	if &g.Data[0] != buf || len(g.Data) != 12 {
		t.Fatal("pooled buffer not reused")
	}
	h := p.newFrame(8, 8) // larger than anything pooled
	if len(h.Data) != 192 {
		t.Fatalf("len %d, want 192", len(h.Data))
	}
	(&Frame{}).Release() // a frame built by hand has no pool
}

// TestUnpacedHandsOutEveryFrame: an unpaced file is read as fast as frames
// are taken, every frame in order, even by a slow consumer; streams and
// folders refuse the option.
func TestUnpacedHandsOutEveryFrame(t *testing.T) {
	t.Parallel()
	segs := []ColourSegment{{red, 10}, {green, 10}}
	path := writeColours(t, t.TempDir(), "colours.avi", 2, segs) // 2 fps: 10 s paced
	cam := start(t, Config{Name: "c", Source: path, Unpaced: true}, nil)
	start := time.Now()
	var seqs []uint64
	for {
		f, err := cam.next(t, 3*time.Second)
		if errors.Is(err, ErrFinished) {
			break
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		checkColour(t, f, SegmentColour(segs, int(f.Seq-1)), jpegTolerance)
		seqs = append(seqs, f.Seq)
		f.Release()
		if len(seqs)%5 == 0 {
			time.Sleep(20 * time.Millisecond) // a slow consumer skips nothing
		}
	}
	for i, s := range seqs {
		if s != uint64(i+1) {
			t.Fatalf("frames %v: not every frame in order", seqs)
		}
	}
	if len(seqs) != 20 {
		t.Fatalf("%d frames, want 20", len(seqs))
	}
	if st := cam.Stats(); st.Skipped != 0 {
		t.Errorf("%d frames skipped", st.Skipped)
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("20 frames of a 2 fps file took %v: paced", d)
	}
	if _, err := New(Config{Name: "s", Source: "rtsp://cam.local/x", Unpaced: true}, nil); err == nil || !strings.Contains(err.Error(), "unpaced") {
		t.Errorf("unpaced stream: err %v", err)
	}
}

// waitForNewFile takes frames until the blue replacement file plays, and
// fails if it does not within 3 s (when names what happened to the file).
func waitForNewFile(t *testing.T, cam *running, when string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		f := cam.mustNext(t, 3*time.Second)
		got := meanColour(f)
		f.Release()
		if got[0] > 150 && got[2] < 60 {
			return // blue: the new file plays
		}
		if time.Now().After(deadline) {
			t.Fatalf("still mean BGR %.0f 3s %s", got, when)
		}
	}
}
