package tokenizer

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"
)

// Load reads a vocabulary, telling the format from the content: a
// tokenizer.json (a JSON object), or a merges file, gzip-compressed or not.
func Load(path string) (*Tokenizer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if isJSON(data) {
		return ParseHFJSON(data, path)
	}
	return ParseMerges(bytes.NewReader(data), path)
}

// isJSON reports whether data starts, after white space and a byte order
// mark, with '{' or '[' (a JSON array is no tokenizer.json, but its error
// should say so).
func isJSON(data []byte) bool {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	data = bytes.TrimLeft(data, " \t\r\n")
	return len(data) > 0 && (data[0] == '{' || data[0] == '[')
}

// LoadMerges reads an OpenAI merges file (bpe_simple_vocab_16e6.txt or its
// .gz); see ParseMerges.
func LoadMerges(path string) (*Tokenizer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseMerges(f, path)
}

// ParseMerges reads an OpenAI merges file from r, gzip-compressed or not
// (told by the gzip magic bytes); name is used in errors. The first line is
// a header and must contain "#version"; each following line is one merge,
// two tokens separated by white space, each a byte symbol, a byte symbol
// with "</w>", or the result of an earlier merge. At most MaxMerges lines
// are used, as CLIP does, and the rest of the file is not read; a shorter
// file gives a smaller vocabulary. Empty lines may only end the file. The
// vocabulary is the 256 byte symbols, the same with "</w>", one token per
// merge, then <|startoftext|> and <|endoftext|> (49406 and 49407 for CLIP).
// Where two merges make the same token, the later id is the token's id, as
// in the reference.
func ParseMerges(r io.Reader, name string) (*Tokenizer, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", name, err)
		}
		defer zr.Close()
		br = bufio.NewReaderSize(zr, 64<<10)
	}
	b := newBuilder(MaxMerges)
	lineNo := 0
	blank := 0 // line number of the first empty line, if any
	for len(b.pairs) < MaxMerges {
		line, err := br.ReadString('\n')
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("%s:%d: %v", name, lineNo+1, err)
		}
		if line == "" && err == io.EOF {
			break
		}
		lineNo++
		line = strings.TrimRight(line, "\r\n")
		if lineNo == 1 {
			if !strings.Contains(line, "#version") {
				return nil, fmt.Errorf("%s:1: header %q is not a BPE merges header (#version)", name, clip(line))
			}
			continue
		}
		fields := strings.Fields(line)
		if len(fields) == 0 {
			if blank == 0 {
				blank = lineNo
			}
			continue
		}
		if blank != 0 {
			return nil, fmt.Errorf("%s:%d: empty line before the last merge", name, blank)
		}
		if len(fields) != 2 {
			return nil, fmt.Errorf("%s:%d: merge %q: want two tokens, found %d", name, lineNo, clip(line), len(fields))
		}
		if err := b.addMerge(fields[0], fields[1]); err != nil {
			return nil, fmt.Errorf("%s:%d: %v", name, lineNo, err)
		}
		if err == io.EOF {
			break
		}
	}
	if lineNo == 0 {
		return nil, fmt.Errorf("%s: empty merges file", name)
	}
	return b.finish(), nil
}

// clip shortens s for an error message.
func clip(s string) string {
	if len(s) > 60 {
		return s[:57] + "..."
	}
	return s
}

// builder assembles a CLIP-layout vocabulary from merges, the way the
// merges file defines it.
type builder struct {
	tokens []string
	ids    map[string]int32
	pairs  [][2]int32
}

func newBuilder(capMerges int) *builder {
	b := &builder{
		tokens: make([]string, 0, 512+capMerges+2),
		ids:    make(map[string]int32, 512+capMerges+2),
		pairs:  make([][2]int32, 0, capMerges),
	}
	syms := byteSymbols()
	for _, s := range syms {
		b.add(s)
	}
	for _, s := range syms {
		b.add(s + EndOfWord)
	}
	return b
}

