"""Black-box logit-subspace fingerprint: do the suspect's outputs lie in span(owner's lm_head)?

``verify(owner, suspect)`` is the entry point for local suspects and :func:`.endpoint.verify_endpoint`
for HTTP ones; ``owner_key`` builds the key from a checkpoint, ``compare`` tests collected evidence
against one key. See ``method.py`` for the verdict rules, ``core.py`` for the maths and ``key.py``
for what the key holds.
"""

from .config import SubspaceConfig
from .core import (
           Alignment,
           Compatibility,
           HiddenSizeEstimate,
           alignment,
           compatibility,
           estimate_hidden_size,
           residuals,
)
from .endpoint import EndpointVerification, campaign_plan, test_keys, verify_endpoint
from .key import SubspaceKey, fingerprint, load_owner, owner_key
from .method import SUBSPACE, SubspaceMethod, SubspaceResult, compare, key_tokens, prompts_for, verify

__all__ = ["SUBSPACE", "Alignment", "EndpointVerification", "campaign_plan", "test_keys", "verify_endpoint",
           "Compatibility", "HiddenSizeEstimate", "SubspaceConfig", "SubspaceKey",
           "SubspaceMethod", "SubspaceResult", "alignment", "compare", "compatibility", "estimate_hidden_size",
           "fingerprint", "key_tokens", "load_owner", "owner_key", "prompts_for", "residuals", "verify"]
