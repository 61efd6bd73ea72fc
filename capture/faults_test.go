package capture

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// stateLog records OnState calls.
type stateLog struct {
	mu     sync.Mutex
	states []string // "online: reason" or "offline: reason"
}

func (l *stateLog) record(online bool, reason string) {
	s := "offline: " + reason
	if online {
		s = "online: " + reason
	}
	l.mu.Lock()
	l.states = append(l.states, s)
	l.mu.Unlock()
}

func (l *stateLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.states...)
}

// checkAlternates fails unless the recorded states alternate, starting
// online: OnState is called on changes only.
func (l *stateLog) checkAlternates(t testing.TB) {
	t.Helper()
	for i, s := range l.get() {
		if strings.HasPrefix(s, "online") != (i%2 == 0) {
			t.Fatalf("state %d is %q: states do not alternate from online: %q", i, s, l.get())
		}
	}
}

// newFrameAfter takes frames until one shows a number above after (the
// numbers drawn by seqServer), within d, and returns that number.
func newFrameAfter(t testing.TB, cam *running, after uint64, d time.Duration) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for {
		f, err := cam.Next(ctx)
		if err != nil {
			t.Fatalf("no frame numbered above %d within %v: %v (stats %+v)", after, d, err, cam.Stats())
		}
		n, err := decodeSeq(f)
		f.Release()
		if err != nil {
			t.Fatalf("frame seq %d: %v", f.Seq, err)
		}
		if n > after {
			return n
		}
	}
}

// streamConfig is a camera on s with quick reconnects and a short stall
// timeout.
func streamConfig(name string, s *seqServer, states *stateLog) Config {
	return Config{
		Name: name, Source: s.URL(),
		ReconnectMin: 50 * time.Millisecond, ReconnectMax: 300 * time.Millisecond,
		StallTimeout: time.Second,
		OnState:      states.record,
	}
}

// settleGoroutines waits for the goroutine count to come back to base.
func settleGoroutines(t testing.TB, base int, what string) {
	t.Helper()
	eventually(t, 5*time.Second, what+": goroutines back to baseline", func() bool { return runtime.NumGoroutine() <= base })
}

func TestStreamKilledAndRestarted(t *testing.T) {
	// Not parallel: it counts goroutines.
	base := runtime.NumGoroutine()
	s := newSeqServer(t, 30)
	states := &stateLog{}
	cfg := streamConfig("killed", s, states)
	cam := start(t, cfg, nil)
	last := newFrameAfter(t, cam, 0, 5*time.Second)
	last = newFrameAfter(t, cam, last, 5*time.Second)
	running := runtime.NumGoroutine() // the camera and the server at work
	for cycle := range 2 {
		s.kill()
		eventually(t, 5*time.Second, "offline after the kill", func() bool { return !cam.Stats().Online })
		before := cam.Stats()
		eventually(t, 5*time.Second, "reconnect attempts while the server is down", func() bool {
			return cam.Stats().Reconnects >= before.Reconnects+2
		})
		sent := s.sent.Load()
		s.restart()
		back := time.Now()
		n := newFrameAfter(t, cam, sent, cfg.ReconnectMax+2*time.Second)
		took := time.Since(back)
		if took > cfg.ReconnectMax+2*time.Second {
			t.Fatalf("cycle %d: first new frame %v after the server came back, want <= reconnect.max + 2s", cycle, took)
		}
		t.Logf("cycle %d: frame %d (the server had sent %d before the kill) %v after the restart", cycle, n, sent, took)
		if st := cam.Stats(); !st.Online || st.Faults < before.Faults || st.Hung != 0 {
			t.Fatalf("cycle %d: stats %+v: want online, faults counted, nothing hung", cycle, st)
		}
		last = n
		settleGoroutines(t, running, fmt.Sprintf("cycle %d", cycle))
	}
	if st := cam.Stats(); st.Faults < 2+2 {
		t.Fatalf("stats %+v: want the read failures and failed opens counted as faults", st)
	}
	cam.stop(t)
	states.checkAlternates(t)
	got := states.get()
	if len(got) < 5 || !strings.HasPrefix(got[1], "offline: read failed") || got[len(got)-1] != "offline: stopped" {
		t.Fatalf("states %q: want online, offline (read failed), online, ..., offline: stopped", got)
	}
	s.kill()
	settleGoroutines(t, base, "after the kill cycles")
}

