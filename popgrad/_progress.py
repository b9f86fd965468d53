"""Progress bars by tqdm (``tqdm.auto``: a widget in notebooks, a text bar on a terminal), or nothing.

``progress=None`` means automatic: a bar on a terminal (stderr is a tty) outside CI, shown only for work that
lasts longer than a second; ``True`` always; ``False`` never (the CLI passes ``False`` with ``--json``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

__all__ = ["bar", "counter", "enabled"]

T = TypeVar("T")


def enabled(progress: bool | None) -> tuple[bool, float]:
    """Whether to show a bar for the setting ``progress``, and the delay (s) before it appears."""
    if progress is None:
        return sys.stderr.isatty() and "CI" not in os.environ, 1.0
    return bool(progress), 0.0


def bar(items: Iterable[T], desc: str, progress: bool | None, total: int | None = None, **options: Any) -> Iterator[T]:
    """``items`` under a tqdm bar labelled ``desc`` when :func:`enabled`, else ``items`` unchanged."""
    show, delay = enabled(progress)
    if not show:
        yield from items
        return
    from tqdm.auto import tqdm

    yield from tqdm(items, desc=desc, total=total, delay=delay, **options)


class _NoBar:
    """The part of tqdm's interface :func:`counter` callers use, doing nothing."""

    def update(self, n: int = 1) -> None:
        """Nothing."""

    def close(self) -> None:
        """Nothing."""


def counter(total: int, desc: str, progress: bool | None, **options: Any) -> Any:
    """A tqdm bar of ``total`` steps advanced by ``.update(n)`` and ended by ``.close()`` when :func:`enabled`,
    else an object with the same two methods that does nothing."""
    show, delay = enabled(progress)
    if not show:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, delay=delay, **options)
