"""Aligned weight matrices (white-box): CKA of attention forms after aligning the residual streams."""

from .config import AWMConfig
from .core import AWM, AWMFingerprint, AWMMethod, AWMResult, aligned_cka, unbiased_cka, verify

__all__ = ["AWM", "AWMConfig", "AWMFingerprint", "AWMMethod", "AWMResult", "aligned_cka",
           "unbiased_cka", "verify"]
