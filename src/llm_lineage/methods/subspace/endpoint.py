"""The subspace test against an OpenAI-compatible endpoint: one campaign, any number of owner keys.

:func:`test_keys` is the one pipeline (key tokens and prompts -> one query campaign -> each key's
test on the shared evidence); :func:`verify_endpoint` is it for one key, with the bill, and
``registry.endpoint`` uses it for every registered key of one vocabulary.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import EndpointRejected, EndpointUnsupported, InputError, LineageError
from ...outputs.campaign import Campaign, CampaignReport, open_endpoint
from ...progress import track
from ...stats import NullCalibration, Verdict
from .config import SubspaceConfig
from .key import SubspaceKey, load_owner
from .method import SubspaceResult, compare, key_tokens, null_references, prompts_for

# what makes one key group untestable while others may still be (ids beyond the endpoint's
# vocabulary are refused, say); an unreachable endpoint or a spent budget stops everything
GROUP_ERRORS = (EndpointRejected, EndpointUnsupported, InputError)


@dataclass(frozen=True)
class EndpointVerification:
    """A black-box verdict on a suspect endpoint, with the campaign that paid for it."""

    method: str
    score: float
    p_value: float
    verdict: Verdict
    result: SubspaceResult
    campaign: CampaignReport


def campaign_plan(keys: Mapping[str, SubspaceKey], config: SubspaceConfig) -> tuple[np.ndarray, tuple[str, ...]]:
    """The union of the keys' tokens and the largest prompt set any key asks for (a bad
    ``n_outputs`` or ``n_tokens`` fails here, before any query)."""
    widest = max(keys.values(), key=lambda k: k.hidden_size)
    tokens = np.unique(np.concatenate([key_tokens(k, config) for k in keys.values()]))
    return tokens, prompts_for(widest, config)


def test_keys(campaign: Campaign, keys: Mapping[str, SubspaceKey], config: SubspaceConfig, *,
              progress: bool = False, errors_are_results: bool = False,
              references: Mapping[str, Sequence[Path]] | None = None,
              nulls: Mapping[str, NullCalibration] | None = None) -> dict[str, SubspaceResult | str]:
    """Query the union of the keys' tokens once, then test each key on that evidence.

    ``references`` (models with a key's tokenizer) or ready ``nulls``, by key name, give each key
    its language-model null. With ``errors_are_results``, a group error (:data:`GROUP_ERRORS`)
    or a key that cannot be tested becomes that key's result as a reason string instead of
    propagating.
    """
    tokens, prompts = campaign_plan(keys, config)
    config = replace(config, access=campaign.access, top_k=campaign.top_k, progress=progress)
    try:
        evidence = campaign.evidence(tokens, prompts, initial_bias=config.initial_bias, progress=progress)
    except GROUP_ERRORS as exc:
        if not errors_are_results:
            raise
        return dict.fromkeys(keys, f"not testable on this endpoint: {exc}")
    mapped = (f"token ids mapped by string through the owner's tokenizer (the server's ids are not the "
              f"owner's): {len(evidence.token_ids)} of {len(tokens)} tokens read" if campaign.probe.ids_differ else "")
    results: dict[str, SubspaceResult | str] = {}
    names = track(list(keys), "testing owner keys") if progress else list(keys)
    for name in names:
        try:
            result = compare(keys[name], evidence, config=config, suspect_name=campaign.source.name,
                             references=(references or {}).get(name, ()), null=(nulls or {}).get(name))
            results[name] = replace(result, notes=(*result.notes, mapped)) if mapped else result
        except LineageError as exc:
            if not errors_are_results:
                raise
            results[name] = str(exc)
    return results


def verify_endpoint(owner: SubspaceKey | str | Path, url: str, *, api_model: str | None,
                    config: SubspaceConfig | None = None, references: Sequence[str | Path] = (),
                    **endpoint_options: Any) -> EndpointVerification:
    """Run the subspace test against ``url``: probe, choose a strategy, query, decide, report the bill.

    ``owner`` is a key, a key file or a model directory (which also lends its tokenizer to read
    token text, unless ``tokenizer_dir`` is given). ``references``: models with the owner's tokenizer for the language-model null
    (with ``$LLM_LINEAGE_REFERENCES``'s). ``endpoint_options`` go to
    :func:`~llm_lineage.outputs.campaign.open_endpoint` (api_key_env, cache_path, resume,
    max_queries, concurrency, strategy, retry).
    """
    key = load_owner(owner)
    models = null_references(key, references, owner)
    tokenizer_dir = endpoint_options.pop("tokenizer_dir", None) or (
        owner if isinstance(owner, (str, Path)) and Path(owner).is_dir() else None)
    campaign = open_endpoint(url, api_model=api_model, vocab_size=key.vocab_size, tokenizer_dir=tokenizer_dir,
                             **endpoint_options)
    try:
        config = config or SubspaceConfig()
        result = test_keys(campaign, {"owner": key}, config, progress=config.progress,
                           references={"owner": models})["owner"]
        assert isinstance(result, SubspaceResult)  # errors propagate without errors_are_results
        report = campaign.report()
    except LineageError as exc:  # the bill goes out with every failure: what was paid stays known
        spent = campaign.report()
        bill = (f"{spent.queries_used} queries paid in this run, {spent.queries_cached} read from the cache"
                + (f" {spent.cache} (rerun with --resume to reuse them)" if spent.cache else ""))
        exc.hint = f"{exc.hint}; {bill}" if exc.hint else bill
        raise
    finally:
        campaign.close()
    return EndpointVerification(result.method, result.score, result.p_value, result.verdict, result, report)
