"""Write a model directory as an F32 GGUF file with llama.cpp's conventions, so llama.cpp can serve it.

A small stand-in for llama.cpp's ``convert_hf_to_gguf.py`` for the decoder families whose GGUF
layout ``weights/stores.py`` reads back (Llama and Mistral as ``llama``, Qwen2, Qwen3, Gemma 1-3),
written with the ``gguf`` package, so the third-party server test (``tests/e2e/test_llamacpp.py``)
and the GGUF round-trip tests need nothing downloaded. As the converter does:

* ``llama``: q_proj and k_proj rows are permuted from Hugging Face's rotate-half order to GGML's
  interleaved pairs;
* gemma: every RMSNorm gain is stored as ``1 + w`` (Hugging Face stores ``w`` and adds the 1 in
  the forward pass); gemma2/3's four norms a layer are ``attn_norm``, ``post_attention_norm``,
  ``ffn_norm`` (the pre-feed-forward norm) and ``post_ffw_norm``;
* a tied classifier has no ``output.weight``.

``weights/stores.py`` undoes exactly this when it reads GGUF.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import UnsupportedFormat

_LAYER = {"input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
          "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output", "post_attention_layernorm": "ffn_norm",
          "self_attn.q_norm": "attn_q_norm", "self_attn.k_norm": "attn_k_norm",
          "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}
_LAYER_GEMMA2 = {**_LAYER, "post_attention_layernorm": "post_attention_norm",
                 "pre_feedforward_layernorm": "ffn_norm", "post_feedforward_layernorm": "post_ffw_norm"}
# model_type -> (GGUF architecture, per-layer names)
_ARCHES = {"llama": ("llama", _LAYER), "mistral": ("llama", _LAYER), "qwen2": ("qwen2", _LAYER),
           "qwen3": ("qwen3", _LAYER), "gemma": ("gemma", _LAYER), "gemma2": ("gemma2", _LAYER_GEMMA2),
           "gemma3_text": ("gemma3", _LAYER_GEMMA2)}


def _permute(weight: np.ndarray, n_heads: int) -> np.ndarray:
    """llama.cpp ``LlamaModel.permute``: rotate-half rows -> interleaved pairs, per head."""
    rows = weight.shape[0]
    return weight.reshape(n_heads, 2, rows // n_heads // 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


def export_gguf(model_dir: str | Path, out: str | Path) -> Path:
    """``model_dir`` (config.json, safetensors, tokenizer.json) -> ``out`` (.gguf, all F32)."""
    import gguf
    from safetensors.numpy import load_file

    model_dir, out = Path(model_dir), Path(out)
    config = json.loads((model_dir / "config.json").read_text())
    if config.get("model_type") not in _ARCHES:
        raise UnsupportedFormat(f"GGUF export handles {', '.join(_ARCHES)} models; {model_dir} is "
                                f"{config.get('model_type')!r}")
    arch, layer_names = _ARCHES[config["model_type"]]
    tok = json.loads((model_dir / "tokenizer.json").read_text())
    if tok["model"]["type"] != "BPE":
        raise UnsupportedFormat(f"GGUF export needs a BPE tokenizer; {model_dir} has {tok['model']['type']}")
    tensors: dict[str, np.ndarray] = {}
    for f in sorted(model_dir.glob("*.safetensors")):
        tensors.update(load_file(f))
    n_heads, n_kv = config["num_attention_heads"], config.get("num_key_value_heads") or config["num_attention_heads"]
    hidden = config["hidden_size"]

    writer = gguf.GGUFWriter(str(out), arch)
    writer.add_name(model_dir.name)
    writer.add_context_length(config.get("max_position_embeddings", 2048))
    writer.add_embedding_length(hidden)
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(n_heads)
    writer.add_head_count_kv(n_kv)
    head_dim = config.get("head_dim") or hidden // n_heads
    writer.add_key_length(head_dim)
    writer.add_value_length(head_dim)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(float(config.get("rope_theta", (config.get("rope_parameters") or {}).get("rope_theta", 10000.0))))
    writer.add_layer_norm_rms_eps(float(config.get("rms_norm_eps", 1e-6)))
    writer.add_vocab_size(config["vocab_size"])
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)

    # byte-level BPE, as GPT-2: pieces in id order, merges, special tokens marked as control
    vocab = tok["model"]["vocab"]
    pieces = [""] * config["vocab_size"]
    for piece, i in vocab.items():
        pieces[i] = piece
    special = {t["id"] for t in tok.get("added_tokens", []) if t.get("special")}
    for t in tok.get("added_tokens", []):
        pieces[t["id"]] = t["content"]
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("gpt-2")
    writer.add_token_list(pieces)
    writer.add_token_types([gguf.TokenType.CONTROL if i in special else gguf.TokenType.NORMAL
                            for i in range(len(pieces))])
    merges = tok["model"].get("merges", [])
    writer.add_token_merges([m if isinstance(m, str) else " ".join(m) for m in merges])
    for key, setter in (("bos_token_id", writer.add_bos_token_id), ("eos_token_id", writer.add_eos_token_id),
                        ("pad_token_id", writer.add_pad_token_id)):
        if config.get(key) is not None:
            setter(int(config[key]))
    writer.add_add_bos_token(False)  # the zoo tokenizer adds no BOS; the server must tokenize alike

    def add(name: str, array: np.ndarray) -> None:
        if arch.startswith("gemma") and name.endswith("norm.weight"):
            array = array + 1.0
        writer.add_tensor(name, np.ascontiguousarray(array, dtype=np.float32))

    add("token_embd.weight", tensors["model.embed_tokens.weight"])
    for i in range(config["num_hidden_layers"]):
        for hf, g in layer_names.items():
            for kind in ("weight", "bias"):
                weight = tensors.get(f"model.layers.{i}.{hf}.{kind}")
                if weight is None:
                    continue
                if arch == "llama" and hf in ("self_attn.q_proj", "self_attn.k_proj"):
                    weight = _permute(weight, n_heads if hf == "self_attn.q_proj" else n_kv)
                add(f"blk.{i}.{g}.{kind}", weight)
    add("output_norm.weight", tensors["model.norm.weight"])
    if "lm_head.weight" in tensors and not config.get("tie_word_embeddings"):
        add("output.weight", tensors["lm_head.weight"])
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out
