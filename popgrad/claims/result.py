"""Structured results of the paper's claims: :class:`Check` (one inequality) and :class:`ClaimResult`.

A claim is registered with what its checks are expected to show (``expect``):

* ``"holds"`` -- the checks *are* the paper's statement (or a corrected one); status ``PASS`` when
  they all hold, ``FAIL`` otherwise (a defect: in the paper's statement, in popgrad, or in a check).
* ``"refuted"`` -- the paper's statement as written is false and the checks *confirm a
  counterexample*, re-computed on every run: status ``REFUTED`` when they all hold, ``FAIL`` when
  one no longer does (the counterexample stopped being one -- something changed that must be
  understood).  A refuted claim names the registered claim that states the corrected statement
  (``corrected_by``), which must ``PASS``.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

__all__ = ["EXPECTATIONS", "STATUSES", "Check", "ClaimResult"]

EXPECTATIONS = ("holds", "refuted")
STATUSES = ("PASS", "REFUTED", "FAIL", "n/a")

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
}


@dataclass(frozen=True)
class Check:
    """One measured quantity compared with a bound: ``value op bound``.

    ``value`` is the *worst* case over the points checked (e.g. the largest error, the smallest
    inner product).  A NaN value never holds.

    >>> Check("max |error| / tol", 0.3, "<=", 1.0).holds
    True
    >>> Check("min cos", float("nan"), ">", 0.0).holds
    False
    """

    name: str
    value: float
    op: str
    bound: float
    note: str = ""

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise ValueError(f"op must be one of {sorted(_OPS)}, got {self.op!r}")
        object.__setattr__(self, "value", float(self.value))
        object.__setattr__(self, "bound", float(self.bound))

    @property
    def holds(self) -> bool:
        return not math.isnan(self.value) and _OPS[self.op](self.value, self.bound)

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "value": _json_float(self.value),
            "op": self.op,
            "bound": _json_float(self.bound),
            "holds": self.holds,
            "note": self.note,
        }


def _json_float(x: float) -> float | str:
    return x if math.isfinite(x) else str(x)


@dataclass(frozen=True)
class ClaimResult:
    """The outcome of checking one claim of the paper at many points.

    Attributes
    ----------
    key, title, reference : identification (``reference`` cites the paper, e.g. ``"Lemma 5"``).
    method : how it was checked (``"closed form"``, ``"quadrature"``, ``"sampled perturbations"``...).
    checks : the inequalities that make up the claim; it holds iff all of them hold.
    n_points : number of points (or runs) at which it was checked.
    values : further measured numbers worth reporting (smallest cosine, largest step, ...).
    points : the points checked: arrays, or lists with one array per teacher (not serialised
        unless asked).
    headline : index into ``checks`` of the number to show in a one-line summary (the first
        failing check is shown instead when the claim fails).
    expect : ``"holds"`` (the checks state the claim) or ``"refuted"`` (the checks confirm a
        counterexample to the paper's statement as written); see the module docstring.
    corrected_by : for ``expect="refuted"``, the key of the registered claim stating the corrected
        statement; empty otherwise.

    Examples
    --------
    >>> found = Check("teachers where the statement fails", 1, ">=", 1)
    >>> ClaimResult("x", "X as written", "Prop. 0", "search", (found,), 3, expect="refuted",
    ...             corrected_by="x_fixed").status
    'REFUTED'
    >>> gone = Check("teachers where the statement fails", 0, ">=", 1)
    >>> ClaimResult("x", "X as written", "Prop. 0", "search", (gone,), 3, expect="refuted",
    ...             corrected_by="x_fixed").status
    'FAIL'
    """

    key: str
    title: str
    reference: str
    method: str
    checks: tuple[Check, ...]
    n_points: int
    values: dict[str, float] = field(default_factory=dict)
    points: Mapping[str, np.ndarray | list] = field(default_factory=dict, repr=False)
    headline: int = 0
    expect: str = "holds"
    corrected_by: str = ""

    def __post_init__(self) -> None:
        if self.expect not in EXPECTATIONS:
            raise ValueError(f"expect must be one of {EXPECTATIONS}, got {self.expect!r}")
        if (self.expect == "refuted") != bool(self.corrected_by):
            raise ValueError(
                "corrected_by must name the claim stating the corrected statement when expect='refuted', "
                f"and be empty otherwise; got expect={self.expect!r}, corrected_by={self.corrected_by!r}"
            )

    @property
    def holds(self) -> bool:
        """All checks hold (for a refuted claim: the counterexample is confirmed)."""
        return bool(self.checks) and all(c.holds for c in self.checks)

    @property
    def status(self) -> str:
        """``PASS``, ``FAIL``, ``REFUTED`` or ``n/a`` (a claim expected to hold, checked at no point).

        A refutation without a point checked has no counterexample: ``FAIL``.
        """
        if self.expect == "refuted":
            return "REFUTED" if self.holds and self.n_points > 0 else "FAIL"
        if self.n_points == 0:
            return "n/a"
        return "PASS" if self.holds else "FAIL"

    @property
    def worst(self) -> Check:
        """The check to summarise: the first failing one, else the headline."""
        for c in self.checks:
            if not c.holds:
                return c
        return self.checks[self.headline]

    def to_dict(self, points: bool = False) -> dict:
        out = {
            "key": self.key,
            "title": self.title,
            "reference": self.reference,
            "method": self.method,
            "status": self.status,
            "expect": self.expect,
            "corrected_by": self.corrected_by or None,
            "checks_hold": self.holds,
            "n_points": self.n_points,
            "worst": self.worst.to_dict() if self.checks else None,
            "checks": [c.to_dict() for c in self.checks],
            "values": {k: _json_float(float(v)) for k, v in self.values.items()},
        }
        if points:
            out["points"] = {
                k: [np.asarray(x).tolist() for x in v] if isinstance(v, list) else np.asarray(v).tolist()
                for k, v in self.points.items()
            }
        return out
