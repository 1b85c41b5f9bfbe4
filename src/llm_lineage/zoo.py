"""Seeded tiny models of real ``transformers`` architectures, shared by tests, demo and benchmarks.

``build("llama", seed=0, train_steps=200)`` returns a model directory (safetensors, config.json,
tokenizer) that ``AutoModelForCausalLM.from_pretrained`` loads. The same arguments always give the
same weights, and built models are cached on disk by their arguments, so a test session builds each
once. Nothing is downloaded: the tokenizer is a byte-level BPE trained here on the generated corpus.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

from . import corpus

ZOO_VERSION = 1
VOCAB_SIZE = 512
HIDDEN_SIZE = 64


def _small(**kw: Any) -> dict[str, Any]:
    base = dict(hidden_size=HIDDEN_SIZE, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                num_key_value_heads=2, max_position_embeddings=128, vocab_size=VOCAB_SIZE,
                tie_word_embeddings=False, bos_token_id=1, eos_token_id=2, pad_token_id=0)
    base.update(kw)
    return base


def _configs() -> dict[str, Callable[..., Any]]:
    import transformers as t

    return {
        "llama": lambda **kw: t.LlamaConfig(**_small(**kw)),
        "mistral": lambda **kw: t.MistralConfig(**_small(sliding_window=None, **kw)),
        "qwen2": lambda **kw: t.Qwen2Config(**_small(**kw)),
        "qwen3": lambda **kw: t.Qwen3Config(**_small(head_dim=16, **kw)),
        "gemma": lambda **kw: t.GemmaConfig(**_small(num_key_value_heads=1, head_dim=16,
                                                      **{"tie_word_embeddings": True, **kw})),
        "gemma2": lambda **kw: t.Gemma2Config(**_small(head_dim=16, sliding_window=64,
                                                        **{"tie_word_embeddings": True, **kw})),
        "phi3": lambda **kw: t.Phi3Config(**_small(**kw)),
        "gpt2": lambda **kw: t.GPT2Config(**_gpt2(**kw)),
        "gpt_neox": lambda **kw: t.GPTNeoXConfig(**_small(num_key_value_heads=None, **kw)),
        "opt": lambda **kw: t.OPTConfig(**_opt(**kw)),
        "falcon": lambda **kw: t.FalconConfig(**_small(num_key_value_heads=None, new_decoder_architecture=True,
                                                        num_kv_heads=2, **kw)),
        "mixtral": lambda **kw: t.MixtralConfig(**_small(num_local_experts=4, num_experts_per_tok=2, **kw)),
    }


def _gpt2(**kw: Any) -> dict[str, Any]:
    cfg = dict(n_embd=HIDDEN_SIZE, n_layer=2, n_head=4, n_positions=128, vocab_size=VOCAB_SIZE,
               bos_token_id=1, eos_token_id=2, tie_word_embeddings=True)
    renames = {"hidden_size": "n_embd", "num_hidden_layers": "n_layer", "num_attention_heads": "n_head"}
    cfg.update({renames.get(k, k): v for k, v in kw.items()})
    return cfg


def _opt(**kw: Any) -> dict[str, Any]:
    cfg = dict(hidden_size=HIDDEN_SIZE, ffn_dim=128, num_hidden_layers=2, num_attention_heads=4,
               word_embed_proj_dim=HIDDEN_SIZE, max_position_embeddings=128, vocab_size=VOCAB_SIZE,
               bos_token_id=1, eos_token_id=2, pad_token_id=0, tie_word_embeddings=True)
    cfg.update({("ffn_dim" if k == "intermediate_size" else k): v for k, v in kw.items()})
    return cfg


ARCHITECTURES: tuple[str, ...] = ("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "phi3",
                                  "gpt2", "gpt_neox", "opt", "falcon", "mixtral")


def cache_dir() -> Path:
    from .paths import cache_root

    return cache_root() / "zoo"


# seeds of the zoo models that tests, the demo and benchmarks use as unrelated references
NULL_SEEDS: tuple[int, ...] = (101, 102, 103, 104)


def null_models(arch: str = "llama", *, seeds: tuple[int, ...] = NULL_SEEDS, train_steps: int = 300,
                progress: bool = False, **overrides: Any) -> tuple[Path, ...]:
    """Unrelated reference models for a zoo victim: the same recipe from other seeds, built here
    explicitly (the methods never train a model for a null)."""
    return tuple(build(arch, seed=seed, train_steps=train_steps, progress=progress, **overrides) for seed in seeds)


@lru_cache(maxsize=1)
def tokenizer():
    """A byte-level BPE (512 pieces) trained on both generated corpora; deterministic."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE, special_tokens=["<pad>", "<s>", "</s>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    texts = corpus.generate("stories", 1500) + corpus.generate("manuals", 800)
    tok.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", bos_token="<s>", eos_token="</s>")


def build_model(arch: str = "llama", seed: int = 0, **overrides: Any):
    """An in-memory model with seeded random weights (no training)."""
    from transformers import AutoModelForCausalLM

    configs = _configs()
    if arch not in configs:
        raise ValueError(f"unknown zoo architecture {arch!r}; choose from {', '.join(ARCHITECTURES)}")
    config = configs[arch](**overrides)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.eval()
    return model


def build(arch: str = "llama", seed: int = 0, *, train_steps: int = 0, domain: str = "stories",
          out_dir: str | Path | None = None, progress: bool = False, **overrides: Any) -> Path:
    """Build (or reuse) a zoo model directory; ``train_steps`` > 0 trains it on ``domain`` text."""
    spec = {"arch": arch, "seed": seed, "train_steps": train_steps, "domain": domain,
            "overrides": overrides, "zoo_version": ZOO_VERSION}
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]
    target = Path(out_dir) if out_dir else cache_dir() / f"{arch}-s{seed}-t{train_steps}-{digest}"
    if (target / "zoo.json").is_file() and json.loads((target / "zoo.json").read_text()) == spec:
        return target

    from .training import train_causal_lm

    model = build_model(arch, seed, **overrides)
    if train_steps:
        train_causal_lm(model, tokenizer(), corpus.generate(domain), steps=train_steps, seed=seed,
                        progress=progress, description=f"training {arch} seed {seed}")
    return save(model, target, extra={"zoo.json": spec})


def save(model, target: Path, *, extra: dict[str, Any] | None = None, tokenizer_object=None) -> Path:
    """save_pretrained + tokenizer (default: the zoo's) into ``target`` atomically (a half-written dir never appears)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        (tokenizer_object or tokenizer()).save_pretrained(tmp)
        for name, content in (extra or {}).items():
            (tmp / name).write_text(json.dumps(content, indent=2, sort_keys=True))
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def load(model_dir: str | Path, *, allow_pickle: bool = False):
    """Load a model directory with transformers, float32, eval mode (for attacks and local sources),
    through the checks of ``weights.hf_model.load_model``."""
    from .weights.hf_model import load_model

    return load_model(model_dir, dtype=torch.float32, allow_pickle=allow_pickle)
