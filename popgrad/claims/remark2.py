r"""Claim 8 (Remark 2): the results hold for rotation-invariant, non-Gaussian rows.

Rows :math:`z_i = g_i/\sqrt{\chi^2_\nu/\nu}` (multivariate Student t, :math:`\nu = 5`,
:func:`popgrad.montecarlo.student_t`).  ``derivations/remark2.md`` shows that, because the activation
is a step, :math:`f`, :math:`\partial f/\partial v`, :math:`\partial f/\partial w` and hence the critical
points are *the Gaussian ones*, while

.. math:: E g^t_{relu} = c_\nu E g_{relu},\quad E g^t_{id} = c_\nu E g_{id},\quad
          E g^t_{crelu}(v, w) = E_s[s\,E g_{crelu}(v, s w)],\quad c_\nu = E s,

:math:`s = (\chi^2_\nu/\nu)^{-1/2}` (the mixture by a trapezoid rule in :math:`\log s`,
:func:`crelu_mixture`).  So Lemmas 5-8's correlation and vanishing statements carry over.

Checked with the full Monte Carlo sampler and t rows (it does not use these formulas), per component
:math:`|z| < 5` (false-alarm rate :math:`5.7\cdot10^{-7}` per component, fixed seeds):

* loss and :math:`\partial f/\partial v` against the Gaussian closed forms (landscape unchanged);
* :math:`E g^t` for the three STEs against the predictions above, at random battery points
  (:math:`0.1 \le \|w\| \le 10`, where the clipped ReLU's window is hit often enough to resolve) and
  at the critical points (global minimizer, Prop. 1's saddle, :math:`\theta = \pi` point, with
  :math:`\|w\| = \|w^*\|` and :math:`0.3\|w^*\|`);
* vanishing: at the critical points :math:`E g^t_{relu}`, :math:`E g^t_{crelu}` against 0;
* correlation: the estimated :math:`\langle E g^t_\mu, \partial f/\partial w\rangle` is never
  significantly negative (:math:`z > -5`) at the random points; the smallest z is reported.

As a power check the Gaussian prediction without the factor (:math:`E g_{relu}`, :math:`c = 1`) is
compared too; its largest :math:`|z|` is reported (it should be large).
"""

from __future__ import annotations

import numpy as np
from scipy import special, stats

from ..critical import proposition1, w_at_angle
from ..engines import Quantity, expectations
from ..models import Model
from ..montecarlo import student_t
from .battery import Battery
from .result import Check, ClaimResult

__all__ = ["NU", "crelu_mixture", "remark2", "scale_mean"]

NU = 5.0
STES = ("relu", "clipped_relu", "identity")


def scale_mean(nu: float) -> float:
    r""":math:`c_\nu = E (\chi^2_\nu/\nu)^{-1/2} = \sqrt{\nu/2}\,\Gamma((\nu-1)/2)/\Gamma(\nu/2)`.

    >>> round(scale_mean(5.0), 6)
    1.189416
    """
    return float(np.sqrt(nu / 2) * np.exp(special.gammaln((nu - 1) / 2) - special.gammaln(nu / 2)))


def crelu_mixture(model: Model, v: np.ndarray, w: np.ndarray, nu: float, n_nodes: int = 400) -> np.ndarray:
    r""":math:`E_s[s\,E g_{crelu}(v, s w)]`, :math:`s = (\chi^2_\nu/\nu)^{-1/2}`: the clipped-ReLU
    expected coarse gradient under t rows (``derivations/remark2.md``); shape (n,).

    Trapezoid rule in :math:`t = \log s \in [-3, 12]` (``n_nodes`` nodes, one batched
    ``Model.coarse_grad`` call): the integrand is analytic and decays like :math:`e^{-5t}` and
    :math:`e^{-\nu e^{-2t}/2}` at the two ends, so the rule converges exponentially (agrees with
    adaptive ``quad_vec`` to ~1e-14, see the tests).
    """
    t = np.linspace(-3.0, 12.0, n_nodes)
    s = np.exp(t)
    density = stats.chi2.pdf(nu / s**2, nu) * 2 * nu / s**3  # density of s
    g = model.coarse_grad(v, s[:, None] * w[None], ste="clipped_relu")[1]
    return (t[1] - t[0]) * (density * s * s) @ g


def _z(est: Quantity, ref: np.ndarray, scale: float) -> float:
    """Largest |z|; a component with stderr 0 (e.g. every sample 0 at the global minimizer) must
    agree to ``1e-9 * scale``."""
    diff = np.atleast_1d(np.asarray(est.value, float) - ref)
    se = np.atleast_1d(np.asarray(est.error, float))
    tiny = 1e-9 * scale
    z = np.where(se > 0, diff / np.where(se > 0, se, 1.0), np.where(np.abs(diff) <= tiny, 0.0, np.inf))
    return float(np.max(np.abs(z)))


def _critical(model: Model) -> list[tuple[str, np.ndarray, np.ndarray]]:
    cp = proposition1(model.v_star)
    r = float(np.linalg.norm(model.w_star))
    out = []
    for k in (1.0, 0.3):
        out.append(("global", model.v_star, k * model.w_star))
        out.append(("pi", cp.spurious_v, w_at_angle(model.w_star, np.pi, k * r)))
        if cp.exists and 0 < cp.saddle_theta < np.pi:
            out.append(("saddle", cp.saddle_v, w_at_angle(model.w_star, cp.saddle_theta, k * r)))
    return out


