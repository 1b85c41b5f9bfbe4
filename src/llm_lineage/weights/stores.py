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
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..errors import ConfigError, CorruptCheckpoint, MissingShard, MissingTensor, UnsupportedFormat


class TensorStore(Protocol):
    files: tuple[Path, ...]

    def keys(self) -> list[str]: ...
    def shape(self, key: str) -> tuple[int, ...]: ...
    def dtype(self, key: str) -> str: ...
    def get(self, key: str, dtype: np.dtype | type = np.float32) -> np.ndarray: ...


def _to_numpy(tensor: Any, dtype: np.dtype | type) -> np.ndarray:
    import torch

    # bf16 has no NumPy dtype: widen in torch first, then hand over without another copy
    if tensor.dtype in (torch.bfloat16, torch.float16) or not tensor.is_floating_point():
        tensor = tensor.to(torch.float32)
    return tensor.numpy().astype(dtype, copy=False)


_NUMPY_DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32,
                 "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_}


class SafetensorsStore:
    """Safetensors shards read one tensor at a time.

    ``safe_open`` validates every file once (a header that does not cover the file exactly is a
    truncated download). Data are then read with one positioned read per tensor into a fresh
    buffer rather than through a memory map: the bytes arrive in a single sequential request, and
    pages of tensors already used do not stay mapped in the process (measured in
    ``benchmarks/weights_read.py``).
    """

    def __init__(self, weight_map: dict[str, Path]) -> None:
        self._weight_map = weight_map
        self.files = tuple(sorted(set(weight_map.values())))
        self._headers: dict[Path, tuple[int, dict[str, Any]]] = {}

    @classmethod
    def open_file(cls, path: Path) -> SafetensorsStore:
        store = cls({})
        store._weight_map = {key: path for key in store._header(path)[1]}
        store.files = (path,)
        return store

    @classmethod
    def open_index(cls, index_path: Path) -> SafetensorsStore:
        try:
            index = json.loads(index_path.read_text(encoding="utf-8"))
            weight_map = index["weight_map"]
        except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as exc:
            raise CorruptCheckpoint(f"{index_path} is not a valid safetensors index ({exc})") from None
        if not isinstance(weight_map, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                       for k, v in weight_map.items()):
            raise CorruptCheckpoint(f"{index_path}: weight_map must map tensor names to shard file names")
        resolved = {}
        for key, shard in weight_map.items():
            path = index_path.parent / shard
            # a shard named outside the model folder (../, an absolute path) is never read; a shard
            # that is a symlink is (the Hugging Face cache links every file into its blobs/)
            if Path(shard).is_absolute() or Path(shard).name != shard or shard in (".", ".."):
                raise CorruptCheckpoint(f"{index_path.name} names shard {shard!r} outside {index_path.parent}",
                                        hint="shards must be files in the model directory")
            resolved[key] = path
        for shard in sorted(set(resolved.values())):
            if not shard.exists():
                raise MissingShard(
                    f"{index_path.name} lists {shard.name}, which is not in {index_path.parent}",
                    hint="download the missing shard or fix the index",
                )
            require_regular_file(shard)
        return cls(resolved)

    def _header(self, path: Path) -> tuple[int, dict[str, Any]]:
        if path not in self._headers:
            _safe_open(path)
            with path.open("rb") as fh:
                n = int.from_bytes(fh.read(8), "little")
                header = json.loads(fh.read(n))
            header.pop("__metadata__", None)
            self._headers[path] = (8 + n, header)
        return self._headers[path]

    def _entry(self, key: str) -> tuple[Path, int, dict[str, Any]]:
        path = self._weight_map.get(key)
        if path is None:
            raise MissingTensor(f"no tensor {key!r} in {self.files[0].parent if self.files else 'checkpoint'}")
        start, header = self._header(path)
        if key not in header:
            raise CorruptCheckpoint(f"the index maps {key!r} to {path.name}, which does not hold it")
        return path, start, header[key]

    def keys(self) -> list[str]:
        return list(self._weight_map)

    def shape(self, key: str) -> tuple[int, ...]:
        return tuple(self._entry(key)[2]["shape"])

    def dtype(self, key: str) -> str:
        return str(self._entry(key)[2]["dtype"])

    def get(self, key: str, dtype: np.dtype | type = np.float32) -> np.ndarray:
        path, data_start, entry = self._entry(key)
        begin, end = entry["data_offsets"]
        stored, shape = entry["dtype"], tuple(entry["shape"])
        if stored not in _NUMPY_DTYPES and stored != "BF16":  # float8 and friends: let torch decode
            with _safe_open_ctx(path) as handle:
                return _to_numpy(handle.get_tensor(key), dtype)
        raw = np.empty(end - begin, dtype=np.uint8)
        with path.open("rb", buffering=0) as fh:
            fh.seek(data_start + begin)
            if fh.readinto(memoryview(raw)) != end - begin:  # type: ignore[arg-type]  # ndarray is a buffer
                raise CorruptCheckpoint(f"{path}: {key!r} runs past the end of the file")
        return decode(raw, stored, shape, dtype)

    def get_rows(self, key: str, rows: np.ndarray, dtype: np.dtype | type = np.float32) -> np.ndarray:
        """``get(key)[rows]`` for a 2-D tensor, reading only those rows."""
        return _read_rows(self, key, np.asarray(rows, dtype=np.int64), dtype)

    def nbytes(self, key: str) -> int:
        begin, end = self._entry(key)[2]["data_offsets"]
        return int(end - begin)

    def raw(self, key: str, offset: int, length: int) -> bytes:
        """``length`` stored bytes of tensor ``key`` from ``offset`` (one positioned read)."""
        path, data_start, entry = self._entry(key)
        begin, end = entry["data_offsets"]
        if offset < 0 or offset + length > end - begin:
            raise CorruptCheckpoint(f"{path}: bytes {offset}..{offset + length} are outside tensor {key!r}")
        with path.open("rb", buffering=0) as fh:
            fh.seek(data_start + begin + offset)
            data = fh.read(length)
        if len(data) != length:
            raise CorruptCheckpoint(f"{path}: {key!r} runs past the end of the file")
        return data


