package capture

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestLatestFrameSlowScorer(t *testing.T) {
	t.Parallel()
	const fps = 30
	s := newSeqServer(t, fps)
	cam := start(t, Config{Name: "slow", Source: s.URL(), ReconnectMin: 50 * time.Millisecond}, nil)
	first := newFrameAfter(t, cam, 0, 5*time.Second)
	begin := time.Now()
	var prev uint64
	maxLag := uint64(0)
	const rounds = 10
	for i := range rounds {
		newest := cam.Stats().Read // the newest frame available before asking
		f := cam.mustNext(t, 3*time.Second)
		if f.Seq < newest {
			t.Fatalf("round %d: got seq %d although seq %d was available", i, f.Seq, newest)
		}
		sent := s.sent.Load()
		n, err := decodeSeq(f)
		if err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		// Against the source: the frame is among the newest the server has
		// sent, not one that waited in a buffer.
		if n+1 < sent {
			maxLag = max(maxLag, sent-n-1)
		}
		if prev != 0 && n <= prev {
			t.Fatalf("round %d: frame %d after %d", i, n, prev)
		}
		prev = n
		time.Sleep(200 * time.Millisecond) // scoring, holding the frame
		f.Release()
	}
	st := cam.Stats()
	rate := float64(s.sent.Load()-first) / time.Since(begin).Seconds()
	t.Logf("stats %+v; the server sent %.1f frames/s; handed-out frames were at most %d frames behind the server's newest", st, rate, maxLag)
	// 200 ms per frame at 30 fps: most frames are skipped, none queue:
	// every frame read was handed out or skipped (one may be waiting).
	if st.Skipped < 2*rounds || st.Read-st.Delivered-st.Skipped > 1 {
		t.Fatalf("stats %+v: want >= %d skipped, every frame delivered or skipped", st, 2*rounds)
	}
	// Nothing queues: a handful of buffers serve every frame.
	if n := cam.pool.allocs.Load(); n > poolSize+2 {
		t.Fatalf("%d frame buffers allocated for %d frames, want <= %d", n, st.Read, poolSize+2)
	}
	// FFmpeg does not buffer behind the reader (it drains continuously);
	// the bound is loose for loaded machines.
	if maxLag > 5 {
		t.Fatalf("a handed-out frame was %d frames behind the newest the server sent", maxLag)
	}
}

func TestVideoDeletedAndRecreated(t *testing.T) {
	t.Parallel()
	t.Run("loop", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		path := writeColours(t, dir, "v.avi", 100, []ColourSegment{{red, 5}})
		states := &stateLog{}
		cam := start(t, Config{Name: "gone", Source: path, Loop: true, ReconnectMin: 20 * time.Millisecond,
			ReconnectMax: 100 * time.Millisecond, OnState: states.record}, nil)
		checkColour(t, cam.mustNext(t, 3*time.Second), red, jpegTolerance)
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		eventually(t, 3*time.Second, "open failures once the file is gone", func() bool { return cam.Stats().Faults >= 2 })
		tmp := writeColours(t, t.TempDir(), "v.avi", 100, []ColourSegment{{blue, 5}})
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
		waitForNewFile(t, cam, "after the file came back")
		got := states.get()
		if len(got) < 3 || got[0] != "online: source opened" || !strings.HasPrefix(got[1], "offline: open failed") || got[2] != "online: source opened" {
			t.Fatalf("states %q: want online, offline (open failed), online", got)
		}
	})
	t.Run("once", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		path := writeColours(t, dir, "v.avi", 30, []ColourSegment{{red, 15}})
		states := &stateLog{}
		cam := start(t, Config{Name: "once", Source: path, OnState: states.record}, nil)
		checkColour(t, cam.mustNext(t, 3*time.Second), red, jpegTolerance)
		// The open file stays readable: it plays to its end, and the new
		// file is not read (without loop a file is read once).
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		writeColours(t, dir, "v.avi", 30, []ColourSegment{{blue, 15}})
		for {
			f, err := cam.next(t, 3*time.Second)
			if errors.Is(err, ErrFinished) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			checkColour(t, f, red, jpegTolerance)
			f.Release()
		}
		cam.wait(t, time.Second)
		if st := cam.Stats(); st.Read != 15 || st.Faults != 0 {
			t.Fatalf("stats %+v: want the 15 frames of the first file, no faults", st)
		}
		if got := states.get(); !slices.Equal(got, []string{"online: source opened", "offline: finished"}) {
			t.Fatalf("states %q", got)
		}
	})
}

func TestFolderBurstWhileRunning(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cam := start(t, Config{Name: "ftp", Source: dir, PollInterval: 20 * time.Millisecond}, nil)
	stage := t.TempDir()
	drop := func(names ...string) {
		// Upload tools write elsewhere (or under a hidden name) and rename.
		for _, n := range names {
			writeSolidImage(t, stage, n, green)
		}
		for _, n := range names {
			if err := os.Rename(filepath.Join(stage, n), filepath.Join(dir, n)); err != nil {
				t.Fatal(err)
			}
		}
	}
	var got []string
	take := func(n int) {
		for range n {
			f := cam.mustNext(t, 3*time.Second)
			got = append(got, f.File)
			time.Sleep(30 * time.Millisecond) // a slow scorer: files still are not skipped
			f.Release()
		}
	}
	drop("img-07.jpg", "img-03.jpg", "img-05.png", "img-01.png", "img-09.bmp")
	take(2)
	drop("img-02.png", "img-00.png") // older names, later arrival: after the first burst
	take(5)
	want := strings.Fields("img-01.png img-03.jpg img-05.png img-07.jpg img-09.bmp img-00.png img-02.png")
	if !slices.Equal(got, want) {
		t.Fatalf("files %v, want %v", got, want)
	}
	if f, err := cam.next(t, 300*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next: frame %v, error %v; want nothing more", f != nil, err)
	}
	if st := cam.Stats(); st.Read != 7 || st.Skipped != 0 || st.Delivered != 7 {
		t.Fatalf("stats %+v: want each file once", st)
	}
}

