"""``llm-lineage registry add|list|show|remove|export|import|check``: the owner fingerprint registry."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import _render
from ._options import BaseOpt, DownloadOpt, JsonOpt, ModelArg

RegistryOpt = Annotated[str | None, typer.Option(
    "--registry", help="Registry: a SQLite file path (or sqlite:///PATH), or postgresql://USER@HOST/DB "
                       "(default: $LLM_LINEAGE_REGISTRY, else a file in the user's data directory).")]
NameArg = Annotated[str, typer.Argument(help="Entry name, as `registry list` shows it.", show_default=False)]

app = typer.Typer(name="registry", help="Store owner fingerprints and provenance; list, show, move them.",
                  no_args_is_help=True, pretty_exceptions_show_locals=False)


@app.command()
def add(model: ModelArg,
        name: Annotated[str | None, typer.Option("--name", help="Entry name (default: the model's name).")] = None,
        registry: RegistryOpt = None,
        methods: Annotated[str | None, typer.Option("--methods", help="Comma-separated methods (default: all).")] = None,
        replace: Annotated[bool, typer.Option("--replace", help="Overwrite an entry of the same name.")] = False,
        as_json: JsonOpt = False, download: DownloadOpt = False, base: BaseOpt = None) -> None:
    """Fingerprint MODEL with every method and store it with its provenance."""
    from ..registry import Registry

    chosen = [m.strip() for m in methods.split(",") if m.strip()] if methods else None
    with Registry(registry, create=True) as reg:
        entry = reg.add(model, name=name, methods=chosen, replace=replace, progress=not as_json)
        _render.registry_entry(entry, as_json=as_json, path=reg.location)


@app.command("list")
def list_(registry: RegistryOpt = None, as_json: JsonOpt = False) -> None:
    """List registered models."""
    from ..registry import Registry

    with Registry(registry) as reg:
        _render.registry_entries(reg.entries(), as_json=as_json, path=reg.location)


@app.command()
def show(name: NameArg, registry: RegistryOpt = None, as_json: JsonOpt = False) -> None:
    """Show one entry: provenance, architecture, fingerprints (and why any could not be made)."""
    from ..registry import Registry

    with Registry(registry) as reg:
        _render.registry_entry(reg.get(name), as_json=as_json, path=reg.location)


@app.command()
def remove(name: NameArg, registry: RegistryOpt = None) -> None:
    """Remove one entry and the fingerprint files only it used."""
    from ..registry import Registry

    with Registry(registry) as reg:
        reg.remove(name)
        _render.console.print(f"removed {name} from {reg.location}", markup=False, highlight=False)


@app.command("export")
def export(out: Annotated[Path, typer.Argument(help="Zip file to write.", show_default=False)],
           names: Annotated[list[str] | None, typer.Option("--name", help="Export only these entries.")] = None,
           registry: RegistryOpt = None) -> None:
    """Write entries, summaries and fingerprint files to one zip."""
    from ..registry import Registry, export_registry

    with Registry(registry) as reg:
        path = export_registry(reg, out, names)
        _render.console.print(f"exported {len(names) if names else len(reg)} entries to {path}",
                              markup=False, highlight=False)


@app.command("import")
def import_(archive: Annotated[Path, typer.Argument(help="Zip written by `registry export`.", show_default=False)],
            registry: RegistryOpt = None) -> None:
    """Add the entries of an export (all or none; same-named identical models are skipped)."""
    from ..registry import Registry, import_registry

    with Registry(registry, create=True) as reg:
        added = import_registry(reg, archive)
        _render.console.print(f"imported {len(added)} entries into {reg.location}: {', '.join(added) or '-'}",
                              markup=False, highlight=False)


@app.command()
def check(registry: RegistryOpt = None,
          repair: Annotated[bool, typer.Option("--repair", help="Delete unreferenced blobs (a killed add leaves "
                                               "them), under the write lock, and list them.")] = False,
          as_json: JsonOpt = False) -> None:
    """Check that every fingerprint file is present and unaltered; list leftovers (--repair deletes them)."""
    from ..registry import Registry

    with Registry(registry) as reg:
        removed = reg.gc() if repair else []
        problems = reg.check()
        _render.registry_check(problems, reg.fingerprints_only(), as_json=as_json, path=reg.location,
                               removed=removed)
    if problems:  # the report is printed; the exit code tells scripts the registry needs repair
        raise typer.Exit(code=2)


@app.command()
def graph(registry: RegistryOpt = None,
          alpha: Annotated[float, typer.Option("--alpha", help="Family-wise error rate over all tested pairs.")] = 0.01,
          out: Annotated[Path | None, typer.Option("-o", "--out", help="Write the family tree as a PNG.")] = None,
          graphml: Annotated[Path | None, typer.Option("--graphml", help="Write the graph as GraphML.")] = None,
          methods: Annotated[str | None, typer.Option("--methods", help="Comma-separated methods (default: all).")] = None,
          as_json: JsonOpt = False) -> None:
    """The family tree of every registered model: calibrated edges (Holm), directions where evidence allows."""
    from ..registry import Registry
    from ..registry.lineage import lineage_graph, plot, write_graphml

    chosen = [m.strip() for m in methods.split(",") if m.strip()] if methods else None
    with Registry(registry) as reg:
        result = lineage_graph(reg, alpha=alpha, methods=chosen, progress=not as_json)
    if out is not None:
        plot(result, out)
    if graphml is not None:
        write_graphml(result, graphml)
    _render.lineage(result, as_json=as_json, written=[p for p in (out, graphml) if p is not None])


@app.command("add-many")
def add_many(source: Annotated[Path, typer.Argument(help="A folder of models, or a text file with one model path "
                                                         "per line.", show_default=False)],
             registry: RegistryOpt = None,
             workers: Annotated[int, typer.Option("--workers", min=1, help="Models fingerprinted at once "
                                                                           "(Ray tasks when > 1).")] = 1,
             ray_address: Annotated[str | None, typer.Option("--ray-address", help="A running Ray cluster to use "
                                                                                   "(default: a local one).")] = None,
             methods: Annotated[str | None, typer.Option("--methods", help="Comma-separated methods (default: all).")] = None,
             as_json: JsonOpt = False) -> None:
    """Fingerprint and register many models, in parallel on Ray; models already registered are skipped."""
    from ..registry import Registry
    from ..registry.many import add_many as register_many
    from ..registry.many import models_in

    chosen = [m.strip() for m in methods.split(",") if m.strip()] if methods else None
    with Registry(registry, create=True) as reg:
        report = register_many(reg, models_in(source), methods=chosen, workers=workers, ray_address=ray_address,
                               progress=not as_json)
        _render.add_many(report, as_json=as_json, path=reg.location)
    if report.failed:  # the others are registered; the exit code tells scripts some were not
        raise typer.Exit(code=2)
