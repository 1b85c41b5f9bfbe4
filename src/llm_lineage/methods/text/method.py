"""``text``: does the owner's model explain the suspect's text better than unrelated models do?

For suspects that return only text (chat APIs without log-probs, or log-probs that ignore
``logit_bias``), the owner's own model is the instrument: a model derived from the owner's writes
text the owner's model finds far more likely than any unrelated model does.

Statistic. The suspect is sampled on a fixed, versioned prompt set (``sample.py``: every prompt
at every temperature, decoding recorded). Every completion ``c`` of prompt ``p`` is scored per
byte, ``l_m(c) = log p_m(c | p) / bytes(c)``, by the owner and by each reference model ``m`` (any
tokenizer: each reads the text with its own tokens). The suspect's *peers* are the references
that explain its text best (median ``l``; all within ``FIT_MARGIN`` of the best, at least
``PEERS``). The score is the median over completions of ``l_owner(c) - mean_{r in peers} l_r(c)``,
averaged over leaving each peer out of the mean. A derived model writes text the owner explains
better than unrelated writers of the same kind do; measuring against the *closest* writers keeps
a suspect that merely writes in the owner's domain from gaining (measured: with a panel mixing
the zoo's story models and real TinyStories models, a mean over the whole panel gave unrelated
zoo siblings 0.80 nats/byte, more than the owner's own copy). Without references the baseline is
zlib's conditional code length (Carlini et al. 2021) and nothing can be calibrated.

Null and p-value. The null is *unrelated models*, not prompts: each peer is sampled on the same
plan as a pseudo-suspect and scored the same way against the other peers (its own left out).
Those scores are draws of "an unrelated writer of the suspect's kind"; the suspect's score gets
the Student-t prediction p-value of one new draw (``stats.calibrate``, df = peers - 1). A
sign-flip or permutation test over prompts would be invalid here (under the null the prompts are
fixed; what varies is the model), and a permutation over k models cannot go below 1 / (k + 1).
Validity needs the peers to be exchangeable with an unrelated suspect as writers, so the verdict
is ``inconclusive`` with what to add when there are fewer than three, or when the peers explain
the suspect's text ``FIT_MARGIN`` worse than they explain each other's (no reference writes like
the suspect: the null is not of its kind).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import InputError, KeyFileError
from ...references import how_to_fix
from ...stats import NullCalibration, Verdict, calibrate, decide
from ...stats.nulls import model_identity, summarize
from ..base import Kind, Method, Result
from .sample import PROMPT_SET, SamplingPlan, TextSample, prompt_set, sample_local
from .score import per_byte_loglik, zlib_per_byte

FIT_MARGIN = 0.5  # nats per byte: a suspect this much less likely under its peers than they are under each other
PEERS = 3  # closest writers: the baseline and the null; the fewest a t-prediction null can rest on
NULL_SOURCE = "text: the suspect's closest unrelated writers' own samples, each against the owner and the other peers"


@dataclass(frozen=True)
class TextConfig:
    n_prompts: int = 100                    # prompts of the versioned set
    temperatures: tuple[float, ...] = (0.7, 1.0)  # one completion per prompt at each
    max_tokens: int = 32                    # tokens per completion
    seed: int = 0
    api: str = "completions"                # how the suspect is sampled; references are sampled alike
    alpha: float = 0.01
    baseline: tuple[str, ...] = ()          # the peers the owner must beat (set by verify; empty: zlib)

    def plan(self) -> SamplingPlan:
        return SamplingPlan(prompt_set(self.n_prompts), tuple(float(t) for t in self.temperatures),
                            self.max_tokens, self.seed, self.api)


@dataclass(frozen=True, kw_only=True)
class TextResult(Result):
    """``score``: median per-byte log-likelihood advantage of the owner over the suspect's peers."""

    n_completions: int
    owner_better_share: float   # completions the owner explains better than the peers' mean
    baseline: str               # what the owner was measured against
    api: str                    # how the suspect was sampled: completions or chat
    prompt_set: str
    z_score: float = math.nan


