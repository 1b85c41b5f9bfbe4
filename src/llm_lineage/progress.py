"""The one place progress is drawn: a rich bar on a terminal, a line per stage in logs, nothing when off.

Every long loop goes through :func:`track` or :func:`progress`, and every long step through
:func:`stage`. All of it goes to stderr, so ``--json`` keeps stdout pure. Progress is off when
:func:`disable` was called (``--json``, ``--quiet``) or ``LLM_LINEAGE_NO_PROGRESS=1`` is set.

When stderr is not a terminal (CI logs, ``nohup``), a bar would print nothing for minutes; then
each stage prints one line when it starts and one with its elapsed time when it ends, and loops
print at most one line every :data:`LOG_EVERY_S` seconds.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")
LOG_EVERY_S = 15.0
_disabled = False


def disable(value: bool = True) -> None:
    """Turn progress off (or back on) for this process."""
    global _disabled
    _disabled = value


def enabled() -> bool:
    return not _disabled and os.environ.get("LLM_LINEAGE_NO_PROGRESS", "") in ("", "0")


def _on_terminal() -> bool:
    return sys.stderr.isatty()


def _log(message: str) -> None:
    print(f"[llm-lineage] {message}", file=sys.stderr, flush=True)


class Bar:
    """What :func:`progress` yields: ``advance()`` and ``describe()``; a no-op when progress is off."""

    def __init__(self, description: str, total: int | None) -> None:
        self.description = description
        self.total = total
        self.done = 0
        self._start = time.monotonic()
        self._last_log = self._start
        self._rich: Any = None    # rich.progress.Progress, imported only when drawn
        self._task: Any = None

    def advance(self, n: int = 1) -> None:
        self.done += n
        if self._rich is not None:
            self._rich.advance(self._task, n)
        elif enabled() and time.monotonic() - self._last_log >= LOG_EVERY_S:
            self._last_log = time.monotonic()
            of = f"/{self.total}" if self.total else ""
            _log(f"{self.description}: {self.done}{of} ({time.monotonic() - self._start:.0f} s)")

    def describe(self, description: str) -> None:
        self.description = description
        if self._rich is not None:
            self._rich.update(self._task, description=description)


@contextmanager
def progress(description: str, total: int | None = None) -> Iterator[Bar]:
    """A bar over ``total`` steps (None: unknown), drawn as this module's rules say."""
    bar = Bar(description, total)
    if not enabled():
        yield bar
        return
    if _on_terminal():
        from rich.console import Console
        from rich.progress import Progress

        with Progress(transient=True, console=Console(stderr=True)) as rich_bar:
            bar._rich = rich_bar
            bar._task = rich_bar.add_task(description, total=total)
            yield bar
        return
    _log(f"{description} ...")
    yield bar
    _log(f"{bar.description}: done in {time.monotonic() - bar._start:.1f} s")


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate over ``items`` with a bar."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]  # checked just above
    with progress(description, total) as bar:
        for item in items:
            yield item
            bar.advance()


@contextmanager
def stage(description: str) -> Iterator[None]:
    """One long step: a line when it starts and one when it ends, off a terminal; a spinner on one."""
    with progress(description):
        yield
