"""The registry store: SQLite (one file, WAL) or PostgreSQL rows, plus content-addressed safetensors blobs.

``Registry(PATH)`` (or ``sqlite:///PATH``) is the embedded default, nothing to start;
``Registry("postgresql://user@host/db")`` keeps the same rows in PostgreSQL for a hub that many
workers and readers share (psycopg 3, the ``scale`` extra). The schema is versioned in ``meta``
(``schema_version``); a registry written by a newer version is refused, not guessed at.

The SQLite file holds entries (name, provenance, summary vector) and, per method, the sha256 of
the safetensors blob that holds its fingerprint (written by ``methods.fingerprint_io``) or the
reason the method could not be applied. Blobs live in ``<registry>.blobs/<sha[:2]>/<sha>.safetensors``
(PostgreSQL: ``$LLM_LINEAGE_BLOBS``, else a folder per database in the user's data directory; a
directory every worker can reach, such as a shared file system).

Crash safety comes from ordering: blobs are written first (each atomically, under its content
hash), then one transaction inserts the entry and its fingerprint rows. A process killed at any
point leaves either the whole entry or none of it; at worst some unreferenced blobs, which
:meth:`Registry.check` reports and :meth:`Registry.gc` removes. WAL mode lets any number of
readers (searches) run while one writer adds. Search lives in ``search.py``; export and import
in ``archive.py``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CorruptCheckpoint, InputError, LineageError, NonFiniteWeights, RegistryError, first_line
from ..methods import METHODS, fingerprint_io
from ..methods.base import Kind, fingerprint_all, resolve
from ..progress import track
from ..weights import Checkpoint, open_checkpoint
from .provenance import provenance as provenance_of
from .provenance import sha256_file
from .summary import Summary, summary_of

FORMAT = "llm-lineage-registry/1"
SCHEMA_VERSION = 1
ENV_VAR = "LLM_LINEAGE_REGISTRY"
BLOBS_ENV = "LLM_LINEAGE_BLOBS"
ATTACHED = "attached:"  # meta keys naming registry-wide blobs

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    added_at TEXT NOT NULL,
    provenance TEXT NOT NULL,
    vocab_size INTEGER,
    tokenizer_sha256 TEXT,
    summary_role TEXT,
    summary_ids BLOB,
    summary_ids_key TEXT,
    summary BLOB
);
CREATE TABLE IF NOT EXISTS fingerprints (
    entry_id INTEGER NOT NULL REFERENCES entries(id) ON DELETE CASCADE,
    method TEXT NOT NULL,
    kind TEXT NOT NULL,
    blob TEXT,          -- sha256 of the fingerprint's safetensors file; NULL when it could not apply
    note TEXT,          -- why the method could not apply
    PRIMARY KEY (entry_id, method)
);
"""

# the same tables in PostgreSQL's types: one schema, two spellings
_SCHEMA_POSTGRES = (_SCHEMA.replace("id INTEGER PRIMARY KEY", "id BIGSERIAL PRIMARY KEY")
                    .replace("entry_id INTEGER", "entry_id BIGINT").replace("BLOB,", "BYTEA,")
                    .replace("BLOB\n", "BYTEA\n"))


def is_postgres(spec: str | Path | None) -> bool:
    return isinstance(spec, str) and spec.startswith(("postgresql://", "postgres://"))


class _Postgres:
    """A psycopg 3 connection that speaks the store's ``?`` placeholders."""

    def __init__(self, url: str) -> None:
        try:
            import psycopg
        except ImportError:
            raise RegistryError("a PostgreSQL registry needs psycopg 3",
                                hint='pip install "llm-lineage[scale]"') from None
        self.errors: tuple[type[Exception], ...] = (psycopg.Error,)
        try:
            self.raw = psycopg.connect(url, autocommit=True, connect_timeout=30)
        except psycopg.Error as exc:
            raise RegistryError(f"cannot connect to {_redacted(url)}: {first_line(exc, limit=None)}") from None

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Any:
        return self.raw.execute(sql.replace("?", "%s"), tuple(args))

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self.raw.cursor() as cur:
            cur.executemany(sql.replace("?", "%s"), [tuple(r) for r in rows])

    def close(self) -> None:
        self.raw.close()


