r"""The family tree of a registry: every edge a calibrated p-value, a direction where evidence gives one.

1. **Pairs.** The stored summary vectors (``summary.py``) are correlated in one matrix product; each
   entry's ``k = ceil(log2 N) + 1`` best-correlated entries are its candidates. Full comparisons
   run on those pairs only: about ``N k`` of them, not ``N^2``. Entries without a comparable
   summary (another vocabulary's ids) are compared with every entry of their architecture.
2. **Evidence per pair.** The same full comparison as ``search`` (``search.Comparer``). By default
   only the methods with exact nulls (``tracing``, ``awm``: permutation tests that need no
   reference model), because a registry being drawn is a poor null for itself: its relatives
   make a reference-calibrated method's null too strict, and the rest are often a handful of one
   family, which makes it far too lenient (measured: ``huref`` and ``pcs`` drew edges between
   unrelated zoo seeds against a null of one base's three descendants). ``methods=`` adds others;
   their registry null then draws from the entries outside each one's candidate list.
3. **Edges.** Holm's step-down correction over all tested pairs' family-wise p-values: the
   probability of drawing even one false edge is at most ``alpha`` under any dependence between
   pairs (S. Holm, "A simple sequentially rejective multiple test procedure", Scand. J. Statist.
   6, 1979). An edge is drawn when the pair's verdict is ``derived`` and its Holm-adjusted p-value
   is below ``alpha``.
4. **Direction**, from what the registry recorded at ``registry add``
   (``provenance.lineage_hints``), never guessed:

   * weights on a quantisation grid are a leaf: of two related entries, the one on a grid is the
     child (a model trained from a quantised copy would leave the grid);
   * metadata (``base_model`` in config.json, an attack manifest's ``victim``) naming the other
     entry: a prior, labelled as such, never proof;
   * conflicting or no evidence: the edge stays undirected. Weight kurtosis (MoTHer,
     arXiv:2405.18432) is recorded but not used: on the zoo it is not monotone in fine-tuning steps.
5. **Tree.** ``networkx.maximum_branching`` over the directed edges (each entry keeps its most
   likely parent: a forest), weighted by ``-log10 p`` (capped), then by closeness (summary
   correlation: a parent is more alike than a grandparent or an uncle), then by metadata naming the
   parent; families are the connected components.
6. **Merges** (several parents: a DAG, not a forest). An entry with two or more drawn edges whose
   weight files are still where they were registered is decomposed over those relatives
   (``merges.merge_parents``): the relatives with a share of at least :data:`MERGE_SHARE` whose
   shares add up to one (a convex mix: a child of a merge is no mix of it and its sibling), or
   that donated copied blocks (passthrough), are its merge parents, drawn with their weights. Merge
   edges are chosen among the drawn edges only, so Holm's guarantee over all tested pairs holds.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import LineageError
from ..methods import METHODS, Kind
from ..progress import track
from ..stats import Verdict, holm
from .results import same_weights
from .search import Comparer, Shortlist
from .store import Entry, Registry

ROW_WIDTH = 14.0  # columns of families before the picture starts a new row
CORRECTION = "Holm step-down over every tested pair (family-wise error rate)"
MERGE_SHARE = 0.05  # the smallest mixing weight that makes a relative a merge parent


@dataclass(frozen=True)
class Edge:
    """A tested pair of registered entries; an edge of the tree when ``drawn``."""

    source: str                 # the parent when ``directed``; otherwise the pair in name order
    target: str
    p_value: float              # family-wise over the methods that applied
    adjusted_p: float           # Holm-adjusted over every tested pair
    verdict: Verdict            # of the pair, before correction
    drawn: bool
    directed: bool
    direction_evidence: str     # why source is the parent, or why it cannot be told
    derivation: str             # what the evidence says the child is ("quantised to 8 bits", ...)
    methods: tuple[str, ...]    # methods that agree on the verdict
    closeness: float = math.nan  # summary correlation of the pair: how alike, among relatives


@dataclass(frozen=True)
class LineageGraph:
    nodes: dict[str, dict[str, Any]]
    edges: tuple[Edge, ...]          # every tested pair; ``drawn`` ones are the graph's edges
    parents: dict[str, str]          # the forest: child -> most likely parent
    families: tuple[tuple[str, ...], ...]
    alpha: float
    correction: str = CORRECTION
    pairs_tested: int = 0
    seconds: float = 0.0
    notes: tuple[str, ...] = field(default=())
    merges: dict[str, dict[str, float]] = field(default_factory=dict)  # child -> {merge parent: weight}

    @property
    def drawn(self) -> tuple[Edge, ...]:
        return tuple(e for e in self.edges if e.drawn)

    def to_networkx(self) -> Any:
        """A ``networkx.DiGraph``: directed edges once, undirected ones both ways (``directed=False``)."""
        import networkx as nx

        graph = nx.DiGraph()
        for name, attrs in self.nodes.items():
            graph.add_node(name, **{k: _plain(v) for k, v in attrs.items()})
        for e in self.drawn:
            attrs = {"p_value": e.p_value, "adjusted_p": e.adjusted_p, "directed": e.directed,
                     "direction_evidence": e.direction_evidence, "derivation": e.derivation,
                     "weight": _strength(e.adjusted_p), "in_tree": self.parents.get(e.target) == e.source}
            graph.add_edge(e.source, e.target, **attrs)
            if not e.directed:
                graph.add_edge(e.target, e.source, **attrs)
        for child, shares in self.merges.items():  # a merge's parents point at it, with their weights
            for parent, weight in shares.items():
                if graph.has_edge(child, parent):
                    graph.remove_edge(child, parent)
                graph.add_edge(parent, child, **{**graph.get_edge_data(parent, child, {}), "directed": True,
                                                 "merge_weight": weight})
        return graph

    def as_dict(self) -> dict[str, Any]:
        return {"nodes": self.nodes, "edges": [asdict(e) for e in self.drawn], "parents": self.parents,
                "families": [list(f) for f in self.families], "alpha": self.alpha, "correction": self.correction,
                "pairs_tested": self.pairs_tested, "seconds": self.seconds, "notes": list(self.notes),
                "merges": self.merges}


def lineage_graph(registry: Registry, *, alpha: float = 0.01, methods: Sequence[str] | None = None,
                  null_size: int = 12, candidates: int | None = None, progress: bool = False) -> LineageGraph:
    """Score the registry's likely pairs, correct for their number, direct and draw the tree.

    ``candidates``: comparisons per entry (default ``ceil(log2 N) + 1``); ``methods``: default the
    weight methods with exact nulls; see the module docstring.
    """
    start = time.perf_counter()
    if methods is None:
        methods = [name for name, method in METHODS.items() if method.exact_null and method.kind is Kind.WEIGHTS]
    entries = {e.name: e for e in registry.entries()}
    names = sorted(entries)
    k = candidates if candidates is not None else max(2, math.ceil(math.log2(max(len(names), 2))) + 1)
    neighbours, correlation = _candidates(entries, names, k)
    pairs = sorted({tuple(sorted((a, b))) for a in names for b in neighbours[a]})
    null_pool = {n: [o for o in names if o != n and o not in neighbours[n]] for n in names}
    caches: dict[str, dict[Any, Any]] = {}
    tested = []
    for a, b in (track(pairs, "comparing registered pairs") if progress else pairs):
        comparer = Comparer(registry, entries[b], null_size, alpha, methods, null_pool=null_pool,
                             entries=entries, caches=caches)
        short = Shortlist([a], np.array([correlation.get((a, b), math.nan)]), [0], 0.0)
        tested.append((a, b, comparer.candidate(short, 0)))
    adjusted = holm([c.p_value for _, _, c in tested])
    edges = []
    for (a, b, cand), p_adj in zip(tested, adjusted, strict=True):
        drawn = cand.verdict is Verdict.DERIVED and p_adj < alpha
        parent, child, directed, why = direction(entries[a], entries[b])
        edges.append(Edge(parent, child, float(cand.p_value), float(p_adj), cand.verdict, drawn, directed, why,
                          derivation(entries[parent], entries[child], directed), cand.agree,
                          correlation.get((a, b), math.nan)))
    parents, families = _forest(names, [e for e in edges if e.drawn])
    nodes = {n: _node(entries[n]) for n in names}
    notes = () if null_pool and all(null_pool.values()) else (
        "some entries have no registered model outside their candidates: their registry nulls are empty, "
        "so only methods with exact nulls (tracing, awm) decide their pairs",)
    merges = _merges(entries, [e for e in edges if e.drawn], alpha)
    for child, shares in merges.items():  # the tree keeps one of a merge's parents: its largest share
        parents[child] = max(shares, key=lambda p: shares[p])
    return LineageGraph(nodes, tuple(edges), parents, families, alpha, pairs_tested=len(tested),
                        seconds=time.perf_counter() - start, notes=notes, merges=merges)


def _merges(entries: dict[str, Entry], drawn: list[Edge], alpha: float) -> dict[str, dict[str, float]]:
    """Entries that are merges of two or more of their drawn relatives (module docstring, 6)."""
    from ..merges import merge_parents

    relatives: dict[str, set[str]] = {}
    for e in drawn:
        relatives.setdefault(e.source, set()).add(e.target)
        relatives.setdefault(e.target, set()).add(e.source)
    found: dict[str, dict[str, float]] = {}
    for child, near in sorted(relatives.items()):
        source = _weights_at(entries[child])
        at = {n: path for n in near if (path := _weights_at(entries[n])) is not None}
        candidates = sorted(at)
        if source is None or len(candidates) < 2:
            continue
        try:
            result = merge_parents(source, [at[n] for n in candidates], alpha=alpha, test_parents=False)
        except LineageError:
            continue  # another architecture, or unreadable now: no merge is claimed
        shares = {n: w.weight for n, w in zip(candidates, result.weights, strict=True)
                  if result.identifiable and w.ci_low >= MERGE_SHARE}
        donated = Counter(candidates[b.donor] for b in result.blocks if b.donor is not None)
        if len(shares) >= 2 and abs(sum(shares.values()) - 1.0) <= 2 * MERGE_SHARE and result.residual < 0.5:
            found[child] = {n: round(w, 4) for n, w in shares.items()}
        elif len(donated) >= 2:  # a passthrough merge: each donor's share of the blocks
            found[child] = {n: round(c / len(result.blocks), 4) for n, c in donated.items()}
    return found


def _weights_at(entry: Entry) -> str | None:
    """Where the entry's weights were registered from, when they are still there."""
    source = entry.provenance.get("source")
    return str(source) if isinstance(source, str) and Path(source).exists() else None


