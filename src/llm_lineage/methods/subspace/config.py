"""Options of the subspace method: one frozen dataclass, every field with the reason for its default."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SubspaceConfig:
    """How to query the suspect and how to decide.

    Parameters
    ----------
    access : ``logits``, ``probs``, ``topk`` or ``top1``; None: the cheapest the suspect offers
        (full logits for a local model: one forward pass per output, exact to fp32).
    top_k : log-probs per query in ``topk`` mode (None: the most the source gives).
    n_outputs : prompts queried. None: ``hidden_size + 32`` of the owner, so that the alignment
        test can see every extra dimension of an unrelated model of the same size and a gap after.
    n_tokens : tokens of the key used (a subset of its token list seeded by ``seed``); None: all.
        The compatibility test alone needs only ``hidden_size + 2``; more tokens sharpen it.
    alpha : the false-positive rate asked for: ``derived`` needs p < alpha.
    noise_margin : how far above the precision model a derived suspect's residual may lie. The
        model counts the rounding of outputs, not the accumulated rounding of a forward pass,
        which on zoo models adds a factor of 2 to 5; 10 leaves room and stays orders of
        magnitude below any unrelated model (whose residuals are 10^5 times the fp32 floor).
    max_extra_fraction : alignment calls a suspect derived when it needs at most this fraction
        of the owner's hidden size in extra dimensions (LoRA ranks are a few percent of it; an
        unrelated model needs all of it).
    n_null : random stacks simulated for the alignment null.
    initial_bias : first ``logit_bias`` of the bias modes (doubled on a miss up to the limit).
    seed : seed of the null simulation.
    progress : show a progress bar while querying.
    owner_tokens : tokens kept in the owner key when one is built (None: min(vocab, 2*hidden+64)).
    """

    access: str | None = None
    top_k: int | None = None
    n_outputs: int | None = None
    n_tokens: int | None = None
    alpha: float = 0.01
    noise_margin: float = 10.0
    max_extra_fraction: float = 0.25
    n_null: int = 20
    initial_bias: float = 20.0
    seed: int = 0
    progress: bool = False
    owner_tokens: int | None = None
