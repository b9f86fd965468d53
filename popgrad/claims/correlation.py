r"""Claim 3: positive correlation of the expected coarse gradient with the true gradient.

Lemmas 5, 7, 10: for :math:`\theta \in (0, \pi)`,
:math:`\langle E g_\mu, \partial f/\partial w\rangle \ge 0` and equals

* ReLU: :math:`\frac{\sin\theta}{2(\sqrt{2\pi})^3\|w\|}(v^\top v^*)^2`,
* identity: :math:`\frac{\sin\theta}{(\sqrt{2\pi})^3\|w\|}(v^\top v^*)^2`,
* clipped ReLU: :math:`\frac{q(\theta, w)}{2\pi\|w\|}(v^\top v^*)^2` (``q`` by quadrature).

Measured as the dot product of the two vectors from ``Model.coarse_grad`` and ``Model.grad``,
compared with the paper's transcriptions (:mod:`popgrad.claims.paper`) and with
``Model.correlation``.  Tolerance per point, from the error bound of a dot product of vectors whose
components carry relative errors of a few ulps of their summands:
:math:`64(n+4)\varepsilon\,S_g\|\partial f/\partial w\| + 64\varepsilon|\text{value}|` (+ quad's
error estimate), :math:`S_g = (\|v\|^2 + (1^\top v)^2 + |1^\top v\,1^\top v^*| + |v^\top v^*|)/\sqrt{2\pi}`.
The full-vector inner product :math:`\|\partial f/\partial v\|^2 + \langle E g_\mu, \partial f/\partial w\rangle`
must be > 0 at every point (none is critical); the smallest cosine is reported.
"""

from __future__ import annotations

import numpy as np

from . import paper
from ._common import EPS, dot, norm
from .battery import Battery, case_points
from .result import Check, ClaimResult

__all__ = ["STES", "correlation"]

STES = ("relu", "clipped_relu", "identity")


def gradient_scale(v: np.ndarray, v_star: np.ndarray) -> np.ndarray:
    """The natural size of the inner products of the claims: ``(|v|^2 + (1'v)^2 + |1'v 1'v*| + |v'v*|) / sqrt(2 pi)``.

    A bound, up to a constant, on the magnitude of each term of ``<E g, df/dw>``; the claims measure rounding
    against it. ``v (..., m)``, ``v_star (m,)``; returns ``(...)``.
    """
    s = v.sum(-1)
    return (dot(v, v) + s**2 + np.abs(s * v_star.sum()) + np.abs(v @ v_star)) / paper.SQRT_2PI


def correlation(battery: Battery) -> ClaimResult:
    """Claim 3 over the battery points with :math:`\\theta \\in (0, \\pi)`."""
    worst_sign = {s: -np.inf for s in STES}
    worst_paper = {s: 0.0 for s in STES}
    worst_model = {s: 0.0 for s in STES}
    min_inner = {s: np.inf for s in STES}
    min_cos = {s: np.inf for s in STES}
    min_cos_w = {s: np.inf for s in STES}
    n_points = 0
    masks = []
    for case in battery.cases:
        model = case.model
        theta = model.theta(case.w)
        keep = (theta > 0) & (theta < np.pi)
        masks.append(keep)
        if not np.any(keep):
            continue
        v, w = case.v[keep], case.w[keep]
        n_points += int(keep.sum())
        gv, gw = model.grad(v, w)
        scale_g = gradient_scale(v, model.v_star)
        for ste in STES:
            _, g = model.coarse_grad(v, w, ste=ste)
            corr = model.correlation(v, w, ste=ste)
            inner = dot(g, gw)
            tol = 64 * (model.n + 4) * EPS * scale_g * norm(gw)
            ref_err: float | np.ndarray
            if ste == "relu":
                ref, ref_err, idx = paper.inner_lemma5(v, model.v_star, w, model.w_star), 0.0, slice(None)
            elif ste == "identity":
                ref, ref_err, idx = paper.inner_lemma10(v, model.v_star, w, model.w_star), 0.0, slice(None)
            else:
                idx = slice(0, battery.n_quad)
                ref, ref_err = paper.inner_lemma7(v[idx], model.v_star, w[idx], model.w_star)
            worst_sign[ste] = max(worst_sign[ste], float(np.max(-inner / tol)))
            err_paper = np.abs(inner[idx] - ref) / (tol[idx] + 64 * EPS * np.abs(ref) + ref_err)
            worst_paper[ste] = max(worst_paper[ste], float(np.max(err_paper)))
            err_model = np.abs(inner - corr.inner_w) / (tol + 64 * EPS * np.abs(corr.inner_w))
            worst_model[ste] = max(worst_model[ste], float(np.max(err_model)))
            full = dot(gv, gv) + inner
            cos = full / (np.sqrt(dot(gv, gv) + dot(g, g)) * np.sqrt(dot(gv, gv) + dot(gw, gw)))
            min_inner[ste] = min(min_inner[ste], float(np.min(full)))
            min_cos[ste] = min(min_cos[ste], float(np.min(cos)))
            min_cos_w[ste] = min(min_cos_w[ste], float(np.min(inner / (norm(g) * norm(gw)))))
    checks = []
    for ste in STES:
        checks += [
            Check(f"{ste}: max -<E g, df/dw> / tol (>= 0 up to rounding)", worst_sign[ste], "<=", 1.0),
            Check(f"{ste}: max |<E g, df/dw> - paper's closed form| / tol", worst_paper[ste], "<=", 1.0),
            Check(f"{ste}: max |<E g, df/dw> - Model.correlation| / tol", worst_model[ste], "<=", 1.0),
            Check(f"{ste}: min full inner product <(df/dv, E g), grad f>", min_inner[ste], ">", 0.0),
        ]
    values = {f"min_cos_{s}": min_cos[s] for s in STES}
    values.update({f"min_cos_w_{s}": min_cos_w[s] for s in STES})
    values["quad_points_per_teacher"] = battery.n_quad
    return ClaimResult(
        key="correlation",
        title="Positive correlation of E g with grad f",
        reference="Lemmas 5, 7, 10",
        method="closed form vs paper (+ quad for q)",
        checks=tuple(checks),
        n_points=n_points,
        values=values,
        points=case_points(battery.cases, masks),
        headline=1,
    )