func TestStreamStall(t *testing.T) {
	// Not parallel: it counts goroutines.
	base := runtime.NumGoroutine()
	s := newSeqServer(t, 30)
	states := &stateLog{}
	cfg := streamConfig("stall", s, states)
	cam := start(t, cfg, nil)
	last := newFrameAfter(t, cam, 0, 5*time.Second)

	// maxLive samples the worker goroutines: one current, one abandoned at most.
	var maxLive, maxHung int
	sample := func() {
		maxLive = max(maxLive, int(cam.live.Load()))
		maxHung = max(maxHung, cam.Stats().Hung)
	}

	// 1. The camera freezes for a while, then goes on on all connections.
	conns := s.conns.Load()
	s.mode.Store(modeStall)
	stalled := time.Now()
	eventually(t, cfg.StallTimeout+3*time.Second, "stall detected", func() bool { sample(); return cam.Stats().Stalls >= 1 })
	if d := time.Since(stalled); d < cfg.StallTimeout-100*time.Millisecond {
		t.Fatalf("stall counted %v after the stream stopped, before stall_timeout %v", d, cfg.StallTimeout)
	}
	eventually(t, cfg.ReconnectMax+2*time.Second, "reopened after the stall", func() bool { sample(); return s.conns.Load() > conns })
	if st := cam.Stats(); st.Online || st.Hung != 1 || st.Faults < 1 {
		t.Fatalf("stats %+v after a stall: want offline, one abandoned read, a fault", st)
	}
	// The new connection hangs too; a second stall must not abandon a
	// second goroutine while the first still blocks.
	for end := time.Now().Add(2 * cfg.StallTimeout); time.Now().Before(end); {
		sample()
		time.Sleep(10 * time.Millisecond)
	}
	sent := s.sent.Load() // frames numbered above come after the stall
	s.mode.Store(modeFrames)
	newFrameAfter(t, cam, max(sent, last), 5*time.Second)
	eventually(t, 5*time.Second, "the abandoned read returns", func() bool { sample(); return cam.Stats().Hung == 0 })
	if maxLive > 2 || maxHung > 1 {
		t.Fatalf("up to %d worker goroutines and %d abandoned reads at once, want <= 2 and <= 1", maxLive, maxHung)
	}

	// 2. Connections that hang for good: stalls until the server is killed,
	// then frames flow from the restarted server.
	s.mode.Store(modeHang)
	before := cam.Stats().Stalls
	eventually(t, 2*cfg.StallTimeout+3*time.Second, "hang detected", func() bool { sample(); return cam.Stats().Stalls > before })
	for end := time.Now().Add(cfg.StallTimeout * 3 / 2); time.Now().Before(end); {
		sample()
		time.Sleep(10 * time.Millisecond)
	}
	sent = s.sent.Load()
	s.kill()
	s.mode.Store(modeFrames)
	eventually(t, 5*time.Second, "hung reads return once the connections close", func() bool { sample(); return cam.Stats().Hung == 0 })
	s.restart()
	newFrameAfter(t, cam, sent, cfg.ReconnectMax+cfg.StallTimeout+3*time.Second)
	if maxLive > 2 || maxHung > 1 {
		t.Fatalf("up to %d worker goroutines and %d abandoned reads at once, want <= 2 and <= 1", maxLive, maxHung)
	}
	st := cam.Stats()
	if st.Stalls < 2 || st.Faults < st.Stalls || !st.Online {
		t.Fatalf("stats %+v: want >= 2 stalls, each a fault, online again", st)
	}
	cam.stop(t)
	states.checkAlternates(t)
	if got := states.get(); !strings.HasPrefix(got[1], "offline: stalled: no frame for 1s") {
		t.Fatalf("states %q: want the stall as the first offline reason", got)
	}
	s.kill()
	settleGoroutines(t, base, "after the stall cycles")
	t.Logf("stats %+v; at most %d workers, %d abandoned", st, maxLive, maxHung)
}

func TestStreamGarbage(t *testing.T) {
	t.Parallel()
	s := newSeqServer(t, 30)
	states := &stateLog{}
	cam := start(t, streamConfig("garbage", s, states), nil)
	last := newFrameAfter(t, cam, 0, 5*time.Second)
	s.mode.Store(modeGarbage)
	eventually(t, 10*time.Second, "garbage counted", func() bool {
		st := cam.Stats()
		return st.Dropped+st.Faults > 0
	})
	sent := max(s.sent.Load(), last) // frames numbered above came after the garbage
	s.mode.Store(modeFrames)
	n := newFrameAfter(t, cam, sent, 5*time.Second)
	st := cam.Stats()
	if !st.Online {
		t.Fatalf("stats %+v: want online after the garbage", st)
	}
	select {
	case <-cam.Done():
		t.Fatal("Run returned because of garbage")
	default:
	}
	t.Logf("frame %d after garbage; stats %+v", n, st)
}

