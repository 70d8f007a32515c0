#!/usr/bin/python3
"""Float64 PyTorch reference for Hugging Face Llama / Qwen2 checkpoints, and the parity goldens of the tests.

transformers cannot be installed here (no PyPI), so its forward semantics are written out in plain torch
(Debian's python3-torch, 1.13 CPU is enough): RMSNorm, rotary embeddings in rotate-half layout with every
rope_scaling type the engine reads (default, linear, dynamic, llama3, yarn, as in
transformers/modeling_rope_utils.py), grouped-query causal attention with Qwen2's q/k/v biases, SwiGLU,
tied or untied classifier. Everything runs in float64; weights stored as bf16/f16 are widened exactly.

    hf-reference.py generate OUT   writes one Hugging Face folder per case under OUT (config.json,
                                   safetensors, shards with their index, generation_config.json) and
                                   OUT/CASE/expected.json with the tokens and the nats/token
    hf-reference.py score FOLDER   recomputes FOLDER/expected.json's values from the folder's files and
                                   prints them as JSON

The tests (tests/Terse.Tests/Neural/HuggingFaceParityTests.cs) compare the engine with the committed
goldens in tests/Terse.Tests/Neural/Reference, and with `score` when python3-torch is present.
"""

import json
import math
import os
import struct
import sys

import torch

DTYPES = {"F32": (torch.float32, 4), "F16": (torch.float16, 2), "BF16": (torch.bfloat16, 2), "F64": (torch.float64, 8)}


# ---------------------------------------------------------------- rotary frequencies (transformers' ROPE_INIT_FUNCTIONS)

