"""HuRef invariant-terms fingerprint (white-box): ICS between owner and suspect, and its image.

Two modes share the code and are registered as two methods: ``invariant`` (norm gains folded;
terms survive residual rotation, permutation and scaling) and ``huref`` (the paper's terms as
published, which a fold-and-rotate attack breaks).
"""

from functools import partial

from ..base import MethodSpec
from .config import HurefConfig
from .core import HurefFingerprint, HurefResult, compare, fingerprint, ics, null_calibration, verify
from .image import fingerprint_image, image_similarity, save_image
from .plot import plot_comparison


def _spec(mode: str, describe: str) -> MethodSpec:
    return MethodSpec(name=mode, kind="white-box", fingerprint=partial(fingerprint, config=HurefConfig(mode=mode)),
                      compare=compare, verify=partial(verify, mode=mode), plot=plot_comparison, describe=describe)


SPECS = (
    _spec("invariant", "HuRef invariant terms with norm gains folded (ICS); survives fine-tuning, residual "
                       "rotation/permutation, Q/K, V/O and FFN scaling; needs the weights"),
    _spec("huref", "HuRef invariant terms as published (ICS); survives fine-tuning, permutation and "
                   "scaling, not norm folding with residual rotation"),
)

__all__ = ["SPECS", "HurefConfig", "HurefFingerprint", "HurefResult", "compare", "fingerprint", "fingerprint_image",
           "ics", "image_similarity", "null_calibration", "plot_comparison", "save_image", "verify"]
