package tokenizer

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestLoadFormats loads the same vocabulary as gzip merges, plain merges and
// tokenizer.json (pretty, as WriteHFJSON writes it) through every entry
// point, and checks they encode alike.
func TestLoadFormats(t *testing.T) {
	_, _ = loadFull(t)
	dir := t.TempDir()
	gz := mergesPath(t)
	raw, err := os.ReadFile(gz)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	plainData, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	plain := filepath.Join(dir, "bpe_simple_vocab_16e6.txt")
	if err := os.WriteFile(plain, plainData, 0o644); err != nil {
		t.Fatal(err)
	}
	var js bytes.Buffer
	if err := WriteHFJSON(&js, fullList); err != nil {
		t.Fatal(err)
	}
	jsonPath := filepath.Join(dir, "tokenizer.json")
	if err := os.WriteFile(jsonPath, js.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	loaders := []struct {
		name string
		load func() (*Tokenizer, error)
	}{
		{"Load gz", func() (*Tokenizer, error) { return Load(gz) }},
		{"Load plain", func() (*Tokenizer, error) { return Load(plain) }},
		{"Load json", func() (*Tokenizer, error) { return Load(jsonPath) }},
		{"LoadMerges gz", func() (*Tokenizer, error) { return LoadMerges(gz) }},
		{"LoadMerges plain", func() (*Tokenizer, error) { return LoadMerges(plain) }},
		{"LoadHFJSON", func() (*Tokenizer, error) { return LoadHFJSON(jsonPath) }},
	}
	const text = "A photo of a Great White Shark, it's 2024! café 🐱"
	want, _ := loadFull(t)
	for _, l := range loaders {
		t.Run(l.name, func(t *testing.T) {
			tok, err := l.load()
			if err != nil {
				t.Fatal(err)
			}
			if tok.VocabSize() != 49408 || tok.StartID() != 49406 || tok.EndID() != 49407 {
				t.Errorf("VocabSize, StartID, EndID = %d, %d, %d", tok.VocabSize(), tok.StartID(), tok.EndID())
			}
			if got := tok.Encode(text); !reflect.DeepEqual(got, want.Encode(text)) {
				t.Errorf("Encode = %v, want %v", got, want.Encode(text))
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		for _, load := range []func(string) (*Tokenizer, error){Load, LoadMerges, LoadHFJSON} {
			if _, err := load(filepath.Join(dir, "nope")); !os.IsNotExist(err) {
				t.Errorf("err = %v, want not exist", err)
			}
		}
	})
}

// TestParseMergesSmall reads a merges file shorter than CLIP's.
func TestParseMergesSmall(t *testing.T) {
	const file = "#version: 0.2\r\nc a\r\nca t</w>\r\nd o\r\ndo g</w>\r\n\r\n\n"
	tok, err := ParseMerges(strings.NewReader(file), "small.txt")
	if err != nil {
		t.Fatal(err)
	}
	if tok.VocabSize() != 512+4+2 || tok.StartID() != 516 || tok.EndID() != 517 || tok.NumMerges() != 4 {
		t.Fatalf("VocabSize, StartID, EndID, NumMerges = %d, %d, %d, %d", tok.VocabSize(), tok.StartID(), tok.EndID(), tok.NumMerges())
	}
	cases := []struct {
		name string
		text string
		ids  []int64
	}{
		{"whole words", "Cat dog", []int64{516, 513, 515, 517}},
		{"not at the end of a word", "cats", []int64{516, 512, 83, 338, 517}}, // ca, t, s</w>
		{"bytes", "ox", []int64{516, 78, 343, 517}},
		{"special", "<|endoftext|>", []int64{516, 517, 517}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tok.Encode(tc.text); !reflect.DeepEqual(got, tc.ids) {
				t.Errorf("Encode(%q) = %v, want %v", tc.text, got, tc.ids)
			}
		})
	}
	gzBuf := gzipBytes(t, []byte(file))
	tokGz, err := ParseMerges(bytes.NewReader(gzBuf), "small.txt.gz")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := tokGz.Encode("cat dog"), tok.Encode("cat dog"); !reflect.DeepEqual(got, want) {
		t.Errorf("gzip: %v, plain: %v", got, want)
	}
}

func gzipBytes(t testing.TB, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestParseMergesStopsAtMaxMerges: lines past MaxMerges are not used.
func TestParseMergesStopsAtMaxMerges(t *testing.T) {
	var b strings.Builder
	b.WriteString("#version: 0.2\n")
	for i := 0; i < MaxMerges; i++ {
		b.WriteString("a b\n") // the same merge again and again: later wins
	}
	b.WriteString("this line is past the limit and is not read\n")
	tok, err := ParseMerges(strings.NewReader(b.String()), "long.txt")
	if err != nil {
		t.Fatal(err)
	}
	if tok.VocabSize() != 49408 {
		t.Errorf("VocabSize = %d, want 49408", tok.VocabSize())
	}
	// "ab" is made by every line; its id is the last one's, as in the
	// reference. The final "ab" of "abab" is a, b</w>, which no merge joins.
	if id, _ := tok.ID("ab"); id != 512+MaxMerges-1 {
		t.Errorf("ID(ab) = %d, want %d", id, 512+MaxMerges-1)
	}
	if got := tok.Encode("abab"); !reflect.DeepEqual(got, []int64{49406, 512 + MaxMerges - 1, 64, 321, 49407}) {
		t.Errorf("Encode(abab) = %v", got)
	}
}

func TestParseMergesErrors(t *testing.T) {
	cases := []struct {
		name string
		file string
		err  string
	}{
		{"empty", "", "m.txt: empty merges file"},
		{"no header", "i n\nt h\n", `m.txt:1: header "i n" is not a BPE merges header (#version)`},
		{"one token", "#version: 0.2\ni n\nth\n", `m.txt:3: merge "th": want two tokens, found 1`},
		{"three tokens", "#version: 0.2\ni n x\n", `m.txt:2: merge "i n x": want two tokens, found 3`},
		{"unknown left token", "#version: 0.2\nin g\n", `m.txt:2: merge "in g": "in" is not a byte symbol or made by an earlier merge`},
		{"unknown right token", "#version: 0.2\nt he\n", `m.txt:2: merge "t he": "he" is not a byte symbol or made by an earlier merge`},
		{"raw space byte", "#version: 0.2\na \u00a0\n", `m.txt:2: merge "a \u00a0": want two tokens, found 1`},
		{"empty line inside", "#version: 0.2\ni n\n\nt h\n", "m.txt:3: empty line before the last merge"},
		{"bad gzip", "\x1f\x8b\x08garbage", "m.txt: unexpected EOF"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseMerges(strings.NewReader(tc.file), "m.txt")
			if err == nil || err.Error() != tc.err {
				t.Errorf("err = %v\nwant %s", err, tc.err)
			}
		})
	}
}

// smallMerges is a valid merge list for the tokenizer.json tests.
var smallMerges = [][2]string{{"c", "a"}, {"ca", "t</w>"}, {"d", "o"}, {"do", "g</w>"}}

// smallJSON returns WriteHFJSON's file for smallMerges, decoded.
func smallJSON(t testing.TB) map[string]any {
	t.Helper()
	var b bytes.Buffer
	if err := WriteHFJSON(&b, smallMerges); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func model(m map[string]any) map[string]any { return m["model"].(map[string]any) }
func vocab(m map[string]any) map[string]any { return model(m)["vocab"].(map[string]any) }

func TestParseHFJSONErrors(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(m map[string]any)
		err    string
	}{
		{"no model", func(m map[string]any) { delete(m, "model") }, "t.json: no model"},
		{"not BPE", func(m map[string]any) { model(m)["type"] = "WordPiece" }, `t.json: model.type is "WordPiece", want "BPE"`},
		{"no type", func(m map[string]any) { delete(model(m), "type") }, `t.json: model.type is "", want "BPE"`},
		{"no suffix", func(m map[string]any) { delete(model(m), "end_of_word_suffix") }, `t.json: no model.end_of_word_suffix, want "</w>"`},
		{"other suffix", func(m map[string]any) { model(m)["end_of_word_suffix"] = "@@" }, `t.json: model.end_of_word_suffix is "@@", want "</w>"`},
		{"subword prefix", func(m map[string]any) { model(m)["continuing_subword_prefix"] = "##" }, `t.json: model.continuing_subword_prefix is "##", want ""`},
		{"dropout", func(m map[string]any) { model(m)["dropout"] = 0.1 }, "t.json: model.dropout is 0.1, want null"},
		{"no vocab", func(m map[string]any) { delete(model(m), "vocab") }, "t.json: model.vocab is missing or empty"},
		{"negative id", func(m map[string]any) { vocab(m)["xyz"] = -1 }, `t.json: model.vocab: "xyz" has id -1, want 0..1297`},
		{"huge id", func(m map[string]any) { vocab(m)["xyz"] = 1298 }, `t.json: model.vocab: "xyz" has id 1298, want 0..1297`},
		{"duplicate id", func(m map[string]any) { vocab(m)["zz"] = 3 }, `t.json: model.vocab: "$" and "zz" both have id 3`},
		{"empty token", func(m map[string]any) { vocab(m)[""] = 600 }, "t.json: model.vocab: empty token with id 600"},
		{"missing start token", func(m map[string]any) {
			delete(vocab(m), StartText)
			m["added_tokens"] = m["added_tokens"].([]any)[1:]
		}, "t.json: <|startoftext|> is in neither added_tokens nor model.vocab"},
		{"missing end token", func(m map[string]any) {
			delete(vocab(m), EndText)
			m["added_tokens"] = m["added_tokens"].([]any)[:1]
		}, "t.json: <|endoftext|> is in neither added_tokens nor model.vocab"},
		{"added token id disagrees", func(m map[string]any) {
			m["added_tokens"].([]any)[0].(map[string]any)["id"] = 600
		}, `t.json: added_tokens[0] "<|startoftext|>" has id 600, model.vocab has 516`},
		{"added token on a vocab id", func(m map[string]any) {
			delete(vocab(m), StartText)
			m["added_tokens"].([]any)[0].(map[string]any)["id"] = 512
		}, `t.json: added_tokens[0] "<|startoftext|>" has id 512, which model.vocab gives to "ca"`},
		{"added token negative id", func(m map[string]any) {
			m["added_tokens"].([]any)[1].(map[string]any)["id"] = -5
		}, `t.json: added_tokens[1] "<|endoftext|>" has id -5, want 0..1295`},
		{"missing byte symbol", func(m map[string]any) { delete(vocab(m), "Ġ") }, `t.json: model.vocab: byte symbol "Ġ" (byte 0x20) is missing`},
		{"missing byte symbol with suffix", func(m map[string]any) { delete(vocab(m), "a</w>") }, `t.json: model.vocab: byte symbol "a</w>" (byte 0x61) is missing`},
		{"merge token not in vocab", func(m map[string]any) {
			model(m)["merges"] = append(model(m)["merges"].([]any), "ca tt")
		}, `t.json: model.merges[4]: "tt" is not in model.vocab`},
		{"merge left token not in vocab", func(m map[string]any) {
			model(m)["merges"] = []any{"xy z"}
		}, `t.json: model.merges[0]: "xy" is not in model.vocab`},
		{"merged token not in vocab", func(m map[string]any) {
			delete(vocab(m), "cat</w>")
		}, `t.json: model.merges[1]: merged token "cat</w>" is not in model.vocab`},
		{"merge with one token", func(m map[string]any) { model(m)["merges"] = []any{"ca"} }, `t.json: model.merges[0]: "ca" is not two tokens separated by one space`},
		{"merge with three tokens", func(m map[string]any) { model(m)["merges"] = []any{"c a t"} }, `t.json: model.merges[0]: "c a t" is not two tokens separated by one space`},
		{"merge with two spaces", func(m map[string]any) { model(m)["merges"] = []any{"c  a"} }, `t.json: model.merges[0]: "c  a" is not two tokens separated by one space`},
		{"merge pair of three", func(m map[string]any) { model(m)["merges"] = []any{[]any{"c", "a", "t"}} }, `t.json: model.merges[0]: ["c","a","t"] is not a pair of strings`},
		{"merge pair with empty", func(m map[string]any) { model(m)["merges"] = []any{[]any{"c", ""}} }, `t.json: model.merges[0]: ["c",""] has an empty token`},
		{"merge number", func(m map[string]any) { model(m)["merges"] = []any{7} }, `t.json: model.merges[0]: 7 is neither "a b" nor ["a", "b"]`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := smallJSON(t)
			tc.mutate(m)
			data, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			_, err = ParseHFJSON(data, "t.json")
			if err == nil || err.Error() != tc.err {
				t.Errorf("err = %v\nwant %s", err, tc.err)
			}
		})
	}
}

// TestParseHFJSONInvalidFiles reads the testdata/invalid-*.json files, each
// with its exact error.
func TestParseHFJSONInvalidFiles(t *testing.T) {
	cases := []struct {
		file string
		err  string
	}{
		{"invalid-syntax.json", "testdata/invalid-syntax.json:5:3: invalid character '}' looking for beginning of object key string"},
		{"invalid-vocab-type.json", "testdata/invalid-vocab-type.json:6:17: model.vocab: found JSON string, want int64"},
		{"invalid-merges-type.json", "testdata/invalid-merges-type.json:5:15: model.merges: found JSON object, want []json.RawMessage"},
		{"invalid-not-bpe.json", `testdata/invalid-not-bpe.json: model.type is "WordPiece", want "BPE"`},
		{"invalid-top-level.json", "testdata/invalid-top-level.json:1:1: (top level): found JSON array, want tokenizer.hfFile"},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			_, err := LoadHFJSON(filepath.Join("testdata", tc.file))
			if err == nil || err.Error() != tc.err {
				t.Errorf("err = %v\nwant %s", err, tc.err)
			}
			// Load tells the format from the content and gives the same error.
			if _, err2 := Load(filepath.Join("testdata", tc.file)); err2 == nil || err2.Error() != tc.err {
				t.Errorf("Load: err = %v\nwant %s", err2, tc.err)
			}
		})
	}
}

