// Package tokenizer is CLIP's byte-level BPE tokenizer, giving the ids of
// the reference (openai/CLIP simple_tokenizer.py; Hugging Face's
// CLIPTokenizer gives the same for ordinary text). The vocabulary comes
// from a Hugging Face tokenizer.json or from OpenAI's merges file
// (bpe_simple_vocab_16e6.txt, gzip-compressed or not); the package also
// writes small CLIP-style vocabularies for generated test models (MergesFor,
// WriteHFJSON).
//
// Encoding is Clean, then the split pattern
//
//	<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
//
// (case-insensitive), then each piece is written as byte symbols with
// "</w>" on the last one and merged, lowest merge rank first. A piece that
// is exactly "<|startoftext|>" or "<|endoftext|>" becomes that special
// token, as in the reference, so a label holding "<|endoftext|>" ends the
// prompt there for the text encoder.
//
// Where it differs from the reference:
//   - ftfy.fix_text is not run (see Clean for what that changes: curly
//     apostrophes, ligatures, full-width forms, decomposed accents, mojibake);
//   - HTML unescaping is Go's, which differs from Python's in corner cases
//     (see Clean);
//   - letters and digits are those of Go's Unicode tables (Unicode 15.0);
//     the regex module the reference uses may be built with a later Unicode
//     and know characters assigned since as letters;
//   - a merges file must be well formed (a #version header, two tokens a
//     line, each made by an earlier line), where the reference would
//     silently build a broken vocabulary.
//
// Tests compare with public vectors, with texts tokenized by a transcript
// of the reference (testdata/clip_reference.py), and hold the fast merge
// loop against a transcript of the reference's.
package tokenizer

import (
	"regexp"
	"strings"
	"unicode/utf8"
)

const (
	// StartText is the start-of-text special token.
	StartText = "<|startoftext|>"
	// EndText is the end-of-text special token; CLIP's text encoder reads
	// its features at the first one.
	EndText = "<|endoftext|>"
	// EndOfWord is the suffix that marks the last symbol of a word.
	EndOfWord = "</w>"
	// ContextLength is the context length of every CLIP text encoder.
	ContextLength = 77
	// MaxMerges is how many merge lines of the OpenAI merges file CLIP uses:
	// 49152 - 256 - 2.
	MaxMerges = 49152 - 256 - 2
)

// splitPattern is CLIP's split pattern as the reference's regex module
// applies it, written for Go's regexp:
//   - \s is Go's ASCII-only class there, so it is spelled out as the
//     Unicode White_Space set the regex module uses;
//   - the reference compiles the pattern case-insensitively. It runs on
//     lower-cased text, where the flag only makes 's and <|startoftext|>
//     also match with U+017F (ſ) for s, and keeps U+0345 (combining
//     ypogegrammeni, whose case folding is the letter ι) out of the
//     punctuation class, so that the reference drops it like white space.
//     Go's (?i) would also let U+0345 into letter runs, so the flag is not
//     used and these effects are written out instead.
const splitPattern = `<\|[sſ]tartoftext\|>|<\|endoftext\|>|'[sſ]|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|` +
	`[^\t\n\v\f\r \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}\x{345}\p{L}\p{N}]+`

// maxCachedWord is the longest piece, in bytes, whose merge result is cached.
const maxCachedWord = 128

// merge is one entry of the merge table: the rank of the pair and the id of
// the token it makes.
type merge struct {
	rank int32
	id   int32
}

// Tokenizer is a loaded CLIP BPE vocabulary. It is immutable and safe for
// concurrent use; its internal word cache is bounded and synchronised.
type Tokenizer struct {
	tokens    []string         // id -> token; "" where no token has the id
	ids       map[string]int32 // token -> id
	merges    map[uint64]merge // (left id << 32 | right id) -> merge
	byteID    [256]int32       // id of each byte symbol
	byteEndID [256]int32       // id of each byte symbol + "</w>"
	special   []bool           // id -> special (skipped by Decode)
	start     int32
	end       int32
	split     *regexp.Regexp
	cache     *wordCache
}

// pairKey packs a pair of ids into a merge table key.
func pairKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

// StartID returns the id of <|startoftext|>.
func (t *Tokenizer) StartID() int64 { return int64(t.start) }

// EndID returns the id of <|endoftext|>, which is also the pad id of
// Hugging Face exports.
func (t *Tokenizer) EndID() int64 { return int64(t.end) }

