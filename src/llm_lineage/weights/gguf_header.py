"""A GGUF header read without building a Python object per metadata array element.

``gguf.GGUFReader`` turns every element of every metadata array into numpy views; for a 49k-token
vocabulary with its merges that is ~160 MB of objects before the first tensor is read (measured on
SmolLM2-135M: RSS 31 -> 193 MB), more than a whole fingerprint needs. This reads the same header
(GGUF v2/v3, either byte order) with ``struct`` over a memory map: scalars and the token list are
kept, the tokenizer's other arrays are skipped, tensors are described by (type, shape, offset) and handed out as
memory-mapped views shaped as ``GGUFReader`` shapes them, so ``gguf.quants.dequantize`` (the
library's, not ours) decodes them unchanged.

Format: https://github.com/ggml-org/ggml/blob/master/docs/gguf.md
"""

from __future__ import annotations

import math
import mmap
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

_MAGIC = b"GGUF"
_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_STRING, _ARRAY = 8, 9
# the tokenizer's arrays are the large ones (tokens, scores, types, merges: one element per token);
# kept: the tokens (the tokenizer hash) and their types (which are control tokens)
_KEEP_TOKENIZER_ARRAYS = {"tokenizer.ggml.tokens", "tokenizer.ggml.token_type"}
_MAX_DIMS = 4  # GGML_MAX_DIMS
_MIN_KV_BYTES = 8 + 4 + 1           # key length, value type, the smallest value
_MIN_TENSOR_INFO_BYTES = 8 + 4 + 8 + 4 + 8  # name length, n_dims, one dim, type, offset
_PLAIN = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I8": np.int8, "I16": np.int16,
          "I32": np.int32, "I64": np.int64}


@dataclass(frozen=True)
class TensorInfo:
    name: str
    tensor_type: Any          # gguf.GGMLQuantizationType
    shape: tuple[int, ...]    # GGUF order: fastest-varying dimension first
    offset: int               # absolute byte offset of the data in the file


