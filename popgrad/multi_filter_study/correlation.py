r"""Does :math:`\langle E g_\mu, \partial f/\partial W\rangle \ge 0` hold with K filters?  Measured on the battery.

For each point and STE the inner products are the dot products of the closed-form vectors :math:`E g_\mu` and
:math:`\partial f/\partial W` (``pg.expectations(..., engine="closed_form")``), per filter and over the whole of
:math:`W` (:func:`inner_products`).  A value counts as a **failure** only when it is negative beyond its rounding
bound: with the engine's bounds :math:`\delta g, \delta h` on the components (:class:`popgrad.Quantity` ``.error``,
256 units of roundoff times an a-priori bound on the terms),

.. math:: |\widehat{\langle g, h\rangle} - \langle g, h\rangle| \le
          \textstyle\sum_j \delta g_j|h_j| + |g_j|\delta h_j + \delta g_j\,\delta h_j
          + (d + 1)\,\varepsilon \sum_j |g_j h_j| ,

summed over a filter's ``d = n`` components (per filter) or all ``d = Kn`` of them (whole :math:`W`), the last term
the rounding of the dot product itself.  Negative values within the bound are counted apart (``within_rounding``).
(``model.correlation`` computes the inner products from the vectors' coefficients instead; where a filter's gradients
are tiny from cancellation -- e.g. :math:`V_k = 0` at a :math:`V`-optimal point -- those disagree with the vectors
beyond this bound, and its cosines leave [-1, 1]: docs/multi_filter.md, "Notes".)

Where failures live: each filter's *nearest partner* is the other filter (student or teacher) with the smallest
:math:`\sin\theta` to it -- a collision, parallel or antiparallel, has :math:`\sin\theta \to 0`.  Failing filters are
tallied against that :math:`\sin\theta` in the bins of :data:`SIN_BINS`, next to all filters, so the failure *rate*
per bin shows whether failures concentrate near collisions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..engines import expectations
from ..models.multi_filter import MultiFilterModel
from ..ste import STE, resolve
from .grid import KINDS, Points

__all__ = [
    "SIN_BINS",
    "STES",
    "CorrelationRow",
    "correlation_study",
    "inner_products",
    "nearest_partner",
    "rounding_bound",
]

STES = ("relu", "clipped_relu", "identity")
EPS = float(np.finfo(np.float64).eps)
SIN_BINS = (0.0, 1e-4, 1e-2, 0.1, 0.3, 0.6, 1.0 + 1e-12)


@dataclass(frozen=True)
class CorrelationRow:
    r"""The correlation of one STE over the battery.

    Attributes
    ----------
    ste : its name
    n_points, n_filters : points, and filters over all points
    fail_w, fail_filters : points (whole W) and filters with an inner product below minus its rounding bound
    within_rounding_w, within_rounding_filters : negative, but within the bound
    frac_fail_w, frac_fail_filters : the failure fractions
    worst_cos_w, worst_cos_filters : the smallest cosines (whole W; one filter) among the inner products larger
        than their rounding bound in magnitude (a cosine of two rounding-noise vectors means nothing)
    worst : where the smallest whole-W cosine is (configuration, kind, inner product, its bound)
    by_pair : ``"K=.. K*=.."`` -> ``[fail_w, points]``; ``by_m``, ``by_n`` likewise by patches and dimension
    by_kind : kind -> ``[fail_w, points]``
    by_sin : one row per bin of :data:`SIN_BINS`: ``[lo, hi, failing filters, filters]`` by the filter's nearest
        partner's :math:`\sin\theta`
    by_partner : ``"student"`` / ``"teacher"`` (the nearest partner of each failing filter) -> failing filters
    """

    ste: str
    n_points: int
    n_filters: int
    fail_w: int
    fail_filters: int
    within_rounding_w: int
    within_rounding_filters: int
    worst_cos_w: float
    worst_cos_filters: float
    worst: dict = field(default_factory=dict)
    by_pair: dict = field(default_factory=dict)
    by_m: dict = field(default_factory=dict)
    by_n: dict = field(default_factory=dict)
    by_kind: dict = field(default_factory=dict)
    by_sin: list = field(default_factory=list)
    by_partner: dict = field(default_factory=dict)

    @property
    def frac_fail_w(self) -> float:
        return self.fail_w / self.n_points

    @property
    def frac_fail_filters(self) -> float:
        return self.fail_filters / self.n_filters


def inner_products(model: MultiFilterModel, v: np.ndarray, w: np.ndarray, ste: str | STE) -> dict[str, Any]:
    r""":math:`\langle E g_\mu, \partial f/\partial w_k\rangle` per filter and over :math:`W`, their rounding bounds and
    cosines (module docstring): ``inner_f, bound_f, cos_f`` of shape ``(P, K)`` and ``inner_w, bound_w, cos_w`` of shape
    ``(P,)``, for ``v (P, K, m)``, ``w (P, K, n)``; also the engine's ``loss``, ``grad_v``, ``grad_w`` and ``coarse_w``
    (:class:`popgrad.Quantity`)."""
    e = expectations(model, v, w, ste, engine="closed_form")
    g, h = e.coarse_grad_w, e.grad_w
    assert h is not None  # the closed forms always give df/dw
    n, k = w.shape[-1], w.shape[-2]
    prod = g.value * h.value
    mag = np.abs(prod)
    err = g.error * np.abs(h.value) + np.abs(g.value) * h.error + g.error * h.error
    g_sq, h_sq = np.sum(g.value**2, axis=-1), np.sum(h.value**2, axis=-1)
    out = {"inner_f": prod.sum(-1), "bound_f": err.sum(-1) + (n + 1) * EPS * mag.sum(-1)}
    out["inner_w"] = out["inner_f"].sum(-1)
    out["bound_w"] = err.sum((-2, -1)) + (n * k + 1) * EPS * mag.sum((-2, -1))
    out["cos_f"] = _cos(out["inner_f"], g_sq, h_sq)
    out["cos_w"] = _cos(out["inner_w"], g_sq.sum(-1), h_sq.sum(-1))
    out.update(loss=e.loss, grad_v=e.grad_v, coarse_w=g, grad_w=h)
    return out


def _cos(inner: np.ndarray, a_sq: np.ndarray, b_sq: np.ndarray) -> np.ndarray:
    den = np.sqrt(a_sq) * np.sqrt(b_sq)
    return np.divide(inner, den, out=np.zeros_like(inner), where=den > 0)


def rounding_bound(model: MultiFilterModel, v: np.ndarray, w: np.ndarray, ste: str | STE) -> np.ndarray:
    r"""Per-filter bound ``(P, K)`` on the rounding error of :math:`\langle E g_k, \partial f/\partial w_k\rangle`
    (module docstring); ``inner_products(...)["bound_f"]``."""
    return inner_products(model, v, w, ste)["bound_f"]


def nearest_partner(model: MultiFilterModel, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""For each filter of ``w (P, K, n)``: the smallest :math:`\sin\theta` to any other filter ``(P, K)`` and whether
    that partner is a teacher filter ``(P, K)`` bool."""
    k = w.shape[-2]
    sin = np.sin(model.theta(w))
    sin[..., np.arange(k), np.arange(k)] = np.inf  # a filter is not its own partner
    j = np.argmin(sin, axis=-1)
    return np.take_along_axis(sin, j[..., None], axis=-1)[..., 0], j >= k


