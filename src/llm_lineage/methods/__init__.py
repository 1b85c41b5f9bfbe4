"""Fingerprint methods, one package each, registered by name in :data:`METHODS`."""

from .base import MethodResult, MethodSpec

METHODS: dict[str, MethodSpec] = {}
# each method package registers itself here, one line each:
# --- registered methods ---
from .stdprofile import SPEC as _std_profile  # noqa: E402  (issue 6)
METHODS[_std_profile.name] = _std_profile
from .huref import SPECS as _huref_specs  # noqa: E402  (issue 5: "huref", "invariant")
from .pcs import SPEC as _pcs  # noqa: E402  (issue 5)
METHODS.update({s.name: s for s in (*_huref_specs, _pcs)})
from .subspace import SPEC as _subspace  # noqa: E402  (issue 3: black-box logit subspace)
METHODS[_subspace.name] = _subspace
# --- end registered methods ---

__all__ = ["METHODS", "MethodResult", "MethodSpec"]
