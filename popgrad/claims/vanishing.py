r"""Claim 5: where the expected coarse gradients vanish, and the identity STE's instability.

* Lemmas 6, 8: :math:`E g_{relu}` and :math:`E g_{crelu}` vanish at every critical point -- the global
  minimizer :math:`(v^*, \theta = 0)`, Prop. 1's saddle, and :math:`\theta = \pi`,
  :math:`v = (I+11^\top)^{-1}(11^\top - I)v^*` -- for filter norms :math:`10^{-3}, 1, 10^3`.
  Measured as :math:`\|E g\| / (\varepsilon S)` with :math:`S = S_g(v) + S_g(v^*)`, the size of
  the summands (:mod:`popgrad.claims.correlation`); the bound :math:`10^3` allows for the :math:`O(m)` rounding
  of the formula's ``v`` and of the closed forms.
* Lemma 9: at :math:`\theta = \pi`, :math:`v = (I+11^\top)^{-1}(11^\top - I)v^*`,
  :math:`\|E g_{id}\| = 2(m-1)(1^\top v^*)^2/(\sqrt{2\pi}(m+1)^2)` (relative error bound :math:`10^3\varepsilon`),
  which is > 0 when :math:`1^\top v^* \ne 0`, ``m > 1``.
* Lemma 10: approaching that point along :math:`\theta = \pi - t`, :math:`v = v_{sp} + t\|v^*\|d`
  (``d`` a random unit vector), :math:`t = \tau, \dots, 10^{-7}\tau` (:func:`approach_path`), the ratio
  :math:`R_\mu = \|E g_\mu\|^2 / (\|\partial f/\partial v\|^2 + \langle E g_\mu, \partial f/\partial w\rangle)`
  blows up for the identity STE -- over the last four decades (:math:`t \le 10^{-3}\tau`) it increases
  at every step and its log-log slope in ``t`` is at most -1/2 (the analysis predicts -1) -- while
  for the ReLU and clipped ReLU STEs (the bounds of Lemmas 5, 7) it does not grow (slope >= -0.1).
  (A limit statement: before the asymptotic regime the ratio may dip, e.g. for a teacher with
  :math:`1^\top v^* = -0.009`, where :math:`\|E g_{id}\| = 7\cdot10^{-6}` at the point itself, it falls
  from :math:`t = 10^{-3}` to :math:`10^{-4}` and grows as :math:`1/t` after; hence the scale
  :math:`\tau`.)
"""

from __future__ import annotations

import numpy as np

from ..critical import proposition1, w_at_angle
from ..models import Model
from ._common import EPS, dot, norm
from .battery import Battery, case_points
from .correlation import gradient_scale
from .paper import lemma9_norm_at_spurious
from .result import Check, ClaimResult

__all__ = ["instability_ratio", "vanishing"]

T_PATH = 10.0 ** -np.arange(0, 8)  # times the teacher's scale tau, see approach_path


def instability_ratio(model: Model, v: np.ndarray, w: np.ndarray, ste: str) -> np.ndarray:
    r"""Lemma 10's ratio :math:`\|E g_\mu\|^2 / (\|\partial f/\partial v\|^2
    + \langle E g_\mu, \partial f/\partial w\rangle)`; shapes as ``Model.coarse_grad``.

    The denominator is ``Model.correlation(...).inner``, whose w-part is the closed form of the inner
    product (Lemmas 5, 7, 10: a product of non-negative factors), not a dot product of the two vectors:
    near :math:`\theta = \pi` both vectors are large against their inner product, and a dot product
    loses it to cancellation (at :math:`t = 2\cdot10^{-16}` it gave :math:`-1.3\cdot10^{-16}` where the
    closed form gives :math:`+1.6\cdot10^{-16}`, and a negative ratio).
    """
    _, g = model.coarse_grad(v, w, ste=ste)
    return dot(g, g) / model.correlation(v, w, ste=ste).inner


ASYMPTOTIC = slice(-5, None)  # the last four decades of the path: t <= 1e-3 tau


