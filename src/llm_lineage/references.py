"""Which models may stand in for "unrelated to this owner" in a null distribution.

No model is ever trained or downloaded here. The candidates come, in this order, from:

1. models the caller names (``--null PATH``, ``references=`` in the API);
2. a reference folder the user configures, ``$LLM_LINEAGE_REFERENCES`` (e.g. ``../shared/models``):
   every model directory, ``.safetensors`` or ``.gguf`` file under it (``hf/`` sub-folders too).

The owner's and the suspect's own files never enter a null, nor do models of their family
(:data:`KNOWN_FAMILIES`: copies that a folder's README says are derived from one another). The
registry supplies its own null (its other entries) in :mod:`llm_lineage.registry.search`.

With too few usable references for a p-value below alpha, methods say ``inconclusive`` and
:func:`how_to_fix` says what to add.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

ENV = "LLM_LINEAGE_REFERENCES"

# ground truth of the shared real checkpoints: names derived from one another share a family
KNOWN_FAMILIES = {"stories260k-q80": "stories260k", "stories260K_q80": "stories260k",
                  "stories260K": "stories260k", "llama2xs_model": "llama2xs", "llama2xs_ckpt": "llama2xs"}


def family(path: str | Path) -> str:
    path = Path(path)
    name = path.name if path.is_dir() else path.stem
    return KNOWN_FAMILIES.get(name, name)


def same_file(a: str | Path, b: str | Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def reference_folder() -> Path | None:
    value = os.environ.get(ENV)
    return Path(value).expanduser() if value else None


def folder_models(folder: Path) -> list[Path]:
    """Model directories (with ``config.json``) and single weight files under ``folder``, sorted."""
    if not folder.is_dir():
        return []
    out: list[Path] = []
    for root in (folder, folder / "hf", folder / "gguf"):
        if not root.is_dir():
            continue
        for entry in sorted(root.iterdir()):
            if entry.is_dir() and (entry / "config.json").is_file():
                out.append(entry)
            elif entry.is_file() and entry.suffix in (".gguf", ".safetensors") and root != folder / "hf":
                out.append(entry)
    return out


def reference_models(*, extra: Iterable[str | Path] = (), exclude: Iterable[str | Path] = (),
                     folder: Path | None = None) -> list[Path]:
    """Candidate unrelated models: ``extra`` first, then one model per family of the reference folder.

    ``exclude`` lists the owner's and the suspect's paths: those files, and the folder's models of
    their families, are left out. Duplicates (the same file twice) are kept once.
    """
    excluded = [Path(p) for p in exclude]
    skip_families = {family(p) for p in excluded}
    candidates = [Path(p) for p in extra]
    folder = folder if folder is not None else reference_folder()
    seen_families: set[str] = set()
    if folder is not None:
        # one model per family: a family's copies are one draw from the null, not several
        for model in folder_models(folder):
            fam = family(model)
            if fam not in skip_families and fam not in seen_families:
                seen_families.add(fam)
                candidates.append(model)
    out: list[Path] = []
    for model in candidates:
        if any(same_file(model, e) for e in excluded) or any(same_file(model, m) for m in out):
            continue
        out.append(model)
    return out


def how_to_fix(n_usable: int, alpha: float) -> str:
    """What to add when a null of ``n_usable`` models cannot give p < alpha."""
    return (f"the null has {n_usable} usable unrelated model(s); at least 3 that this method can score are "
            f"needed, and more for p < {alpha}: pass --null PATH (repeat), set {ENV} to a folder of unrelated "
            f"models, or register unrelated models and use `llm-lineage search`")