def _bump_generation(conn: Any) -> None:
    """Mark the registry changed, so that every process's in-memory summary index is rebuilt."""
    conn.execute("INSERT INTO meta (key, value) VALUES ('generation', ?) "
                 "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (uuid.uuid4().hex,))


def _redacted(url: str) -> str:
    """The URL without its password, for messages and the blob folder's name."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _postgres_blob_dir(location: str) -> Path:
    if os.environ.get(BLOBS_ENV):
        return Path(os.environ[BLOBS_ENV]).expanduser()
    import hashlib

    from platformdirs import user_data_dir

    return Path(user_data_dir("llm-lineage")) / "blobs" / hashlib.sha256(location.encode()).hexdigest()[:16]


def default_path() -> Path:
    """``$LLM_LINEAGE_REGISTRY``, else ``registry.sqlite`` in the user's data directory."""
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("llm-lineage")) / "registry.sqlite"


@dataclass(frozen=True)
class StoredFingerprint:
    method: str
    kind: str                 # the method's Kind: "weights", "outputs" or "text"
    blob: str | None          # sha256 of the blob, None when the method could not apply
    note: str | None = None   # why it could not apply


@dataclass(frozen=True)
class Entry:
    """One registered model (fingerprint arrays stay on disk until asked for)."""

    name: str
    added_at: str
    provenance: dict[str, Any]
    vocab_size: int | None
    tokenizer_sha256: str | None
    summary: Summary | None
    fingerprints: dict[str, StoredFingerprint] = field(default_factory=dict)

    @property
    def methods(self) -> list[str]:
        return sorted(m for m, f in self.fingerprints.items() if f.blob)


@dataclass(frozen=True)
class SummaryIndex:
    """What the shortlist multiplies: ``names`` of every entry (in registration order) and, per
    token-id set, ``(token_ids, positions in names, vectors)`` with one summary vector per row."""

    names: list[str]
    groups: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]


