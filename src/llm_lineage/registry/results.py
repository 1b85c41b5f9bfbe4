"""What a registry search returns, and the helpers both search paths (model and endpoint) share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from ..outputs.campaign import CampaignReport
from ..stats import Verdict
from .combine import MethodEvidence, not_applicable
from .store import Entry

T = TypeVar("T")


@dataclass(frozen=True)
class Candidate:
    """One registered owner compared in full with the suspect."""

    name: str
    verdict: Verdict
    p_value: float                        # family-wise over the methods that apply
    summary_score: float                  # shortlist correlation
    scores: dict[str, float]              # method -> score (NaN where it cannot apply)
    methods: dict[str, MethodEvidence]
    agree: tuple[str, ...]
    disagree: tuple[str, ...]
    cannot_apply: tuple[str, ...]
    explanation: str
    neg_log10_p: float = float("nan")    # -log10 p_value, as large as the methods give it


@dataclass(frozen=True)
class SearchResult:
    method: str               # "registry-search"
    suspect: str
    score: float              # best candidate's summary correlation (endpoint suspect: its subspace score)
    p_value: float            # best candidate's p, corrected for the candidates compared
    verdict: Verdict
    explanation: str
    candidates: list[Candidate] = field(default_factory=list)
    n_registered: int = 0
    n_shortlisted: int = 0
    shortlist_seconds: float = 0.0
    compare_seconds: float = 0.0
    campaigns: tuple[CampaignReport, ...] = ()  # endpoint suspect: what was queried and what it cost
    claim: dict[str, Any] = field(default_factory=dict)  # the suspect's model card, judged (claims.py)


def owner_lacks(entry: Entry, method: str, kind: str) -> MethodEvidence | None:
    """Why ``method`` cannot apply for lack of the owner's fingerprint; None when it is stored."""
    stored = entry.fingerprints.get(method)
    if stored is None:
        return not_applicable(method, kind, "not fingerprinted when registered (re-add to include it)")
    if stored.blob is None:
        return not_applicable(method, kind, f"owner: {stored.note}")
    return None


def evenly_spaced(items: list[T], n: int) -> list[T]:
    """At most ``n`` of ``items``, evenly spaced, so that a null does not depend on registration order."""
    if len(items) <= n:
        return items
    return [items[int(i)] for i in np.linspace(0, len(items) - 1, n)]


def same_weights(a: Entry, b: Entry) -> bool:
    """Byte-identical weight files: a duplicate registration, not an unrelated model."""
    fa = sorted(a.provenance.get("weight_files", {}).values())
    return bool(fa) and fa == sorted(b.provenance.get("weight_files", {}).values())
