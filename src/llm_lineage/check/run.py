"""``check OWNER SUSPECT``: run every method that applies to what was given, and say what it adds up to.

What runs follows from the inputs:

* two weight sources (model directories, ``.safetensors``, ``.gguf``): every white-box method;
* an owner fingerprint file: the methods it holds (its subspace key queries a local suspect);
* a suspect URL: the subspace test where the endpoint returns log-probs, the text method where
  it does not (the probe decides, and the result says why).

Each result is placed as deciding or supporting evidence and combined (:mod:`.combine`); the
conclusion (:mod:`.conclusion`) says it in plain words.
"""

from __future__ import annotations

import datetime as _dt
import math
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..claims import assess, card_block
from ..errors import LineageError
from ..methods import Kind
from ..methods.base import Method, Result, get_method, resolve
from ..stats import Verdict
from ..weights.hub import origin
from .combine import MIN_REFERENCES, Test, combine, with_holm
from .conclusion import conclude


@dataclass(frozen=True)
class CheckResult:
    """The one answer: verdict, combined p-value, the conclusion in words, and every test behind it."""

    owner: str
    suspect: str
    verdict: Verdict
    p_value: float
    neg_log10_p: float
    correction: str
    conclusion: str
    next_step: str
    how: str                               # what was run, and why that
    tests: tuple[Test, ...]
    not_tested: tuple[str, ...]
    alpha: float
    seconds: float
    provenance: dict[str, Any] = field(default_factory=dict)
    results: dict[str, Result] = field(default_factory=dict, repr=False)   # the methods' own results
    claim: dict[str, Any] = field(default_factory=dict)  # the suspect's declared lineage, judged (.claims)


def check(owner: str | Path, suspect: str | Path, *, methods: Sequence[str] | None = None, alpha: float = 0.01,
          references: Sequence[str | Path] = (), api_model: str | None = None, progress: bool = False,
          n_outputs: int | None = None, n_prompts: int | None = None, owner_id: str | None = None,
          **endpoint_options: Any) -> CheckResult:
    """Run what applies to ``owner`` and ``suspect`` and combine it (see the module docstring).

    ``n_outputs`` (subspace) and ``n_prompts`` (text) size an endpoint campaign; ``endpoint_options``
    go to :func:`~llm_lineage.outputs.campaign.open_endpoint` (cache, budget, key, retries).
    ``owner_id`` is the name the owner is published under (``ORG/NAME``), for judging what a local
    suspect's model card claims (:mod:`.claims`).
    """
    from ..methods.fingerprint_io import is_fingerprint_file
    from ..outputs.source import is_url
    from ..weights import open_checkpoint

    start = time.perf_counter()
    owner_path = Path(owner)
    results: dict[str, Result] = {}
    failed: dict[str, str] = {}
    if is_url(suspect):
        how, not_tested = _endpoint(owner_path, str(suspect), results, failed, api_model=api_model,
                                    references=references, progress=progress, n_outputs=n_outputs,
                                    n_prompts=n_prompts, **endpoint_options)
    else:
        suspect = Path(suspect)
        for model in (owner_path, suspect):  # a missing or unreadable input is one error, before anything runs
            if not is_fingerprint_file(model):
                open_checkpoint(model)
        stored = _stored_methods(owner_path) if is_fingerprint_file(owner_path) else None
        names = resolve(methods, default=(Kind.WEIGHTS,)) if methods is not None or stored is None else stored
        for name in names:
            method = get_method(name)
            try:
                results[name] = method.verify(owner_path, suspect, references=tuple(references))
            except LineageError as exc:
                failed[name] = str(exc)
        kinds = {get_method(n).kind for n in names}
        how = ("white-box: both models' weights, every method that reads them" if kinds == {Kind.WEIGHTS}
               else "the methods the owner's fingerprint file holds")
        not_tested = []
        if Kind.OUTPUTS not in kinds:
            not_tested.append("the black-box test of its outputs (give a served model's URL as the suspect)")
        not_tested.append("distillation: a student trained on the owner's outputs shares no weights, so weight "
                          "tests cannot see it; the text and output tests can")
        adapter = origin(suspect).get("adapter")
        if adapter:  # compared merged onto the base it names; whether it was trained on the owner is another test
            not_tested.append(f"whether the adapter itself was trained on the owner's weights, whatever base it names: "
                              f"llm-lineage adapter-base {shlex.quote(str(adapter))} {shlex.quote(str(owner))}")
    tests = with_holm([_test(get_method(n), r) for n, r in results.items()])
    not_tested += [f"{name} could not run: {why}" for name, why in failed.items()]
    combined = combine(tests, alpha)
    conclusion, next_step = conclude(str(owner), str(suspect), combined, tests, results, not_tested, alpha)
    claim = {} if is_url(suspect) else assess(owner_path, suspect, combined.verdict, owner_id=owner_id).as_dict()
    if claim:
        grade = str(getattr(results.get("subspace"), "grade", ""))
        claim["card"] = card_block(owner_path, combined.verdict, grade, owner_id=owner_id)
    return CheckResult(str(owner), str(suspect), combined.verdict, combined.p_value, combined.neg_log10_p,
                       combined.correction, conclusion, next_step, how, tuple(tests), tuple(not_tested), alpha,
                       time.perf_counter() - start, _provenance(owner_path, suspect, alpha, list(results), references),
                       results, claim)