class Registry:
    """A registry of owner fingerprints at ``path`` (created by :meth:`add` when missing)."""

    def __init__(self, path: str | Path | None = None, *, create: bool = False) -> None:
        spec = str(path) if path else os.environ.get(ENV_VAR) or None
        self._conn: Any
        self._summary_index: tuple[tuple, SummaryIndex] | None = None
        if spec is not None and is_postgres(spec):
            self.backend = "postgresql"
            self.location = _redacted(spec)
            self.path = Path(self.location)  # for display; the rows are in the database
            self.blob_dir = _postgres_blob_dir(self.location)
            self._conn = self._connect_postgres(spec)
            return
        if spec and spec.startswith("sqlite:///"):
            spec = spec.removeprefix("sqlite://")
        self.backend = "sqlite"
        self.path = Path(spec).expanduser() if spec else default_path()
        self.location = str(self.path)
        self.blob_dir = self.path.with_name(self.path.name + ".blobs")
        if not self.path.exists() and not create:
            raise RegistryError(f"no registry at {self.path}",
                                hint="add a model first: llm-lineage registry add MODEL --registry PATH")
        if self.path.is_dir():
            raise RegistryError(f"{self.path} is a directory, not a registry file")
        if not create and self.path.is_file() and self.path.stat().st_size == 0:
            raise RegistryError(f"{self.path} is empty (0 bytes), not a registry",
                                hint="remove it, or add a model to create a registry there")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = self._connect()

    # --- connection --------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        # several processes opening a new registry at once: switching it to WAL and creating the
        # tables take locks that the busy timeout does not always wait for; they are retried
        import time

        deadline = time.monotonic() + 30.0
        while True:
            try:
                return self._connect_once()
            except RegistryError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _connect_once(self) -> sqlite3.Connection:
        conn = None
        try:
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            conn.execute("PRAGMA busy_timeout = 30000")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA foreign_keys = ON")
            problems = [row[0] for row in conn.execute("PRAGMA quick_check")]
            if problems != ["ok"]:
                raise RegistryError(f"registry {self.path} is corrupt: {'; '.join(problems[:3])}")
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if tables and "entries" not in tables:
                raise RegistryError(f"{self.path} is an SQLite file but not an llm-lineage registry")
            conn.executescript(_SCHEMA)
            self._check_version(conn)
        except (sqlite3.DatabaseError, RegistryError) as exc:
            if conn is not None:
                conn.close()
            if isinstance(exc, RegistryError):
                raise
            raise RegistryError(f"registry {self.path} cannot be read: {exc}",
                                hint="restore it from an export, or point --registry at another file") from None
        return conn

    def _connect_postgres(self, url: str) -> _Postgres:
        conn = _Postgres(url)
        try:
            with conn.raw.transaction():
                # many workers may open a new registry at once: one of them creates the tables
                conn.execute("SELECT pg_advisory_xact_lock(7361528)")
                conn.raw.execute(_SCHEMA_POSTGRES)
                self._check_version(conn)
        except conn.errors as exc:
            raise RegistryError(f"registry {self.location} cannot be read: {first_line(exc, limit=None)}") from None
        return conn

    def _check_version(self, conn: Any) -> None:
        rows = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        if "format" in rows and rows["format"] != FORMAT:
            raise RegistryError(f"{self.location} has format {rows['format']!r}; this version reads {FORMAT}")
        version = int(rows.get("schema_version", SCHEMA_VERSION))
        if version > SCHEMA_VERSION:
            raise RegistryError(f"{self.location} has registry schema {version}, newer than this version reads "
                                f"({SCHEMA_VERSION})", hint="upgrade llm-lineage to read it")
        for key, value in (("format", FORMAT), ("schema_version", str(SCHEMA_VERSION))):
            if key not in rows:
                conn.execute("INSERT INTO meta VALUES (?, ?) ON CONFLICT DO NOTHING", (key, value))

    @contextmanager
    def _write(self) -> Iterator[Any]:
        """One write transaction; the write lock is taken up front so checks and writes agree."""
        conn = self._conn
        if isinstance(conn, _Postgres):
            try:
                with conn.raw.transaction():
                    # writers take turns, so a name checked free stays free until the commit;
                    # readers never wait
                    conn.execute("SELECT pg_advisory_xact_lock(7361529)")
                    yield conn
                    _bump_generation(conn)
            except conn.errors as exc:
                raise RegistryError(f"registry {self.location}: write failed ({first_line(exc, limit=None)})") from None
            return
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                _bump_generation(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            raise RegistryError(f"registry {self.path}: write failed ({exc})") from None

    def _read(self, sql: str, args: Sequence[Any] = ()) -> list[tuple]:
        errors = self._conn.errors if isinstance(self._conn, _Postgres) else (sqlite3.DatabaseError,)
        try:
            return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)
                    for row in self._conn.execute(sql, args).fetchall()]
        except errors as exc:
            raise RegistryError(f"registry {self.location} cannot be read: {first_line(exc, limit=None)}") from None

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- blobs -------------------------------------------------------------------------------

    def blob_path(self, sha: str) -> Path:
        return self.blob_dir / sha[:2] / f"{sha}.safetensors"

    def write_blob(self, method: str, fingerprint: Any) -> str:
        """Save one fingerprint under its content hash (atomic); return the hash."""
        return write_blob(self.blob_dir, method, fingerprint)

    def write_blob_bytes(self, sha: str, data: bytes) -> None:
        """Store bytes that must hash to ``sha`` (import); refuses anything else."""
        import hashlib

        if hashlib.sha256(data).hexdigest() != sha:
            raise RegistryError(f"blob {sha[:12]} does not match its content hash")
        target = self.blob_path(sha)
        if target.is_file():
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f"tmp-{uuid.uuid4().hex}")
        tmp.write_bytes(data)
        os.replace(tmp, target)

    # --- writing -----------------------------------------------------------------------------

    def add(self, model: str | Path | Checkpoint, *, name: str | None = None,
            methods: Sequence[str] | None = None, replace: bool = False, progress: bool = False) -> Entry:
        """Fingerprint ``model`` with every method (or ``methods``) and store it as ``name``.

        A method that cannot apply to this model (a missing tensor, say) is recorded with its
        reason rather than failing the whole add.
        """
        ckpt = model if isinstance(model, Checkpoint) else open_checkpoint(model)
        name = name or ckpt.name
        chosen = _choose_methods(methods)
        if not replace and self._entry_id(name) is not None:
            raise RegistryError(f"{self.location} already holds {name!r}", hint="pass --replace or another --name")
        _, prov, summary, stored = fingerprint_for_registry(ckpt, chosen, self.blob_dir, name=name, progress=progress)
        return self.insert(name, prov, summary, stored, replace=replace)

    def insert(self, name: str, provenance: dict[str, Any], summary: Summary | None,
               fingerprints: dict[str, StoredFingerprint], *, replace: bool = False) -> Entry:
        """Insert one entry whose blobs are already written, in one transaction."""
        self.insert_many([(name, provenance, summary, fingerprints)], replace=replace)
        return self.get(name)

    def insert_many(self, items: Sequence[tuple[str, dict[str, Any], Summary | None, dict[str, StoredFingerprint]]],
                    *, replace: bool = False) -> None:
        """Insert entries whose blobs are already written, all in one transaction (all or none)."""
        with self._write() as conn:
            for name, provenance, summary, fingerprints in items:
                self._insert(conn, name, provenance, summary, fingerprints, replace)

    def _insert(self, conn: Any, name: str, provenance: dict[str, Any], summary: Summary | None,
                fingerprints: dict[str, StoredFingerprint], replace: bool) -> None:
        arch = provenance.get("architecture", {})
        missing = [f.blob for f in fingerprints.values() if f.blob and not self.blob_path(f.blob).is_file()]
        if missing:  # a concurrent gc raced us; the transaction is rolled back
            raise RegistryError(f"fingerprint blobs vanished before commit ({missing[0][:12]}...); retry")
        old = conn.execute("SELECT id FROM entries WHERE name=?", (name,)).fetchone()
        if old is not None:
            if not replace:
                raise RegistryError(f"{self.location} already holds {name!r}", hint="pass --replace or another --name")
            conn.execute("DELETE FROM entries WHERE id=?", (old[0],))
        entry_id = conn.execute(
            "INSERT INTO entries (name, added_at, provenance, vocab_size, tokenizer_sha256, summary_role,"
            " summary_ids, summary_ids_key, summary) VALUES (?,?,?,?,?,?,?,?,?) RETURNING id",
            (name, provenance.get("added_at", ""), json.dumps(provenance, sort_keys=True),
             arch.get("vocab_size"), provenance.get("tokenizer_sha256"),
             summary.role if summary else None,
             summary.token_ids.astype(np.int64).tobytes() if summary else None,
             summary.ids_key if summary else None,
             summary.vector.astype(np.float32).tobytes() if summary else None)).fetchone()[0]
        conn.executemany("INSERT INTO fingerprints VALUES (?,?,?,?,?)",
                         [(entry_id, f.method, f.kind, f.blob, f.note) for f in fingerprints.values()])

    def remove(self, name: str) -> None:
        with self._write() as conn:
            if conn.execute("DELETE FROM entries WHERE name=?", (name,)).rowcount == 0:
                raise RegistryError(f"{self.location} holds no entry {name!r}", hint="see llm-lineage registry list")
        self.gc()

    def gc(self) -> list[str]:
        """Delete blobs no entry references (what a killed ``add`` leaves); return their file names.

        Runs under the write lock, so no committed entry loses a blob; an ``add`` whose blobs are
        written but not yet committed finds them gone at commit and fails with "retry", never
        half-stored."""
        removed = []
        with self._write() as conn:
            used = {row[0] for row in conn.execute("SELECT blob FROM fingerprints WHERE blob IS NOT NULL")}
            used |= {row[0] for row in conn.execute("SELECT value FROM meta WHERE key LIKE ?", (ATTACHED + "%",))}
            for path in self._blob_files():
                if path.stem not in used:
                    path.unlink(missing_ok=True)
                    removed.append(path.name)
        return removed

    # --- reading -----------------------------------------------------------------------------

    def _entry_id(self, name: str) -> int | None:
        rows = self._read("SELECT id FROM entries WHERE name=?", (name,))
        return rows[0][0] if rows else None

    def names(self) -> list[str]:
        return [row[0] for row in self._read("SELECT name FROM entries ORDER BY id")]

    def __len__(self) -> int:
        return int(self._read("SELECT COUNT(*) FROM entries")[0][0])

    def entries(self) -> list[Entry]:
        rows = self._read("SELECT id, name, added_at, provenance, vocab_size, tokenizer_sha256, summary_role,"
                          " summary_ids, summary FROM entries ORDER BY id")
        fps: dict[int, dict[str, StoredFingerprint]] = {}
        for entry_id, method, kind, blob, note in self._read("SELECT * FROM fingerprints ORDER BY method"):
            fps.setdefault(entry_id, {})[method] = StoredFingerprint(method, kind, blob, note)
        return [_entry(row, fps.get(row[0], {})) for row in rows]

    def get(self, name: str) -> Entry:
        for entry in self.entries():
            if entry.name == name:
                return entry
        raise RegistryError(f"{self.location} holds no entry {name!r}", hint="see llm-lineage registry list")

    def fingerprint(self, name: str, method: str) -> Any:
        """Load one stored fingerprint (raises RegistryError when absent or damaged)."""
        stored = self.get(name).fingerprints.get(method)
        if stored is None or stored.blob is None:
            raise RegistryError(f"{name!r} has no {method} fingerprint" + (f" ({stored.note})" if stored else ""))
        return self.load_blob(stored.blob, method)

    def load_blob(self, sha: str, method: str) -> Any:
        path = self.blob_path(sha)
        if not path.is_file():
            raise RegistryError(f"fingerprint blob {path} is missing", hint="run llm-lineage registry check")
        if sha256_file(path) != sha:
            raise RegistryError(f"fingerprint blob {path} cannot be loaded (its content no longer matches its hash)",
                                hint="run llm-lineage registry check; re-add the model")
        try:
            return fingerprint_io.load(path)[0][method]
        except (LineageError, KeyError) as exc:
            raise RegistryError(f"fingerprint blob {path} cannot be loaded ({exc})") from None

    def summary_index(self) -> SummaryIndex:
        """Every entry's name and the stacked summary vectors per token-id set, read in one query
        and kept in memory until a write (here or in another process) changes the registry: a hub
        answering many searches reads its 10^5 vectors once, not per query."""
        state = self._read("SELECT (SELECT value FROM meta WHERE key='generation'), COUNT(*), MAX(id) FROM entries")[0]
        if self._summary_index is not None and self._summary_index[0] == state:
            return self._summary_index[1]
        rows = self._read("SELECT name, summary_ids_key, summary FROM entries ORDER BY id")
        token_ids = {key: np.frombuffer(ids, dtype=np.int64) for key, ids in
                     self._read("SELECT DISTINCT summary_ids_key, summary_ids FROM entries WHERE summary IS NOT NULL")}
        members: dict[str, list[int]] = {}
        for position, (_, key, vector) in enumerate(rows):
            if vector is not None:
                members.setdefault(key, []).append(position)
        groups = {}
        for key, positions in members.items():
            vectors = np.stack([np.frombuffer(rows[i][2], dtype=np.float32) for i in positions])
            groups[key] = (token_ids[key], np.asarray(positions), vectors)
        index = SummaryIndex([r[0] for r in rows], groups)
        self._summary_index = (state, index)
        return index

    def check(self) -> list[str]:
        """Problems found: missing or altered blobs, unreferenced blobs (empty list: consistent)."""
        problems = []
        used: set[str] = set()
        for entry in self.entries():
            for stored in entry.fingerprints.values():
                if stored.blob is None:
                    continue
                used.add(stored.blob)
                path = self.blob_path(stored.blob)
                if not path.is_file():
                    problems.append(f"{entry.name}: {stored.method} blob {path.name} is missing")
                elif sha256_file(path) != stored.blob:
                    problems.append(f"{entry.name}: {stored.method} blob {path.name} was altered")
        for key, sha in self._read("SELECT key, value FROM meta WHERE key LIKE ?", (ATTACHED + "%",)):
            used.add(sha)
            path = self.blob_path(sha)
            if not path.is_file() or sha256_file(path) != sha:
                problems.append(f"{key.removeprefix(ATTACHED)}: blob {path.name} is missing or altered")
        problems += [f"unreferenced blob {p.name}" for p in self._blob_files() if p.stem not in used]
        return problems

    def fingerprints_only(self) -> list[str]:
        """Entries whose weight files are gone or moved: not a problem (the stored fingerprints, the exact
        tests' units included, still answer search and the family tree), but pcs cannot run on them."""
        out = []
        for entry in self.entries():
            source = Path(str(entry.provenance.get("source", "")))
            root = source if source.is_dir() else source.parent
            files = entry.provenance.get("weight_files", {})
            if not files or any(not (root / name).is_file() for name in files):
                out.append(entry.name)
        return out

    # --- attachments: registry-wide artefacts (a stylometry classifier), content-addressed blobs ----

    def attach(self, key: str, data: bytes) -> str:
        """Store ``data`` as the registry's ``key`` artefact (replacing the previous one); its sha256."""
        import hashlib

        sha = hashlib.sha256(data).hexdigest()
        self.write_blob_bytes(sha, data)
        with self._write() as conn:
            conn.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = "
                         "excluded.value", (ATTACHED + key, sha))
        self.gc()
        return sha

    def attachment(self, key: str) -> bytes | None:
        """The ``key`` artefact's bytes (checked against their hash), or None when there is none."""
        rows = self._read("SELECT value FROM meta WHERE key=?", (ATTACHED + key,))
        if not rows:
            return None
        path = self.blob_path(rows[0][0])
        data = path.read_bytes() if path.is_file() else b""
        import hashlib

        if hashlib.sha256(data).hexdigest() != rows[0][0]:
            raise RegistryError(f"the registry's {key} ({path}) is missing or altered", hint="train it again")
        return data

    def _blob_files(self) -> list[Path]:
        if not self.blob_dir.is_dir():
            return []
        return sorted(self.blob_dir.glob("*/*.safetensors")) + sorted(self.blob_dir.glob("tmp-*"))


