"""A checkpoint as roles: ``ckpt.tensor("q_proj", layer=3)``.

:func:`open_checkpoint` accepts a Hugging Face model directory (one or many ``*.safetensors``,
``model.safetensors.index.json``), a single ``.safetensors`` file, a ``.gguf`` file, or, only with
``allow_pickle=True``, ``*.bin``/``*.pt`` state dicts. Every tensor is read on demand, one at a
time; nothing is cached, so memory is bounded by the tensors a caller holds.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import (
    ConfigError,
    MissingTensor,
    ModelNotFound,
    NonFiniteWeights,
    PickleRefused,
    UnsupportedFormat,
    first_line,
)
from .adapters import Adapter, adapter_for, map_keys
from .config import ModelConfig
from .stores import GGUFStore, PickleStore, SafetensorsStore, TensorStore, require_regular_file

_PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt")


@dataclass(frozen=True)
class RoleInfo:
    role: str
    layer: int | None
    expert: int | None
    key: str
    shape: tuple[int, ...]
    dtype: str


class Checkpoint:
    """Roles over a lazy tensor store, in HF ``[out, in]`` convention, as float32/float64."""

    def __init__(self, path: Path, config: ModelConfig, store: TensorStore, adapter: Adapter) -> None:
        self.path = path
        self.config = config
        self.store = store
        self.adapter = adapter
        self._roles, self.unmapped_keys = map_keys(store.keys(), adapter)

    # --- what is there -----------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The hub id of a cached snapshot, an adapter's folder name, else the file or folder name."""
        from .hub import origin

        where = origin(self.path)
        if "hub_id" in where:
            return str(where["hub_id"])
        if "adapter" in where:
            return Path(where["adapter"]).name
        return self.path.name if self.path.is_dir() else self.path.stem

    @property
    def n_layers(self) -> int:
        return self.config.num_hidden_layers

    @property
    def lossless_dtype(self) -> type:
        """The dtype to read tensors in without losing a bit: float32 holds every 8-, 16- and 32-bit
        float (and every GGUF dequantised value) exactly; only float64 checkpoints need float64."""
        wide = any(d.upper() in ("F64", "FLOAT64", "DOUBLE") for d in self.dtypes())
        return np.float64 if wide else np.float32

    @property
    def gated_mlp(self) -> bool:
        if self.adapter.gated_mlp is not None:
            return self.adapter.gated_mlp
        return any(r in ("gate_proj", "gate_up_proj", "experts.gate_proj", "experts.gate_up_proj")
                   for r, _, _ in self._roles)

    @property
    def is_moe(self) -> bool:
        return any(r == "router" for r, _, _ in self._roles)

    def roles(self) -> list[RoleInfo]:
        return [RoleInfo(r, layer, e, key, self.store.shape(key), self.store.dtype(key))
                for (r, layer, e), key in self._roles.items()]

    def has(self, role: str, layer: int | None = None, *, expert: int | None = None) -> bool:
        try:
            self._resolve(role, layer, expert)
            return True
        except MissingTensor:
            return False

    def dtypes(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for key in self.store.keys():
            counts[self.store.dtype(key)] = counts.get(self.store.dtype(key), 0) + 1
        return counts

    def n_parameters(self) -> int:
        return int(sum(int(np.prod(self.store.shape(k), dtype=np.int64)) for k in self.store.keys()))

    def shape(self, role: str, layer: int | None = None) -> tuple[int, ...]:
        """A role's shape, ``[out, in]``, without reading it (packed and transposed roles are read)."""
        key, transform = self._resolve(role, layer, None)
        if transform is _identity:
            return tuple(int(d) for d in self.store.shape(key))
        return tuple(self.tensor(role, layer).shape)

    # --- reading -----------------------------------------------------------------------------

    def tensor(self, role: str, layer: int | None = None, *, expert: int | None = None,
               dtype: type | np.dtype = np.float32) -> np.ndarray:
        """One role's tensor, ``[out, in]`` for matrices; raises :class:`MissingTensor`."""
        key, transform = self._resolve(role, layer, expert)
        arr = transform(self.store.get(key, dtype=dtype))
        # one reduction instead of a boolean mask: a NaN/inf makes the sum non-finite; only an
        # overflowing sum of finite values needs the exact check
        if not np.isfinite(arr.sum()) and not np.isfinite(arr).all():
            where = f"layer {layer} " if layer is not None else ""
            raise NonFiniteWeights(f"{self.path}: {where}{role} ({key}) holds NaN or inf values")
        return np.ascontiguousarray(arr)

    def rows(self, role: str, rows: np.ndarray, layer: int | None = None, *,
             dtype: type | np.dtype = np.float32) -> np.ndarray:
        """``tensor(role, layer)[rows]``, reading only those rows where the store can."""
        key, transform = self._resolve(role, layer, None)
        if transform is _identity and hasattr(self.store, "get_rows"):
            arr = self.store.get_rows(key, np.asarray(rows, dtype=np.int64), dtype=dtype)
        else:
            arr = transform(self.store.get(key, dtype=dtype))[rows]
        # one reduction instead of a boolean mask: a NaN/inf makes the sum non-finite; only an
        # overflowing sum of finite values needs the exact check
        if not np.isfinite(arr.sum()) and not np.isfinite(arr).all():
            raise NonFiniteWeights(f"{self.path}: {role} ({key}) holds NaN or inf values in the rows read")
        return np.ascontiguousarray(arr)

    def attention(self, layer: int, dtype: type | np.dtype = np.float32) -> dict[str, np.ndarray]:
        return {p: self.tensor(p, layer, dtype=dtype) for p in ("q_proj", "k_proj", "v_proj", "o_proj")}

    def _resolve(self, role: str, layer: int | None, expert: int | None) -> tuple[str, Any]:
        if (role, layer, expert) in self._roles:
            key = self._roles[(role, layer, expert)]
            if self.adapter.conv1d and layer is not None and len(self.store.shape(key)) == 2:
                return key, np.transpose
            return key, _identity
        bias = role.endswith(".bias")
        base = role.removesuffix(".bias")
        suffix = ".bias" if bias else ""
        if base in ("q_proj", "k_proj", "v_proj") and ("qkv_proj" + suffix, layer, None) in self._roles:
            key = self._roles[("qkv_proj" + suffix, layer, None)]
            part = base[0]
            return key, lambda a: self._split_qkv(a, part)
        if base in ("gate_proj", "up_proj") and ("gate_up_proj" + suffix, layer, None) in self._roles and expert is None:
            key = self._roles[("gate_up_proj" + suffix, layer, None)]
            half = 0 if base == "gate_proj" else 1
            return key, lambda a: np.split(a, 2, axis=0)[half]
        if expert is not None and base in ("gate_proj", "up_proj", "down_proj"):
            if (f"experts.{base}", layer, None) in self._roles:
                return self._roles[(f"experts.{base}", layer, None)], lambda a: a[expert]
            if base != "down_proj" and ("experts.gate_up_proj", layer, None) in self._roles:
                half = 0 if base == "gate_proj" else 1
                return self._roles[("experts.gate_up_proj", layer, None)], lambda a: np.split(a[expert], 2, axis=0)[half]
        if role == "lm_head" and (self.config.tie_word_embeddings or ("lm_head", None, None) not in self._roles):
            if ("embed_tokens", None, None) in self._roles and self.config.tie_word_embeddings:
                return self._roles[("embed_tokens", None, None)], _identity
            raise MissingTensor(
                f"{self.path} has no lm_head and tie_word_embeddings is false in its config",
                hint="the checkpoint is incomplete: the output layer was not saved",
            )
        if role == "mlp_norm" and layer is not None and self.config.raw.get("parallel_attn"):
            # Falcon-7B: one norm feeds attention and MLP in parallel
            return self._resolve("attn_norm", layer, None)
        where = f" in layer {layer}" if layer is not None else ""
        where += f" expert {expert}" if expert is not None else ""
        raise MissingTensor(f"{self.path}: no {role}{where} (model_type {self.config.model_type!r})")

    def _split_qkv(self, packed: np.ndarray, part: str) -> np.ndarray:
        if self.adapter.conv1d and packed.ndim == 2:
            packed = packed.T
        cfg = self.config
        h, kv, hd = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
        tail = packed.shape[1:]
        layout = self.adapter.qkv_layout
        if layout == "falcon" and cfg.raw.get("new_decoder_architecture"):
            grouped = packed.reshape(kv, h // kv + 2, hd, *tail)
            out = {"q": grouped[:, :-2], "k": grouped[:, -2], "v": grouped[:, -1]}[part]
            return out.reshape(-1, *tail)
        if layout == "neox" or (layout == "falcon" and kv == h):
            return packed.reshape(h, 3, hd, *tail)[:, "qkv".index(part)].reshape(-1, *tail)
        sizes = [h * hd, kv * hd, kv * hd]
        q, k, v = np.split(packed, np.cumsum(sizes)[:2], axis=0)
        return {"q": q, "k": k, "v": v}[part]

    # --- provenance --------------------------------------------------------------------------

    def tokenizer_hash(self) -> str | None:
        """sha256 of the tokenizer definition, to tell whether two vocabularies are the same."""
        root = self.path if self.path.is_dir() else self.path.parent
        for name in ("tokenizer.json", "tokenizer.model", "vocab.json"):
            if (root / name).is_file():
                return hashlib.sha256((root / name).read_bytes()).hexdigest()
        tokens = getattr(self.store, "tokens", None)
        if tokens:
            return hashlib.sha256("\n".join(map(str, tokens)).encode()).hexdigest()
        return None

    def summary(self) -> dict[str, Any]:
        cfg = self.config
        layer_roles = sorted({r for (r, layer, _) in self._roles if layer is not None})
        return {
            "path": str(self.path),
            "format": type(self.store).__name__.removesuffix("Store").lower(),
            "model_type": cfg.model_type,
            "adapter": self.adapter.name,
            "architectures": list(cfg.architectures),
            "hidden_size": cfg.hidden_size,
            "num_hidden_layers": cfg.num_hidden_layers,
            "num_attention_heads": cfg.num_attention_heads,
            "num_key_value_heads": cfg.num_key_value_heads,
            "head_dim": cfg.head_dim,
            "intermediate_size": cfg.intermediate_size,
            "vocab_size": cfg.vocab_size,
            "tie_word_embeddings": cfg.tie_word_embeddings,
            "num_experts": cfg.num_experts,
            "gated_mlp": self.gated_mlp,
            "n_parameters": self.n_parameters(),
            "dtypes": self.dtypes(),
            "global_roles": sorted({r for (r, layer, _) in self._roles if layer is None}
                                   | ({"lm_head"} if self.has("lm_head") else set())),
            "layer_roles": layer_roles,
            "layers_found": len({layer for (_, layer, _) in self._roles if layer is not None}),
            "unmapped_keys": self.unmapped_keys[:20],
            "n_files": len(self.store.files),
            "tokenizer_sha256": self.tokenizer_hash(),
        }


def _identity(a: np.ndarray) -> np.ndarray:
    return a


def open_checkpoint(path: str | Path, *, allow_pickle: bool = False) -> Checkpoint:
    """Open a model directory or weight file lazily; nothing but headers is read here."""
    path = Path(path).expanduser()
    if not path.exists():
        raise ModelNotFound(f"{path} does not exist")
    if not path.is_dir():
        require_regular_file(path)
        return checked(_open_file(path, allow_pickle))
    return checked(_open_dir(path, allow_pickle))


def _open_dir(path: Path, allow_pickle: bool) -> Checkpoint:
    index = path / "model.safetensors.index.json"
    shards = sorted(path.glob("*.safetensors"))
    for shard in shards:
        require_regular_file(shard)
    if index.is_file():
        store: TensorStore = SafetensorsStore.open_index(index)
    elif shards:
        store = SafetensorsStore({k: p for p in shards for k in SafetensorsStore.open_file(p).keys()})
    elif ggufs := sorted(path.glob("*.gguf")):
        require_regular_file(ggufs[0])
        return _open_file(ggufs[0], allow_pickle)
    elif pickles := sorted(p for p in path.iterdir() if p.suffix in _PICKLE_SUFFIXES and "optimizer" not in p.name):
        if not allow_pickle:
            raise PickleRefused(f"{path} holds only pickle checkpoints ({', '.join(p.name for p in pickles)})")
        store = PickleStore(pickles)
    else:
        raise ModelNotFound(f"{path} holds no *.safetensors, *.gguf or pickle weights")
    config = ModelConfig.from_file(path / "config.json")
    _check_tokenizer(path)
    return Checkpoint(path, config, store, adapter_for(config.model_type))


def _check_tokenizer(path: Path) -> None:
    """A model folder's tokenizer files, parsed here once: garbage in them is one clear error for
    every command, not a Rust or transformers traceback in whichever reads them first."""
    for name in ("tokenizer.json", "tokenizer_config.json"):
        file = path / name
        if file.is_file():
            require_regular_file(file)
            stat = file.stat()
            problem = _tokenizer_problem(str(file), stat.st_mtime_ns, stat.st_size)
            if problem:
                raise ConfigError(f"{file} cannot be read as a tokenizer: {problem}",
                                  hint="replace it with the tokenizer files the model was published with")


@functools.lru_cache(maxsize=64)
def _tokenizer_problem(file: str, mtime_ns: int, size: int) -> str | None:
    if file.endswith("tokenizer.json"):
        from tokenizers import Tokenizer

        try:
            Tokenizer.from_file(file)
        except Exception as exc:  # the Rust parser's errors are of one class whatever went wrong
            return first_line(exc)
        return None
    try:
        with open(file, "rb") as handle:
            doc = json.loads(handle.read())
    except (ValueError, UnicodeDecodeError) as exc:
        return f"not JSON ({str(exc)[:120]})"
    return None if isinstance(doc, dict) else f"a JSON {type(doc).__name__}, not an object"


def _open_file(path: Path, allow_pickle: bool) -> Checkpoint:
    suffix = path.suffix.lower()
    if suffix == ".gguf":
        gguf = GGUFStore(path)
        config = ModelConfig.from_dict(gguf.config_dict(), source=str(path))
        return Checkpoint(path, config, gguf, adapter_for("llama" if gguf.arch == "llama" else config.model_type))
    if suffix == ".safetensors":
        store: TensorStore = SafetensorsStore.open_file(path)
    elif suffix in _PICKLE_SUFFIXES:
        if not allow_pickle:
            raise PickleRefused(f"{path} is a pickle checkpoint, which can run code when loaded")
        store = PickleStore([path])
    elif path.name == "config.json":
        return open_checkpoint(path.parent, allow_pickle=allow_pickle)
    else:
        raise UnsupportedFormat(f"{path}: unknown weight format {suffix!r}",
                                hint="use a .safetensors, .gguf or model directory")
    config_path = path.parent / "config.json"
    config = ModelConfig.from_file(config_path) if config_path.is_file() else _infer_config(store, path)
    return Checkpoint(path, config, store, adapter_for(config.model_type))


def _infer_config(store: TensorStore, path: Path) -> ModelConfig:
    """Sizes from tensor shapes when a lone weight file comes without config.json."""
    roles, _ = map_keys(store.keys(), adapter_for("unknown"))
    embed = roles.get(("embed_tokens", None, None))
    if embed is None:
        raise ConfigError(f"{path} has no config.json beside it and no embedding to infer sizes from",
                          hint="put the model's config.json next to the file")
    vocab, hidden = store.shape(embed)
    layers = {layer for (_, layer, _) in roles if layer is not None}
    q = roles.get(("q_proj", 0, None))
    k = roles.get(("k_proj", 0, None))
    qn = roles.get(("q_norm", 0, None))
    head_dim = store.shape(qn)[0] if qn else (64 if hidden % 64 == 0 else hidden)
    n_heads = max(1, (store.shape(q)[0] // head_dim) if q else hidden // head_dim)
    n_kv = max(1, (store.shape(k)[0] // head_dim) if k else n_heads)
    args = getattr(store, "model_args", None) or {}
    n_heads = int(args.get("n_heads", n_heads))
    n_kv = int(args.get("n_kv_heads") or n_kv if args else n_kv)
    head_dim = hidden // n_heads if args else head_dim
    raw = {"model_type": "unknown", "hidden_size": hidden, "vocab_size": vocab,
           "num_hidden_layers": len(layers), "num_attention_heads": n_heads,
           "num_key_value_heads": n_kv, "head_dim": head_dim,
           "tie_word_embeddings": ("lm_head", None, None) not in roles, "inferred_from_shapes": True}
    return ModelConfig.from_dict(raw, source=str(path))


# families whose attention always has q/k/v biases: a config of theirs over weights without is a mix-up
BIASED_QKV = ("qwen2", "qwen2_moe")
# families whose dense blocks have a gated MLP: a plain fc_in/fc_out under their config is a mix-up
GATED_MLP = ("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3", "gemma3_text", "olmo", "olmo2",
             "granite", "phi3")


def checked(ckpt: Checkpoint) -> Checkpoint:
    """Every size the config declares, checked against the tensors present (nothing is read).

    A vocabulary larger than the embedding would make row reads run into other tensors' bytes;
    a layer count below the stored blocks would silently leave blocks out; a hidden size, head
    count or architecture the tensors do not have would give fingerprints of a model that is not
    there. A file with no language-model tensor at all is refused, not fingerprinted.
    """
    cfg = ckpt.config
    roles = ckpt.roles()
    embed = next((r for r in roles if r.role == "embed_tokens" and r.layer is None), None)
    stored = {r.layer for r in roles if r.layer is not None}
    if embed is None and not stored:
        found = ", ".join(ckpt.store.keys()[:5]) or "no tensors"
        raise UnsupportedFormat(f"{ckpt.path} holds no tensor of a language model (no embedding, no transformer "
                                f"block): found {found}")
    # a config guessed from the shapes themselves has nothing to be checked against
    checkable = not cfg.raw.get("inferred_from_shapes")
    if embed is not None and len(embed.shape) == 2 and cfg.vocab_size > embed.shape[0]:
        raise ConfigError(f"{ckpt.path}: config declares vocab_size {cfg.vocab_size}, but the embedding "
                          f"{embed.key} holds {embed.shape[0]} rows")
    # OPT's embedding may be projected to the hidden size: its own width is word_embed_proj_dim
    width = cfg.raw.get("word_embed_proj_dim") or cfg.hidden_size
    if checkable and embed is not None and len(embed.shape) == 2 and embed.shape[1] != width:
        raise ConfigError(f"{ckpt.path}: config declares hidden_size {width}, but the embedding {embed.key} is "
                          f"{embed.shape[1]} wide", hint="use the config.json the weights were saved with")
    first = min(stored, default=None)
    have = {r.role for r in roles if r.layer == first}
    if first is not None and not have & {"q_proj", "qkv_proj"}:
        unmapped = ", ".join(ckpt.unmapped_keys[:5])
        raise ConfigError(f"{ckpt.path}: block {first} has no attention query projection under "
                          f"{ckpt.adapter.name}'s names" + (f"; tensors no name matched: {unmapped}" if unmapped else ""),
                          hint="the weights and config.json are of different architectures")
    if cfg.model_type in GATED_MLP and "fc_in" in have:
        raise ConfigError(f"{ckpt.path}: config declares {cfg.model_type}, whose blocks have a gated MLP "
                          f"(gate_proj, up_proj), but block {first} holds a plain one (fc_in, fc_out): the weights "
                          "are of another architecture (GPT-2, OPT, GPT-NeoX...)",
                          hint="use the config.json the weights were saved with")
    if cfg.model_type in BIASED_QKV and "q_proj" in have and "q_proj.bias" not in have:
        raise ConfigError(f"{ckpt.path}: config declares {cfg.model_type}, whose q/k/v projections carry biases, "
                          f"but block {first} has none: the weights are of another architecture",
                          hint="use the config.json the weights were saved with")
    if stored and max(stored) + 1 > cfg.num_hidden_layers:  # fewer is a missing tensor, named when read
        raise ConfigError(f"{ckpt.path}: config declares {cfg.num_hidden_layers} layers, but the weights hold blocks "
                          f"0-{max(stored)}", hint="fix num_hidden_layers in config.json")
    # separate projections of the first block: their rows are heads x head_dim
    for role, heads in (("q_proj", cfg.num_attention_heads), ("k_proj", cfg.num_key_value_heads),
                        ("v_proj", cfg.num_key_value_heads)):
        info = next((r for r in ckpt.roles() if r.role == role and r.layer == min(stored, default=0)
                     and r.expert is None and len(r.shape) == 2), None)
        if checkable and info is not None and not ckpt.adapter.conv1d and info.shape[0] != heads * cfg.head_dim:
            raise ConfigError(f"{ckpt.path}: config declares {heads} x {cfg.head_dim} for {role}, but {info.key} "
                              f"has {info.shape[0]} rows", hint="fix the head counts or head_dim in config.json")
    return ckpt
