"""A durable SQLite record of every paid query: what was asked of an endpoint and what it answered.

A verification campaign can spend thousands of paid queries, so each answer is written and
committed here *before* the caller sees it (write-ahead log, ``synchronous=FULL``): a client
killed at any instant, ``kill -9`` included, loses at most the query in flight, and a rerun with
``resume=True`` reads every answered query back instead of paying for it again.

Rows are keyed by a SHA-256 of the canonical JSON of (endpoint, model, request parameters), and
each answer carries a checksum: an answer edited after it was paid for is refused, as is a file
without the cache's tables (and, with ``resume``, an empty one). A checksum shows accidents and
casual edits, not a forger who recomputes it: the cache is the owner's own record. The API key is
not a request parameter and never reaches this file. The cache also enforces the
campaign's query budget and counts queries used (paid now), cached (read back) and retried.
The HTTP side lives in ``outputs/openai_endpoint.py``.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError, QueryBudgetExceeded

SCHEMA_VERSION = 2  # 2: every answer carries a checksum

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS answers (
    key TEXT PRIMARY KEY,
    endpoint TEXT NOT NULL,
    model TEXT NOT NULL,
    request TEXT NOT NULL,
    response TEXT NOT NULL,
    created REAL NOT NULL,
    checksum TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class QueryCounts:
    """What a campaign spent: ``used`` queries paid in this run, ``cached`` read back, ``retried``
    attempts repeated after a transient failure (429, 5xx, time-out, dropped connection)."""

    used: int
    cached: int
    retried: int
    max_queries: int | None
    stored: int          # answers in the cache file for this endpoint and model


def request_key(endpoint: str, model: str, params: Mapping[str, Any]) -> str:
    """SHA-256 over the canonical JSON of (endpoint, model, params): equal requests, equal keys."""
    doc = json.dumps({"endpoint": endpoint.rstrip("/"), "model": model, "params": params},
                     sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(doc.encode()).hexdigest()


def _checksum(key: str, response: str) -> str:
    """What an answer was when it was paid for: a hand edit of the stored log-probs shows."""
    return hashlib.sha256(f"{key}\x00{response}".encode()).hexdigest()


class QueryCache:
    """Answered queries of one endpoint and model, stored in ``path`` (a SQLite file).

    ``resume=False`` refuses a file that already holds answers for this endpoint and model, so a
    new campaign never silently mixes with an old one; ``resume=True`` reuses them. Thread-safe:
    one connection, one lock, which the endpoint's worker threads share.
    """

    def __init__(self, path: str | Path | None, *, endpoint: str, model: str, resume: bool = False,
                 max_queries: int | None = None) -> None:
        if max_queries is not None and max_queries < 0:
            raise InputError(f"--max-queries must be >= 0, got {max_queries}")
        self.path = Path(path) if path is not None else None
        self.endpoint = endpoint.rstrip("/")
        self.model = model
        self.max_queries = max_queries
        self.used = 0
        self.cached = 0
        self.retried = 0
        self._reserved = 0   # queries in flight, counted against the budget before they are sent
        self._lock = threading.Lock()
        target = ":memory:" if self.path is None else str(self.path)
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if resume and self.path.is_file() and self.path.stat().st_size == 0:
                # resuming from nothing would pay for every query again without a word
                raise InputError(f"query cache {target} is empty (0 bytes): there is nothing to resume",
                                 hint="pass the cache the first run wrote, or drop --resume")
        existing = self.path is not None and self.path.is_file() and self.path.stat().st_size > 0
        try:
            self._db = sqlite3.connect(target, check_same_thread=False, isolation_level=None, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            # FULL: a commit is on disk before the answer is used (survives kill -9 and power loss)
            self._db.execute("PRAGMA synchronous=FULL")
            tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if existing and tables != {"meta", "answers"}:
                raise InputError(f"query cache {target} does not hold the cache's tables (it has: "
                                 f"{', '.join(sorted(tables)) or 'none'}): altered, or another file",
                                 hint="pass another --cache path")
            self._db.executescript(_SCHEMA)
            row = self._db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise InputError(f"query cache {target} is not a usable SQLite file ({exc})") from None
        if row is None:
            self._db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        elif row[0] != str(SCHEMA_VERSION):
            raise InputError(f"query cache {target} has schema {row[0]}; this version writes {SCHEMA_VERSION}",
                             hint="pass another --cache path")
        stored = self.stored()
        if stored and not resume:
            raise InputError(f"query cache {target} already holds {stored} answers from {self.endpoint} "
                             f"({model})", hint="pass --resume to reuse them, or another --cache path")

    # --- reads and writes ----------------------------------------------------------------------

    def key(self, params: Mapping[str, Any]) -> str:
        return request_key(self.endpoint, self.model, params)

    def get(self, params: Mapping[str, Any]) -> dict[str, Any] | None:
        """The stored answer to this request, or None. A hit counts as ``cached``."""
        key = self.key(params)
        with self._lock:
            row = self._db.execute("SELECT response, checksum FROM answers WHERE key=?", (key,)).fetchone()
            if row is None:
                return None
            if row[1] != _checksum(key, row[0]):
                raise InputError(f"query cache {self.path}: a stored answer does not match its checksum (edited "
                                 f"after it was paid for); its evidence cannot be trusted",
                                 hint="pass another --cache path and pay for the queries again")
            self.cached += 1
            return json.loads(row[0])

    def reserve(self) -> None:
        """Claim one paid query from the budget before sending it; raises when none is left."""
        with self._lock:
            if self.max_queries is not None and self.used + self._reserved >= self.max_queries:
                raise QueryBudgetExceeded(
                    f"the query budget of {self.max_queries} paid queries is spent "
                    f"({self.used} used this run, {self.cached} read from the cache)")
            self._reserved += 1

    def release(self) -> None:
        """Give back a reservation whose query was never answered (it failed for good)."""
        with self._lock:
            self._reserved -= 1

    def put(self, params: Mapping[str, Any], response: Mapping[str, Any]) -> None:
        """Store and commit an answer (turning its reservation into a used query)."""
        request = json.dumps(dict(params), sort_keys=True, default=str)
        key, answer = self.key(params), json.dumps(response, default=str)
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?, ?, ?, ?)",
                             (key, self.endpoint, self.model, request, answer, time.time(), _checksum(key, answer)))
            self._reserved -= 1
            self.used += 1

    def note_retry(self) -> None:
        with self._lock:
            self.retried += 1

    # --- reporting -----------------------------------------------------------------------------

    def stored(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM answers WHERE endpoint=? AND model=?",
                                        (self.endpoint, self.model)).fetchone()[0])

    def counts(self) -> QueryCounts:
        return QueryCounts(self.used, self.cached, self.retried, self.max_queries, self.stored())

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> QueryCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
