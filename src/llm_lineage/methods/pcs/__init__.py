"""Parameter cosine similarity (white-box baseline): one global cosine over same-shaped weights."""

from ..base import MethodSpec
from .config import PCSConfig
from .core import PCSFingerprint, PCSResult, compare, cosines, fingerprint, verify

SPEC = MethodSpec(
    name="pcs", kind="white-box", fingerprint=fingerprint, compare=compare, verify=verify,
    describe="global cosine of same-shaped weight matrices; survives light fine-tuning, broken by any "
             "permutation, rotation or rescaling of hidden units")

__all__ = ["SPEC", "PCSConfig", "PCSFingerprint", "PCSResult", "compare", "cosines", "fingerprint", "verify"]
