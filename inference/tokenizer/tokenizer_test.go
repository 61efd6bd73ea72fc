package tokenizer

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// sharedDir returns ../shared next to the repository root (the directory
// holding go.mod), found by walking up from the test's directory.
func sharedDir(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "..", "shared")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test directory")
		}
		dir = parent
	}
}

func mergesPath(t testing.TB) string {
	return filepath.Join(sharedDir(t), "clip", "bpe_simple_vocab_16e6.txt.gz")
}

// The full vocabulary, loaded once per test binary from the merges file and
// from a tokenizer.json written by WriteHFJSON from the same merges.
var (
	fullOnce  sync.Once
	fullMerge *Tokenizer
	fullHF    *Tokenizer
	fullList  [][2]string
	fullErr   error
)

func loadFull(t testing.TB) (fromMerges, fromJSON *Tokenizer) {
	t.Helper()
	fullOnce.Do(func() {
		path := mergesPath(t)
		if fullMerge, fullErr = LoadMerges(path); fullErr != nil {
			return
		}
		if fullList, fullErr = readMerges(path); fullErr != nil {
			return
		}
		var sb strings.Builder
		if fullErr = WriteHFJSON(&sb, fullList); fullErr != nil {
			return
		}
		fullHF, fullErr = ParseHFJSON([]byte(sb.String()), "full-tokenizer.json")
	})
	if fullErr != nil {
		t.Fatal(fullErr)
	}
	return fullMerge, fullHF
}

// readMerges reads merge lines 1..MaxMerges of the gzip merges file the
// simple way, independently of ParseMerges.
func readMerges(path string) ([][2]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(zr)
	var out [][2]string
	for line := 0; sc.Scan() && len(out) < MaxMerges; line++ {
		if line == 0 {
			continue
		}
		fs := strings.Fields(sc.Text())
		if len(fs) != 2 {
			return nil, fmt.Errorf("%s:%d: %q", path, line+1, sc.Text())
		}
		out = append(out, [2]string{fs[0], fs[1]})
	}
	return out, sc.Err()
}

type vector struct {
	Name string  `json:"name"`
	Text string  `json:"text"`
	IDs  []int64 `json:"ids"`
}

func readVectors(t *testing.T, path string) []vector {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var vs []vector
	if err := json.Unmarshal(data, &vs); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(vs) == 0 {
		t.Fatalf("%s: no vectors", path)
	}
	return vs
}

// TestTokenVectors checks every public vector, from both vocabulary formats.
func TestTokenVectors(t *testing.T) {
	fromMerges, fromJSON := loadFull(t)
	for _, v := range readVectors(t, filepath.Join(sharedDir(t), "clip", "token_vectors.json")) {
		for _, tc := range []struct {
			name string
			tok  *Tokenizer
		}{{"merges", fromMerges}, {"tokenizer.json", fromJSON}} {
			t.Run(tc.name+"/"+v.Text, func(t *testing.T) {
				if got := tc.tok.Encode(v.Text); !reflect.DeepEqual(got, v.IDs) {
					t.Errorf("Encode(%q) = %v, want %v", v.Text, got, v.IDs)
				}
			})
		}
	}
}

// TestReferenceRandom compares with random texts that testdata/clip_reference.py
// tokenized with openai/CLIP's algorithm (without ftfy): mixed scripts,
// marks, emoji, Unicode white space, entities and special tokens.
func TestReferenceRandom(t *testing.T) {
	fromMerges, fromJSON := loadFull(t)
	vs := readVectors(t, filepath.Join("testdata", "random_cases.json"))
	for i, v := range vs {
		want := fmt.Sprint(v.IDs)
		if got := fmt.Sprint(fromMerges.Encode(v.Text)); got != want {
			t.Errorf("case %d: merges: Encode(%q) (clean %q)\n got %s\nwant %s", i, v.Text, Clean(v.Text), got, want)
		}
		if got := fmt.Sprint(fromJSON.Encode(v.Text)); got != want {
			t.Errorf("case %d: tokenizer.json: Encode(%q)\n got %s\nwant %s", i, v.Text, got, want)
		}
	}
}

