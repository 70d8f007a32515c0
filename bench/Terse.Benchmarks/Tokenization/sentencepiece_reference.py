#!/usr/bin/env python3
"""SentencePiece's own encode throughput on the text SentencePieceEncodeBenchmarks uses.

The reference figure for docs/benchmarks.md: the C++ library through its Python binding (Debian:
apt-get install python3-sentencepiece), one thread, the same 262,144 characters of TinyStories
encoded as one sequence, best of several runs. Prints the token count too, which must equal
Terse's for the same model.

Run from the repository root: /usr/bin/python3 bench/Terse.Benchmarks/Tokenization/sentencepiece_reference.py
"""
import os
import sys
import time

import sentencepiece

ROOT = os.path.dirname(os.path.abspath(__file__))
while not os.path.exists(os.path.join(ROOT, "Terse.slnx")):
    parent = os.path.dirname(ROOT)
    if parent == ROOT:
        sys.exit("repository root (Terse.slnx) not found")
    ROOT = parent
DATA = os.path.join(os.path.dirname(ROOT), "shared", "data")

with open(os.path.join(DATA, "text", "tinystories_valid_head.txt"), encoding="utf-8") as f:
    text = f.read()[:262_144]
length = len(text.encode("utf-8"))

for name in ["llama2_tokenizer.model"]:
    processor = sentencepiece.SentencePieceProcessor(model_file=os.path.join(DATA, "tokenizers", name))
    ids = processor.encode(text)
    best = float("inf")
    for _ in range(7):
        start = time.perf_counter()
        ids = processor.encode(text)
        best = min(best, time.perf_counter() - start)
    print(f"sentencepiece {sentencepiece.__version__} {name}: {len(ids)} ids, best {best * 1000:.1f} ms, {length / best / 1e6:.2f} MB/s")
