package publish

import (
	"bufio"
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/autoclipd/autoclipd/internal/logtest"
)

// push queues a message whose payload is its name, e.g. "E1" (the letter
// gives the class: C classification, D discovery, S state, T status, E
// event, P snapshot, K control), and reports whether it was dropped at once.
func push(q *queue, name string) bool {
	class := map[byte]Class{'P': ClassSnapshot, 'C': ClassClassification, 'D': ClassDiscovery, 'S': ClassState, 'K': ClassControl, 'T': ClassStatus, 'E': ClassEvent}[name[0]]
	return q.push("t/"+name, []byte(name), Msg{QoS: 1, Retained: class == ClassState, Class: class})
}

// contents lists the payloads of q in seq order.
func contents(q *queue) []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []string
	for _, r := range q.records() {
		out = append(out, string(r.payload))
	}
	return out
}

// drain sends everything: it returns the payloads in the order next gives
// them.
func drain(q *queue) []string {
	var out []string
	for r := q.next(); r != nil; r = q.next() {
		out = append(out, string(r.payload))
		q.ack(r)
	}
	return out
}

func TestQueueDropsLowestClassOldestFirst(t *testing.T) {
	q := newQueue(4, slog.New(slog.DiscardHandler))
	for _, step := range []struct {
		push        string
		droppedSelf bool
		want        string
	}{
		{"E1", false, "E1"},
		{"C2", false, "E1 C2"},
		{"S3", false, "E1 C2 S3"},
		{"C4", false, "E1 C2 S3 C4"},
		{"E5", false, "E1 S3 C4 E5"},    // the oldest classification goes
		{"C6", false, "E1 S3 E5 C6"},    // a classification replaces the oldest one
		{"E7", false, "E1 S3 E5 E7"},    //
		{"C8", true, "E1 S3 E5 E7"},     // nothing lower than a classification: the new one goes
		{"D9", true, "E1 S3 E5 E7"},     // nor than discovery
		{"T10", false, "E1 E5 E7 T10"},  // status outranks state
		{"E11", false, "E1 E5 E7 E11"},  // then status
		{"E12", false, "E5 E7 E11 E12"}, // events go last, the oldest first
		{"E13", false, "E7 E11 E12 E13"},
	} {
		if got := push(q, step.push); got != step.droppedSelf {
			t.Fatalf("push %s: dropped at once %v, want %v", step.push, got, step.droppedSelf)
		}
		if got := strings.Join(contents(q), " "); got != step.want {
			t.Fatalf("after %s: %q, want %q", step.push, got, step.want)
		}
		if d := q.depth(); d > 4 {
			t.Fatalf("depth %d past the bound", d)
		}
	}
	dropped, depth, maxDepth, _ := q.counters()
	if want := [numClasses]uint64{ClassClassification: 4, ClassDiscovery: 1, ClassState: 1, ClassStatus: 1, ClassEvent: 2}; dropped != want {
		t.Errorf("dropped %v, want %v", dropped, want)
	}
	if depth != 4 || maxDepth != 4 {
		t.Errorf("depth %d, max %d", depth, maxDepth)
	}
	if got := strings.Join(drain(q), " "); got != "E7 E11 E12 E13" {
		t.Errorf("sent in the order %q", got)
	}
}

// TestQueueByteBound: past the byte bound, the oldest snapshots go first,
// then the usual order; a message larger than the bound goes at once.
func TestQueueByteBound(t *testing.T) {
	q := newQueue(100, slog.New(slog.DiscardHandler))
	q.maxBytes = 100 // topics "t/XX" are 4 bytes, payloads 2 or 3
	var drops []Class
	q.onDrop = func(c Class) { drops = append(drops, c) }
	big := func(name string, n int) {
		q.push("t/"+name, append([]byte(name), bytes.Repeat([]byte("."), n)...), Msg{Class: map[byte]Class{'P': ClassSnapshot, 'E': ClassEvent, 'C': ClassClassification}[name[0]]})
	}
	push(q, "E1")
	big("P2", 40)
	push(q, "C3")
	big("P4", 40) // 6+46+6+46 = 104 > 100: P2 goes
	if got := strings.Join(names(q), " "); got != "E1 C3 P4" {
		t.Fatalf("%q, want E1 C3 P4", got)
	}
	big("E5", 90) // P4, then C3, then E1 go
	if got := strings.Join(names(q), " "); got != "E5" {
		t.Fatalf("%q, want E5", got)
	}
	if dropped := q.push("t/E6", bytes.Repeat([]byte("x"), 200), Msg{Class: ClassEvent}); !dropped {
		t.Error("a message larger than the bound was queued")
	}
	if got := strings.Join(names(q), " "); got != "E5" {
		t.Fatalf("%q: the message larger than the bound pushed others out", got)
	}
	if want := []Class{ClassSnapshot, ClassSnapshot, ClassClassification, ClassEvent, ClassEvent}; !slices.Equal(drops, want) {
		t.Errorf("drops %v, want %v", drops, want)
	}
	if q.bytes > q.maxBytes {
		t.Errorf("%d bytes queued, bound %d", q.bytes, q.maxBytes)
	}
}