def attachment(graph: LineageGraph, result: Any) -> dict[str, Any]:
    """Where a searched suspect would attach to the tree, judged as the tree's edges are: under the
    best-ranked candidate that a method with an exact null calls ``derived`` on its own p-value
    (search's registry null counts the candidate's registered relatives as unrelated, which is
    conservative exactly where a family is registered), Bonferroni over those methods."""
    exact = {n for n, m in METHODS.items() if m.exact_null}
    best, p_best = None, math.nan
    for candidate in result.candidates:
        own = [e for m, e in candidate.methods.items() if m in exact and e.applies and e.own_verdict is not None]
        ps = [e.own_p_value for e in own if math.isfinite(e.own_p_value)]
        p = min(1.0, len(ps) * min(ps)) if ps else math.nan
        if any(e.own_verdict is Verdict.DERIVED for e in own) and p < graph.alpha:
            best, p_best = candidate, p
            break
    if best is None or best.name not in graph.nodes:
        return {"parent": None, "ancestors": [], "family": [],
                "summary": "attaches nowhere: no registered model is a parent at this alpha"}
    line, node = [best.name], best.name
    while node in graph.parents and graph.parents[node] not in line:
        node = graph.parents[node]
        line.append(node)
    family = next((list(f) for f in graph.families if best.name in f), [best.name])
    return {"parent": best.name, "ancestors": line[1:], "family": family, "p_value": p_best,
            "summary": f"attaches under {' <- '.join(line)} (p = {p_best:.2g}, exact-null methods), "
                       f"in a family of {len(family)}"}


