"""All printing: rich tables for people, one JSON object for machines."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from enum import Enum
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .._json import to_jsonable

console = Console()
if not console.is_terminal:  # logs and pipes would get 80 columns: too narrow for a robustness matrix
    console.width = 160
err_console = Console(stderr=True)


def print_json(value: Any) -> None:
    # plain print: rich would wrap long lines and break the JSON
    print(json.dumps(to_jsonable(value), indent=2))


def key_values(title: str, rows: dict[str, Any]) -> None:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for k, v in rows.items():
        table.add_row(escape(k), escape(_fmt(v)))
    console.print(table)


def table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    t = Table(title=title, title_justify="left")
    for c in columns:
        t.add_column(c)
    for row in rows:
        # cells are data, not markup: "subspace[logits]" must print as written
        t.add_row(*(escape(_fmt(v)) for v in row))
    console.print(t)


def _fmt(v: Any) -> str:
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e6:
        return str(int(v))
    if isinstance(v, float):
        return "nan" if math.isnan(v) else (f"{v:.3g}" if abs(v) < 1e-3 or abs(v) >= 1e4 else f"{v:.4f}")
    if isinstance(v, Enum):
        return str(v.value)
    if isinstance(v, (list, tuple)):
        return ", ".join(map(str, v)) if v else "-"
    if isinstance(v, dict):
        return ", ".join(f"{k}={_fmt(x)}" for k, x in v.items())
    return str(v)


def serving(url: str) -> None:
    """The line ``llm-lineage serve`` prints once it listens (tests and scripts read the URL from it)."""
    print(f"serving on {url}", flush=True)


# --- registry and search -------------------------------------------------------------


def registry_entries(entries: list[Any], *, as_json: bool, path: str) -> None:
    if as_json:
        print_json({"registry": path, "entries": [_entry_json(e) for e in entries]})
        return
    table(f"{path} ({len(entries)} entries)", ["name", "model_type", "hidden_size", "vocab_size", "methods", "added"],
          [[e.name, e.provenance.get("architecture", {}).get("model_type"), e.provenance.get("architecture", {})
            .get("hidden_size"), e.vocab_size, e.methods, e.added_at] for e in entries])


def registry_entry(entry: Any, *, as_json: bool, path: str) -> None:
    if as_json:
        print_json({"registry": path, **_entry_json(entry)})
        return
    prov = entry.provenance
    arch = prov.get("architecture", {})
    key_values(entry.name, {"registry": path, "source": prov.get("source"), "added": entry.added_at,
                            "tool version": prov.get("tool_version"), "tokenizer sha256": entry.tokenizer_sha256,
                            **{k: arch.get(k) for k in ("model_type", "hidden_size", "num_hidden_layers",
                                                        "vocab_size", "n_parameters")},
                            **{f"sha256 {f}": h for f, h in prov.get("weight_files", {}).items()}})
    table("fingerprints", ["method", "kind", "stored", "note"],
          [[f.method, f.kind, (f.blob or "-")[:16], f.note or ""] for f in entry.fingerprints.values()])


def _entry_json(entry: Any) -> dict[str, Any]:
    return {"name": entry.name, "added_at": entry.added_at, "methods": entry.methods,
            "fingerprints": entry.fingerprints, "provenance": entry.provenance,
            "summary_role": entry.summary.role if entry.summary else None}


def add_many(report: Any, *, as_json: bool, path: str) -> None:
    if as_json:
        print_json({"registry": path, **dataclasses.asdict(report)})
        return
    rows = [[name, "added", ""] for name in report.added]
    rows += [[model, "skipped", why] for model, why in report.skipped.items()]
    rows += [[model, "failed", why] for model, why in report.failed.items()]
    how = f"Ray, {report.workers} workers" if report.ray else "in process"
    table(f"{path}: {len(report.added)} added, {len(report.skipped)} skipped, {len(report.failed)} failed ({how})",
          ["model", "outcome", "why"], rows)


def registry_check(problems: list[str], fingerprints_only: list[str], *, as_json: bool, path: str,
                   removed: list[str]) -> None:
    if as_json:
        print_json({"registry": path, "consistent": not problems, "problems": problems,
                    "fingerprints_only": fingerprints_only, "removed": removed})
        return
    if removed:
        console.print(f"removed {len(removed)} unreferenced blob(s): {', '.join(removed)}", markup=False,
                      highlight=False)
    if problems:
        table(f"{path}: {len(problems)} problem(s)", ["problem"], [[p] for p in problems])
    else:
        console.print(f"{path}: consistent", markup=False, highlight=False)
    if fingerprints_only:
        console.print(f"fingerprints only (weights gone or moved; search and graph still run on the stored "
                      f"fingerprints): {', '.join(fingerprints_only)}", markup=False, highlight=False)


def attestation(values: dict[str, Any], *, as_json: bool, title: str) -> None:
    """A commitment, bundle, opening or audit outcome: one JSON object or one small table."""
    if as_json:
        print_json(values)
    else:
        key_values(title, values)


def lineage(graph: Any, *, as_json: bool, written: list[Path]) -> None:
    """The family tree: its edges (parent -> child, or a -- b where direction is unknown) and families."""
    if as_json:
        print_json(graph.as_dict())
        return
    from ..stats import format_p

    table(f"lineage: {len(graph.drawn)} edge(s) among {len(graph.nodes)} models "
          f"(alpha {graph.alpha}, {graph.correction}; {graph.pairs_tested} pairs tested)",
          ["parent", "", "child", "adjusted p", "derivation", "direction evidence"],
          [[e.source, "->" if e.directed else "--", e.target, format_p(e.adjusted_p), e.derivation,
            e.direction_evidence] for e in sorted(graph.drawn, key=lambda e: e.adjusted_p)])
    for child, shares in graph.merges.items():
        console.print(f"merge: {child} = " + " + ".join(f"{w:.2f} x {p}" for p, w in shares.items()),
                      markup=False, highlight=False)
    for family in graph.families:
        console.print(f"family: {', '.join(family)}", markup=False, highlight=False)
    for note in graph.notes:
        console.print(f"note: {note}", markup=False, highlight=False)
    for path in written:
        console.print(f"wrote {path}", markup=False, highlight=False)


def search_result(result: Any, *, as_json: bool, attachment: dict[str, Any] | None = None) -> None:
    if as_json:
        print_json(result if attachment is None else {**dataclasses.asdict(result), "attachment": attachment})
        return
    from ..stats import format_p

    methods = sorted({m for c in result.candidates for m in c.scores})
    table(f"candidates for {result.suspect} ({result.n_shortlisted} of {result.n_registered} compared in full)",
          ["#", "owner", "verdict", "p-value", *methods],
          [[i + 1, c.name, c.verdict, format_p(c.p_value), *[c.scores.get(m, math.nan) for m in methods]]
           for i, c in enumerate(result.candidates)])
    for c in result.candidates:
        console.print(f"{c.name}: {c.explanation}", markup=False, highlight=False)
    for r in result.campaigns:
        console.print(f"endpoint {r.endpoint} ({r.model}): {r.strategy}, {r.queries_used} queries paid, "
                      f"{r.queries_cached} read from the cache {r.cache}", markup=False, highlight=False)
    console.print(f"verdict: {result.verdict.value}: {result.explanation}", markup=False, highlight=False)
    if result.claim:
        console.print(f"model card: {result.claim['status'].upper()}: {result.claim['explanation']}",
                      markup=False, highlight=False)
    if attachment is not None:
        console.print(f"family tree: {attachment['summary']}", markup=False, highlight=False)


def merge_parents(result: Any, *, as_json: bool) -> None:
    """``merge-parents``: each candidate's test and share, then where each block came from."""
    if as_json:
        print_json(result)
        return
    from ..stats import format_p

    weights = {w.name: w for w in result.weights}
    table(f"candidate parents of {result.suspect}" + (f" (task vectors over {result.base})" if result.base else ""),
          ["candidate", "verdict", "p-value", "Holm p", "mixing weight", "95% CI over blocks"],
          [[p.name, p.verdict, format_p(p.p_value), format_p(p.holm_p_value), f"{weights[p.name].weight:.3f}",
            f"[{weights[p.name].ci_low:.3f}, {weights[p.name].ci_high:.3f}]"] for p in result.parents])
    table("blocks", ["block", "copied from", "nearest"],
          [[b.layer, b.source or "-", b.nearest] for b in result.blocks])
    console.print(f"{result.suspect}: {result.explanation}", markup=False, highlight=False)


