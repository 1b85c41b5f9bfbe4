"""Where next-token evidence comes from: the OutputSource protocol, local models, simulated APIs.

:func:`open_suspect` turns what a user typed for ``--suspect`` into an :class:`OutputSource`. For
now that is a local model directory (run here, or seen through one simulated API access mode);
OpenAI-compatible endpoints (``outputs/openai_endpoint.py``) plug in beside it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import InputError, ModelNotFound
from .local import ACCESS_MODES, LocalModel, SimulatedAPI
from .reconstruct import Evidence, best_access, collect
from .source import Capabilities, OutputSource, TopLogprobs, is_url


def open_suspect(spec: str | Path, *, access: str | None = None, top_k: int = 5, decimals: int | None = None,
                 dtype: str = "float32", max_bias: float = 100.0, **endpoint: Any) -> OutputSource:
    """An :class:`OutputSource` for a ``--suspect`` argument.

    Parameters
    ----------
    spec : a local model directory, or an OpenAI-compatible endpoint ``https://HOST/v1``
        (``endpoint``: keyword options of ``outputs.campaign.open_endpoint``).
    access : None: the model answers everything (full logits); otherwise a :class:`SimulatedAPI`
        that allows only ``logits``, ``probs``, ``topk`` or ``top1``.
    top_k, decimals, max_bias : limits of the simulated API (see :class:`SimulatedAPI`).
    dtype : arithmetic of the local forward pass (``float32``, ``bfloat16``, ``float16``).
    """
    text = str(spec)
    if is_url(text):
        # probe the endpoint and choose a strategy; ``endpoint`` holds open_endpoint's
        # options (api_model, vocab_size, api_key_env, cache_path, resume, max_queries, ...)
        from .campaign import open_endpoint

        return open_endpoint(text, **endpoint).source
    path = Path(text).expanduser()
    if not path.exists():
        raise ModelNotFound(f"suspect {path} does not exist")
    if not path.is_dir():
        raise InputError(f"suspect {path} is a file; the black-box test runs a model directory",
                         hint="pass the directory holding config.json, the weights and the tokenizer")
    if access is not None and access not in ACCESS_MODES:
        raise InputError(f"unknown access mode {access!r}; choose from {', '.join(ACCESS_MODES)}")
    model = LocalModel(path, dtype=dtype)
    if access is None:
        return model
    return SimulatedAPI(model, access, top_k=top_k, decimals=decimals, max_bias=max_bias)


__all__ = ["ACCESS_MODES", "Capabilities", "Evidence", "LocalModel", "OutputSource", "SimulatedAPI",
           "TopLogprobs", "best_access", "collect", "open_suspect"]