def direction(a: Entry, b: Entry) -> tuple[str, str, bool, str]:
    """(parent, child, directed, why) for a related pair, from the entries' lineage hints."""
    ha, hb = _hints(a), _hints(b)
    votes: list[tuple[str, str]] = []  # (parent, reason)
    qa, qb = ha.get("quantised"), hb.get("quantised")
    if bool(qa) != bool(qb):
        grid, on_grid, off_grid = (qa, a, b) if qa else (qb, b, a)
        bits = grid.get("bits", "?") if isinstance(grid, dict) else "?"
        votes.append((off_grid.name, f"{on_grid.name}'s weights lie on a {bits}-bit grid: a quantised copy is a leaf"))
    for wide, narrow, dw, dn in ((a, b, ha.get("cast_digests"), hb.get("cast_digests")),
                                 (b, a, hb.get("cast_digests"), ha.get("cast_digests"))):
        if dw and dn and dw["float32"] != dn["float32"]:
            cast_to = [fmt for fmt in ("bfloat16", "float16") if dw.get(fmt) == dn["float32"]]
            if cast_to:
                votes.append((wide.name, f"{narrow.name}'s weights are {wide.name}'s cast to {cast_to[0]}: a re-saved "
                                         "copy is a leaf"))
    for older, younger, hint in ((a, b, hb), (b, a, ha)):
        if _names(hint.get("base_model"), older):
            votes.append((older.name, f"metadata of {younger.name} names {older.name} as its base (a prior)"))
    parents = {p for p, _ in votes}
    first, second = sorted((a.name, b.name))
    if len(parents) == 1:
        parent = parents.pop()
        return parent, (b.name if parent == a.name else a.name), True, "; ".join(r for _, r in votes)
    if len(parents) > 1:
        return first, second, False, "the evidence disagrees: " + "; ".join(r for _, r in votes)
    return first, second, False, "no evidence of direction (neither quantised, nor named as a base)"


