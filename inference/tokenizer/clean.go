package tokenizer

import (
	"html"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Clean applies CLIP's text cleaning, in the order of the reference
// (openai/CLIP simple_tokenizer.py: basic_clean, whitespace_clean, lower):
//
//  1. invalid UTF-8 bytes become U+FFFD (Python strings cannot hold them);
//  2. HTML entities are unescaped twice (html.UnescapeString);
//  3. leading and trailing whitespace is stripped, with Python's str.strip
//     notion of whitespace (Unicode White_Space plus U+001C..U+001F);
//  4. every run of Unicode White_Space (the regex module's \s) becomes one
//     space;
//  5. the text is lower-cased the way Python's str.lower does it: Unicode
//     simple lower-case mappings, plus U+0130 -> "i\u0307" and the
//     Final_Sigma rule for U+03A3.
//
// The reference first runs ftfy.fix_text, which is not available in Go and
// is skipped here. For plain text (ASCII, and composed accented letters) the
// result is the same. It differs where ftfy would have repaired or
// normalised the text: curly quotes and apostrophes (U+2018, U+2019, U+201C..)
// stay as they are instead of becoming ' and ", so "it’s" splits as
// "it", "’", "s" instead of "it", "'s"; decomposed accents are not
// NFC-composed; ligatures (U+FB01 ﬁ), full-width forms (Ａ), mojibake
// ("cafÃ©"), terminal escapes and control characters are kept as written.
//
// Go's html.UnescapeString differs from Python's html.unescape in corner
// cases only: Python drops numeric references to control characters and
// other invalid code points (&#1; becomes ""), Go keeps the code point, and
// numeric references too large for 32 bits wrap in Go where Python gives
// U+FFFD.
func Clean(text string) string {
	if isPlainASCII(text) {
		return text
	}
	s := strings.ToValidUTF8(text, "\uFFFD")
	s = html.UnescapeString(html.UnescapeString(s))
	s = strings.TrimFunc(s, isPySpace)
	s = collapseSpace(s)
	return pyLower(s)
}

// isPlainASCII reports whether Clean would leave text unchanged because it
// is ASCII with no entity, no upper-case letter, no whitespace but single
// spaces between words.
func isPlainASCII(s string) bool {
	if s == "" {
		return true
	}
	if s[0] == ' ' || s[len(s)-1] == ' ' {
		return false
	}
	prevSpace := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= utf8.RuneSelf, c == '&', 'A' <= c && c <= 'Z':
			return false
		case c == ' ':
			if prevSpace {
				return false
			}
			prevSpace = true
			continue
		case c <= 0x1f:
			// Tabs, newlines, and U+001C..U+001F, which Python strips at the ends.
			return false
		}
		prevSpace = false
	}
	return true
}

// isSpace reports whether r is whitespace to the regex module's \s (the
// Unicode White_Space property), which is what unicode.IsSpace implements.
func isSpace(r rune) bool { return unicode.IsSpace(r) }

// isPySpace reports whether r is whitespace to Python's str.isspace and
// str.strip: White_Space plus the four separators U+001C..U+001F.
func isPySpace(r rune) bool { return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f) }

// collapseSpace replaces each run of whitespace with a single space.
func collapseSpace(s string) string {
	need := false
	prev := false
	for _, r := range s {
		sp := isSpace(r)
		if sp && (r != ' ' || prev) {
			need = true
			break
		}
		prev = sp
	}
	if !need {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	prev = false
	for _, r := range s {
		if isSpace(r) {
			if !prev {
				b.WriteByte(' ')
			}
			prev = true
			continue
		}
		prev = false
		b.WriteRune(r)
	}
	return b.String()
}

// pyLower lower-cases s as Python's str.lower does.
func pyLower(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToLower(s)
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i, r := range s {
		switch r {
		case 0x130: // LATIN CAPITAL LETTER I WITH DOT ABOVE: full mapping.
			b.WriteString("i\u0307")
		case 0x3a3: // GREEK CAPITAL LETTER SIGMA
			if finalSigma(s, i) {
				b.WriteRune(0x3c2)
			} else {
				b.WriteRune(0x3c3)
			}
		default:
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// finalSigma reports whether the capital sigma at byte offset i of s is in
// the Final_Sigma context of the Unicode standard, as Python tests it:
// preceded by a cased letter (skipping case-ignorable characters), and not
// followed by one (skipping case-ignorable characters).
func finalSigma(s string, i int) bool {
	before := s[:i]
	cased := false
	for len(before) > 0 {
		r, n := utf8.DecodeLastRuneInString(before)
		before = before[:len(before)-n]
		if !isCaseIgnorable(r) {
			cased = isCased(r)
			break
		}
	}
	if !cased {
		return false
	}
	after := s[i+utf8.RuneLen(0x3a3):]
	for _, r := range after {
		if !isCaseIgnorable(r) {
			return !isCased(r)
		}
	}
	return true
}

// isCased implements the Unicode Cased property (Lowercase, Uppercase or
// titlecase letter).
func isCased(r rune) bool {
	return unicode.IsLower(r) || unicode.IsUpper(r) || unicode.IsTitle(r) ||
		unicode.Is(unicode.Other_Lowercase, r) || unicode.Is(unicode.Other_Uppercase, r)
}

// isCaseIgnorable implements the Unicode Case_Ignorable property: marks,
// format characters, modifier letters and symbols, and the characters whose
// Word_Break is MidLetter, MidNumLet or Single_Quote.
func isCaseIgnorable(r rune) bool {
	switch r {
	case 0x27, 0x2e, 0x3a, 0xb7, 0x387, 0x55f, 0x5f4, 0x2018, 0x2019, 0x2024,
		0x2027, 0xfe13, 0xfe52, 0xfe55, 0xff07, 0xff0e, 0xff1a:
		return true
	}
	return unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf, unicode.Lm, unicode.Sk)
}
