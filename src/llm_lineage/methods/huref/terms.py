r"""The invariant terms of one block, and the Pearson correlation of two such terms.

Every HuRef term has the form ``M = X A X^T`` with X the (n, hidden_size) embedding rows of the
token set and A a (hidden_size, hidden_size) matrix made of one block's weights (HF ``[out, in]``
convention). Storing A instead of the n x n matrix M keeps a fingerprint small and lets
:func:`correlation` compute the Pearson correlation of two n x n terms exactly from d x d
products, so no n x n matrix is ever formed (a 4096 x 4096 float32 slice would be 64 MB).

``huref`` mode, the paper's terms on the stored weights (GQA: query head h pairs with KV group
g(h) = h // (num_attention_heads / num_key_value_heads), as ``repeat_kv`` does in the forward)::

    A_attn = sum_h W_Q,h^T W_K,g(h)                      M_a = X W_Q^T W_K X^T
    A_vo   = sum_h W_V,g(h)^T W_O,h^T                     M_b = X W_V^T W_O^T X^T
    A_ffn  = (W_gate^T * W_up^T) W_down^T   (gated)       M_f, * elementwise
    A_ffn  = W_in^T W_out^T                 (plain MLP)

``invariant`` mode folds the norm gains g (``offset + weight``, Gemma's offset is 1) into the
input side, D = diag(g), and replaces the FFN term by one that survives residual rotation::

    A_attn = D (sum_h W_Q,h^T W_K,g(h)) D
    A_vo   = D sum_h W_V,g(h)^T W_O,h^T
    A_ffn  = D W_up^T diag(||D W_gate,i||_2) W_down^T     (gated; W_in^T W_out^T plain)

With gains folded, a residual rotation R (X -> X R, W_in-side -> W R, W_out-side -> R^T W)
cancels in every product; per-group Q/K scaling (W_Q c, W_K / c), V/O scaling, FFN neuron
permutation and up/down scaling cancel in the sums over heads and neurons. Biases, Qwen3's
per-head q/k norms and Gemma 2's post-norms are not part of the terms.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from ...errors import ConfigError, InputError
from ...weights import Checkpoint

TERMS = ("attn", "vo", "ffn")


def resolve_layers(layers: Sequence[int] | Literal["all"], n_layers: int) -> list[tuple[str, int]]:
    """``(label, block index)`` pairs; negative indices count from the end and keep a relative label."""
    if layers == "all":
        return [(f"L{i}", i) for i in range(n_layers)]
    out = []
    for spec in layers:
        index = spec + n_layers if spec < 0 else spec
        if not 0 <= index < n_layers:
            raise InputError(f"layer {spec} is outside the model's {n_layers} blocks")
        out.append((f"L{spec}", index))
    return out


def _gain(ckpt: Checkpoint, role: str, layer: int, hidden: int) -> np.ndarray:
    if not ckpt.has(role, layer):
        return np.ones(hidden)
    return ckpt.tensor(role, layer, dtype=np.float64) + ckpt.config.norm_weight_offset


def attention_terms(ckpt: Checkpoint, layer: int, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """``(A_attn, A_vo)`` of one block, float64, shape (hidden_size, hidden_size) each."""
    cfg = ckpt.config
    heads, kv, head_dim = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
    # read losslessly (float32 for any 8-32-bit checkpoint), multiplied in float64
    q = ckpt.tensor("q_proj", layer, dtype=ckpt.lossless_dtype)
    k = ckpt.tensor("k_proj", layer, dtype=ckpt.lossless_dtype)
    hidden = q.shape[1]
    if q.shape[0] != heads * head_dim or k.shape[0] != kv * head_dim or heads % kv:
        raise ConfigError(f"{ckpt.path}: layer {layer} q_proj {q.shape} / k_proj {k.shape} do not match "
                          f"{heads} heads, {kv} KV heads of size {head_dim}")
    # 1. sum the query heads that share one KV group: sum_h W_Q,h^T W_K,g(h) = sum_g (sum_h W_Q,h)^T W_K,g
    q_grouped = q.reshape(kv, heads // kv, head_dim, hidden).sum(axis=1, dtype=np.float64)
    del q
    a_attn = q_grouped.reshape(kv * head_dim, hidden).T @ k.astype(np.float64)
    del k, q_grouped
    v = ckpt.tensor("v_proj", layer, dtype=ckpt.lossless_dtype)
    o = ckpt.tensor("o_proj", layer, dtype=ckpt.lossless_dtype)
    # 2. W_O's columns of the heads in one group act on the same V rows
    o_grouped = o.T.reshape(kv, heads // kv, head_dim, hidden).sum(axis=1, dtype=np.float64)
    del o
    a_vo = v.T.astype(np.float64) @ o_grouped.reshape(kv * head_dim, hidden)
    del v, o_grouped
    if mode == "invariant":
        gain = _gain(ckpt, "attn_norm", layer, hidden)
        a_attn *= gain[:, None]
        a_attn *= gain[None, :]
        a_vo *= gain[:, None]
    return a_attn, a_vo


_NEURON_CHUNK = 1024  # neurons widened to float64 at a time: 32 MB per matrix at hidden 4096


def _gated_term(gate: np.ndarray, up: np.ndarray, down: np.ndarray, gain: np.ndarray, mode: str) -> np.ndarray:
    """The FFN term, summed over chunks of neurons in float64 from the (float32) weights: a 7B
    layer's three matrices in float64 at once, with their temporaries, took 2.6 GB."""
    out = np.zeros((gate.shape[1], down.shape[0]))
    for start in range(0, gate.shape[0], _NEURON_CHUNK):
        g = gate[start:start + _NEURON_CHUNK].astype(np.float64)
        u = up[start:start + _NEURON_CHUNK].astype(np.float64)
        d = down[:, start:start + _NEURON_CHUNK].astype(np.float64)
        if mode == "huref":
            out += (g * u).T @ d.T
        else:
            gate_norms = np.linalg.norm(g * gain[None, :], axis=1)
            out += (gain[:, None] * (u.T * gate_norms[None, :])) @ d.T
    return out