// TestEncodeCases covers white space, case, apostrophes, digits,
// punctuation, accents, entities, emoji and CJK. The ids come from
// testdata/clip_reference.py ("cases"); a few are checked by hand below.
func TestEncodeCases(t *testing.T) {
	fromMerges, fromJSON := loadFull(t)
	cases := []struct {
		name string
		text string
		ids  []int64
	}{
		{name: "single letter", text: "a", ids: []int64{49406, 320, 49407}},
		{name: "upper case", text: "A PHOTO OF A CAT", ids: []int64{49406, 320, 1125, 539, 320, 2368, 49407}},
		{name: "mixed case", text: "A Photo Of A Cat", ids: []int64{49406, 320, 1125, 539, 320, 2368, 49407}},
		{name: "tabs and newlines", text: "\ta\tphoto\n\nof  a\r\ncat \t", ids: []int64{49406, 320, 1125, 539, 320, 2368, 49407}},
		{name: "unicode spaces", text: "a\u00a0photo\u2003of\u3000a\u2028cat", ids: []int64{49406, 320, 1125, 539, 320, 2368, 49407}},
		{name: "no-break space at ends", text: "\u00a0\u00a0cat\u00a0", ids: []int64{49406, 2368, 49407}},
		{name: "separator controls", text: "\x1ccat\x1f dog\x1e", ids: []int64{49406, 2368, 475, 1929, 49407}},
		{name: "contractions", text: "it's you're we've I'm they'll he'd don't", ids: []int64{49406, 585, 568, 592, 982, 649, 1200, 328, 880, 889, 1342, 797, 1896, 847, 713, 49407}},
		{name: "upper contractions", text: "IT'S YOU'RE I'LL", ids: []int64{49406, 585, 568, 592, 982, 328, 1342, 49407}},
		{name: "apostrophe runs", text: "rock 'n' roll ''quoted'' o'clock", ids: []int64{49406, 2172, 262, 333, 262, 3341, 8445, 27706, 8445, 334, 262, 6716, 49407}},
		{name: "curly apostrophe", text: "it\u2019s", ids: []int64{49406, 585, 728, 503, 338, 49407}},
		{name: "digits", text: "1234567890", ids: []int64{49406, 272, 273, 274, 275, 276, 277, 278, 279, 280, 271, 49407}},
		{name: "number with separators", text: "3.14 1,000,000 -42 10%", ids: []int64{49406, 274, 269, 272, 275, 272, 267, 271, 271, 271, 267, 271, 271, 271, 268, 275, 273, 272, 271, 260, 49407}},
		{name: "letters and digits", text: "abc123def 4k 1080p", ids: []int64{49406, 5334, 272, 273, 274, 11649, 275, 330, 272, 271, 279, 271, 335, 49407}},
		{name: "punctuation runs", text: "wait... what?!? (yes) [no] {maybe} --- ***", ids: []int64{49406, 1885, 678, 768, 11395, 263, 1958, 264, 314, 871, 316, 346, 3746, 348, 11079, 7829, 49407}},
		{name: "symbols", text: "a+b=c; x<y>z @user #tag $5 ^_^ ~/path", ids: []int64{49406, 320, 266, 321, 284, 322, 282, 343, 283, 344, 285, 345, 287, 7031, 258, 3640, 259, 276, 15995, 93, 270, 5035, 49407}},
		{name: "accents", text: "café naïve résumé Ångström crème brûlée", ids: []int64{49406, 15304, 1097, 35689, 563, 29106, 7054, 4166, 23176, 10352, 807, 7255, 332, 1075, 12138, 614, 711, 127, 119, 75, 13489, 49407}},
		{name: "accents upper", text: "CAFÉ NAÏVE", ids: []int64{49406, 15304, 1097, 35689, 563, 49407}},
		{name: "decomposed accent", text: "cafe\u0301", ids: []int64{49406, 4979, 136, 479, 49407}},
		{name: "german", text: "Straße Äpfel Öl Übel", ids: []int64{49406, 1894, 127, 253, 324, 10896, 79, 20304, 7255, 331, 6522, 3543, 49407}},
		{name: "turkish dotted capital", text: "İstanbul", ids: []int64{49406, 328, 16384, 11231, 49407}},
		{name: "greek final sigma", text: "ΟΔΟΣ ΟΔΟΣ.", ids: []int64{49406, 138, 123, 138, 112, 138, 123, 139, 480, 138, 123, 138, 112, 138, 123, 139, 480, 269, 49407}},
		{name: "greek sigma inside", text: "ΣΙΣΥΦΟΣ", ids: []int64{49406, 139, 225, 138, 117, 139, 225, 139, 227, 139, 228, 138, 123, 139, 480, 49407}},
		{name: "cyrillic", text: "Кошка на крыше", ids: []int64{49406, 27152, 13506, 141, 230, 27152, 27080, 22705, 27080, 27152, 16370, 45001, 141, 230, 140, 369, 49407}},
		{name: "html entities", text: "fish &amp; chips &lt;3 &quot;hi&quot; &#39;x&#39; &eacute;", ids: []int64{49406, 2759, 261, 8855, 283, 274, 257, 1883, 257, 262, 343, 262, 4166, 49407}},
		{name: "double escaped entity", text: "tom &amp;amp; jerry", ids: []int64{49406, 2435, 261, 9164, 49407}},
		{name: "entity nbsp", text: "a&nbsp;cat", ids: []int64{49406, 320, 2368, 49407}},
		{name: "numeric entities", text: "&#65;&#x42;&#x1F600;", ids: []int64{49406, 3937, 7334, 49407}},
		{name: "emoji", text: "a photo of a 🐱 and 🐶", ids: []int64{49406, 320, 1125, 539, 320, 22979, 537, 10631, 49407}},
		{name: "emoji sequence", text: "👩\u200d👩\u200d👧 👍\U0001f3fd 🇫🇷", ids: []int64{49406, 26304, 26304, 964, 356, 43722, 16223, 49407}},
		{name: "cjk", text: "一只猫的照片", ids: []int64{49406, 19759, 222, 34517, 103, 163, 234, 104, 163, 248, 226, 163, 227, 100, 163, 231, 485, 49407}},
		{name: "japanese", text: "猫の写真です、カタカナ", ids: []int64{49406, 163, 234, 104, 21575, 44653, 41570, 4813, 100, 4813, 503, 45262, 37367, 34941, 37367, 2429, 488, 49407}},
		{name: "korean", text: "고양이 사진", ids: []int64{49406, 36216, 254, 31625, 239, 34746, 31061, 105, 38890, 49407}},
		{name: "arabic", text: "صورة قطة", ids: []int64{49406, 27271, 48242, 20915, 27585, 32050, 20915, 49407}},
		{name: "hindi", text: "ब\u093fल\u094dल\u0940 क\u0940 तस\u094dव\u0940र", ids: []int64{49406, 43599, 26721, 30881, 19389, 30881, 25751, 22067, 25751, 3124, 97, 28505, 19389, 39545, 25751, 19052, 49407}},
		{name: "thai", text: "ร\u0e39ปแมว", ids: []int64{49406, 27331, 35273, 1777, 249, 23916, 94, 30245, 49407}},
		{name: "special tokens in text", text: "a <|endoftext|> b <|startoftext|>", ids: []int64{49406, 320, 49407, 321, 49406, 49407}},
		{name: "special tokens upper", text: "<|ENDOFTEXT|>", ids: []int64{49406, 49407, 49407}},
		{name: "special token glued", text: "x<|endoftext|>y !<|endoftext|>", ids: []int64{49406, 343, 49407, 344, 0, 27, 347, 40786, 4160, 91, 285, 49407}},
		{name: "end of word marker in text", text: "</w> a</w>", ids: []int64{49406, 34308, 342, 285, 320, 34308, 342, 285, 49407}},
		{name: "long word", text: "pneumonoultramicroscopicsilicovolcanoconiosis", ids: []int64{49406, 28714, 749, 20253, 9800, 535, 532, 1065, 901, 1556, 13697, 9916, 78, 39031, 13903, 49407}},
		{name: "repeated letters", text: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", ids: []int64{49406, 23126, 23126, 23126, 23126, 6727, 19336, 49407}},
		{name: "url", text: "https://example.com/a_b?c=d&e=f", ids: []int64{49406, 30901, 12441, 6228, 269, 2464, 270, 320, 318, 321, 286, 322, 284, 323, 261, 324, 284, 325, 49407}},
		{name: "imagenet template", text: "a bad photo of the great white shark.", ids: []int64{49406, 320, 2103, 1125, 539, 518, 830, 1579, 7980, 269, 49407}},
		{name: "control characters", text: "a\x00b\x07c\x7fd", ids: []int64{49406, 320, 444, 321, 451, 322, 477, 323, 49407}},
		{name: "replacement and bom", text: "\ufeffhello\ufffd", ids: []int64{49406, 171, 119, 379, 3306, 39802, 49407}},
		{name: "combining ypogegrammeni", text: "ᾳ\u0345x", ids: []int64{49406, 157, 122, 367, 343, 49407}},
		{name: "long s", text: "it'\u017f \u017f", ids: []int64{49406, 585, 6, 129, 379, 129, 379, 49407}},
		{name: "kelvin sign", text: "\u212a\u212b", ids: []int64{49406, 74, 127, 354, 49407}},
		{name: "fullwidth", text: "\uff21\uff22\uff23 \uff11\uff12", ids: []int64{49406, 171, 121, 223, 171, 121, 224, 171, 121, 481, 171, 120, 495, 171, 120, 496, 49407}},
		{name: "ligature", text: "\ufb01sh", ids: []int64{49406, 171, 105, 223, 849, 49407}},
		{name: "roman numeral", text: "Ⅳ Ⅻ", ids: []int64{49406, 158, 227, 367, 158, 227, 375, 49407}},
		{name: "superscript digits", text: "x² ⁵", ids: []int64{49406, 343, 41175, 1667, 369, 49407}},
		{name: "only spaces", text: "   \t\n  ", ids: []int64{49406, 49407}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := fromMerges.Encode(tc.text); !reflect.DeepEqual(got, tc.ids) {
				t.Errorf("merges: Encode(%q) = %v, want %v", tc.text, got, tc.ids)
			}
			if got := fromJSON.Encode(tc.text); !reflect.DeepEqual(got, tc.ids) {
				t.Errorf("tokenizer.json: Encode(%q) = %v, want %v", tc.text, got, tc.ids)
			}
		})
	}
}

