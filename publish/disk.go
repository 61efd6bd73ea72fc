package publish

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"unicode/utf8"
)

// The on-disk queue (Options.QueueDir) is a sequence of append-only
// segment files named <16 hex digits>.seg, numbered in the order they were
// created. A segment starts with segMagic and holds records:
//
//	u32 body length | u32 CRC-32C of the body | body
//
// all little-endian, where the body is
//
//	kindData:   u8 kind | u64 seq | u8 class | u8 qos | u8 flags (bit 0: retained) | u16 topic length | topic | payload
//	kindRemove: u8 kind | u64 seq
//
// A data record queues a message; a remove record says that the message
// with that seq was sent or dropped. Reading back replays every segment in
// order. A record that does not decode (short, bad length, bad CRC, bad
// field) ends its segment: the file is truncated there and the rest is
// lost, which after a crash is at most the record being written. A remove
// record always follows the data record it removes, in the same or a later
// segment, so segments can be deleted oldest first once they hold no live
// data record; when dead records take more room than live ones (messages
// dropped during a long outage), the live records are rewritten into a
// new segment (compaction) and the older ones deleted.
//
// Files are written with write(2), not fsynced per record: a restart or a
// crash of the daemon loses nothing; a power failure may lose what the
// kernel had not written yet. Close and compaction fsync.
const (
	segMagic      = "ACQUEUE1"
	segExt        = ".seg"
	kindData      = 1
	kindRemove    = 2
	recHeader     = 8
	removeBodyLen = 9
	dataFixedLen  = 1 + 8 + 1 + 1 + 1 + 2
	maxPayload    = 256 << 20 // the MQTT limit on a packet
	maxBodyLen    = dataFixedLen + maxTopicLen + maxPayload
	// defaultSegmentSize is the size past which the active segment is
	// closed and a new one started.
	defaultSegmentSize = 4 << 20
	// defaultCompactMin is the dead space below which no compaction
	// happens.
	defaultCompactMin = 8 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// segment is one segment file.
type segment struct {
	id    uint64
	path  string
	live  int   // data records not yet removed
	bytes int64 // file size
}

// diskLog persists a queue's records. Its methods are called with the
// queue's lock held.
type diskLog struct {
	dir  string
	log  *slog.Logger
	segs []*segment // oldest first; the last one is active
	f    *os.File   // the active segment
	// live is the size of the live data records, total that of all files.
	live, total int64
	failing     bool // the last write failed (logged once)
	errors      uint64
	buf         []byte
	compactions int

	segmentSize, compactMin int64

	lock *os.File // flock'ed LOCK file: one Publisher per directory
}

// segName is the file name of segment id.
func segName(id uint64) string { return fmt.Sprintf("%016x%s", id, segExt) }

// openDiskLog creates dir if needed and reads back the queued records, in
// seq order. Corrupt segment tails are truncated and logged. It starts a
// new active segment.
func openDiskLog(dir string, log *slog.Logger) (d *diskLog, recs []*record, maxSeq uint64, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, 0, fmt.Errorf("mqtt.queue_dir: %w", err)
	}
	lockPath := filepath.Join(dir, "LOCK")
	lock, err := os.OpenFile(lockPath, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("mqtt.queue_dir: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = lock.Close()
		return nil, nil, 0, fmt.Errorf("mqtt.queue_dir: %s is in use by another publisher (lock %s): %w", dir, lockPath, err)
	}
	defer func() {
		if err != nil {
			_ = lock.Close()
		}
	}()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("mqtt.queue_dir: %w", err)
	}
	d = &diskLog{dir: dir, log: log, segmentSize: defaultSegmentSize, compactMin: defaultCompactMin, lock: lock}
	var ids []uint64
	for _, e := range entries {
		name := e.Name()
		if strings.HasSuffix(name, ".tmp") { // an unfinished compaction
			_ = os.Remove(filepath.Join(dir, name))
			continue
		}
		hex, ok := strings.CutSuffix(name, segExt)
		if !ok || len(hex) != 16 || !e.Type().IsRegular() {
			continue
		}
		id, err := strconv.ParseUint(hex, 16, 64)
		if err != nil {
			continue
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	bySeq := map[uint64]*record{}
	for _, id := range ids {
		s := &segment{id: id, path: filepath.Join(dir, segName(id))}
		data, err := os.ReadFile(s.path)
		if err != nil {
			return nil, nil, 0, fmt.Errorf("mqtt queue: %w", err)
		}
		recs, removes, valid, derr := decodeSegment(data)
		if derr != nil {
			log.Warn("mqtt queue: corrupt segment tail truncated", "file", s.path, "offset", valid, "discarded_bytes", len(data)-valid, "err", derr)
			if valid < len(segMagic) {
				valid = 0 // not a segment at all: rewrite its header
				if err := os.WriteFile(s.path, []byte(segMagic), 0o600); err != nil {
					return nil, nil, 0, fmt.Errorf("mqtt queue: %s: %w", s.path, err)
				}
			} else if err := os.Truncate(s.path, int64(valid)); err != nil {
				return nil, nil, 0, fmt.Errorf("mqtt queue: %s: %w", s.path, err)
			}
		}
		s.bytes = int64(max(valid, len(segMagic)))
		d.total += s.bytes
		for _, r := range recs {
			r.seg = s
			bySeq[r.seq] = r
			maxSeq = max(maxSeq, r.seq)
		}
		for _, seq := range removes {
			delete(bySeq, seq)
			maxSeq = max(maxSeq, seq)
		}
		d.segs = append(d.segs, s)
	}
	recs = make([]*record, 0, len(bySeq))
	for _, r := range bySeq {
		r.seg.live++
		d.live += r.size
		recs = append(recs, r)
	}
	slices.SortFunc(recs, func(a, b *record) int { return cmpUint(a.seq, b.seq) })
	next := uint64(1)
	if len(ids) > 0 {
		next = ids[len(ids)-1] + 1
	}
	if err := d.startSegment(next); err != nil {
		return nil, nil, 0, err
	}
	d.collect()
	return d, recs, maxSeq, nil
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// startSegment creates segment id and makes it the active one.
func (d *diskLog) startSegment(id uint64) error {
	s := &segment{id: id, path: filepath.Join(d.dir, segName(id)), bytes: int64(len(segMagic))}
	f, err := os.OpenFile(s.path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("mqtt queue: %w", err)
	}
	if _, err := f.Write([]byte(segMagic)); err != nil {
		_ = f.Close()
		_ = os.Remove(s.path)
		return fmt.Errorf("mqtt queue: %s: %w", s.path, err)
	}
	if d.f != nil {
		_ = d.f.Close()
	}
	d.f = f
	d.segs = append(d.segs, s)
	d.total += s.bytes
	return nil
}

func (d *diskLog) active() *segment { return d.segs[len(d.segs)-1] }

// write appends one encoded record to the active segment; on a failed
// write it cuts the file back so that no partial record stays.
func (d *diskLog) write(b []byte) bool {
	s := d.active()
	n, err := d.f.WriteAt(b, s.bytes)
	if err != nil {
		if n > 0 {
			_ = d.f.Truncate(s.bytes)
		}
		d.errors++
		if !d.failing {
			d.log.Error("mqtt queue: write failed: the queued messages are kept in memory only", "file", s.path, "err", err)
		}
		d.failing = true
		return false
	}
	if d.failing {
		d.log.Info("mqtt queue: writing again", "file", s.path)
		d.failing = false
	}
	s.bytes += int64(n)
	d.total += int64(n)
	return true
}

// append writes data record r.
func (d *diskLog) append(r *record) {
	if d.active().bytes >= d.segmentSize {
		if err := d.startSegment(d.active().id + 1); err != nil {
			d.log.Error("mqtt queue: new segment", "err", err)
		}
	}
	d.buf = appendData(d.buf[:0], r)
	if !d.write(d.buf) {
		return
	}
	r.seg = d.active()
	r.size = int64(len(d.buf))
	r.seg.live++
	d.live += r.size
}

// remove writes the removal of r (sent or dropped), deletes segments that
// hold nothing live any more and compacts when dead records dominate.
// live returns the queued records in seq order (for compaction).
func (d *diskLog) remove(r *record, live func() []*record) {
	if r.seg == nil {
		return // never written
	}
	d.buf = appendRemove(d.buf[:0], r.seq)
	if !d.write(d.buf) {
		return // the record comes back after a restart: a duplicate
	}
	r.seg.live--
	d.live -= r.size
	r.seg = nil
	d.collect()
	if dead := d.total - d.live; dead > d.compactMin && dead > d.live {
		if err := d.compact(live()); err != nil {
			d.log.Error("mqtt queue: compaction failed", "dir", d.dir, "err", err)
		}
	}
}

// collect deletes the oldest segments while they hold no live record.
func (d *diskLog) collect() {
	for len(d.segs) > 1 && d.segs[0].live == 0 {
		s := d.segs[0]
		if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			d.log.Error("mqtt queue: remove segment", "err", err)
			return
		}
		d.total -= s.bytes
		d.segs = d.segs[1:]
	}
}

// compact writes recs (the live records, in seq order) into a new
// segment, which becomes the active one, and deletes the older ones. The
// new segment appears under its name only once complete and synced; until
// it does, the old segments stay as they are.
func (d *diskLog) compact(recs []*record) error {
	id := d.active().id + 1
	path := filepath.Join(d.dir, segName(id))
	tmp := path + ".tmp"
	buf := []byte(segMagic)
	for _, r := range recs {
		if r.seg != nil {
			buf = appendData(buf, r)
		}
	}
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err = f.Write(buf); err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = os.Rename(tmp, path) // f stays valid: it becomes the active segment
	}
	if err != nil {
		_ = f.Close()
		_ = os.Remove(tmp)
		return err
	}
	if dir, err := os.Open(d.dir); err == nil {
		_ = dir.Sync()
		_ = dir.Close()
	}
	_ = d.f.Close()
	for _, s := range d.segs {
		_ = os.Remove(s.path)
	}
	s := &segment{id: id, path: path, bytes: int64(len(buf))}
	d.f, d.segs, d.total, d.live = f, []*segment{s}, s.bytes, 0
	for _, r := range recs {
		if r.seg == nil {
			continue
		}
		r.size = int64(len(appendData(nil, r)))
		r.seg = s
		s.live++
		d.live += r.size
	}
	d.compactions++
	d.log.Debug("mqtt queue compacted", "file", path, "records", s.live, "bytes", s.bytes)
	return nil
}

// close syncs and closes the active segment.
func (d *diskLog) close() error {
	if d.f == nil {
		return nil
	}
	err := d.f.Sync()
	if cerr := d.f.Close(); err == nil {
		err = cerr
	}
	d.f = nil
	_ = d.lock.Close() // releases the flock
	if err != nil {
		return fmt.Errorf("mqtt queue: %s: %w", d.active().path, err)
	}
	return nil
}

func appendData(b []byte, r *record) []byte {
	start := len(b)
	b = append(b, 0, 0, 0, 0, 0, 0, 0, 0)
	b = append(b, kindData)
	b = binary.LittleEndian.AppendUint64(b, r.seq)
	var flags byte
	if r.msg.Retained {
		flags = 1
	}
	b = append(b, byte(r.msg.Class), r.msg.QoS, flags)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(r.topic)))
	b = append(b, r.topic...)
	b = append(b, r.payload...)
	return sealRecord(b, start)
}