def approach_path(model: Model, d: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""``(t (8,), v (8, m), w (8, n))`` on :math:`\theta = \pi - t`, :math:`v = v_{sp} + t\|v^*\|d`.

    :math:`t = \tau 10^{-k}`, ``k = 0..7``, :math:`\tau = 10^{-3}\min(1, \|E g_{id}\|_{Lemma 9}/\|v^*\|^2)`:
    the ratio's asymptotic regime begins where the perturbation's contribution to :math:`E g_{id}`
    (:math:`O(t\|v^*\|^2)`) is small against its value at the point.
    """
    cp = proposition1(model.v_star)
    vn2 = float(model.v_star @ model.v_star)
    tau = 1e-3 * min(1.0, lemma9_norm_at_spurious(model.v_star) / vn2)
    t = tau * T_PATH
    v = cp.spurious_v + t[:, None] * np.sqrt(vn2) * d
    return t, v, w_at_angle(model.w_star, np.pi - t, 1.0)


def _slope(t: np.ndarray, ratio: np.ndarray) -> float:
    """Least-squares slope of log(ratio) against log(t) over the last four decades of t."""
    x, y = np.log10(t[ASYMPTOTIC]), np.log10(ratio[ASYMPTOTIC])
    return float(np.polyfit(x, y, 1)[0])


def vanishing(battery: Battery) -> ClaimResult:
    """Claim 5 on the battery's teachers."""
    worst = {"relu": 0.0, "clipped_relu": 0.0}
    lemma9_err, lemma9_min = 0.0, np.inf
    slopes = {"identity": -np.inf, "relu": np.inf, "clipped_relu": np.inf}
    non_monotone = 0
    n_points = n_paths = 0
    norms9 = {}
    for case in battery.cases:
        model = case.model
        cp = proposition1(model.v_star)
        pts_v, pts_t = [cp.global_v, cp.spurious_v], [0.0, np.pi]
        if model.n >= 2 and cp.exists and 0 < cp.saddle_theta < np.pi:
            pts_v.append(cp.saddle_v)
            pts_t.append(cp.saddle_theta)
        rs = np.array([1e-3, 1.0, 1e3])
        v = np.repeat(np.array(pts_v), rs.size, axis=0)
        w = w_at_angle(model.w_star, np.repeat(pts_t, rs.size), np.tile(rs, len(pts_t)))
        n_points += v.shape[0]
        teacher_scale = float(gradient_scale(model.v_star, model.v_star))  # also sizes the points where v = 0
        scale = gradient_scale(v, model.v_star) + teacher_scale
        for ste in worst:
            _, g = model.coarse_grad(v, w, ste=ste)
            worst[ste] = max(worst[ste], float(np.max(norm(g) / (EPS * scale))))
        # Lemma 9 at theta = pi
        _, g_id = model.coarse_grad(cp.spurious_v, w_at_angle(model.w_star, np.pi, 1.0), ste="identity")
        predicted = lemma9_norm_at_spurious(model.v_star)
        sc = float(gradient_scale(cp.spurious_v, model.v_star)) + teacher_scale
        lemma9_err = max(lemma9_err, abs(float(norm(g_id)) - predicted) / (EPS * (predicted + sc)))
        norms9[case.label] = float(norm(g_id))
        if model.m > 1 and abs(model.v_star.sum()) > 1e-8 * np.linalg.norm(model.v_star) and model.n >= 2:
            lemma9_min = min(lemma9_min, float(norm(g_id)) / sc)
            # Lemma 10: the ratio along a path into the point
            d = case.rng(2).standard_normal(model.m)
            d /= np.linalg.norm(d)
            tp, vp, wp = approach_path(model, d)
            n_paths += 1
            for ste in slopes:
                ratio = instability_ratio(model, vp, wp, ste)
                s = _slope(tp, ratio)
                if ste == "identity":
                    slopes[ste] = max(slopes[ste], s)
                    non_monotone += int(np.any(np.diff(ratio[ASYMPTOTIC]) <= 0))
                else:
                    slopes[ste] = min(slopes[ste], s)
    checks = (
        Check("max |E g_relu| / (eps * scale) at critical points", worst["relu"], "<=", 1e3),
        Check("max |E g_crelu| / (eps * scale) at critical points", worst["clipped_relu"], "<=", 1e3),
        Check("max | |E g_id| - Lemma 9 | / (eps * scale) at theta = pi", lemma9_err, "<=", 1e3),
        Check("min |E g_id| / scale at theta = pi (1'v* != 0, m > 1)", lemma9_min, ">", 0.0),
        Check("paths where R_id does not increase as the point is approached (t <= 1e-6)", non_monotone, "==", 0),
        Check("max log-log slope of R_id(t) (blow-up)", slopes["identity"], "<=", -0.5),
        Check("min log-log slope of R_relu(t) (bounded)", slopes["relu"], ">=", -0.1),
        Check("min log-log slope of R_crelu(t) (bounded)", slopes["clipped_relu"], ">=", -0.1),
    )
    values = {f"|E g_id| at theta=pi, {k}": x for k, x in norms9.items()}
    values["paths"] = n_paths
    return ClaimResult(
        key="vanishing",
        title="Vanishing coarse gradients; identity STE instability",
        reference="Lemmas 6, 8, 9, 10",
        method="closed form; approach paths",
        checks=checks,
        n_points=n_points + n_paths * T_PATH.size,
        values=values,
        points={k: v for k, v in case_points(battery.cases).items() if k in ("teacher", "v_star", "w_star")},
        headline=5,
    )