def _stored_methods(path: Path) -> list[str]:
    """The registered methods whose fingerprints a fingerprint file holds."""
    from ..methods import METHODS
    from ..methods.fingerprint_io import load

    return [name for name in load(path)[0] if name in METHODS]


def _endpoint(owner: Path, url: str, results: dict[str, Result], failed: dict[str, str], *, api_model: str | None,
              references: Sequence[str | Path], progress: bool, n_outputs: int | None, n_prompts: int | None,
              **options: Any) -> tuple[str, list[str]]:
    """The subspace test where the endpoint returns log-probs; the text method where it does not.

    The probe decides (a handful of queries, kept in the query cache that the test then resumes
    from): without log-probs the subspace test could only search greedily, a query per token.
    """
    from ..methods.subspace import SubspaceConfig, verify_endpoint
    from ..methods.subspace.key import load_owner
    from ..methods.text import TEXT, verify_text_endpoint
    from ..outputs.campaign import open_endpoint

    not_tested = ["the weights (check OWNER MODEL where you have the suspect's files: the white-box tests "
                  "have exact p-values)"]
    key = load_owner(owner)
    probe_options = {k: v for k, v in options.items() if k != "strategy"}
    campaign = open_endpoint(url, api_model=api_model, vocab_size=key.vocab_size,
                             tokenizer_dir=owner if owner.is_dir() else None, **probe_options)
    try:
        probed = campaign.probe
    finally:
        campaign.close()
    options = {**options, "resume": True}  # the probe's answers are this run's own
    if probed.logprobs:
        outcome = verify_endpoint(owner, url, api_model=api_model,
                                  config=SubspaceConfig(n_outputs=n_outputs, progress=progress),
                                  references=references, **options)
        results["subspace"] = outcome.result
        return (f"black-box: the endpoint returns log-probs (strategy {outcome.campaign.strategy}, "
                f"{outcome.campaign.queries_used} queries paid), so its outputs were tested against the owner's "
                "lm_head span"), not_tested
    options.pop("strategy", None)
    result, _ = verify_text_endpoint(owner, url, api_model=api_model, config=TEXT.configure(n_prompts=n_prompts),
                                     references=references, **options)
    results["text"] = result
    return ("black-box, text only: the endpoint returns no usable log-probs, so its sampled text was scored by the "
            "owner's model against unrelated models"), not_tested


