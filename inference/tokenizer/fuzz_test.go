package tokenizer

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzEncode checks, for any text x:
//   - Encode does not panic, starts with the start id, ends with the end id,
//     and every id names a token of the vocabulary;
//   - EncodeTo into 77 ids agrees with Encode (equal when it fits, else
//     Encode's first 76 ids and the end id);
//   - the round trip: Decode(Encode(x)) is the pieces of Clean(x) (the
//     split pattern's matches), without the special-token pieces, joined by
//     single spaces. Decode cannot give Clean(x) itself: Encode drops the
//     white space and Decode puts one space after every piece, so "cat,"
//     comes back as "cat ,", and special tokens are not decoded;
//   - for ASCII x whose Clean(x) is ASCII (entities such as &eacute; can
//     make it not), the pieces lose nothing: joined without separators they
//     are Clean(x) without its spaces. With the round trip this gives
//     Decode(Encode(x)) == Clean(x) up to spaces (and special tokens).
func FuzzEncode(f *testing.F) {
	for _, s := range []string{
		"", "a photo of a cat", "Hello,   WORLD!", "it's a cat's toy", "birthday cake 2024",
		"fish &amp; chips &lt;3 &#39;x&#39;", "café 一只猫 🐱 ΟΔΟΣ İ", "x<|endoftext|>y <|startoftext|>",
		"a\u00a0b\x1c\u0345c\u017f", "a\xffb", "</w>", strings.Repeat("ab", 100),
	} {
		f.Add(s)
	}
	tok, _ := loadFull(f)
	f.Fuzz(func(t *testing.T, x string) {
		ids := tok.Encode(x)
		if len(ids) < 2 || ids[0] != tok.StartID() || ids[len(ids)-1] != tok.EndID() {
			t.Fatalf("Encode(%q) = %v: no start or end", x, ids)
		}
		for _, id := range ids {
			if _, ok := tok.Token(id); !ok {
				t.Fatalf("Encode(%q): id %d names no token", x, id)
			}
		}

		dst := make([]int64, ContextLength)
		n, truncated := tok.EncodeTo(dst, x, 0)
		want := ids
		if len(ids) > ContextLength {
			want = append(append([]int64(nil), ids[:ContextLength-1]...), tok.EndID())
		}
		if truncated != (len(ids) > ContextLength) || n != len(want) || !reflect.DeepEqual(dst[:n], want) {
			t.Fatalf("EncodeTo(%q) = %v, %d, %v; Encode = %v", x, dst, n, truncated, ids)
		}

		clean := Clean(x)
		pieces := tok.split.FindAllString(clean, -1)
		var words []string
		for _, p := range pieces {
			if p != StartText && p != EndText {
				words = append(words, p)
			}
		}
		if got, want := tok.Decode(ids), strings.Join(words, " "); got != want {
			t.Fatalf("Decode(Encode(%q)) = %q, want %q", x, got, want)
		}
		if isASCII(x) && isASCII(clean) {
			if got, want := strings.Join(pieces, ""), strings.ReplaceAll(clean, " ", ""); got != want {
				t.Fatalf("pieces of %q join to %q, want %q", clean, got, want)
			}
		}
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// FuzzBPE holds the heap-based merge against the reference's loop on
// random merge lists over a three-letter alphabet, where ranks come in
// orders no trained vocabulary has (pairs made during a pass that rank
// below the pass's own pair, one token made by two merges).
func FuzzBPE(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, "abcabcabc")
	f.Add([]byte{1, 1, 1, 1, 200, 3, 3, 3}, "aaaaaaa")
	f.Add([]byte{9, 4, 250, 17, 33, 80, 2, 2, 2, 61, 7, 0}, "cabbacbca")
	f.Fuzz(func(t *testing.T, choices []byte, word string) {
		word = strings.Map(func(r rune) rune {
			return 'a' + (r % 3)
		}, word)
		if word == "" || len(word) > 64 || len(choices) > 256 {
			return
		}
		// Build merges by picking pairs of tokens made so far.
		toks := []string{"a", "b", "c", "a</w>", "b</w>", "c</w>"}
		var lines strings.Builder
		lines.WriteString("#version: 0.2\n")
		for i := 0; i+1 < len(choices); i += 2 {
			x := toks[int(choices[i])%len(toks)]
			y := toks[int(choices[i+1])%len(toks)]
			if strings.HasSuffix(x, EndOfWord) {
				continue // nothing follows the end of a word
			}
			lines.WriteString(x + " " + y + "\n")
			toks = append(toks, x+y)
		}
		tok, err := ParseMerges(strings.NewReader(lines.String()), "fuzz.txt")
		if err != nil {
			t.Fatal(err)
		}
		if got, want := tok.bpe(word), naiveIDs(tok, rankMap(parseMergeLines(lines.String()[len("#version: 0.2\n"):])), word); !reflect.DeepEqual(got, want) {
			t.Fatalf("merges:\n%s\nbpe(%q) = %v, reference loop %v", lines.String(), word, got, want)
		}
	})
}

// FuzzParseMerges: any input either fails with an error or gives a
// tokenizer whose ids are in range and whose special tokens come last.
func FuzzParseMerges(f *testing.F) {
	f.Add([]byte("#version: 0.2\ni n\nt h\nth e</w>\n"))
	f.Add([]byte("#version: 0.2\r\nc a\r\nca t</w>\r\n\r\n"))
	f.Add([]byte("#version: 0.2\nin g\n"))
	f.Add([]byte("#version\n\n\na b\n"))
	f.Add([]byte("no header\n"))
	f.Add(gzipBytes(f, []byte("#version: 0.2\na b\nab c\n")))
	f.Fuzz(func(t *testing.T, data []byte) {
		tok, err := ParseMerges(bytes.NewReader(data), "fuzz.txt")
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error has more than one line: %q", err)
			}
			return
		}
		if tok.EndID() != int64(tok.VocabSize()-1) || tok.StartID() != int64(tok.VocabSize()-2) {
			t.Fatalf("StartID, EndID, VocabSize = %d, %d, %d", tok.StartID(), tok.EndID(), tok.VocabSize())
		}
		checkEncodes(t, tok)
	})
}

