r"""Function-preserving reparameterisations: the model computes the same logits, its weights do not match.

Three kinds, each exact up to floating-point rounding (tests check the logits):

``rotate``
    Fold every RMSNorm gain ``g`` into the linear layers that read the normalised stream
    (``W <- W diag(g)``, then ``g <- 1``), then rotate the residual stream by a random orthogonal
    ``R`` (hidden_size x hidden_size)::

        embed_tokens <- E R^T     q/k/v, gate/up, lm_head <- W R^T     o_proj, down_proj <- R W

    RMSNorm commutes with ``R`` only once its gains are 1, because ``||R x|| = ||x||`` but
    ``g * (R x) != R (g * x)``; after folding every norm gain is exactly 1.
``permute``
    Permute the FFN neurons (rows of gate/up, columns of down), the key/value head groups with
    their query heads, and optionally the vocabulary (rows of ``embed_tokens`` and ``lm_head``
    together with the tokenizer's ids, special tokens kept in place).
``scale``
    Per-head ``q_proj * c``, ``k_proj / c`` (the attention logits ``q . k`` do not change and a
    scalar per head commutes with RoPE); per-channel ``v_proj * a``, ``o_proj / a``; per-neuron
    ``up_proj * s``, ``down_proj / s``.

References
----------
.. [1] S. Ashkboos et al., "SliceGPT: Compress Large Language Models by Deleting Rows and
   Columns", ICLR 2024 (computational invariance, norm folding).
.. [2] B. Zeng et al., "HuRef: HUman-REadable Fingerprint for Large Language Models",
   NeurIPS 2024 (the permutation and scaling attacks on weight fingerprints).
"""

from __future__ import annotations

import json
import math

import torch

from ..errors import UnsupportedFormat
from ._blocks import GPT2_LIKE, LLAMA_LIKE, decoder_layers, generator, head_dim, kv_heads, require, untie
from .registry import Derived, attack, victim_tokenizer


def random_orthogonal(n: int, seed: int = 0) -> torch.Tensor:
    """A Haar-random orthogonal matrix, float64, (n, n): QR of a Gaussian with the signs fixed."""
    q, r = torch.linalg.qr(torch.randn(n, n, generator=generator(seed), dtype=torch.float64))
    return q * torch.sign(torch.diagonal(r))[None, :]


def _set(param: torch.Tensor, value: torch.Tensor) -> None:
    param.data.copy_(value.to(param.dtype))


@torch.no_grad()
def fold_norm_gains(model) -> None:
    """Move every RMSNorm gain into the linear layers after it; all gains become 1 (logits unchanged)."""
    require(model, "fold", LLAMA_LIKE)
    untie(model)

    def fold(norm, readers) -> None:
        gain = norm.weight.double()
        for linear in readers:
            _set(linear.weight, linear.weight.double() * gain[None, :])
        norm.weight.data.fill_(1.0)

    for layer in decoder_layers(model):
        attn, mlp = layer.self_attn, layer.mlp
        fold(layer.input_layernorm, [attn.q_proj, attn.k_proj, attn.v_proj])
        fold(layer.post_attention_layernorm, [mlp.gate_proj, mlp.up_proj])
    fold(model.model.norm, [model.lm_head])


@attack("rotate")
@torch.no_grad()
def rotate(model, *, seed: int = 0, progress: bool = False):
    """Fold norm gains, then rotate the residual stream by a seeded random orthogonal matrix."""
    require(model, "rotate", LLAMA_LIKE)
    fold_norm_gains(model)
    rot = random_orthogonal(model.config.hidden_size, seed)
    embed = model.get_input_embeddings()
    _set(embed.weight, embed.weight.double() @ rot.T)
    for layer in decoder_layers(model):
        attn, mlp = layer.self_attn, layer.mlp
        for reader in (attn.q_proj, attn.k_proj, attn.v_proj, mlp.gate_proj, mlp.up_proj):
            _set(reader.weight, reader.weight.double() @ rot.T)
        for writer in (attn.o_proj, mlp.down_proj):
            _set(writer.weight, rot @ writer.weight.double())
            if writer.bias is not None:
                _set(writer.bias, rot @ writer.bias.double())
    _set(model.lm_head.weight, model.lm_head.weight.double() @ rot.T)
    return model