// names lists the names of the records of q (the payload up to the first
// '.').
func names(q *queue) []string {
	var out []string
	for _, c := range contents(q) {
		out = append(out, strings.SplitN(c, ".", 2)[0])
	}
	return out
}

func TestQueueNeverDropsTheMessageInFlight(t *testing.T) {
	q := newQueue(2, slog.New(slog.DiscardHandler))
	push(q, "C1")
	push(q, "C2")
	h := q.next()
	if string(h.payload) != "C1" {
		t.Fatalf("head %s", h.payload)
	}
	push(q, "E3") // drops C2, not C1 in flight
	if got := strings.Join(contents(q), " "); got != "C1 E3" {
		t.Fatalf("%q, want C1 E3", got)
	}
	push(q, "E4") // C1 is the only classification and in flight: E3 goes
	if got := strings.Join(contents(q), " "); got != "C1 E4" {
		t.Fatalf("%q, want C1 E4", got)
	}
	q.ack(h)
	if got := strings.Join(contents(q), " "); got != "E4" {
		t.Fatalf("after the ack %q", got)
	}
	// A failed send leaves the head in place.
	h = q.next()
	q.release()
	if h2 := q.next(); h2 != h {
		t.Errorf("head changed after release: %s", h2.payload)
	}
}

// TestQueueWindow sends several messages before the first is
// acknowledged: none of them is dropped, they are acknowledged in order,
// and after a release they are sent again from the oldest.
func TestQueueWindow(t *testing.T) {
	q := newQueue(5, slog.New(slog.DiscardHandler))
	for _, n := range []string{"C1", "E2", "C3", "C4", "S5"} {
		push(q, n)
	}
	var win []*record
	for range 3 {
		win = append(win, q.next()) // C1 E2 C3 in flight
	}
	push(q, "E6") // C4 goes: C1 and C3 are in flight
	if got := strings.Join(contents(q), " "); got != "C1 E2 C3 S5 E6" {
		t.Fatalf("%q", got)
	}
	push(q, "E7") // no classification left to drop: S5 goes
	if got := strings.Join(contents(q), " "); got != "C1 E2 C3 E6 E7" {
		t.Fatalf("%q", got)
	}
	push(q, "E8") // E2 is in flight: E6 goes
	if got := strings.Join(contents(q), " "); got != "C1 E2 C3 E7 E8" {
		t.Fatalf("%q", got)
	}
	q.ack(win[0])
	q.release() // the connection died with E2 and C3 unacknowledged
	if got := strings.Join(drain(q), " "); got != "E2 C3 E7 E8" {
		t.Errorf("sent again %q", got)
	}
	if d, _, _, _ := q.counters(); d[ClassClassification] != 1 || d[ClassState] != 1 || d[ClassEvent] != 1 {
		t.Errorf("dropped %v", d)
	}
}

func TestQueueOrderAcrossClasses(t *testing.T) {
	q := newQueue(1000, slog.New(slog.DiscardHandler))
	var want []string
	for i := range 300 {
		name := fmt.Sprintf("%c%d", "CDSTE"[i*7%5], i)
		push(q, name)
		want = append(want, name)
	}
	if got := drain(q); !slices.Equal(got, want) {
		t.Errorf("order %v", got)
	}
	if q.depth() != 0 {
		t.Errorf("depth %d after draining", q.depth())
	}
}

