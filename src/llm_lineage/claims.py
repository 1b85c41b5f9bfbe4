"""What a suspect says about its own lineage, set beside what the evidence says.

Hugging Face model cards declare parents in their YAML front matter (``base_model:``, one id or a
list, and ``base_model_relation: finetune | adapter | quantized | merge``); configs sometimes carry
``base_model`` too. :func:`assess` reads those claims (``huggingface_hub``'s card parser) and
judges them against ``check``'s verdict (and :func:`assess_search` against a registry search's):

- ``consistent``: the card names the owner and the evidence says derived, or names another base
  and the evidence says unrelated to the owner;
- ``inconsistent``: the evidence says derived from the owner while the card names another base or
  none ("from scratch"), or the card names the owner while the evidence says unrelated;
- ``unclaimed``: nothing is declared (no card, or a card without ``base_model``);
- ``not judged``: the evidence is inconclusive.

A claim names the owner when one of its ids ends with one of the owner's names: ``--owner-id``,
the owner's folder or file name, its config's ``_name_or_path``, case-insensitive, with or without
the organisation (``Qwen/Qwen2.5-0.5B`` names a folder ``qwen2.5-0.5b``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .stats import Verdict
from .weights.hub import origin


@dataclass(frozen=True)
class Claim:
    status: str                       # consistent | inconsistent | unclaimed | not judged
    explanation: str
    base_models: tuple[str, ...] = ()
    relation: str | None = None
    license: str | None = None
    source: str = ""                  # where the claim was read: the card, config.json, or nothing

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def declared(model: str | Path) -> tuple[tuple[str, ...], str | None, str | None, str]:
    """``(base_models, relation, license, source)`` that ``model``'s card and config declare."""
    folder = Path(model) if Path(model).is_dir() else Path(model).parent
    config_name = "config.json"
    adapter = origin(folder).get("adapter")
    if adapter:  # a merged PEFT adapter: the card is the adapter's, whose config names its base
        folder, config_name = Path(adapter), "adapter_config.json"
    card = _card(folder / "README.md")
    config = _json(folder / config_name)
    if adapter:
        config = {"base_model": config.get("base_model_name_or_path")}
    bases = _ids(card.get("base_model")) or _ids(config.get("base_model"))
    source = ("model card" if _ids(card.get("base_model")) else config_name if bases
              else "model card (no base_model)" if card else "")
    relation = card.get("base_model_relation")
    license_ = card.get("license")
    return bases, relation if isinstance(relation, str) else None, license_ if isinstance(license_, str) else None, source


def owner_names(owner: str | Path, owner_id: str | None = None) -> set[str]:
    """Every name the owner goes by, lower case, without organisation."""
    path = Path(owner)
    names = {path.stem if path.is_file() else path.name}
    folder = path if path.is_dir() else path.parent
    named = _json(folder / "config.json").get("_name_or_path")
    hub_id = origin(path).get("hub_id")  # an owner read from the Hugging Face cache goes by its id
    for name in (owner_id, named if isinstance(named, str) else None, hub_id):
        if name:
            names.add(name)
    return {n.rstrip("/").rsplit("/", 1)[-1].lower() for n in names if n}


def assess(owner: str | Path, suspect: str | Path, verdict: Verdict, *, owner_id: str | None = None) -> Claim:
    """The suspect's declared lineage judged against ``verdict`` (see the module docstring)."""
    bases, relation, license_, source = declared(suspect)
    claims_owner = _names_any(bases, owner_names(owner, owner_id))
    owner_name = _owner_name(owner, owner_id)
    said = f"its {source} names {', '.join(bases)}" if bases else ""

    def judged(status: str, explanation: str) -> Claim:
        return Claim(status, explanation, bases, relation, license_, source)

    if verdict is Verdict.INCONCLUSIVE:
        return judged("not judged", "the evidence does not decide" + (f"; {said}" if said else ""))
    if verdict is Verdict.DERIVED:
        if claims_owner:
            return judged("consistent", f"{said}, and the evidence says it derives from {owner_name}")
        if bases:
            return judged("inconsistent", f"{said} as its base, but the evidence says it derives from {owner_name}")
        return judged("unclaimed", f"it declares no base model, and the evidence says it derives from {owner_name}")
    if claims_owner:
        return judged("inconsistent", f"{said} as its base, but the evidence says it is unrelated to {owner_name}")
    if bases:
        return judged("consistent", f"{said}, not {owner_name}, and the evidence says unrelated to {owner_name}")
    return judged("unclaimed", "it declares no base model")


def assess_search(suspect: str | Path, candidates: list[tuple[str, str, Verdict]]) -> dict[str, Any]:
    """The suspect's claim judged against a registry search's ``(name, source, verdict)`` candidates,
    best first: against the candidate its card names when that one was compared, else the best."""
    if not candidates:
        return {}
    bases = declared(suspect)[0]

    name, source, verdict = next((c for c in candidates if _names_any(bases, owner_names(c[1], c[0]))), candidates[0])
    return {**assess(source, suspect, verdict, owner_id=name).as_dict(), "owner": name}


def card_block(owner: str | Path, verdict: Verdict, grade: str = "", *, owner_id: str | None = None) -> str:
    """The model-card YAML the evidence supports, ready to paste into the suspect's README.md."""
    name = _owner_name(owner, owner_id)
    if verdict is not Verdict.DERIVED:
        return f"# the evidence supports no base_model relation to {name} ({verdict.value})\n"
    relation = "quantized" if "exact copy at" in grade else "finetune"
    return f"base_model: {name}\nbase_model_relation: {relation}\n"


def _names_any(bases: tuple[str, ...], names: set[str]) -> bool:
    """Whether one of the declared base ids ends with one of the owner's names."""
    return any(b.rstrip("/").rsplit("/", 1)[-1].lower() in names for b in bases)


def _owner_name(owner: str | Path, owner_id: str | None) -> str:
    return owner_id or origin(owner).get("hub_id") or Path(owner).name


def _card(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    from huggingface_hub.repocard import metadata_load

    try:
        data = metadata_load(path)
    except Exception:  # a card whose front matter is not YAML declares nothing we can read
        return {}
    return data if isinstance(data, dict) else {}


def _json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _ids(value: Any) -> tuple[str, ...]:
    if isinstance(value, str) and value.strip():
        return (value.strip(),)
    if isinstance(value, list):
        return tuple(v.strip() for v in value if isinstance(v, str) and v.strip())
    return ()