func (b *builder) add(tok string) {
	b.ids[tok] = int32(len(b.tokens))
	b.tokens = append(b.tokens, tok)
}

// addMerge appends the merge of x and y; both must already be tokens.
func (b *builder) addMerge(x, y string) error {
	ix, ok := b.ids[x]
	if !ok {
		return fmt.Errorf("merge %q: %q is not a byte symbol or made by an earlier merge", x+" "+y, x)
	}
	iy, ok := b.ids[y]
	if !ok {
		return fmt.Errorf("merge %q: %q is not a byte symbol or made by an earlier merge", x+" "+y, y)
	}
	b.pairs = append(b.pairs, [2]int32{ix, iy})
	b.add(x + y)
	return nil
}

// finish adds the special tokens and builds the tokenizer.
func (b *builder) finish() *Tokenizer {
	b.add(StartText)
	b.add(EndText)
	t := &Tokenizer{
		tokens: b.tokens,
		ids:    b.ids,
		merges: make(map[uint64]merge, len(b.pairs)),
		start:  b.ids[StartText],
		end:    b.ids[EndText],
	}
	for i, p := range b.pairs {
		// Key by the tokens' final ids: a token made again by a later merge
		// has that merge's id, and the reference matches merges by string.
		x, y, joined := b.tokens[p[0]], b.tokens[p[1]], b.tokens[512+i]
		t.merges[pairKey(b.ids[x], b.ids[y])] = merge{rank: int32(i), id: b.ids[joined]}
	}
	t.special = make([]bool, len(t.tokens))
	t.special[t.start] = true
	t.special[t.end] = true
	t.finishBytes()
	return t
}

// finishBytes fills the byte symbol ids and the runtime parts; the caller
// has checked that every byte symbol is in t.ids.
func (t *Tokenizer) finishBytes() {
	for c := 0; c < 256; c++ {
		sym := string(byteRune(byte(c)))
		t.byteID[c] = t.ids[sym]
		t.byteEndID[c] = t.ids[sym+EndOfWord]
	}
	t.split = regexp.MustCompile(splitPattern)
	t.cache = newWordCache()
}

// LoadHFJSON reads a Hugging Face tokenizer.json; see ParseHFJSON.
func LoadHFJSON(path string) (*Tokenizer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseHFJSON(data, path)
}

// hfFile is the part of tokenizer.json the tokenizer reads. The normalizer,
// pre_tokenizer, post_processor and decoder blocks are not interpreted:
// CLIP's rules are built in.
type hfFile struct {
	AddedTokens []hfAddedToken `json:"added_tokens"`
	Model       *hfModel       `json:"model"`
}

type hfAddedToken struct {
	ID      int64  `json:"id"`
	Content string `json:"content"`
	Special bool   `json:"special"`
}

type hfModel struct {
	Type                    string            `json:"type"`
	Vocab                   map[string]int64  `json:"vocab"`
	Merges                  []json.RawMessage `json:"merges"`
	EndOfWordSuffix         *string           `json:"end_of_word_suffix"`
	ContinuingSubwordPrefix *string           `json:"continuing_subword_prefix"`
	Dropout                 *float64          `json:"dropout"`
}

