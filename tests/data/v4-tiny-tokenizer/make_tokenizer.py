#!/usr/bin/env python3
"""Builds tokenizer.json for the tiny golden model (vocab 512): the V4 special tokens at low ids,
the 256 byte-level tokens, and byte-level BPE merges learnt from a small corpus to fill the rest.
The pre-tokenizer is the DeepSeek-V3 one, so encoding exercises the same code paths as the real
tokenizer. Deterministic: rerunning it reproduces the file byte for byte.

Usage: make_tokenizer.py V3_TOKENIZER_JSON CORPUS_FILE... > tokenizer.json
"""
import collections
import json
import sys

VOCAB = 512
SPECIALS = ["<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜▁pad▁｜>", "<｜User｜>",
            "<｜Assistant｜>", "<think>", "</think>", "｜DSML｜", "<｜latest_reminder｜>",
            "<｜action｜>", "<｜query｜>", "<｜authority｜>", "<｜domain｜>", "<｜title｜>",
            "<｜extracted_url｜>", "<｜read_url｜>"]


def byte_to_unicode():
    bs = [b for b in range(256) if ord('!') <= b <= ord('~') or 0xA1 <= b <= 0xAC or b >= 0xAE]
    cs, n = {}, 0
    for b in range(256):
        if b in bs:
            cs[b] = chr(b)
        else:
            cs[b] = chr(256 + n)
            n += 1
    return cs


def main():
    v3 = json.load(open(sys.argv[1], encoding="utf-8"))
    b2u = byte_to_unicode()
    text = "".join(open(p, encoding="utf-8").read() for p in sys.argv[2:])
    # Words: whitespace-separated runs with their leading space, as byte-level symbols.
    words = collections.Counter()
    for w in text.replace("\n", " \n ").split(" "):
        if w:
            words[tuple(b2u[b] for b in (" " + w).encode("utf-8"))] += 1
    vocab = {}
    for i, s in enumerate(SPECIALS):
        vocab[s] = i
    for b in range(256):
        vocab[b2u[b]] = len(SPECIALS) + b
    merges = []
    while len(SPECIALS) + 256 + len(merges) < VOCAB:
        pairs = collections.Counter()
        for w, c in words.items():
            for a, b in zip(w, w[1:]):
                pairs[(a, b)] += c
        if not pairs:
            break
        (a, b), _ = min(pairs.items(), key=lambda kv: (-kv[1], kv[0]))
        merges.append(a + " " + b)
        vocab[a + b] = len(SPECIALS) + 256 + len(merges) - 1
        new = collections.Counter()
        for w, c in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and w[i] == a and w[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            new[tuple(out)] += c
        words = new
    # Specials live in added_tokens; the BPE vocab holds the rest.
    bpe_vocab = {t: i for t, i in vocab.items() if i >= len(SPECIALS)}
    added = [{"id": i, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for i, s in enumerate(SPECIALS)]
    out = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
           "normalizer": None, "pre_tokenizer": v3["pre_tokenizer"], "post_processor": None,
           "decoder": v3["decoder"],
           "model": {"type": "BPE", "dropout": None, "unk_token": None,
                     "continuing_subword_prefix": None, "end_of_word_suffix": None,
                     "fuse_unk": False, "byte_fallback": False, "vocab": bpe_vocab,
                     "merges": merges}}
    json.dump(out, sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
