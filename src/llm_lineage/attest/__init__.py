"""Attested fingerprints: a commitment to the weights, a signed bundle, and audits by selective opening."""

from __future__ import annotations

from .bundle import Bundle, check_bundle, publish
from .commitment import Commitment, commit
from .opening import AuditReport, audit, open_bundle

__all__ = ["AuditReport", "Bundle", "Commitment", "audit", "check_bundle", "commit", "open_bundle", "publish"]
