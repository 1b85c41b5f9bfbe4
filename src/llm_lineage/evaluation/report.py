"""Writing an evaluation: ``results.json`` and a self-contained ``report.html``.

The HTML needs nothing but a browser: inline CSS, tables, and PNG figures embedded as base64
(ROC curves, each method's scores for derived vs unrelated suspects, the robustness matrix as a
heatmap of verdicts). Figures are drawn with matplotlib's Agg backend, so no display is needed.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from .._json import to_jsonable
from . import metrics
from .harness import NOT_APPLICABLE, Evaluation

VERDICT_COLOURS = {"derived": "#2e7d32", "inconclusive": "#f9a825", "unrelated": "#c62828", NOT_APPLICABLE: "#9e9e9e"}


@dataclasses.dataclass(frozen=True)
class ReportFiles:
    html: Path
    json: Path


def write_report(evaluation: Evaluation, out_dir: str | Path) -> ReportFiles:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "results.json"
    json_path.write_text(json.dumps(to_jsonable(evaluation), indent=2, allow_nan=False) + "\n")
    html_path = out_dir / "report.html"
    html_path.write_text(render_html(evaluation), encoding="utf-8")
    return ReportFiles(html_path, json_path)


# --- figures ----------------------------------------------------------------------------------


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _scored(evaluation: Evaluation, method: str):
    return [p for p in evaluation.pairs if p.method == method and p.verdict != NOT_APPLICABLE
            and math.isfinite(p.score)]


def roc_figure(evaluation: Evaluation) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.2, 4.6))
    ax.plot([0, 1], [0, 1], color="#bbbbbb", linestyle=":", label="chance")
    for summary in evaluation.summaries:
        pairs = [p for p in _scored(evaluation, summary.method) if p.truth != "distilled"]  # a column of its own
        labels = [int(p.truth == "derived") for p in pairs]
        if not 0 < sum(labels) < len(labels):
            continue
        curve = metrics.roc_curve(labels, [p.related_score for p in pairs])
        ax.step(curve.false_positive_rate, curve.true_positive_rate, where="post",
                label=f"{summary.method} (AUC {summary.auc:.2f})")
    ax.set(xlabel="false-positive rate (unrelated called derived)", ylabel="true-positive rate",
           xlim=(-0.02, 1.02), ylim=(-0.02, 1.02), title="ROC per method")
    ax.legend(fontsize=7, loc="lower right")
    return _png(fig)


def distribution_figure(evaluation: Evaluation) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summaries = evaluation.summaries
    cols = min(3, len(summaries))
    rows = math.ceil(len(summaries) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    rng = np.random.default_rng(0)  # fixed jitter: the same report for the same results
    for ax, summary in zip(axes.flat, summaries, strict=False):
        for x, truth in enumerate(("derived", "unrelated")):
            pairs = [p for p in _scored(evaluation, summary.method) if p.truth == truth]
            ax.scatter(x + rng.uniform(-0.12, 0.12, len(pairs)), [p.score for p in pairs], s=22,
                       c=[VERDICT_COLOURS[p.verdict] for p in pairs], edgecolors="black", linewidths=0.4)
        if math.isfinite(summary.threshold):
            ax.axhline(summary.threshold, color="#555555", linestyle="--", linewidth=0.8)
        ax.set_xticks([0, 1], ["derived", "unrelated"])
        ax.set_xlim(-0.5, 1.5)
        ax.set_title(f"{summary.method} ({'higher' if summary.higher_is_related else 'lower'} = related)",
                     fontsize=9)
    for ax in list(axes.flat)[len(summaries):]:
        ax.axis("off")
    fig.suptitle("scores: derived vs unrelated suspects (colour = verdict, dashed = best global threshold)",
                 fontsize=9)
    fig.tight_layout()
    return _png(fig)


def heatmap_figure(evaluation: Evaluation) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    order = list(VERDICT_COLOURS)
    methods = [s.method for s in evaluation.summaries]
    suspects = [s.name for s in evaluation.suspects]
    grid = np.array([[order.index(evaluation.pair(m, s).verdict) for s in suspects] for m in methods])
    fig, ax = plt.subplots(figsize=(1.0 + 0.9 * len(suspects), 0.9 + 0.45 * len(methods)))
    ax.imshow(grid, cmap=ListedColormap(list(VERDICT_COLOURS.values())), vmin=0, vmax=len(order) - 1,
              aspect="auto")
    for i, m in enumerate(methods):
        for j, s in enumerate(suspects):
            pair = evaluation.pair(m, s)
            text = "n/a" if pair.verdict == NOT_APPLICABLE else f"{pair.score:.3g}"
            ax.text(j, i, text, ha="center", va="center", fontsize=7, color="white")
    truth = {s.name: s.truth for s in evaluation.suspects}
    ax.set_xticks(range(len(suspects)), [f"{s}\n({truth[s]})" for s in suspects], rotation=45, ha="right",
                  fontsize=7)
    ax.set_yticks(range(len(methods)), methods, fontsize=8)
    ax.set_title("robustness matrix: verdict per method and suspect (green derived, amber inconclusive, "
                 "red unrelated, grey n/a)", fontsize=8)
    return _png(fig)


# --- HTML -------------------------------------------------------------------------------------


def _f(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1e-3 or abs(value) >= 1e4 else f"{value:.3f}"
    return html.escape(str(value))


def _table(caption: str, header: list[str], rows: list[list[str]], css: str = "") -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f'<table class="{css}"><caption>{html.escape(caption)}</caption><thead><tr>{head}</tr></thead>' \
           f"<tbody>{body}</tbody></table>"


def render_html(evaluation: Evaluation) -> str:
    summary_rows = [[html.escape(s.method), s.kind, _f(s.auc), _f(s.accuracy), _f(s.threshold),
                     _f(s.tpr_at_1pct_fpr), _f(s.verdict_accuracy), _f(s.false_derived),
                     f"{s.n_derived} / {s.n_unrelated}", _f(s.n_not_applicable), _f(s.mean_queries),
                     f"{s.distilled_derived} / {s.n_distilled}" if s.n_distilled else "–"]
                    for s in evaluation.summaries]
    suspects = evaluation.suspects
    matrix_rows = []
    for s in evaluation.summaries:
        cells = [html.escape(s.method)]
        for suspect in suspects:
            pair = evaluation.pair(s.method, suspect.name)
            title = html.escape(pair.note or f"p = {_f(pair.p_value)}", quote=True)
            score = "" if pair.verdict == NOT_APPLICABLE else f"<br><small>{_f(pair.score)}</small>"
            cells.append(f'<span class="v" style="background:{VERDICT_COLOURS[pair.verdict]}" title="{title}">'
                         f"{html.escape(pair.verdict)}</span>{score}")
        matrix_rows.append(cells)
    model_rows = [[html.escape(s.name), s.truth, html.escape(s.attack or "–"), html.escape(str(s.path))]
                  for s in suspects]
    notes = [[html.escape(p.method), html.escape(p.suspect), html.escape(p.note)]
             for p in evaluation.pairs if p.note]
    figures = [("ROC curves", roc_figure(evaluation)), ("Score distributions", distribution_figure(evaluation)),
               ("Robustness matrix", heatmap_figure(evaluation))]
    parts = [
        f"<h1>llm-lineage evaluation</h1><p>Victim <code>{html.escape(str(evaluation.victim))}</code>: "
        f"{sum(s.truth == 'derived' for s in suspects)} derived and {sum(s.truth == 'unrelated' for s in suspects)} "
        f"unrelated suspects, {len(evaluation.summaries)} method variants, {len(evaluation.pairs)} pairs "
        f"in {evaluation.seconds:.1f} s.</p>",
        _table("Per method, across all pairs (accuracy at the best global threshold; verdict accuracy from "
               "the method's own calibrated verdicts)",
               ["method", "kind", "AUC", "accuracy", "threshold", "TPR@1%FPR", "verdict accuracy",
                "unrelated called derived", "derived / unrelated", "n/a", "queries",
                "distilled called derived (behaviour copied, weights not)"], summary_rows, "summary"),
        _table("Robustness matrix: verdict and score per method and suspect",
               ["method"] + [f"{html.escape(s.name)} ({s.truth})" for s in suspects], matrix_rows, "matrix"),
        _table("Suspects", ["name", "truth", "attack", "path"], model_rows, "models"),
    ]
    if notes:
        parts.append(_table("Pairs a method could not score", ["method", "suspect", "why"], notes, "notes"))
    parts += [f'<figure><img alt="{html.escape(title)}" src="data:image/png;base64,{data}">'
              f"<figcaption>{html.escape(title)}</figcaption></figure>" for title, data in figures]
    style = ("body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;"
             "margin:1.2em 0;font-size:13px}caption{text-align:left;font-weight:600;padding:4px 0}"
             "td,th{border:1px solid #ccc;padding:4px 8px;text-align:center}th{background:#f0f0f0}"
             ".v{color:white;padding:1px 6px;border-radius:3px}figure{margin:1.5em 0}img{max-width:100%}")
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>llm-lineage evaluation</title>'
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>\n")