func TestTryNextBatchesCameras(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	colours := [][3]uint8{red, green, blue, white}
	var cams []*running
	for i, c := range colours {
		path := writeColours(t, dir, fmt.Sprintf("c%d.avi", i), 30, []ColourSegment{{c, 3}})
		cams = append(cams, start(t, Config{Name: fmt.Sprintf("cam%d", i), Source: path, Loop: true}, nil))
	}
	perCam := map[string]int{}
	biggest := 0
	var cs []*Camera
	for _, c := range cams {
		cs = append(cs, c.Camera)
	}
	for range 20 {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		err := WaitAny(ctx, cs)
		cancel()
		if err != nil {
			t.Fatalf("WaitAny: %v", err)
		}
		time.Sleep(5 * time.Millisecond) // the batch window
		var batch []*Frame
		for _, c := range cams {
			if f := c.TryNext(); f != nil {
				batch = append(batch, f)
			}
		}
		biggest = max(biggest, len(batch))
		for _, f := range batch {
			i := int(f.Camera[len(f.Camera)-1] - '0')
			checkColour(t, f, colours[i], jpegTolerance) // attributed to the right camera
			perCam[f.Camera]++
			f.Release()
		}
		time.Sleep(20 * time.Millisecond) // scoring
	}
	if len(perCam) != 4 || biggest < 2 {
		t.Fatalf("frames per camera %v, biggest batch %d: want all 4 cameras and batches of several", perCam, biggest)
	}
	// TryNext never waits: an FPS-limited camera hands out nothing more
	// within its interval.
	path := writeColours(t, dir, "limited.avi", 30, []ColourSegment{{red, 3}})
	lim := start(t, Config{Name: "limited", Source: path, Loop: true, FPS: 2}, nil)
	lim.mustNext(t, 3*time.Second).Release()
	<-lim.Ready()
	eventually(t, 3*time.Second, "a frame waiting", func() bool { _, ok := lim.ReadyAt(); return ok })
	if f := lim.TryNext(); f != nil {
		t.Fatalf("TryNext handed out seq %d within the 2 fps interval", f.Seq)
	}
	at, ok := lim.ReadyAt()
	if !ok || time.Until(at) <= 0 || time.Until(at) > 500*time.Millisecond {
		t.Fatalf("ReadyAt = %v, %v: want a frame waiting and a time within the next 500ms", at, ok)
	}
	// WaitAny sleeps until the FPS limit allows the frame.
	if err := WaitAny(context.Background(), []*Camera{lim.Camera}); err != nil {
		t.Fatalf("WaitAny: %v", err)
	}
	if time.Now().Before(at) {
		t.Fatalf("WaitAny returned %v before the frame may be handed out", time.Until(at))
	}
	if f := lim.TryNext(); f == nil {
		t.Fatal("TryNext handed out nothing after the interval")
	} else {
		f.Release()
	}
	// Once every camera has stopped and nothing is left, WaitAny says so.
	lim.stop(t)
	for f := lim.TryNext(); f != nil; f = lim.TryNext() {
		f.Release()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := WaitAny(ctx, []*Camera{lim.Camera}); !errors.Is(err, ErrStopped) {
		t.Fatalf("WaitAny on stopped cameras: %v, want ErrStopped", err)
	}
	// And it gives up when ctx is done.
	idle, err := New(Config{Name: "idle", Source: "0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	if err := WaitAny(ctx2, []*Camera{idle}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitAny on a camera that never runs: %v, want deadline exceeded", err)
	}
}

func TestStatsScoredAndAge(t *testing.T) {
	t.Parallel()
	path := writeColours(t, t.TempDir(), "v.avi", 30, []ColourSegment{{red, 3}})
	cam := start(t, Config{Name: "m", Source: path, Loop: true}, nil)
	f := cam.mustNext(t, 3*time.Second)
	cam.CountScored(1)
	cam.CountScored(0)
	cam.CountScored(2)
	f.Release()
	cam.stop(t)
	time.Sleep(20 * time.Millisecond)
	st := cam.Stats()
	if st.Scored != 3 || st.Read == 0 || st.LastFrameAge < 20*time.Millisecond || st.Online {
		t.Fatalf("stats %+v: want 3 scored, an age of at least 20ms, offline", st)
	}
}

func TestUndersizedImageDropped(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tiny := filepath.Join(t.TempDir(), "a-tiny.png")
	if err := WriteImage(tiny, MinFrameSide-1, 32, solid(MinFrameSide-1, 32, red)); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tiny, filepath.Join(dir, "a-tiny.png")); err != nil {
		t.Fatal(err)
	}
	writeSolidImage(t, dir, "b.png", green)
	cam := start(t, Config{Name: "ftp", Source: dir, PollInterval: 20 * time.Millisecond}, nil)
	f := cam.mustNext(t, 3*time.Second)
	if f.File != "b.png" {
		t.Fatalf("got %q, want b.png (a-tiny.png is %dx32, undersized)", f.File, MinFrameSide-1)
	}
	f.Release()
	if st := cam.Stats(); st.Dropped != 1 || st.Read != 1 {
		t.Fatalf("stats %+v: want the undersized image dropped", st)
	}
}