def adapter_base(result: Any, *, as_json: bool) -> None:
    """``adapter-base``: each candidate's test of having been the adapter's base."""
    if as_json:
        print_json(result)
        return
    from ..stats import format_p

    claimed = f" (its config names {result.claimed_base})" if result.claimed_base else ""
    table(f"was {result.adapter}{claimed} trained on ...", ["candidate", "verdict", "p-value", "Holm p", "z", "matrices"],
          [[c.name, c.verdict, format_p(c.p_value), format_p(c.holm_p_value),
            "-" if c.z != c.z else f"{c.z:.1f}", c.modules] for c in result.candidates])
    for c in result.candidates:
        console.print(f"{c.name}: {c.explanation}", markup=False, highlight=False)
    console.print(f"null: {result.null}", markup=False, highlight=False)
    if result.skipped:
        console.print(f"not compared: {'; '.join(result.skipped)}", markup=False, highlight=False)


def std_profile_scores(figure: Any) -> None:
    """``plot-profiles``: pairwise std-profile scores of the overlaid models, then where the figure is."""
    short = [f"#{i + 1}" for i in range(len(figure.models))]
    table("std-profile score (mean Pearson r over q, k, v, o) between every pair",
          ["#", "model", "layers", *short],
          [[s, name, layers, *(f"{v:.3f}" for v in row)] for s, name, layers, row in
           zip(short, figure.models, figure.n_layers, figure.scores.tolist(), strict=True)])
    console.print(f"figure written to {figure.figure}", markup=False, highlight=False)