// openTestQueue opens a disk queue in dir with a logger into buf.
func openTestQueue(t *testing.T, dir string, bound int) (*queue, *logtest.Buffer) {
	t.Helper()
	var lb logtest.Buffer
	q, err := openQueue(bound, DefaultQueueBytes, dir, slog.New(slog.NewTextHandler(&lb, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = q.close() })
	return q, &lb
}

func segFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+segExt))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(m)
	return m
}

func TestDiskQueueSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	q, _ := openTestQueue(t, dir, 100)
	for i := range 10 {
		push(q, fmt.Sprintf("%c%d", "CSE"[i%3], i))
	}
	for range 3 {
		q.ack(q.next())
	}
	q.next() // in flight when the daemon stops: sent again
	if err := q.close(); err != nil {
		t.Fatal(err)
	}

	q2, lb := openTestQueue(t, dir, 100)
	want := []string{"C3", "S4", "E5", "C6", "S7", "E8", "C9"}
	if got := contents(q2); !slices.Equal(got, want) {
		t.Fatalf("read back %v, want %v", got, want)
	}
	q2.mu.Lock()
	recs := q2.records()
	q2.mu.Unlock()
	for _, r := range recs {
		wantClass := map[byte]Class{'C': ClassClassification, 'S': ClassState, 'E': ClassEvent}[r.payload[0]]
		if r.topic != "t/"+string(r.payload) || r.msg != (Msg{QoS: 1, Retained: wantClass == ClassState, Class: wantClass}) {
			t.Errorf("record %s: topic %q, msg %+v", r.payload, r.topic, r.msg)
		}
	}
	if !strings.Contains(lb.String(), "messages from the last run queued again") || !strings.Contains(lb.String(), "messages=7") {
		t.Errorf("log:\n%s", lb)
	}
	push(q2, "E10") // after the old ones
	if got := strings.Join(drain(q2), " "); got != "C3 S4 E5 C6 S7 E8 C9 E10" {
		t.Errorf("sent %q", got)
	}
	if err := q2.close(); err != nil {
		t.Fatal(err)
	}
	q3, _ := openTestQueue(t, dir, 100)
	if n := q3.depth(); n != 0 {
		t.Errorf("%d records back after everything was sent: %v", n, contents(q3))
	}
	if f := segFiles(t, dir); len(f) != 1 {
		t.Errorf("segments left: %v, want only the active one", f)
	}
}

// TestDiskQueueSmallerBound reopens with a smaller bound: the usual drop
// rule applies to what is read back.
func TestDiskQueueSmallerBound(t *testing.T) {
	dir := t.TempDir()
	q, _ := openTestQueue(t, dir, 10)
	for _, n := range []string{"E1", "C2", "E3", "C4", "E5"} {
		push(q, n)
	}
	_ = q.close()
	q2, _ := openTestQueue(t, dir, 3)
	if got := strings.Join(contents(q2), " "); got != "E1 E3 E5" {
		t.Errorf("%q, want the events", got)
	}
	if d, _, _, _ := q2.counters(); d[ClassClassification] != 2 {
		t.Errorf("dropped %v", d)
	}
}

func TestDiskQueueCorruptTail(t *testing.T) {
	for _, tc := range []struct {
		name    string
		corrupt func(b []byte) []byte
		want    string
	}{
		{"half a record appended", func(b []byte) []byte {
			return append(b, appendData(nil, &record{seq: 99, topic: "t/x", payload: []byte("x")})[:11]...)
		}, "C1 E2 S3"},
		{"last record's payload flipped", func(b []byte) []byte {
			b[len(b)-1] ^= 0xff
			return b
		}, "C1 E2"},
		{"garbage length", func(b []byte) []byte {
			return append(b, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 1)
		}, "C1 E2 S3"},
		{"header overwritten", func(b []byte) []byte {
			copy(b, "XXXXXXXX")
			return b
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			q, _ := openTestQueue(t, dir, 10)
			for _, n := range []string{"C1", "E2", "S3"} {
				push(q, n)
			}
			_ = q.close()
			files := segFiles(t, dir)
			last := files[len(files)-1]
			b, err := os.ReadFile(last)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(last, tc.corrupt(b), 0o600); err != nil {
				t.Fatal(err)
			}
			q2, lb := openTestQueue(t, dir, 10)
			if got := strings.Join(contents(q2), " "); got != tc.want {
				t.Errorf("read back %q, want %q", got, tc.want)
			}
			if !strings.Contains(lb.String(), "corrupt segment tail truncated") || !strings.Contains(lb.String(), last) {
				t.Errorf("no warning naming %s:\n%s", last, lb)
			}
			_ = q2.close()
			// Truncated: a second reopen finds the same records, silently.
			// (A segment left with no live record is deleted.)
			if fixed, err := os.ReadFile(last); err == nil {
				if _, _, valid, err := decodeSegment(fixed); err != nil || valid != len(fixed) {
					t.Errorf("segment still corrupt after the reopen: %v", err)
				}
			} else if tc.want != "" {
				t.Errorf("segment with live records gone: %v", err)
			}
			q3, lb3 := openTestQueue(t, dir, 10)
			if got := strings.Join(contents(q3), " "); got != tc.want {
				t.Errorf("second reopen %q, want %q", got, tc.want)
			}
			if strings.Contains(lb3.String(), "corrupt") {
				t.Errorf("second reopen warns:\n%s", lb3)
			}
		})
	}
}

