package tokenizer

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// TestWriteHFJSONLayout checks the file WriteHFJSON writes for the full
// CLIP merges against the layout of openai/clip-vit-base-patch32's
// tokenizer.json.
func TestWriteHFJSONLayout(t *testing.T) {
	_, _ = loadFull(t)
	var b bytes.Buffer
	if err := WriteHFJSON(&b, fullList); err != nil {
		t.Fatal(err)
	}
	data := b.Bytes()
	var f struct {
		Version     string `json:"version"`
		AddedTokens []struct {
			ID      int    `json:"id"`
			Content string `json:"content"`
			Special bool   `json:"special"`
		} `json:"added_tokens"`
		Normalizer struct {
			Type        string           `json:"type"`
			Normalizers []map[string]any `json:"normalizers"`
		} `json:"normalizer"`
		PreTokenizer struct {
			Type          string           `json:"type"`
			Pretokenizers []map[string]any `json:"pretokenizers"`
		} `json:"pre_tokenizer"`
		PostProcessor struct {
			Type string `json:"type"`
			Sep  []any  `json:"sep"`
			Cls  []any  `json:"cls"`
		} `json:"post_processor"`
		Decoder struct {
			Type string `json:"type"`
		} `json:"decoder"`
		Model struct {
			Type            string         `json:"type"`
			UnkToken        string         `json:"unk_token"`
			EndOfWordSuffix string         `json:"end_of_word_suffix"`
			Vocab           map[string]int `json:"vocab"`
			Merges          []string       `json:"merges"`
		} `json:"model"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"version", f.Version, "1.0"},
		{"added tokens", len(f.AddedTokens), 2},
		{"start", [3]any{f.AddedTokens[0].ID, f.AddedTokens[0].Content, f.AddedTokens[0].Special}, [3]any{49406, StartText, true}},
		{"end", [3]any{f.AddedTokens[1].ID, f.AddedTokens[1].Content, f.AddedTokens[1].Special}, [3]any{49407, EndText, true}},
		{"normalizer", f.Normalizer.Type, "Sequence"},
		{"normalizers", len(f.Normalizer.Normalizers), 3},
		{"NFC", f.Normalizer.Normalizers[0]["type"], "NFC"},
		{"lowercase", f.Normalizer.Normalizers[2]["type"], "Lowercase"},
		{"pre_tokenizer", f.PreTokenizer.Type, "Sequence"},
		{"split", f.PreTokenizer.Pretokenizers[0]["type"], "Split"},
		{"split pattern", f.PreTokenizer.Pretokenizers[0]["pattern"], map[string]any{"Regex": `<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`}},
		{"byte level", f.PreTokenizer.Pretokenizers[1]["type"], "ByteLevel"},
		{"post_processor", f.PostProcessor.Type, "RobertaProcessing"},
		{"sep", f.PostProcessor.Sep, []any{EndText, 49407.0}},
		{"cls", f.PostProcessor.Cls, []any{StartText, 49406.0}},
		{"decoder", f.Decoder.Type, "ByteLevel"},
		{"model type", f.Model.Type, "BPE"},
		{"unk", f.Model.UnkToken, EndText},
		{"suffix", f.Model.EndOfWordSuffix, EndOfWord},
		{"vocab size", len(f.Model.Vocab), 49408},
		{"merges", len(f.Model.Merges), MaxMerges},
		{"first merge", f.Model.Merges[0], "i n"},
		{"vocab !", f.Model.Vocab["!"], 0},
		{"vocab in", f.Model.Vocab["in"], 512},
		{"vocab start", f.Model.Vocab[StartText], 49406},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.name, c.got, c.want)
		}
	}
	// Like the Hugging Face writer: vocab in id order, one entry a line,
	// '<' and '>' not escaped.
	for _, want := range []string{"\n      \"!\": 0,\n      \"\\\"\": 1,\n", "\"<|startoftext|>\": 49406,\n      \"<|endoftext|>\": 49407\n    },\n", "\n      \"i n\",\n      \"t h\",\n"} {
		if !bytes.Contains(data, []byte(want)) {
			t.Errorf("file lacks %q", want)
		}
	}
	if bytes.Contains(data, []byte(`\u003c`)) {
		t.Error(`file escapes "<"`)
	}
}

func TestWriteHFJSONErrors(t *testing.T) {
	cases := []struct {
		name   string
		merges [][2]string
		err    string
	}{
		{"unknown token", [][2]string{{"c", "a"}, {"ca", "tt"}}, `merges[1]: merge "ca tt": "tt" is not a byte symbol or made by an earlier merge`},
		{"later token", [][2]string{{"ca", "t"}, {"c", "a"}}, `merges[0]: merge "ca t": "ca" is not a byte symbol or made by an earlier merge`},
		{"space", [][2]string{{"c", "a b"}}, `merges[0]: token "a b" is empty or holds white space`},
		{"empty", [][2]string{{"", "a"}}, `merges[0]: token "" is empty or holds white space`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := WriteHFJSON(&bytes.Buffer{}, tc.merges)
			if err == nil || err.Error() != tc.err {
				t.Errorf("err = %v\nwant %s", err, tc.err)
			}
		})
	}
	t.Run("write error", func(t *testing.T) {
		if err := WriteHFJSON(failWriter{}, nil); !errors.Is(err, errFail) {
			t.Errorf("err = %v, want %v", err, errFail)
		}
	})
}

var errFail = errors.New("disk full")

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errFail }

// TestWriteHFJSONDuplicateToken: two merges making one token give it the
// later id in both formats, and both load to the same ids.
func TestWriteHFJSONDuplicateToken(t *testing.T) {
	merges := [][2]string{{"a", "b"}, {"b", "c"}, {"ab", "c"}, {"a", "bc"}}
	var js bytes.Buffer
	if err := WriteHFJSON(&js, merges); err != nil {
		t.Fatal(err)
	}
	fromJSON, err := ParseHFJSON(js.Bytes(), "dup.json")
	if err != nil {
		t.Fatal(err)
	}
	var txt strings.Builder
	txt.WriteString("#version: 0.2\n")
	for _, m := range merges {
		txt.WriteString(m[0] + " " + m[1] + "\n")
	}
	fromMerges, err := ParseMerges(strings.NewReader(txt.String()), "dup.txt")
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []*Tokenizer{fromJSON, fromMerges} {
		if id, _ := tok.ID("abc"); id != 515 {
			t.Errorf("ID(abc) = %d, want 515", id)
		}
		if got := tok.Encode("abcd bcabcx"); !reflect.DeepEqual(got, fromMerges.Encode("abcd bcabcx")) {
			t.Errorf("Encode = %v, merges file gives %v", got, fromMerges.Encode("abcd bcabcx"))
		}
	}
	if fromJSON.VocabSize() != fromMerges.VocabSize() {
		t.Errorf("VocabSize %d, %d", fromJSON.VocabSize(), fromMerges.VocabSize())
	}
}

// TestMergesFor writes a small vocabulary for a list of words and checks
// that each word is one token after a round trip through tokenizer.json.
func TestMergesFor(t *testing.T) {
	cases := []struct {
		name   string
		words  []string
		tokens map[string][]string // hand-checked tokens of some words
	}{
		{
			name:  "classes",
			words: []string{"tench", "goldfish", "great white shark", "tiger shark", "hammerhead", "electric ray"},
		},
		{
			name:  "shared prefixes and suffixes",
			words: []string{"ab", "xab", "abab", "aaaa", "a", "aa", "aaa", "ba", "bab"},
		},
		{
			name:  "cleaned and split",
			words: []string{"Hat Box", "It's", "café", "2024", "🐱", "ΟΔΟΣ", "fish &amp; chips", "", "<|endoftext|>"},
			tokens: map[string][]string{
				"Hat Box":          {"hat</w>", "box</w>"},
				"It's":             {"it</w>", "'s</w>"},
				"2024":             {"2</w>", "0</w>", "2</w>", "4</w>"},
				"café":             {"cafÃ©</w>"},
				"🐱":                {"ðŁĲ±</w>"},
				"fish &amp; chips": {"fish</w>", "&</w>", "chips</w>"},
				"<|endoftext|>":    {EndText},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			merges := MergesFor(tc.words)
			if again := MergesFor(tc.words); !reflect.DeepEqual(again, merges) {
				t.Fatal("MergesFor is not deterministic")
			}
			// Merges for earlier words do not depend on later ones.
			if prefix := MergesFor(tc.words[:len(tc.words)/2]); !reflect.DeepEqual(prefix, merges[:len(prefix)]) {
				t.Error("merges for the first words are not a prefix of the merges for all")
			}
			var js bytes.Buffer
			if err := WriteHFJSON(&js, merges); err != nil {
				t.Fatal(err)
			}
			tok, err := ParseHFJSON(js.Bytes(), "gen.json")
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.words {
				want := pieceTokens(w)
				if hand, ok := tc.tokens[w]; ok && !reflect.DeepEqual(hand, want) {
					t.Fatalf("pieces of %q are %q, hand-checked %q", w, want, hand)
				}
				ids := tok.Encode(w)
				var got []string
				for _, id := range ids[1 : len(ids)-1] {
					s, _ := tok.Token(id)
					got = append(got, s)
				}
				if len(got) != len(want) || (len(want) > 0 && !reflect.DeepEqual(got, want)) {
					t.Errorf("Encode(%q) gives tokens %q, want %q", w, got, want)
				}
			}
		})
	}
}

// pieceTokens returns the tokens that each piece of w as one token gives.
func pieceTokens(w string) []string {
	var toks []string
	for _, p := range regexp.MustCompile(splitPattern).FindAllString(Clean(w), -1) {
		if p == StartText || p == EndText {
			toks = append(toks, p)
			continue
		}
		toks = append(toks, strings.Join(encodeBytes(p), "")+EndOfWord)
	}
	return toks
}

// TestMergesForImageNet makes one token of each of CLIP's 1000 ImageNet
// class names' words.
func TestMergesForImageNet(t *testing.T) {
	f, err := os.Open(filepath.Join(sharedDir(t), "clip", "imagenet_classes.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var words []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		words = append(words, sc.Text())
	}
	if len(words) != 1000 {
		t.Fatalf("%d classes, want 1000", len(words))
	}
	merges := MergesFor(words)
	var js bytes.Buffer
	if err := WriteHFJSON(&js, merges); err != nil {
		t.Fatal(err)
	}
	tok, err := ParseHFJSON(js.Bytes(), "imagenet.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range words {
		pieces := tok.split.FindAllString(Clean(w), -1)
		ids := tok.Encode(w)
		if len(ids) != len(pieces)+2 {
			t.Errorf("Encode(%q) = %d tokens for %d pieces", w, len(ids)-2, len(pieces))
			continue
		}
		for i, p := range pieces {
			if id, ok := tok.ID(strings.Join(encodeBytes(p), "") + EndOfWord); !ok || ids[i+1] != id {
				t.Errorf("Encode(%q): piece %q is not one token", w, p)
			}
		}
	}
	t.Logf("%d classes: %d merges, vocabulary %d", len(words), len(merges), tok.VocabSize())
}
