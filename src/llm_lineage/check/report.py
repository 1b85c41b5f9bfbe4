"""The evidence report of ``check --report DIR``: ``report.html`` (one self-contained page: inline CSS,
figures as embedded PNGs, opens offline) and ``report.json`` (the same result, machine-readable).

Order, for a reader who is not a specialist: the conclusion first; then each test with its
statistic, null, p-value and what would have to be true for it to be wrong; the figures; and the
provenance (sha256 of every file read, shapes, tool version, options, date, the command).
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from .._json import to_jsonable
from ..evaluation.report import _png, _table
from ..stats import format_p

_COLOURS = {"derived": "#2e7d32", "unrelated": "#1565c0", "inconclusive": "#8d6e00"}
_STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222;line-height:1.45}
h1{font-size:1.5em} .verdict{font-size:1.3em;font-weight:bold;color:white;padding:.35em .8em;border-radius:4px;
display:inline-block} .conclusion{font-size:1.08em;background:#f5f5f5;padding:1em;border-left:4px solid #999}
table{border-collapse:collapse;margin:1em 0;width:100%} td,th{border:1px solid #ccc;padding:.35em .5em;
vertical-align:top;text-align:left;font-size:.92em} caption{text-align:left;font-weight:bold;margin:.4em 0}
figure{margin:1em 0} img{max-width:100%} code{font-size:.9em;word-break:break-all}"""


def write_report(result: Any, out_dir: str | Path) -> Path:
    """Write ``report.html`` and ``report.json`` into ``out_dir``; the HTML's path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = {f: getattr(result, f) for f in result.__dataclass_fields__ if f != "results"}
    data["method_results"] = result.results
    (out / "report.json").write_text(json.dumps(to_jsonable(data), indent=2) + "\n", encoding="utf-8")
    page = out / "report.html"
    page.write_text(render(result), encoding="utf-8")
    return page


def figures(result: Any) -> list[tuple[str, str]]:
    """``(caption, base64 PNG)`` for what the run measured: no model is read again."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = []
    tracing = result.results.get("tracing")
    if tracing is not None:
        fig, ax = plt.subplots(figsize=(8, 3))
        labels = [f"{o}:{s}" for o, s in tracing.layer_pairs]
        ax.bar(range(len(labels)), tracing.agreements, color="#2e7d32")
        ax.axhline(tracing.units_tested, color="#555", linestyle="--", linewidth=1, label="units tested (a copy)")
        ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
        ax.set_xlabel("owner layer : suspect layer")
        ax.set_ylabel("units paired alike")
        ax.legend(loc="lower right", fontsize=8)
        out.append(("tracing: feed-forward units that both matchings (gate rows, up rows) pair with the same suspect "
                    "unit, per layer pair. A derived model pairs nearly every unit; independent models a handful.",
                    _png(fig)))
    awm = result.results.get("awm")
    if awm is not None and awm.layer_cka:
        fig, ax = plt.subplots(figsize=(8, 2.6))
        ax.plot(range(len(awm.layer_cka)), awm.layer_cka, marker="o", color="#1565c0")
        ax.set_ylim(-0.05, 1.05)
        ax.set_xlabel("paired layer")
        ax.set_ylabel("aligned CKA")
        out.append(("awm: similarity of the attention weights per layer after aligning both residual streams "
                    "(1 = the same up to a change of basis).", _png(fig)))
    subspace = result.results.get("subspace")
    if subspace is not None:
        fig, ax = plt.subplots(figsize=(8, 2.8))
        residuals = [r for r in subspace.compatibility.residuals if r > 0]
        if residuals:
            ax.hist(residuals, bins=40, color="#6a1b9a", log=False)
            ax.set_xscale("log")
        ax.axvline(subspace.compatibility.threshold, color="#2e7d32", linestyle="--", label="within noise below")
        ax.axvline(subspace.compatibility.null_median_residual, color="#c62828", linestyle=":",
                   label="a random output (median)")
        ax.set_xlabel("relative residual of each output outside the owner's lm_head span")
        ax.legend(fontsize=8)
        out.append(("subspace: how far each of the suspect's outputs lies from the span of the owner's output "
                    "layer. A copy sits at its rounding noise; an unrelated model near a random vector.", _png(fig)))
    out += _method_figures(result)
    return out