def inverse_frequencies(config, seq_len):
    """(inv_freq [head_dim / 2], attention_scaling) for a forward call whose positions end at seq_len."""
    rope = config.get("rope_scaling") or config.get("rope_parameters") or {}
    kind = rope.get("rope_type", rope.get("type", "default"))
    theta = config.get("rope_theta", rope.get("rope_theta", 10000.0))
    dim = config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"]
    max_positions = config["max_position_embeddings"]
    exponents = torch.arange(0, dim, 2, dtype=torch.float64) / dim

    def default(base):
        return 1.0 / (base ** exponents)

    if kind == "default":
        return default(theta), 1.0
    factor = rope["factor"]
    if kind == "linear":
        return default(theta) / factor, 1.0
    if kind == "dynamic":
        # dynamic_rope_update: frequencies follow max(position_ids) + 1 once it exceeds max_position_embeddings.
        length = max(seq_len, max_positions)
        base = theta * ((factor * length / max_positions) - (factor - 1)) ** (dim / (dim - 2))
        return default(base), 1.0
    if kind == "llama3":
        inv = default(theta)
        old = rope["original_max_position_embeddings"]
        low, high = rope["low_freq_factor"], rope["high_freq_factor"]
        wavelen = 2 * math.pi / inv
        scaled = torch.where(wavelen > old / low, inv / factor, inv)
        smooth = (old / wavelen - low) / (high - low)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = ~(wavelen < old / high) & ~(wavelen > old / low)
        return torch.where(medium, smoothed, scaled), 1.0
    if kind == "yarn":
        original = rope.get("original_max_position_embeddings")
        if original is not None:
            factor = max_positions / original
        else:
            original = max_positions

        def mscale(scale, m=1.0):
            return 1.0 if scale <= 1 else 0.1 * m * math.log(scale) + 1.0

        attention = rope.get("attention_factor")
        if attention is None:
            if rope.get("mscale") and rope.get("mscale_all_dim"):
                attention = mscale(factor, rope["mscale"]) / mscale(factor, rope["mscale_all_dim"])
            else:
                attention = mscale(factor)
        beta_fast, beta_slow = rope.get("beta_fast") or 32, rope.get("beta_slow") or 1

        def correction(rotations):
            return dim * math.log(original / (rotations * 2 * math.pi)) / (2 * math.log(theta))

        low, high = correction(beta_fast), correction(beta_slow)
        if rope.get("truncate", True):
            low, high = math.floor(low), math.ceil(high)
        low, high = max(low, 0), min(high, dim - 1)
        if low == high:
            high += 0.001
        ramp = torch.clamp((torch.arange(dim // 2, dtype=torch.float64) - low) / (high - low), 0, 1)
        extrapolation = 1 - ramp
        pos = theta ** exponents
        inv = (1 / (factor * pos)) * (1 - extrapolation) + (1 / pos) * extrapolation
        return inv, attention
    raise ValueError(f"rope type {kind!r} is not implemented by the reference")


# ---------------------------------------------------------------- the forward pass (LlamaForCausalLM / Qwen2ForCausalLM)

def rms_norm(x, weight, eps):
    return weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def linear(x, w, b=None):
    y = x @ w.T
    return y if b is None else y + b


def logits_of(config, weights, tokens, calls):
    """Logits [T, V] when tokens are fed in forward calls ending at each index of `calls` (a KV cache between them)."""
    heads, kv_heads = config["num_attention_heads"], config.get("num_key_value_heads", config["num_attention_heads"])
    dim = config.get("head_dim") or config["hidden_size"] // heads
    eps = config.get("rms_norm_eps", 1e-6)
    layers = config["num_hidden_layers"]
    cache = [([], []) for _ in range(layers)]
    outputs, start = [], 0
    for end in calls:
        ids = torch.tensor(tokens[start:end])
        positions = torch.arange(start, end, dtype=torch.float64)
        inv, scaling = inverse_frequencies(config, end)
        freqs = positions[:, None] * inv[None, :]                 # [n, dim / 2]
        emb = torch.cat((freqs, freqs), dim=-1)                   # [n, dim]
        cos, sin = emb.cos() * scaling, emb.sin() * scaling
        h = weights["model.embed_tokens.weight"][ids]             # [n, hidden]
        n = end - start
        for l in range(layers):
            p = f"model.layers.{l}."
            x = rms_norm(h, weights[p + "input_layernorm.weight"], eps)
            q = linear(x, weights[p + "self_attn.q_proj.weight"], weights.get(p + "self_attn.q_proj.bias")).view(n, heads, dim).transpose(0, 1)
            k = linear(x, weights[p + "self_attn.k_proj.weight"], weights.get(p + "self_attn.k_proj.bias")).view(n, kv_heads, dim).transpose(0, 1)
            v = linear(x, weights[p + "self_attn.v_proj.weight"], weights.get(p + "self_attn.v_proj.bias")).view(n, kv_heads, dim).transpose(0, 1)
            q = q * cos + rotate_half(q) * sin                    # [heads, n, dim]
            k = k * cos + rotate_half(k) * sin                    # [kv_heads, n, dim]
            cache[l][0].append(k)
            cache[l][1].append(v)
            keys = torch.cat(cache[l][0], dim=1).repeat_interleave(heads // kv_heads, dim=0)      # [heads, end, dim]
            values = torch.cat(cache[l][1], dim=1).repeat_interleave(heads // kv_heads, dim=0)    # [heads, end, dim]
            scores = q @ keys.transpose(1, 2) / math.sqrt(dim)    # [heads, n, end]
            mask = torch.arange(end)[None, :] > torch.arange(start, end)[:, None]
            scores = scores.masked_fill(mask, float("-inf"))
            attended = (torch.softmax(scores, dim=-1) @ values).transpose(0, 1).reshape(n, heads * dim)
            h = h + linear(attended, weights[p + "self_attn.o_proj.weight"], weights.get(p + "self_attn.o_proj.bias"))
            x = rms_norm(h, weights[p + "post_attention_layernorm.weight"], eps)
            gate = linear(x, weights[p + "mlp.gate_proj.weight"])
            h = h + linear(torch.nn.functional.silu(gate) * linear(x, weights[p + "mlp.up_proj.weight"]), weights[p + "mlp.down_proj.weight"])
        h = rms_norm(h, weights["model.norm.weight"], eps)
        classifier = weights["model.embed_tokens.weight"] if config.get("tie_word_embeddings") else weights["lm_head.weight"]
        outputs.append(h @ classifier.T)
        start = end
    return torch.cat(outputs, dim=0)


def nats_per_token(config, weights, tokens, calls):
    logits = logits_of(config, weights, tokens, calls)
    log_probs = torch.log_softmax(logits[:-1], dim=-1)
    return -log_probs[torch.arange(len(tokens) - 1), torch.tensor(tokens[1:])].mean().item()


# ---------------------------------------------------------------- Hugging Face folders

def write_safetensors(path, tensors, dtype):
    torch_dtype, size = DTYPES[dtype]
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name in sorted(tensors):
        stored = tensors[name].to(torch_dtype).contiguous().flatten()
        if dtype == "F32":
            blob = struct.pack(f"<{stored.numel()}f", *stored.tolist())
        else:
            blob = struct.pack(f"<{stored.numel()}h", *stored.view(torch.int16).tolist())
        header[name] = {"dtype": dtype, "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))
    return offset


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        torch_dtype, size = DTYPES[info["dtype"]]
        begin, end = info["data_offsets"]
        raw = data[8 + length + begin:8 + length + end]
        count = (end - begin) // size
        if info["dtype"] == "F32":
            values = torch.tensor(struct.unpack(f"<{count}f", raw), dtype=torch.float32)
        elif info["dtype"] == "F64":
            values = torch.tensor(struct.unpack(f"<{count}d", raw), dtype=torch.float64)
        else:
            values = torch.tensor(struct.unpack(f"<{count}h", raw), dtype=torch.int16).view(torch_dtype)
        tensors[name] = values.to(torch.float64).view(info["shape"])
    return tensors


def read_folder(folder):
    with open(os.path.join(folder, "config.json")) as f:
        config = json.load(f)
    single = os.path.join(folder, "model.safetensors")
    if os.path.exists(single):
        return config, read_safetensors(single)
    with open(os.path.join(folder, "model.safetensors.index.json")) as f:
        index = json.load(f)
    weights = {}
    for shard in sorted(set(index["weight_map"].values())):
        weights.update(read_safetensors(os.path.join(folder, shard)))
    return config, weights


# ---------------------------------------------------------------- the cases

HIDDEN, INTERMEDIATE, LAYERS, HEADS, KV_HEADS, VOCAB, TOKENS = 32, 16, 2, 2, 1, 32, 96

CASES = {
    # Qwen2: q/k/v biases, grouped-query attention, tied embeddings, float32, rope_theta 1e6.
    "qwen2-f32": dict(architecture="Qwen2ForCausalLM", dtype="F32", theta=1000000.0, max_positions=128, rope=None, shards=1),
    # Llama 3.x scaling (head size 16 puts frequencies in all three bands), bfloat16, generation_config.json.
    "llama3-bf16": dict(architecture="LlamaForCausalLM", dtype="BF16", theta=10000.0, max_positions=256,
                        rope={"rope_type": "llama3", "factor": 4.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                              "original_max_position_embeddings": 64}, shards=1,
                        generation={"bos_token_id": 3, "eos_token_id": [5, 7]}),
    # Linear scaling in float16, split across two shards with an index.
    "linear-f16-sharded": dict(architecture="LlamaForCausalLM", dtype="F16", theta=10000.0, max_positions=256,
                               rope={"type": "linear", "factor": 4.0}, shards=2),
    # Dynamic NTK: the sequence runs past max_position_embeddings (32), so the base grows with it.
    "dynamic-bf16": dict(architecture="LlamaForCausalLM", dtype="BF16", theta=10000.0, max_positions=32,
                         rope={"rope_type": "dynamic", "factor": 4.0}, shards=1, stepwise=True),
    # YaRN, newer rope_parameters spelling with rope_theta inside; factor derived from the two lengths.
    "yarn-bf16": dict(architecture="LlamaForCausalLM", dtype="BF16", theta=None, max_positions=128,
                      rope={"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32, "rope_theta": 10000.0},
                      rope_field="rope_parameters", shards=1),
}


def case_config(case):
    qwen = case["architecture"] == "Qwen2ForCausalLM"
    config = {
        "architectures": [case["architecture"]],
        "model_type": "qwen2" if qwen else "llama",
        "hidden_act": "silu",
        "hidden_size": HIDDEN,
        "intermediate_size": INTERMEDIATE,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS,
        "num_key_value_heads": KV_HEADS,
        "vocab_size": VOCAB,
        "max_position_embeddings": case["max_positions"],
        "rms_norm_eps": 1e-6,
        "tie_word_embeddings": qwen,
        "torch_dtype": {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}[case["dtype"]],
        "bos_token_id": 1,
        "eos_token_id": 2,
    }
    if case["theta"] is not None:
        config["rope_theta"] = case["theta"]
    config[case.get("rope_field", "rope_scaling")] = case["rope"]
    if qwen:
        config["use_sliding_window"] = False
    return config


QK_STD = 2.5


def random_weights(config, seed):
    """Weights large enough that attention is sharp and positions matter (unlike a trained model's init scale)."""
    g = torch.Generator().manual_seed(seed)
    qwen = config["model_type"] == "qwen2"
    d, i, kv = HIDDEN, INTERMEDIATE, KV_HEADS * (HIDDEN // HEADS)

    def normal(*shape, std=1.0):
        return torch.randn(*shape, generator=g, dtype=torch.float64) * std

    # Tied or not, the classifier's logits come out with a standard deviation near 2.
    w = {"model.embed_tokens.weight": normal(VOCAB, d, std=2 / math.sqrt(d))}
    for l in range(LAYERS):
        p = f"model.layers.{l}."
        w[p + "input_layernorm.weight"] = 1 + normal(d, std=0.1)
        w[p + "self_attn.q_proj.weight"] = normal(d, d, std=QK_STD / math.sqrt(d))
        w[p + "self_attn.k_proj.weight"] = normal(kv, d, std=QK_STD / math.sqrt(d))
        w[p + "self_attn.v_proj.weight"] = normal(kv, d, std=1 / math.sqrt(d))
        if qwen:
            for name, size in (("q_proj", d), ("k_proj", kv), ("v_proj", kv)):
                w[p + f"self_attn.{name}.bias"] = normal(size, std=0.3)
        w[p + "self_attn.o_proj.weight"] = normal(d, d, std=1 / math.sqrt(d))
        w[p + "post_attention_layernorm.weight"] = 1 + normal(d, std=0.1)
        w[p + "mlp.gate_proj.weight"] = normal(i, d, std=1 / math.sqrt(d))
        w[p + "mlp.up_proj.weight"] = normal(i, d, std=1 / math.sqrt(d))
        w[p + "mlp.down_proj.weight"] = normal(d, i, std=1 / math.sqrt(i))
    w["model.norm.weight"] = 1 + normal(d, std=0.1)
    if not qwen:
        w["lm_head.weight"] = normal(VOCAB, d, std=2 / math.sqrt(d))
    return w


def fixed_tokens():
    state, tokens = 20240601, []
    for _ in range(TOKENS):
        state = (1103515245 * state + 12345) % 2 ** 31
        tokens.append((state >> 16) % VOCAB)
    return tokens


def scores(config, weights, tokens, stepwise):
    result = {"nats_per_token": nats_per_token(config, weights, tokens, [len(tokens)])}
    if stepwise:
        # Token by token with a cache, as generation calls the model: each call's frequencies follow its own end.
        result["nats_per_token_stepwise"] = nats_per_token(config, weights, tokens, list(range(1, len(tokens) + 1)))
    unscaled = {k: v for k, v in config.items() if k not in ("rope_scaling", "rope_parameters")}
    unscaled["rope_theta"] = config.get("rope_theta", (config.get("rope_parameters") or {}).get("rope_theta", 10000.0))
    result["nats_per_token_without_scaling"] = nats_per_token(unscaled, weights, tokens, [len(tokens)])
    return result


def generate(out):
    tokens = fixed_tokens()
    for seed, (name, case) in enumerate(CASES.items()):
        folder = os.path.join(out, name)
        os.makedirs(folder, exist_ok=True)
        config = case_config(case)
        with open(os.path.join(folder, "config.json"), "w") as f:
            json.dump(config, f, indent=2, sort_keys=True)
            f.write("\n")
        if "generation" in case:
            with open(os.path.join(folder, "generation_config.json"), "w") as f:
                json.dump(case["generation"], f, indent=2, sort_keys=True)
                f.write("\n")
        weights = random_weights(config, 1000 + seed)
        if case["shards"] == 1:
            write_safetensors(os.path.join(folder, "model.safetensors"), weights, case["dtype"])
        else:
            names = sorted(weights)
            first = [n for n in names if n.startswith("model.embed_tokens") or n.startswith("model.layers.0.")]
            parts = [first, [n for n in names if n not in first]]
            weight_map, total = {}, 0
            for k, part in enumerate(parts):
                shard = f"model-{k + 1:05d}-of-{len(parts):05d}.safetensors"
                total += write_safetensors(os.path.join(folder, shard), {n: weights[n] for n in part}, case["dtype"])
                weight_map.update({n: shard for n in part})
            with open(os.path.join(folder, "model.safetensors.index.json"), "w") as f:
                json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2, sort_keys=True)
                f.write("\n")
        # Score what was written (bf16/f16 rounding included), read back as any folder would be.
        config, stored = read_folder(folder)
        expected = {"tokens": tokens, **scores(config, stored, tokens, case.get("stepwise", False))}
        with open(os.path.join(folder, "expected.json"), "w") as f:
            json.dump(expected, f, indent=2)
            f.write("\n")
        print(name, json.dumps({k: v for k, v in expected.items() if k != "tokens"}))


def score(folder):
    config, weights = read_folder(folder)
    with open(os.path.join(folder, "expected.json")) as f:
        expected = json.load(f)
    print(json.dumps(scores(config, weights, expected["tokens"], "nats_per_token_stepwise" in expected)))


if __name__ == "__main__":
    torch.set_default_dtype(torch.float64)
    if len(sys.argv) == 3 and sys.argv[1] == "generate":
        generate(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == "score":
        score(sys.argv[2])
    else:
        sys.exit(__doc__)