func TestStopAbandonsHungOpen(t *testing.T) {
	t.Parallel()
	s := newSeqServer(t, 30)
	s.mode.Store(modeHang)
	cam := start(t, Config{Name: "hung", Source: s.URL(), StallTimeout: 5 * time.Second}, nil)
	eventually(t, 5*time.Second, "connected", func() bool { return s.conns.Load() > 0 })
	begin := time.Now()
	cam.stop(t)
	if d := time.Since(begin); d > stopGrace+time.Second {
		t.Fatalf("Run took %v to return with an open that hangs, want about %v", d, stopGrace)
	}
	if st := cam.Stats(); st.Hung != 1 {
		t.Fatalf("stats %+v: want the hung open counted", st)
	}
	if _, err := cam.next(t, time.Second); !errors.Is(err, ErrStopped) {
		t.Fatalf("Next after stop: %v, want ErrStopped", err)
	}
	s.kill()
	eventually(t, 5*time.Second, "the abandoned open returns", func() bool { return cam.Stats().Hung == 0 && cam.live.Load() == 0 })
}

func TestFaultDiscardsStaleFrame(t *testing.T) {
	t.Parallel()
	s := newSeqServer(t, 30)
	cam := start(t, Config{Name: "stale", Source: s.URL(), ReconnectMin: time.Second, ReconnectMax: time.Second}, nil)
	newFrameAfter(t, cam, 0, 5*time.Second)
	eventually(t, 3*time.Second, "a frame waiting", func() bool { _, ok := cam.ReadyAt(); return ok })
	s.kill()
	eventually(t, 5*time.Second, "the fault", func() bool { return cam.Stats().Faults > 0 })
	if f, err := cam.next(t, 200*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next after the fault: frame %v, %v; want no frame from before the fault", f != nil, err)
	}
	if st := cam.Stats(); st.Read != st.Delivered+st.Skipped {
		t.Fatalf("stats %+v: the discarded frame should count as skipped", st)
	}
}

func TestStallWatchdogIgnoresIdleWaits(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// A 2 fps video paces its reads 500 ms apart, and a slow consumer keeps
	// a folder's reader waiting: neither is a blocked read. The stall
	// timeout is shorter than the pacing but long enough that a real read
	// of a tiny frame never takes it, even on a loaded machine.
	video := writeColours(t, dir, "slow.avi", 2, []ColourSegment{{red, 2}})
	folder := filepath.Join(dir, "imgs")
	if err := os.Mkdir(folder, 0o755); err != nil {
		t.Fatal(err)
	}
	writeSolidImage(t, folder, "a.png", red)
	writeSolidImage(t, folder, "b.png", green)
	stall := 300 * time.Millisecond
	cams := []*running{
		start(t, Config{Name: "paced", Source: video, Loop: true, StallTimeout: stall}, nil),
		start(t, Config{Name: "folder", Source: folder, PollInterval: 20 * time.Millisecond, StallTimeout: stall}, nil),
	}
	for _, c := range cams {
		c.mustNext(t, 3*time.Second).Release()
	}
	time.Sleep(5 * stall) // the folder's second image waits, then it polls an idle folder
	for _, c := range cams {
		c.mustNext(t, 3*time.Second).Release()
	}
	time.Sleep(5 * stall)
	for _, c := range cams {
		if st := c.Stats(); st.Stalls != 0 || st.Faults != 0 || !st.Online {
			t.Fatalf("camera %s: stats %+v: want no stalls or faults", c.Name(), st)
		}
	}
}

func TestFFmpegOptionsEndHungReads(t *testing.T) {
	// Not parallel: it sets the process environment that OpenCV reads.
	if got := FFmpegOptions(1500 * time.Millisecond); got != "rw_timeout;1500000" {
		t.Fatalf("FFmpegOptions = %q", got)
	}
	t.Setenv(FFmpegOptionsEnv, FFmpegOptions(time.Second))
	s := newSeqServer(t, 30)
	cam := start(t, Config{Name: "rw", Source: s.URL(), StallTimeout: 500 * time.Millisecond,
		ReconnectMin: 50 * time.Millisecond, ReconnectMax: 100 * time.Millisecond}, nil)
	newFrameAfter(t, cam, 0, 5*time.Second)
	s.mode.Store(modeHang)
	eventually(t, 5*time.Second, "stall", func() bool { return cam.Stats().Stalls >= 1 })
	// FFmpeg gives up the hung connection by itself: the abandoned read
	// returns although the server keeps the connection open.
	eventually(t, 5*time.Second, "the abandoned read returns", func() bool { return cam.Stats().Hung == 0 && cam.live.Load() <= 1 })
	sent := s.sent.Load()
	s.mode.Store(modeFrames) // new connections get frames; hung ones stay hung
	newFrameAfter(t, cam, sent, 5*time.Second)
}
