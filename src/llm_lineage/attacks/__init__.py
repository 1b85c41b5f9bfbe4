"""Derive suspects from a victim the way thieves do; each attack writes a normal model directory."""

from .registry import ATTACKS, derive

__all__ = ["ATTACKS", "derive"]
