"""``popgrad verify``: every registered claim of the paper on a battery, in one table.

A claim whose computation does not support it is reported as ``FAIL`` with its numbers; nothing is
hidden or hard-coded.  Deterministic for a given seed.

>>> from popgrad.claims import Check, ClaimResult
>>> r = ClaimResult("demo", "Demo", "Lemma 0", "closed form", (Check("min cos", 0.25, ">", 0.0),), 3)
>>> print(format_table([r]))  # doctest: +NORMALIZE_WHITESPACE
claim  reference  method       points  worst       status
demo   Lemma 0    closed form       3  0.25 > 0    PASS
<BLANKLINE>
demo: min cos = 0.25 (needs > 0)
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from .claims import ClaimResult, make_battery, run

__all__ = ["VerifyReport", "format_table", "verify"]


@dataclass(frozen=True)
class VerifyReport:
    """Results of :func:`verify`, with the battery's description and the wall time."""

    results: tuple[ClaimResult, ...]
    seed: int
    thorough: bool
    seconds: float
    teachers: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """True when no claim that was checked at some point fails."""
        return all(r.holds for r in self.results if r.n_points > 0)

    def to_dict(self, points: bool = False) -> dict:
        return {
            "ok": self.ok,
            "seed": self.seed,
            "thorough": self.thorough,
            "seconds": round(self.seconds, 3),
            "teachers": list(self.teachers),
            "claims": [r.to_dict(points=points) for r in self.results],
        }


def verify(seed: int = 0, thorough: bool = False, keys: tuple[str, ...] | None = None) -> VerifyReport:
    """Run the registered claims (or those in ``keys``) on the default or thorough battery."""
    t0 = time.perf_counter()
    battery = make_battery(seed, thorough)
    results = tuple(run(battery, keys))
    return VerifyReport(
        results=results,
        seed=seed,
        thorough=thorough,
        seconds=time.perf_counter() - t0,
        teachers=tuple(c.label for c in battery.cases),
    )


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _status(r: ClaimResult) -> str:
    if r.n_points == 0:
        return "n/a"
    return "PASS" if r.holds else "FAIL"


def format_table(results: list[ClaimResult] | tuple[ClaimResult, ...]) -> str:
    """One row per claim: claim, paper reference, method, points, worst margin, status; then the
    name of each claim's worst check and its further measured values."""
    header = ("claim", "reference", "method", "points", "worst", "status")
    rows = []
    for r in results:
        w = r.worst
        rows.append(
            (r.key, r.reference, r.method, str(r.n_points), f"{_fmt(w.value)} {w.op} {_fmt(w.bound)}", _status(r))
        )
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    right = {3}

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(cells)).rstrip()

    out = [line(header)]
    out += [line(row) for row in rows]
    out.append("")
    for r in results:
        w = r.worst
        out.append(f"{r.key}: {w.name} = {_fmt(w.value)} (needs {w.op} {_fmt(w.bound)})")
        if w.note and not w.holds:
            out.append(f"    note: {w.note}")
        for k, v in r.values.items():
            out.append(f"    {k} = {_fmt(float(v))}")
    return "\n".join(out)