// TestDiskQueueCompaction keeps an event queued while classifications are
// dropped by the thousand (a long outage): the files stay small, and what
// is read back is exactly the live records.
func TestDiskQueueCompaction(t *testing.T) {
	dir := t.TempDir()
	q, _ := openTestQueue(t, dir, 5)
	q.disk.segmentSize, q.disk.compactMin = 4096, 16384
	push(q, "E0")
	for i := 1; i <= 3000; i++ {
		push(q, fmt.Sprintf("C%d", i))
	}
	if q.disk.compactions == 0 {
		t.Error("no compaction")
	}
	var total int64
	for _, f := range segFiles(t, dir) {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		total += st.Size()
	}
	// Compaction starts once dead bytes pass 16 KiB and the live ones.
	if total > 2*16384+2*4096 {
		t.Errorf("%d bytes on disk for 5 small messages", total)
	}
	if total != q.disk.total {
		t.Errorf("accounted %d bytes, files hold %d", q.disk.total, total)
	}
	_ = q.close()
	q2, _ := openTestQueue(t, dir, 5)
	if got := strings.Join(contents(q2), " "); got != "E0 C2997 C2998 C2999 C3000" {
		t.Errorf("read back %q", got)
	}
}

func TestDiskQueueDeletesSentSegments(t *testing.T) {
	dir := t.TempDir()
	q, _ := openTestQueue(t, dir, 100)
	q.disk.segmentSize = 256
	for i := range 500 {
		push(q, fmt.Sprintf("E%d", i))
		if i%3 == 2 {
			drain(q)
		}
	}
	drain(q)
	if f := segFiles(t, dir); len(f) > 2 {
		t.Errorf("%d segments left with nothing queued: %v", len(f), f)
	}
	if q.disk.live != 0 {
		t.Errorf("live bytes %d with nothing queued", q.disk.live)
	}
}

// FuzzDecodeSegment feeds arbitrary bytes to the segment reader: it never
// panics, the valid prefix it reports decodes again without error to the
// same records, and its length is the sum of the record sizes.
func FuzzDecodeSegment(f *testing.F) {
	seg := []byte(segMagic)
	seg = appendData(seg, &record{seq: 1, topic: "a/b", payload: []byte(`{"x":1}`), msg: Msg{QoS: 1, Retained: true, Class: ClassState}})
	seg = appendRemove(seg, 1)
	seg = appendData(seg, &record{seq: 2, topic: "a/c", msg: Msg{Class: ClassEvent}})
	f.Add(seg)
	f.Add(seg[:len(seg)-3])
	f.Add([]byte(segMagic))
	f.Add([]byte("ACQ"))
	f.Add(append([]byte(segMagic), 9, 0, 0, 0, 0, 0, 0, 0, 2, 1, 0, 0, 0, 0, 0, 0, 0))
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, removes, valid, err := decodeSegment(data)
		if valid < 0 || valid > len(data) {
			t.Fatalf("valid %d of %d bytes", valid, len(data))
		}
		if err == nil && valid != len(data) {
			t.Fatalf("no error but only %d of %d bytes valid", valid, len(data))
		}
		if valid == 0 {
			if len(recs) > 0 || len(removes) > 0 {
				t.Fatalf("records from an invalid header")
			}
			return
		}
		size := int64(len(segMagic)) + int64(len(removes))*(recHeader+removeBodyLen)
		for _, r := range recs {
			size += r.size
			if !r.msg.Class.valid() || r.msg.QoS > 2 || r.seq == 0 || r.topic == "" {
				t.Fatalf("bad record decoded: %+v", r)
			}
			if enc := appendData(nil, r); int64(len(enc)) != r.size || !bytes.Contains(data[:valid], enc) {
				t.Fatalf("record %d does not encode back to its bytes", r.seq)
			}
		}
		if size != int64(valid) {
			t.Fatalf("records add up to %d bytes, valid prefix %d", size, valid)
		}
		recs2, removes2, valid2, err2 := decodeSegment(data[:valid])
		if err2 != nil || valid2 != valid || len(recs2) != len(recs) || !slices.Equal(removes2, removes) {
			t.Fatalf("valid prefix decodes differently: %v", err2)
		}
	})
}