// ParseHFJSON reads a Hugging Face tokenizer.json (as shipped with
// openai/clip-vit-base-patch32 and the Xenova exports); name is used in
// errors. It requires model.type "BPE", model.end_of_word_suffix "</w>", no
// continuing_subword_prefix or dropout, every byte symbol and byte symbol
// with "</w>" in model.vocab, merges ("a b" strings or ["a", "b"] pairs)
// whose tokens and results are in model.vocab, and <|startoftext|> and
// <|endoftext|> in added_tokens or model.vocab, with one id. Ids are read
// from the file, not assumed. Added tokens other than the two CLIP ones
// are kept for Decode but not matched in text.
func ParseHFJSON(data []byte, name string) (*Tokenizer, error) {
	var f hfFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, jsonError(data, name, err)
	}
	m := f.Model
	switch {
	case m == nil:
		return nil, fmt.Errorf("%s: no model", name)
	case m.Type != "BPE":
		return nil, fmt.Errorf("%s: model.type is %q, want \"BPE\"", name, m.Type)
	case m.EndOfWordSuffix == nil:
		return nil, fmt.Errorf("%s: no model.end_of_word_suffix, want \"</w>\"", name)
	case *m.EndOfWordSuffix != EndOfWord:
		return nil, fmt.Errorf("%s: model.end_of_word_suffix is %q, want \"</w>\"", name, *m.EndOfWordSuffix)
	case m.ContinuingSubwordPrefix != nil && *m.ContinuingSubwordPrefix != "":
		return nil, fmt.Errorf("%s: model.continuing_subword_prefix is %q, want \"\"", name, *m.ContinuingSubwordPrefix)
	case m.Dropout != nil && *m.Dropout != 0:
		return nil, fmt.Errorf("%s: model.dropout is %v, want null", name, *m.Dropout)
	case len(m.Vocab) == 0:
		return nil, fmt.Errorf("%s: model.vocab is missing or empty", name)
	}

	// Token table from the vocabulary and the added tokens. Ids may have
	// gaps (a token made by two merges keeps the later id), but not so many
	// that a corrupt file makes the table huge: ids must stay below twice
	// the number of tokens, plus 256.
	maxID := 2*int64(len(m.Vocab)+len(f.AddedTokens)) + 256
	size := int64(0)
	for tok, id := range m.Vocab {
		if id < 0 || id >= maxID {
			return nil, fmt.Errorf("%s: model.vocab: %q has id %d, want 0..%d", name, tok, id, maxID-1)
		}
		size = max(size, id+1)
	}
	for i, a := range f.AddedTokens {
		if a.ID < 0 || a.ID >= maxID {
			return nil, fmt.Errorf("%s: added_tokens[%d] %q has id %d, want 0..%d", name, i, a.Content, a.ID, maxID-1)
		}
		size = max(size, a.ID+1)
	}
	t := &Tokenizer{
		tokens:  make([]string, size),
		ids:     make(map[string]int32, len(m.Vocab)+len(f.AddedTokens)),
		special: make([]bool, size),
	}
	for tok, id := range m.Vocab {
		if tok == "" {
			return nil, fmt.Errorf("%s: model.vocab: empty token with id %d", name, id)
		}
		if prev := t.tokens[id]; prev != "" {
			return nil, duplicateID(name, m.Vocab, id)
		}
		t.tokens[id] = tok
		t.ids[tok] = int32(id)
	}
	for i, a := range f.AddedTokens {
		if a.Content == "" {
			return nil, fmt.Errorf("%s: added_tokens[%d]: empty content", name, i)
		}
		if id, ok := t.ids[a.Content]; ok && int64(id) != a.ID {
			return nil, fmt.Errorf("%s: added_tokens[%d] %q has id %d, model.vocab has %d", name, i, a.Content, a.ID, id)
		}
		if prev := t.tokens[a.ID]; prev != "" && prev != a.Content {
			return nil, fmt.Errorf("%s: added_tokens[%d] %q has id %d, which model.vocab gives to %q", name, i, a.Content, a.ID, prev)
		}
		t.tokens[a.ID] = a.Content
		t.ids[a.Content] = int32(a.ID)
		t.special[a.ID] = a.Special
	}
	for _, sp := range []string{StartText, EndText} {
		id, ok := t.ids[sp]
		if !ok {
			return nil, fmt.Errorf("%s: %s is in neither added_tokens nor model.vocab", name, sp)
		}
		t.special[id] = true
	}
	t.start, t.end = t.ids[StartText], t.ids[EndText]
	for c := 0; c < 256; c++ {
		sym := string(byteRune(byte(c)))
		for _, s := range []string{sym, sym + EndOfWord} {
			if _, ok := m.Vocab[s]; !ok {
				return nil, fmt.Errorf("%s: model.vocab: byte symbol %q (byte 0x%02x) is missing", name, s, c)
			}
		}
	}

	t.merges = make(map[uint64]merge, len(m.Merges))
	for i, raw := range m.Merges {
		x, y, err := parseHFMerge(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: model.merges[%d]: %v", name, i, err)
		}
		ix, ok := m.Vocab[x]
		if !ok {
			return nil, fmt.Errorf("%s: model.merges[%d]: %q is not in model.vocab", name, i, x)
		}
		iy, ok := m.Vocab[y]
		if !ok {
			return nil, fmt.Errorf("%s: model.merges[%d]: %q is not in model.vocab", name, i, y)
		}
		iz, ok := m.Vocab[x+y]
		if !ok {
			return nil, fmt.Errorf("%s: model.merges[%d]: merged token %q is not in model.vocab", name, i, x+y)
		}
		t.merges[pairKey(int32(ix), int32(iy))] = merge{rank: int32(i), id: int32(iz)}
	}
	t.finishBytes()
	return t, nil
}

