package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode"

	"gocv.io/x/gocv"
)

// sourceKind is what a Config.Source names.
type sourceKind int

const (
	kindPath   sourceKind = iota // a file or folder, told apart by resolve
	kindFile                     // a video file
	kindFolder                   // a folder of images
	kindDevice                   // a V4L2 device, by index or /dev path
	kindStream                   // an rtsp(s):// or http(s):// URL
)

func (k sourceKind) String() string {
	switch k {
	case kindPath:
		return "path"
	case kindFile:
		return "video file"
	case kindFolder:
		return "folder"
	case kindDevice:
		return "device"
	case kindStream:
		return "stream"
	}
	return fmt.Sprintf("sourceKind(%d)", int(k))
}

// maxDeviceIndex bounds bare-integer device indexes.
const maxDeviceIndex = 9999

// sourceSpec is a parsed Config.Source.
type sourceSpec struct {
	kind    sourceKind
	target  string // path or URL as given to OpenCV
	index   int    // device index; -1 unless a bare-integer device
	display string // target for logs: URL passwords redacted
}

// parseSource parses a Config.Source without touching the file system: plain
// paths come back as kindPath (resolve tells files from folders).
func parseSource(s string) (sourceSpec, error) {
	switch {
	case s == "":
		return sourceSpec{}, errors.New("empty")
	case strings.TrimSpace(s) != s:
		return sourceSpec{}, fmt.Errorf("%q has leading or trailing space", s)
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return sourceSpec{}, fmt.Errorf("%q contains a control character", s)
	}
	if isDigits(s) {
		n := 0
		for _, r := range s {
			n = n*10 + int(r-'0')
			if n > maxDeviceIndex {
				return sourceSpec{}, fmt.Errorf("device index %s is more than %d", s, maxDeviceIndex)
			}
		}
		return sourceSpec{kind: kindDevice, target: s, index: n, display: s}, nil
	}
	if i := strings.Index(s, "://"); i >= 0 {
		u, err := url.Parse(s)
		if err != nil {
			return sourceSpec{}, fmt.Errorf("invalid URL %q: %v", redactRaw(s, i), errors.Unwrap(err))
		}
		switch strings.ToLower(u.Scheme) {
		case "rtsp", "rtsps", "http", "https":
		default:
			return sourceSpec{}, fmt.Errorf("unsupported URL scheme %q (want rtsp, rtsps, http or https)", u.Scheme)
		}
		if u.Host == "" {
			return sourceSpec{}, fmt.Errorf("URL %q has no host", u.Redacted())
		}
		return sourceSpec{kind: kindStream, target: s, index: -1, display: u.Redacted()}, nil
	}
	if strings.HasPrefix(s, "/dev/") {
		if len(s) == len("/dev/") || strings.HasSuffix(s, "/") {
			return sourceSpec{}, fmt.Errorf("%q names no device", s)
		}
		return sourceSpec{kind: kindDevice, target: s, index: -1, display: s}, nil
	}
	return sourceSpec{kind: kindPath, target: s, index: -1, display: s}, nil
}

// redactRaw hides what follows "user:" in an unparsable URL's authority.
func redactRaw(s string, schemeEnd int) string {
	rest := s[schemeEnd+3:]
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return s
	}
	user := rest[:at]
	if c := strings.Index(user, ":"); c >= 0 {
		user = user[:c] + ":xxxxx"
	}
	return s[:schemeEnd+3] + user + rest[at:]
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// resolve tells a kindPath apart: a path ending in a separator or naming an
// existing folder is a folder, anything else a video file.
func (s sourceSpec) resolve() sourceSpec {
	if s.kind != kindPath {
		return s
	}
	s.kind = kindFile
	if strings.HasSuffix(s.target, "/") || strings.HasSuffix(s.target, string(os.PathSeparator)) {
		s.kind = kindFolder
	} else if fi, err := os.Stat(s.target); err == nil && fi.IsDir() {
		s.kind = kindFolder
	}
	return s
}

// source is something a Camera can (re)open.
type source interface {
	// open opens the source for reading.
	open() (reader, error)
	// queue tells whether frames must not be skipped: the reader then waits
	// for the consumer to take each frame before reading the next.
	queue() bool
	String() string
}

// reader is one opened source. Only the Run goroutine uses it.
type reader interface {
	// read returns the next frame, io.EOF when a file ended, a
	// *badFrameError for an unusable frame, or another error for a fault.
	read(ctx context.Context, p *framePool) (*Frame, error)
	// rewind restarts a looping source after io.EOF without reopening it;
	// false means it cannot, and the caller reopens.
	rewind() bool
	// interval is the pacing between reads; 0 when reads block on their own.
	interval() time.Duration
	// close releases everything the reader holds.
	close()
}