class TextMethod(Method[TextSample, TextConfig, TextResult]):
    """Likelihood-ratio attribution from generated text only; see the module docstring."""

    name = "text"
    kind = Kind.TEXT
    config_cls = TextConfig
    fingerprint_cls = (TextSample,)
    plain = "how well the owner's model predicts text the suspect wrote, against unrelated models"
    describe = ("the owner's log-likelihood of the suspect's sampled text against its closest unrelated writers; "
                "needs only text, any tokenizer; survives quantisation, pruning and light tuning")

    def fingerprint(self, source: Any, config: TextConfig) -> TextSample:
        return sample_local(source.path, config.plan())

    def score(self, owner_fp: TextSample, suspect_fp: TextSample, config: TextConfig) -> float:
        """The owner's advantage on the suspect's text over ``config.baseline`` (the suspect's peers),
        averaged over leaving each peer out, so that it is measured as each peer's own is in the null."""
        peers = config.baseline
        if len(peers) < 2:
            return advantage(owner_fp, suspect_fp, peers)[0]
        return float(np.mean([advantage(owner_fp, suspect_fp, peers[:i] + peers[i + 1:])[0]
                              for i in range(len(peers))]))

    def null(self, owner_fp: TextSample, config: TextConfig, references: Sequence[Path]) -> NullCalibration:
        """Each reference as a pseudo-suspect: its own sample, the owner's advantage on it over the
        other references (the suspect's peers but itself)."""
        peers = tuple(str(p) for p in references)
        scores = [advantage(owner_fp, sample_local(ref, config.plan()), tuple(p for p in peers if p != ref))[0]
                  if len(peers) > 1 else math.nan for ref in peers]
        return calibrate(scores, source=NULL_SOURCE, models=[Path(p).name for p in peers])

    def verify(self, owner: str | Path | Any, suspect: Any, config: TextConfig | None = None, *,
               references: Sequence[str | Path] = ()) -> TextResult:
        """``suspect``: a model directory (sampled here) or a :class:`TextSample` (an endpoint's)."""
        from ...references import reference_models

        config = config if config is not None else self.default_config()
        owner_fp = owner_handle(owner)
        if isinstance(suspect, TextSample):  # the references answer the plan the suspect answered
            config = sampled_as(suspect, config)
            suspect_fp = suspect
        else:
            suspect_fp = self.fingerprint_of(suspect, config)
        exclude = [Path(owner_fp.model)] + ([Path(suspect_fp.model)] if suspect_fp.identity else [])
        panel = [str(p) for p in reference_models(extra=references, exclude=exclude) if usable(p)]
        pairs = suspect_fp.pairs()
        peers = closest_writers({p: per_byte_loglik(p, pairs, suspect_fp.api) for p in panel}) if pairs else ()
        config = replace(config, baseline=peers)
        null = self.null(owner_fp, config, [Path(p) for p in peers])
        return self.compare(owner_fp, suspect_fp, null=null, config=config)

    def compare(self, owner_fp: TextSample, suspect_fp: TextSample, *, null: NullCalibration | None,
                config: TextConfig) -> TextResult:
        if suspect_fp.prompt_set != PROMPT_SET:
            raise InputError(f"the suspect was sampled on {suspect_fp.prompt_set!r}; this version scores {PROMPT_SET!r}")
        peers = config.baseline
        score = self.score(owner_fp, suspect_fp, config)
        per_completion = advantage(owner_fp, suspect_fp, peers)[1]
        null = null if null is not None else calibrate([])
        notes = []
        verdict = decide(score, null, alpha=config.alpha)
        if null.n < 3:  # no p-value below alpha can come from fewer; "unrelated" would be unfounded too
            verdict = Verdict.INCONCLUSIVE
            notes.append(how_to_fix(null.n, config.alpha) + " (for text: model directories with a tokenizer, "
                         "any vocabulary)")
        fit = peer_fit(suspect_fp, peers, config)
        if fit is not None and fit[0] < fit[1] - FIT_MARGIN:
            verdict = Verdict.INCONCLUSIVE
            notes.append(f"no reference writes like the suspect: its closest writers explain its text at {fit[0]:.2f} "
                         f"nats/byte, each other's at {fit[1]:.2f} or better; add references of the suspect's kind "
                         "(its language, domain and size) with --null")
        finite = per_completion[np.isfinite(per_completion)]
        return TextResult(
            method=self.name, score=score, p_value=null.p_value(score, config.alpha), verdict=verdict,
            threshold=null.threshold(config.alpha), null=summarize(null), notes=tuple(notes),
            n_queries=suspect_fp.n_queries or None, owner=owner_fp.model, suspect=suspect_fp.model,
            n_completions=len(finite), owner_better_share=float(np.mean(finite > 0)) if len(finite) else math.nan,
            baseline=(f"its {len(peers)} closest writers among the reference models: "
                      + ", ".join(Path(p).name for p in peers)) if peers else "zlib code length (no reference models)",
            api=suspect_fp.api, prompt_set=suspect_fp.prompt_set, z_score=null.z_score(score) if null.n > 1 else math.nan)


