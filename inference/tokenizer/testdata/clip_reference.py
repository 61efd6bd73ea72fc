#!/usr/bin/env python3
"""Reference CLIP tokenization for the Go tests, minus ftfy.

This is openai/CLIP's simple_tokenizer (bytes_to_unicode, basic_clean,
whitespace_clean, the split pattern and the BPE loop) written out again,
with ftfy.fix_text left out exactly as the Go package leaves it out. It needs
Python 3 and the `regex` module (Debian: python3-regex).

    python3 clip_reference.py ../../../../shared/clip/bpe_simple_vocab_16e6.txt.gz cases   > cases.json
    python3 clip_reference.py ../../../../shared/clip/bpe_simple_vocab_16e6.txt.gz random  > random_cases.json

`cases` tokenizes the hand-written cases below; `random` tokenizes random
strings (fixed seed) drawn from ASCII, Latin-1, Greek, Cyrillic, combining
marks, CJK, emoji, Unicode white space and HTML entities.
"""
import gzip
import html
import json
import random
import sys

import regex as re


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


class Tokenizer:
    def __init__(self, path):
        self.byte_encoder = bytes_to_unicode()
        data = gzip.open(path).read() if path.endswith(".gz") else open(path, "rb").read()
        merges = data.decode("utf-8").split("\n")[1:49152 - 256 - 2 + 1]
        merges = [tuple(m.split()) for m in merges]
        vocab = list(self.byte_encoder.values())
        vocab = vocab + [v + "</w>" for v in vocab]
        vocab += ["".join(m) for m in merges]
        vocab += ["<|startoftext|>", "<|endoftext|>"]
        self.encoder = dict(zip(vocab, range(len(vocab))))
        self.ranks = dict(zip(merges, range(len(merges))))
        self.cache = {"<|startoftext|>": "<|startoftext|>", "<|endoftext|>": "<|endoftext|>"}
        self.pat = re.compile(r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""", re.IGNORECASE)

    def bpe(self, token):
        if token in self.cache:
            return self.cache[token]
        word = tuple(token[:-1]) + (token[-1] + "</w>",)
        while len(word) > 1:
            pairs = set(zip(word, word[1:]))
            bigram = min(pairs, key=lambda p: self.ranks.get(p, float("inf")))
            if bigram not in self.ranks:
                break
            first, second = bigram
            out, i = [], 0
            while i < len(word):
                if i < len(word) - 1 and word[i] == first and word[i + 1] == second:
                    out.append(first + second)
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            word = tuple(out)
        res = " ".join(word)
        self.cache[token] = res
        return res

    def encode(self, text):
        text = html.unescape(html.unescape(text)).strip()  # basic_clean without ftfy
        text = re.sub(r"\s+", " ", text).strip().lower()   # whitespace_clean, lower
        ids = [self.encoder["<|startoftext|>"]]
        for tok in re.findall(self.pat, text):
            tok = "".join(self.byte_encoder[b] for b in tok.encode("utf-8"))
            ids.extend(self.encoder[t] for t in self.bpe(tok).split(" "))
        ids.append(self.encoder["<|endoftext|>"])
        return ids


CASES = [
    ("single letter", "a"),
    ("upper case", "A PHOTO OF A CAT"),
    ("mixed case", "A Photo Of A Cat"),
    ("tabs and newlines", "\ta\tphoto\n\nof  a\r\ncat \t"),
    ("unicode spaces", "a\u00a0photo\u2003of\u3000a\u2028cat"),
    ("no-break space at ends", "\u00a0\u00a0cat\u00a0"),
    ("separator controls", "\x1ccat\x1f dog\x1e"),
    ("contractions", "it's you're we've I'm they'll he'd don't"),
    ("upper contractions", "IT'S YOU'RE I'LL"),
    ("apostrophe runs", "rock 'n' roll ''quoted'' o'clock"),
    ("curly apostrophe", "it\u2019s"),
    ("digits", "1234567890"),
    ("number with separators", "3.14 1,000,000 -42 10%"),
    ("letters and digits", "abc123def 4k 1080p"),
    ("punctuation runs", "wait... what?!? (yes) [no] {maybe} --- ***"),
    ("symbols", "a+b=c; x<y>z @user #tag $5 ^_^ ~/path"),
    ("accents", "café naïve résumé Ångström crème brûlée"),
    ("accents upper", "CAFÉ NAÏVE"),
    ("decomposed accent", "cafe\u0301"),
    ("german", "Straße Äpfel Öl Übel"),
    ("turkish dotted capital", "İstanbul"),
    ("greek final sigma", "ΟΔΟΣ ΟΔΟΣ."),
    ("greek sigma inside", "ΣΙΣΥΦΟΣ"),
    ("cyrillic", "Кошка на крыше"),
    ("html entities", "fish &amp; chips &lt;3 &quot;hi&quot; &#39;x&#39; &eacute;"),
    ("double escaped entity", "tom &amp;amp; jerry"),
    ("entity nbsp", "a&nbsp;cat"),
    ("numeric entities", "&#65;&#x42;&#x1F600;"),
    ("emoji", "a photo of a 🐱 and 🐶"),
    ("emoji sequence", "👩‍👩‍👧 👍🏽 🇫🇷"),
    ("cjk", "一只猫的照片"),
    ("japanese", "猫の写真です、カタカナ"),
    ("korean", "고양이 사진"),
    ("arabic", "صورة قطة"),
    ("hindi", "बिल्ली की तस्वीर"),
    ("thai", "รูปแมว"),
    ("special tokens in text", "a <|endoftext|> b <|startoftext|>"),
    ("special tokens upper", "<|ENDOFTEXT|>"),
    ("special token glued", "x<|endoftext|>y !<|endoftext|>"),
    ("end of word marker in text", "</w> a</w>"),
    ("long word", "pneumonoultramicroscopicsilicovolcanoconiosis"),
    ("repeated letters", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
    ("url", "https://example.com/a_b?c=d&e=f"),
    ("imagenet template", "a bad photo of the great white shark."),
    ("control characters", "a\x00b\x07c\x7fd"),
    ("replacement and bom", "\ufeffhello\ufffd"),
    ("combining ypogegrammeni", "\u1fb3\u0345x"),
    ("long s", "it'\u017f \u017f"),
    ("kelvin sign", "\u212a\u212b"),
    ("fullwidth", "\uff21\uff22\uff23 \uff11\uff12"),
    ("ligature", "\ufb01sh"),
    ("roman numeral", "\u2163 \u216b"),
    ("superscript digits", "x\u00b2 \u2075"),
    ("only spaces", "   \t\n  "),
]


def random_texts(n, seed):
    rnd = random.Random(seed)
    pools = [
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
        " \t\n\r  ",
        "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
        "'s't're've'm'll'd",
        "àáâãäåæçèéêëìíîïñòóôõöøùúûüýÿßÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÑÒÓÔÕÖØÙÚÛÜÝ¡¢£¤¥¦§¨©ª«¬­®¯°±²³´µ¶·¸¹º»¼½¾¿×÷",
        "αβγδεζηθικλμνξοπρστυφχψωΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩςΆΈΉ",
        "абвгдежзийклмнопрстуфхцчшщъыьэюяАБВГДЕЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯ",
        "\u0300\u0301\u0302\u0303\u0308\u0327\u0345\u200b\u200c\u200d\u00ad",
        "一二三四五六七八九十猫狗鸟鱼写真の、。「」カタ한국어",
        "😀🐱🐶👍🏽❤️✨🎉🇫🇷",
        "\u00a0\u2003\u3000\u2028\u1680\u202f\u0085\x1c\x1d\x0b\x0c",
        "\u2018\u2019\u201c\u201d\u2013\u2014\u2026\u00b7\u2160\u2161\u00b2\u00bd\u0660\u0661\u0966",
        "İıſK",
    ]
    entities = ["&amp;", "&lt;", "&gt;", "&quot;", "&#39;", "&nbsp;", "&eacute;", "&#x41;", "&amp;amp;", "&copy", "&", "<|endoftext|>", "<|startoftext|>"]
    out = []
    for _ in range(n):
        parts = []
        for _ in range(rnd.randint(1, 12)):
            if rnd.random() < 0.1:
                parts.append(rnd.choice(entities))
                continue
            pool = rnd.choice(pools)
            parts.append("".join(rnd.choice(pool) for _ in range(rnd.randint(1, 8))))
        out.append("".join(parts))
    return out


def main():
    tok = Tokenizer(sys.argv[1])
    if sys.argv[2] == "cases":
        rows = [{"name": name, "text": text, "ids": tok.encode(text)} for name, text in CASES]
    else:
        rows = [{"text": text, "ids": tok.encode(text)} for text in random_texts(400, 20240607)]
    print("[")
    print(",\n".join(" " + json.dumps(r, ensure_ascii=True) for r in rows))
    print("]")


if __name__ == "__main__":
    main()
