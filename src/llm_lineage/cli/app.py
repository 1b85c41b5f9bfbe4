"""The typer application: one module per command, joined here."""

from __future__ import annotations

import typer

from . import (
               adapter_base,
               attack,
               attest,
               check,
               compare,
               demo,
               evaluate,
               fingerprint,
               inspect,
               merge_parents,
               plot_profiles,
               probe,
               registry,
               search,
               serve,
               stylometry,
               verify,
)

app = typer.Typer(
    name="llm-lineage",
    help="Does this suspect language model descend from mine? Fingerprints with calibrated verdicts.",
    no_args_is_help=True,
    add_completion=False,
    # locals can hold API keys: never print them in a traceback
    pretty_exceptions_show_locals=False,
)

app.command("check")(check.check)
app.command("demo")(demo.demo)
app.command("inspect")(inspect.inspect)
app.command("fingerprint")(fingerprint.fingerprint)
app.command("verify")(verify.verify)
app.command("compare")(compare.compare)
app.command("merge-parents")(merge_parents.merge_parents)
app.command("adapter-base")(adapter_base.adapter_base)
app.command("plot-profiles")(plot_profiles.plot_profiles)
app.command("probe")(probe.probe)
app.command("serve")(serve.serve)
app.command("attack")(attack.attack)
app.command("evaluate")(evaluate.evaluate)
app.add_typer(registry.app, name="registry")
app.command("search")(search.search)
app.add_typer(stylometry.app, name="stylometry")
app.command("commit")(attest.commit)
app.command("publish")(attest.publish)
app.command("check-bundle")(attest.check_bundle)
app.command("open")(attest.open_)
app.command("audit")(attest.audit)
app.command("prove-sketch")(attest.prove_sketch)
app.command("verify-sketch")(attest.verify_sketch)
