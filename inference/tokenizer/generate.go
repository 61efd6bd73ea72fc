package tokenizer

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MergesFor returns a merge list, in rank order, under which each of the
// given words encodes to a single token "word</w>". Words are cleaned and
// lower-cased as Encode does; a word that the split pattern cuts into
// several pieces ("hat box", "it's", "2024") gets one token per piece, and
// the special tokens are left alone. For each piece in turn, it encodes the
// piece with the merges so far and, while that gives more than one symbol,
// appends the merge of the first two symbols (so pieces merge left to
// right). New merges rank after all earlier ones and so never change the
// encoding of an earlier piece. The result is deterministic.
func MergesFor(words []string) [][2]string {
	split := regexp.MustCompile(splitPattern)
	ranks := make(map[[2]string]int)
	var merges [][2]string
	done := make(map[string]bool)
	for _, w := range words {
		for _, piece := range split.FindAllString(Clean(w), -1) {
			if piece == StartText || piece == EndText || done[piece] {
				continue
			}
			done[piece] = true
			for {
				seg := naiveBPE(wordSymbols(piece), func(a, b string) (int, bool) {
					r, ok := ranks[[2]string{a, b}]
					return r, ok
				})
				if len(seg) == 1 {
					break
				}
				m := [2]string{seg[0], seg[1]}
				ranks[m] = len(merges)
				merges = append(merges, m)
			}
		}
	}
	return merges
}

// wordSymbols returns the byte symbols of piece with "</w>" on the last.
func wordSymbols(piece string) []string {
	syms := encodeBytes(piece)
	syms[len(syms)-1] += EndOfWord
	return syms
}

// naiveBPE is the reference's merge loop, transcribed: while some adjacent
// pair has a rank, take the lowest-ranked pair and merge all its
// occurrences left to right in one pass. Tokenizer.bpe computes the same
// faster; tests hold the two together.
func naiveBPE(word []string, rank func(a, b string) (int, bool)) []string {
	for len(word) > 1 {
		best, bestRank := -1, 0
		for i := 0; i+1 < len(word); i++ {
			if r, ok := rank(word[i], word[i+1]); ok && (best < 0 || r < bestRank) {
				best, bestRank = i, r
			}
		}
		if best < 0 {
			break
		}
		first, second := word[best], word[best+1]
		next := make([]string, 0, len(word))
		for i := 0; i < len(word); {
			if i+1 < len(word) && word[i] == first && word[i+1] == second {
				next = append(next, first+second)
				i += 2
				continue
			}
			next = append(next, word[i])
			i++
		}
		word = next
	}
	return word
}

// WriteHFJSON writes a tokenizer.json in the Hugging Face layout of
// openai/clip-vit-base-patch32 for the given merges: the vocabulary built
// the CLIP way (256 byte symbols, the same with "</w>", one token per merge,
// then <|startoftext|> and <|endoftext|>), added_tokens, the normalizer,
// pre_tokenizer, post_processor and decoder blocks of that file, and the
// model block with end_of_word_suffix "</w>" and the merges as "a b"
// strings. Each merge's tokens must be byte symbols (with or without
// "</w>") or made by an earlier merge, and must not contain a space. Where
// two merges make the same token, the later id is the token's id.
func WriteHFJSON(w io.Writer, merges [][2]string) error {
	b := newBuilder(len(merges))
	for i, m := range merges {
		for _, part := range m {
			if part == "" || strings.ContainsAny(part, " \t\n\r") {
				return fmt.Errorf("merges[%d]: token %q is empty or holds white space", i, part)
			}
		}
		if err := b.addMerge(m[0], m[1]); err != nil {
			return fmt.Errorf("merges[%d]: %v", i, err)
		}
	}
	b.add(StartText)
	b.add(EndText)
	start, end := len(b.tokens)-2, len(b.tokens)-1

	bw := bufio.NewWriterSize(w, 64<<10)
	p := func(format string, args ...any) { fmt.Fprintf(bw, format, args...) }
	q := jsonString
	p("{\n")
	p("  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n")
	p("  \"added_tokens\": [\n")
	for i, tok := range []string{StartText, EndText} {
		comma := ","
		if i == 1 {
			comma = ""
		}
		p("    {\n      \"id\": %d,\n      \"content\": %s,\n      \"single_word\": false,\n      \"lstrip\": false,\n"+
			"      \"rstrip\": false,\n      \"normalized\": true,\n      \"special\": true\n    }%s\n", start+i, q(tok), comma)
	}
	p("  ],\n")
	p("  \"normalizer\": {\n    \"type\": \"Sequence\",\n    \"normalizers\": [\n" +
		"      {\n        \"type\": \"NFC\"\n      },\n" +
		"      {\n        \"type\": \"Replace\",\n        \"pattern\": {\n          \"Regex\": \"\\\\s+\"\n        },\n        \"content\": \" \"\n      },\n" +
		"      {\n        \"type\": \"Lowercase\"\n      }\n    ]\n  },\n")
	splitRe := `<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`
	p("  \"pre_tokenizer\": {\n    \"type\": \"Sequence\",\n    \"pretokenizers\": [\n"+
		"      {\n        \"type\": \"Split\",\n        \"pattern\": {\n          \"Regex\": %s\n        },\n"+
		"        \"behavior\": \"Removed\",\n        \"invert\": true\n      },\n"+
		"      {\n        \"type\": \"ByteLevel\",\n        \"add_prefix_space\": false,\n        \"trim_offsets\": true,\n        \"use_regex\": false\n      }\n"+
		"    ]\n  },\n", q(splitRe))
	p("  \"post_processor\": {\n    \"type\": \"RobertaProcessing\",\n    \"sep\": [\n      %s,\n      %d\n    ],\n"+
		"    \"cls\": [\n      %s,\n      %d\n    ],\n    \"trim_offsets\": false,\n    \"add_prefix_space\": false\n  },\n",
		q(EndText), end, q(StartText), start)
	p("  \"decoder\": {\n    \"type\": \"ByteLevel\",\n    \"add_prefix_space\": true,\n    \"trim_offsets\": true,\n    \"use_regex\": true\n  },\n")
	p("  \"model\": {\n    \"type\": \"BPE\",\n    \"dropout\": null,\n    \"unk_token\": %s,\n"+
		"    \"continuing_subword_prefix\": \"\",\n    \"end_of_word_suffix\": %s,\n    \"fuse_unk\": false,\n"+
		"    \"byte_fallback\": false,\n    \"vocab\": {\n", q(EndText), q(EndOfWord))
	first := true
	for id, tok := range b.tokens {
		if b.ids[tok] != int32(id) {
			continue // made again by a later merge, which owns the token
		}
		if !first {
			p(",\n")
		}
		first = false
		p("      %s: %d", q(tok), id)
	}
	p("\n    },\n    \"merges\": [")
	for i, m := range merges {
		if i > 0 {
			p(",")
		}
		p("\n      %s", q(m[0]+" "+m[1]))
	}
	if len(merges) > 0 {
		p("\n    ")
	}
	p("]\n  }\n}\n")
	return bw.Flush()
}

// jsonString quotes s as serde_json does: only '"', '\\' and control
// characters are escaped, so '<', '>' and '&' stay as written.
func jsonString(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20:
			b.WriteString(`\u00`)
			b.WriteString(strconv.FormatInt(int64(r)>>4, 16))
			b.WriteString(strconv.FormatInt(int64(r)&15, 16))
		case r == utf8.RuneError:
			b.WriteString("\uFFFD")
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
