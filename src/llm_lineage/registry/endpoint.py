"""Search with an endpoint suspect: every registered owner key tested on one query campaign.

An API suspect has no weights, so of the registered fingerprints only the black-box owner keys
(``subspace``) apply; the white-box ones are listed as unable to apply, with the reason. The
endpoint is probed once and queried once, for the union of the keys' tokens after the largest
prompt set any key asks for (the built-in prompts in a fixed order, so every smaller set is a
prefix of it); each key is then tested on that shared evidence (``subspace.compare`` makes no
query). The bill is therefore one campaign, not one per registered owner.

Token ids mean something only within one vocabulary, so keys are grouped by (vocabulary size,
tokenizer hash) and each group gets its own evidence. The groups share one query cache, so a
second group's probe is read back, not paid again; a group the endpoint cannot serve (ids
beyond its vocabulary, say) is reported as not applicable for its owners.

Registry null (see ``combine.py``): the scores of the group's other keys on the same evidence.
Keys of models unrelated to the suspect score like any unrelated model; a registered relative
of the true owner that kept its lm_head would score high too, which makes the null conservative
(it can turn ``derived`` into ``inconclusive``, never the other way).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..methods import METHODS
from ..methods.subspace import SubspaceConfig, SubspaceKey, campaign_plan
from ..methods.subspace.endpoint import GROUP_ERRORS, test_keys
from ..methods.subspace.method import null_references
from ..outputs.campaign import CampaignReport, open_endpoint
from ..stats import calibrate
from .combine import MethodEvidence, candidate_verdict, method_evidence, not_applicable, overall_verdict, rank_key
from .results import Candidate, SearchResult, evenly_spaced, owner_lacks, same_weights
from .store import Entry, Registry

METHOD = "subspace"
NO_WEIGHTS = "the suspect is an endpoint: no weights to read"


def search_endpoint(url: str, registry: Registry, *, api_model: str | None = None, top: int = 5,
                    null_size: int = 12, alpha: float = 0.01, config: SubspaceConfig | None = None,
                    tokenizer_dir: str | Path | None = None, progress: bool = False,
                    **endpoint_options: Any) -> SearchResult:
    """Rank registered owners by the evidence that the model behind ``url`` descends from them.

    Parameters
    ----------
    url : ``https://HOST/v1`` of an OpenAI-compatible completions endpoint.
    api_model : the model id the endpoint serves.
    config : :class:`SubspaceConfig` (``n_outputs``, ``n_tokens``, ``alpha``); access mode and top-k
        come from the probe.
    tokenizer_dir : the tokenizer that reads returned token text as ids, when the endpoint does not
        return ids (default: the registered source directory of a group's owner, if still there).
    null_size : other keys each candidate's registry null is built from.
    endpoint_options : go to :func:`~llm_lineage.outputs.campaign.open_endpoint` (api_key_env,
        cache_path, resume, max_queries, concurrency, strategy, retry).
    """
    if not api_model:
        raise InputError("a URL suspect needs --api-model NAME (the model id the endpoint serves)")
    config = replace(config or SubspaceConfig(), alpha=alpha)
    entries = registry.entries()
    keyed = [e for e in entries if (e.fingerprints.get(METHOD) and e.fingerprints[METHOD].blob)]
    if not keyed:
        raise InputError(f"{registry.location} holds no {METHOD} owner key, and an endpoint can only be searched with one",
                         hint=f"register owners with --methods {METHOD} (the default computes it)")
    keys = {e.name: registry.load_blob(e.fingerprints[METHOD].blob, METHOD) for e in keyed}  # type: ignore[arg-type]
    start = time.perf_counter()
    scores: dict[str, Any] = {}      # name -> SubspaceResult, or the reason its group could not be tested
    reports: list[CampaignReport] = []
    for n, group in enumerate(_vocabulary_groups(keys).values()):
        alone = len(group) == len(keys)
        campaign_plan(group, config)  # a bad --outputs / --tokens fails here, before any query
        options = dict(endpoint_options, tokenizer_dir=tokenizer_dir or _tokenizer_of(group, keyed))
        if n > 0:  # this run's own answers are in the cache: read them back, pay only for new ones
            options["resume"] = True
            if options.get("max_queries") is not None:
                options["max_queries"] = max(0, options["max_queries"] - sum(r.queries_used for r in reports))
        try:
            campaign = open_endpoint(url, api_model=api_model, vocab_size=next(iter(group.values())).vocab_size,
                                     **options)
        except GROUP_ERRORS as exc:
            if alone:
                raise  # one vocabulary: the error is the search's, not one group's
            scores.update(dict.fromkeys(group, f"not testable on this endpoint: {exc}"))
            continue
        try:
            # each key's language-model null: the reference folder's models of its tokenizer
            references = {name: null_references(key, ()) for name, key in group.items()}
            scores.update(test_keys(campaign, group, config, progress=progress, errors_are_results=not alone,
                                    references=references))
            reports.append(campaign.report())
        finally:
            campaign.close()

    tokenizer_of = {name: (key.vocab_size, key.tokenizer_hash) for name, key in keys.items()}
    candidates = [_candidate(entry, scores, keyed, tokenizer_of, null_size, alpha) for entry in entries]
    candidates.sort(key=lambda c: rank_key(c.verdict, c.p_value, c.scores.get(METHOD, math.nan)))
    compared = [c for c in candidates if c.methods[METHOD].applies]
    verdict, p, why = overall_verdict([(c.name, c.verdict, c.p_value) for c in compared], alpha)
    best = compared[0].scores[METHOD] if compared else math.nan
    return SearchResult("registry-search", url, best, p, verdict, why, candidates[:top], len(entries),
                        len(compared), 0.0, time.perf_counter() - start, tuple(reports))


def _vocabulary_groups(keys: Mapping[str, SubspaceKey]) -> dict[tuple[int, str | None], dict[str, SubspaceKey]]:
    groups: dict[tuple[int, str | None], dict[str, SubspaceKey]] = {}
    for name, key in keys.items():
        groups.setdefault((key.vocab_size, key.tokenizer_hash), {})[name] = key
    # the largest group first: its campaign pays the probe
    return dict(sorted(groups.items(), key=lambda item: -len(item[1])))


def _tokenizer_of(group: Mapping[str, SubspaceKey], keyed: list[Entry]) -> Path | None:
    """A registered owner's directory that still holds the group's tokenizer."""
    for entry in keyed:
        source = Path(str(entry.provenance.get("source", "")))
        if entry.name in group and source.is_dir() and \
                entry.provenance.get("tokenizer_sha256") == group[entry.name].tokenizer_hash:
            return source
    return None


def _candidate(entry: Entry, scores: Mapping[str, Any], keyed: list[Entry], tokenizer_of: Mapping[str, Any],
               null_size: int, alpha: float) -> Candidate:
    evidence: dict[str, MethodEvidence] = {"summary": not_applicable("summary", "summary", NO_WEIGHTS)}
    for method in entry.methods:
        if method != METHOD:
            evidence[method] = not_applicable(method, str(METHODS[method].kind) if method in METHODS else "unknown",
                                              NO_WEIGHTS)
    evidence[METHOD] = _subspace_evidence(entry, scores, keyed, tokenizer_of, null_size, alpha)
    cv = candidate_verdict(evidence, alpha)
    return Candidate(entry.name, cv.verdict, cv.p_value, math.nan, {m: e.score for m, e in evidence.items()},
                     evidence, cv.agree, cv.disagree, cv.cannot_apply, cv.explanation, cv.neg_log10_p)


def _subspace_evidence(entry: Entry, scores: Mapping[str, Any], keyed: list[Entry], tokenizer_of: Mapping[str, Any],
                       null_size: int, alpha: float) -> MethodEvidence:
    if (missing := owner_lacks(entry, METHOD, "outputs")) is not None:
        return missing
    result = scores[entry.name]
    if isinstance(result, str):
        return not_applicable(METHOD, "outputs", result)
    # the language-model null of this key: other owners of its tokenizer on the same evidence
    # (another tokenizer's keys sit farther from any output and would make the null too easy)
    tested = evenly_spaced([e.name for e in keyed if e.name != entry.name and not same_weights(e, entry)
                            and tokenizer_of.get(e.name) == tokenizer_of[entry.name]
                            and not isinstance(scores[e.name], str)], null_size)
    null = calibrate([_finite(scores[o].score) for o in tested], higher_is_related=True,
                     source="other registered owner keys of the tokenizer on the same evidence")
    # a perturbed lm_head without references: the registry's null is the language-model null
    own = None if result.needs_references else result.verdict
    # a copy's outputs lie within the precision floor: its score is at least the compatibility threshold
    return method_evidence(METHOD, "outputs", _finite(result.score), result.p_value, own, null,
                           best_possible=result.threshold, alpha=alpha, note="" if own is None else result.note)


def _finite(score: float) -> float:
    """A zero median residual scores inf; cap it where no double residual could reach (10**-324)."""
    return min(score, 324.0)
