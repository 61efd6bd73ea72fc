package capture

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Sequence-numbered frames: a 4 x 4 grid of black or white blocks, one bit
// each, most significant first, so a frame's pixels tell which one it is.
const (
	seqW, seqH   = 64, 48
	seqBits      = 16
	seqGrid      = 4
	seqBlockW    = seqW / seqGrid
	seqBlockH    = seqH / seqGrid
	seqMaxNumber = 1<<seqBits - 1
)

// seqJPEG encodes n (mod 2^16) as a JPEG frame.
func seqJPEG(n uint64) []byte {
	img := image.NewGray(image.Rect(0, 0, seqW, seqH))
	for bit := range seqBits {
		v := uint8(0)
		if n>>(seqBits-1-bit)&1 == 1 {
			v = 255
		}
		bx, by := bit%seqGrid*seqBlockW, bit/seqGrid*seqBlockH
		for y := by; y < by+seqBlockH; y++ {
			for x := bx; x < bx+seqBlockW; x++ {
				img.SetGray(x, y, color.Gray{Y: v})
			}
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// decodeSeq reads the number drawn by seqJPEG back from a frame of its size
// (seqAt, in decode_test.go, reads any size with its aspect ratio). It fails
// on a frame of another size or with a block that is neither clearly black
// nor clearly white.
func decodeSeq(f *Frame) (uint64, error) {
	if f.Width != seqW || f.Height != seqH {
		return 0, fmt.Errorf("frame %dx%d, want %dx%d", f.Width, f.Height, seqW, seqH)
	}
	return seqAt(f)
}

// Modes of a seqServer.
const (
	modeFrames  = iota // numbered JPEG parts
	modeStall          // connections stay open and send nothing until the mode changes
	modeHang           // like modeStall, but a connection that saw it never sends again
	modeGarbage        // parts whose bodies are random bytes
)

// seqServer is an MJPEG camera served over real HTTP: an endless
// multipart/x-mixed-replace stream of numbered JPEG frames at a fixed rate.
// It can stall, hang, send garbage, be killed and come back on the same port.
type seqServer struct {
	t        testing.TB
	interval time.Duration
	addr     string

	mode  atomic.Int32
	sent  atomic.Uint64 // the newest frame number written to any client
	next  atomic.Uint64 // the next frame number to send
	conns atomic.Int64  // clients that connected

	mu   sync.Mutex
	srv  *http.Server
	quit chan struct{} // closed by kill
	wg   sync.WaitGroup
}

// newSeqServer starts a server sending fps frames per second.
func newSeqServer(t testing.TB, fps float64) *seqServer {
	t.Helper()
	s := &seqServer{t: t, interval: time.Duration(float64(time.Second) / fps)}
	s.next.Store(1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	s.serve(ln)
	t.Cleanup(s.kill)
	return s
}

// URL is the stream's address.
func (s *seqServer) URL() string { return "http://" + s.addr + "/video.mjpg" }

func (s *seqServer) serve(ln net.Listener) {
	quit := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.wg.Add(1)
		defer s.wg.Done()
		s.handle(w, r, quit)
	})}
	s.mu.Lock()
	s.srv, s.quit = srv, quit
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		srv.Serve(ln)
	}()
}

// kill closes the listener and every connection, as a camera that loses
// power does. Handlers have returned when kill returns.
func (s *seqServer) kill() {
	s.mu.Lock()
	srv, quit := s.srv, s.quit
	s.srv, s.quit = nil, nil
	s.mu.Unlock()
	if srv != nil {
		close(quit)
		srv.Close()
	}
	s.wg.Wait()
}

// restart listens again on the same address.
func (s *seqServer) restart() {
	s.t.Helper()
	var ln net.Listener
	var err error
	for range 100 { // the port may linger briefly
		if ln, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		s.t.Fatalf("restart on %s: %v", s.addr, err)
	}
	s.serve(ln)
}

func (s *seqServer) handle(w http.ResponseWriter, r *http.Request, quit chan struct{}) {
	s.conns.Add(1)
	const boundary = "seqframe"
	fl := w.(http.Flusher)
	tick := time.NewTicker(s.interval)
	defer tick.Stop()
	rng := rand.New(rand.NewPCG(1, 2))
	headers := false
	hung := false
	for {
		mode := s.mode.Load()
		if mode == modeHang {
			hung = true
		}
		var body []byte
		var n uint64
		switch {
		case hung || mode == modeStall:
		case mode == modeGarbage:
			body = make([]byte, 700)
			for i := range body {
				body[i] = byte(rng.UintN(256))
			}
		default:
			n = s.next.Add(1) - 1
			body = seqJPEG(n)
		}
		if body != nil {
			if !headers {
				w.Header().Set("Content-Type", "multipart/x-mixed-replace; boundary="+boundary)
				headers = true
			}
			if _, err := fmt.Fprintf(w, "--%s\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n", boundary, len(body)); err != nil {
				return
			}
			if _, err := w.Write(body); err != nil {
				return
			}
			if _, err := w.Write([]byte("\r\n")); err != nil {
				return
			}
			fl.Flush()
			if n > 0 {
				s.sent.Store(n)
			}
		}
		select {
		case <-tick.C:
		case <-r.Context().Done():
			return
		case <-quit:
			return
		}
	}
}

func TestSeqJPEGRoundTrip(t *testing.T) {
	for _, n := range []uint64{0, 1, 2, 0x5a5a, 1234, seqMaxNumber} {
		m := seqJPEG(n)
		img, err := jpeg.Decode(bytes.NewReader(m))
		if err != nil {
			t.Fatal(err)
		}
		f := &Frame{Width: seqW, Height: seqH, Data: make([]byte, 3*seqW*seqH)}
		for y := range seqH {
			for x := range seqW {
				r, g, b, _ := img.At(x, y).RGBA()
				i := 3 * (y*seqW + x)
				f.Data[i], f.Data[i+1], f.Data[i+2] = byte(b>>8), byte(g>>8), byte(r>>8)
			}
		}
		got, err := decodeSeq(f)
		if err != nil || got != n {
			t.Fatalf("decodeSeq(seqJPEG(%d)) = %d, %v", n, got, err)
		}
	}
	bad := &Frame{Width: seqW, Height: seqH, Data: bytes.Repeat([]byte{128}, 3*seqW*seqH)}
	if _, err := decodeSeq(bad); err == nil {
		t.Fatal("decodeSeq of a grey frame: no error")
	}
}
