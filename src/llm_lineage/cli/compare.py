"""``llm-lineage compare A B``: white-box methods on two models (or saved fingerprint files).

Dispatch is generic over ``methods.METHODS``: each selected method's ``verify(A, B)`` gets the
options its signature accepts (``layers``, ``null``, ``tokens``); its ``plot(owner_fp, suspect_fp, result,
path)`` draws ``--plot``. ``--image`` shows the two HuRef fingerprint images side by side.
"""

from __future__ import annotations

import inspect as _inspect
from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import InputError
from ..methods import METHODS
from . import _render
from ._options import JsonOpt

_WHAT = "model directory, .safetensors, .gguf or saved fingerprint file"
OwnerArg = Annotated[Path, typer.Argument(metavar="A", help=f"The owner: {_WHAT}.", show_default=False)]
SuspectArg = Annotated[Path, typer.Argument(metavar="B", help=f"The suspect: {_WHAT}.", show_default=False)]
MethodOpt = Annotated[str, typer.Option("--method", "-m",
                      help="huref | invariant | pcs | std-profile | all (every white-box method).")]
LayersOpt = Annotated[str | None, typer.Option("--layers", help="Blocks, e.g. '-2,-1' (default: last two) or 'all'.")]
NullOpt = Annotated[list[Path] | None, typer.Option("--null", help="An extra unrelated model for the null (repeat).")]
ImageOpt = Annotated[Path | None, typer.Option("--image", help="Write both HuRef fingerprint images side by side (PNG).")]
TokensOpt = Annotated[Path | None, typer.Option("--tokens", help="HuRef token set X: a file of token strings "
                      "(one per line, or a JSON list) instead of the least frequent tokens.")]
PlotOpt = Annotated[Path | None, typer.Option("--plot", help="Write the method's comparison figure (PNG).")]


def parse_layers(text: str | None) -> tuple[int, ...] | str | None:
    if text is None or text.strip() == "all":
        return None if text is None else "all"
    try:
        return tuple(int(part) for part in text.replace(" ", "").split(",") if part)
    except ValueError:
        raise InputError(f"--layers must be 'all' or comma-separated block indices such as -2,-1, not {text!r}") from None


def selected_methods(method: str) -> list[str]:
    if method == "all":
        return [name for name, spec in METHODS.items() if spec.kind == "white-box"]
    if method not in METHODS:
        raise InputError(f"unknown method {method!r}; choose from {', '.join([*METHODS, 'all'])}")
    return [method]


def run_method(name: str, owner: Path, suspect: Path, **options: Any) -> Any:
    """``METHODS[name].verify(owner, suspect, ...)`` with the options its signature takes."""
    verify = METHODS[name].verify
    accepted = _inspect.signature(verify).parameters
    return verify(owner, suspect, **{k: v for k, v in options.items() if k in accepted and v is not None})


def _fingerprint_of(name: str, model: Path) -> Any:
    from ..methods.fingerprint_io import is_fingerprint_file, load

    if is_fingerprint_file(model):
        saved = load(model)[0]
        if name not in saved:
            raise InputError(f"{model} holds no {name!r} fingerprint (it has {', '.join(saved)})")
        return saved[name]
    return METHODS[name].fingerprint(model)


def _plot_path(plot: Path, name: str, several: bool) -> Path:
    return plot.with_name(f"{plot.stem}-{name}{plot.suffix or '.png'}") if several else plot


def compare(a: OwnerArg, b: SuspectArg, method: MethodOpt = "invariant", layers: LayersOpt = None,
            null: NullOpt = None, tokens: TokensOpt = None, as_json: JsonOpt = False, image: ImageOpt = None,
            plot: PlotOpt = None) -> None:
    """Does B (suspect) descend from A (owner)? Scores, calibrated p-values and verdicts."""
    from ..methods.huref.tokens import load_token_list

    names = selected_methods(method)
    options = {"layers": parse_layers(layers), "null": tuple(null) if null else None,
               "tokens": load_token_list(tokens) if tokens else None}
    results = {name: run_method(name, a, b, **options) for name in names}
    figures = []
    if plot is not None:
        for name, result in results.items():
            spec = METHODS[name]
            if spec.plot is not None:
                fps = [_fingerprint_of(name, x) for x in (a, b)]
                figures.append(spec.plot(*fps, result, _plot_path(plot, name, len(names) > 1)))
    if image is not None:
        from ..methods.huref.plot import fingerprint_images

        shown = results.get("invariant") or results.get("huref")
        figures.append(fingerprint_images(a, b, image, result=shown, layers=options["layers"]))
    _render.comparison(a, b, list(results.values()), figures=figures, as_json=as_json)