// videoSource is a video file, a device or a stream, read with VideoCapture.
type videoSource struct {
	spec  sourceSpec
	opts  frameOpts
	props []deviceProp // set on a device after opening
	log   *slog.Logger // may be nil
	// fullDecode is set once a Motion JPEG packet failed to decode on its
	// own: the source is then read with FFmpeg's decoder (it may still
	// decode what OpenCV's imdecode rejects).
	fullDecode atomic.Bool
}

func (s *videoSource) queue() bool    { return false }
func (s *videoSource) String() string { return s.spec.display }

// OpenCV's default (CAP_ANY) falls through to GStreamer for anything FFmpeg
// cannot open, which for a damaged file takes up to seconds when several
// cameras open at once and cannot be interrupted. Files and streams are
// therefore opened with FFmpeg, files then with OpenCV's built-in MJPEG
// reader; devices with V4L2.
var (
	fileAPIs   = []gocv.VideoCaptureAPI{gocv.VideoCaptureFFmpeg, gocv.VideoCaptureOpencvMjpeg}
	streamAPIs = []gocv.VideoCaptureAPI{gocv.VideoCaptureFFmpeg}
)

// openVideo opens target with the first of apis that can.
func openVideo(target string, apis []gocv.VideoCaptureAPI) *gocv.VideoCapture {
	for _, api := range apis {
		vc, err := gocv.VideoCaptureFileWithAPI(target, api)
		if err == nil && vc.IsOpened() {
			return vc
		}
		if vc != nil {
			vc.Close()
		}
	}
	return nil
}

func (s *videoSource) open() (reader, error) {
	var vc *gocv.VideoCapture
	switch {
	case s.spec.kind == kindFile:
		// Stat first: a clear error, and OpenCV does not log a warning.
		fi, err := os.Stat(s.spec.target)
		if err != nil {
			return nil, err
		}
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("%s is not a regular file", s.spec.display)
		}
		vc = openVideo(s.spec.target, fileAPIs)
	case s.spec.kind == kindDevice && s.spec.index >= 0:
		v, err := gocv.VideoCaptureDeviceWithAPI(s.spec.index, gocv.VideoCaptureV4L2)
		if err == nil && v.IsOpened() {
			vc = v
		} else if v != nil {
			v.Close()
		}
	case s.spec.kind == kindDevice:
		vc = openVideo(s.spec.target, []gocv.VideoCaptureAPI{gocv.VideoCaptureV4L2})
	default:
		vc = openVideo(s.spec.target, streamAPIs)
	}
	if vc == nil {
		return nil, fmt.Errorf("OpenCV cannot open %s %s", s.spec.kind, s.spec.display)
	}
	if len(s.props) > 0 {
		for _, miss := range applyProps(vc, s.props) {
			if s.log != nil {
				s.log.Warn("device setting not taken", "source", s.spec.display, "setting", miss)
			}
		}
	}
	r := &videoReader{src: s, vc: vc, mat: gocv.NewMat(), conv: newConverter(s.opts)}
	if s.spec.kind != kindDevice && !s.fullDecode.Load() {
		r.jpeg = s.reducedDecoder(vc)
	}
	if s.spec.kind == kindFile {
		r.path, r.file = s.spec.target, fileAt(s.spec.target)
		r.iv = frameInterval(vc.Get(gocv.VideoCaptureFPS))
	}
	return r, nil
}

// reducedDecoder switches vc, a file or stream opened with FFmpeg, to raw
// packets and returns a decoder that decodes them reduced, when the codec is
// Motion JPEG and opts ask for a reduction; otherwise it returns nil and vc
// decodes as usual.
func (s *videoSource) reducedDecoder(vc *gocv.VideoCapture) *jpegDecoder {
	if s.opts.decodeScale == DecodeScaleFull || vc.Get(gocv.VideoCaptureBackend) != float64(gocv.VideoCaptureFFmpeg) {
		return nil
	}
	fourcc := fourccString(vc.Get(gocv.VideoCaptureFOURCC))
	if !isJPEGCodec(fourcc) {
		return nil
	}
	w, h := int(vc.Get(gocv.VideoCaptureFrameWidth)), int(vc.Get(gocv.VideoCaptureFrameHeight))
	scale := chooseDecodeScale(s.opts.decodeScale, s.opts.minSide, w, h, s.opts.roi, s.opts.rotate)
	if scale <= 1 {
		return nil
	}
	// CAP_PROP_FORMAT -1 is the FFmpeg backend's raw mode: Read hands out
	// the encoded packets.
	vc.Set(gocv.VideoCaptureFormat, -1)
	if vc.Get(gocv.VideoCaptureFormat) != -1 {
		if s.log != nil {
			s.log.Warn("Motion JPEG decoded in full: OpenCV's FFmpeg backend has no raw mode here", "source", s.spec.display)
		}
		return nil
	}
	if s.log != nil {
		s.log.Info("decoding Motion JPEG reduced", "source", s.spec.display, "size", fmt.Sprintf("%dx%d", w, h), "scale", "1/"+strconv.Itoa(scale))
	}
	return newJPEGDecoder(scale)
}

