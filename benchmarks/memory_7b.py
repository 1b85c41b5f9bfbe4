"""Peak memory of every white-box method on a 7B-shaped, sharded bf16 checkpoint with random weights.

Llama-2-7B's shapes (hidden 4096, FFN 11008, 32 heads, vocab 32000), ``--layers`` blocks (32 for
the whole 14 GB model; peak memory depends on one layer's size, not on their number, since every
method reads one layer of each model at a time), written once to ``--work`` as 2 GB bf16 shards
with an index. The suspect is the same weights with a little noise on one layer, so every method
has a pair to compare. Each method runs in a fresh interpreter; its peak RSS and wall time are
printed.

    .venv/bin/python benchmarks/memory_7b.py [--layers 32] [--work /tmp/llm-lineage-7b]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HIDDEN, FFN, HEADS, VOCAB = 4096, 11008, 32, 32000
SHARD_BYTES = 2 << 30

# VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so a child of a big parent would
# report the parent's peak
_RUN = r"""
import json, re, sys, time
from llm_lineage.methods import get_method
method = get_method(sys.argv[1])
start = time.perf_counter()
result = method.verify(sys.argv[2], sys.argv[3])
peak = int(re.search(r"VmHWM:\s+(\d+) kB", open("/proc/self/status").read()).group(1)) / 1024
print(json.dumps({"seconds": time.perf_counter() - start, "peak_mb": peak, "verdict": str(result.verdict),
                  "score": float(result.score)}))
"""


def write_model(out: Path, layers: int, seed: int, noise_layer: int | None = None) -> Path:
    """Random bf16 weights of Llama-2-7B's shapes, sharded, one tensor in memory at a time."""
    import numpy as np
    import torch
    from safetensors.torch import save_file

    if (out / "model.safetensors.index.json").is_file():
        return out
    out.mkdir(parents=True, exist_ok=True)
    shapes = {"model.embed_tokens.weight": (VOCAB, HIDDEN), "model.norm.weight": (HIDDEN,),
              "lm_head.weight": (VOCAB, HIDDEN)}
    for i in range(layers):
        p = f"model.layers.{i}."
        shapes |= {p + "self_attn.q_proj.weight": (HIDDEN, HIDDEN), p + "self_attn.k_proj.weight": (HIDDEN, HIDDEN),
                   p + "self_attn.v_proj.weight": (HIDDEN, HIDDEN), p + "self_attn.o_proj.weight": (HIDDEN, HIDDEN),
                   p + "mlp.gate_proj.weight": (FFN, HIDDEN), p + "mlp.up_proj.weight": (FFN, HIDDEN),
                   p + "mlp.down_proj.weight": (HIDDEN, FFN), p + "input_layernorm.weight": (HIDDEN,),
                   p + "post_attention_layernorm.weight": (HIDDEN,)}
    weight_map, shard, size, index = {}, {}, 0, 0
    for name, shape in shapes.items():
        rng = np.random.default_rng(abs(hash((seed if noise_layer is None else 0, name))) % 2**32)
        values = np.ones(shape, np.float32) if len(shape) == 1 else rng.standard_normal(shape, np.float32) * 0.02
        if noise_layer is not None and f"layers.{noise_layer}." in name and len(shape) == 2:
            values += np.random.default_rng(seed).standard_normal(shape, np.float32) * 0.002
        shard[name] = torch.from_numpy(values).to(torch.bfloat16)
        size += shard[name].numel() * 2
        if size >= SHARD_BYTES or name == list(shapes)[-1]:
            file = f"model-{index:05d}.safetensors"
            save_file(shard, str(out / file), metadata={"format": "pt"})
            weight_map |= dict.fromkeys(shard, file)
            shard, size, index = {}, 0, index + 1
    (out / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    (out / "config.json").write_text(json.dumps({
        "model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": HIDDEN,
        "intermediate_size": FFN, "num_hidden_layers": layers, "num_attention_heads": HEADS,
        "num_key_value_heads": HEADS, "vocab_size": VOCAB, "tie_word_embeddings": False,
        "rms_norm_eps": 1e-5, "torch_dtype": "bfloat16"}))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=32)
    parser.add_argument("--work", type=Path, default=Path("/tmp/llm-lineage-7b"))
    parser.add_argument("--methods", default="tracing,awm,invariant,huref,pcs,std-profile")
    args = parser.parse_args()
    t0 = time.perf_counter()
    owner = write_model(args.work / f"owner-{args.layers}", args.layers, seed=0)
    suspect = write_model(args.work / f"suspect-{args.layers}", args.layers, seed=1, noise_layer=0)
    size = sum(p.stat().st_size for p in owner.glob("*.safetensors")) / 2**30
    print(f"7B-shaped checkpoints: {args.layers} layers, {size:.1f} GiB each (written in {time.perf_counter() - t0:.0f} s)")
    print("| method | seconds | peak RSS (MB) | verdict |")
    print("|---|---|---|---|")
    for method in args.methods.split(","):
        with tempfile.TemporaryDirectory() as cache:  # an empty cache: every fingerprint is computed
            out = subprocess.run([sys.executable, "-c", _RUN, method, str(owner), str(suspect)], capture_output=True,
                                 text=True, env={"LLM_LINEAGE_NO_PROGRESS": "1", "PATH": "/usr/bin:/bin",
                                                 "LLM_LINEAGE_CACHE": cache})
        if out.returncode:
            print(f"| {method} | - | - | failed: {out.stderr.strip().splitlines()[-1][:120]} |")
            continue
        row = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"| {method} | {row['seconds']:.1f} | {row['peak_mb']:.0f} | {row['verdict']} |", flush=True)


if __name__ == "__main__":
    main()