// VocabSize returns one more than the largest token id: the number of rows
// an embedding table needs. It is 49408 for CLIP.
func (t *Tokenizer) VocabSize() int { return len(t.tokens) }

// NumMerges returns the number of distinct merge pairs in the vocabulary
// (a pair listed twice counts once, with the later rank).
func (t *Tokenizer) NumMerges() int { return len(t.merges) }

// ID returns the id of token, as written in the vocabulary (byte symbols,
// "</w>" suffix), and whether the vocabulary has it.
func (t *Tokenizer) ID(token string) (int64, bool) {
	id, ok := t.ids[token]
	return int64(id), ok
}

// Token returns the token with the given id, and whether there is one.
func (t *Tokenizer) Token(id int64) (string, bool) {
	if id < 0 || id >= int64(len(t.tokens)) || t.tokens[id] == "" {
		return "", false
	}
	return t.tokens[id], true
}

// Encode tokenizes text into <|startoftext|>, the text's tokens and
// <|endoftext|>, without padding or truncation.
func (t *Tokenizer) Encode(text string) []int64 {
	out := make([]int64, 0, 2+len(text)/3)
	out = append(out, int64(t.start))
	out, _ = t.appendText(out, text, -1)
	return append(out, int64(t.end))
}

// EncodeTo tokenizes text into dst, whose length is the context length:
// <|startoftext|>, the text's tokens and <|endoftext|>, then pad up to the
// end of dst. A text too long for dst is cut so that <|endoftext|> is still
// the last id, as the reference does. It returns n, the number of ids
// written before the padding (start and end included; len(dst) when
// truncated), and whether the text was truncated; logging a truncation is
// the caller's. A dst shorter than 2 holds only what fits: the end id when
// its length is 1, nothing when it is empty (both count as truncated).
func (t *Tokenizer) EncodeTo(dst []int64, text string, pad int64) (n int, truncated bool) {
	if len(dst) == 0 {
		return 0, true
	}
	if len(dst) == 1 {
		dst[0] = int64(t.end)
		return 1, true
	}
	buf := dst[:1:len(dst)]
	buf[0] = int64(t.start)
	buf, truncated = t.appendText(buf, text, len(dst)-2)
	n = min(len(buf), len(dst)-1)
	// A long last word may have made append move buf away from dst.
	copy(dst[:n], buf[:n])
	dst[n] = int64(t.end)
	n++
	for i := n; i < len(dst); i++ {
		dst[i] = pad
	}
	return n, truncated
}

// appendText appends the tokens of text to dst. With limit >= 0 it stops
// once more than limit tokens have been appended and reports truncation.
func (t *Tokenizer) appendText(dst []int64, text string, limit int) ([]int64, bool) {
	clean := Clean(text)
	if clean == "" {
		return dst, false
	}
	base := len(dst)
	for rest := clean; ; {
		loc := t.split.FindStringIndex(rest)
		if loc == nil {
			break
		}
		piece := rest[loc[0]:loc[1]]
		rest = rest[loc[1]:]
		switch piece {
		case StartText:
			dst = append(dst, int64(t.start))
		case EndText:
			dst = append(dst, int64(t.end))
		default:
			for _, id := range t.word(piece) {
				dst = append(dst, int64(id))
			}
		}
		if limit >= 0 && len(dst)-base > limit {
			return dst, true
		}
	}
	return dst, false
}

// word returns the token ids of one piece, from the cache when it can.
func (t *Tokenizer) word(piece string) []int32 {
	if len(piece) > maxCachedWord {
		return t.bpe(piece)
	}
	if ids, ok := t.cache.get(piece); ok {
		return ids
	}
	ids := t.bpe(piece)
	t.cache.put(piece, ids)
	return ids
}

// symbol is one symbol of a word being merged, in a linked list over the
// byte positions of the word; id is -1 once merged into its left neighbour.
type symbol struct {
	id         int32
	prev, next int32
}

// candidate is a pair of adjacent symbols that a merge applies to.
type candidate struct {
	rank        int32
	pos         int32 // position of the left symbol
	left, right int32 // ids when the candidate was made
	id          int32 // id of the merged token
}

