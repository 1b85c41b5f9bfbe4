"""The one gate through which a model directory reaches ``transformers``.

Attacks, local suspects and the evaluation run models with ``AutoModelForCausalLM``. Before that
happens the directory goes through the same checks as every other command (:func:`open_checkpoint`:
pickle refused unless allowed, shards inside the folder, regular files, sizes against the bytes
present, config against the tensors), and afterwards a weight that transformers had to initialise
at random is an error naming it, never a silently random suspect.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import ConfigError, CorruptCheckpoint, NonFiniteWeights, first_line
from .checkpoint import open_checkpoint

# buffers transformers creates itself; their absence from a checkpoint is normal
_ALWAYS_REBUILT = ("rotary_emb.inv_freq", "attn.bias", "attn.masked_bias")


def load_model(model_dir: str | Path, *, dtype: Any = None, allow_pickle: bool = False) -> Any:
    """``AutoModelForCausalLM.from_pretrained(model_dir)`` in eval mode, after the checks above."""
    import torch
    from huggingface_hub.errors import StrictDataclassError
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    model_dir = Path(model_dir).expanduser()
    open_checkpoint(model_dir, allow_pickle=allow_pickle)  # raises on anything malformed or refused
    hf_logging.disable_progress_bar()  # progress is ours to show (llm_lineage.progress), not a bar per load
    hf_logging.set_verbosity_error()  # its load report is a table; what matters is raised below, in one line
    # with output_loading_info, from_pretrained returns (model, info); its stubs know only the model
    try:
        loaded: Any = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype or torch.float32,
                                                           output_loading_info=True)
    # what transformers raises for a config it cannot build or tensors that do not fit it
    except (ValueError, TypeError, KeyError, OSError, RuntimeError, ZeroDivisionError, StrictDataclassError) as exc:
        raise ConfigError(f"transformers cannot build a model from {model_dir}: "
                          f"{first_line(exc, limit=300)}") from None
    model, info = loaded
    missing = [k for k in info.get("missing_keys", ()) if not k.endswith(_ALWAYS_REBUILT)]
    if missing:
        raise CorruptCheckpoint(f"{model_dir} lacks {len(missing)} weight(s) the model needs, e.g. {missing[0]!r}; "
                                "transformers would initialise them at random",
                                hint="the checkpoint is incomplete: download it again or point at the full model")
    model.eval()
    require_finite(model, str(model_dir))
    return model


def require_finite(model: Any, what: str) -> None:
    """Refuse a model holding NaN or inf in any parameter (a diverged run, an fp16 overflow): every
    output would be NaN, and a derived copy of it would spread the damage."""
    import torch

    with torch.no_grad():
        for name, param in model.named_parameters():
            if not torch.isfinite(param.sum()) and not torch.isfinite(param).all():
                raise NonFiniteWeights(f"{what}: {name} holds NaN or inf values")
