"""The paper's claims as checks: each a function ``battery -> ClaimResult``.

:data:`REGISTRY` lists, in order, the claims that popgrad can check with the engines it has; ``popgrad
verify`` runs all of them.  The last two rows (reference ``"beyond the paper"``, :mod:`popgrad.claims.beyond`)
check popgrad's own closed forms beyond the paper's model, not statements of the paper.  A new claim (e.g. one
resting on Monte Carlo) is added by appending a :class:`ClaimSpec` -- nothing else changes.

>>> [spec.key for spec in REGISTRY]  # doctest: +NORMALIZE_WHITESPACE
['formulas', 'prop1_n1', 'critical_points', 'prop1_sum_zero', 'prop1_spurious', 'correlation', 'descent',
 'vanishing', 'convergence', 'finite_samples', 'remark2', 'leaky_relu', 'staircase']
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .._progress import bar
from .battery import Battery, Case, make_battery
from .beyond import leaky_relu, staircase
from .convergence import convergence
from .correlation import correlation
from .descent import descent
from .finite_samples import finite_samples
from .formulas import formulas
from .landscape import critical_points, proposition1_n1, proposition1_spurious, proposition1_sum_zero
from .remark2 import remark2
from .result import EXPECTATIONS, STATUSES, Check, ClaimResult
from .vanishing import vanishing

__all__ = [
    "EXPECTATIONS",
    "REGISTRY",
    "STATUSES",
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
    "leaky_relu",
    "make_battery",
    "proposition1_n1",
    "proposition1_spurious",
    "proposition1_sum_zero",
    "remark2",
    "run",
    "staircase",
    "vanishing",
]


@dataclass(frozen=True)
class ClaimSpec:
    """A registered claim: its key and the function that checks it on a battery."""

    key: str
    check: Callable[[Battery], ClaimResult]


REGISTRY: tuple[ClaimSpec, ...] = (
    ClaimSpec("formulas", formulas),
    ClaimSpec("prop1_n1", proposition1_n1),
    ClaimSpec("critical_points", critical_points),
    ClaimSpec("prop1_sum_zero", proposition1_sum_zero),
    ClaimSpec("prop1_spurious", proposition1_spurious),
    ClaimSpec("correlation", correlation),
    ClaimSpec("descent", descent),
    ClaimSpec("vanishing", vanishing),
    ClaimSpec("convergence", convergence),
    ClaimSpec("finite_samples", finite_samples),
    ClaimSpec("remark2", remark2),
    ClaimSpec("leaky_relu", leaky_relu),
    ClaimSpec("staircase", staircase),
)


def run(battery: Battery, keys: tuple[str, ...] | None = None, progress: bool | None = None) -> list[ClaimResult]:
    """Check the registered claims (all, or those in ``keys``, in registry order) on ``battery``.

    ``progress``: a tqdm bar over the claims (``None``: on a terminal only; :mod:`popgrad._progress`).

    A claim refuting the paper's statement as written (``expect="refuted"``) must name a registered
    claim stating the corrected statement, registered right after it (checked here; a
    ``RuntimeError`` otherwise, a defect of the registry).
    """
    order = [spec.key for spec in REGISTRY]
    if keys is not None:
        unknown = sorted(set(keys) - set(order))
        if unknown:
            raise ValueError(f"unknown claim(s) {unknown}; registered: {order}")
    results = []
    chosen = [spec for spec in REGISTRY if keys is None or spec.key in keys]
    for spec in bar(chosen, "popgrad verify", progress, unit="claim"):
        result = spec.check(battery)
        if result.key != spec.key:
            raise RuntimeError(f"claim registered as {spec.key!r} returned a result keyed {result.key!r}")
        if result.expect == "refuted" and order[order.index(spec.key) + 1 :][:1] != [result.corrected_by]:
            raise RuntimeError(
                f"refuted claim {spec.key!r} names {result.corrected_by!r} as its corrected statement, "
                "which must be registered right after it"
            )
        results.append(result)
    return results
