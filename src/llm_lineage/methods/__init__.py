"""Fingerprint methods, one package each, registered by name in :data:`METHODS`."""

from . import huref, pcs, stdprofile, subspace
from .base import MethodResult, MethodSpec

METHODS: dict[str, MethodSpec] = {
    spec.name: spec for spec in (subspace.SPEC, *huref.SPECS, pcs.SPEC, stdprofile.SPEC)
}

__all__ = ["METHODS", "MethodResult", "MethodSpec"]