Prepared = tuple[str, dict[str, Any], Summary | None, dict[str, StoredFingerprint]]


def fingerprint_for_registry(model: str | Path | Checkpoint, methods: Sequence[str], blob_dir: Path, *,
                             name: str | None = None, progress: bool = False) -> Prepared:
    """Everything an entry needs, its blobs already written: (name, provenance, summary, fingerprints).

    No database is touched, so any worker that reaches ``blob_dir`` can run it (``add_many``).
    """
    ckpt = model if isinstance(model, Checkpoint) else open_checkpoint(model)
    name = name or ckpt.name
    prov = provenance_of(ckpt)
    try:
        summary: Summary | None = summary_of(ckpt)
    except LineageError:
        summary = None  # no embedding: never shortlisted by summary, still compared by methods
    made = {method: fingerprint_all(ckpt, [method])[method]
            for method in (track(list(methods), f"fingerprinting {name}") if progress else methods)}
    # a method that cannot fingerprint this model is noted; damaged weights refuse the whole model
    # (before any blob is written): the other methods only happened not to read the damage
    damaged = next((fp for fp in made.values() if isinstance(fp, (NonFiniteWeights, CorruptCheckpoint))), None)
    if damaged is not None:
        raise damaged
    stored = {method: StoredFingerprint(method, str(METHODS[method].kind), None, str(fp)) if isinstance(fp, LineageError)
              else StoredFingerprint(method, str(METHODS[method].kind), write_blob(blob_dir, method, fp))
              for method, fp in made.items()}
    return name, prov, summary, stored