func BenchmarkQueuePushAck(b *testing.B) {
	payload := bytes.Repeat([]byte("x"), 400)
	for _, disk := range []bool{false, true} {
		b.Run(fmt.Sprintf("disk=%v", disk), func(b *testing.B) {
			dir := ""
			if disk {
				dir = b.TempDir()
			}
			q, err := openQueue(DefaultQueue, DefaultQueueBytes, dir, slog.New(slog.DiscardHandler), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer q.close()
			b.ReportAllocs()
			for b.Loop() {
				q.push("autoclipd/edge-1/yard/event", payload, Msg{QoS: 1, Class: ClassEvent})
				q.ack(q.next())
			}
		})
	}
}

func TestDiskQueueOnePublisherPerDir(t *testing.T) {
	dir := t.TempDir()
	q, _ := openTestQueue(t, dir, 10)
	_, err := openQueue(10, DefaultQueueBytes, dir, slog.New(slog.DiscardHandler), nil)
	if err == nil || !strings.Contains(err.Error(), "mqtt.queue_dir: "+dir+" is in use by another publisher") {
		t.Fatalf("second open: %v", err)
	}
	o := testOptions("tcp://127.0.0.1:1", "locked")
	o.QueueDir = dir
	if p, err := New(t.Context(), o, nil); err == nil || !strings.Contains(err.Error(), "in use") {
		if p != nil {
			_ = p.Close(t.Context())
		}
		t.Fatalf("New on a directory in use: %v", err)
	}
	if err := q.close(); err != nil {
		t.Fatal(err)
	}
	q2, _ := openTestQueue(t, dir, 10)
	_ = q2.close()
}

// TestDiskQueueWriteFailure: when the disk refuses writes, messages stay
// queued in memory, the failures are counted and logged once.
func TestDiskQueueWriteFailure(t *testing.T) {
	dir := t.TempDir()
	q, lb := openTestQueue(t, dir, 10)
	push(q, "E1")
	q.mu.Lock()
	_ = q.disk.f.Close() // every later write fails
	q.mu.Unlock()
	push(q, "E2")
	push(q, "S3")
	if got := strings.Join(contents(q), " "); got != "E1 E2 S3" {
		t.Fatalf("queued %q", got)
	}
	if _, _, _, errs := q.counters(); errs != 2 {
		t.Errorf("disk errors %d, want 2", errs)
	}
	if n := strings.Count(lb.String(), "mqtt queue: write failed"); n != 1 {
		t.Errorf("%d error lines, want 1:\n%s", n, lb)
	}
	if got := strings.Join(drain(q), " "); got != "E1 E2 S3" {
		t.Errorf("sent %q", got)
	}
}

// FuzzOpenDiskQueue writes arbitrary bytes as a segment file and opens the
// queue on it: it never fails or panics, and a second open finds the same
// records without a warning (the corrupt tail was truncated).
func FuzzOpenDiskQueue(f *testing.F) {
	seg := []byte(segMagic)
	seg = appendData(seg, &record{seq: 3, topic: "a/b", payload: []byte("p"), msg: Msg{QoS: 1, Class: ClassEvent}})
	seg = appendData(seg, &record{seq: 4, topic: "a/c", payload: []byte("q"), msg: Msg{Class: ClassClassification}})
	seg = appendRemove(seg, 3)
	f.Add(seg)
	f.Add(seg[:len(seg)-5])
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, segName(1)), data, 0o600); err != nil {
			t.Fatal(err)
		}
		var lb logtest.Buffer
		q, err := openQueue(100, DefaultQueueBytes, dir, slog.New(slog.NewTextHandler(&lb, nil)), nil)
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		first := contents(q)
		if err := q.close(); err != nil {
			t.Fatal(err)
		}
		var lb2 logtest.Buffer
		q2, err := openQueue(100, DefaultQueueBytes, dir, slog.New(slog.NewTextHandler(&lb2, nil)), nil)
		if err != nil {
			t.Fatalf("second open: %v", err)
		}
		defer q2.close()
		if second := contents(q2); !slices.Equal(first, second) {
			t.Fatalf("first open %q, second %q", first, second)
		}
		if strings.Contains(lb2.String(), "corrupt") {
			t.Fatalf("second open warns: %s", lb2.String())
		}
	})
}