// FuzzParseHFJSON: any input either fails with a one-line error or gives a
// tokenizer that encodes to ids in range.
func FuzzParseHFJSON(f *testing.F) {
	var small bytes.Buffer
	if err := WriteHFJSON(&small, smallMerges); err != nil {
		f.Fatal(err)
	}
	f.Add(small.Bytes())
	f.Add(bytes.Replace(small.Bytes(), []byte(`"c a"`), []byte(`["c", "a"]`), 1))
	f.Add(bytes.Replace(small.Bytes(), []byte(`"BPE"`), []byte(`"Unigram"`), 1))
	f.Add(bytes.Replace(small.Bytes(), []byte(`"ca t</w>"`), []byte(`"ca tt"`), 1))
	f.Add([]byte(`{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]}}`))
	f.Add([]byte(`{"added_tokens": [{"id": -1}], "model": null}`))
	f.Add([]byte(`[1, 2`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tok, err := ParseHFJSON(data, "fuzz.json")
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error has more than one line: %q", err)
			}
			return
		}
		checkEncodes(t, tok)
	})
}

// checkEncodes encodes and decodes a few texts with tok and checks the ids.
func checkEncodes(t *testing.T, tok *Tokenizer) {
	t.Helper()
	for _, text := range []string{"a cat, a dog.", "it's 2024 🐱", "x<|endoftext|>"} {
		ids := tok.Encode(text)
		if ids[0] != tok.StartID() || ids[len(ids)-1] != tok.EndID() {
			t.Fatalf("Encode(%q) = %v: no start or end", text, ids)
		}
		for _, id := range ids {
			if _, ok := tok.Token(id); !ok {
				t.Fatalf("Encode(%q): id %d names no token", text, id)
			}
		}
		_ = tok.Decode(ids)
	}
}
