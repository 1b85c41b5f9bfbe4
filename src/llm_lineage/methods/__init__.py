"""Fingerprint methods, one package each, registered by name in :data:`METHODS`."""

from .base import MethodResult, MethodSpec

METHODS: dict[str, MethodSpec] = {}
# each method package registers itself here, one line each:
# --- registered methods ---
# --- end registered methods ---

__all__ = ["METHODS", "MethodResult", "MethodSpec"]
