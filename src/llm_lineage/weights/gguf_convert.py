"""A GGUF file as a Hugging Face model directory: every tensor dequantised, llama.cpp's conventions undone.

The inverse of llama.cpp's ``convert_hf_to_gguf.py`` for the architectures :class:`GGUFStore`
reads: Q/K rows back in rotate-half order, gemma's ``1 + w`` norm gains back to ``w``, gemma's
four norms under their own names, a tied ``lm_head`` left out. Benchmarks use it to put real GGUF
checkpoints where the attacks (which load models with ``transformers``) can derive from them; the
result is the same weights, so every method should score it as an identical copy of the GGUF.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import UnsupportedFormat
from .checkpoint import open_checkpoint

_CLASSES = {"llama": "LlamaForCausalLM", "mistral": "MistralForCausalLM", "qwen2": "Qwen2ForCausalLM",
            "qwen3": "Qwen3ForCausalLM", "gemma": "GemmaForCausalLM", "gemma2": "Gemma2ForCausalLM",
            "gemma3_text": "Gemma3ForCausalLM", "phi3": "Phi3ForCausalLM"}


def gguf_to_hf(gguf_path: str | Path, out_dir: str | Path, *, dtype: str = "float32", tokenizer: bool = True) -> Path:
    """Write ``out_dir/{config.json, model.safetensors}`` (and the tokenizer, through ``transformers``)."""
    import torch
    from safetensors.torch import save_file

    gguf_path, out_dir = Path(gguf_path), Path(out_dir)
    ckpt = open_checkpoint(gguf_path)
    raw = ckpt.store.config_dict()  # type: ignore[attr-defined]
    model_type = raw["model_type"]
    if model_type not in _CLASSES:
        raise UnsupportedFormat(f"{gguf_path}: no Hugging Face class for GGUF architecture {model_type!r}")
    out_dir.mkdir(parents=True, exist_ok=True)
    torch_dtype = getattr(torch, dtype)
    tensors = {}
    for key in ckpt.store.keys():
        if key.startswith("rope_freqs"):
            continue  # llama.cpp's precomputed RoPE scaling; transformers computes its own
        tensors[key] = torch.from_numpy(np.require(ckpt.store.get(key), requirements=["C", "W"])).to(torch_dtype)
    save_file(tensors, str(out_dir / "model.safetensors"), metadata={"format": "pt"})
    config = {key: raw[key] for key in ("model_type", "hidden_size", "num_hidden_layers", "num_attention_heads",
                                        "num_key_value_heads", "head_dim", "intermediate_size", "vocab_size",
                                        "tie_word_embeddings", "rope_theta", "rms_norm_eps", "max_position_embeddings")
              if raw.get(key) is not None}
    config.update(architectures=[_CLASSES[model_type]], torch_dtype=dtype)
    (out_dir / "config.json").write_text(json.dumps(config, indent=1))
    if tokenizer:
        from transformers import AutoTokenizer

        AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name).save_pretrained(str(out_dir))
    return out_dir