// fileAt returns the file at path now (nil if there is none).
func fileAt(path string) os.FileInfo {
	fi, err := os.Stat(path)
	if err != nil {
		return nil
	}
	return fi
}

// sameFile tells whether path still names the unchanged file a.
func sameFile(a os.FileInfo, path string) bool {
	b := fileAt(path)
	return a != nil && b != nil && os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

// frameInterval is the time between frames at fps, DefaultVideoFPS when fps
// is unknown or implausible.
func frameInterval(fps float64) time.Duration {
	if math.IsNaN(fps) || fps < 0.1 || fps > 1000 {
		fps = DefaultVideoFPS
	}
	return time.Duration(float64(time.Second) / fps)
}

// videoReader reads an opened VideoCapture into one reusable Mat.
type videoReader struct {
	src    *videoSource
	vc     *gocv.VideoCapture
	jpeg   *jpegDecoder // Motion JPEG decoded reduced from raw packets; nil: vc decodes
	jpegOK bool         // jpeg decoded a packet since open
	mat    gocv.Mat
	conv   *converter
	iv     time.Duration
	path   string      // video files: the path opened
	file   os.FileInfo // video files: the file opened
	frames int         // frames read since open
}

// rewind starts an unchanged video file over without reopening it. It
// reports false when the file on disk was replaced or removed, or the seek
// failed: the caller then reopens the path.
func (r *videoReader) rewind() bool {
	if r.file == nil || !sameFile(r.file, r.path) {
		return false
	}
	r.vc.Set(gocv.VideoCapturePosFrames, 0)
	return r.vc.Get(gocv.VideoCapturePosFrames) == 0
}

func (r *videoReader) interval() time.Duration { return r.iv }

func (r *videoReader) read(_ context.Context, p *framePool) (*Frame, error) {
	if !r.vc.Read(&r.mat) {
		if r.path != "" && r.frames > 0 {
			return nil, io.EOF
		}
		if r.frames > 0 {
			return nil, fmt.Errorf("read failed after %d frames", r.frames)
		}
		return nil, errors.New("read failed: no frame")
	}
	t := time.Now()
	r.frames++
	m := &r.mat
	if r.jpeg != nil {
		d, err := r.jpeg.decode(&r.mat)
		if err != nil {
			if !r.jpegOK {
				// The first packet already fails: read this source with
				// FFmpeg's own decoder from now on (the reopen does it).
				r.src.fullDecode.Store(true)
				return nil, fmt.Errorf("Motion JPEG packet does not decode on its own (%v): reopening to decode with FFmpeg", err)
			}
			return nil, err
		}
		r.jpegOK = true
		m = d
	}
	f, err := r.conv.frame(m, p)
	if err != nil {
		return nil, err
	}
	f.Time = t
	return f, nil
}

func (r *videoReader) close() {
	if r.jpeg != nil {
		r.jpeg.close()
	}
	r.vc.Close()
	r.mat.Close()
	r.conv.close()
}

// copyFrame copies m's pixels, as packed BGR, into a pooled frame. conv is a
// reusable scratch Mat for grey, BGRA and non-continuous images.
func copyFrame(m, conv *gocv.Mat, p *framePool) (*Frame, error) {
	src := m
	switch t := m.Type(); t {
	case gocv.MatTypeCV8UC3:
		if !m.IsContinuous() {
			m.CopyTo(conv)
			src = conv
		}
	case gocv.MatTypeCV8UC1:
		gocv.CvtColor(*m, conv, gocv.ColorGrayToBGR)
		src = conv
	case gocv.MatTypeCV8UC4:
		gocv.CvtColor(*m, conv, gocv.ColorBGRAToBGR)
		src = conv
	default:
		return nil, badFrame("unsupported pixel type %v", t)
	}
	w, h := src.Cols(), src.Rows()
	data, err := src.DataPtrUint8()
	if err != nil {
		return nil, badFrame("%v", err)
	}
	if w <= 0 || h <= 0 || len(data) != 3*w*h {
		return nil, badFrame("frame %dx%d holds %d bytes, want %d", w, h, len(data), 3*w*h)
	}
	f := p.newFrame(w, h)
	copy(f.Data, data)
	return f, nil
}

// imageExts are the file extensions a folder source reads.
var imageExts = []string{".bmp", ".dib", ".jpe", ".jpeg", ".jpg", ".pbm", ".pgm", ".png", ".pnm", ".ppm", ".tif", ".tiff", ".webp"}

// isImageName tells whether a folder entry looks like an image to read:
// a known extension and not hidden (upload tools write dotfiles first).
func isImageName(name string) bool {
	if strings.HasPrefix(name, ".") {
		return false
	}
	return slices.Contains(imageExts, strings.ToLower(filepath.Ext(name)))
}

// fileSig is what tells that a file has stopped changing.
type fileSig struct {
	size int64
	mod  time.Time
}

// folderSource is a folder of images delivered once each, in name order.
// Its state survives reopening, so a fault never re-delivers files.
type folderSource struct {
	spec sourceSpec
	dir  string
	loop bool
	poll time.Duration
	opts frameOpts

	seen  map[string]bool    // delivered in this round (and still present)
	last  map[string]fileSig // the previous listing
	ready []string           // settled, not yet delivered, in name order
}

func newFolderSource(spec sourceSpec, loop bool, poll time.Duration, opts frameOpts) *folderSource {
	return &folderSource{
		spec: spec,
		opts: opts,
		dir:  spec.target,
		loop: loop,
		poll: poll,
		seen: map[string]bool{},
		last: map[string]fileSig{},
	}
}

func (s *folderSource) queue() bool    { return true }
func (s *folderSource) String() string { return s.spec.display }

func (s *folderSource) open() (reader, error) {
	fi, err := os.Stat(s.dir)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%s is not a folder", s.spec.display)
	}
	return &folderReader{s: s, w: newWaiter(), conv: newConverter(s.opts)}, nil
}

