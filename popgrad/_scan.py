r"""Locating the jumps of a black-box function :math:`\mu'` (a custom STE) on an interval.

Quadrature of a function with undeclared jumps is not trustworthy: an adaptive rule that never samples
inside a narrow window returns 0 with an error estimate of 0.  :func:`find_jumps` scans
:math:`\mu'` on a uniform grid of :data:`GRID` cells, picks the cells whose increment stands out from
both neighbours (or is large), and bisects each one down to adjacent floats; a cell whose two ends still
differ there is a jump.  Guarantee: every jump that is separated from the other jumps by more than one grid
cell is found (a window narrower than a cell can fall between grid points: declare such jumps with
``points=``).  Bisection keeps a smooth steep stretch from being mistaken for a jump.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["GRID", "MAX_JUMPS", "find_jumps"]

GRID = 2**15
"""Cells of the scan grid."""

MAX_JUMPS = 4096
"""More jumps than this on one interval are refused (noise, not a piecewise function)."""


def _evaluate(mu: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> np.ndarray:
    y = np.asarray(mu(x), dtype=np.float64)
    if y.shape != x.shape or not np.all(np.isfinite(y)):
        raise ValueError(
            "mu_prime must return finite values of its input's shape; "
            f"on [{x.min():.6g}, {x.max():.6g}] it returned shape {y.shape} or non-finite values"
        )
    return y


def find_jumps(mu: Callable[[np.ndarray], np.ndarray], lo: float, hi: float) -> np.ndarray:
    r"""Sorted locations of the jumps of ``mu`` in :math:`(lo, hi)` (module docstring).

    Each location ``x`` satisfies ``mu`` being (numerically) constant-limited on each side: the jump lies
    between ``x`` and the next float above it.  Raises ``ValueError`` if ``mu`` returns non-finite values or
    has more than :data:`MAX_JUMPS` jumps.
    """
    x = np.linspace(lo, hi, GRID + 1)
    y = _evaluate(mu, x)
    d = np.abs(np.diff(y))
    scale = max(float(np.max(np.abs(y))), 1e-300)
    pad = np.concatenate([[0.0], d, [0.0]])
    neighbours = np.maximum(pad[:-2], pad[2:])
    suspect = np.flatnonzero((d > 4.0 * neighbours + 1e-12 * scale) | (d > 0.01 * scale))
    if suspect.size > 4 * MAX_JUMPS:
        raise ValueError(f"mu_prime changes abruptly at more than {4 * MAX_JUMPS} places on [{lo:.6g}, {hi:.6g}]")
    a, b = x[suspect], x[suspect + 1]
    ya, yb = y[suspect], y[suspect + 1]
    for _ in range(1100):  # bisection down to adjacent floats (at most ~1075 halvings of a float interval)
        mid = a + 0.5 * (b - a)
        active = (mid > a) & (mid < b)
        if not np.any(active):
            break
        ym = _evaluate(mu, mid)
        left = np.abs(ym - ya) >= np.abs(yb - ym)  # keep the half holding the larger increment
        b = np.where(active & left, mid, b)
        yb = np.where(active & left, ym, yb)
        a = np.where(active & ~left, mid, a)
        ya = np.where(active & ~left, ym, ya)
    jumps = np.unique(a[np.abs(yb - ya) > 1e-9 * scale])
    if jumps.size > MAX_JUMPS:
        raise ValueError(
            f"mu_prime has more than {MAX_JUMPS} jumps on [{lo:.6g}, {hi:.6g}]; it is not piecewise smooth"
        )
    return jumps
