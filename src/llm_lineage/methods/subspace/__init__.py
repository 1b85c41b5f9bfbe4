"""Black-box logit-subspace fingerprint: do the suspect's outputs lie in span(owner's lm_head)?

``verify(owner, suspect)`` is the entry point; ``owner_key`` builds the key from a checkpoint,
``compare`` tests collected evidence against one key. See ``method.py`` for the verdict rules,
``core.py`` for the maths and ``key.py`` for what the key holds.
"""

from .config import SubspaceConfig
from .core import Alignment, Compatibility, HiddenSizeEstimate, alignment, compatibility, estimate_hidden_size, residuals
from .key import SubspaceKey, fingerprint, load_owner, owner_key
from .method import SubspaceResult, compare, key_tokens, prompts_for, verify

from ..base import MethodSpec

DESCRIBE = ("black-box: residual of the suspect's next-token log-probs to span([lm_head, 1]) and the extra "
            "dimensions they need; survives any change inside the network, not a re-trained lm_head")

SPEC = MethodSpec(name="subspace", kind="black-box", fingerprint=fingerprint, compare=compare, verify=verify,
                  describe=DESCRIBE)

__all__ = ["DESCRIBE", "SPEC", "Alignment", "Compatibility", "HiddenSizeEstimate", "SubspaceConfig", "SubspaceKey",
           "SubspaceResult", "alignment", "compare", "compatibility", "estimate_hidden_size", "fingerprint",
           "key_tokens", "load_owner", "owner_key", "prompts_for", "residuals", "verify"]
