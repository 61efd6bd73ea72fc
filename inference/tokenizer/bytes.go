package tokenizer

// CLIP, like GPT-2, runs BPE over bytes, each byte written as one printable
// rune (bytes_to_unicode in the reference): the printable Latin-1 bytes
// ('!'..'~', '¡'..'¬', '®'..'ÿ') stand for themselves and the 68 others map,
// in increasing order, to U+0100..U+0143. The vocabulary lists the 256 byte
// symbols printable ones first, then the others, each in increasing order.

// byteRune returns the rune that stands for b.
func byteRune(b byte) rune {
	switch {
	case b <= 0x20:
		return 0x100 + rune(b)
	case b >= 0x7f && b <= 0xa0:
		return rune(b) + 0xa2
	case b == 0xad:
		return 0x143
	}
	return rune(b)
}

// runeByte is the inverse of byteRune; ok is false for a rune that stands
// for no byte.
func runeByte(r rune) (b byte, ok bool) {
	switch {
	case r >= 0x21 && r <= 0x7e, r >= 0xa1 && r <= 0xac, r >= 0xae && r <= 0xff:
		return byte(r), true
	case r >= 0x100 && r <= 0x120:
		return byte(r - 0x100), true
	case r >= 0x121 && r <= 0x142:
		return byte(r - 0xa2), true
	case r == 0x143:
		return 0xad, true
	}
	return 0, false
}

// byteRank returns the position of b's symbol in CLIP's vocabulary order
// (0..255).
func byteRank(b byte) int {
	switch {
	case b >= 0x21 && b <= 0x7e:
		return int(b) - 0x21
	case b >= 0xa1 && b <= 0xac:
		return int(b) - 0xa1 + 94
	case b >= 0xae:
		return int(b) - 0xae + 106
	case b <= 0x20:
		return int(b) + 188
	case b >= 0x7f && b <= 0xa0:
		return int(b) - 0x7f + 188 + 33
	}
	return 255 // 0xad
}

// byteSymbols returns the 256 byte symbols in vocabulary order.
func byteSymbols() [256]string {
	var syms [256]string
	for b := 0; b < 256; b++ {
		syms[byteRank(byte(b))] = string(byteRune(byte(b)))
	}
	return syms
}

// encodeBytes writes each byte of s as its symbol.
func encodeBytes(s string) []string {
	out := make([]string, len(s))
	for i := 0; i < len(s); i++ {
		out[i] = string(byteRune(s[i]))
	}
	return out
}