def _attention_rows(model, q_heads_order: list[int], kv_order: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    hd = head_dim(model)
    q_rows = torch.cat([torch.arange(h * hd, (h + 1) * hd) for h in q_heads_order])
    kv_rows = torch.cat([torch.arange(h * hd, (h + 1) * hd) for h in kv_order])
    return q_rows, kv_rows


@attack("permute")
@torch.no_grad()
def permute(model, *, seed: int = 0, ffn: bool = True, heads: bool = True, vocab: bool = False,
            progress: bool = False):
    """Permute FFN neurons, attention head groups and (``vocab=True``) the vocabulary ids."""
    kind = require(model, "permute", LLAMA_LIKE + GPT2_LIKE)
    gen = generator(seed)
    n_heads, n_kv = model.config.num_attention_heads, kv_heads(model)
    per_group = n_heads // n_kv
    for layer in decoder_layers(model):
        if kind in GPT2_LIKE:
            fc, proj = layer.mlp.c_fc, layer.mlp.c_proj  # Conv1D: weight (in, out)
            if ffn:
                perm = torch.randperm(fc.weight.shape[1], generator=gen)
                fc.weight.data, fc.bias.data = fc.weight.data[:, perm], fc.bias.data[perm]
                proj.weight.data = proj.weight.data[perm, :]
            if heads:
                _permute_gpt2_heads(layer.attn, model, torch.randperm(n_heads, generator=gen).tolist())
            continue
        mlp, attn = layer.mlp, layer.self_attn
        if ffn:
            perm = torch.randperm(mlp.up_proj.out_features, generator=gen)
            for reader in (mlp.gate_proj, mlp.up_proj):
                reader.weight.data = reader.weight.data[perm]
            mlp.down_proj.weight.data = mlp.down_proj.weight.data[:, perm]
        if heads:
            kv_order = torch.randperm(n_kv, generator=gen).tolist()
            q_order = [g * per_group + int(i) for g in kv_order for i in torch.randperm(per_group, generator=gen)]
            q_rows, kv_rows = _attention_rows(model, q_order, kv_order)
            for proj, rows in ((attn.q_proj, q_rows), (attn.k_proj, kv_rows), (attn.v_proj, kv_rows)):
                proj.weight.data = proj.weight.data[rows]
                if proj.bias is not None:
                    proj.bias.data = proj.bias.data[rows]
            attn.o_proj.weight.data = attn.o_proj.weight.data[:, q_rows]
    if not vocab:
        return model
    return permute_vocabulary(model, victim_tokenizer(), seed=seed)


def _permute_gpt2_heads(attn, model, order: list[int]) -> None:
    d, hd = model.config.hidden_size, head_dim(model)
    rows = torch.cat([torch.arange(h * hd, (h + 1) * hd) for h in order])
    cols = torch.cat([rows + part * d for part in range(3)])  # c_attn packs [q | k | v] along its outputs
    attn.c_attn.weight.data = attn.c_attn.weight.data[:, cols]
    attn.c_attn.bias.data = attn.c_attn.bias.data[cols]
    attn.c_proj.weight.data = attn.c_proj.weight.data[rows, :]


@torch.no_grad()
def permute_vocabulary(model, tokenizer, *, seed: int = 0) -> Derived:
    """Shuffle token ids: rows of ``embed_tokens`` / ``lm_head`` and the tokenizer's vocabulary alike.

    Special tokens and the config's bos/eos/pad ids keep their ids, so generation settings stay
    valid. Text in, text out, the model behaves exactly as before; only the ids differ.
    """
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    vocab_size = model.get_input_embeddings().weight.shape[0]
    fixed = set(tokenizer.all_special_ids) | {getattr(model.config, k, None) for k in
                                              ("bos_token_id", "eos_token_id", "pad_token_id")}
    fixed |= set(range(len(tokenizer), vocab_size))  # padding rows no piece maps to
    movable = torch.tensor([i for i in range(vocab_size) if i not in fixed])
    new_of_old = torch.arange(vocab_size)
    new_of_old[movable] = movable[torch.randperm(len(movable), generator=generator(seed + 1))]
    old_of_new = torch.argsort(new_of_old)

    embed, head = model.get_input_embeddings(), model.get_output_embeddings()
    tied = head is not None and head.weight.data_ptr() == embed.weight.data_ptr()
    embed.weight.data = embed.weight.data[old_of_new]
    if head is not None:
        if tied:
            head.weight = embed.weight
        else:
            head.weight.data = head.weight.data[old_of_new]
        if getattr(head, "bias", None) is not None:
            head.bias.data = head.bias.data[old_of_new]

    spec = json.loads(tokenizer.backend_tokenizer.to_str())
    model_spec = spec["model"]
    if isinstance(model_spec.get("vocab"), dict):  # BPE / WordPiece: piece -> id
        model_spec["vocab"] = {piece: int(new_of_old[i]) for piece, i in model_spec["vocab"].items()}
    elif isinstance(model_spec.get("vocab"), list):  # Unigram: the id is the position
        model_spec["vocab"] = [model_spec["vocab"][int(i)] for i in old_of_new[: len(model_spec["vocab"])]]
        if model_spec.get("unk_id") is not None:
            model_spec["unk_id"] = int(new_of_old[model_spec["unk_id"]])
    else:
        raise UnsupportedFormat(f"cannot permute a {model_spec.get('type')!r} tokenizer's vocabulary")
    permuted = PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(json.dumps(spec)),
                                       **{k: v for k, v in tokenizer.special_tokens_map.items()
                                          if isinstance(v, str)})
    return Derived(model, permuted)