def write_blob(blob_dir: Path, method: str, fingerprint: Any) -> str:
    """Save one fingerprint under its content hash in ``blob_dir`` (atomic); return the hash."""
    blob_dir.mkdir(parents=True, exist_ok=True)
    tmp = blob_dir / f"tmp-{uuid.uuid4().hex}.safetensors"
    try:
        fingerprint_io.save(tmp, {method: fingerprint}, manifest={"method": method})
        sha = sha256_file(tmp)
        target = blob_dir / sha[:2] / f"{sha}.safetensors"
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
        tmp.with_suffix(".json").unlink(missing_ok=True)
    return sha


def _entry(row: tuple, fps: dict[str, StoredFingerprint]) -> Entry:
    _, name, added_at, prov, vocab_size, tok, role, ids, vector = row
    summary = None
    if vector is not None:
        summary = Summary(np.frombuffer(ids, dtype=np.int64).copy(), np.frombuffer(vector, dtype=np.float32).copy(),
                          role)
    return Entry(name, added_at, json.loads(prov), vocab_size, tok, summary, fps)


def _choose_methods(methods: Sequence[str] | None) -> list[str]:
    try:
        # text samples are not registered by default: sampling every model costs minutes, not seconds
        return sorted(resolve(None, default=(Kind.OUTPUTS, Kind.WEIGHTS))) if methods is None else resolve(methods)
    except InputError as exc:
        raise RegistryError(str(exc)) from None
