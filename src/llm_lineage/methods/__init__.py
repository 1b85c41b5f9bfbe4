"""Fingerprint methods: one folder each, registered here by name in :data:`METHODS`.

Adding a method is its folder plus one ``register(...)`` line below (see ``CONTRIBUTING.md``).
"""

from .awm import AWM
from .base import METHODS, Kind, Method, Result, get_method, methods_of, register, unregister
from .huref import HUREF, INVARIANT
from .pcs import PCS
from .stdprofile import STD_PROFILE
from .subspace import SUBSPACE
from .text import TEXT
from .tracing import TRACING

register(SUBSPACE)
register(INVARIANT)
register(HUREF)
register(PCS)
register(STD_PROFILE)
register(TRACING)
register(AWM)
register(TEXT)

__all__ = ["METHODS", "Kind", "Method", "Result", "get_method", "methods_of", "register", "unregister"]
