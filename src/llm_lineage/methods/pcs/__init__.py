"""Parameter cosine similarity (white-box baseline): one global cosine over same-shaped weights."""

from .config import PCSConfig
from .core import PCS, PCSFingerprint, PCSMethod, PCSResult, cosines, fingerprint, verify

__all__ = ["PCS", "PCSConfig", "PCSFingerprint", "PCSMethod", "PCSResult", "cosines", "fingerprint", "verify"]
