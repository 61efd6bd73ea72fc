//go:build matprofile

package capture

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"gocv.io/x/gocv"
)

// TestNoMatLeaks runs every kind of source, with faults, and checks that
// every gocv.Mat created was closed. Run it with: go test -tags matprofile.
func TestNoMatLeaks(t *testing.T) {
	// Not parallel: the profile counts the whole process's Mats.
	if n := gocv.MatProfile.Count(); n != 0 {
		t.Fatalf("%d Mats open before the test", n)
	}
	dir := t.TempDir()
	video := writeColours(t, dir, "v.avi", 100, []ColourSegment{{red, 3}, {green, 3}})
	folder := filepath.Join(dir, "imgs")
	if err := os.Mkdir(folder, 0o755); err != nil {
		t.Fatal(err)
	}
	writeSolidImage(t, folder, "a.png", red)
	writeSolidImage(t, folder, "b.jpg", green)
	if err := os.WriteFile(filepath.Join(folder, "c.png"), []byte("broken"), 0o644); err != nil {
		t.Fatal(err)
	}
	junk := filepath.Join(dir, "junk.avi")
	if err := os.WriteFile(junk, []byte("junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "f.jpg")
	if err := WriteImage(p, 16, 16, solid(16, 16, blue)); err != nil {
		t.Fatal(err)
	}
	jpeg, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	srv := mjpegServer(t, jpeg)
	if n := gocv.MatProfile.Count(); n != 0 {
		t.Fatalf("writing the test data left %d Mats open", n)
	}

	fast := 20 * time.Millisecond
	cams := []*running{
		start(t, Config{Name: "video", Source: video, Loop: true}, nil),
		start(t, Config{Name: "once", Source: video}, nil),
		start(t, Config{Name: "folder", Source: folder, Loop: true, PollInterval: fast}, nil),
		start(t, Config{Name: "stream", Source: srv.URL, ReconnectMin: fast, ReconnectMax: fast}, nil),
		start(t, Config{Name: "junk", Source: junk, ReconnectMin: fast, ReconnectMax: fast}, nil),
	}
	cams[1].wait(t, 5*time.Second) // the file ends: Run returns, capture closed
	for _, c := range []*running{cams[0], cams[2], cams[3]} {
		for range 5 {
			f := c.mustNext(t, 5*time.Second)
			f.Release()
		}
	}
	// While the captures are open their read Mats show in the profile: the
	// profile is live, so the zero below means something.
	if n := gocv.MatProfile.Count(); n == 0 {
		t.Fatal("no Mats open while cameras run: is the matprofile tag set?")
	}
	srv.CloseClientConnections() // a stream fault: reopen and fail
	srv.Close()
	eventually(t, 10*time.Second, "stream and junk reconnects", func() bool {
		return cams[3].Stats().Reconnects >= 2 && cams[4].Stats().Reconnects >= 2
	})
	for _, c := range cams {
		c.stop(t)
	}
	if n := gocv.MatProfile.Count(); n != 0 {
		var b bytes.Buffer
		gocv.MatProfile.WriteTo(&b, 1)
		t.Fatalf("%d Mats left open:\n%s", n, b.String())
	}
	if st := cams[2].Stats(); st.Dropped == 0 {
		t.Fatalf("folder stats %+v: the broken image should have been dropped", st)
	}
}

// TestNoMatLeaksThroughFaults reads over 1000 frames from a stream that
// sends garbage, stalls, hangs and is killed and restarted, from a video file
// and from a folder, with ROI and rotation, and checks that every Mat was
// closed, abandoned reads included.
func TestNoMatLeaksThroughFaults(t *testing.T) {
	// Not parallel: the profile counts the whole process's Mats.
	if n := gocv.MatProfile.Count(); n != 0 {
		t.Fatalf("%d Mats open before the test", n)
	}
	dir := t.TempDir()
	video := writeColours(t, dir, "v.avi", 400, []ColourSegment{{red, 10}, {green, 10}})
	folder := filepath.Join(dir, "imgs")
	if err := os.Mkdir(folder, 0o755); err != nil {
		t.Fatal(err)
	}
	writeSolidImage(t, folder, "a.png", red)
	writeSolidImage(t, folder, "b.jpg", green)
	s := newSeqServer(t, 200)
	if n := gocv.MatProfile.Count(); n != 0 {
		t.Fatalf("writing the test data left %d Mats open", n)
	}
	fast := 20 * time.Millisecond
	cfg := Config{Name: "stream", Source: s.URL(), ReconnectMin: fast, ReconnectMax: 100 * time.Millisecond,
		StallTimeout: 300 * time.Millisecond, ROI: ROI{X: .25, Y: .25, W: .5, H: .5}, Rotate: 90}
	stream := start(t, cfg, nil)
	cams := []*running{
		stream,
		start(t, Config{Name: "video", Source: video, Loop: true, Rotate: 180, ROI: ROI{W: .5, H: 1}}, nil),
		start(t, Config{Name: "reduced", Source: video, Loop: true, DecodeScale: 2}, nil),
		start(t, Config{Name: "folder", Source: folder, Loop: true, PollInterval: fast, Rotate: 270}, nil),
	}
	// Consumers take and release frames as fast as they come.
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, c := range cams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				f, err := c.Next(ctx)
				if err != nil {
					return
				}
				f.Release()
			}
		}()
	}
	defer func() { cancel(); wg.Wait() }()
	reads := func() uint64 {
		var n uint64
		for _, c := range cams {
			n += c.Stats().Read
		}
		return n
	}
	long := 10 * time.Second
	eventually(t, long, "stream frames", func() bool { return stream.Stats().Read >= 50 })

	// Garbage, then frames.
	st := stream.Stats()
	s.mode.Store(modeGarbage)
	eventually(t, long, "garbage counted", func() bool {
		n := stream.Stats()
		return n.Faults+n.Dropped > st.Faults+st.Dropped
	})
	s.mode.Store(modeFrames)
	st = stream.Stats()
	eventually(t, long, "frames after garbage", func() bool { return stream.Stats().Read >= st.Read+50 })

	// A stall that ends.
	s.mode.Store(modeStall)
	eventually(t, long, "stall", func() bool { return stream.Stats().Stalls > st.Stalls })
	s.mode.Store(modeFrames)
	st = stream.Stats()
	eventually(t, long, "frames after the stall", func() bool { return stream.Stats().Read >= st.Read+50 })

	// Connections that hang until the server is killed and restarted.
	s.mode.Store(modeHang)
	eventually(t, long, "hang", func() bool { return stream.Stats().Stalls > st.Stalls })
	s.kill()
	s.mode.Store(modeFrames)
	s.restart()
	st = stream.Stats()
	eventually(t, long, "frames after the restart", func() bool { return stream.Stats().Read >= st.Read+50 })

	eventually(t, 60*time.Second, "1000 frames, 300 from the stream", func() bool { return reads() >= 1000 && stream.Stats().Read >= 300 })
	if n := gocv.MatProfile.Count(); n == 0 {
		t.Fatal("no Mats open while cameras run: is the matprofile tag set?")
	}
	for _, c := range cams {
		c.stop(t)
	}
	s.kill()
	eventually(t, 10*time.Second, "abandoned reads return", func() bool {
		for _, c := range cams {
			if c.live.Load() != 0 {
				return false
			}
		}
		return true
	})
	if n := gocv.MatProfile.Count(); n != 0 {
		var b bytes.Buffer
		gocv.MatProfile.WriteTo(&b, 1)
		t.Fatalf("%d Mats left open:\n%s", n, b.String())
	}
	st = stream.Stats()
	t.Logf("%d frames in all; stream %+v", reads(), st)
	if st.Stalls < 2 || st.Faults < 3 || st.Reconnects < 3 {
		t.Fatalf("stream stats %+v: want the faults counted", st)
	}
}