@attack("shuffle-vocab")
def shuffle_vocab(model, *, seed: int = 0, progress: bool = False) -> Derived:
    """Token ids permuted, the tokenizer rewritten to match: the model is unchanged as text in, text out."""
    return permute_vocabulary(model, victim_tokenizer(), seed=seed)


@attack("extend-vocab")
@torch.no_grad()
def extend_vocab(model, *, tokens: int = 64, seed: int = 0, progress: bool = False) -> Derived:
    """``tokens`` new tokens appended to the tokenizer, ``embed_tokens`` and ``lm_head`` (a thief adding a
    language's or a domain's pieces): new rows are the mean row plus small noise, old rows untouched."""
    from tokenizers import AddedToken

    tokenizer = victim_tokenizer()
    rng = generator(seed + 7)
    added = [AddedToken(f"<ext_{seed}_{i}>", special=False) for i in range(int(tokens))]
    tokenizer.add_tokens(added)
    old = model.get_input_embeddings().weight.shape[0]
    new_size = max(old, len(tokenizer))
    embed, head = model.get_input_embeddings(), model.get_output_embeddings()
    tied = head is not None and head.weight.data_ptr() == embed.weight.data_ptr()
    model.resize_token_embeddings(new_size, mean_resizing=False)
    for layer in [model.get_input_embeddings()] + ([] if tied or head is None else [model.get_output_embeddings()]):
        rows = layer.weight.data
        mean, sd = rows[:old].mean(dim=0), rows[:old].std() * 0.1
        rows[old:] = mean + sd * torch.randn(new_size - old, rows.shape[1], generator=rng)
    return Derived(model, tokenizer)


@attack("scale")
@torch.no_grad()
def scale(model, *, seed: int = 0, factor: float = 8.0, qk: bool = True, vo: bool = True, ffn: bool = True,
          progress: bool = False):
    """Scale Q/K per head by ``c`` and ``1/c``, V/O per channel, up/down per neuron; ``c`` log-uniform in [1/factor, factor]."""
    kind = require(model, "scale", LLAMA_LIKE + GPT2_LIKE)
    if not factor >= 1.0:
        raise UnsupportedFormat(f"scale factor must be >= 1, got {factor}")
    gen = generator(seed)
    spread = math.log(factor)

    def draw(n: int) -> torch.Tensor:
        return torch.exp((2 * torch.rand(n, generator=gen, dtype=torch.float64) - 1) * spread)

    hd, n_heads, n_kv = head_dim(model), model.config.num_attention_heads, kv_heads(model)
    per_group = n_heads // n_kv
    for layer in decoder_layers(model):
        if kind in GPT2_LIKE:
            _scale_gpt2(layer.attn, model.config.hidden_size, hd, draw, qk=qk, vo=vo)
            continue
        attn, mlp = layer.self_attn, layer.mlp
        if qk:
            c = draw(n_kv).repeat_interleave(hd)                   # one scalar per kv head ...
            _scale_rows(attn.k_proj, 1.0 / c)
            _scale_rows(attn.q_proj, c.view(n_kv, 1, hd).expand(n_kv, per_group, hd).reshape(-1))  # ... and its q heads
        if vo:
            a = draw(n_kv * hd)
            _scale_rows(attn.v_proj, a)
            inv = (1.0 / a).view(n_kv, 1, hd).expand(n_kv, per_group, hd).reshape(-1)
            _set(attn.o_proj.weight, attn.o_proj.weight.double() * inv[None, :])
        if ffn:
            s = draw(mlp.up_proj.out_features)
            _scale_rows(mlp.up_proj, s)  # silu(gate) * up is linear in up
            _set(mlp.down_proj.weight, mlp.down_proj.weight.double() / s[None, :])
    return model


def _scale_rows(linear, factors: torch.Tensor) -> None:
    _set(linear.weight, linear.weight.double() * factors[:, None])
    if linear.bias is not None:
        _set(linear.bias, linear.bias.double() * factors)


def _scale_gpt2(attn, d: int, hd: int, draw, *, qk: bool, vo: bool) -> None:
    w, b = attn.c_attn.weight, attn.c_attn.bias  # Conv1D (in, 3d): columns [q | k | v]
    factors = torch.ones(3 * d, dtype=torch.float64)
    if qk:
        c = draw(d // hd).repeat_interleave(hd)
        factors[:d], factors[d:2 * d] = c, 1.0 / c
    if vo:
        a = draw(d)
        factors[2 * d:] = a
        _set(attn.c_proj.weight, attn.c_proj.weight.double() / a[:, None])
    _set(w, w.double() * factors[None, :])
    _set(b, b.double() * factors)