def derivation(parent: Entry, child: Entry, directed: bool) -> str:
    """What the recorded evidence says the child is, in a few words."""
    hint = _hints(child).get("quantised") if directed else None
    pa, ch = parent.provenance.get("architecture", {}), child.provenance.get("architecture", {})
    parts = []
    if hint:
        parts.append(f"quantised to {hint['bits']} bits")
    if pa.get("num_hidden_layers") and ch.get("num_hidden_layers") and pa["num_hidden_layers"] != ch["num_hidden_layers"]:
        parts.append(f"depth {pa['num_hidden_layers']} -> {ch['num_hidden_layers']}")
    if (pa.get("num_experts") or 0) != (ch.get("num_experts") or 0):
        parts.append(f"experts {pa.get('num_experts') or 0} -> {ch.get('num_experts') or 0}")
    if same_weights(parent, child):
        parts.append("identical weights")
    return ", ".join(parts) or "derived"


def write_graphml(graph: LineageGraph, path: str | Path) -> Path:
    import networkx as nx

    path = Path(path)
    nx.write_graphml(graph.to_networkx(), path)
    return path


def plot(graph: LineageGraph, path: str | Path) -> Path:
    """The forest as a picture: one column block per family, parents above children; edge width
    by -log10 of the adjusted p-value, dashed where the direction is unknown; a merge's parents
    point at it in orange, labelled with their mixing weights."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    position = _layout(graph)
    width = max(6.0, 1.9 * (max(x for x, _ in position.values()) + 1))
    height = max(3.5, 1.6 * (max(-y for _, y in position.values()) + 1))
    fig, ax = plt.subplots(figsize=(width, height), dpi=100)
    roots = _roots(graph)
    for e in graph.drawn:
        (x0, y0), (x1, y1) = position[e.source], position[e.target]
        # tree edges straight and labelled; of the rest (a grandparent's, siblings'), only those
        # the forest does not already connect, curved
        in_tree = graph.parents.get(e.target) == e.source
        if not in_tree and roots[e.source] == roots[e.target]:
            continue
        ax.annotate("", xy=(x1, y1 + 0.12), xytext=(x0, y0 - 0.12),
                    arrowprops={"arrowstyle": "-|>" if e.directed else "-", "lw": 0.6 + 0.25 * _strength(e.adjusted_p),
                                "color": "#1f4e79" if in_tree else "#b8c2cc",
                                "linestyle": "solid" if e.directed else "dashed",
                                "connectionstyle": "arc3,rad=0.0" if in_tree else "arc3,rad=-0.5"})
        if in_tree:
            ax.text((x0 + x1) / 2 + 0.04, (y0 + y1) / 2, f"{e.derivation}\np={e.adjusted_p:.1g}", fontsize=7,
                    ha="left", va="center", color="#333333")
    for child, shares in graph.merges.items():  # every parent of a merge, with its mixing weight
        for parent, weight in shares.items():
            (x0, y0), (x1, y1) = position[parent], position[child]
            ax.annotate("", xy=(x1, y1 + 0.12), xytext=(x0, y0 - 0.12),
                        arrowprops={"arrowstyle": "-|>", "lw": 1.4, "color": "#c05800"})
            ax.text(x0 + 0.6 * (x1 - x0) + 0.04, y0 + 0.6 * (y1 - y0), f"merge {weight:.2f}", fontsize=7,
                    ha="left", va="center", color="#c05800")
    for name, (x, y) in position.items():
        quantised = graph.nodes[name].get("quantised")
        ax.text(x, y, name, ha="center", va="center", fontsize=8,
                bbox={"boxstyle": "round,pad=0.3", "fc": "#fde9c9" if quantised else "#dbe9f6", "ec": "#555555"})
    ax.set_xlim(-0.8, max(x for x, _ in position.values()) + 0.8)
    ax.set_ylim(min(y for _, y in position.values()) - 0.6, 0.6)
    ax.axis("off")
    ax.set_title(f"lineage: {len(graph.drawn)} edge(s) at alpha {graph.alpha} (Holm over {graph.pairs_tested} pairs)",
                 fontsize=9)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


# --- helpers ------------------------------------------------------------------------------------


def _candidates(entries: dict[str, Entry], names: list[str], k: int) -> tuple[dict[str, list[str]],
                                                                             dict[tuple[str, str], float]]:
    """Each entry's k best-correlated others by summary (entries without a comparable summary:
    every entry of the same architecture), and the correlations."""
    neighbours: dict[str, list[str]] = {n: [] for n in names}
    correlation: dict[tuple[str, str], float] = {}
    groups: dict[str, list[str]] = {}
    for n in names:
        summary = entries[n].summary
        if summary is not None:
            groups.setdefault(summary.ids_key, []).append(n)
    for members in groups.values():
        vectors = np.stack([entries[n].summary.vector for n in members])  # type: ignore[union-attr]
        sims = vectors @ vectors.T
        np.fill_diagonal(sims, -np.inf)
        for i, n in enumerate(members):
            order = np.argsort(-sims[i], kind="stable")[: min(k, len(members) - 1)]
            neighbours[n] = [members[j] for j in order]
            for j, m in enumerate(members):
                if i != j:
                    correlation[(m, n)] = correlation[(n, m)] = float(sims[i, j])
    grouped = {n for members in groups.values() for n in members}
    for n in names:
        if n not in grouped:
            arch = entries[n].provenance.get("architecture", {}).get("model_type")
            neighbours[n] = [m for m in names if m != n and
                             entries[m].provenance.get("architecture", {}).get("model_type") == arch]
    return neighbours, correlation


def _forest(names: list[str], drawn: list[Edge]) -> tuple[dict[str, str], tuple[tuple[str, ...], ...]]:
    import networkx as nx

    directed = nx.DiGraph()
    directed.add_nodes_from(names)
    for e in drawn:
        if e.directed:
            directed.add_edge(e.source, e.target, weight=_parent_weight(e))
    branching = nx.maximum_branching(directed, attr="weight")
    parents = {child: parent for parent, child in branching.edges()}
    undirected = nx.Graph()
    undirected.add_nodes_from(names)
    undirected.add_edges_from((e.source, e.target) for e in drawn)
    families = tuple(sorted(tuple(sorted(c)) for c in nx.connected_components(undirected)))
    return parents, families


def _roots(graph: LineageGraph) -> dict[str, str]:
    """Each entry's root in the forest."""
    out = {}
    for name in graph.nodes:
        node, seen = name, set()
        while node in graph.parents and node not in seen:
            seen.add(node)
            node = graph.parents[node]
        out[name] = node
    return out


