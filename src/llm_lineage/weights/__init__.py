"""Where tensors come from: safetensors / GGUF / (opt-in) pickle readers, config, keys -> roles."""

from .adapters import ADAPTERS, Adapter, adapter_for
from .checkpoint import Checkpoint, RoleInfo, open_checkpoint
from .config import ModelConfig

__all__ = ["ADAPTERS", "Adapter", "Checkpoint", "ModelConfig", "RoleInfo", "adapter_for", "open_checkpoint"]