// scan lists the folder and queues files that are new and settled: unchanged
// since the previous listing. With loop, a round in which every present file
// has been delivered starts the next round.
func (s *folderSource) scan() error {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return err
	}
	present := make(map[string]fileSig, len(entries))
	var ready []string
	for _, e := range entries {
		name := e.Name()
		if !isImageName(name) {
			continue
		}
		fi, err := os.Stat(filepath.Join(s.dir, name)) // follows symlinks
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		sig := fileSig{size: fi.Size(), mod: fi.ModTime()}
		present[name] = sig
		if s.seen[name] {
			continue
		}
		if prev, ok := s.last[name]; ok && prev == sig && sig.size > 0 {
			ready = append(ready, name)
		}
	}
	for name := range s.seen {
		if _, ok := present[name]; !ok {
			delete(s.seen, name)
		}
	}
	s.last = present
	if len(ready) == 0 && s.loop && len(present) > 0 && len(s.seen) == len(present) {
		clear(s.seen)
		for name := range present {
			ready = append(ready, name)
		}
	}
	slices.Sort(ready)
	s.ready = ready
	return nil
}

// folderReader reads a folderSource's files, polling for new ones.
type folderReader struct {
	s    *folderSource
	w    *waiter
	conv *converter
}

func (r *folderReader) interval() time.Duration { return 0 }
func (r *folderReader) rewind() bool            { return false }

func (r *folderReader) read(ctx context.Context, p *framePool) (*Frame, error) {
	s := r.s
	for {
		if len(s.ready) > 0 {
			name := s.ready[0]
			s.ready = s.ready[1:]
			s.seen[name] = true
			f, err := r.decode(name, p)
			if err != nil {
				return nil, err
			}
			f.File = name
			return f, nil
		}
		if err := s.scan(); err != nil {
			return nil, err
		}
		if len(s.ready) == 0 && !r.w.sleep(ctx, s.poll) {
			return nil, ctx.Err()
		}
	}
}

// decode reads one image file into a pooled frame; a file that cannot be
// read or decoded is a bad frame.
func (r *folderReader) decode(name string, p *framePool) (*Frame, error) {
	path := filepath.Join(r.s.dir, name)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, badFrame("%v", err)
	}
	t := time.Now()
	m, err := gocv.IMDecode(b, gocv.IMReadColor)
	if err != nil {
		return nil, badFrame("%s: %v", path, err)
	}
	defer m.Close()
	if m.Empty() {
		return nil, badFrame("%s: not a decodable image", path)
	}
	f, err := r.conv.frame(&m, p)
	if err != nil {
		return nil, badFrame("%s: %v", path, err)
	}
	f.Time = t
	return f, nil
}

func (r *folderReader) close() {
	r.w.stop()
	r.conv.close()
}