class GGUFHeader:
    """Metadata and tensor descriptions of one GGUF file; tensor data stay on disk until asked."""

    def __init__(self, path: str | Path) -> None:
        with open(path, "rb") as handle:
            self._map = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        buf = self._map
        if len(buf) < 24 or buf[:4] != _MAGIC:
            raise ValueError("GGUF magic invalid")
        (version,) = struct.unpack_from("<I", buf, 4)
        self._order = "<" if version & 0xFFFF else ">"  # a byte-swapped version reads as 0x0N000000
        (self.version,) = struct.unpack_from(self._order + "I", buf, 4)
        if self.version not in (2, 3):
            raise ValueError(f"GGUF version {self.version} is not supported (2 and 3 are)")
        n_tensors, n_kv = struct.unpack_from(self._order + "QQ", buf, 8)
        # every entry takes at least its smallest encoding: counts the file cannot hold are lies,
        # refused before any loop or list sized by them
        if n_kv * _MIN_KV_BYTES + n_tensors * _MIN_TENSOR_INFO_BYTES > len(buf) - 24:
            raise ValueError(f"header declares {n_tensors} tensors and {n_kv} metadata entries, more than "
                             f"{len(buf)} bytes can hold")
        self._pos = 24
        try:
            self._read_entries(n_tensors, n_kv)
        except struct.error:
            raise ValueError("the header runs past the end of the file") from None

    def _read_entries(self, n_tensors: int, n_kv: int) -> None:
        self.fields: dict[str, Any] = {}
        for _ in range(n_kv):
            key = self._string()
            (kind,) = self._unpack("I")
            keep = not key.startswith("tokenizer.ggml.") or key in _KEEP_TOKENIZER_ARRAYS
            self.fields[key] = self._value(kind, keep=keep)
        infos = []
        for _ in range(n_tensors):
            name = self._string()
            (n_dims,) = self._unpack("I")
            if not 1 <= n_dims <= _MAX_DIMS:
                raise ValueError(f"tensor {name!r} declares {n_dims} dimensions (GGUF allows 1 to {_MAX_DIMS})")
            dims = self._unpack("Q" * n_dims)
            kind, offset = self._unpack("IQ")
            infos.append((name, tuple(int(d) for d in dims), kind, offset))
        alignment = int(self.fields.get("general.alignment", 32))
        if alignment <= 0 or alignment & (alignment - 1):
            raise ValueError(f"invalid alignment {alignment}: must be a power of two")
        data_start = -(-self._pos // alignment) * alignment

        from gguf import GGMLQuantizationType

        self.tensors = [TensorInfo(name, GGMLQuantizationType(kind), dims, data_start + offset)
                        for name, dims, kind, offset in infos]
        for info in self.tensors:  # a truncated file fails here, not at the first read of a late tensor
            dtype, count, _ = self._layout(info)
            if info.offset + count * dtype.itemsize > len(self._map):
                raise ValueError(f"tensor {info.name!r} runs past the end of the file")

    def data(self, info: TensorInfo) -> np.ndarray:
        """The tensor's stored bytes as ``GGUFReader`` shapes them: typed for plain types, else
        uint8 rows of quantised blocks. A read-only view of the memory map (nothing copied)."""
        dtype, count, shape = self._layout(info)
        return np.frombuffer(self._map, dtype=dtype, count=count, offset=info.offset).reshape(shape)

    def _layout(self, info: TensorInfo) -> tuple[np.dtype, int, tuple[int, ...]]:
        from gguf.constants import GGML_QUANT_SIZES
        from gguf.quants import quant_shape_to_byte_shape

        shape = tuple(reversed(info.shape))
        n_elements = math.prod(info.shape)  # Python ints: declared dims of 2**32 x 2**32 do not wrap
        plain = _PLAIN.get(info.tensor_type.name)
        if plain is not None:
            return np.dtype(plain).newbyteorder(self._order), n_elements, shape  # type: ignore[arg-type]  # "<" or ">"
        block, size = GGML_QUANT_SIZES[info.tensor_type]
        if not info.shape or info.shape[0] % block:
            raise ValueError(f"tensor {info.name!r}: rows of {info.shape[0] if info.shape else 0} values are not "
                             f"whole {info.tensor_type.name} blocks of {block}")
        return np.dtype(np.uint8), n_elements // block * size, quant_shape_to_byte_shape(shape, info.tensor_type)

    # --- reading the header -----------------------------------------------------------------

    def _unpack(self, fmt: str) -> tuple[Any, ...]:
        values = struct.unpack_from(self._order + fmt, self._map, self._pos)
        self._pos += struct.calcsize(self._order + fmt)
        return values

    def _skip(self, n_bytes: int) -> int:
        """Advance past ``n_bytes`` that must lie in the file; the start offset."""
        if n_bytes > len(self._map) - self._pos:
            raise ValueError(f"a header entry at byte {self._pos} declares {n_bytes} bytes, past the end of the file")
        start, self._pos = self._pos, self._pos + n_bytes
        return start

    def _string(self) -> str:
        (n,) = self._unpack("Q")
        start = self._skip(n)
        return bytes(self._map[start:self._pos]).decode("utf-8", errors="replace")

    def _value(self, kind: int, *, keep: bool = True) -> Any:
        if kind in _SCALARS:
            return self._unpack(_SCALARS[kind])[0]
        if kind == _STRING:
            return self._string()
        if kind != _ARRAY:
            raise ValueError(f"unknown GGUF value type {kind} at byte {self._pos}")
        item, count = self._unpack("IQ")
        if item in _SCALARS:  # a fixed size per element: read at once, or skipped without reading
            dtype = np.dtype(self._order + _SCALARS[item])
            start = self._skip(count * dtype.itemsize)
            return np.frombuffer(self._map, dtype=dtype, count=count, offset=start).tolist() if keep else None
        if count * 8 > len(self._map) - self._pos:  # strings and arrays take 8 bytes at least
            raise ValueError(f"an array at byte {self._pos} declares {count} elements, more than the file holds")
        if item == _STRING and not keep:
            for _ in range(count):
                (n,) = self._unpack("Q")
                self._skip(n)
            return None
        return [self._value(item) for _ in range(count)]