def _test(method: Method[Any, Any, Any], result: Result) -> Test:
    """Deciding or supporting (:mod:`.combine`), with the null and one line of findings."""
    references = result.null.n if result.null is not None else 0
    p = float(result.p_value)
    needs = ""
    if method.name == "subspace":
        decided_by = getattr(result, "decided_by", "none")
        deciding = decided_by not in ("none", "language-model null") or (
            decided_by == "language-model null" and references >= MIN_REFERENCES)
        null = (f"{references} unrelated models with the owner's tokenizer" if decided_by == "language-model null"
                else "random outputs of the evidence's shape and precision (exact)")
        if not deciding:
            needs = (f"no verdict: needs {MIN_REFERENCES} reference models with the owner's tokenizer "
                     "(--null MODEL, or $LLM_LINEAGE_REFERENCES)")
    elif method.exact_null is not None:
        deciding = math.isfinite(p)
        null = method.exact_null
        if not deciding:
            needs = f"no verdict: {result.note or 'no p-value for this pair'}"
    else:
        deciding = references >= MIN_REFERENCES and math.isfinite(p)
        null = (f"{references} unrelated reference models ({result.null.source})" if result.null is not None
                else "none")
        if not deciding:
            needs = (f"no verdict: needs {MIN_REFERENCES} reference models like the owner (--null MODEL, or "
                     f"$LLM_LINEAGE_REFERENCES); {references} usable")
    return Test(method.name, deciding, result.verdict if deciding else None, p if deciding else math.nan,
                result.neg_log10_p if deciding else math.nan, math.nan, float(result.score), null,
                _finding(method.name, result), needs, method.assumption, tuple(result.notes))


def _finding(name: str, r: Any) -> str:
    """One line of a method's own evidence, in its terms."""
    if name == "tracing":
        line = (f"{len(r.agreements)} layer pairs; units both matchings pair alike: {r.robust_agreement} of "
                f"{r.units_tested} at the median layer")
        if math.isfinite(r.unit_cosine):
            line += f"; unit i against unit i: mean cosine {r.unit_cosine:.5f}"
        return line + f"; embeddings align with relative residual {r.alignment_residual:.3f}"
    if name == "awm":
        return f"aligned attention CKA {r.score:.4f} over {len(r.layer_pairs)} layers; heads paired alike {list(r.head_agreements)}"
    if name == "subspace":
        return (f"{r.grade or r.verdict.value}: median residual {r.compatibility.median_residual:.3g} over "
                f"{r.n_outputs} outputs x {r.n_tokens} tokens; estimated hidden size {r.estimated_hidden_size}")
    return f"score {r.score:.4g}"


def _provenance(owner: Path, suspect: Any, alpha: float, methods: list[str], references: Sequence[Any]) -> dict[str, Any]:
    """What a reader needs to reproduce the run: files (sha256), shapes, versions, options, command."""
    from importlib.metadata import version

    from ..registry.provenance import sha256_file, weight_files
    from ..weights import open_checkpoint

    models: dict[str, Any] = {}
    for role, model in (("owner", owner), ("suspect", suspect)):
        if not isinstance(model, Path):
            models[role] = {"endpoint": str(model)}
            continue
        try:
            ckpt = open_checkpoint(model)
            files = weight_files(ckpt)
            summary = ckpt.summary()
            models[role] = {"path": str(model), "origin": origin(model), "files": {str(f): sha256_file(f) for f in files},
                            "shape": {k: summary[k] for k in ("model_type", "hidden_size", "num_hidden_layers",
                                                                "intermediate_size", "vocab_size", "n_parameters")}}
        except LineageError:  # a fingerprint file
            models[role] = {"path": str(model), "files": {str(model): sha256_file(model)} if model.is_file() else {}}
    return {"models": models, "tool": f"llm-lineage {version('llm-lineage')}", "methods": methods, "alpha": alpha,
            "references": [str(r) for r in references],
            "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "command": shlex.join(["llm-lineage", *sys.argv[1:]])}
