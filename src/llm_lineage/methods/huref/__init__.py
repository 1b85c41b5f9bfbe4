"""HuRef invariant-terms fingerprint (white-box): ICS between owner and suspect, and its image.

Two modes share the code and are registered as two methods: ``invariant`` (norm gains folded;
terms survive residual rotation, permutation and scaling) and ``huref`` (the paper's terms as
published, which a fold-and-rotate attack breaks).
"""

from .config import HurefConfig
from .core import (
                   HUREF,
                   INVARIANT,
                   HurefFingerprint,
                   HurefMethod,
                   HurefResult,
                   compare,
                   fingerprint,
                   ics,
                   null_calibration,
                   verify,
)
from .image import fingerprint_image, image_similarity, save_image
from .plot import plot_comparison

__all__ = ["HUREF", "INVARIANT", "HurefConfig", "HurefFingerprint", "HurefMethod", "HurefResult", "compare",
           "fingerprint", "fingerprint_image", "ics", "image_similarity", "null_calibration", "plot_comparison",
           "save_image", "verify"]