// bpe merges the byte symbols of piece. It gives the reference's result:
// the reference repeatedly takes the lowest-ranked pair present and merges
// all its occurrences left to right in one pass, then looks again. Here the
// pairs wait in a heap ordered by (rank, position); all candidates of the
// lowest rank are taken out together and merged left to right (skipping
// those an earlier merge of the pass consumed), so pairs made during a pass
// wait for the next one, as in the reference, and the cost is
// O(n log n) instead of O(n^2) for long pieces.
func (t *Tokenizer) bpe(piece string) []int32 {
	n := len(piece)
	if n == 1 {
		return []int32{t.byteEndID[piece[0]]}
	}
	syms := make([]symbol, n)
	for i := 0; i < n; i++ {
		syms[i] = symbol{id: t.byteID[piece[i]], prev: int32(i - 1), next: int32(i + 1)}
	}
	syms[n-1].id = t.byteEndID[piece[n-1]]
	syms[n-1].next = -1

	h := make(candHeap, 0, n)
	for i := 0; i+1 < n; i++ {
		if m, ok := t.merges[pairKey(syms[i].id, syms[i+1].id)]; ok {
			h = append(h, candidate{rank: m.rank, pos: int32(i), left: syms[i].id, right: syms[i+1].id, id: m.id})
		}
	}
	h.init()
	var pass []candidate
	for len(h) > 0 {
		rank := h[0].rank
		pass = pass[:0]
		for len(h) > 0 && h[0].rank == rank {
			pass = append(pass, h.pop())
		}
		for _, c := range pass {
			s := &syms[c.pos]
			if s.id != c.left || s.next < 0 || syms[s.next].id != c.right {
				continue // consumed by an earlier merge
			}
			q := s.next
			s.id = c.id
			s.next = syms[q].next
			syms[q].id = -1
			if s.next >= 0 {
				syms[s.next].prev = c.pos
				if m, ok := t.merges[pairKey(s.id, syms[s.next].id)]; ok {
					h.push(candidate{rank: m.rank, pos: c.pos, left: s.id, right: syms[s.next].id, id: m.id})
				}
			}
			if s.prev >= 0 {
				p := &syms[s.prev]
				if m, ok := t.merges[pairKey(p.id, s.id)]; ok {
					h.push(candidate{rank: m.rank, pos: s.prev, left: p.id, right: s.id, id: m.id})
				}
			}
		}
	}
	out := make([]int32, 0, 4)
	for i := int32(0); i >= 0; i = syms[i].next {
		out = append(out, syms[i].id)
	}
	return out
}

// candHeap is a binary min-heap of candidates by (rank, pos).
type candHeap []candidate

func (h candHeap) less(i, j int) bool {
	if h[i].rank != h[j].rank {
		return h[i].rank < h[j].rank
	}
	return h[i].pos < h[j].pos
}

func (h candHeap) init() {
	for i := len(h)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

func (h *candHeap) push(c candidate) {
	*h = append(*h, c)
	s := *h
	for i := len(s) - 1; i > 0; {
		p := (i - 1) / 2
		if !s.less(i, p) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

func (h *candHeap) pop() candidate {
	s := *h
	c := s[0]
	last := len(s) - 1
	s[0] = s[last]
	*h = s[:last]
	h.down(0)
	return c
}

func (h candHeap) down(i int) {
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		m := l
		if r := l + 1; r < len(h) && h.less(r, l) {
			m = r
		}
		if !h.less(m, i) {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}

// Decode turns ids back into text: the tokens are joined, each "</w>"
// becomes a space, the byte symbols become bytes again (invalid UTF-8 as
// U+FFFD) and spaces at the ends are trimmed. Special tokens are skipped,
// and an id that names no token decodes to U+FFFD.
func (t *Tokenizer) Decode(ids []int64) string {
	buf := make([]byte, 0, 4*len(ids))
	for _, id := range ids {
		tok, ok := t.Token(id)
		if !ok {
			buf = append(buf, "\uFFFD"...)
			continue
		}
		if t.special[id] {
			continue
		}
		word := strings.HasSuffix(tok, EndOfWord)
		if word {
			tok = tok[:len(tok)-len(EndOfWord)]
		}
		for _, r := range tok {
			if b, ok := runeByte(r); ok {
				buf = append(buf, b)
			} else {
				buf = utf8.AppendRune(buf, r)
			}
		}
		if word {
			buf = append(buf, ' ')
		}
	}
	return strings.Trim(strings.ToValidUTF8(string(buf), "\uFFFD"), " ")
}
