r"""Which model a PEFT adapter was trained on, from its ``B @ A`` deltas alone (``adapter-base``).

An adapter folder names its base in ``adapter_config.json``, and the name can be wrong or
missing. Merging it onto a candidate and comparing (what ``check`` does with an adapter) says
nothing here: any delta merged onto the owner is "derived" from the owner by construction. The
question is whether the delta itself was *learned on* the candidate's weights.

**Statistic.** Hu et al. ("LoRA: Low-Rank Adaptation of Large Language Models", ICLR 2022,
Sec. 7.3) found that a LoRA update ``dW = B A`` is correlated with the weight ``W`` it was trained
on: ``||U^T W V||_F``, with ``U`` and ``V`` the leading singular vectors of ``dW`` (its first
:data:`COMPONENTS`, the part training moved most), is well above its value
for random subspaces, because training amplifies directions ``W`` already has. Each adapted module
gives that norm against the candidate's own tensor of the same role and layer.

**Null and why the p-value is exact.** H0: the adapter was trained on a model whose weights are
independent of the candidate's (another initialisation). Such a model's distribution is
invariant under a permutation of its residual-stream coordinates (every coordinate is initialised
alike, norms and the optimiser act coordinate-wise), so the adapter's distribution is too, and
it is independent of the candidate's fixed weights. Permuting the adapter's residual-stream side
(the inputs of q/k/v/gate/up and ``lm_head``, the outputs of o/down) by one random permutation
for every module at once therefore gives a statistic with the observed one's distribution. With
the identity among ``N + 1`` permutations and each module's norms standardised over all of them
(a symmetric function of the set), the Monte Carlo p-value ``(1 + #{T_pi >= T}) / (N + 1)`` is
exact at every ``N`` (Hemerik & Goeman, "Exact testing with random permutations", TEST 2018; the
same symmetry as the FFN-unit permutations of Zhu et al., "Independence Tests for Language
Models", ICML 2025). Its floor is ``1 / (N + 1)``.

**What it cannot tell.** A model derived from the candidate (a fine-tune, a quantised copy)
carries the same structure: ``derived`` reads "trained on the candidate or on a model derived
from it". An adapter trained on a copy whose residual coordinates were permuted loses the
alignment (merge it onto its claimed base and run ``check``: ``tracing`` undoes permutations).
An adapter that barely moved from its initialisation (``B`` near 0) carries little of its base,
and a failure to reject is ``inconclusive``, never proof of independence. Adapters whose shapes
do not fit the candidate cannot have been trained on it: ``unrelated``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .errors import InputError
from .stats import Verdict, holm
from .weights import Checkpoint, open_checkpoint
from .weights.adapters import GENERIC, map_keys
from .weights.stores import SafetensorsStore

PERMUTATIONS = 999
COMPONENTS = 4      # leading singular directions of each B @ A compared (its trained part)
# roles whose rows are the residual stream; every other adapted matrix reads it in its columns
_RESIDUAL_ROWS = {"o_proj", "down_proj", "fc_out"}
_RESIDUAL_COLUMNS = {"q_proj", "k_proj", "v_proj", "gate_proj", "up_proj", "fc_in", "lm_head"}
_BATCH = 64  # permutations scored at once: bounds memory at 64 x hidden x rank floats


@dataclass(frozen=True)
class CandidateTest:
    name: str
    verdict: Verdict
    p_value: float
    holm_p_value: float
    z: float                # the observed statistic in standard deviations of its permutation null
    modules: int            # adapted matrices compared
    explanation: str


@dataclass(frozen=True)
class AdapterBaseResult:
    adapter: str
    claimed_base: str | None
    permutations: int
    candidates: list[CandidateTest]
    null: str
    skipped: list[str]      # adapted modules not compared, with why


@dataclass(frozen=True)
class _Delta:
    """One adapted matrix: the orthonormal singular vectors of ``B @ A`` (``U``: rows, ``V``: columns)."""

    key: str
    role: str
    layer: int | None
    u: np.ndarray
    v: np.ndarray


def adapter_base(adapter: str | Path, candidates: list[Path], *, permutations: int = PERMUTATIONS,
                 components: int = COMPONENTS, alpha: float = 0.01, seed: int = 0,
                 progress: bool = True) -> AdapterBaseResult:
    """Test each candidate as the model ``adapter`` was trained on (see the module docstring)."""
    from .weights.peft_adapter import adapter_config, is_adapter_folder

    adapter = Path(adapter)
    if not is_adapter_folder(adapter):
        raise InputError(f"{adapter} is not a PEFT adapter folder (adapter_config.json without config.json)")
    if permutations < 19:
        raise InputError(f"--permutations must be at least 19 (p-values down to 0.05), not {permutations}")
    config = adapter_config(adapter)
    deltas, skipped = _deltas(adapter, components)
    if not deltas:
        raise InputError(f"{adapter} adapts no matrix this test can read (it needs LoRA A and B of a "
                         "transformer block's projections or of lm_head)", hint="; ".join(skipped[:3]) or None)
    tests, notes = [], list(skipped)
    for i, path in enumerate(candidates):
        ckpt = open_checkpoint(path)
        test, why = _test(deltas, ckpt, permutations, np.random.default_rng([seed, i]), progress)
        tests.append(test)
        notes += [f"{ckpt.name}: {w}" for w in why]
    adjusted = holm([t.p_value for t in tests])
    tests = [_decided(t, p, alpha, len(tests)) for t, p in zip(tests, adjusted, strict=True)]
    null = (f"{permutations} random permutations of the adapter's residual-stream coordinates, one for every "
            f"module (exact Monte Carlo p, floor {1 / (permutations + 1):.1e})"
            + (f"; Holm over {len(tests)} candidates" if len(tests) > 1 else ""))
    claimed = config.get("base_model_name_or_path")
    return AdapterBaseResult(adapter.name, claimed if isinstance(claimed, str) else None, permutations, tests,
                             null, notes)


def _deltas(adapter: Path, components: int) -> tuple[list[_Delta], list[str]]:
    """Every ``lora_A``/``lora_B`` pair as the singular vectors of ``B @ A``, without forming it."""
    weights = adapter / "adapter_model.safetensors"
    if not weights.is_file():
        raise InputError(f"{adapter} has no adapter_model.safetensors",
                         hint="pickled adapters (adapter_model.bin) are not read; re-save it with safetensors")
    store = SafetensorsStore.open_file(weights)
    keys = set(store.keys())
    pairs = {key.removesuffix(".lora_A.weight"): key for key in keys if key.endswith(".lora_A.weight")}
    deltas, skipped = [], []
    for module, a_key in sorted(pairs.items()):
        b_key = module + ".lora_B.weight"
        name = module.removeprefix("base_model.model.") + ".weight"
        found, _ = map_keys([name], GENERIC)
        role = next(iter(found), None)
        if b_key not in keys or role is None or role[0] not in _RESIDUAL_ROWS | _RESIDUAL_COLUMNS:
            skipped.append(f"{module}: not a projection whose one side is the residual stream")
            continue
        a, b = store.get(a_key, np.float64), store.get(b_key, np.float64)
        qb, rb = np.linalg.qr(b)
        qa, ra = np.linalg.qr(a.T)
        u, s, vt = np.linalg.svd(rb @ ra.T)
        keep = s > s[0] * 1e-6 if s.size and s[0] > 0 else np.zeros(s.shape, dtype=bool)
        keep[components:] = False
        if not keep.any():
            skipped.append(f"{module}: B @ A is zero (an untrained adapter)")
            continue
        deltas.append(_Delta(name, role[0], role[1], qb @ u[:, keep], qa @ vt[keep].T))
    return deltas, skipped


def _test(deltas: list[_Delta], ckpt: Checkpoint, permutations: int, rng: np.random.Generator,
          progress: bool) -> tuple[CandidateTest, list[str]]:
    from . import progress as bars

    hidden = ckpt.config.hidden_size
    sides, why = [], []
    for delta in bars.track(deltas, f"adapter against {ckpt.name}", total=len(deltas)) if progress else deltas:
        if not ckpt.has(delta.role, delta.layer):
            why.append(f"{delta.key} has no {delta.role} in layer {delta.layer}")
            continue
        w = ckpt.tensor(delta.role, delta.layer)  # float32: a 70B MLP matrix is 0.9 GB, not 1.9
        if w.shape != (delta.u.shape[0], delta.v.shape[0]):
            return _unrelated(ckpt.name, f"the adapter's {delta.key} is {delta.u.shape[0]} x {delta.v.shape[0]}, "
                              f"the candidate's {delta.role} in layer {delta.layer} is {w.shape[0]} x {w.shape[1]}: "
                              "it cannot have been trained on this model"), why
        # residual side R (permuted) and the fixed side F, so that ||U^T W V|| = ||R^T F||
        side = ((delta.u, (w @ delta.v.astype(np.float32)).astype(np.float64)) if delta.role in _RESIDUAL_ROWS
                else (delta.v, (w.T @ delta.u.astype(np.float32)).astype(np.float64)))
        if side[0].shape[0] != hidden:
            why.append(f"{delta.key}: its residual side is {side[0].shape[0]} wide, not the hidden size {hidden}")
            continue
        sides.append(side)
    if not sides:
        return _unrelated(ckpt.name, "no adapted matrix matches a tensor of this model"), why
    total = np.zeros(permutations + 1)
    for norms in _permuted_norms(sides, hidden, permutations, rng):
        total += (norms - norms.mean()) / max(float(norms.std()), 1e-300)
    p = float((1 + np.sum(total[1:] >= total[0])) / (permutations + 1))
    z = float((total[0] - total[1:].mean()) / max(float(total[1:].std()), 1e-300))
    return CandidateTest(ckpt.name, Verdict.INCONCLUSIVE, p, math.nan, z, len(sides), ""), why


def _permuted_norms(sides: list[tuple[np.ndarray, np.ndarray]], hidden: int, permutations: int,
                    rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Per module, ``||R[pi]^T F||_F`` for the identity and ``permutations`` random ``pi`` shared by all modules."""
    perms = np.empty((permutations + 1, hidden), dtype=np.int64)
    perms[0] = np.arange(hidden)
    for j in range(1, permutations + 1):
        perms[j] = rng.permutation(hidden)
    for r, f in sides:
        norms = np.empty(permutations + 1)
        for start in range(0, permutations + 1, _BATCH):
            block = r[perms[start:start + _BATCH]]                       # (batch, hidden, k)
            norms[start:start + _BATCH] = np.linalg.norm(np.einsum("phk,hl->pkl", block, f), axis=(1, 2))
        yield norms


def _unrelated(name: str, why: str) -> CandidateTest:
    return CandidateTest(name, Verdict.UNRELATED, 1.0, math.nan, math.nan, 0, why)


def _decided(test: CandidateTest, holm_p: float, alpha: float, n: int) -> CandidateTest:
    if test.verdict is Verdict.UNRELATED:
        return replace(test, holm_p_value=holm_p)
    if holm_p < alpha:
        return replace(test, verdict=Verdict.DERIVED, holm_p_value=holm_p, explanation=(
            f"the adapter's deltas align with this model's weights ({test.z:.1f} sd above the permutation null over "
            f"{test.modules} matrices): it was trained on this model or on one derived from it"))
    return replace(test, holm_p_value=holm_p, explanation=(
        f"no evidence at alpha {alpha:g} ({test.z:.1f} sd over {test.modules} matrices"
        + (f", Holm over {n} candidates" if n > 1 else "") + "): an adapter that barely moved from its "
        "initialisation carries little of its base; merge it onto its claimed base and run check"))