func appendRemove(b []byte, seq uint64) []byte {
	start := len(b)
	b = append(b, 0, 0, 0, 0, 0, 0, 0, 0)
	b = append(b, kindRemove)
	b = binary.LittleEndian.AppendUint64(b, seq)
	return sealRecord(b, start)
}

// sealRecord fills in the length and CRC of the record starting at start.
func sealRecord(b []byte, start int) []byte {
	body := b[start+recHeader:]
	binary.LittleEndian.PutUint32(b[start:], uint32(len(body)))
	binary.LittleEndian.PutUint32(b[start+4:], crc32.Checksum(body, castagnoli))
	return b
}

// decodeSegment decodes a segment file: its data records, the seqs of its
// remove records, in file order, and the length of the valid prefix. err
// says why decoding stopped before the end of data (valid is then where
// the bad record starts).
func decodeSegment(data []byte) (recs []*record, removes []uint64, valid int, err error) {
	if len(data) < len(segMagic) || string(data[:len(segMagic)]) != segMagic {
		return nil, nil, 0, errors.New("missing segment header " + strconv.Quote(segMagic))
	}
	off := len(segMagic)
	for off < len(data) {
		if len(data)-off < recHeader {
			return recs, removes, off, fmt.Errorf("offset %d: truncated record header", off)
		}
		n := int(binary.LittleEndian.Uint32(data[off:]))
		sum := binary.LittleEndian.Uint32(data[off+4:])
		if n < removeBodyLen || n > maxBodyLen {
			return recs, removes, off, fmt.Errorf("offset %d: record length %d out of range", off, n)
		}
		if len(data)-off-recHeader < n {
			return recs, removes, off, fmt.Errorf("offset %d: record of %d bytes truncated at %d", off, n, len(data)-off-recHeader)
		}
		body := data[off+recHeader : off+recHeader+n]
		if crc32.Checksum(body, castagnoli) != sum {
			return recs, removes, off, fmt.Errorf("offset %d: CRC mismatch", off)
		}
		seq := binary.LittleEndian.Uint64(body[1:])
		if seq == 0 {
			return recs, removes, off, fmt.Errorf("offset %d: seq 0", off)
		}
		switch body[0] {
		case kindRemove:
			if n != removeBodyLen {
				return recs, removes, off, fmt.Errorf("offset %d: remove record of %d bytes", off, n)
			}
			removes = append(removes, seq)
		case kindData:
			r, derr := decodeData(body)
			if derr != nil {
				return recs, removes, off, fmt.Errorf("offset %d: %w", off, derr)
			}
			r.size = int64(recHeader + n)
			recs = append(recs, r)
		default:
			return recs, removes, off, fmt.Errorf("offset %d: unknown record kind %d", off, body[0])
		}
		off += recHeader + n
	}
	return recs, removes, off, nil
}

func decodeData(body []byte) (*record, error) {
	if len(body) < dataFixedLen {
		return nil, fmt.Errorf("data record of %d bytes", len(body))
	}
	r := &record{seq: binary.LittleEndian.Uint64(body[1:])}
	class, qos, flags := Class(body[9]), body[10], body[11]
	if !class.valid() {
		return nil, fmt.Errorf("class %d", class)
	}
	if qos > 2 {
		return nil, fmt.Errorf("qos %d", qos)
	}
	if flags&^1 != 0 {
		return nil, fmt.Errorf("flags %#x", flags)
	}
	tl := int(binary.LittleEndian.Uint16(body[12:]))
	if len(body)-dataFixedLen < tl {
		return nil, fmt.Errorf("topic of %d bytes past the record end", tl)
	}
	r.topic = string(body[dataFixedLen : dataFixedLen+tl])
	if !utf8.ValidString(r.topic) || r.topic == "" {
		return nil, fmt.Errorf("topic %q", r.topic)
	}
	r.payload = slices.Clone(body[dataFixedLen+tl:])
	r.msg = Msg{QoS: qos, Retained: flags&1 != 0, Class: class}
	return r, nil
}