def _method_figures(result: Any) -> list[tuple[str, str]]:
    """The figures the methods draw themselves (they read the two models' fingerprints again)."""
    import base64
    import tempfile

    from ..errors import LineageError
    from ..methods import get_method

    owner, suspect = Path(result.owner), Path(result.suspect)
    if "://" in result.suspect or not (owner.exists() and suspect.exists()):
        return []
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        drawn: list[tuple[str, Path | None]] = []
        try:
            if "invariant" in result.results or "huref" in result.results:
                from ..methods.huref.plot import fingerprint_images

                shown = result.results.get("invariant") or result.results.get("huref")
                drawn.append(("HuRef fingerprint images of both models side by side: related models look alike.",
                              fingerprint_images(owner, suspect, Path(tmp) / "huref.png", result=shown)))
            if "std-profile" in result.results:
                method = get_method("std-profile")
                config = method.default_config()
                fps = [method.fingerprint_of(m, config) for m in (owner, suspect)]
                drawn.append(("std-profile: per-layer standard deviation of the Q/K/V/O weights of both models.",
                              method.plot(fps[0], fps[1], result.results["std-profile"], Path(tmp) / "std.png")))
        except LineageError:
            pass  # a figure that cannot be drawn leaves the report without it, never without a report
        for caption, path in drawn:
            if path is not None and Path(path).is_file():
                out.append((caption, base64.b64encode(Path(path).read_bytes()).decode("ascii")))
    return out


def render(result: Any) -> str:
    verdict = result.verdict.value
    shown = html.escape(format_p(result.p_value, result.neg_log10_p))
    parts = [f"<h1>Is {html.escape(Path(result.suspect).name or result.suspect)} derived from "
             f"{html.escape(Path(result.owner).name or result.owner)}?</h1>",
             f'<p><span class="verdict" style="background:{_COLOURS[verdict]}">{verdict.upper()}</span> '
             f"p = {shown} ({html.escape(result.correction)}, alpha {result.alpha})</p>",
             f'<p class="conclusion" id="conclusion">{html.escape(result.conclusion)}</p>']
    if result.next_step:
        parts.append(f"<p><b>Next step:</b> {html.escape(result.next_step)}</p>")
    parts.append(f"<p><b>What ran:</b> {html.escape(result.how)} ({result.seconds:.1f} s).</p>")
    if result.claim:
        parts.append(f'<p id="claim"><b>What its model card claims:</b> {html.escape(result.claim["status"])}: '
                     f"{html.escape(result.claim['explanation'])}.</p>")
    rows = []
    for t in result.tests:
        role = "deciding" if t.deciding else "supporting (no verdict)"
        rows.append([html.escape(t.method), role, t.verdict.value if t.verdict else "–",
                     format_p(t.p_value) if t.deciding else "–", format_p(t.holm_p_value) if t.deciding else "–",
                     f"{t.score:.4g}", html.escape(t.finding if t.deciding else f"{t.finding}. {t.needs}"),
                     html.escape(t.null), html.escape(t.assumption)])
    parts.append(_table("Every test", ["method", "role", "verdict", "p-value", "Holm p", "score", "evidence",
                                       "null", "wrong only if"], rows))
    for caption, data in figures(result):
        parts.append(f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
                     f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    if result.not_tested:
        parts.append("<h2>Not tested</h2><ul>" + "".join(f"<li>{html.escape(x)}</li>" for x in result.not_tested)
                     + "</ul>")
    prov = result.provenance
    rows = []
    for role, model in prov.get("models", {}).items():
        shape = ", ".join(f"{k} {v}" for k, v in model.get("shape", {}).items())
        files = "<br>".join(f"<code>{html.escape(f)}</code><br>sha256 <code>{h}</code>"
                            for f, h in model.get("files", {}).items())
        rows.append([role, html.escape(_origin_words(model.get("origin") or {})),
                     files or html.escape(model.get("endpoint", "")), html.escape(shape)])
    parts.append(_table("Provenance: what was read", ["", "from", "files", "shape"], rows))
    parts.append(f"<p>{html.escape(prov.get('tool', ''))}, {html.escape(prov.get('date', ''))}, methods "
                 f"{html.escape(', '.join(prov.get('methods', [])))}. Reproduce with:</p>"
                 f"<p><code>{html.escape(prov.get('command', ''))}</code></p>")
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>llm-lineage check: {verdict}</title>"
            f"<style>{_STYLE}</style></head><body>{''.join(parts)}</body></html>\n")


def _origin_words(origin: dict[str, Any]) -> str:
    """Where a model came from, in words: a hub revision, or an adapter on its base."""
    if "adapter" in origin:
        base = origin.get("base_origin") or {}
        on = f"{base['hub_id']}@{base['revision']}" if base else origin.get("base", "")
        return f"PEFT adapter {origin['adapter']} merged into {on}"
    if "hub_id" in origin:
        return f"{origin['hub_id']} at revision {origin['revision']} (Hugging Face cache)"
    return "local files"
