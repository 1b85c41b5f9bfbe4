"""Streaming read of q/k/v/o for every layer vs a plain sequential read of the same files.

Prints seconds, MB/s and peak RSS. Each measurement runs in a fresh subprocess so that peak RSS
belongs to it alone. Without an argument, a ~1 GB bf16 Llama-shaped checkpoint with random weights
is built under /tmp (once). Goals (issue 2): >= 70% of plain-read bandwidth; peak RSS under
2x the largest tensor read + 300 MB.

    python benchmarks/weights_read.py [MODEL_DIR_OR_FILE]
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

SYNTHETIC = Path("/tmp/llm-lineage-bench/llama-1gb-bf16")


def build_synthetic(path: Path) -> Path:
    import torch
    from safetensors.torch import save_file

    if (path / "model.safetensors.index.json").is_file():
        return path
    path.mkdir(parents=True, exist_ok=True)
    hidden, inter, layers, vocab, heads, kv = 2048, 5504, 8, 32000, 16, 8
    config = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": hidden,
              "intermediate_size": inter, "num_hidden_layers": layers, "num_attention_heads": heads,
              "num_key_value_heads": kv, "vocab_size": vocab, "tie_word_embeddings": False,
              "torch_dtype": "bfloat16"}
    (path / "config.json").write_text(json.dumps(config))
    gen = torch.Generator().manual_seed(0)

    def rand(*shape):
        return (torch.randn(*shape, generator=gen) * 0.02).to(torch.bfloat16)

    weight_map = {}
    kv_dim = hidden // heads * kv
    for shard in range(2):
        tensors = {}
        for layer in range(shard * layers // 2, (shard + 1) * layers // 2):
            p = f"model.layers.{layer}."
            tensors.update({p + "self_attn.q_proj.weight": rand(hidden, hidden),
                            p + "self_attn.k_proj.weight": rand(kv_dim, hidden),
                            p + "self_attn.v_proj.weight": rand(kv_dim, hidden),
                            p + "self_attn.o_proj.weight": rand(hidden, hidden),
                            p + "mlp.gate_proj.weight": rand(inter, hidden),
                            p + "mlp.up_proj.weight": rand(inter, hidden),
                            p + "mlp.down_proj.weight": rand(hidden, inter),
                            p + "input_layernorm.weight": torch.ones(hidden, dtype=torch.bfloat16),
                            p + "post_attention_layernorm.weight": torch.ones(hidden, dtype=torch.bfloat16)})
        if shard == 0:
            tensors["model.embed_tokens.weight"] = rand(vocab, hidden)
        else:
            tensors["lm_head.weight"] = rand(vocab, hidden)
            tensors["model.norm.weight"] = torch.ones(hidden, dtype=torch.bfloat16)
        name = f"model-{shard + 1:05d}-of-00002.safetensors"
        save_file(tensors, path / name, metadata={"format": "pt"})
        weight_map.update({k: name for k in tensors})
    (path / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    return path


# VmHWM, not ru_maxrss: on Linux ru_maxrss survives exec and would report the parent's peak
_PEAK = "int([l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]) * 1024"

# anonymous memory only: mapped weight pages are page cache, reclaimable, shared with other readers
_ANON = "int([l for l in open('/proc/self/status') if l.startswith('RssAnon')][0].split()[1]) * 1024"

_PLAIN = """
import sys, time
from pathlib import Path
files = [Path(p) for p in sys.argv[1:]]
t = time.perf_counter(); n = 0
for f in files:
    with open(f, "rb", buffering=0) as fh:
        while chunk := fh.read(1 << 24):
            n += len(chunk)
dt = time.perf_counter() - t
print(n, dt, PEAK)
""".replace("PEAK", _PEAK)

_ROLES = """
import sys, time
import numpy as np
from llm_lineage.weights import open_checkpoint
base, base_anon = PEAK, ANON
t = time.perf_counter()
ckpt = open_checkpoint(sys.argv[1])
n = largest = anon = 0
for layer in range(ckpt.n_layers):
    for role in ("q_proj", "k_proj", "v_proj", "o_proj"):
        key = ckpt._roles.get((role, layer, None)) or ckpt._roles[("qkv_proj", layer, None)]
        arr = ckpt.tensor(role, layer)
        stored = int(np.prod(ckpt.store.shape(key))) * {"BF16": 2, "F16": 2}.get(ckpt.store.dtype(key), 4)
        n += stored // (3 if "qkv" in key else 1)
        largest = max(largest, arr.nbytes)
        anon = max(anon, ANON)
        del arr
dt = time.perf_counter() - t
print(n, dt, PEAK, base, largest, anon, base_anon)
""".replace("PEAK", _PEAK).replace("ANON", _ANON)


def _run(code: str, *args: str) -> list[float]:
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True)
    return [float(x) for x in out.stdout.split()]


def _evict(files: list[str]) -> None:
    """Drop the files from the page cache (no privileges needed for clean pages)."""
    import os

    for f in files:
        fd = os.open(f, os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)


def main() -> None:
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else build_synthetic(SYNTHETIC)
    from llm_lineage.weights import open_checkpoint

    files = [str(f) for f in open_checkpoint(target).store.files]
    mb = 1 << 20
    print(f"checkpoint {target} ({sum(Path(f).stat().st_size for f in files) / mb:.0f} MB in {len(files)} file(s))")
    for cache in ("cold", "hot"):
        if cache == "cold":
            _evict(files)
        plain_bytes, plain_s, plain_rss = _run(_PLAIN, *files)
        if cache == "cold":
            _evict(files)
        role_bytes, role_s, role_rss, base_rss, largest, anon, base_anon = _run(_ROLES, str(target))
        plain_bw, role_bw = plain_bytes / mb / plain_s, role_bytes / mb / role_s
        print(f"[{cache} page cache]")
        print(f"  plain sequential read  {plain_s:7.3f} s {plain_bw:7.0f} MB/s  peak RSS {plain_rss / mb:5.0f} MB")
        print(f"  q/k/v/o, every layer   {role_s:7.3f} s {role_bw:7.0f} MB/s  peak RSS {role_rss / mb:5.0f} MB"
              f"  ({role_bytes / mb:.0f} MB of stored bytes, converted to float32)")
        print(f"  bandwidth ratio        {role_bw / plain_bw:7.2f}   (goal >= 0.70)")
        print(f"  RSS: {base_rss / mb:.0f} MB after imports, peak {role_rss / mb:.0f} MB including mapped "
              f"weight pages; anonymous memory +{(anon - base_anon) / mb:.0f} MB while reading")
        print(f"  budget 2 x {largest / mb:.0f} MB (largest float32 tensor) + 300 MB = {(2 * largest + 300 * mb) / mb:.0f} MB")
    t = time.perf_counter()
    open_checkpoint(target).summary()
    print(f"open + summary        {time.perf_counter() - t:8.3f} s")


if __name__ == "__main__":
    main()
