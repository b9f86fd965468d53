r"""Claim 2: the critical points of Proposition 1 and Lemmas 6, 8, computed and *checked*.

Prop. 1 as written is false in two cases, each a registered claim with ``expect="refuted"`` whose
counterexample is re-computed on every run, followed by the corrected statement:

* :func:`proposition1_n1` -- at ``n = 1`` (the angle is only 0 or :math:`\pi`); corrected:
  :func:`critical_points`, Prop. 1 for ``n >= 2``;
* :func:`proposition1_sum_zero` -- its "spurious" minimizers are global when :math:`1^\top v^* = 0`;
  corrected: :func:`proposition1_spurious`, spurious iff :math:`1^\top v^* \ne 0`.

:func:`critical_points`, for each teacher with ``n >= 2``:

* **existence** -- Prop. 1's condition :math:`(1^\top v^*)^2 < \tfrac{m+1}{2}\|v^*\|^2` against what
  :func:`popgrad.critical.search` finds without using the proposition (saddles: interior local maxima
  of the profile :math:`F(\theta) = \min_v f`; spurious minimizer: :math:`F` rises as
  :math:`\theta` leaves :math:`\pi`), and the formula's :math:`\theta, v` against the found ones;
* **stationarity** -- :math:`\|\partial f/\partial v\|`, :math:`\|\partial f/\partial w\|` at the
  formula's saddle; at :math:`\theta = \pi` the limiting gradients from opposite sides average to 0
  (0 is in the Clarke subdifferential);
* **local minimum** -- sampled perturbations :math:`(\delta v, \delta w)` on spheres of radii
  :math:`10^{-2}, 10^{-3}, 10^{-4}` (relative to :math:`\|v^*\|, \|w\|`) never decrease ``f``;
  the Hessian in ``v`` (finite differences of the exact gradient) is positive definite; ``f`` rises
  as :math:`\theta` leaves :math:`\pi` (one-sided difference);
* **saddle** -- the Hessian of ``f`` in :math:`(v, \theta)` (finite differences of the exact
  gradient) has a negative eigenvalue, and moving along its eigenvector lowers ``f``;
* **Lemmas 6, 8** -- on the curve :math:`\partial f/\partial v = 0` the expected ReLU and clipped-ReLU
  coarse gradients vanish only at :math:`\theta \in \{0, \theta_{saddle}, \pi\}`.

Where :math:`1^\top v^* = 0` the local minimizers at :math:`\theta = \pi` are global ones
(:func:`proposition1_spurious` checks when they are spurious).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import optimize

from ..critical import profile, proposition1, search, w_at_angle
from ..models import Model
from ._common import EPS, norm, theta_direction, v_scale
from .battery import Battery, Case, case_points
from .result import Check, ClaimResult

__all__ = ["critical_points", "proposition1_n1", "proposition1_spurious", "proposition1_sum_zero"]

_RADII = (1e-2, 1e-3, 1e-4)
_DELTA = 1e-7  # distance in angle from the kink at which limiting gradients are sampled
F_ZERO = 1e3 * EPS
"""``f/|v*|^2`` at or below this is 0 up to rounding (a global minimum): "spurious" needs more."""


def _teachers(cases: list[Case] | tuple[Case, ...]) -> dict[str, list]:
    """The teachers a claim checked (labels, v*, w*), for :attr:`ClaimResult.points`."""
    return {k: v for k, v in case_points(cases).items() if k in ("teacher", "v_star", "w_star")}


def _sphere(rng: np.random.Generator, k: int, dim: int) -> np.ndarray:
    x = rng.standard_normal((k, dim))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def perturbation_rise(model: Model, v: np.ndarray, w: np.ndarray, rng: np.random.Generator, k: int) -> np.ndarray:
    r"""Normalised :math:`[f(v+\delta v, w+\delta w) - f(v, w)]/\rho^2` for ``k`` random directions at each
    radius :math:`\rho` in ``_RADII``; :math:`(\delta v/\|v^*\|, \delta w/\|w\|)` uniform on the
    sphere of radius :math:`\rho`.  Shape ``(len(_RADII), k)``."""
    m, n = model.m, model.n
    f0 = model.loss(v, w)
    out = []
    for rho in _RADII:
        d = rho * _sphere(rng, k, m + n)
        dv = d[:, :m] * np.linalg.norm(model.v_star)
        dw = d[:, m:] * np.linalg.norm(w)
        out.append((model.loss(v + dv, w + dw) - f0) / rho**2)
    return np.array(out)


def _hessian_v_theta(
    model: Model, v: np.ndarray, theta: float, r: float, direction: np.ndarray | None, h: float = 1e-5
) -> np.ndarray:
    r"""Hessian of :math:`f(v, w_\theta)` in :math:`(v, \theta)` by central differences of the exact
    gradient (``Model.grad``), symmetrised.  Shape (m+1, m+1)."""
    m = model.m
    steps = np.vstack([np.eye(m + 1), -np.eye(m + 1)]) * h
    vs = v + steps[:, :m]
    th = theta + steps[:, m]
    w = w_at_angle(model.w_star, th, r, direction)
    gv, gw = model.grad(vs, w)
    gt = np.einsum("ki,ki->k", gw, theta_direction(model, w))
    g = np.concatenate([gv, gt[:, None]], axis=1)
    hess = (g[: m + 1] - g[m + 1 :]).T / (2 * h)
    return 0.5 * (hess + hess.T)


def _zeros_on_curve(model: Model, ste: str, r: float, predicted: np.ndarray, n_grid: int = 1025) -> tuple[float, float]:
    r"""Zeros of :math:`\|E g_\mu\|` along ``v_opt(theta)`` (where :math:`\partial f/\partial v = 0`).

    Returns ``(unpredicted zeros found, smallest value of ‖E g‖/scale at grid points and refined
    local minima at least 0.01 away from the predicted angles)``.  Local minima on the grid are
    refined by bounded Brent minimisation; a refined value below ``1e-9 * scale`` counts as a zero.
    Grid local minima within two grid steps (~6e-3 rad) of a predicted angle are attributed to it
    and not refined.
    """
    scale = v_scale(model) * np.linalg.norm(model.v_star)

    def g_norm(theta: np.ndarray) -> np.ndarray:
        p = profile(model, theta, r)
        w = w_at_angle(model.w_star, theta, r)
        _, g = model.coarse_grad(p.v_opt, w, ste=ste)
        return norm(g) / scale

    grid = np.linspace(0.0, np.pi, n_grid)
    vals = g_norm(grid)
    interior = np.flatnonzero((vals[1:-1] <= vals[:-2]) & (vals[1:-1] <= vals[2:])) + 1
    candidates = [0, n_grid - 1, *interior.tolist()]
    away = np.min(np.abs(grid[:, None] - predicted[None, :]), axis=1) >= 1e-2
    unpredicted, margin = 0, float(np.min(vals[away]))
    step = grid[1] - grid[0]
    for i in candidates:
        if np.min(np.abs(predicted - grid[i])) <= 2 * step:
            continue  # a predicted zero (checked to vanish in the 'vanishing' claim)
        lo, hi = max(grid[i] - step, 0.0), min(grid[i] + step, np.pi)
        res = optimize.minimize_scalar(
            lambda t: float(g_norm(np.array([t]))[0]), bounds=(lo, hi), method="bounded", options={"xatol": 1e-12}
        )
        val = min(res.fun, vals[i])
        margin = min(margin, float(val))
        unpredicted += int(val < 1e-9)
    return unpredicted, margin


def _teacher_checks(case: Case, k: int) -> dict[str, float]:
    model = case.model
    cp = proposition1(model.v_star)
    found = search(model)
    rng = case.rng(1)
    out: dict[str, float] = {}
    vs = v_scale(model)
    saddle_predicted = cp.exists and 0 < cp.saddle_theta < np.pi
    out["mismatch"] = float(
        (cp.exists != found.spurious)
        + (saddle_predicted != (found.saddle_theta.size == 1))
        + (found.interior_theta.size > 1)
    )
    out["spurious_v_err"] = float(np.max(np.abs(cp.spurious_v - found.spurious_v)) / np.linalg.norm(model.v_star))
    # the spurious point, whether or not Prop. 1 predicts a minimizer there
    r = float(np.linalg.norm(model.w_star))
    w_pi = w_at_angle(model.w_star, np.pi, r)
    gv, _ = model.grad(cp.spurious_v, w_pi)
    out["spurious_grad_v"] = float(norm(gv)) / (EPS * vs)
    # Clarke: limiting gradients at theta = pi - delta from opposite directions +-d average to 0
    d = _sphere(rng, 4, model.n)
    d -= (d @ model.w_star)[:, None] * model.w_star / (model.w_star @ model.w_star)
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    near = w_at_angle(model.w_star, np.pi - _DELTA, r, np.vstack([d, -d]))
    _, gw = model.grad(cp.spurious_v, near)
    out["clarke"] = float(np.max(norm(gw[:4] + gw[4:]) / (norm(gw[:4]) + norm(gw[4:]) + 1e-300)))
    if cp.exists:
        rise = perturbation_rise(model, cp.spurious_v, w_pi, rng, k)
        out["spurious_min_rise"] = float(rise.min())
        h = _hessian_v_theta(model, cp.spurious_v, np.pi - 1e-3, r, None)[:-1, :-1]
        out["spurious_hess_v_min"] = float(np.linalg.eigvalsh(h).min())
        f0 = model.loss(cp.spurious_v, w_pi)
        out["spurious_theta_slope"] = float(
            (model.loss(cp.spurious_v, w_at_angle(model.w_star, np.pi - 1e-6, r)) - f0) / 1e-6
        )
    if saddle_predicted:
        out["saddle_theta_err"] = abs(cp.saddle_theta - found.saddle_theta[0]) if found.saddle_theta.size else np.inf
        out["saddle_v_err"] = (
            float(np.max(np.abs(cp.saddle_v - found.saddle_v[0])) / np.linalg.norm(model.v_star))
            if found.saddle_theta.size
            else np.inf
        )
        w_s = w_at_angle(model.w_star, cp.saddle_theta, r)
        gv, gw = model.grad(cp.saddle_v, w_s)
        out["saddle_grad"] = float(
            max(norm(gv) / vs, norm(gw) * 2 * np.pi * r / np.linalg.norm(model.v_star) ** 2) / EPS
        )
        hess = _hessian_v_theta(model, cp.saddle_v, cp.saddle_theta, r, None)
        lam, vec = np.linalg.eigh(hess)
        out["saddle_hess_min"] = float(lam[0])
        t = 1e-3
        step = vec[:, 0] * t
        drops = [
            model.loss(cp.saddle_v + s * step[:-1], w_at_angle(model.w_star, cp.saddle_theta + s * step[-1], r))
            - model.loss(cp.saddle_v, w_s)
            for s in (1.0, -1.0)
        ]
        out["saddle_drop"] = float(max(drops))
    predicted = np.array([0.0, np.pi, *([cp.saddle_theta] if saddle_predicted else [])])
    for ste in ("relu", "clipped_relu"):
        for rr in (0.3, 3.0):
            unpredicted, margin = _zeros_on_curve(model, ste, rr, predicted)
            out[f"unpredicted_zeros_{ste}"] = out.get(f"unpredicted_zeros_{ste}", 0.0) + unpredicted
            out[f"zero_margin_{ste}"] = min(out.get(f"zero_margin_{ste}", np.inf), margin)
    return out


def _worst(
    rows: list[dict[str, float]], key: str, how: Callable[[list[float]], float] = max, default: float = 0.0
) -> float:
    vals = [row[key] for row in rows if key in row]
    return float(how(vals)) if vals else default


def _critical_checks(rows: list[dict[str, float]], n_exist: int, n_perturb: int) -> tuple[Check, ...]:
    """The checks of :func:`critical_points` from the per-teacher measurements ``rows``."""
    return (
        Check(
            "teachers where Prop. 1's existence condition disagrees with the search",
            _worst(rows, "mismatch", sum),
            "==",
            0,
        ),
        Check("max |theta_saddle(formula) - theta_saddle(found)|", _worst(rows, "saddle_theta_err"), "<=", 1e-9),
        Check(
            "max |v(formula) - v(found)| / |v*|",
            max(_worst(rows, "saddle_v_err"), _worst(rows, "spurious_v_err")),
            "<=",
            1e-9,
        ),
        Check("max |grad f| at the formula's saddles / (eps * scale)", _worst(rows, "saddle_grad"), "<=", 1e3),
        Check("max |df/dv| at theta = pi / (eps * scale)", _worst(rows, "spurious_grad_v"), "<=", 1e3),
        Check(
            "max |mean of df/dw from opposite sides| / mean |df/dw| at theta = pi - delta (0 in Clarke)",
            _worst(rows, "clarke"),
            "<=",
            10 * _DELTA,
            note="the limiting gradients are antipodal; at distance delta they are so up to O(delta)",
        ),
        Check(
            "min [f(x+delta) - f(x)] / rho^2 at the theta = pi minimizers",
            _worst(rows, "spurious_min_rise", min, np.nan if n_exist else np.inf),
            ">",
            0,
            note=f"{n_perturb} directions x radii {_RADII}",
        ),
        Check(
            "min eigenvalue of d2f/dv2 at the theta = pi minimizers",
            _worst(rows, "spurious_hess_v_min", min, np.inf),
            ">",
            0,
        ),
        Check(
            "min one-sided d f/d(pi - theta) at the theta = pi minimizers",
            _worst(rows, "spurious_theta_slope", min, np.inf),
            ">",
            0,
        ),
        Check(
            "max min-eigenvalue of the (v, theta) Hessian at saddles",
            _worst(rows, "saddle_hess_min", max, -np.inf),
            "<",
            0,
        ),
        Check(
            "max f(saddle + t d) - f(saddle), d the negative-curvature direction",
            _worst(rows, "saddle_drop", max, -np.inf),
            "<",
            0,
        ),
        Check(
            "unpredicted zeros of E g_relu on {df/dv = 0} (Lemma 6)",
            _worst(rows, "unpredicted_zeros_relu", sum),
            "==",
            0,
        ),
        Check(
            "unpredicted zeros of E g_crelu on {df/dv = 0} (Lemma 8)",
            _worst(rows, "unpredicted_zeros_clipped_relu", sum),
            "==",
            0,
        ),
    )


def critical_points(battery: Battery) -> ClaimResult:
    """Claim 2, Prop. 1 for ``n >= 2`` (the correction of :func:`proposition1_n1`); see the module docstring."""
    cases = [c for c in battery.cases if c.model.n >= 2]
    rows = [_teacher_checks(c, battery.n_perturb) for c in cases]
    n_exist = sum(proposition1(c.model.v_star).exists for c in cases)
    checks = _critical_checks(rows, n_exist, battery.n_perturb)
    values = {
        "teachers": len(cases),
        "teachers_with_theta_pi_minimizers": n_exist,
        "min_relu_grad_away_from_critical": _worst(rows, "zero_margin_relu", min, np.inf),
        "min_crelu_grad_away_from_critical": _worst(rows, "zero_margin_clipped_relu", min, np.inf),
    }
    return ClaimResult(
        key="critical_points",
        title="Prop. 1 for n >= 2 (saddles and theta = pi minimizers); Lemmas 6, 8",
        reference="Prop. 1 (n >= 2); Lemmas 6, 8",
        method="formula vs search; perturbations; Hessian",
        checks=checks,
        n_points=len(cases),
        values=values,
        points=_teachers(cases),
        headline=6,
    )


def proposition1_n1(battery: Battery) -> ClaimResult:
    r"""Refuted: Proposition 1 as written, at ``n = 1`` (:math:`\theta \in \{0, \pi\}` only).

    The counterexamples are the battery's teachers with ``n = 1``.  There no interior angle exists, so
    no saddle can (while Prop. 1 predicts one whenever its condition holds); and at :math:`\theta = \pi`
    (``w`` of the sign opposite to :math:`w^*`) ``f`` does not depend on ``w``, so the minimizer in ``v``
    is a local minimizer of ``f`` whatever the condition says (while Prop. 1 says there is none when
    the condition fails).  Confirmed on every run: the disagreements are counted (at least one needed),
    and sampled perturbations at :math:`\theta = \pi` (which keep the sign of ``w``) never lower ``f``,
    which is > 0 there, beyond rounding (not a global minimum: :data:`F_ZERO`).  The corrected statement --
    Prop. 1 for ``n >= 2`` -- is :func:`critical_points`.
    """
    cases = [c for c in battery.cases if c.model.n == 1]
    saddles, minimizers, rises, f_pi = 0, 0, [], []
    details = {}
    for c in cases:
        model = c.model
        cp = proposition1(model.v_star)
        v_pi = profile(model, np.array([np.pi])).v_opt[0]  # argmin_v f(v, w) at theta = pi
        rise = perturbation_rise(model, v_pi, -model.w_star, c.rng(1), battery.n_perturb).min()
        f = float(model.loss(v_pi, -model.w_star)) / float(model.v_star @ model.v_star)
        saddles += int(cp.exists and 0 < cp.saddle_theta < np.pi)  # theta_saddle is no angle a w in R^1 has
        minimizers += int(not cp.exists and rise > 0 and f > F_ZERO)  # a spurious local minimizer Prop. 1 excludes
        rises.append(rise)
        f_pi.append(f)
        details[f"{c.label}: condition (m+1)/2|v*|^2 - (1'v*)^2"] = cp.condition
    details["predicted saddles (none can exist)"] = saddles
    details["spurious local minimizers where Prop. 1 says none"] = minimizers
    checks = (
        Check(
            "n = 1 teachers where Prop. 1 as written disagrees with the landscape",
            saddles + minimizers,
            ">=",
            1,
            note="n = 1: theta is only 0 or pi, so there is no saddle, and theta = pi is a local minimizer "
            "whatever the condition says; the paper implicitly assumes n >= 2",
        ),
        Check("min [f(x+delta) - f(x)] / rho^2 at theta = pi, v = v_opt(pi)", min(rises, default=np.nan), ">", 0),
        Check(
            "min f/|v*|^2 at theta = pi, v = v_opt(pi) (not a global minimum)",
            min(f_pi, default=np.nan),
            ">",
            F_ZERO,
            note="f <= 1e3 eps |v*|^2 is 0 up to rounding: a global minimum",
        ),
    )
    return ClaimResult(
        key="prop1_n1",
        title="Prop. 1 as written, for n = 1: saddles iff the condition, spurious minimizers iff the condition",
        reference="Prop. 1 at n = 1",
        method="formula vs perturbations",
        checks=checks,
        n_points=len(cases),
        values=details,
        points=_teachers(cases),
        expect="refuted",
        corrected_by="critical_points",
    )


def _pi_point(model: Model) -> tuple[float, float]:
    r"""``(f, formula)`` at Prop. 1's :math:`\theta = \pi` point :math:`w = -\|w^*\|\hat w^*` (any ``n``),
    :math:`v_0 = (I+11^\top)^{-1}(11^\top - I)v^*`: ``Model.loss`` and :math:`(1^\top v^*)^2/(2(m+1))`,
    both divided by :math:`\|v^*\|^2` (``derivations/proposition1.md``)."""
    v0 = proposition1(model.v_star).spurious_v
    s, vn2 = float(model.v_star.sum()), float(model.v_star @ model.v_star)
    return float(model.loss(v0, -model.w_star)) / vn2, s * s / (2 * (model.m + 1)) / vn2


def proposition1_sum_zero(battery: Battery) -> ClaimResult:
    r"""Refuted: Prop. 1's "spurious local minimizers" when :math:`1^\top v^* = 0`.

    :math:`1^\top v^* = 0` satisfies Prop. 1's condition, which then calls the points :math:`\theta = \pi`,
    :math:`v_0 = (I+11^\top)^{-1}(11^\top - I)v^*` spurious local minimizers.  But there
    :math:`v_0 = -v^*` and :math:`f = (1^\top v^*)^2/(2(m+1)) = 0 = \min f`: ``w = -w*``, ``v = -v*``
    reproduces the teacher (:math:`\sigma(-x) = 1 - \sigma(x)` a.e., so
    :math:`-v^{*\top}\sigma(-Zw^*) = v^{*\top}\sigma(Zw^*) - 1^\top v^*`); they are global minimizers.
    The counterexamples are the battery's teachers with ``n >= 2`` and :math:`1^\top v^* = 0` exactly in
    floating point; confirmed on every run with ``Model.loss``.  The corrected statement is
    :func:`proposition1_spurious`.
    """
    cases = [c for c in battery.cases if c.model.n >= 2 and float(c.model.v_star.sum()) == 0.0]
    f_pi, v_err, conditions = [], [], {}
    for c in cases:
        cp = proposition1(c.model.v_star)
        f_pi.append(_pi_point(c.model)[0])
        v_err.append(float(np.max(np.abs(cp.spurious_v + c.model.v_star)) / np.linalg.norm(c.model.v_star)))
        conditions[f"{c.label}: condition (m+1)/2|v*|^2 - (1'v*)^2 (> 0: Prop. 1 says spurious)"] = cp.condition
    predicted = sum(v > 0 for v in conditions.values())
    checks = (
        Check(
            "teachers with 1'v* = 0 where Prop. 1 predicts spurious minimizers",
            predicted,
            ">=",
            1,
        ),
        Check(
            "max f/|v*|^2 at Prop. 1's 'spurious' minimizers of teachers with 1'v* = 0 (= min f = 0: global)",
            max(f_pi, default=np.nan),
            "<=",
            F_ZERO,
            note="f = (1'v*)^2/(2(m+1)) = 0 = min f: these points are GLOBAL minimizers (v0 = -v*, w = -w* "
            "reproduces the teacher), not spurious; Prop. 1 needs 1'v* != 0 for 'spurious'",
        ),
        Check("max |v0 + v*| / |v*| (v0 = -v*)", max(v_err, default=np.nan), "<=", 1e3 * EPS),
    )
    return ClaimResult(
        key="prop1_sum_zero",
        title="Prop. 1 as written, for 1'v* = 0: theta = pi, v0 are spurious local minimizers",
        reference="Prop. 1 at 1'v* = 0",
        method="closed form at theta = pi",
        checks=checks,
        n_points=len(cases),
        values=conditions,
        points=_teachers(cases),
        headline=1,
        expect="refuted",
        corrected_by="prop1_spurious",
    )


def proposition1_spurious(battery: Battery) -> ClaimResult:
    r"""Prop. 1 corrected: its local minimizers at :math:`\theta = \pi` are spurious iff :math:`1^\top v^* \ne 0`.

    At :math:`\theta = \pi`, :math:`v_0 = (I+11^\top)^{-1}(11^\top - I)v^*` the loss is
    :math:`f = (1^\top v^*)^2/(2(m+1))` (``derivations/proposition1.md``), checked against ``Model.loss``
    for every teacher; so :math:`f > 0 = \min f` (spurious) exactly when :math:`1^\top v^* \ne 0`, checked
    (beyond rounding: :math:`f/\|v^*\|^2 >` :data:`F_ZERO`)
    at every teacher with ``n >= 2``, :math:`1^\top v^* \ne 0` and Prop. 1's condition (where
    :func:`critical_points` checks that these points are local minimizers).
    """
    pairs = [(c, *_pi_point(c.model)) for c in battery.cases]
    formula_err = max((abs(f - ref) / EPS for _, f, ref in pairs), default=np.nan)
    spurious = [
        f for c, f, _ in pairs if c.model.n >= 2 and c.model.v_star.sum() != 0 and proposition1(c.model.v_star).exists
    ]
    checks = (
        Check(
            "max |f(theta=pi, v0) - (1'v*)^2/(2(m+1))| / (eps |v*|^2)",
            formula_err,
            "<=",
            1e3,
            note="all teachers",
        ),
        Check(
            "min f/|v*|^2 at theta = pi, v0 where n >= 2, 1'v* != 0 and Prop. 1's condition (spurious: > 0 = min f)",
            min(spurious, default=np.nan),
            ">",
            F_ZERO,
            note="f <= 1e3 eps |v*|^2 is 0 up to rounding: a global minimum",
        ),
    )
    return ClaimResult(
        key="prop1_spurious",
        title="Prop. 1 corrected: the theta = pi minimizers are spurious iff 1'v* != 0",
        reference="Prop. 1 (1'v* != 0)",
        method="closed form at theta = pi",
        checks=checks,
        n_points=len(pairs),
        values={"teachers with spurious minimizers (n >= 2, 1'v* != 0)": len(spurious)},
        points=_teachers(battery.cases),
        headline=1,
    )
