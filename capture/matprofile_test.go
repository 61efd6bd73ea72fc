//go:build matprofile

package capture

import (
	"bytes"
	"os"
	"path/filepath"
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