// TestParseHFJSONVariants reads what other writers put in tokenizer.json:
// merges as pairs (tokenizers >= 0.20, Xenova exports), ids other than
// CLIP's, special tokens only in added_tokens, escaped strings.
func TestParseHFJSONVariants(t *testing.T) {
	base, err := ParseHFJSON(mustMarshal(t, smallJSON(t)), "base.json")
	if err != nil {
		t.Fatal(err)
	}
	const text = "a cat, a dog."
	want := base.Encode(text)

	t.Run("pair merges", func(t *testing.T) {
		m := smallJSON(t)
		var pairs []any
		for _, p := range smallMerges {
			pairs = append(pairs, []any{p[0], p[1]})
		}
		model(m)["merges"] = pairs
		tok, err := ParseHFJSON(mustMarshal(t, m), "pairs.json")
		if err != nil {
			t.Fatal(err)
		}
		if got := tok.Encode(text); !reflect.DeepEqual(got, want) {
			t.Errorf("Encode = %v, want %v", got, want)
		}
	})
	t.Run("other ids", func(t *testing.T) {
		// Special tokens first (0, 1), everything else moved up by 2.
		m := smallJSON(t)
		v := vocab(m)
		for tok, id := range v {
			v[tok] = id.(float64) + 2
		}
		v[StartText], v[EndText] = 0, 1
		added := m["added_tokens"].([]any)
		added[0].(map[string]any)["id"] = 0
		added[1].(map[string]any)["id"] = 1
		tok, err := ParseHFJSON(mustMarshal(t, m), "shifted.json")
		if err != nil {
			t.Fatal(err)
		}
		if tok.StartID() != 0 || tok.EndID() != 1 || tok.VocabSize() != 518 {
			t.Fatalf("StartID, EndID, VocabSize = %d, %d, %d", tok.StartID(), tok.EndID(), tok.VocabSize())
		}
		got := tok.Encode(text)
		shifted := make([]int64, len(want))
		for i, id := range want {
			switch id {
			case base.StartID():
				shifted[i] = 0
			case base.EndID():
				shifted[i] = 1
			default:
				shifted[i] = id + 2
			}
		}
		if !reflect.DeepEqual(got, shifted) {
			t.Errorf("Encode = %v, want %v", got, shifted)
		}
		if got := tok.Decode(got); got != "a cat , a dog ." {
			t.Errorf("Decode = %q", got)
		}
	})
	t.Run("specials only in added_tokens", func(t *testing.T) {
		m := smallJSON(t)
		delete(vocab(m), StartText)
		delete(vocab(m), EndText)
		tok, err := ParseHFJSON(mustMarshal(t, m), "added.json")
		if err != nil {
			t.Fatal(err)
		}
		if got := tok.Encode(text); !reflect.DeepEqual(got, want) {
			t.Errorf("Encode = %v, want %v", got, want)
		}
	})
	t.Run("specials only in vocab, extra added token", func(t *testing.T) {
		m := smallJSON(t)
		m["added_tokens"] = []any{map[string]any{"id": 900, "content": "<pad>", "special": false}}
		tok, err := ParseHFJSON(mustMarshal(t, m), "vocab-only.json")
		if err != nil {
			t.Fatal(err)
		}
		if got := tok.Encode(text); !reflect.DeepEqual(got, want) {
			t.Errorf("Encode = %v, want %v", got, want)
		}
		if tok.VocabSize() != 901 {
			t.Errorf("VocabSize = %d, want 901", tok.VocabSize())
		}
		if got := tok.Decode([]int64{900, 516, 517}); got != "<pad>" {
			t.Errorf("Decode = %q, want the added token and no special tokens", got)
		}
	})
	t.Run("escaped strings", func(t *testing.T) {
		// json.Marshal writes < and > as \u003c and \u003e: merges and
		// tokens with escapes must read the same.
		m := smallJSON(t)
		model(m)["merges"] = []any{"c a", "ca t</w>", "d o", "do g</w>", "< |</w>"}
		vocab(m)["<|</w>"] = 520
		data := mustMarshal(t, m)
		if !bytes.Contains(data, []byte(`\u003c|`)) {
			t.Fatal("test data has no escapes")
		}
		tok, err := ParseHFJSON(data, "escaped.json")
		if err != nil {
			t.Fatal(err)
		}
		if got := tok.Encode("<|x"); !reflect.DeepEqual(got, []int64{516, 520, 343, 517}) {
			t.Errorf("Encode = %v", got)
		}
	})
}

func mustMarshal(t testing.TB, v any) []byte {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func BenchmarkLoadMerges(b *testing.B) {
	path := mergesPath(b)
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseMerges(bytes.NewReader(data), path); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseHFJSON(b *testing.B) {
	_, _ = loadFull(b)
	var js bytes.Buffer
	if err := WriteHFJSON(&js, fullList); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseHFJSON(js.Bytes(), "tokenizer.json"); err != nil {
			b.Fatal(err)
		}
	}
}