def _read_rows(store: Any, key: str, rows: np.ndarray, dtype: np.dtype | type) -> np.ndarray:
    """Rows of a 2-D safetensors tensor, one positioned read each: the rest is never read."""
    import os

    path, data_start, entry = store._entry(key)
    stored, shape = entry["dtype"], tuple(entry["shape"])
    if len(shape) != 2 or (stored not in _NUMPY_DTYPES and stored != "BF16"):
        return store.get(key, dtype=dtype)[rows]
    item = 2 if stored == "BF16" else np.dtype(_NUMPY_DTYPES[stored]).itemsize
    row_bytes = shape[1] * item
    raw = np.empty((len(rows), row_bytes), dtype=np.uint8)
    fd = os.open(path, os.O_RDONLY)
    try:
        for i, row in enumerate(rows):
            chunk = os.pread(fd, row_bytes, data_start + entry["data_offsets"][0] + int(row) * row_bytes)
            if len(chunk) != row_bytes:
                raise CorruptCheckpoint(f"{path}: {key!r} runs past the end of the file")
            raw[i] = np.frombuffer(chunk, dtype=np.uint8)
    finally:
        os.close(fd)
    return decode(raw, stored, (len(rows), shape[1]), dtype)


def decode(raw: np.ndarray, stored: str, shape: tuple[int, ...], dtype: np.dtype | type = np.float32) -> np.ndarray:
    """Raw safetensors bytes (uint8) of dtype ``stored`` as an array of ``shape`` in ``dtype``."""
    if stored == "BF16":
        arr = _widen_bf16(raw)
    elif stored in _NUMPY_DTYPES:
        arr = raw.view(_NUMPY_DTYPES[stored])
    else:
        raise UnsupportedFormat(f"tensors of dtype {stored} cannot be decoded here")
    return arr.reshape(shape).astype(dtype, copy=False)


def _widen_bf16(raw: np.ndarray) -> np.ndarray:
    """bf16 bytes as float32: bf16 is the top half of a float32 (one widening pass, one in-place shift)."""
    wide = raw.view(np.uint16).astype(np.uint32)
    np.left_shift(wide, 16, out=wide)
    return wide.view(np.float32)


