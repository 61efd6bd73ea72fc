package publish

import (
	"log/slog"
	"sync"
)

// Default bounds of the outgoing queue.
const (
	// DefaultQueue is the default bound in messages.
	DefaultQueue = 10000
	// DefaultQueueBytes is the default bound in bytes of topics and
	// payloads (snapshots are large).
	DefaultQueueBytes = 64 << 20
)

// record is one queued message. seq orders records: a record pushed later
// has a larger seq.
type record struct {
	seq     uint64
	msg     Msg
	topic   string
	payload []byte

	seg  *segment // disk segment holding it; nil in memory only
	size int64    // its size on disk
}

// mem is what the record counts against the byte bound.
func (r *record) mem() int64 { return int64(len(r.topic) + len(r.payload)) }

// fifo is a queue of records of one class, in seq order.
type fifo struct {
	items []*record
	head  int
}

func (f *fifo) len() int { return len(f.items) - f.head }

func (f *fifo) front() *record { return f.items[f.head] }

func (f *fifo) push(r *record) {
	if f.head > 0 && f.head >= len(f.items)/2 {
		n := copy(f.items, f.items[f.head:])
		clear(f.items[n:])
		f.items = f.items[:n]
		f.head = 0
	}
	f.items = append(f.items, r)
}

func (f *fifo) pop() *record {
	r := f.items[f.head]
	f.items[f.head] = nil
	f.head++
	if f.head == len(f.items) {
		f.items = f.items[:0]
		f.head = 0
	}
	return r
}

// removeAt removes and returns the record at index k (the k before it
// are in flight).
func (f *fifo) removeAt(k int) *record {
	r := f.items[f.head+k]
	copy(f.items[f.head+1:f.head+k+1], f.items[f.head:f.head+k])
	f.items[f.head] = nil
	f.head++
	return r
}

// queue is the bounded outgoing queue of a Publisher: records in seq
// order, one fifo per class so that the oldest record of a class can be
// dropped in O(1). Records are sent in seq order (next); those in flight,
// the first sending[c] of each class, are never dropped and are removed
// (ack) in the order they were sent. With a diskLog, every push and
// removal is also written to disk. All methods are safe for concurrent use.
type queue struct {
	mu       sync.Mutex
	bound    int
	maxBytes int64
	cls      [numClasses]fifo
	n        int
	bytes    int64           // sum of mem() of the queued records
	sending  [numClasses]int // records in flight at the front of each class
	nextSeq  uint64
	dropped  [numClasses]uint64
	maxDepth int
	disk     *diskLog // nil: memory only
	log      *slog.Logger
	onDrop   func(Class) // called, with mu held, for each dropped message

	notify chan struct{} // capacity 1: signalled by push
}

func newQueue(bound int, log *slog.Logger) *queue {
	return &queue{bound: bound, maxBytes: DefaultQueueBytes, nextSeq: 1, log: log, notify: make(chan struct{}, 1), onDrop: func(Class) {}}
}

// openQueue returns a queue of at most bound records, kept on disk in dir
// when dir is not empty, with the records found there queued again (and
// the oldest dropped by the usual rule if they are more than bound).
func openQueue(bound int, maxBytes int64, dir string, log *slog.Logger, onDrop func(Class)) (*queue, error) {
	q := newQueue(bound, log)
	q.maxBytes = maxBytes
	if onDrop != nil {
		q.onDrop = onDrop
	}
	if dir == "" {
		return q, nil
	}
	d, recs, maxSeq, err := openDiskLog(dir, log)
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		q.add(r)
	}
	q.nextSeq = max(q.nextSeq, maxSeq+1)
	q.disk = d
	q.trim()
	if len(recs) > 0 {
		log.Info("mqtt queue: messages from the last run queued again", "dir", dir, "messages", q.depth())
	}
	return q, nil
}

// push appends a message and, while the queue is past one of its bounds,
// drops the oldest record of the lowest class present (snapshots first,
// events last; see Class), which may be the new one. It reports whether
// the new message itself was dropped.
func (q *queue) push(topic string, payload []byte, m Msg) (droppedNew bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	r := &record{seq: q.nextSeq, msg: m, topic: topic, payload: payload}
	q.nextSeq++
	if r.mem() > q.maxBytes || (q.n >= q.bound && !q.droppable(m.Class) && q.lowest() > m.Class) {
		// The new message would go at once: do not write it.
		q.dropped[m.Class]++
		q.onDrop(m.Class)
		return true
	}
	if q.disk != nil {
		q.disk.append(r)
	}
	q.cls[m.Class].push(r)
	q.n++
	q.bytes += r.mem()
	for q.n > q.bound || q.bytes > q.maxBytes {
		c := q.lowest()
		if c == numClasses {
			break // only the record in flight is left
		}
		if q.drop(c) == r {
			droppedNew = true
		}
	}
	q.maxDepth = max(q.maxDepth, q.n)
	if !droppedNew {
		select {
		case q.notify <- struct{}{}:
		default:
		}
	}
	return droppedNew
}

