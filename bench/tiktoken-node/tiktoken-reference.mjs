// The npm package `tiktoken` (OpenAI's Rust core compiled to WASM) as the reference for Terse's
// tiktoken encodings. Run `npm install` in this folder first (the bench command does it).
//
//   node tiktoken-reference.mjs golden OUT_DIR TEXT_DIR
//       Writes OUT_DIR/ENCODING.ids.br for cl100k_base and o200k_base: a JSON header line, then the
//       ids of every file in TEXT_DIR (.gz files gunzipped) as LEB128 varints, all Brotli-compressed.
//       Each file is encoded as ordinary text; files that spell a special token are encoded a second
//       time with all special tokens allowed.
//   node tiktoken-reference.mjs speed ENCODING REPEATS FILE…
//       Encodes the files (as ordinary text) REPEATS times and prints one JSON line: bytes, seconds
//       (best of the repeats), tokens and a SHA-256 over the ids (to check identical ids).
//   node tiktoken-reference.mjs definitions OUT_FILE
//       Writes the pattern (pat_str) and special tokens of every encoding Terse ships, as the package
//       defines them, for the test that compares Terse's built-in definitions with them.
//   node tiktoken-reference.mjs encode ENCODING < strings.json
//       Reads a JSON array of strings from stdin and prints a JSON array of their ids (ordinary text).
import { get_encoding } from "tiktoken";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";

const packageDir = path.join(path.dirname(new URL(import.meta.url).pathname), "node_modules", "tiktoken");
const tiktokenVersion = JSON.parse(fs.readFileSync(path.join(packageDir, "package.json"))).version;

function readText(file) {
  let bytes = fs.readFileSync(file);
  if (file.endsWith(".gz")) bytes = zlib.gunzipSync(bytes);
  return bytes;
}

function varints(ids, out) {
  for (let v of ids) {
    while (v >= 0x80) { out.push((v & 0x7f) | 0x80); v >>>= 7; }
    out.push(v);
  }
}

function idsHash(hash, ids) {
  const buffer = Buffer.alloc(ids.length * 4);
  for (let i = 0; i < ids.length; i++) buffer.writeInt32LE(ids[i], i * 4);
  hash.update(buffer);
}

const [command, ...args] = process.argv.slice(2);
if (command === "golden") {
  const [outDir, textDir] = args;
  const files = fs.readdirSync(textDir).sort();
  fs.mkdirSync(outDir, { recursive: true });
  for (const name of ["cl100k_base", "o200k_base"]) {
    const enc = get_encoding(name);
    const specials = Object.keys(JSON.parse(fs.readFileSync(path.join(packageDir, "encoders", `${name}.json`))).special_tokens);
    const entries = [], bytes = [];
    for (const file of files) {
      const raw = readText(path.join(textDir, file));
      const text = raw.toString("utf8");
      const modes = ["none"];
      if (specials.some(s => text.includes(s))) modes.push("all");
      for (const mode of modes) {
        const ids = mode === "none" ? enc.encode_ordinary(text) : enc.encode(text, "all");
        entries.push({ file: `text/${file}`, special: mode, bytes: raw.length, sha256: createHash("sha256").update(raw).digest("hex"), count: ids.length });
        varints(ids, bytes);
      }
    }
    enc.free();
    const header = JSON.stringify({ format: "terse-golden-ids/1", generator: "bench/tiktoken-node/tiktoken-reference.mjs", tiktoken: tiktokenVersion, encoding: name, entries });
    const body = Buffer.concat([Buffer.from(header + "\n", "utf8"), Buffer.from(bytes)]);
    const compressed = zlib.brotliCompressSync(body, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11, [zlib.constants.BROTLI_PARAM_LGWIN]: 24, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: body.length } });
    const out = path.join(outDir, `${name}.ids.br`);
    fs.writeFileSync(out, compressed);
    console.log(`${out}: ${compressed.length} bytes, ${entries.length} entries, tiktoken ${tiktokenVersion}`);
  }
} else if (command === "speed") {
  const [name, repeatsText, ...files] = args;
  const texts = files.map(f => readText(f).toString("utf8"));
  const enc = get_encoding(name);
  let best = Infinity, tokens = 0;
  const hash = createHash("sha256");
  for (let r = 0; r < Number(repeatsText); r++) {
    const start = process.hrtime.bigint();
    const results = texts.map(t => enc.encode_ordinary(t));
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    best = Math.min(best, seconds);
    if (r === 0) { for (const ids of results) { tokens += ids.length; idsHash(hash, ids); } }
  }
  enc.free();
  const bytes = texts.reduce((n, t) => n + Buffer.byteLength(t, "utf8"), 0);
  console.log(JSON.stringify({ tiktoken: tiktokenVersion, encoding: name, bytes, seconds: best, tokens, ids_sha256: hash.digest("hex") }));
} else if (command === "definitions") {
  const definitions = {};
  for (const name of ["r50k_base", "p50k_base", "p50k_edit", "cl100k_base", "o200k_base"]) {
    const d = JSON.parse(fs.readFileSync(path.join(packageDir, "encoders", `${name}.json`)));
    definitions[name] = { pat_str: d.pat_str, special_tokens: d.special_tokens };
  }
  fs.writeFileSync(args[0], JSON.stringify({ tiktoken: tiktokenVersion, encodings: definitions }, null, 1) + "\n");
} else if (command === "encode") {
  const enc = get_encoding(args[0]);
  const strings = JSON.parse(fs.readFileSync(0, "utf8"));
  console.log(JSON.stringify(strings.map(s => Array.from(enc.encode_ordinary(s)))));
  enc.free();
} else {
  console.error("usage: node tiktoken-reference.mjs golden OUT_DIR TEXT_DIR | speed ENCODING REPEATS FILE… | encode ENCODING < strings.json");
  process.exit(2);
}