def _new_tally() -> dict:
    return {
        "fail_w": 0,
        "fail_f": 0,
        "round_w": 0,
        "round_f": 0,
        "cos_w": np.inf,
        "cos_f": np.inf,
        "worst": {},
        "by_pair": {},
        "by_m": {},
        "by_n": {},
        "by_kind": {kd: [0, 0] for kd in KINDS},
        "sin_fail": np.zeros(len(SIN_BINS) - 1, dtype=int),
        "partner": {"student": 0, "teacher": 0},
    }


def correlation_study(batteries: list[Points], stes: tuple = STES) -> list[CorrelationRow]:
    """Measure the correlation of each STE on every point of ``batteries`` (module docstring)."""
    tallies = {resolve(s).name: _new_tally() for s in stes}
    sin_all = np.zeros(len(SIN_BINS) - 1, dtype=int)
    n_points = n_filters = 0
    for pts in batteries:
        model, v, w = pts.model, pts.v, pts.w
        n_points += len(v)
        n_filters += v.shape[0] * v.shape[1]
        sin, is_teacher = nearest_partner(model, w)
        sin_bin = np.digitize(sin, SIN_BINS[1:-1])
        sin_all += np.bincount(sin_bin.ravel(), minlength=len(sin_all))
        pair = f"K={pts.config.k} K*={pts.config.k_star}"
        for s in stes:
            t = tallies[resolve(s).name]
            c = inner_products(model, v, w, s)
            bound_f, bound_w = c["bound_f"], c["bound_w"]
            fail_w = c["inner_w"] < -bound_w
            fail_f = c["inner_f"] < -bound_f
            t["fail_w"] += int(fail_w.sum())
            t["fail_f"] += int(fail_f.sum())
            t["round_w"] += int(np.sum((c["inner_w"] < 0) & ~fail_w))
            t["round_f"] += int(np.sum((c["inner_f"] < 0) & ~fail_f))
            # the cosine of an inner product lost in rounding means nothing: left out
            resolved_f = np.abs(c["inner_f"]) > bound_f
            if resolved_f.any():
                t["cos_f"] = min(t["cos_f"], float(c["cos_f"][resolved_f].min()))
            cos_w = np.where(np.abs(c["inner_w"]) > bound_w, c["cos_w"], np.inf)
            i = int(np.argmin(cos_w))
            if cos_w[i] < t["cos_w"]:
                t["cos_w"] = float(c["cos_w"][i])
                t["worst"] = {
                    "config": pts.config.label,
                    "kind": str(pts.kind[i]),
                    "inner_w": float(c["inner_w"][i]),
                    "bound": float(bound_w[i]),
                    "nearest_sin": [float(x) for x in sin[i]],
                    "w_norms": [float(x) for x in np.linalg.norm(w[i], axis=-1)],
                }
            for key, label in (("by_pair", pair), ("by_m", pts.config.m), ("by_n", pts.config.n)):
                got = t[key].setdefault(label, [0, 0])
                got[0] += int(fail_w.sum())
                got[1] += len(v)
            for kd in KINDS:
                sel = pts.kind == kd
                t["by_kind"][kd][0] += int(fail_w[sel].sum())
                t["by_kind"][kd][1] += int(sel.sum())
            t["sin_fail"] += np.bincount(sin_bin[fail_f], minlength=len(sin_all))
            t["partner"]["teacher"] += int(np.sum(fail_f & is_teacher))
            t["partner"]["student"] += int(np.sum(fail_f & ~is_teacher))
    rows = []
    for name, t in tallies.items():
        by_sin = [
            [SIN_BINS[i], min(SIN_BINS[i + 1], 1.0), int(t["sin_fail"][i]), int(sin_all[i])]
            for i in range(len(sin_all))
        ]
        rows.append(
            CorrelationRow(
                ste=name,
                n_points=n_points,
                n_filters=n_filters,
                fail_w=t["fail_w"],
                fail_filters=t["fail_f"],
                within_rounding_w=t["round_w"],
                within_rounding_filters=t["round_f"],
                worst_cos_w=t["cos_w"],
                worst_cos_filters=t["cos_f"],
                worst=t["worst"],
                by_pair=t["by_pair"],
                by_m=dict(sorted(t["by_m"].items())),
                by_n=dict(sorted(t["by_n"].items())),
                by_kind=t["by_kind"],
                by_sin=by_sin,
                by_partner=t["partner"],
            )
        )
    return rows
