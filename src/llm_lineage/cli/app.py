"""The typer application: one module per command, joined here."""

from __future__ import annotations

import typer

from . import demo, inspect

app = typer.Typer(
    name="llm-lineage",
    help="Does this suspect language model descend from mine? Fingerprints with calibrated verdicts.",
    no_args_is_help=True,
    add_completion=False,
    # locals can hold API keys: never print them in a traceback
    pretty_exceptions_show_locals=False,
)

app.command("inspect")(inspect.inspect)
app.command("demo")(demo.demo)
# --- commands added by method packages ---
from . import serve as _serve_cmd  # noqa: E402  (issue 4: endpoints)

app.command("serve")(_serve_cmd.serve)
from . import probe as _probe_cmd  # noqa: E402  (issue 4: endpoints)

app.command("probe")(_probe_cmd.probe)
from . import registry as _registry_cmd, search as _search_cmd  # noqa: E402  (issue 8: registry)

app.add_typer(_registry_cmd.app, name="registry")
app.command("search")(_search_cmd.search)
from . import plot_profiles as _plot_profiles_cmd  # noqa: E402  (issue 6: std profiles)

app.command("plot-profiles")(_plot_profiles_cmd.plot_profiles)
from . import compare as _compare_cmd  # noqa: E402  (issue 5: white-box compare)

app.command("compare")(_compare_cmd.compare)
from . import attack as _attack_cmd, evaluate as _evaluate_cmd  # noqa: E402  (issue 7: attacks, evaluation)

app.command("attack")(_attack_cmd.attack)
app.command("evaluate")(_evaluate_cmd.evaluate)
from . import fingerprint as _fingerprint_cmd, verify as _verify_cmd  # noqa: E402  (issue 3: subspace)

app.command("fingerprint")(_fingerprint_cmd.fingerprint)
app.command("verify")(_verify_cmd.verify)
# --- end commands ---
