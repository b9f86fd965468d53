"""The paper's claims as checks: each a function ``battery -> ClaimResult``.

:data:`REGISTRY` lists, in order, the claims that popgrad can check with the engines it has; ``popgrad
verify`` runs all of them.  A new claim (e.g. one resting on Monte Carlo) is added by appending a
:class:`ClaimSpec` -- nothing else changes.

>>> [spec.key for spec in REGISTRY]  # doctest: +NORMALIZE_WHITESPACE
['formulas', 'critical_points', 'prop1_n1', 'prop1_sum_zero', 'correlation', 'descent', 'vanishing',
 'convergence', 'finite_samples', 'remark2']
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .battery import Battery, Case, make_battery
from .convergence import convergence
from .correlation import correlation
from .descent import descent
from .finite_samples import finite_samples
from .formulas import formulas
from .landscape import critical_points, proposition1_n1, proposition1_sum_zero
from .remark2 import remark2
from .result import Check, ClaimResult
from .vanishing import vanishing

__all__ = [
    "REGISTRY",
    "Battery",
    "Case",
    "Check",
    "ClaimResult",
    "ClaimSpec",
    "convergence",
    "correlation",
    "critical_points",
    "descent",
    "finite_samples",
    "formulas",
    "make_battery",
    "proposition1_n1",
    "proposition1_sum_zero",
    "remark2",
    "run",
    "vanishing",
]


@dataclass(frozen=True)
class ClaimSpec:
    """A registered claim: its key and the function that checks it on a battery."""

    key: str
    check: Callable[[Battery], ClaimResult]


REGISTRY: tuple[ClaimSpec, ...] = (
    ClaimSpec("formulas", formulas),
    ClaimSpec("critical_points", critical_points),
    ClaimSpec("prop1_n1", proposition1_n1),
    ClaimSpec("prop1_sum_zero", proposition1_sum_zero),
    ClaimSpec("correlation", correlation),
    ClaimSpec("descent", descent),
    ClaimSpec("vanishing", vanishing),
    ClaimSpec("convergence", convergence),
    ClaimSpec("finite_samples", finite_samples),
    ClaimSpec("remark2", remark2),
)


def run(battery: Battery, keys: tuple[str, ...] | None = None) -> list[ClaimResult]:
    """Check the registered claims (all, or those in ``keys``, in registry order) on ``battery``."""
    known = {spec.key for spec in REGISTRY}
    if keys is not None:
        unknown = sorted(set(keys) - known)
        if unknown:
            raise ValueError(f"unknown claim(s) {unknown}; registered: {[s.key for s in REGISTRY]}")
    return [spec.check(battery) for spec in REGISTRY if keys is None or spec.key in keys]
