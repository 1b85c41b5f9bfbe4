"""Where a registered fingerprint came from: files, hashes, architecture, tool version, time.

Provenance is what lets an owner defend a registry entry later: the sha256 of every weight file
proves which bytes were fingerprinted, the tokenizer hash says which vocabulary the token ids mean.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from ..weights import Checkpoint
from ..weights.hub import origin

_CHUNK = 1 << 22


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def weight_files(ckpt: Checkpoint) -> list[Path]:
    return sorted({Path(p) for p in ckpt.store.files})


def provenance(ckpt: Checkpoint, *, source: str | None = None) -> dict[str, Any]:
    """Provenance record of a checkpoint (a plain JSON-able dict)."""
    from .. import __version__

    files = weight_files(ckpt)
    root = ckpt.path if ckpt.path.is_dir() else ckpt.path.parent
    return {
        "source": source or str(ckpt.path.resolve()),
        "origin": origin(ckpt.path),  # hub id and revision sha, or adapter and base; {} for local files
        "weight_files": {_relative(p, root): sha256_file(p) for p in files},
        "tokenizer_sha256": ckpt.tokenizer_hash(),
        "architecture": ckpt.summary(),
        "tool_version": __version__,
        "added_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "lineage_hints": lineage_hints(ckpt),
    }


# matrices whose values are read for the hints: a few block matrices and the embedding, streamed
_HINT_ROLES = ("q_proj", "k_proj", "v_proj", "o_proj", "up_proj", "down_proj", "embed_tokens")
_HINT_TENSORS = 5
_QMAX = {8: 127, 6: 31, 5: 15, 4: 7, 3: 3}


def lineage_hints(ckpt: Checkpoint) -> dict[str, Any]:
    """What the family tree may use to tell a parent from a child, recorded when a model is added.

    * ``base_model``: what the model says it was made from (config.json ``base_model`` or
      ``_name_or_path``, an ``attack.json`` manifest's ``victim``): metadata, a prior, never proof;
    * ``quantised``: whether its weights lie on a round-to-nearest grid (``bits`` and group size):
      a dequantised copy is a leaf, a model trained further would leave the grid;
    * ``cast_digests``: sha256 of a sample of the weights (the first values of the tensors read and of
      ``lm_head``) as stored and as cast to ``bfloat16`` and ``float16``: an entry whose stored sample
      is another's cast sample *is* that model cast down (a re-saved copy, a leaf), an exact test on
      values, so an fp32 re-save of a bf16 model is never mistaken for the original;
    * ``kurtosis``: mean excess kurtosis of the block matrices read (MoTHer's statistic, kept for
      inspection; not used for direction: on the zoo it is not monotone in fine-tuning steps).
    """
    import numpy as np
    from scipy import stats

    from ..errors import LineageError

    root = ckpt.path if ckpt.path.is_dir() else ckpt.path.parent
    base = None
    for name, keys in (("attack.json", ("victim",)), ("config.json", ("base_model", "_name_or_path"))):
        try:
            data = json.loads((root / name).read_text(encoding="utf-8")) if (root / name).is_file() else {}
        except (OSError, ValueError):
            data = {}
        values = [data.get(k) for k in keys if isinstance(data, dict) and isinstance(data.get(k), str) and data.get(k)]
        if values and values[0] != str(root):
            base = values[0]
            break
    grids: list[tuple[int, int] | None] = []
    kurtosis: list[float] = []
    samples: list[np.ndarray] = []
    infos = [i for i in ckpt.roles() if i.role in _HINT_ROLES and len(i.shape) == 2 and i.expert is None]
    for info in infos[:_HINT_TENSORS]:
        try:
            weight = ckpt.tensor(info.role, info.layer, dtype=np.float64)
        except LineageError:
            continue
        grids.append(quantisation_grid(weight))
        kurtosis.append(float(stats.kurtosis(weight.ravel())))
        samples.append(weight.ravel()[:_SAMPLE].astype(np.float32))
    on_grid = [g for g in grids if g is not None]
    quantised = None
    if grids and len(on_grid) * 4 >= len(grids) * 3:
        bits, group = max(set(on_grid), key=on_grid.count)
        quantised = {"bits": bits, "group": group}
    try:
        head = ckpt.rows("lm_head", np.arange(min(8, ckpt.config.vocab_size or 8)), dtype=np.float32)
        samples.append(head.ravel()[:_SAMPLE])
    except LineageError:
        pass
    return {"base_model": base, "quantised": quantised, "cast_digests": cast_digests(samples) if samples else None,
            "kurtosis": float(np.mean(kurtosis)) if kurtosis else None}


_SAMPLE = 4096  # values of each tensor in the cast digests


def cast_digests(samples: list[Any]) -> dict[str, str]:
    """sha256 of ``samples`` as stored (``float32``) and rounded to ``bfloat16`` and ``float16`` (nearest even).

    >>> import numpy as np
    >>> x = np.array([0.1, 1.7], dtype=np.float32)
    >>> cast_digests([x])["bfloat16"] == cast_digests([cast(x, "bfloat16")])["float32"]
    True
    """
    import hashlib

    out = {}
    for name in ("float32", "bfloat16", "float16"):
        digest = hashlib.sha256()
        for sample in samples:
            digest.update(cast(sample, name).tobytes())
        out[name] = digest.hexdigest()
    return out


def cast(values: Any, dtype: str) -> Any:
    """``values`` (float32) rounded to ``dtype`` and widened back, as ``torch.Tensor.to`` rounds."""
    import torch

    return torch.from_numpy(np.array(values, dtype=np.float32)).to(getattr(torch, dtype)).float().numpy()


def quantisation_grid(weight: Any) -> tuple[int, int] | None:
    """(bits, group) of the symmetric round-to-nearest grid ``weight`` lies on, or None.

    Per group of inputs (32, or a whole row), the values divided by ``max|w| / qmax`` are all
    within 1e-3 of integers. A trained float matrix passes by chance with probability about
    (2e-3)^(group - 1) per group; the test asks it of 90% of the groups.

    >>> import numpy as np
    >>> w = np.random.default_rng(0).normal(size=(8, 64))
    >>> quantisation_grid(w) is None
    True
    >>> step = np.abs(w).reshape(8, 2, 32).max(axis=2, keepdims=True) / 7
    >>> quantisation_grid((np.round(w.reshape(8, 2, 32) / step) * step).reshape(8, 64))
    (4, 32)
    """
    import numpy as np

    out_features, in_features = weight.shape
    for group in (32, in_features):
        if in_features % group:
            continue
        groups = weight.reshape(out_features * (in_features // group), group)
        peak = np.abs(groups).max(axis=1, keepdims=True)
        live = peak[:, 0] > 0
        if not live.any():
            return None
        for bits, qmax in _QMAX.items():
            scaled = groups[live] / (peak[live] / qmax)
            on_grid = np.abs(scaled - np.round(scaled)).max(axis=1) < 1e-3
            if on_grid.mean() >= 0.9:
                return bits, group
    return None


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)
