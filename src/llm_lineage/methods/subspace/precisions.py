r"""The precisions copies are shipped at: the owner's lm_head rows as a redistributed copy would hold them.

A re-saved or quantised copy is not an arbitrary perturbation of the owner's lm_head ``W``: it is
``T(W)`` for a deterministic transform ``T`` that anyone holding ``W`` can apply. So each transform
here gives an *exact* hypothesis, "the suspect's head is ``T(W)``", tested like the exact copy: the
suspect's outputs against ``span([T(W)_T, b_T, 1])`` with the random-vector null of
:func:`.core.compatibility` (Bonferroni over the transforms tried). Every transform acts on each
row of ``W`` alone (blocks along the hidden dimension), so the key's token rows ``W_T`` suffice.

* ``float16``, ``bfloat16``: a dtype cast, round to nearest even (``torch.Tensor.to``);
* GGUF ``Q8_0``, ``Q5_1``, ``Q5_0``, ``Q4_1``, ``Q4_0``: quantised and dequantised with gguf-py's
  ``quants``, which its own tests check bit for bit against ggml's reference quantisers;
* GGUF ``Q6_K``, ``Q5_K``, ``Q4_K``, ``Q3_K``, ``Q2_K``: with ggml's own ``ggml_quantize_chunk``
  from llama-cpp-python's bundled library (``pip install "llm-lineage[llamacpp]"``); without it
  they are not tried, and the result says so;
* ``int8`` / ``int4`` symmetric round to nearest in groups of 32, 64 or 128 with float32 scales,
  ``w' = round(w / s) s`` with ``s = max|w_g| / q_max``, computed in float32 as llama2.c's
  ``export.py`` does (its Q8 ``version 2`` files; the real ``stories260k-q80`` copy is reproduced
  bit for bit).

What this cannot catch: quantisers whose output depends on data the owner does not have
(llama.cpp's importance matrix, GPTQ, AWQ, SmoothQuant calibration sets), a head fine-tuned after
quantising, or a transform not listed. Those stay with the perturbation estimate and the
language-model null (:mod:`.lm_null`), which need reference models.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np


@dataclass(frozen=True)
class Precision:
    """One way a copy is shipped: its name in a verdict and the row transform."""

    name: str
    block: int                                   # rows must be a multiple of this wide
    apply: Callable[[np.ndarray], np.ndarray]    # (n, hidden) float32 -> (n, hidden) float32


def _cast(dtype: str) -> Callable[[np.ndarray], np.ndarray]:
    def apply(rows: np.ndarray) -> np.ndarray:
        import torch

        return torch.from_numpy(np.ascontiguousarray(rows, dtype=np.float32)).to(getattr(torch, dtype)).float().numpy()
    return apply


def _gguf(qtype: str) -> Callable[[np.ndarray], np.ndarray]:
    def apply(rows: np.ndarray) -> np.ndarray:
        from gguf import GGMLQuantizationType, quants

        kind = GGMLQuantizationType[qtype]
        rows = np.ascontiguousarray(rows, dtype=np.float32)
        return np.asarray(quants.dequantize(quants.quantize(rows, kind), kind), dtype=np.float32).reshape(rows.shape)
    return apply


def _ggml(qtype: str) -> Callable[[np.ndarray], np.ndarray]:
    def apply(rows: np.ndarray) -> np.ndarray:
        from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, quants

        kind = GGMLQuantizationType[qtype]
        rows = np.ascontiguousarray(rows, dtype=np.float32)
        n, width = rows.shape
        block, type_size = GGML_QUANT_SIZES[kind]
        out = np.zeros((n, width // block * type_size), dtype=np.uint8)
        lib = _ggml_library()
        assert lib is not None
        lib.ggml_quantize_chunk(int(kind), rows.ctypes.data_as(ctypes.c_void_p), out.ctypes.data_as(ctypes.c_void_p),
                                0, n, width, None)
        return np.asarray(quants.dequantize(out, kind), dtype=np.float32).reshape(rows.shape)
    return apply


def _symmetric(bits: int, group: int) -> Callable[[np.ndarray], np.ndarray]:
    def apply(rows: np.ndarray) -> np.ndarray:
        q_max = np.float32(2 ** (bits - 1) - 1)
        x = np.ascontiguousarray(rows, dtype=np.float32).reshape(-1, group)
        scale = np.abs(x).max(axis=1, keepdims=True) / q_max
        q = np.clip(np.round(x / np.where(scale > 0, scale, np.float32(1))), -q_max - 1, q_max)
        return (q * scale).astype(np.float32).reshape(rows.shape)
    return apply


@cache
def _ggml_library() -> ctypes.CDLL | None:
    """ggml as llama-cpp-python ships it, with ``ggml_quantize_chunk`` typed; None without it."""
    try:
        import llama_cpp  # noqa: F401  (loads its libraries)
        from llama_cpp import _ggml
    except Exception:
        return None
    lib = getattr(_ggml, "libggml", None)
    if lib is None or not hasattr(lib, "ggml_quantize_chunk"):
        return None
    lib.ggml_quantize_chunk.restype = ctypes.c_size_t
    lib.ggml_quantize_chunk.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                                        ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p]
    return lib


def precisions() -> tuple[tuple[Precision, ...], tuple[str, ...]]:
    """``(available, not available here)``: every transform this installation can apply exactly."""
    found = [Precision("bfloat16", 1, _cast("bfloat16")), Precision("float16", 1, _cast("float16"))]
    found += [Precision(f"GGUF {q}", 32, _gguf(q)) for q in ("Q8_0", "Q5_1", "Q5_0", "Q4_1", "Q4_0")]
    k_quants = ("Q6_K", "Q5_K", "Q4_K", "Q3_K", "Q2_K")
    missing: tuple[str, ...] = ()
    if _ggml_library() is not None:
        found += [Precision(f"GGUF {q}", 256, _ggml(q)) for q in k_quants]
    else:
        missing = tuple(f"GGUF {q}" for q in k_quants)
    for bits in (8, 4):
        found += [Precision(f"int{bits} groups of {g}" + (" (llama2.c Q8)" if bits == 8 and g == 32 else ""),
                            g, _symmetric(bits, g)) for g in (32, 64, 128)]
    return tuple(found), missing


def relative_change(rows: np.ndarray, shipped: np.ndarray) -> float:
    """rms(T(W) - W) / rms(W) on the rows given."""
    rows = np.asarray(rows, dtype=np.float64)
    return float(np.linalg.norm(np.asarray(shipped, dtype=np.float64) - rows)) / max(float(np.linalg.norm(rows)), 1e-300)
