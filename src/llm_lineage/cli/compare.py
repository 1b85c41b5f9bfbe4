"""``llm-lineage compare A B``: white-box methods on two models (or saved fingerprint files).

Dispatch goes through the method contract (``methods.base.Method``): each selected method's
config takes the options it has (``layers``, ``tokens``), ``--null`` models are its references,
and its ``plot`` draws ``--plot``. ``--image`` shows the two HuRef fingerprint images side by side.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import InputError
from . import _render
from ._options import BaseOpt, DownloadOpt, JsonOpt, model_path

_WHAT = "model directory, .safetensors, .gguf, hub id, PEFT adapter folder or saved fingerprint file"
OwnerArg = Annotated[Path, typer.Argument(metavar="A", help=f"The owner: {_WHAT}.", parser=model_path, show_default=False)]
SuspectArg = Annotated[Path, typer.Argument(metavar="B", help=f"The suspect: {_WHAT}.", parser=model_path, show_default=False)]
MethodOpt = Annotated[str | None, typer.Option("--method", "-m", help="A registered white-box method (tracing, awm, "
                      "invariant, huref, pcs, std-profile) or all; default: what `check` runs, with one verdict.")]
LayersOpt = Annotated[str | None, typer.Option("--layers", help="Blocks, e.g. '-2,-1' (default: last two) or 'all'.")]
NullOpt = Annotated[list[Path] | None, typer.Option("--null", parser=model_path,
                    help="An extra unrelated model for the null (repeat).")]
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
    from ..methods import Kind
    from ..methods.base import resolve

    return resolve(None if method == "all" else [method], default=(Kind.WEIGHTS,))


def method_options(name: str, options: dict[str, Any], *, several: bool) -> tuple[Any, list[str]]:
    """``name``'s config with the command-line options it has; the ones it lacks are an error for a
    single method and listed (not silently dropped) when several run."""
    from ..methods import get_method

    method = get_method(name)
    given = {k: v for k, v in options.items() if v is not None}
    lacking = sorted(set(given) - method.option_names())
    if lacking and not several:
        method.configure(**given)  # raises, naming the option and the method's options
    config = method.configure(**{k: v for k, v in given.items() if k not in lacking})
    return config, [f"--{k} does not apply to {name}" for k in lacking]


def compare(a: OwnerArg, b: SuspectArg, method: MethodOpt = None, layers: LayersOpt = None,
            null: NullOpt = None, tokens: TokensOpt = None, as_json: JsonOpt = False, image: ImageOpt = None,
            plot: PlotOpt = None, download: DownloadOpt = False, base: BaseOpt = None) -> None:
    """Does B (suspect) descend from A (owner)? Scores, calibrated p-values and verdicts."""
    from ..methods import get_method
    from ..methods.huref.tokens import load_token_list

    layer_option = parse_layers(layers)  # a malformed option is an error whatever runs
    if method is None:  # no method named: the one answer, as `check` gives it
        from ..check import check

        given = [name for name, value in (("--layers", layers), ("--tokens", tokens), ("--plot", plot),
                                          ("--image", image)) if value is not None]
        if given:
            raise InputError(f"{', '.join(given)} set options of single methods: name one with --method "
                             "(for example --method invariant)")

        if not as_json:
            _render.err_console.print("note: compare without --method runs what `llm-lineage check` runs for two "
                                      "models, with one combined verdict", markup=False, highlight=False)
        _render.check_result(check(a, b, references=tuple(null or ())), as_json=as_json)
        return
    names = selected_methods(method)
    options: dict[str, Any] = {"layers": layer_option, "tokens": load_token_list(tokens) if tokens else None}
    results, warnings = {}, []
    for name in names:
        config, lacking = method_options(name, options, several=len(names) > 1)
        warnings += lacking
        results[name] = get_method(name).verify(a, b, config, references=tuple(null or ()))
    figures = []
    if plot is not None:
        for name, result in results.items():
            m = get_method(name)
            if not m.has_plot:
                continue  # no figure: its fingerprints need not be read again
            config = m.configure(**{k: v for k, v in options.items() if k in m.option_names()})
            fps = [m.fingerprint_of(x, config) for x in (a, b)]
            figures.append(m.plot(fps[0], fps[1], result, _plot_path(plot, name, len(names) > 1)))
    if image is not None:
        from ..methods.huref.plot import fingerprint_images

        shown = results.get("invariant") or results.get("huref")
        figures.append(fingerprint_images(a, b, image, result=shown, layers=layer_option))
    _render.comparison(a, b, list(results.values()), figures=figures, as_json=as_json, warnings=warnings)


def _plot_path(plot: Path, name: str, several: bool) -> Path:
    return plot.with_name(f"{plot.stem}-{name}{plot.suffix or '.png'}") if several else plot
