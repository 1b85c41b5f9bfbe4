"""``llm-lineage fingerprint MODEL -o OUT``: the subspace owner key plus every white-box fingerprint.

Writes one fingerprint file (``OUT.safetensors`` + ``OUT.json``) through ``methods.fingerprint_io``:
the subspace key (an orthonormal basis of span([lm_head_T, 1]) over a recorded token subset) and,
unless ``--methods`` restricts, each registered white-box method's ``fingerprint(ckpt)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import LineageError
from . import _render
from ._options import AllowPickleOpt, BaseOpt, DownloadOpt, JsonOpt, ModelArg

OutOpt = Annotated[Path, typer.Option("--output", "-o", help="Fingerprint file to write (.safetensors; a .json manifest beside it).")]
MethodsOpt = Annotated[str | None, typer.Option(
    "--methods", help="Comma-separated methods (default: subspace + every white-box one).")]
ImageOpt = Annotated[Path | None, typer.Option("--image", help="Also draw the HuRef fingerprint image (PNG).")]
TokensOpt = Annotated[int | None, typer.Option("--tokens", help="Tokens kept in the subspace key (default: min(vocab, 2*hidden+64)).")]


def fingerprint_model(model: Path, methods: list[str] | None = None, *, n_tokens: int | None = None,
                      allow_pickle: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
    """Every selected method's fingerprint of ``model``, and the file's manifest."""
    from ..methods import Kind, get_method
    from ..methods.base import fingerprint_all, resolve
    from ..weights import open_checkpoint

    names = resolve(methods, default=(Kind.OUTPUTS, Kind.WEIGHTS))
    configs = {"subspace": get_method("subspace").configure(owner_tokens=n_tokens)} if "subspace" in names else {}
    ckpt = open_checkpoint(model, allow_pickle=allow_pickle)
    prints = fingerprint_all(ckpt, names, configs=configs)
    failed = [fp for fp in prints.values() if isinstance(fp, LineageError)]
    if failed:  # a file of fingerprints the user asked for is written whole or not at all
        raise failed[0]
    manifest = {"model": ckpt.name, "model_path": str(ckpt.path), "hidden_size": ckpt.config.hidden_size,
                "vocab_size": ckpt.config.vocab_size, "tokenizer_sha256": ckpt.tokenizer_hash(), "methods": names}
    return prints, manifest


def fingerprint(model: ModelArg, output: OutOpt, methods: MethodsOpt = None, tokens: TokensOpt = None,
                allow_pickle: AllowPickleOpt = False, as_json: JsonOpt = False, image: ImageOpt = None,
                download: DownloadOpt = False, base: BaseOpt = None) -> None:
    """Write MODEL's owner key and fingerprints to one file, for `verify --owner` and the registry."""
    selected = [m.strip() for m in methods.split(",") if m.strip()] if methods else None
    prints, manifest = fingerprint_model(model, selected, n_tokens=tokens, allow_pickle=allow_pickle)
    from ..methods import fingerprint_io

    path = fingerprint_io.save(output, prints, manifest=manifest)
    if image is not None:  # the human-readable fingerprint
        from ..methods.huref.image import save_model_image

        save_model_image(model, image, fp=prints.get("invariant"))
    _render.fingerprint_written(path, manifest, prints, as_json=as_json)