def endpoint_report(report: Any, *, as_json: bool = False) -> None:
    """An endpoint campaign's probe, strategy and query bill (``outputs.campaign.CampaignReport``)."""
    if as_json:
        print_json(report)
        return
    probe = report.probe
    key_values(f"probe of {report.endpoint} ({report.model})", {
        "completions API": True, "chat API": probe.chat, "log-probs": probe.logprobs,
        "top_logprobs cap": probe.top_logprobs_cap, "token ids": probe.token_ids,
        "logit_bias accepted": probe.logit_bias, "bias changes greedy token": probe.bias_changes_sampling,
        "bias shifts log-probs": probe.bias_shifts_logprobs,
        "max biased tokens": "no cap" if probe.max_biased_tokens is None else probe.max_biased_tokens,
        "log-prob decimals": "unrounded" if probe.logprob_decimals is None else probe.logprob_decimals,
        "echo (prompt log-probs)": probe.echo, "notes": list(probe.notes)})
    table("strategies", ["strategy", "queries per prompt", "precision / why not"],
          [[name, row.get("queries_per_prompt", "-"), row.get("precision", row.get("unavailable"))]
           for name, row in probe.strategies.items()])
    key_values("campaign", {"strategy": f"{report.strategy} ({probe.strategy_reason})",
                            "precision": report.precision, "queries used": report.queries_used,
                            "queries cached": report.queries_cached, "queries retried": report.queries_retried,
                            "cache": report.cache})


# --- compare -------------------------------------------------------------------------


def comparison(owner: Any, suspect: Any, results: list[Any], *, figures: Sequence[Any] = (), as_json: bool,
               warnings: Sequence[str] = ()) -> None:
    """``compare``: one row per method, then each method's numbers behind its verdict."""
    if as_json:
        if len(results) == 1:
            print_json({**to_jsonable(results[0]), "figures": [str(f) for f in figures],
                        **({"warnings": list(warnings)} if warnings else {})})
        else:
            print_json({"owner": owner, "suspect": suspect, "results": results, "figures": figures,
                        "warnings": list(warnings)})
        return
    for warning in warnings:
        err_console.print(f"note: {warning}", markup=False, highlight=False)
    table(f"{suspect} against {owner}", ["method", "score", "p-value", "z", "verdict"],
          [[r.method, r.score, r.p_value, getattr(r, "z_score", math.nan), r.verdict] for r in results])
    for r in results:
        details = {f.name: _brief(getattr(r, f.name)) for f in dataclasses.fields(r)
                   if f.name not in ("method", "score", "p_value", "verdict", "owner", "suspect")}
        key_values(r.method, details)
    for f in figures:
        console.print(f"figure written to {f}", markup=False, highlight=False)


