"""Architecture facts a fingerprint needs, from ``config.json`` or GGUF metadata.

Only fields that change how tensors are read or how products are formed live here; the rest of
the raw config is kept in :attr:`ModelConfig.raw` for reports.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError

# config.json spells the same quantity in several ways across architectures
_ALIASES: dict[str, tuple[str, ...]] = {
    "hidden_size": ("hidden_size", "n_embd", "d_model", "dim"),
    "num_hidden_layers": ("num_hidden_layers", "n_layer", "num_layers", "n_layers"),
    "num_attention_heads": ("num_attention_heads", "n_head", "num_heads", "n_heads"),
    "num_key_value_heads": ("num_key_value_heads", "num_kv_heads", "n_head_kv", "multi_query_group_num"),
    "intermediate_size": ("intermediate_size", "n_inner", "ffn_dim", "ffn_hidden_size"),
}

# the norm's effective gain is (offset + weight) in these families
_NORM_OFFSET_ONE = {"gemma", "gemma2", "gemma3", "gemma3_text"}


# no dimension of any model comes near this; a larger one is a lie that would allocate terabytes
MAX_SIZE = 2 ** 31


@dataclass(frozen=True)
class ModelConfig:
    model_type: str
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    vocab_size: int
    intermediate_size: int | None = None
    tie_word_embeddings: bool = False
    num_experts: int = 0
    norm_weight_offset: float = 0.0
    architectures: tuple[str, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def n_layers(self) -> int:
        return self.num_hidden_layers

    @property
    def q_per_kv(self) -> int:
        return self.num_attention_heads // self.num_key_value_heads

    def sizes(self) -> dict[str, Any]:
        """The architecture's sizes, as fingerprints record them (enough to compare shapes later)."""
        return {f: getattr(self, f) for f in ("model_type", "hidden_size", "num_hidden_layers", "num_attention_heads",
                                              "num_key_value_heads", "head_dim", "vocab_size", "intermediate_size",
                                              "tie_word_embeddings")}

    @classmethod
    def from_dict(cls, raw: dict[str, Any], *, source: str = "config.json") -> ModelConfig:
        # multimodal wrappers (Gemma 3, ...) keep the language model under text_config
        text = raw.get("text_config") if isinstance(raw.get("text_config"), dict) else None
        cfg = {**raw, **text} if text else raw

        def pick(name: str, default: Any = None, required: bool = True) -> Any:
            for key in _ALIASES.get(name, (name,)):
                if cfg.get(key) is not None:
                    return cfg[key]
            if required and default is None:
                raise ConfigError(f"{source} has no {name!r} (nor any of its aliases)")
            return default

        def size(name: str, value: Any, minimum: int = 1) -> int:
            # JSON integers only: "abc", [1], 1.5, true or 10**12 is no size of a model
            if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= MAX_SIZE:
                raise ConfigError(f"{source}: {name} must be an integer between {minimum} and {MAX_SIZE}, "
                                  f"got {json.dumps(value)[:40]}")
            return value

        model_type = str(cfg.get("model_type") or raw.get("model_type") or "unknown")
        hidden = size("hidden_size", pick("hidden_size"))
        n_heads = size("num_attention_heads", pick("num_attention_heads"))
        # a size that is present must be a size: 0 or "abc" is not read as "absent"
        for key in ("num_key_value_heads", "num_kv_heads", "n_head_kv", "head_dim"):
            if cfg.get(key) is not None:
                size(key, cfg[key])
        n_kv = cfg.get("num_key_value_heads") or cfg.get("num_kv_heads") or cfg.get("n_head_kv")
        if n_kv is None:
            # Falcon-7B style multi-query attention: one shared K/V head
            multi_query = cfg.get("multi_query") and not cfg.get("new_decoder_architecture")
            n_kv = 1 if multi_query else n_heads
        n_kv = size("num_key_value_heads", n_kv)
        head_dim = size("head_dim", cfg.get("head_dim") or max(hidden // n_heads, 1))
        n_experts = size("num_experts", cfg.get("num_local_experts") or cfg.get("num_experts")
                         or cfg.get("n_routed_experts") or 0, minimum=0)
        tie = cfg.get("tie_word_embeddings", raw.get("tie_word_embeddings"))
        if tie is None:
            tie = model_type in {"gpt2", "opt", "gemma", "gemma2", "falcon"}
        inter = pick("intermediate_size", required=False)
        if inter is None and model_type in {"gpt2", "falcon", "gpt_neox"}:
            inter = 4 * hidden
        architectures = raw.get("architectures") or ()
        return cls(
            model_type=model_type,
            hidden_size=hidden,
            num_hidden_layers=size("num_hidden_layers", pick("num_hidden_layers"), minimum=0),
            num_attention_heads=n_heads,
            num_key_value_heads=n_kv,
            head_dim=head_dim,
            vocab_size=size("vocab_size", pick("vocab_size")),
            intermediate_size=None if inter is None else size("intermediate_size", inter),
            tie_word_embeddings=bool(tie),
            num_experts=n_experts,
            norm_weight_offset=1.0 if model_type in _NORM_OFFSET_ONE else 0.0,
            architectures=tuple(str(a) for a in architectures) if isinstance(architectures, list) else (),
            raw=raw,
        )

    @classmethod
    def from_file(cls, path: Path) -> ModelConfig:
        if not path.is_file():
            raise ConfigError(
                f"{path.parent} has no config.json",
                hint="a Hugging Face model directory needs config.json beside its *.safetensors",
            )
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path} is not valid JSON ({exc})") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"{path} must hold a JSON object")
        return cls.from_dict(raw, source=str(path))
