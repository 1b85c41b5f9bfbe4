r"""p-values for matching tests: how many units (or heads) two independent matchings pair alike.

``tracing`` and ``awm`` match a layer's units twice, on two different weights, and count the units
``K`` that both matchings send to the same partner. If, for independent models, the second
matching is a uniformly random injection given the first, ``K`` is at most the fixed points of a
random permutation: ``P(K >= k) <= 1 / k!``.

That assumption is not a theorem, and real independent pairs break it in some layers (units of
models trained on similar text read the same token directions; see ``methods/tracing``). So the
layers are combined through a robust order statistic: ``k*``, the ``m``-th largest of the ``M``
tested layer pairs' ``K`` (``m = ceil(M/2)``), with the bound assumed for all but ``r = floor(M/4)``
of the ``P`` candidate layer pairs. ``{k* >= k}`` then needs ``m - r`` bound-keeping candidates
with ``K >= k``, and Markov's inequality on their count gives

    P(k* >= k) <= P / ((m - r) k!)

whichever ``M`` pairs were tested and however they were chosen from the ``P`` candidates.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from scipy.special import gammaln

_LN10 = math.log(10.0)


def log10_p_agreement(k: int) -> float:
    """``log10`` of the bound ``1 / k!`` on P(K >= k) for the fixed points of a random permutation.

    >>> round(10 ** log10_p_agreement(5), 6)
    0.008333
    """
    return float(-gammaln(k + 1) / _LN10) if k > 0 else 0.0


def robust_agreement(agreements: Sequence[int]) -> tuple[int, int, int]:
    """``(k*, m, r)``: the ``m``-th largest agreement (``m = ceil(M/2)``) and the number ``r = floor(M/4)``
    of layer pairs allowed to break the ``1/k!`` bound.

    >>> robust_agreement([3, 5, 3, 4, 4, 10, 12, 78])     # independent: edge layers are high
    (5, 4, 2)
    >>> robust_agreement([1020, 1018, 1024, 990])         # derived: every layer
    (1020, 2, 1)
    """
    n = len(agreements)
    if n == 0:
        raise ValueError("no layer pair was tested")
    m, r = (n + 1) // 2, n // 4
    return int(sorted(agreements, reverse=True)[m - 1]), m, r


def log10_p_matching(agreements: Sequence[int], n_candidates: int) -> float:
    """``log10`` of ``P / ((m - r) k*!)``, at most 0 (``P = n_candidates`` layer pairs that could be tested).

    >>> round(10 ** log10_p_matching([3, 5, 3, 4, 4, 10, 12, 78], 8), 3)     # k* = 5: 8 / (2 * 5!)
    0.033
    >>> log10_p_matching([60] * 24, 720) < -70
    True
    """
    k, m, r = robust_agreement(agreements)
    return min(0.0, math.log10(max(n_candidates, 1)) - math.log10(m - r) + log10_p_agreement(k))
