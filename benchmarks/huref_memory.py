"""Time and peak RSS of a HuRef fingerprint: streamed (llm-lineage) vs whole-model load (reference).

The reference implementation (LUMIA-Group/HuRef) loads the model with ``from_pretrained`` in
float32 and takes the weights from its ``state_dict``; llm-lineage reads one block at a time
through ``open_checkpoint`` and never forms an n x n term. Each side runs in its own process so
that peak RSS (``ru_maxrss``) is its own. Both sides compute the same invariant terms on the
same 4096 tokens; the script checks they agree (ICS of one against the other ~ 100).

    python benchmarks/huref_memory.py [MODEL]      # default: the shared SmolLM2-135M GGUF

A GGUF is measured twice: as it is, and converted to a float32 safetensors directory.

Goal (issue 5): at least 5x less peak memory than the reference.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "models" / "gguf" / "SmolLM2-135M-Instruct.Q4_1.gguf"

_STREAMED = r"""
import json, resource, sys, time
t0 = time.perf_counter()
from llm_lineage.methods.huref import HurefConfig, fingerprint
fp = fingerprint(sys.argv[1], HurefConfig(cache=False))
import numpy as np
np.savez(sys.argv[2], embedding=fp.embedding, terms=fp.terms, token_ids=fp.token_ids)
print(json.dumps({"seconds": time.perf_counter() - t0,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

_REFERENCE = r"""
import json, resource, sys, time
t0 = time.perf_counter()
import numpy as np, torch
from pathlib import Path
from transformers import AutoModelForCausalLM
path = Path(sys.argv[1])
kw = {"gguf_file": path.name} if path.suffix == ".gguf" else {}
model = AutoModelForCausalLM.from_pretrained(path.parent if kw else path, dtype=torch.float32, **kw)
sd = model.state_dict()                                    # the reference's way to the weights
ids = torch.from_numpy(np.load(sys.argv[2])["token_ids"])
cfg = model.config
h, kv = cfg.num_attention_heads, cfg.num_key_value_heads
hd = getattr(cfg, "head_dim", None) or cfg.hidden_size // h
x = sd["model.embed_tokens.weight"][ids].double()
x = x / x.pow(2).mean(dim=1, keepdim=True).sqrt()         # invariant mode: unit-RMS token rows
terms = []
for layer in (cfg.num_hidden_layers - 2, cfg.num_hidden_layers - 1):
    p = f"model.layers.{layer}."
    w = {k: sd[p + k].double() for k in ("self_attn.q_proj.weight", "self_attn.k_proj.weight",
         "self_attn.v_proj.weight", "self_attn.o_proj.weight", "mlp.gate_proj.weight", "mlp.up_proj.weight",
         "mlp.down_proj.weight", "input_layernorm.weight", "post_attention_layernorm.weight")}
    g1, g2 = w["input_layernorm.weight"], w["post_attention_layernorm.weight"]
    rep = lambda t: t.reshape(kv, hd, -1).repeat_interleave(h // kv, dim=0).reshape(h * hd, -1)
    q, k = w["self_attn.q_proj.weight"] * g1, rep(w["self_attn.k_proj.weight"]) * g1
    v, o = rep(w["self_attn.v_proj.weight"]) * g1, w["self_attn.o_proj.weight"]
    gate, up, down = w["mlp.gate_proj.weight"] * g2, w["mlp.up_proj.weight"] * g2, w["mlp.down_proj.weight"]
    terms += [q.T @ k, v.T @ o.T, (up.T * gate.norm(dim=1)) @ down.T]
    # the dense n x n terms, as the reference forms them
    dense = [x @ a @ x.T for a in terms[-3:]]
    del dense
np.savez(sys.argv[3], terms=torch.stack(terms).numpy(), embedding=x.float().numpy())
print(json.dumps({"seconds": time.perf_counter() - t0,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _run(code: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


_TO_SAFETENSORS = r"""
import json, sys
import numpy as np
from safetensors.numpy import save_file
from llm_lineage.weights import open_checkpoint
ckpt = open_checkpoint(sys.argv[1])
save_file({k: ckpt.store.get(k) for k in ckpt.store.keys()}, sys.argv[2] + "/model.safetensors")
c = ckpt.config
json.dump({"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": c.hidden_size,
           "intermediate_size": c.intermediate_size, "num_hidden_layers": c.num_hidden_layers,
           "num_attention_heads": c.num_attention_heads, "num_key_value_heads": c.num_key_value_heads,
           "head_dim": c.head_dim, "vocab_size": c.vocab_size, "tie_word_embeddings": c.tie_word_embeddings,
           "rms_norm_eps": 1e-5, "rope_theta": 100000.0, "max_position_embeddings": 8192,
           "torch_dtype": "float32"}, open(sys.argv[2] + "/config.json", "w"))
"""


def main() -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        model = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
        if not model.exists():
            sys.exit(f"{model} not found; pass a model path")
        measure(model)
        if model.suffix == ".gguf":  # the same weights as a float32 safetensors directory
            subprocess.run([sys.executable, "-c", _TO_SAFETENSORS, str(model), tmp], check=True)
            print()
            measure(Path(tmp))


def measure(model: Path) -> None:
    import tempfile

    import numpy as np

    from llm_lineage.methods.huref.terms import correlation

    with tempfile.TemporaryDirectory() as tmp:
        ours_file, ref_file = f"{tmp}/ours.npz", f"{tmp}/ref.npz"
        started = time.perf_counter()
        ours = _run(_STREAMED, str(model), ours_file)
        ref = _run(_REFERENCE, str(model), ours_file, ref_file)
        a, b = np.load(ours_file), np.load(ref_file)
        x1, x2 = a["embedding"].astype(np.float64), b["embedding"].astype(np.float64)
        agree = [correlation(x1, a["terms"][i], x2, b["terms"][i]) for i in range(len(a["terms"]))]
    shown = model.name if model.is_file() else "float32 safetensors copy of it"
    print(f"model: {shown}  ({len(a['token_ids'])} tokens, last two blocks, invariant mode)")
    print(f"{'':24s}{'seconds':>10s}{'peak RSS MB':>14s}")
    print(f"{'llm-lineage (streamed)':24s}{ours['seconds']:10.1f}{ours['peak_rss_mb']:14.0f}")
    print(f"{'reference (float32 load)':24s}{ref['seconds']:10.1f}{ref['peak_rss_mb']:14.0f}")
    print(f"peak memory ratio: {ref['peak_rss_mb'] / ours['peak_rss_mb']:.1f}x less (goal >= 5x)")
    print(f"terms agree: min slice correlation {min(agree):.6f}; total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