def check_result(result: Any, *, as_json: bool, report: Any = None) -> None:
    """``check``: the verdict line, the conclusion, one row per test, the next step."""
    from ..stats import format_p

    if as_json:
        print_json({**{f.name: getattr(result, f.name) for f in dataclasses.fields(result) if f.name != "results"},
                    "report": report})
        return
    shown = format_p(result.p_value, result.neg_log10_p)
    console.print(f"[bold]{escape(result.verdict.value.upper())}[/bold]  p = {escape(shown)}  "
                  f"({escape(result.correction)})", highlight=False)
    console.print(escape(result.conclusion), highlight=False)
    rows = [[t.method, "deciding" if t.deciding else "supporting", t.verdict.value if t.verdict else "-",
             format_p(t.p_value) if t.deciding else "-",
             t.finding if t.deciding else f"raw score {t.score:.4g}; {t.needs}"]
            for t in result.tests]
    table(f"{result.how} ({result.seconds:.1f} s)", ["method", "role", "verdict", "p-value", "evidence"], rows)
    if result.claim:
        console.print(f"model card: {escape(result.claim['status'].upper())}: {escape(result.claim['explanation'])}",
                      highlight=False)
    if report is not None:
        console.print(f"report: {report}", markup=False, highlight=False)


# --- attacks and evaluation ----------------------------------------------------------


def derived_model(path: Path, kind: str, options: dict[str, Any], *, as_json: bool) -> None:
    if as_json:
        print_json({"kind": kind, "options": options, "path": path})
    else:
        key_values(f"{kind} -> {path}", {"kind": kind, **{f"option {k}": v for k, v in options.items()},
                                         "model": path, "manifest": path / "attack.json"})


def evaluation(result: Any, files: Any, *, as_json: bool) -> None:
    if as_json:
        print_json({"report": files.html, "results": files.json, "summaries": result.summaries})
        return
    evaluation_tables(result)
    console.print(f"report: {files.html}\nresults: {files.json}", markup=False, highlight=False)


def evaluation_tables(result: Any) -> None:
    """The robustness matrix (verdict per method and suspect) and the per-method metrics."""
    suspects = result.suspects
    table("robustness matrix (verdict, score)", ["method"] + [f"{s.name} ({s.truth})" for s in suspects],
          [[m.method] + [_pair_cell(result.pair(m.method, s.name)) for s in suspects] for m in result.summaries])
    table("per method", ["method", "AUC", "accuracy", "TPR@1%FPR", "verdict acc.", "unrelated→derived", "queries",
                         "distilled→derived"],
          [[s.method, s.auc, s.accuracy, s.tpr_at_1pct_fpr, s.verdict_accuracy, s.false_derived,
            "-" if s.mean_queries is None else s.mean_queries,
            f"{s.distilled_derived}/{s.n_distilled}" if s.n_distilled else "-"] for s in result.summaries])


def _pair_cell(pair: Any) -> str:
    return pair.verdict if pair.verdict == "n/a" else f"{pair.verdict} {_fmt(pair.score)}"


# --- fingerprint files and the subspace verdict ---------------------------------------


def fingerprint_written(path: Path, manifest: dict[str, Any], fingerprints: dict[str, Any], *, as_json: bool) -> None:
    methods = {name: type(fp).__name__ for name, fp in fingerprints.items()}
    if as_json:
        print_json({"path": path, **manifest, "fingerprints": methods})
        return
    key = fingerprints.get("subspace")
    rows: dict[str, Any] = {"file": path, "manifest": path.with_suffix(".json"), "methods": list(methods)}
    if key is not None:
        rows["subspace key"] = f"{key.n_tokens} tokens, rank {key.rank}, hidden_size {key.hidden_size}"
    key_values(f"fingerprint of {manifest.get('model')}", rows)