def _layout(graph: LineageGraph) -> dict[str, tuple[float, float]]:
    """Families side by side; within one, depth from the forest's roots (undirected neighbours of
    a placed node go one level below it)."""
    import networkx as nx

    tree = nx.Graph()
    tree.add_nodes_from(graph.nodes)
    tree.add_edges_from((e.source, e.target) for e in graph.drawn)
    position: dict[str, tuple[float, float]] = {}
    column, top, row_depth = 0.0, 0.0, 0
    singletons = [f[0] for f in graph.families if len(f) == 1]
    for family in sorted((f for f in graph.families if len(f) > 1), key=lambda f: (-len(f), f)):
        if column > ROW_WIDTH:  # a new row of families below
            column, top, row_depth = 0.0, top - row_depth - 1.5, 0
        roots = [n for n in family if n not in graph.parents] or [family[0]]
        root = max(roots, key=lambda n: (sum(1 for c, p in graph.parents.items() if p == n), n))
        depth = nx.single_source_shortest_path_length(tree.subgraph(family), root)
        for child, parent in graph.parents.items():  # tree edges point down
            if child in depth and parent in depth and depth[child] <= depth[parent]:
                depth[child] = depth[parent] + 1
        levels: dict[int, list[str]] = {}
        for n in sorted(family, key=lambda n: (depth.get(n, 0), n)):
            levels.setdefault(depth.get(n, 0), []).append(n)
        span = max(len(v) for v in levels.values())
        for level, members in levels.items():
            offset = (span - len(members)) / 2
            for i, n in enumerate(members):
                position[n] = (column + offset + i, top - float(level))
        column += span + 0.5
        row_depth = max(row_depth, max(levels))
    # models related to no other: a compact block of columns beside the last families
    rows = max(3, row_depth + 1)
    for i, name in enumerate(sorted(singletons)):
        position[name] = (column + i // rows, top - float(i % rows))
    return position


def _node(entry: Entry) -> dict[str, Any]:
    hints = _hints(entry)
    arch = entry.provenance.get("architecture", {})
    return {"model_type": arch.get("model_type"), "n_parameters": arch.get("n_parameters"),
            "quantised": hints.get("quantised"), "base_model": hints.get("base_model"),
            "kurtosis": hints.get("kurtosis"), "added_at": entry.added_at}


def _hints(entry: Entry) -> dict[str, Any]:
    hints = entry.provenance.get("lineage_hints")
    return hints if isinstance(hints, dict) else {}


def _names(base: Any, entry: Entry) -> bool:
    """Does a recorded ``base_model`` name this entry (its registered name or source path)?"""
    if not isinstance(base, str) or not base:
        return False
    source = str(entry.provenance.get("source", ""))
    candidates = {entry.name, source, Path(source).name} - {""}
    return base in candidates or Path(base).name in candidates or _same_path(base, source)


def _same_path(a: str, b: str) -> bool:
    try:
        return bool(b) and Path(a).resolve() == Path(b).resolve()
    except OSError:
        return False


def _parent_weight(edge: Edge) -> float:
    """How likely the edge's source is the child's *parent*, not a grandparent or an uncle: the
    evidence (-log10 p, capped, so that p-values at their floors tie), then closeness (summary
    correlation: a parent is more alike than a grandparent), then metadata naming this parent."""
    closeness = edge.closeness if math.isfinite(edge.closeness) else 0.0
    return _strength(edge.adjusted_p) + 2.0 * closeness + (1.0 if "names" in edge.direction_evidence else 0.0)


def _strength(p: float) -> float:
    """-log10 p, capped for drawing and weights."""
    return min(12.0, -math.log10(max(p, 1e-300))) if math.isfinite(p) else 0.0


def _plain(value: Any) -> Any:
    """GraphML takes scalars: dicts and None become strings."""
    if value is None:
        return ""
    if isinstance(value, (dict, list, tuple)):
        return str(value)
    return value