// TestVocabularyLayout checks ids that follow from the rules alone: byte
// symbols in bytes_to_unicode order, the same with </w> 256 later, merges
// from 512, and the special tokens last.
func TestVocabularyLayout(t *testing.T) {
	fromMerges, fromJSON := loadFull(t)
	for _, tok := range []*Tokenizer{fromMerges, fromJSON} {
		if got := tok.VocabSize(); got != 49408 {
			t.Errorf("VocabSize() = %d, want 49408", got)
		}
		if tok.StartID() != 49406 || tok.EndID() != 49407 {
			t.Errorf("StartID, EndID = %d, %d, want 49406, 49407", tok.StartID(), tok.EndID())
		}
		for _, tc := range []struct {
			token string
			id    int64
		}{
			{"!", 0}, {"~", 93}, {"¡", 94}, {"¬", 105}, {"®", 106}, {"ÿ", 187},
			{"Ā", 188}, {"Ġ", 220}, {"ġ", 221}, {"Ń", 255},
			{"a</w>", 256 + 'a' - '!'}, {"Ń</w>", 511},
			{"in", 512}, {"th", 513}, {"a", 64},
			{StartText, 49406}, {EndText, 49407},
		} {
			if got, ok := tok.ID(tc.token); !ok || got != tc.id {
				t.Errorf("ID(%q) = %d, %v, want %d", tc.token, got, ok, tc.id)
			}
			if got, ok := tok.Token(tc.id); !ok || got != tc.token {
				t.Errorf("Token(%d) = %q, %v, want %q", tc.id, got, ok, tc.token)
			}
		}
		for b := 0; b < 256; b++ {
			sym := string(byteRune(byte(b)))
			id, _ := tok.ID(sym)
			idEnd, _ := tok.ID(sym + EndOfWord)
			if id != int64(byteRank(byte(b))) || idEnd != id+256 {
				t.Errorf("byte 0x%02x: ids %d, %d, want %d, %d", b, id, idEnd, byteRank(byte(b)), byteRank(byte(b))+256)
			}
			if back, ok := runeByte(byteRune(byte(b))); !ok || back != byte(b) {
				t.Errorf("byte 0x%02x: runeByte(byteRune) = 0x%02x, %v", b, back, ok)
			}
		}
		if _, ok := tok.Token(49408); ok {
			t.Error("Token(49408) exists")
		}
		if _, ok := tok.Token(-1); ok {
			t.Error("Token(-1) exists")
		}
	}
}

