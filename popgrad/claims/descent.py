r"""Claim 4: one step along the negative expected coarse gradient decreases ``f`` for small steps.

At each battery point (none is critical) and for each STE,
:math:`f(v - \eta\,\partial f/\partial v,\ w - \eta\,E g_\mu) < f(v, w)` is evaluated for
:math:`\eta = 2^{k}`, :math:`k = 4, 3, \dots, -50`.  The *largest descending step* :math:`\eta^*` of a
point is the largest grid value such that every grid step in :math:`[\eta_{min}, \eta^*]` descends;
:math:`\eta_{min}` is where the predicted decrease :math:`\eta(\|\partial f/\partial v\|^2 +
\langle E g_\mu, \partial f/\partial w\rangle)` falls to :math:`10^3` times the rounding error of
``f`` (:math:`\varepsilon` times the sum of the magnitudes of Lemma 1's terms): below that a
difference of two losses cannot resolve the decrease.  The claim holds when every point descends
at :math:`\eta_{min}` and above it up to some :math:`\eta^* \ge \eta_{min}`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..models import Model
from ..ste import STE, resolve
from ._common import EPS, dot
from .battery import Battery, case_points
from .correlation import STES
from .result import Check, ClaimResult

__all__ = ["ETAS", "descent", "largest_descending_step", "largest_good_step"]

#: The step grid of the descent claim, :math:`2^4, 2^3, \dots, 2^{-50}` (decreasing).
ETAS = 2.0 ** np.arange(4, -51, -1)


def loss_rounding(v: np.ndarray, v_star: np.ndarray) -> np.ndarray:
    r"""The rounding scale of ``f``: :math:`\varepsilon\cdot\tfrac18(\|v - v^*\|^2 + (1^\top(v - v^*))^2
    + 4|v^\top v^*|)`, the magnitudes of Lemma 1's terms."""
    d = v - v_star
    return EPS * 0.125 * (dot(d, d) + d.sum(-1) ** 2 + 4 * np.abs(v @ v_star))


def largest_descending_step(
    model: Model, v: np.ndarray, w: np.ndarray, ste: str | STE
) -> tuple[np.ndarray, np.ndarray]:
    r"""``(eta_star (P,), eta_min (P,))`` for points ``v (P, m)``, ``w (P, n)``; ``eta_star = 0``
    where even :math:`\eta_{min}` does not descend.  See the module docstring."""
    gv, g = model.coarse_grad(v, w, ste=ste)
    _, gw = model.grad(v, w)
    f0 = model.loss(v, w)
    rate = dot(gv, gv) + dot(g, gw)
    eta_min = 1e3 * (loss_rounding(v, model.v_star) + EPS * np.abs(f0)) / rate
    vs = v[None] - ETAS[:, None, None] * gv[None]
    ws = w[None] - ETAS[:, None, None] * g[None]
    zero = ~np.any(ws != 0, axis=-1)
    ws = np.where(zero[..., None], w[None], ws)  # w - eta g == 0 exactly: count as not descending
    f = np.where(zero, np.inf, model.loss(vs, ws))  # (K, P)
    return largest_good_step(f < f0, eta_min), eta_min


def largest_good_step(descends: np.ndarray, eta_min: np.ndarray) -> np.ndarray:
    r"""The largest grid step ``eta_star (P,)`` such that every grid step in :math:`[\eta_{min}, \eta^*]`
    descends (``descends (len(ETAS), P)`` bool, one row per step of :data:`ETAS`); 0 where none does."""
    meaningful = ETAS[:, None] >= eta_min[None]
    ok = descends | ~meaningful
    # ETAS decrease along axis 0: a step is good when it and every smaller step are ok
    good = ~(np.cumsum(~ok[::-1], axis=0)[::-1] > 0) & meaningful
    return np.where(good.any(axis=0), np.max(np.where(good, ETAS[:, None], 0.0), axis=0), 0.0)


def descent(battery: Battery, stes: Sequence[str | STE] = STES) -> ClaimResult:
    """Claim 4 over all battery points (angles in :math:`[0, \\pi]`), for any STEs (names or objects)."""
    by_name = {resolve(s).name: s for s in stes}
    stars: dict[str, list[np.ndarray]] = {s: [] for s in by_name}
    ordinary: dict[str, list[np.ndarray]] = {s: [] for s in by_name}  # 0.1 <= |w| <= 10
    where: dict[str, tuple[float, float, str]] = {}
    n_points = 0
    for case in battery.cases:
        model = case.model
        n_points += case.v.shape[0]
        theta, r = model.theta(case.w), np.linalg.norm(case.w, axis=-1)
        for ste, obj in by_name.items():
            eta_star, _ = largest_descending_step(model, case.v, case.w, obj)
            stars[ste].append(eta_star)
            ordinary[ste].append(eta_star[(r >= 0.1) & (r <= 10)])
            i = int(np.argmin(eta_star))
            if ste not in where or eta_star[i] < where[ste][0]:
                where[ste] = (
                    float(eta_star[i]),
                    float(theta[i]),
                    f"{case.label}, theta={theta[i]:.3g}, |w|={r[i]:.3g}",
                )
    checks, values = [], {}
    for ste in by_name:
        s = np.concatenate(stars[ste])
        checks.append(
            Check(
                f"{ste}: points where small steps do not descend",
                int(np.sum(s == 0)),
                "==",
                0,
                note=f"smallest eta* at {where[ste][2]}",
            )
        )
        values[f"min_eta_star_{ste}"] = float(s.min())
        values[f"median_eta_star_{ste}"] = float(np.median(s))
        values[f"min_eta_star_{ste}_w_0.1_to_10"] = float(np.concatenate(ordinary[ste]).min())
    return ClaimResult(
        key="descent",
        title="Descent along the negative expected coarse gradient",
        reference="Lemmas 5, 7, 10; Thm 1",
        method="step grid 2^4 .. 2^-50",
        checks=tuple(checks),
        n_points=n_points,
        values=values,
        points=case_points(battery.cases),
    )
