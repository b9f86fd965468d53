r"""Do small steps along :math:`-(E\,\partial\ell/\partial V, E g_\mu)` decrease f with K filters?  Measured.

The step grid of the paper-claims row ``descent`` (:mod:`popgrad.claims.descent`): at each non-critical battery
point, :math:`f(V - \eta\,\partial f/\partial V,\ W - \eta\,E g_\mu) < f(V, W)` is evaluated for
:math:`\eta = 2^4, 2^3, \dots, 2^{-50}`; a point *descends* when every grid step in :math:`[\eta_{min}, \eta^*]`
descends for some :math:`\eta^* \ge \eta_{min}`, where :math:`\eta_{min}` is the step at which the predicted change
:math:`\eta\,|\mathrm{rate}|`,
:math:`\mathrm{rate} = \|\partial f/\partial V\|^2 + \langle E g_\mu, \partial f/\partial W\rangle` (dot products of
the closed-form vectors, :func:`.correlation.inner_products`), reaches :math:`10^3` times the rounding bound of ``f``
(the closed-form engine's ``loss.error``): smaller changes cannot be told from rounding.

* *critical* points (the true gradient within its rounding bound) are left out;
* *undecided*: :math:`\eta_{min} > 2^4`, no step on the grid resolves the change;
* *no descent*: no grid step from :math:`\eta_{min}` up descends.  To first order this happens when ``rate < 0``.
  With ``rate > 0`` it happens when the second-order term already wins at :math:`\eta_{min}`: next to a collision at
  angle :math:`\theta` the curvature of :math:`f` grows like :math:`1/\theta` (a cone's), so the range of steps where
  the linear prediction holds shrinks below what rounding can resolve.  Those points are counted apart
  (``positive_rate``), with the largest :math:`\sin\theta` to a nearest partner among them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..claims.descent import ETAS, largest_good_step
from ..models.multi_filter import MultiFilterModel
from ..ste import STE, resolve
from .correlation import STES, inner_products, nearest_partner
from .grid import KINDS, Points

__all__ = ["DescentRow", "descent_study", "step_test"]

EPS = float(np.finfo(np.float64).eps)


@dataclass(frozen=True)
class DescentRow:
    """Descent along the negative expected coarse gradient for one STE over the battery (module docstring).

    Attributes
    ----------
    ste, n_points : the STE; all battery points
    critical : points left out (true gradient within rounding)
    undecided : points where no grid step resolves the change
    no_descent : non-critical points where small steps do not decrease f
    positive_rate : of those, the points whose first-order rate is positive (the second-order term wins)
    positive_rate_max_sin : the largest nearest-partner :math:`\\sin\\theta` among them (0 if there are none)
    min_eta_star : smallest largest-descending-step over the points that descend
    by_kind : kind -> ``[no_descent, points]``
    """

    ste: str
    n_points: int
    critical: int
    undecided: int
    no_descent: int
    positive_rate: int
    positive_rate_max_sin: float
    min_eta_star: float
    by_kind: dict = field(default_factory=dict)


def step_test(model: MultiFilterModel, v: np.ndarray, w: np.ndarray, ste: str | STE) -> dict[str, np.ndarray]:
    """The step grid at ``v (P, K, m)``, ``w (P, K, n)``: arrays ``(P,)`` ``eta_star``, ``eta_min``, ``rate``,
    ``nearest_sin`` (the smallest sin of an angle between two filters) and the masks ``critical``, ``undecided``,
    ``no_descent`` (module docstring)."""
    c = inner_products(model, v, w, ste)
    gv, gw, g = c["grad_v"], c["grad_w"], c["coarse_w"].value
    f0 = c["loss"].value
    rate = np.sum(gv.value**2, axis=(-2, -1)) + c["inner_w"]
    critical = np.all(np.abs(gv.value) <= gv.error, axis=(-2, -1)) & np.all(np.abs(gw.value) <= gw.error, axis=(-2, -1))
    with np.errstate(divide="ignore"):
        eta_min = 1e3 * (c["loss"].error + EPS * np.abs(f0)) / np.abs(rate)
    steps = ETAS.reshape(-1, 1, 1, 1)
    vs, ws = v[None] - steps * gv.value[None], w[None] - steps * g[None]
    zero = np.any(~np.any(ws != 0, axis=-1), axis=-1)  # a filter exactly at 0: count as not descending
    ws = np.where(zero[..., None, None], w[None], ws)
    f = np.where(zero, np.inf, model.loss(vs, ws))
    eta_star = largest_good_step(f < f0, eta_min)
    undecided = ~critical & (eta_min > ETAS[0])
    return {
        "eta_star": eta_star,
        "eta_min": eta_min,
        "rate": rate,
        "nearest_sin": nearest_partner(model, w)[0].min(axis=-1),
        "critical": critical,
        "undecided": undecided,
        "no_descent": ~critical & ~undecided & (eta_star == 0),
    }


def descent_study(batteries: list[Points], stes: tuple = STES) -> list[DescentRow]:
    """:func:`step_test` at every point of ``batteries`` for each STE."""
    rows = []
    for s in stes:
        crit = und = nod = pos = n = 0
        pos_sin = 0.0
        min_star = np.inf
        by_kind = {kd: [0, 0] for kd in KINDS}
        for pts in batteries:
            r = step_test(pts.model, pts.v, pts.w, s)
            n += len(pts.v)
            crit += int(r["critical"].sum())
            und += int(r["undecided"].sum())
            nod += int(r["no_descent"].sum())
            positive = r["no_descent"] & (r["rate"] > 0)
            pos += int(positive.sum())
            if positive.any():
                pos_sin = max(pos_sin, float(r["nearest_sin"][positive].max()))
            ok = ~r["critical"] & ~r["undecided"] & ~r["no_descent"]
            if ok.any():
                min_star = min(min_star, float(r["eta_star"][ok].min()))
            for kd in KINDS:
                sel = (pts.kind == kd) & ~r["critical"]
                by_kind[kd][0] += int(r["no_descent"][sel].sum())
                by_kind[kd][1] += int(sel.sum())
        rows.append(DescentRow(resolve(s).name, n, crit, und, nod, pos, pos_sin, min_star, by_kind))
    return rows