func TestClean(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want string
	}{
		{"empty", "", ""},
		{"plain stays", "a photo of a cat", "a photo of a cat"},
		{"lower", "A Photo OF", "a photo of"},
		{"collapse and trim", "  a \t\n photo\r\n", "a photo"},
		{"unicode white space", "a\u00a0\u2003b\u3000\u2028c\u0085d", "a b c d"},
		{"separators stripped at ends only", "\x1c a\x1fb \x1d", "a\x1fb"},
		{"zero width space is not space", "a\u200bb", "a\u200bb"},
		{"entities", "fish &amp; chips &lt;3 &#39;x&#39; &eacute;", "fish & chips <3 'x' é"},
		{"entity unescaped twice", "&amp;amp; &amp;lt;", "& <"},
		{"entity three times stays once", "&amp;amp;amp;", "&amp;"},
		{"nbsp entity is white space", "a&nbsp;&nbsp;b&nbsp;", "a b"},
		{"entity without semicolon", "&copy 2024", "© 2024"},
		{"upper from entity", "&#65;&Eacute;", "aé"},
		{"dotted capital I", "İSTANBUL", "i\u0307stanbul"},
		{"final sigma", "ΟΔΟΣ ΟΔΟΣ. Σ ΑΣ'Β", "οδος οδος. σ ασ'β"},
		{"sigma inside word", "ΣΙΣΥΦΟΣ", "σισυφος"},
		{"invalid utf-8", "a\xffb\xc3", "a\ufffdb\ufffd"},
		{"curly quotes kept (no ftfy)", "It\u2019s", "it\u2019s"},
		{"ligature kept (no ftfy)", "\ufb01sh", "\ufb01sh"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Clean(tc.in); got != tc.want {
				t.Errorf("Clean(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestEncodeTo(t *testing.T) {
	tok, _ := loadFull(t)
	long := strings.Repeat("a photo of a cat ", 30) // 150 tokens
	cases := []struct {
		name      string
		text      string
		ctx       int
		pad       int64
		wantN     int
		truncated bool
	}{
		{"short, pad 0", "a photo of a cat", 77, 0, 7, false},
		{"short, pad end", "a photo of a cat", 77, 49407, 7, false},
		{"empty", "", 77, 0, 2, false},
		{"exactly full", strings.Repeat("cat ", 75), 77, 0, 77, false},
		{"one too many", strings.Repeat("cat ", 76), 77, 0, 77, true},
		{"long", long, 77, 0, 77, true},
		{"long word cut inside", "pneumonoultramicroscopicsilicovolcanoconiosis", 6, 0, 6, true},
		{"context 2", "cat", 2, 0, 2, true},
		{"context 2 empty", "", 2, 0, 2, false},
		{"context 1", "cat", 1, 0, 1, true},
		{"context 0", "cat", 0, 0, 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			full := tok.Encode(tc.text)
			dst := make([]int64, tc.ctx)
			for i := range dst {
				dst[i] = -7 // every slot must be written
			}
			n, truncated := tok.EncodeTo(dst, tc.text, tc.pad)
			if n != tc.wantN || truncated != tc.truncated {
				t.Fatalf("EncodeTo = %d, %v, want %d, %v", n, truncated, tc.wantN, tc.truncated)
			}
			if tc.ctx == 0 {
				return
			}
			want := make([]int64, 0, tc.ctx)
			if !truncated {
				want = append(want, full...)
			} else {
				// The reference: tokens[:ctx], then the last one set to the end token.
				want = append(want, full[:tc.ctx]...)
				want[tc.ctx-1] = tok.EndID()
			}
			for len(want) < tc.ctx {
				want = append(want, tc.pad)
			}
			if !reflect.DeepEqual(dst, want) {
				t.Errorf("dst = %v\nwant %v", dst, want)
			}
			if dst[n-1] != tok.EndID() {
				t.Errorf("dst[n-1] = %d, want the end id", dst[n-1])
			}
		})
	}
}

func TestDecode(t *testing.T) {
	fromMerges, fromJSON := loadFull(t)
	cases := []struct {
		name string
		text string
		want string
	}{
		{"prompt", "A photo of a CAT.", "a photo of a cat ."},
		{"contractions", "it's a cat's toy", "it 's a cat 's toy"},
		{"digits split", "2024", "2 0 2 4"},
		{"accents and cjk", "Crème 一只猫", "crème 一只猫"},
		{"emoji", "🐱🐶 ok", "🐱🐶 ok"},
		{"special tokens skipped", "a <|endoftext|> b", "a b"},
		{"end of word marker in text kept", "a</w>b", "a </ w > b"},
		{"empty", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, tok := range []*Tokenizer{fromMerges, fromJSON} {
				if got := tok.Decode(tok.Encode(tc.text)); got != tc.want {
					t.Errorf("Decode(Encode(%q)) = %q, want %q", tc.text, got, tc.want)
				}
			}
		})
	}
	t.Run("unknown ids", func(t *testing.T) {
		if got := fromMerges.Decode([]int64{320, -1, 49408, 2368}); got != "a \ufffd\ufffdcat" {
			t.Errorf("Decode = %q", got)
		}
	})
	t.Run("split character", func(t *testing.T) {
		// The first byte of "é" alone is not UTF-8.
		id, _ := fromMerges.ID(string(byteRune(0xc3)))
		if got := fromMerges.Decode([]int64{id}); got != "\ufffd" {
			t.Errorf("Decode = %q, want U+FFFD", got)
		}
	})
}

// TestBPEMatchesReferenceLoop holds the heap-based merge against the
// reference's loop (naiveBPE) on every piece of the random reference texts
// and on a long word.
func TestBPEMatchesReferenceLoop(t *testing.T) {
	tok, _ := loadFull(t)
	var pieces []string
	for _, v := range readVectors(t, filepath.Join("testdata", "random_cases.json")) {
		pieces = append(pieces, tok.split.FindAllString(Clean(v.Text), -1)...)
	}
	pieces = append(pieces, strings.Repeat("abracadabra", 40), strings.Repeat("a", 300), "pneumonoultramicroscopicsilicovolcanoconiosis")
	ranks := rankMap(fullList)
	for _, p := range pieces {
		if p == StartText || p == EndText {
			continue
		}
		if got, want := tok.bpe(p), naiveIDs(tok, ranks, p); !reflect.DeepEqual(got, want) {
			t.Errorf("bpe(%q) = %v, reference loop %v", p, got, want)
		}
	}
}

// rankMap ranks merges by string as the reference does: a later line wins.
func rankMap(merges [][2]string) map[[2]string]int {
	ranks := make(map[[2]string]int, len(merges))
	for i, m := range merges {
		ranks[m] = i
	}
	return ranks
}

// naiveIDs runs the reference loop with ranks taken from the merge list
// itself (rankMap), independently of tok's tables, and maps the result to
// ids with tok.
func naiveIDs(tok *Tokenizer, ranks map[[2]string]int, piece string) []int32 {
	seg := naiveBPE(wordSymbols(piece), func(a, b string) (int, bool) {
		r, ok := ranks[[2]string{a, b}]
		return r, ok
	})
	ids := make([]int32, len(seg))
	for i, s := range seg {
		ids[i] = tok.ids[s]
	}
	return ids
}

// parseMergeLines splits "a b" lines.
func parseMergeLines(text string) [][2]string {
	var out [][2]string
	for _, line := range strings.Split(text, "\n") {
		if f := strings.Fields(line); len(f) == 2 {
			out = append(out, [2]string{f[0], f[1]})
		}
	}
	return out
}

// TestBPEPathological uses merge lists where a pass of the reference makes
// pairs ranked below the pass's own pair; those must wait for the next pass.
func TestBPEPathological(t *testing.T) {
	cases := []struct {
		name   string
		merges string
		words  []string
	}{
		{
			name: "lower pair made during a pass",
			// abcabcd: after (b c) the pass of (a bc), rank 4, makes (abc a),
			// rank 3, which must not take the second "a" from that pass.
			merges: "b c\na b\nab c\nabc a\na bc\n",
			words:  []string{"abcabcd", "abcabc", "bcabca", "ababab"},
		},
		{
			name:   "same token from two merges",
			merges: "a b\nb c\nab c\na bc\nab c</w>\nabc abc</w>\nc a\n",
			words:  []string{"abcabc", "abc", "bcabc", "cabca"},
		},
		{
			// "abc d</w>" names abc before "a bc" makes it again and gives
			// it a new id; the merge must still apply.
			name:   "token made again after use",
			merges: "a b\nab c\nabc d</w>\nb c\na bc\n",
			words:  []string{"abcd", "abcabcd", "bcd"},
		},
		{
			name:   "overlapping pairs",
			merges: "a a\naa a\naa aa\na a</w>\naa a</w>\n",
			words:  []string{"aaaaa", "aaaaaaa", "aa", "a", "aaa"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := ParseMerges(strings.NewReader("#version: 0.2\n"+tc.merges), "test.txt")
			if err != nil {
				t.Fatal(err)
			}
			var js strings.Builder
			if err := WriteHFJSON(&js, parseMergeLines(tc.merges)); err != nil {
				t.Fatal(err)
			}
			fromJSON, err := ParseHFJSON([]byte(js.String()), "test.json")
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.words {
				if got, want := tok.bpe(w), naiveIDs(tok, rankMap(parseMergeLines(tc.merges)), w); !reflect.DeepEqual(got, want) {
					t.Errorf("bpe(%q) = %v, reference loop %v", w, got, want)
				}
				if got, want := fromJSON.Encode(w), tok.Encode(w); !reflect.DeepEqual(got, want) {
					t.Errorf("tokenizer.json: Encode(%q) = %v, merges file %v", w, got, want)
				}
			}
		})
	}
}

// TestConcurrentEncode encodes from many goroutines at once with one fresh
// tokenizer (run with -race) and compares with the reference ids.
func TestConcurrentEncode(t *testing.T) {
	shared, err := LoadMerges(mergesPath(t))
	if err != nil {
		t.Fatal(err)
	}
	vs := readVectors(t, filepath.Join("testdata", "random_cases.json"))
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := range vs {
				v := vs[(i+g*37)%len(vs)]
				if got := shared.Encode(v.Text); !reflect.DeepEqual(got, v.IDs) {
					errs <- fmt.Sprintf("goroutine %d: Encode(%q) = %v, want %v", g, v.Text, got, v.IDs)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// TestCacheBounded fills the word cache past its bound: it must keep at
// most two generations and still give the right ids.
func TestCacheBounded(t *testing.T) {
	tok, err := LoadMerges(mergesPath(t))
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := loadFull(t)
	words := make([]string, 0, 3*cacheGeneration)
	for i := 0; len(words) < cap(words); i++ {
		words = append(words, spell(i))
	}
	for _, w := range words {
		tok.Encode(w)
	}
	if n := tok.cache.len(); n > 2*cacheGeneration || n < cacheGeneration {
		t.Errorf("cache holds %d words, want %d..%d", n, cacheGeneration, 2*cacheGeneration)
	}
	for _, w := range []string{words[0], words[len(words)-1], "a photo of a cat"} {
		if got, want := tok.Encode(w), ref.Encode(w); !reflect.DeepEqual(got, want) {
			t.Errorf("Encode(%q) = %v after cache turnover, want %v", w, got, want)
		}
	}
	long := strings.Repeat("x", maxCachedWord+1)
	before := tok.cache.len()
	tok.Encode(long)
	if tok.cache.len() != before {
		t.Error("a word longer than maxCachedWord was cached")
	}
}

// spell writes i in base 26 with letters: distinct words for distinct i.
func spell(i int) string {
	var b []byte
	for {
		b = append(b, byte('a'+i%26))
		i /= 26
		if i == 0 {
			return string(b)
		}
	}
}

// TestLongWord encodes a 200,000-letter word of pseudo-random letters. The
// reference's loop rescans the whole word for each of the thousands of
// merges that apply; the heap keeps this to O(n log n).
func TestLongWord(t *testing.T) {
	tok, _ := loadFull(t)
	b := make([]byte, 200000)
	x := uint32(1)
	for i := range b {
		x = x*1664525 + 1013904223
		b[i] = "etaoinshrdlucmfwypvbgkjqxz"[(x>>16)%26]
	}
	word := string(b)
	ids := tok.Encode(word)
	if len(ids) < 1000 || ids[0] != tok.StartID() || ids[len(ids)-1] != tok.EndID() {
		t.Fatalf("Encode gave %d ids", len(ids))
	}
	if got := tok.Decode(ids); got != word {
		t.Errorf("Decode(Encode(long word)) differs: %d bytes, want %d", len(got), len(word))
	}
	// The same on a prefix small enough for the reference loop.
	short := word[:3000]
	if got, want := tok.bpe(short), naiveIDs(tok, rankMap(fullList), short); !reflect.DeepEqual(got, want) {
		t.Errorf("bpe differs from the reference loop on a 3000-letter word")
	}
}

func BenchmarkEncode(b *testing.B) {
	tok, _ := loadFull(b)
	const prompt = "a bad photo of the great white shark."
	b.ReportAllocs()
	for b.Loop() {
		tok.Encode(prompt)
	}
}

func BenchmarkEncodeTo(b *testing.B) {
	tok, _ := loadFull(b)
	const prompt = "a bad photo of the great white shark."
	dst := make([]int64, ContextLength)
	b.ReportAllocs()
	for b.Loop() {
		tok.EncodeTo(dst, prompt, 0)
	}
}

// BenchmarkEncodeUncached measures the merges themselves: every word is new.
func BenchmarkEncodeUncached(b *testing.B) {
	tok, _ := loadFull(b)
	words := strings.Fields("a bad photo of the great white shark")
	b.ReportAllocs()
	for b.Loop() {
		for _, w := range words {
			tok.bpe(w)
		}
	}
}

func BenchmarkEncodeParallel(b *testing.B) {
	tok, _ := loadFull(b)
	const prompt = "a bad photo of the great white shark."
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			tok.Encode(prompt)
		}
	})
}