class _Tally:
    """Worst z-scores over the points of Claim 8 (one Monte Carlo run with t rows per point, all STEs)."""

    def __init__(self, c: float) -> None:
        self.c = c
        self.worst = {"landscape": 0.0, "relu": 0.0, "clipped_relu": 0.0, "identity": 0.0, "vanish": 0.0}
        self.min_corr_z = {s: np.inf for s in STES}
        self.unscaled = 0.0
        self.resolved_positive = self.n_random = self.n_points = 0

    def add(self, model: Model, kind: str, v: np.ndarray, w: np.ndarray, mc: dict) -> None:
        """Compare the run ``mc`` at ``(v, w)`` (``kind`` "random" or a critical point) with the predictions."""
        self.n_points += 1
        worst = self.worst
        gv, gw = model.grad(v, w)
        sc = float(np.linalg.norm(v) + np.linalg.norm(model.v_star)) ** 2
        worst["landscape"] = max(
            worst["landscape"], _z(mc[STES[0]].loss, model.loss(v, w), sc), _z(mc[STES[0]].grad_v, gv, sc)
        )
        pred = {
            "relu": self.c * model.coarse_grad(v, w, "relu")[1],
            "identity": self.c * model.coarse_grad(v, w, "identity")[1],
            "clipped_relu": crelu_mixture(model, v, w, NU),
        }
        for ste in STES:
            worst[ste] = max(worst[ste], _z(mc[ste].coarse_grad_w, pred[ste], sc))
        if kind != "random":
            zero = np.zeros(model.n)
            for ste in ("relu", "clipped_relu"):
                worst["vanish"] = max(worst["vanish"], _z(mc[ste].coarse_grad_w, zero, sc))
            return
        self.unscaled = max(self.unscaled, _z(mc["relu"].coarse_grad_w, model.coarse_grad(v, w, "relu")[1], sc))
        self.n_random += 1
        for ste in STES:
            e = mc[ste].coarse_grad_w
            inner = float(e.value @ gw)
            se = float(np.sqrt(max(gw @ e.cov @ gw, 0.0)))
            zc = inner / se if se > 0 else np.sign(inner) * np.inf
            self.min_corr_z[ste] = min(self.min_corr_z[ste], zc)
            self.resolved_positive += zc > 5

    def checks(self) -> tuple[Check, ...]:
        """The claim's checks on the tally."""
        worst = self.worst
        return (
            Check("max |z| of loss and df/dv under t rows vs the Gaussian closed forms", worst["landscape"], "<", 5.0),
            Check("max |z| of E g_relu^t vs c_nu E g_relu", worst["relu"], "<", 5.0),
            Check("max |z| of E g_id^t vs c_nu E g_id", worst["identity"], "<", 5.0),
            Check("max |z| of E g_crelu^t vs E_s[s E g_crelu(v, s w)]", worst["clipped_relu"], "<", 5.0),
            Check("max |z| of E g_relu^t, E g_crelu^t vs 0 at critical points", worst["vanish"], "<", 5.0),
            Check(
                "min z of <E g^t, df/dw> at random points (never significantly negative)",
                min(self.min_corr_z.values()),
                ">",
                -5.0,
            ),
        )


def remark2(battery: Battery) -> ClaimResult:
    """Claim 8 on the battery's teachers with ``n >= 2``; see the module docstring."""
    thorough = battery.thorough
    n_samples = 200_000 if thorough else 50_000
    n_teachers = None if thorough else 3
    per_teacher = 6 if thorough else 2
    tally = _Tally(scale_mean(NU))
    rows = student_t(NU)
    for case in [case for case in battery.cases if case.model.n >= 2][:n_teachers]:
        model = case.model
        theta = model.theta(case.w)
        r = np.linalg.norm(case.w, axis=1)
        ok = np.flatnonzero((r >= 0.1) & (r <= 10) & (theta > 0) & (theta < np.pi))[:per_teacher]
        pts = [("random", case.v[i], case.w[i]) for i in ok] + _critical(model)
        seeds = case.rng(80).integers(0, 2**63, size=len(pts))
        for (kind, v, w), seed in zip(pts, seeds, strict=True):
            mc = expectations(
                model,
                v,
                w,
                STES,
                engine="monte_carlo",
                n_samples=n_samples,
                seed=int(seed),
                method="full",
                rows=rows,
                **battery.mc_options,
            )
            tally.add(model, kind, v, w, mc)
    values = {"c_nu": tally.c, "nu": NU, "samples_per_point": n_samples}
    values.update({f"min_corr_z_{s}": v for s, v in tally.min_corr_z.items()})
    values["(point, STE) pairs with <E g^t, df/dw> significantly > 0 (z > 5)"] = tally.resolved_positive
    values["(point, STE) pairs checked for the sign"] = tally.n_random * len(STES)
    values["power: max |z| of E g_relu^t vs unscaled E g_relu"] = tally.unscaled
    return ClaimResult(
        key="remark2",
        title="Rotation-invariant (Student t) rows",
        reference="Remark 2",
        method="full Monte Carlo, t(5) rows (z)",
        checks=tally.checks(),
        n_points=tally.n_points,
        values=values,
        headline=1,
    )