def sampled_as(sample: TextSample, config: TextConfig) -> TextConfig:
    """``config`` with the sampling plan ``sample`` answered."""
    if sample.prompt_set != PROMPT_SET or tuple(sample.prompts) != prompt_set(len(sample.prompts)):
        raise InputError(f"{sample.model} was sampled on prompts that are not a prefix of {PROMPT_SET}")
    seed = int(sample.seeds[0]) // 1_000_003 if len(sample.seeds) else 0
    return replace(config, n_prompts=len(sample.prompts), max_tokens=sample.max_tokens, seed=seed, api=sample.api,
                   temperatures=tuple(dict.fromkeys(float(t) for t in sample.temperatures)))


def advantage(owner_fp: TextSample, sample: TextSample, baseline: Sequence[str]) -> tuple[float, np.ndarray]:
    """(median, per completion) of the owner's per-byte log-likelihood of ``sample`` minus the mean
    of ``baseline``'s (zlib's code length when there is no baseline)."""
    pairs = sample.pairs()
    if not pairs:
        return math.nan, np.zeros(0)
    mine = per_byte_loglik(_owner_model(owner_fp), pairs, sample.api)
    theirs = np.mean([per_byte_loglik(p, pairs, sample.api) for p in baseline], axis=0) if baseline else zlib_per_byte(pairs)
    diff = mine - theirs
    return (float(np.nanmedian(diff)) if np.isfinite(diff).any() else math.nan), diff


def peer_fit(suspect_fp: TextSample, peers: Sequence[str], config: TextConfig) -> tuple[float, float] | None:
    """(how well the peers explain the suspect's text, the worst of how well they explain each
    other's), median per-byte log-likelihoods; None with fewer than two peers."""
    if len(peers) < 2 or not suspect_fp.completions:
        return None
    suspect = float(np.mean([np.nanmedian(per_byte_loglik(p, suspect_fp.pairs(), suspect_fp.api)) for p in peers]))
    within = []
    for j in peers:
        sample = sample_local(j, config.plan())
        within.append(float(np.mean([np.nanmedian(per_byte_loglik(p, sample.pairs(), sample.api))
                                     for p in peers if p != j])))
    return suspect, min(within)


def closest_writers(logliks: dict[str, np.ndarray]) -> tuple[str, ...]:
    """The suspect's peers as writers: the references that explain its text best (median per-byte
    log-likelihood), every one within ``FIT_MARGIN`` of the best and at least ``PEERS``."""
    fit = {p: float(np.nanmedian(v)) for p, v in logliks.items()}
    ranked = sorted(fit, key=lambda p: (-fit[p], p))
    return tuple(p for i, p in enumerate(ranked) if i < PEERS or fit[p] >= fit[ranked[0]] - FIT_MARGIN)


def usable(path: str | Path) -> bool:
    """A reference the text method can sample and score: a transformers directory with a tokenizer."""
    path = Path(path)
    return (path / "config.json").is_file() and (any(path.glob("tokenizer*.json")) or (path / "tokenizer.model").is_file())


def owner_handle(owner: str | Path | Any) -> TextSample:
    """The owner as the text method needs it: its model directory (its own sample is not needed)."""
    if isinstance(owner, TextSample):
        return owner
    path = Path(getattr(owner, "path", owner))
    if not usable(path):
        raise InputError(f"the text method scores with the owner's model: {path} is not a transformers model "
                         "directory with a tokenizer")
    return TextSample(str(path), model_identity(path), "local", PROMPT_SET, (), np.zeros(0, dtype=np.int64),
                      np.zeros(0), np.zeros(0, dtype=np.int64), (), 0)


def _owner_model(owner_fp: TextSample) -> Path:
    path = Path(owner_fp.model)
    if not owner_fp.identity or not path.exists() or model_identity(path) != owner_fp.identity:
        raise KeyFileError(f"the text method scores with the owner's model, and {owner_fp.model} is not a local model "
                           "whose files are unchanged since sampling", hint="pass the owner's model directory")
    return path


TEXT = TextMethod()