// lowest returns the lowest class with a droppable record, numClasses if
// none.
func (q *queue) lowest() Class {
	for c := range Class(numClasses) {
		if q.droppable(c) {
			return c
		}
	}
	return numClasses
}

// add inserts a record read back from disk (in seq order) without writing
// it again.
func (q *queue) add(r *record) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.cls[r.msg.Class].push(r)
	q.n++
	q.bytes += r.mem()
	q.nextSeq = max(q.nextSeq, r.seq+1)
	q.maxDepth = max(q.maxDepth, q.n)
}

// trim drops records by the usual rule until the queue is within its
// bounds (after reading back more records than smaller bounds allow).
func (q *queue) trim() {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.n > q.bound || q.bytes > q.maxBytes {
		c := q.lowest()
		if c == numClasses {
			return
		}
		q.drop(c)
	}
}

func (q *queue) droppable(c Class) bool {
	f := &q.cls[c]
	return f.len() > q.sending[c]
}

// drop removes and returns the oldest record of class c that is not in
// flight.
func (q *queue) drop(c Class) *record {
	f := &q.cls[c]
	var r *record
	if q.sending[c] > 0 {
		r = f.removeAt(q.sending[c])
	} else {
		r = f.pop()
	}
	q.n--
	q.bytes -= r.mem()
	q.dropped[c]++
	q.onDrop(c)
	if q.disk != nil {
		q.disk.remove(r, q.records)
	}
	return r
}

// next returns the oldest record not in flight and marks it in flight,
// or nil if there is none.
func (q *queue) next() *record {
	q.mu.Lock()
	defer q.mu.Unlock()
	var h *record
	hc := 0
	for c := range q.cls {
		f := &q.cls[c]
		if k := q.sending[c]; f.len() > k && (h == nil || f.items[f.head+k].seq < h.seq) {
			h, hc = f.items[f.head+k], c
		}
	}
	if h != nil {
		q.sending[hc]++
	}
	return h
}

// sent removes r, the oldest record in flight, from the queue; it reports
// false if r is not that record (it cannot happen).
func (q *queue) sent(r *record) bool {
	c := r.msg.Class
	f := &q.cls[c]
	if q.sending[c] == 0 || f.front() != r {
		return false
	}
	q.sending[c]--
	f.pop()
	return true
}

// ack removes r, the oldest record in flight, once it was sent.
func (q *queue) ack(r *record) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.sent(r) {
		q.forget(r)
	}
}

// discard removes r, the record in flight, as dropped (a message the
// broker never takes).
func (q *queue) discard(r *record) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.sent(r) {
		return
	}
	q.dropped[r.msg.Class]++
	q.onDrop(r.msg.Class)
	q.forget(r)
}

// forget takes r, just popped by sent, out of the counts and off the disk.
// q.mu is held.
func (q *queue) forget(r *record) {
	q.n--
	q.bytes -= r.mem()
	if q.disk != nil {
		q.disk.remove(r, q.records)
	}
}

// release clears the in-flight marks: the records stay queued, to be
// sent again from the oldest.
func (q *queue) release() {
	q.mu.Lock()
	q.sending = [numClasses]int{}
	q.mu.Unlock()
}

// records returns the queued records in seq order. q.mu must be held.
func (q *queue) records() []*record {
	out := make([]*record, 0, q.n)
	idx := [numClasses]int{}
	for {
		best := -1
		for c := range q.cls {
			f := &q.cls[c]
			if f.head+idx[c] < len(f.items) && (best < 0 || f.items[f.head+idx[c]].seq < q.cls[best].items[q.cls[best].head+idx[best]].seq) {
				best = c
			}
		}
		if best < 0 {
			return out
		}
		out = append(out, q.cls[best].items[q.cls[best].head+idx[best]])
		idx[best]++
	}
}

// depth is the number of queued records, the one in flight included.
func (q *queue) depth() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n
}

// counters returns the dropped counts, the depth, the largest depth seen
// and the number of failed disk writes.
func (q *queue) counters() (dropped [numClasses]uint64, depth, maxDepth int, diskErrors uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.disk != nil {
		diskErrors = q.disk.errors
	}
	return q.dropped, q.n, q.maxDepth, diskErrors
}

// close closes the disk log, if any.
func (q *queue) close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.disk == nil {
		return nil
	}
	return q.disk.close()
}
