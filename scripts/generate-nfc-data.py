#!/usr/bin/env python3
"""Writes assets/unicode/nfc.bin.gz, the Unicode data behind Terse's NFC normalization (Qwen2's
tokenizers normalize text to NFC), from Python's unicodedata (its Unicode version is recorded).

Format (gzip of): b"NFC1"; varint length + ASCII Unicode version;
  affected ranges: varint count, then per range varint (start - previous end), varint (end - start)
      -- code points whose presence means the text may change under NFC (NFC_QC No/Maybe, or a
         non-zero combining class); text without any is already NFC;
  combining classes: varint count, then per code point varint (cp - previous cp), byte class;
  decompositions: varint count, then per code point varint (cp - previous cp), varint length,
      varint code points (full canonical decomposition; Hangul is algorithmic and not listed);
  compositions: varint count, then per pair varint first, varint second, varint composite
      (primary composites only, Hangul excluded).
Usage: scripts/generate-nfc-data.py [OUTPUT [VECTORS]]
VECTORS (default tests/Terse.Tests/Tokenization/Golden/nfc-vectors.txt.gz) gets test vectors, one
"input;NFC" line of space-separated hexadecimal code points: every code point the data covers alone
and after "a", then random mixtures of them with letters and Hangul.
"""
import gzip, random, sys, unicodedata

def varint(out, v):
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)

def canonical(cp):
    d = unicodedata.decomposition(chr(cp))
    if not d or d.startswith("<"):
        return None
    return [int(h, 16) for h in d.split()]

def full(cp):
    d = canonical(cp)
    if d is None:
        return [cp]
    return [x for part in d for x in full(part)]

HANGUL = range(0xAC00, 0xD7A4)
JAMO_V_T = list(range(0x1161, 0x1176)) + list(range(0x11A8, 0x11C3))
codepoints = [cp for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF]

ccc = [(cp, unicodedata.combining(chr(cp))) for cp in codepoints if unicodedata.combining(chr(cp))]
decomps = [(cp, full(cp)) for cp in codepoints if cp not in HANGUL and canonical(cp) is not None]
comps = []
for cp in codepoints:
    d = canonical(cp)
    if cp in HANGUL or d is None or len(d) != 2:
        continue
    if unicodedata.normalize("NFC", chr(d[0]) + chr(d[1])) == chr(cp):
        comps.append((d[0], d[1], cp))
seconds = {second for _, second, _ in comps}
affected = sorted({cp for cp in codepoints if unicodedata.normalize("NFC", chr(cp)) != chr(cp)}
                  | seconds | {cp for cp, _ in ccc} | set(JAMO_V_T))

ranges = []
for cp in affected:
    if ranges and ranges[-1][1] == cp - 1:
        ranges[-1][1] = cp
    else:
        ranges.append([cp, cp])

out = bytearray(b"NFC1")
version = unicodedata.unidata_version.encode("ascii")
varint(out, len(version)); out += version
varint(out, len(ranges)); prev = 0
for start, end in ranges:
    varint(out, start - prev); varint(out, end - start); prev = end
varint(out, len(ccc)); prev = 0
for cp, c in ccc:
    varint(out, cp - prev); out.append(c); prev = cp
varint(out, len(decomps)); prev = 0
for cp, parts in decomps:
    varint(out, cp - prev); varint(out, len(parts)); prev = cp
    for p in parts:
        varint(out, p)
varint(out, len(comps))
for a, b, c in comps:
    varint(out, a); varint(out, b); varint(out, c)

path = sys.argv[1] if len(sys.argv) > 1 else "assets/unicode/nfc.bin.gz"
with open(path, "wb") as f:
    f.write(gzip.compress(bytes(out), compresslevel=9, mtime=0))
print(f"{path}: Unicode {unicodedata.unidata_version}, {len(ranges)} affected ranges, {len(ccc)} classes, "
      f"{len(decomps)} decompositions, {len(comps)} compositions, {len(out)} bytes before gzip")

vectors_path = sys.argv[2] if len(sys.argv) > 2 else "tests/Terse.Tests/Tokenization/Golden/nfc-vectors.txt.gz"
interesting = sorted(set(affected) | {cp for cp, _ in decomps} | {a for a, _, _ in comps})
pool = interesting + [ord(c) for c in "aeiouAEOUnNcCsSzZ"] + list(range(0x1100, 0x1113)) + [0xAC00, 0xAC01, 0xB098, 0xD7A3]
rng = random.Random(20240601)
cases = [[cp] for cp in interesting] + [[ord("a"), cp] for cp in interesting]
cases += [[rng.choice(pool) for _ in range(rng.randint(1, 8))] for _ in range(3000)]
hexes = lambda s: " ".join(f"{ord(c):X}" for c in s)
lines = []
for case in cases:
    text = "".join(chr(c) for c in case)
    lines.append(f"{hexes(text)};{hexes(unicodedata.normalize('NFC', text))}")
with open(vectors_path, "wb") as f:
    f.write(gzip.compress(("\n".join(lines) + "\n").encode("ascii"), compresslevel=9, mtime=0))
print(f"{vectors_path}: {len(lines)} vectors")
