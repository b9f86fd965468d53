"""``popgrad verify``: every registered claim of the paper on a battery, in one table.

Each row has a status (:attr:`popgrad.claims.ClaimResult.status`):

* ``PASS`` -- the statement holds at every point checked;
* ``REFUTED`` -- the paper's statement *as written* is false: its counterexample was re-computed and
  confirmed on this run (a finding, not a failure); the row naming it in ``corrected_by`` states the
  corrected statement and must ``PASS``;
* ``FAIL`` -- a check that should hold does not, or a counterexample stopped being one: a defect
  somewhere, shown with its numbers.

The exit status is 0 when no row fails, 1 otherwise; with ``strict=True`` a ``REFUTED`` row also
gives 1 (like pytest's ``xfail(strict=True)``).  Nothing is hidden or hard-coded; deterministic for a
given seed.

>>> from popgrad.claims import Check, ClaimResult
>>> r = ClaimResult("demo", "Demo", "Lemma 0", "closed form", (Check("min cos", 0.25, ">", 0.0),), 3)
>>> print(format_table([r]))  # doctest: +NORMALIZE_WHITESPACE
claim  reference  method       points  worst       status
demo   Lemma 0    closed form       3  0.25 > 0    PASS
<BLANKLINE>
demo: min cos = 0.25 (needs > 0)
>>> print(summary_line([r]))
1 PASS, 0 REFUTED, 0 FAIL: exit status 0
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from .claims import STATUSES, ClaimResult, make_battery, run

__all__ = ["VerifyReport", "exit_status", "format_table", "summary_line", "verify"]


def exit_status(results: Sequence[ClaimResult], strict: bool = False) -> int:
    """0 when no claim fails (and, with ``strict``, none is refuted); 1 otherwise."""
    bad = {"FAIL", "REFUTED"} if strict else {"FAIL"}
    return int(any(r.status in bad for r in results))


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
        """True when no claim has the status ``FAIL`` (``REFUTED`` rows are findings, not failures)."""
        return exit_status(self.results) == 0

    def exit_status(self, strict: bool = False) -> int:
        """The exit status of ``popgrad verify`` (``strict``: ``REFUTED`` counts as a failure too)."""
        return exit_status(self.results, strict)

    def to_dict(self, points: bool = False, strict: bool = False) -> dict:
        counts = Counter(r.status for r in self.results)
        return {
            "ok": self.ok,
            "strict": strict,
            "exit_status": self.exit_status(strict),
            "counts": {s: counts.get(s, 0) for s in STATUSES},
            "seed": self.seed,
            "thorough": self.thorough,
            "seconds": round(self.seconds, 3),
            "teachers": list(self.teachers),
            "claims": [r.to_dict(points=points) for r in self.results],
        }


def verify(
    seed: int = 0,
    thorough: bool = False,
    keys: tuple[str, ...] | None = None,
    progress: bool | None = None,
    mc_options: dict | None = None,
) -> VerifyReport:
    """Run the registered claims (or those in ``keys``) on the default or thorough battery.

    ``progress``: a tqdm bar over the claims (``None``: on a terminal only).  ``mc_options``: options of every
    Monte Carlo run (``workers``, ``executor`` -- e.g. a Dask cluster's); the results do not depend on them.
    """
    t0 = time.perf_counter()
    battery = make_battery(seed, thorough, mc_options)
    results = tuple(run(battery, keys, progress=progress))
    return VerifyReport(
        results=results,
        seed=seed,
        thorough=thorough,
        seconds=time.perf_counter() - t0,
        teachers=tuple(c.label for c in battery.cases),
    )


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def summary_line(results: Sequence[ClaimResult], strict: bool = False) -> str:
    """``"8 PASS, 2 REFUTED (a, b), 0 FAIL: exit status 0"``; failing and refuted keys named."""
    parts = []
    for status in ("PASS", "REFUTED", "FAIL"):
        keys = [r.key for r in results if r.status == status]
        parts.append(f"{len(keys)} {status}" + (f" ({', '.join(keys)})" if keys and status != "PASS" else ""))
    line = ", ".join(parts) + f": exit status {exit_status(results, strict)}"
    if strict and any(r.status == "REFUTED" for r in results):
        line += " (--strict: REFUTED counts)"
    return line


def format_table(results: list[ClaimResult] | tuple[ClaimResult, ...]) -> str:
    """One row per claim: claim, paper reference, method, points, worst margin, status; then the
    name of each claim's worst check and its further measured values.  For a refuted claim: the
    check confirming the counterexample, and the claim stating the corrected statement."""
    header = ("claim", "reference", "method", "points", "worst", "status")
    rows = []
    for r in results:
        w = r.worst
        rows.append(
            (r.key, r.reference, r.method, str(r.n_points), f"{_fmt(w.value)} {w.op} {_fmt(w.bound)}", r.status)
        )
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    right = {3}

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(cells)).rstrip()

    out = [line(header)]
    out += [line(row) for row in rows]
    out.append("")
    titles = {r.key: r.title for r in results}
    for r in results:
        w = r.worst
        out.append(f"{r.key}: {w.name} = {_fmt(w.value)} (needs {w.op} {_fmt(w.bound)})")
        if r.status == "REFUTED":
            out.append(f"    refuted: {r.title}")
            corrected = f" ({titles[r.corrected_by]})" if r.corrected_by in titles else ""
            out.append(f"    corrected statement: {r.corrected_by}{corrected}")
        if w.note and (not w.holds or r.status == "REFUTED"):
            out.append(f"    note: {w.note}")
        for k, v in r.values.items():
            out.append(f"    {k} = {_fmt(float(v))}")
    return "\n".join(out)