// TestDiskQueueSurvivesSIGKILL runs a child process that queues events on
// disk (and sends some) as fast as it can, kills it with SIGKILL, and
// reads the directory back: every event the child had queued and not sent
// is there, in order, nothing missing in between.
func TestDiskQueueSurvivesSIGKILL(t *testing.T) {
	if dir := os.Getenv("AUTOCLIPD_TEST_QUEUE_CHILD"); dir != "" {
		q, err := openQueue(100000, DefaultQueueBytes, dir, slog.New(slog.DiscardHandler), nil)
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		for i := 0; ; i++ {
			push(q, fmt.Sprintf("E%d", i))
			if i%3 == 2 { // send one of every three
				q.ack(q.next())
			}
			fmt.Println(i) // queued (written) before it is reported
		}
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestDiskQueueSurvivesSIGKILL$")
	cmd.Env = append(os.Environ(), "AUTOCLIPD_TEST_QUEUE_CHILD="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	last := -1
	for sc.Scan() && last < 3000 {
		if _, err := fmt.Sscan(sc.Text(), &last); err != nil {
			t.Fatalf("child: %q", sc.Text())
		}
	}
	_ = cmd.Process.Kill() // SIGKILL: no chance to close anything
	_ = cmd.Wait()
	if last < 3000 {
		t.Fatalf("child stopped after %d", last)
	}

	q, _ := openTestQueue(t, dir, 100000)
	got := contents(q)
	if len(got) == 0 {
		t.Fatal("nothing read back")
	}
	var first int
	if _, err := fmt.Sscanf(got[0], "E%d", &first); err != nil {
		t.Fatal(err)
	}
	for i, g := range got {
		if want := fmt.Sprintf("E%d", first+i); g != want {
			t.Fatalf("record %d is %s, want %s: gap or reordering", i, g, want)
		}
	}
	lastBack := first + len(got) - 1
	// The child may have gone on past what the test read: everything it
	// reported is there, and one of every three up to the last is sent.
	if lastBack < last || first < (lastBack+1)/3-1 || first > (lastBack+1)/3+1 {
		t.Errorf("read back E%d..E%d, child had reported E%d", first, lastBack, last)
	}
	t.Logf("child queued E0..E%d, read back E%d..E%d", last, first, lastBack)
}

// TestQueueMemoryBounded pushes 100 times the bound through a full queue
// (a long outage): the queue's slices and the heap stay bounded.
func TestQueueMemoryBounded(t *testing.T) {
	const bound = 1000
	q := newQueue(bound, slog.New(slog.DiscardHandler))
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := range 100 * bound {
		class := ClassClassification
		if i%10 == 0 {
			class = ClassEvent
		}
		q.push("autoclipd/edge-1/yard/classification", make([]byte, 1024), Msg{Class: class})
	}
	if d := q.depth(); d != bound {
		t.Fatalf("depth %d", d)
	}
	for c := range q.cls {
		if n := cap(q.cls[c].items); n > 4*bound {
			t.Errorf("class %v: slice of %d for at most %d records", Class(c), n, bound)
		}
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	// 1000 records of 1 KiB plus their slices: about 1.2 MB.
	if grown > 8<<20 {
		t.Errorf("heap grew by %d bytes for %d queued KiB", grown, bound)
	}
	t.Logf("heap grew by %d bytes holding %d records of 1 KiB", grown, bound)
	runtime.KeepAlive(q)
}