def subspace_result(result: Any, *, as_json: bool, endpoint: Any = None) -> None:
    """The black-box verdict: one JSON object or two small tables.

    ``endpoint``: for a suspect behind an API, its probe, strategy and query bill."""
    compat, align = result.compatibility, result.alignment
    if as_json:
        print_json({"verdict": result.verdict, "graded_verdict": result.graded_verdict, "grade": result.grade,
                    "access": result.access, "queries": result.n_queries,
                    "outputs": result.n_outputs, "tokens": result.n_tokens, "score": result.score,
                    "p_value": result.p_value, "false_positive_rate": result.false_positive_rate,
                    "decided_by": result.decided_by, "precision": result.precision,
                    "perturbation": result.perturbation, "language_model_null": result.null,
                    "compatibility": compat, "alignment": align,
                    "estimated_hidden_size": result.estimated_hidden_size,
                    "hidden_size_is_lower_bound": result.hidden_size_is_lower_bound,
                    "owner": result.owner, "suspect": result.suspect, "note": result.note,
                    **({"endpoint": endpoint} if endpoint is not None else {})})
        return
    null = result.null
    key_values(f"{result.suspect} against {result.owner}: {result.graded_verdict}", {
        "verdict": result.verdict, "decided by": result.decided_by, "p-value": result.p_value,
        "lm_head change": result.perturbation.description,
        **({"language-model null": f"{null.n} unrelated pair(s), score {null.mean:.3g} +- {null.std:.2g} "
                                   f"(suspect {result.score:.3g})"} if null is not None else {}),
        "false-positive rate": result.false_positive_rate, "access": result.access, "precision": result.precision,
        "queries": result.n_queries, "outputs x tokens": f"{result.n_outputs} x {result.n_tokens}",
        "median residual": compat.median_residual, "noise floor / threshold": f"{compat.noise_floor:.3g} / {compat.threshold:.3g}",
        "outputs within noise": f"{compat.n_within} of {result.n_outputs}",
        "extra dimensions": (f"{align.extra_dimensions} (derived if <= {align.max_extra}; "
                             f"unrelated head: ~{align.null_extra_dimensions:.0f})"),
        "estimated hidden size": f"{result.estimated_hidden_size}{'+' if result.hidden_size_is_lower_bound else ''}",
        **({"note": result.note} if result.note else {})})
    if endpoint is not None:
        endpoint_report(endpoint)


def text_result(result: Any, *, as_json: bool, endpoint: Any = None) -> None:
    """The text method's verdict, and for an endpoint suspect which API it offered and the bill."""
    if as_json:
        print_json({**to_jsonable(result), **({"endpoint": endpoint} if endpoint is not None else {})})
        return
    null = result.null
    key_values(f"{result.suspect} against {result.owner}: {result.verdict}", {
        "verdict": result.verdict, "p-value": result.p_value,
        "owner's advantage (nats/byte, median)": result.score,
        **({"null": f"{null.n} unrelated writer(s), {null.mean:.3g} +- {null.std:.2g}"} if null is not None else {}),
        "measured against": result.baseline, "completions": result.n_completions,
        "owner explains better": f"{result.owner_better_share:.0%} of completions", "sampled through": result.api,
        "prompt set": result.prompt_set, **({"note": result.note} if result.note else {})})
    if endpoint is not None:
        key_values(f"{endpoint.endpoint} ({endpoint.model})", {
            "completions API": endpoint.completions_api, "chat API": endpoint.chat_api,
            "queries paid": endpoint.queries_used, "read from cache": endpoint.queries_cached,
            "retried": endpoint.queries_retried, "cache": endpoint.cache})


def stylometry_training(report: Any, skipped: dict[str, str], *, as_json: bool, path: str) -> None:
    if as_json:
        print_json({"registry": path, **to_jsonable(report), "skipped": skipped})
        return
    table(f"stylometry classifier stored in {path} (held-out prompts)", ["model", "accuracy", "attributed"],
          [[label, report.held_out_accuracy[label], report.held_out_accepted[label]] for label in report.labels])
    console.print(f"trained on {report.n_train} texts, calibrated on {report.n_held_out} of prompts it never saw; "
                  f"softmax temperature {report.temperature:.3g}", markup=False, highlight=False)
    for name, why in skipped.items():
        err_console.print(f"note: {name} left out: {why}", markup=False, highlight=False)


def stylometry_attribution(each: list[Any], overall: Any, *, as_json: bool, endpoint: Any = None) -> None:
    if as_json:
        print_json({"overall": overall, "texts": each, **({"endpoint": endpoint} if endpoint is not None else {})})
        return
    table("attribution", ["text", "decision", "best", "probability", "runner-up"],
          [[a.source, a.decision, a.ranking[0][0], a.ranking[0][1],
            f"{a.ranking[1][0]} {a.ranking[1][1]:.3g}" if len(a.ranking) > 1 else "-"] for a in [*each, overall]])
    if endpoint is not None:
        key_values(f"{endpoint.endpoint} ({endpoint.model})", {
            "sampled through": endpoint.api, "queries paid": endpoint.queries_used,
            "read from cache": endpoint.queries_cached, "cache": endpoint.cache})


def _brief(value: Any) -> Any:
    """A nested dataclass (a null summary, ...) as its scalar fields, for one table cell."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)
                if not isinstance(getattr(value, f.name), (tuple, list, dict))}
    return value