def ffn_term(ckpt: Checkpoint, layer: int, mode: str) -> np.ndarray:
    """``A_ffn`` of one block; an MoE layer sums its experts' terms (expert order does not matter)."""
    hidden = ckpt.config.hidden_size
    gain = _gain(ckpt, "mlp_norm", layer, hidden) if mode == "invariant" else np.ones(hidden)
    if ckpt.is_moe and ckpt.config.num_experts:
        total = np.zeros((hidden, hidden))
        for expert in range(ckpt.config.num_experts):
            gate, up, down = (ckpt.tensor(r, layer, expert=expert, dtype=ckpt.lossless_dtype)
                              for r in ("gate_proj", "up_proj", "down_proj"))
            total += _gated_term(gate, up, down, gain, mode)
        return total
    if ckpt.gated_mlp:
        gate, up, down = (ckpt.tensor(r, layer, dtype=ckpt.lossless_dtype) for r in ("gate_proj", "up_proj", "down_proj"))
        return _gated_term(gate, up, down, gain, mode)
    w_in = ckpt.tensor("fc_in", layer, dtype=np.float64)
    w_out = ckpt.tensor("fc_out", layer, dtype=np.float64)
    return (gain[:, None] * w_in.T) @ w_out.T


def block_terms(ckpt: Checkpoint, layer: int, mode: str) -> dict[str, np.ndarray]:
    """All three terms of one block; only this block's weights are in memory meanwhile."""
    a_attn, a_vo = attention_terms(ckpt, layer, mode)
    return {"attn": a_attn, "vo": a_vo, "ffn": ffn_term(ckpt, layer, mode)}


# --- Pearson correlation of X1 A1 X1^T and X2 A2 X2^T without forming them ----------------------


def moments(x: np.ndarray, a: np.ndarray, gram: np.ndarray | None = None) -> tuple[float, float]:
    r"""Mean and variance of the entries of ``M = X A X^T`` (n x n)::

        sum M = s^T A s,  s = X^T 1;      sum M^2 = tr(A^T G A G),  G = X^T X
    """
    n = x.shape[0]
    s = x.sum(axis=0)
    # products in the term's own precision (float32 as stored: hidden^2 temporaries are 64 MB at
    # 7B, not 128), sums in float64
    g = (x.T @ x if gram is None else gram).astype(a.dtype, copy=False)
    mean = float(s @ a.astype(np.float64, copy=False) @ s) / n**2
    square = float(np.sum((a.T @ g) * (a @ g).T, dtype=np.float64)) / n**2
    return mean, square - mean**2


def correlation(x1: np.ndarray, a1: np.ndarray, x2: np.ndarray, a2: np.ndarray,
                cross: np.ndarray | None = None) -> float:
    r"""Pearson correlation of the entries of ``X1 A1 X1^T`` and ``X2 A2 X2^T`` (same n rows)::

        <M1, M2>_F = tr(A1^T C A2 C^T),  C = X1^T X2

    ``x`` are float64 (n, d1) and (n, d2); the hidden sizes may differ.

    >>> rng = np.random.default_rng(0)
    >>> x, a = rng.normal(size=(30, 4)), rng.normal(size=(4, 4))
    >>> m = x @ a @ x.T
    >>> bool(np.isclose(correlation(x, a, x, a), 1.0))
    True
    >>> bool(np.isclose(correlation(x, a, x, -a), np.corrcoef(m.ravel(), -m.ravel())[0, 1]))
    True
    """
    if x1.shape[0] != x2.shape[0]:
        raise ValueError("both terms must be evaluated on the same tokens")
    n = x1.shape[0]
    c = x1.T @ x2 if cross is None else cross
    mean1, var1 = moments(x1, a1)
    mean2, var2 = moments(x2, a2)
    if var1 <= 0 or var2 <= 0:
        return float("nan")
    c = c.astype(np.result_type(a1, a2), copy=False)
    inner = float(np.sum((a1.T @ c) * (a2 @ c.T).T, dtype=np.float64)) / n**2
    return float(np.clip((inner - mean1 * mean2) / np.sqrt(var1 * var2), -1.0, 1.0))
