"""Saving fingerprints: arrays into one safetensors file, everything else into a JSON manifest.

A fingerprint file holds one or more methods' fingerprints (frozen dataclasses). Array fields
become tensors named ``<method>/<field>``; the other fields, the dataclass's import path and the
caller's provenance go to ``<file>.json`` beside it and, identically, into the safetensors
metadata, so the .safetensors alone is enough to load. Only the fingerprint classes of registered
methods are ever instantiated, so a crafted file cannot make us import or build anything else.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import KeyFileError

FORMAT = "llm-lineage-fingerprint/1"


def save(path: str | Path, fingerprints: dict[str, Any], *, manifest: dict[str, Any] | None = None) -> Path:
    from safetensors.numpy import save_file

    path = Path(path)
    if path.suffix != ".safetensors":
        path = path.with_suffix(".safetensors")
    tensors: dict[str, np.ndarray] = {}
    entries: dict[str, Any] = {}
    for method, fp in fingerprints.items():
        cls = type(fp)
        fields: dict[str, Any] = {}
        for f in dataclasses.fields(fp):
            value = getattr(fp, f.name)
            if isinstance(value, np.ndarray):
                tensors[f"{method}/{f.name}"] = np.ascontiguousarray(value)
            else:
                fields[f.name] = value
        entries[method] = {"class": f"{cls.__module__}:{cls.__qualname__}", "fields": fields}
    doc = {"format": FORMAT, **(manifest or {}), "fingerprints": entries}
    text = json.dumps(doc, indent=2, sort_keys=True, default=_json_default)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata={"llm_lineage": text})
    tmp.replace(path)
    path.with_suffix(".json").write_text(text + "\n")
    return path


def load(path: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return ``({method: fingerprint}, manifest)``."""
    from safetensors import safe_open

    path = Path(path)
    if path.suffix == ".json":
        path = path.with_suffix(".safetensors")
    if not path.is_file():
        raise KeyFileError(f"fingerprint file {path} does not exist")
    try:
        with safe_open(str(path), framework="numpy") as handle:
            doc = json.loads((handle.metadata() or {})["llm_lineage"])
            tensors = {k: handle.get_tensor(k) for k in handle.keys()}
    except (KeyError, json.JSONDecodeError) as exc:
        raise KeyFileError(f"{path} is not an llm-lineage fingerprint file ({exc})") from None
    except Exception as exc:
        raise KeyFileError(f"{path} cannot be read ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        found = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise KeyFileError(f"{path} has format {found!r}; this version reads {FORMAT}")
    entries = doc.get("fingerprints")
    if not isinstance(entries, dict) or not all(isinstance(e, dict) and isinstance(e.get("class"), str)
                                                and isinstance(e.get("fields"), dict) for e in entries.values()):
        raise KeyFileError(f"{path} has no valid 'fingerprints' table (method -> class and fields)",
                           hint="write the file again with `llm-lineage fingerprint`")
    out = {}
    for method, entry in entries.items():
        cls = _import_class(entry["class"], path)
        arrays = {k.split("/", 1)[1]: v for k, v in tensors.items() if k.split("/", 1)[0] == method}
        out[method] = _build(cls, {**entry["fields"], **arrays}, f"{path}: the {method} fingerprint")
    manifest = {k: v for k, v in doc.items() if k != "fingerprints"}
    return out, manifest


def _build(cls: type, values: dict[str, Any], where: str) -> Any:
    """One fingerprint from a file's entries, checked against its class first: every field without
    a default present, each of its declared type, and the class's own ``validate()`` (shapes,
    finiteness) passed; anything else is a :class:`KeyFileError` naming the entry."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    missing = [name for name, f in fields.items() if name not in values
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise KeyFileError(f"{where} lacks {', '.join(missing)}", hint="write the file again with `llm-lineage fingerprint`")
    kwargs = {}
    for name, value in values.items():
        if name not in fields:
            continue
        declared = str(fields[name].type)
        if isinstance(value, list) and "tuple" in declared:
            value = tuple(value)
        if not _of_type(value, declared):
            raise KeyFileError(f"{where}: {name} is {type(value).__name__} {_short(value)}, not {declared}")
        kwargs[name] = value
    try:
        fp = cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise KeyFileError(f"{where} cannot be built ({exc})") from None
    problem = fp.validate() if hasattr(fp, "validate") else None
    if problem:
        raise KeyFileError(f"{where}: {problem}", hint="write the file again with `llm-lineage fingerprint`")
    return fp


def _of_type(value: Any, declared: str) -> bool:
    """Whether ``value`` is of the annotation ``declared`` (a string: these modules use postponed
    annotations); types this check does not know are accepted and left to ``validate()``."""
    for option in (part.strip() for part in declared.split("|")):
        if option == "None" and value is None:
            return True
        if option == "bool" and isinstance(value, bool):
            return True
        if option == "int" and isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            return True
        if option == "float" and isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
            return True
        if option == "str" and isinstance(value, str):
            return True
        if option in ("np.ndarray", "numpy.ndarray") and isinstance(value, np.ndarray):
            return True
        if option.startswith(("tuple", "list")) and isinstance(value, (tuple, list)):
            return True
        if option.startswith("dict") and isinstance(value, dict):
            return True
        if option.split("[")[0] not in ("None", "bool", "int", "float", "str", "np.ndarray", "numpy.ndarray",
                                        "tuple", "list", "dict"):
            return True
    return False


def _short(value: Any) -> str:
    text = repr(value) if not isinstance(value, np.ndarray) else f"of shape {value.shape}"
    return text if len(text) <= 40 else text[:37] + "..."


def is_fingerprint_file(path: str | Path) -> bool:
    path = Path(path)
    return path.is_file() and path.suffix in (".safetensors", ".json") and \
        path.with_suffix(".json").is_file() and path.with_suffix(".safetensors").is_file()


def _import_class(spec: str, path: Path) -> type:
    """The fingerprint class ``module:qualname`` names, looked up in the registered methods' table
    (``Method.fingerprint_cls``); nothing else is ever imported for a file."""
    from .base import METHODS

    known = {f"{cls.__module__}:{cls.__qualname__}": cls for m in METHODS.values() for cls in m.fingerprint_cls}
    if spec not in known:
        raise KeyFileError(f"{path} names class {spec!r}, which no registered method stores; refusing to load it",
                           hint="it was written by another llm-lineage version or with a method not installed here")
    return known[spec]


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if isinstance(value, Path):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"cannot store {type(value).__name__} in a fingerprint manifest")
