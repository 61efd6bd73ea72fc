package capture

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// mjpegServer serves an endless multipart/x-mixed-replace stream of one JPEG
// at about 25 fps, as many IP cameras do.
func mjpegServer(t *testing.T, jpeg []byte) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		const boundary = "frame"
		w.Header().Set("Content-Type", "multipart/x-mixed-replace; boundary="+boundary)
		fl, _ := w.(http.Flusher)
		tick := time.NewTicker(40 * time.Millisecond)
		defer tick.Stop()
		for {
			if _, err := fmt.Fprintf(w, "--%s\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n", boundary, len(jpeg)); err != nil {
				return
			}
			if _, err := w.Write(jpeg); err != nil {
				return
			}
			if _, err := w.Write([]byte("\r\n")); err != nil {
				return
			}
			if fl != nil {
				fl.Flush()
			}
			select {
			case <-tick.C:
			case <-r.Context().Done():
				return
			}
		}
	}))
	return srv
}

func TestHTTPMJPEGStream(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "f.jpg")
	if err := WriteImage(p, 48, 32, solid(48, 32, blue)); err != nil {
		t.Fatal(err)
	}
	jpeg, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	srv := mjpegServer(t, jpeg)
	cam := start(t, Config{Name: "ipcam", Source: srv.URL + "/video.mjpg", ReconnectMin: 20 * time.Millisecond, ReconnectMax: 100 * time.Millisecond}, nil)
	var prev uint64
	for range 5 {
		f := cam.mustNext(t, 5*time.Second)
		checkFrameShape(t, f, "ipcam", 48, 32)
		checkColour(t, f, blue, jpegTolerance)
		if f.Seq <= prev {
			t.Fatalf("seq %d after %d", f.Seq, prev)
		}
		prev = f.Seq
		f.Release()
	}
	// The camera goes away: the capture faults and keeps reconnecting.
	srv.CloseClientConnections()
	srv.Close()
	eventually(t, 10*time.Second, "reconnects after the server went away", func() bool { return cam.Stats().Reconnects >= 2 })
	if st := cam.Stats(); st.Online {
		t.Fatalf("stats %+v: want offline", st)
	}
}