// parseHFMerge reads one entry of model.merges: "a b" or ["a", "b"].
func parseHFMerge(raw json.RawMessage) (x, y string, err error) {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) > 1 && raw[0] == '"':
		var s string
		if body := raw[1 : len(raw)-1]; bytes.IndexByte(body, '\\') < 0 {
			s = string(body) // no escapes: the common case, and fast
		} else if err := json.Unmarshal(raw, &s); err != nil {
			return "", "", err
		}
		x, y, ok := strings.Cut(s, " ")
		if !ok || x == "" || y == "" || strings.Contains(y, " ") {
			return "", "", fmt.Errorf("%q is not two tokens separated by one space", s)
		}
		return x, y, nil
	case len(raw) > 0 && raw[0] == '[':
		var p []string
		if err := json.Unmarshal(raw, &p); err != nil || len(p) != 2 {
			return "", "", fmt.Errorf("%s is not a pair of strings", clip(string(raw)))
		}
		if p[0] == "" || p[1] == "" {
			return "", "", fmt.Errorf("%s has an empty token", clip(string(raw)))
		}
		return p[0], p[1], nil
	}
	return "", "", fmt.Errorf("%s is neither \"a b\" nor [\"a\", \"b\"]", clip(string(raw)))
}

// duplicateID reports, deterministically, two tokens that share id.
func duplicateID(name string, vocab map[string]int64, id int64) error {
	var toks []string
	for tok, i := range vocab {
		if i == id {
			toks = append(toks, tok)
		}
	}
	sort.Strings(toks)
	return fmt.Errorf("%s: model.vocab: %q and %q both have id %d", name, toks[0], toks[1], id)
}

// jsonError turns a decoding error into one line naming the file, the line
// and column, and the field where it can.
func jsonError(data []byte, name string, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		line, col := lineCol(data, syn.Offset)
		return fmt.Errorf("%s:%d:%d: %v", name, line, col, syn)
	case errors.As(err, &typ):
		line, col := lineCol(data, typ.Offset)
		field := typ.Field
		if field == "" {
			field = "(top level)"
		}
		return fmt.Errorf("%s:%d:%d: %s: found JSON %s, want %v", name, line, col, field, typ.Value, typ.Type)
	}
	return fmt.Errorf("%s: %v", name, err)
}

// lineCol returns the 1-based line and column of the byte before offset
// off in data: encoding/json's offsets count the bytes read, so the byte
// before is the one where decoding failed.
func lineCol(data []byte, off int64) (line, col int) {
	off = min(max(off-1, 0), int64(len(data)))
	before := data[:off]
	line = 1 + bytes.Count(before, []byte("\n"))
	col = int(off) - bytes.LastIndexByte(before, '\n')
	return line, col
}
