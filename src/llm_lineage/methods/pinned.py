"""A fingerprint that is the weights themselves: the path of a checkpoint, pinned by its files.

Methods that compare two models tensor by tensor (``pcs``, ``tracing``) keep no summary: their
fingerprint points at the checkpoint and refuses to run once its files are gone or changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from ..errors import KeyFileError
from ..stats.nulls import model_identity
from ..weights import Checkpoint, open_checkpoint


@dataclass(frozen=True)
class PinnedWeights:
    model: str
    identity: str     # changes when the weight files do (stats.nulls.model_identity)
    config: dict[str, Any]

    @classmethod
    def of(cls, ckpt: Checkpoint) -> Self:
        return cls(model=str(ckpt.path), identity=model_identity(ckpt.path),
                   config={"model_type": ckpt.config.model_type, "hidden_size": ckpt.config.hidden_size})

    def checkpoint(self) -> Checkpoint:
        path = Path(self.model)
        if not path.exists() or model_identity(path) != self.identity:
            raise KeyFileError(f"this method needs the weights of {self.model}, which are gone or changed since "
                               "fingerprinting", hint="pass the model directory itself")
        return open_checkpoint(path)
