#!/usr/bin/env python3
"""Regenerate the dequantization fixtures of nomoat-kernels' tests (pip: gguf, numpy).

    python3 make_fixtures.py /path/to/gemma-3-270m-q4_k_m.gguf

Writes, next to this script:
- model_rows.json: a few rows of the default model's tensors (every type it holds), dequantized
  by gguf-py's reference `gguf.quants.dequantize`: {tensor, type, row, n, f32_hex}.
- random_blocks.json: for every format gguf-py can dequantize, random blocks (random bytes with
  small finite f16 scales, so every quant bit pattern occurs) and their dequantization:
  {type, blocks_hex, f32_hex}.
f32 values are stored as little-endian hex so the comparison can be bit-exact.
"""
import json
import sys
from pathlib import Path

import numpy as np
from gguf import GGUFReader, GGMLQuantizationType as T
from gguf.quants import dequantize
from gguf.constants import GGML_QUANT_SIZES

HERE = Path(__file__).parent


def hex_f32(a):
    return np.asarray(a, dtype="<f4").tobytes().hex()


def model_rows(path):
    r = GGUFReader(path)
    want = {
        "token_embd.weight": [0, 131071, 262143],
        "blk.0.attn_q.weight": [0, 511],
        "blk.0.attn_k.weight": [7],
        "blk.0.ffn_down.weight": [0, 639],
        "blk.0.attn_output.weight": [3],
        "blk.0.attn_v.weight": [5],
        "blk.17.ffn_down.weight": [100],
        "blk.0.ffn_gate.weight": [2047],
        "blk.0.attn_norm.weight": [0],
        "blk.0.attn_q_norm.weight": [0],
    }
    out = []
    seen_types = set()
    for t in r.tensors:
        if t.name not in want:
            continue
        ne0 = int(t.shape[0])
        bs, ts = GGML_QUANT_SIZES[t.tensor_type]
        row_bytes = ne0 // bs * ts
        raw = np.asarray(t.data).reshape(-1).view(np.uint8)
        for row in want[t.name]:
            b = raw[row * row_bytes:(row + 1) * row_bytes]
            if t.tensor_type == T.F32:
                vals = b.view("<f4")
            else:
                vals = dequantize(b.reshape(1, -1), t.tensor_type).reshape(-1)
            out.append({"tensor": t.name, "type": t.tensor_type.name, "row": row, "n": ne0,
                        "f32_hex": hex_f32(vals)})
            seen_types.add(t.tensor_type.name)
    print("model types covered:", sorted(seen_types), file=sys.stderr)
    return out


# Byte offsets of the f16 scale fields of each block type.
F16_FIELDS = {
    T.Q4_0: [0], T.Q4_1: [0, 2], T.Q5_0: [0], T.Q5_1: [0, 2], T.Q8_0: [0],
    T.Q2_K: [80, 82], T.Q3_K: [108], T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208],
    T.IQ4_NL: [0], T.IQ4_XS: [0],
}


def random_blocks(seed=7):
    rng = np.random.default_rng(seed)
    out = []
    for ty, fields in F16_FIELDS.items():
        bs, ts = GGML_QUANT_SIZES[ty]
        nblocks = max(2, 512 // bs)
        raw = rng.integers(0, 256, size=(nblocks, ts), dtype=np.uint8)
        for f in fields:
            s = (rng.uniform(0.002, 0.05, size=nblocks) * rng.choice([-1, 1], size=nblocks)).astype("<f2")
            raw[:, f:f + 2] = s.view(np.uint8).reshape(nblocks, 2)
        vals = dequantize(raw.reshape(1, -1), ty).reshape(-1)
        out.append({"type": ty.name, "blocks_hex": raw.tobytes().hex(), "f32_hex": hex_f32(vals)})
    for ty in (T.F16, T.BF16):
        x = rng.standard_normal(64).astype(np.float32)
        raw = x.astype("<f2").view(np.uint8) if ty == T.F16 else (x.view("<u4") >> 16).astype("<u2").view(np.uint8)
        vals = dequantize(raw.reshape(1, -1), ty).reshape(-1)
        out.append({"type": ty.name, "blocks_hex": raw.tobytes().hex(), "f32_hex": hex_f32(vals)})
    return out


def main():
    model = sys.argv[1] if len(sys.argv) > 1 else str(Path.home() / ".cache/nomoat/models/gemma3-270m.gguf")
    (HERE / "model_rows.json").write_text(json.dumps(model_rows(model), indent=0) + "\n")
    (HERE / "random_blocks.json").write_text(json.dumps(random_blocks(), indent=0) + "\n")


if __name__ == "__main__":
    main()
