"""Where tensors come from: lazy, one-tensor-at-a-time readers over weight files.

A store knows keys, shapes and dtypes without reading data, and returns one tensor as a float
NumPy array when asked. It knows nothing of roles or architectures (see ``adapters.py``).

- :class:`SafetensorsStore`: one file or an indexed set of shards, memory-mapped through
  ``safe_open``; a tensor costs its own bytes, never the file's.
- :class:`GGUFStore`: llama.cpp's format through the ``gguf`` package; each tensor dequantised
  to float32 on its own, names mapped to the Hugging Face Llama layout, and llama.cpp's Q/K row
  permutation undone so rows line up with safetensors checkpoints.
- :class:`PickleStore`: ``*.bin``/``*.pt`` state dicts, only on explicit request, loaded with
  ``weights_only=True`` (a pickle cannot be read lazily: the whole file is loaded).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from ..errors import CorruptCheckpoint, MissingShard, MissingTensor, UnsupportedFormat


class TensorStore(Protocol):
    files: tuple[Path, ...]

    def keys(self) -> list[str]: ...
    def shape(self, key: str) -> tuple[int, ...]: ...
    def dtype(self, key: str) -> str: ...
    def get(self, key: str, dtype: np.dtype | type = np.float32) -> np.ndarray: ...


def _to_numpy(tensor: torch.Tensor, dtype: np.dtype | type) -> np.ndarray:
    # bf16 has no NumPy dtype: widen in torch first, then hand over without another copy
    if tensor.dtype in (torch.bfloat16, torch.float16) or not tensor.is_floating_point():
        tensor = tensor.to(torch.float32)
    return tensor.numpy().astype(dtype, copy=False)


class SafetensorsStore:
    """Memory-mapped safetensors: a single file or shards listed in an index."""

    def __init__(self, weight_map: dict[str, Path]) -> None:
        self._weight_map = weight_map
        self.files = tuple(sorted(set(weight_map.values())))
        self._handles: dict[Path, Any] = {}
        self._meta: dict[str, tuple[tuple[int, ...], str]] = {}

    @classmethod
    def open_file(cls, path: Path) -> SafetensorsStore:
        keys = _safe_open(path).keys()
        return cls({key: path for key in keys})

    @classmethod
    def open_index(cls, index_path: Path) -> SafetensorsStore:
        try:
            index = json.loads(index_path.read_text(encoding="utf-8"))
            weight_map = index["weight_map"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise CorruptCheckpoint(f"{index_path} is not a valid safetensors index ({exc})") from None
        resolved = {key: index_path.parent / shard for key, shard in weight_map.items()}
        for shard in sorted(set(resolved.values())):
            if not shard.is_file():
                raise MissingShard(
                    f"{index_path.name} lists {shard.name}, which is not in {index_path.parent}",
                    hint="download the missing shard or fix the index",
                )
        return cls(resolved)

    def _handle(self, path: Path) -> Any:
        if path not in self._handles:
            self._handles[path] = _safe_open(path)
        return self._handles[path]

    def keys(self) -> list[str]:
        return list(self._weight_map)

    def _slice(self, key: str) -> Any:
        if key not in self._weight_map:
            raise MissingTensor(f"no tensor {key!r} in {self.files[0].parent}")
        return self._handle(self._weight_map[key]).get_slice(key)

    def shape(self, key: str) -> tuple[int, ...]:
        if key not in self._meta:
            sl = self._slice(key)
            self._meta[key] = (tuple(sl.get_shape()), str(sl.get_dtype()))
        return self._meta[key][0]

    def dtype(self, key: str) -> str:
        self.shape(key)
        return self._meta[key][1]

    def get(self, key: str, dtype: np.dtype | type = np.float32) -> np.ndarray:
        path = self._weight_map.get(key)
        if path is None:
            raise MissingTensor(f"no tensor {key!r} in {self.files[0].parent}")
        try:
            tensor = self._handle(path).get_tensor(key)
        except Exception as exc:  # safetensors raises its own error types for truncated data
            raise CorruptCheckpoint(f"{path}: cannot read {key!r} ({exc})") from None
        return _to_numpy(tensor, dtype)


def _safe_open(path: Path) -> Any:
    from safetensors import safe_open

    try:
        handle = safe_open(str(path), framework="pt", device="cpu")
    except FileNotFoundError:
        raise MissingShard(f"{path} does not exist") from None
    except Exception as exc:
        raise CorruptCheckpoint(
            f"{path} is not a readable safetensors file ({exc})",
            hint="the file may be truncated or not safetensors at all; download it again",
        ) from None
    # a header whose offsets run past the end of the file: truncated download
    end = 0
    for key in handle.keys():
        sl = handle.get_slice(key)
        n = int(np.prod(sl.get_shape(), dtype=np.int64)) * _DTYPE_BYTES.get(str(sl.get_dtype()), 1)
        end += n
    header_len = int.from_bytes(path.open("rb").read(8), "little")
    if 8 + header_len + end > path.stat().st_size:
        raise CorruptCheckpoint(
            f"{path} is truncated: its header describes {8 + header_len + end} bytes, the file has {path.stat().st_size}",
            hint="download the file again",
        )
    return handle


_DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1,
                "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1, "U16": 2, "U32": 4, "U64": 8}


# --- GGUF ------------------------------------------------------------------------------------

_GGUF_LAYER = {
    "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj", "attn_qkv": "self_attn.qkv_proj",
    "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
    "attn_q_norm": "self_attn.q_norm", "attn_k_norm": "self_attn.k_norm",
    "post_attention_norm": "post_attention_layernorm", "post_ffw_norm": "post_feedforward_layernorm",
    "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj",
    "ffn_gate_inp": "mlp.gate", "ffn_gate_exps": "mlp.experts.gate_proj",
    "ffn_up_exps": "mlp.experts.up_proj", "ffn_down_exps": "mlp.experts.down_proj",
}
_GGUF_GLOBAL = {"token_embd": "model.embed_tokens", "output": "lm_head", "output_norm": "model.norm"}
# llama.cpp's converter interleaves Q/K rows for these architectures (its `permute`)
_GGUF_PERMUTED_QK = {"llama"}


class GGUFStore:
    """GGUF tensors under Hugging Face Llama-style names, dequantised one at a time."""

    def __init__(self, path: Path) -> None:
        from gguf import GGUFReader

        try:
            self._reader = GGUFReader(str(path))
        except Exception as exc:
            raise CorruptCheckpoint(f"{path} is not a readable GGUF file ({exc})") from None
        self.files = (path,)
        self.metadata = {name: _gguf_value(field) for name, field in self._reader.fields.items()
                         if not name.startswith("tokenizer.ggml.") or name.endswith(("model", "_id"))}
        self.tokens = _gguf_value(self._reader.fields["tokenizer.ggml.tokens"]) \
            if "tokenizer.ggml.tokens" in self._reader.fields else None
        self.arch = str(self.metadata.get("general.architecture", "llama"))
        self._tensors = {self._hf_name(t.name): t for t in self._reader.tensors}

    @staticmethod
    def _hf_name(name: str) -> str:
        stem, _, kind = name.rpartition(".")
        if m := re.fullmatch(r"blk\.(\d+)\.(\w+)", stem):
            mapped = _GGUF_LAYER.get(m.group(2), m.group(2))
            return f"model.layers.{m.group(1)}.{mapped}.{kind}"
        return f"{_GGUF_GLOBAL.get(stem, stem)}.{kind}"

    def config_dict(self) -> dict[str, Any]:
        a, md = self.arch, self.metadata
        hidden = int(md[f"{a}.embedding_length"])
        n_heads = int(md[f"{a}.attention.head_count"])
        vocab = md.get(f"{a}.vocab_size") or (len(self.tokens) if self.tokens else None)
        head_dim = md.get(f"{a}.attention.key_length") or hidden // n_heads
        return {
            "model_type": {"llama": "llama", "qwen2": "qwen2", "qwen3": "qwen3", "gemma": "gemma",
                           "gemma2": "gemma2", "phi3": "phi3"}.get(a, a),
            "architectures": [f"gguf:{a}"],
            "hidden_size": hidden,
            "num_hidden_layers": int(md[f"{a}.block_count"]),
            "num_attention_heads": n_heads,
            "num_key_value_heads": int(md.get(f"{a}.attention.head_count_kv") or n_heads),
            "head_dim": int(head_dim),
            "intermediate_size": md.get(f"{a}.feed_forward_length"),
            "vocab_size": int(vocab) if vocab else None,
            "tie_word_embeddings": "lm_head.weight" not in self._tensors,
            "num_local_experts": md.get(f"{a}.expert_count"),
            "gguf_file_type": md.get("general.file_type"),
            "name": md.get("general.name"),
        }

    def keys(self) -> list[str]:
        return list(self._tensors)

    def shape(self, key: str) -> tuple[int, ...]:
        # GGUF lists dimensions fastest-first; HF lists them [out, in]
        return tuple(int(d) for d in reversed(self._tensor(key).shape))

    def dtype(self, key: str) -> str:
        return self._tensor(key).tensor_type.name

    def _tensor(self, key: str) -> Any:
        if key not in self._tensors:
            raise MissingTensor(f"no tensor {key!r} in {self.files[0]}")
        return self._tensors[key]

    def get(self, key: str, dtype: np.dtype | type = np.float32) -> np.ndarray:
        from gguf.quants import dequantize

        t = self._tensor(key)
        arr = np.asarray(dequantize(t.data, t.tensor_type), dtype=np.float32).reshape(self.shape(key))
        if self.arch in _GGUF_PERMUTED_QK and key.endswith(("q_proj.weight", "k_proj.weight")):
            cfg = self.config_dict()
            heads = cfg["num_attention_heads"] if "q_proj" in key else cfg["num_key_value_heads"]
            arr = _unpermute_qk(arr, heads)
        return arr.astype(dtype, copy=False)


def _unpermute_qk(weight: np.ndarray, n_heads: int) -> np.ndarray:
    """Inverse of llama.cpp ``convert_hf_to_gguf.LlamaModel.permute``: (pairs interleaved) -> rotate_half order."""
    rows, cols = weight.shape
    return weight.reshape(n_heads, rows // n_heads // 2, 2, cols).swapaxes(1, 2).reshape(rows, cols)


def _gguf_value(field: Any) -> Any:
    try:
        return field.contents()
    except Exception:  # older gguf releases lack contents(); fall back to the raw parts
        return field.parts[field.data[0]].tolist() if field.data else None


# --- pickle ----------------------------------------------------------------------------------


class PickleStore:
    """A PyTorch pickle state dict, loaded whole with ``weights_only=True``."""

    def __init__(self, paths: list[Path]) -> None:
        self.files = tuple(paths)
        self._tensors: dict[str, torch.Tensor] = {}
        self.model_args: dict[str, Any] | None = None
        for path in paths:
            try:
                obj = torch.load(path, map_location="cpu", weights_only=True)
            except Exception as exc:
                raise CorruptCheckpoint(f"{path} could not be loaded with weights_only=True ({exc})") from None
            self._tensors.update(_find_state_dict(obj, path))
            if isinstance(obj, dict) and isinstance(obj.get("model_args"), dict):
                self.model_args = obj["model_args"]  # llama2.c training checkpoints

    def keys(self) -> list[str]:
        return list(self._tensors)

    def shape(self, key: str) -> tuple[int, ...]:
        return tuple(self._get(key).shape)

    def dtype(self, key: str) -> str:
        return str(self._get(key).dtype).removeprefix("torch.")

    def _get(self, key: str) -> torch.Tensor:
        if key not in self._tensors:
            raise MissingTensor(f"no tensor {key!r} in {self.files[0]}")
        return self._tensors[key]

    def get(self, key: str, dtype: np.dtype | type = np.float32) -> np.ndarray:
        return _to_numpy(self._get(key), dtype)


def _find_state_dict(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    """A state dict may be the pickle itself or sit under a key (training checkpoints)."""
    if isinstance(obj, dict):
        for key in ("model", "state_dict", "model_state_dict", "module"):
            if isinstance(obj.get(key), dict):
                return _find_state_dict(obj[key], path)
        tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
        if tensors:
            return tensors
    raise UnsupportedFormat(f"{path} holds no tensor state dict")


def iter_float_keys(store: TensorStore) -> Iterator[str]:
    for key in store.keys():
        if store.dtype(key).upper() not in {"I64", "I32", "I16", "I8", "U8", "BOOL", "INT64", "INT32", "BOOL"}:
            yield key
