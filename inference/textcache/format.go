package textcache

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
)

// File format (all integers little-endian):
//
//	header:  magic [8]byte "ACLIPTXT" | version uint32 | dim uint32 |
//	         model sha256 [32]byte | crc32c of the preceding 48 bytes uint32
//	record:  prompt length uint32 | crc32c uint32 | prompt bytes |
//	         dim float32 values
//
// A record's CRC covers its length field, prompt and values. Records are only
// ever appended; the last record for a prompt wins.
const (
	magic      = "ACLIPTXT"
	version    = 1
	headerSize = 8 + 4 + 4 + 32 + 4
	// maxPrompt bounds a prompt's length in bytes, so a corrupt length field
	// cannot make the reader allocate gigabytes.
	maxPrompt = 1 << 16
	// maxDim bounds the embedding size for the same reason.
	maxDim = 1 << 16
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func appendHeader(b []byte, dim int, model [32]byte) []byte {
	start := len(b)
	b = append(b, magic...)
	b = binary.LittleEndian.AppendUint32(b, version)
	b = binary.LittleEndian.AppendUint32(b, uint32(dim))
	b = append(b, model[:]...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b[start:], castagnoli))
}

// appendRecord appends one record; len(vec) is the dimension.
func appendRecord(b []byte, prompt string, vec []float32) []byte {
	start := len(b)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(prompt)))
	b = append(b, 0, 0, 0, 0) // CRC, filled below
	b = append(b, prompt...)
	for _, v := range vec {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	crc := crc32.Update(0, castagnoli, b[start:start+4])
	crc = crc32.Update(crc, castagnoli, b[start+8:])
	binary.LittleEndian.PutUint32(b[start+4:], crc)
	return b
}

// problemKind says what the reader found wrong with a file.
type problemKind int

const (
	clean problemKind = iota
	// tornTail: the file ends inside its last record (an interrupted
	// append). The records before it are good; truncating fixes the file.
	tornTail
	// corruptRecords: a complete record in the middle of the file fails its
	// checks. The records before it are kept; the file is rebuilt.
	corruptRecords
	// badHeader: wrong magic, version, dim or model, or a damaged header.
	// Nothing in the file can be trusted; it is rebuilt empty.
	badHeader
)

// record is one good record found by readFile.
type record struct {
	prompt string
	off    int64 // offset of the record's first vector byte
}

// contents is what readFile recovered from a cache file.
type contents struct {
	recs   []record
	good   int64 // offset just past the last good record
	kind   problemKind
	reason string // why kind != clean, for the log
}

// readFile checks a cache file for dimension dim and model hash model and
// indexes its good records. It never fails: what it cannot use is described
// by kind and reason. Every record it returns has passed its CRC and holds
// exactly dim values.
func readFile(r io.Reader, dim int, model [32]byte) contents {
	var c contents
	br := bufio.NewReaderSize(r, 1<<20)
	var hdr [headerSize]byte
	if n, err := io.ReadFull(br, hdr[:]); err != nil {
		c.kind = badHeader
		if n == 0 {
			c.reason = "empty file"
		} else {
			c.reason = fmt.Sprintf("header cut short (%d of %d bytes)", n, headerSize)
		}
		return c
	}
	switch {
	case string(hdr[:8]) != magic:
		c.kind, c.reason = badHeader, fmt.Sprintf("bad magic %q, want %q", hdr[:8], magic)
	case binary.LittleEndian.Uint32(hdr[48:]) != crc32.Checksum(hdr[:48], castagnoli):
		c.kind, c.reason = badHeader, "header CRC mismatch"
	case binary.LittleEndian.Uint32(hdr[8:]) != version:
		c.kind, c.reason = badHeader, fmt.Sprintf("version %d, want %d", binary.LittleEndian.Uint32(hdr[8:]), version)
	case int64(binary.LittleEndian.Uint32(hdr[12:])) != int64(dim):
		c.kind, c.reason = badHeader, fmt.Sprintf("embedding size %d, want %d", binary.LittleEndian.Uint32(hdr[12:]), dim)
	case [32]byte(hdr[16:48]) != model:
		c.kind, c.reason = badHeader, "written for a different text model"
	}
	if c.kind != clean {
		return c
	}
	c.good = headerSize
	var (
		lenCRC [8]byte
		body   []byte
	)
	atEOF := func() bool { _, err := br.Peek(1); return errors.Is(err, io.EOF) }
	for {
		n, err := io.ReadFull(br, lenCRC[:])
		if err == io.EOF {
			return c // clean end
		}
		if err != nil {
			c.kind, c.reason = tornTail, fmt.Sprintf("record at offset %d cut short (%d of 8 header bytes)", c.good, n)
			return c
		}
		plen := binary.LittleEndian.Uint32(lenCRC[:4])
		want := binary.LittleEndian.Uint32(lenCRC[4:])
		if plen > maxPrompt {
			// A length this large was never written: the file is damaged
			// here, whether or not anything follows.
			c.kind, c.reason = corruptRecords, fmt.Sprintf("record at offset %d: prompt length %d exceeds %d", c.good, plen, maxPrompt)
			if atEOF() {
				c.kind = tornTail
			}
			return c
		}
		size := int(plen) + 4*dim
		if cap(body) < size {
			body = make([]byte, size)
		}
		body = body[:size]
		if n, err := io.ReadFull(br, body); err != nil {
			c.kind, c.reason = tornTail, fmt.Sprintf("record at offset %d cut short (%d of %d bytes)", c.good, 8+n, 8+size)
			return c
		}
		crc := crc32.Update(0, castagnoli, lenCRC[:4])
		crc = crc32.Update(crc, castagnoli, body)
		if crc != want {
			c.reason = fmt.Sprintf("record at offset %d: CRC mismatch", c.good)
			// The last record failing its CRC is what an interrupted append
			// leaves behind (the file grew, the data never landed).
			c.kind = corruptRecords
			if atEOF() {
				c.kind = tornTail
			}
			return c
		}
		c.recs = append(c.recs, record{prompt: string(body[:plen]), off: c.good + 8 + int64(plen)})
		c.good += int64(8 + size)
	}
}

// decodeVector decodes len(dst) little-endian float32 values from b.
func decodeVector(dst []float32, b []byte) {
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
}