def require_regular_file(path: Path) -> None:
    """A weight file must be a regular file: a FIFO would block forever, a device never end."""
    import stat

    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise CorruptCheckpoint(f"{path} cannot be read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(mode):
        raise UnsupportedFormat(f"{path} is not a regular file (a pipe, device or directory)",
                                hint="point at the model's weight files themselves")


def _safe_open(path: Path) -> Any:
    from safetensors import safe_open

    try:
        handle = safe_open(str(path), framework="numpy")
    except FileNotFoundError:
        raise MissingShard(f"{path} does not exist") from None
    except Exception as exc:  # safetensors checks that the header covers the file exactly
        raise CorruptCheckpoint(
            f"{path} is not a readable safetensors file ({exc})",
            hint="the file may be truncated or not safetensors at all; download it again",
        ) from None
    return handle


def _safe_open_ctx(path: Path) -> Any:
    from safetensors import safe_open

    return safe_open(str(path), framework="pt", device="cpu")


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
# gemma2/3 have four norms a layer: llama.cpp's ffn_norm is their pre-feed-forward norm, and the
# post-attention norm has a name of its own
_GGUF_LAYER_GEMMA = {**_GGUF_LAYER, "ffn_norm": "pre_feedforward_layernorm"}
_GGUF_GLOBAL = {"token_embd": "model.embed_tokens", "output": "lm_head", "output_norm": "model.norm"}
# llama.cpp's converter interleaves Q/K rows for these architectures (its `permute`)
_GGUF_PERMUTED_QK = {"llama"}
# ... and stores gemma's RMSNorm gains as (1 + w), where Hugging Face stores w and adds 1 in the
# forward pass; reading them back as w keeps one convention (``norm_weight_offset``) for both formats
_GGUF_NORM_PLUS_ONE = {"gemma", "gemma2", "gemma3", "gemma3n"}


class GGUFStore:
    """GGUF tensors under Hugging Face Llama-style names, dequantised one at a time."""

    def __init__(self, path: Path) -> None:
        from .gguf_header import GGUFHeader

        try:
            self._header = GGUFHeader(path)
        except Exception as exc:
            raise CorruptCheckpoint(f"{path} is not a readable GGUF file ({exc})") from None
        self.files: tuple[Path, ...] = (path,)
        fields = self._header.fields
        self.metadata = {name: value for name, value in fields.items()
                         if not name.startswith("tokenizer.ggml.") or name.endswith(("model", "_id"))}
        self.tokens = fields.get("tokenizer.ggml.tokens")
        self.token_types = fields.get("tokenizer.ggml.token_type")
        self.arch = str(self.metadata.get("general.architecture", "llama"))
        layer_names = _GGUF_LAYER_GEMMA if self.arch in ("gemma2", "gemma3") else _GGUF_LAYER
        self._tensors: dict[str, Any] = {}
        for t in self._header.tensors:  # a name already taken stays as GGUF spells it: unmapped, never dropped
            name = self._hf_name(t.name, layer_names)
            self._tensors[name if name not in self._tensors else t.name] = t
        cfg = self.config_dict()
        self._qk_heads = {"q_proj": cfg["num_attention_heads"], "k_proj": cfg["num_key_value_heads"]}

    @staticmethod
    def _hf_name(name: str, layer_names: dict[str, str]) -> str:
        stem, _, kind = name.rpartition(".")
        if m := re.fullmatch(r"blk\.(\d+)\.(\w+)", stem):
            mapped = layer_names.get(m.group(2), m.group(2))
            return f"model.layers.{m.group(1)}.{mapped}.{kind}"
        return f"{_GGUF_GLOBAL.get(stem, stem)}.{kind}"

    def config_dict(self) -> dict[str, Any]:
        a, md = self.arch, self.metadata

        def size(key: str) -> int:
            """A size the file must declare: present, an integer, at least 1."""
            value = md.get(f"{a}.{key}")
            if value is None:
                raise ConfigError(f"{self.files[0]}: GGUF metadata has no {a}.{key}",
                                  hint=f"architecture {a!r}: a file written by llama.cpp's converter declares it")
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ConfigError(f"{self.files[0]}: GGUF metadata {a}.{key} is {value!r}, not a size of at least 1")
            return int(value)

        hidden = size("embedding_length")
        n_heads = size("attention.head_count")
        vocab = md.get(f"{a}.vocab_size") or (len(self.tokens) if self.tokens else None)
        head_dim = size("attention.key_length") if f"{a}.attention.key_length" in md else hidden // n_heads
        return {
            "model_type": "gemma3_text" if a == "gemma3" else a,
            "architectures": [f"gguf:{a}"],
            "hidden_size": hidden,
            "num_hidden_layers": size("block_count"),
            "num_attention_heads": n_heads,
            "num_key_value_heads": int(md.get(f"{a}.attention.head_count_kv") or n_heads),
            "head_dim": int(head_dim),
            "intermediate_size": md.get(f"{a}.feed_forward_length"),
            "vocab_size": int(vocab) if vocab else None,
            "tie_word_embeddings": "lm_head.weight" not in self._tensors,
            "num_local_experts": md.get(f"{a}.expert_count"),
            "rope_theta": md.get(f"{a}.rope.freq_base"),
            "rms_norm_eps": md.get(f"{a}.attention.layer_norm_rms_epsilon"),
            "max_position_embeddings": md.get(f"{a}.context_length"),
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
        arr = np.asarray(dequantize(self._header.data(t), t.tensor_type), dtype=np.float32).reshape(self.shape(key))
        if self.arch in _GGUF_PERMUTED_QK and key.endswith(("q_proj.weight", "k_proj.weight")):
            arr = _unpermute_qk(arr, self._qk_heads[key.rsplit(".", 2)[-2]])
        if self.arch in _GGUF_NORM_PLUS_ONE and key.endswith("norm.weight"):
            arr = arr - np.float32(1.0)
        return arr.astype(dtype, copy=False)

    def get_rows(self, key: str, rows: np.ndarray, dtype: np.dtype | type = np.float32) -> np.ndarray:
        """``get(key)[rows]``, dequantising only those rows (an embedding's few thousand tokens)."""
        from gguf.quants import dequantize

        t = self._tensor(key)
        shape = self.shape(key)
        permuted = self.arch in _GGUF_PERMUTED_QK and key.endswith(("q_proj.weight", "k_proj.weight"))
        data = self._header.data(t)
        if len(shape) != 2 or data.ndim != 2 or data.shape[0] != shape[0] or permuted:
            return self.get(key, dtype=dtype)[rows]
        picked = np.ascontiguousarray(data[np.asarray(rows, dtype=np.int64)])
        arr = np.asarray(dequantize(picked, t.tensor_type), dtype=np.float32).reshape(len(rows), shape[1])
        return arr.astype(dtype, copy=False)


def _unpermute_qk(weight: np.ndarray, n_heads: int) -> np.ndarray:
    """Inverse of llama.cpp ``convert_hf_to_gguf.LlamaModel.permute``: (pairs interleaved) -> rotate_half order."""
    rows, cols = weight.shape
    return weight.reshape(n_heads, rows // n_heads // 2, 2, cols).swapaxes(1, 2).reshape(rows, cols)


# --- pickle ----------------------------------------------------------------------------------


class PickleStore:
    """A PyTorch pickle state dict, loaded whole with ``weights_only=True``."""

    def __init__(self, paths: list[Path]) -> None:
        self.files = tuple(paths)
        self._tensors: dict[str, Any] = {}
        self.model_args: dict[str, Any] | None = None
        import torch

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

    def _get(self, key: str) -> Any:
        if key not in self._tensors:
            raise MissingTensor(f"no tensor {key!r} in {self.files[0]}")
        return self._tensors[key]

    def get(self, key: str, dtype: np.dtype | type = np.float32) -> np.ndarray:
        return _to_numpy(self._get(key), dtype)


def _find_state_dict(obj: Any, path: Path) -> dict[str, Any]:
    import torch

    """A state dict may be the pickle itself or sit under a key (training checkpoints)."""
    if isinstance(obj, dict):
        for key in ("model", "state_dict", "model_state_dict", "module"):
            if isinstance(obj.get(key), dict):
                return _find_state_dict(obj[key], path)
        tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
        if tensors:
            return tensors
    raise UnsupportedFormat(f"{path} holds no tensor state dict")

