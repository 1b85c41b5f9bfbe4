"""Small methods for testing the machinery that runs methods (registry, evaluation, CLI).

Each is a real, if crude, :class:`~llm_lineage.methods.Method`, registered only by the tests that
need it (``with installed(...)``), so that the registry, the evaluation harness and the CLI can be
tested independently of the method packages:

* ``test-gram``: the embedding-Gram summary of 48 ``embed_tokens`` rows, judged against whatever
  null it is given. (On ``lm_head`` rows it would fail: trained zoo models' output heads share a
  Gram structure of about 0.99, which a registry null rightly calls inconclusive.)
* ``test-needs-bias``: never applies (no zoo model has an lm_head bias).
* ``zz-slow``: announces itself in the file ``$REGISTRY_TEST_MARKER`` and then blocks for
  ``$REGISTRY_TEST_SLEEP`` seconds, so that a test can kill an ``add`` at a known point.
* ``head-cosine``: 1 - |cos| of the centred lm_heads (a distance: lower is related), with two
  access modes, a null of row-shuffled suspects, and MoE suspects refused.

And ``temporary_postgres()``: a PostgreSQL server of its own for the registry tests and benchmarks.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .errors import MissingTensor, UnsupportedFormat
from .methods.base import METHODS, Kind, Method, Result, register, unregister
from .registry.summary import Summary, summarise, token_ids_for
from .stats import NullCalibration, Verdict, calibrate, decide, summarize
from .weights import Checkpoint


@dataclass(frozen=True)
class NoOptions:
    alpha: float = 0.01


class GramMethod(Method[Summary, NoOptions, Result]):
    name = "test-gram"
    kind = Kind.WEIGHTS
    config_cls = NoOptions
    fingerprint_cls = (Summary,)
    best_possible = 1.0

    def fingerprint(self, source: Checkpoint, config: NoOptions) -> Summary:
        rows = source.tensor("embed_tokens")
        return summarise(rows, token_ids_for(rows.shape[0], 48), "embed_tokens")

    def score(self, owner_fp: Summary, suspect_fp: Summary, config: NoOptions) -> float:
        return float(np.dot(owner_fp.vector, suspect_fp.vector))

    def compare(self, owner_fp: Summary, suspect_fp: Summary, *, null: NullCalibration | None,
                config: NoOptions) -> Result:
        score = self.score(owner_fp, suspect_fp, config)
        if null is None or null.n < 2:
            return Result(method=self.name, score=score, p_value=math.nan, verdict=Verdict.INCONCLUSIVE)
        return Result(method=self.name, score=score, p_value=null.p_value(score),
                      verdict=decide(score, null, best_possible=1.0), null=summarize(null))


class NeedsBiasMethod(GramMethod):
    name = "test-needs-bias"

    def fingerprint(self, source: Checkpoint, config: NoOptions) -> Summary:
        raise MissingTensor(f"{source.path} has no lm_head bias")


class SlowMethod(GramMethod):
    name = "zz-slow"

    def fingerprint(self, source: Checkpoint, config: NoOptions) -> Summary:
        marker = os.environ.get("REGISTRY_TEST_MARKER")
        if marker:
            Path(marker).write_text("fingerprinting")
        time.sleep(float(os.environ.get("REGISTRY_TEST_SLEEP", "60")))
        return super().fingerprint(source, config)


@dataclass(frozen=True)
class HeadCosineConfig:
    access: Literal["weights", "rows"] = "weights"


@dataclass(frozen=True)
class HeadFingerprint:
    head: np.ndarray   # centred lm_head rows


class HeadCosineMethod(Method[HeadFingerprint, HeadCosineConfig, Result]):
    """A distance (lower is related); ``calls`` records (access, suspect name) of every verify."""

    name = "head-cosine"
    kind = Kind.OUTPUTS
    config_cls = HeadCosineConfig
    fingerprint_cls = (HeadFingerprint,)
    higher_is_related = False
    access_modes = ("weights", "rows")
    exact_null = "row-shuffled copies of the suspect, built in compare"

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def fingerprint(self, source: Checkpoint, config: HeadCosineConfig) -> HeadFingerprint:
        if source.config.model_type == "mixtral":
            raise UnsupportedFormat("head-cosine: test method refuses MoE suspects")
        head = np.asarray(source.tensor("lm_head"), dtype=np.float64)
        return HeadFingerprint(head - head.mean(axis=0))  # the shared mean direction is no evidence

    def score(self, owner_fp: HeadFingerprint, suspect_fp: HeadFingerprint, config: HeadCosineConfig) -> float:
        a, b = owner_fp.head, suspect_fp.head
        return 1 - abs(float(np.sum(a * b) / np.linalg.norm(a) / np.linalg.norm(b)))

    def compare(self, owner_fp: HeadFingerprint, suspect_fp: HeadFingerprint, *, null: NullCalibration | None,
                config: HeadCosineConfig) -> Result:
        distance = self.score(owner_fp, suspect_fp, config)
        rng = np.random.default_rng(0)
        # null: the same suspect with its token rows shuffled, so rows no longer line up with the owner's
        shuffled = [HeadFingerprint(suspect_fp.head[rng.permutation(len(suspect_fp.head))]) for _ in range(30)]
        null = calibrate([self.score(owner_fp, s, config) for s in shuffled], higher_is_related=False)
        return Result(method=self.name, score=distance, p_value=null.p_value(distance),
                      verdict=decide(distance, null), higher_is_related=False,
                      n_queries=7 if config.access == "rows" else 0)

    def verify(self, owner: Any, suspect: Any, config: HeadCosineConfig | None = None, *,
               references: Sequence[str | Path] = ()) -> Result:
        config = config or HeadCosineConfig()
        self.calls.append((config.access, Path(suspect).name))
        return super().verify(owner, suspect, config, references=references)


TOY_METHODS: dict[str, type[Method[Any, Any, Any]]] = {
    m.name: m for m in (GramMethod, NeedsBiasMethod, SlowMethod, HeadCosineMethod)}


@contextmanager
def installed(*names: str) -> Iterator[dict[str, Method[Any, Any, Any]]]:
    """Register the named toy methods for the duration of the block; yields the instances."""
    added = {}
    try:
        for name in names:
            if name not in METHODS:
                added[name] = register(TOY_METHODS[name]())
        yield {name: METHODS[name] for name in names}
    finally:
        for name in added:
            unregister(name)


def install(*names: str) -> None:
    """Register toy methods for the rest of the process (a CLI subprocess started by a test)."""
    for name in names:
        if name not in METHODS:
            register(TOY_METHODS[name]())



class PostgresUnavailable(Exception):
    """No PostgreSQL server binaries or no psycopg: the reason, to skip with."""


@dataclass(frozen=True)
class PostgresServer:
    host: str   # the socket directory
    port: int
    user: str

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@/postgres?host={self.host}&port={self.port}"

    def new_database(self) -> str:
        """Create a fresh database; return its URL."""
        import uuid

        import psycopg

        name = f"r_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url.replace("/postgres?", f"/{name}?")


@contextmanager
def temporary_postgres() -> Iterator[PostgresServer]:
    """Start a PostgreSQL server in a temporary directory (unix socket only, trust auth, no fsync),
    as the ``postgres`` user when run as root (initdb refuses root); stop and delete it on exit."""
    import glob
    import shutil
    import socket
    import subprocess
    import tempfile

    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise PostgresUnavailable('psycopg 3 is not installed: pip install "llm-lineage[scale]"') from None
    bindirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    bindir = next((d for d in bindirs if os.path.exists(f"{d}/initdb")), None)
    on_path = shutil.which("initdb")
    if bindir is None and on_path:
        bindir = os.path.dirname(on_path)
    if bindir is None:
        raise PostgresUnavailable("no PostgreSQL server installed (Debian: apt-get install postgresql)")
    # not under pytest's temporary folder: that one is private to this user, and the server may run as another
    root = Path(tempfile.mkdtemp(prefix="llm-lineage-pg-"))
    data, sockets = root / "data", root / "sockets"
    sockets.mkdir()
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(sockets, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    user = "lineage"
    try:
        subprocess.run([*as_user, f"{bindir}/initdb", "-D", str(data), "-A", "trust", "-U", user, "--no-sync"],
                       check=True, capture_output=True)
        subprocess.run([*as_user, f"{bindir}/pg_ctl", "-D", str(data), "-w", "-l", str(root / "log"), "-o",
                        f"-k {sockets} -p {port} -c listen_addresses='' -c fsync=off", "start"],
                       check=True, capture_output=True)
        yield PostgresServer(str(sockets), port, user)
    finally:
        subprocess.run([*as_user, f"{bindir}/pg_ctl", "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
