r"""Unbiased per-sample estimators of the true gradient :math:`\partial f/\partial w_k`, which has no sample-wise
form (:math:`\sigma' = 0` almost everywhere).

* :func:`boundary` (default; ``derivations/boundary_estimator.md``): for every committee and staircase
  :math:`\sigma(x) = \sum_l J_l 1\{x > t_l\}`, conditional Monte Carlo on the switching surfaces
  :math:`z_i^\top w_k = t_l`:

  .. math:: \frac{\partial f}{\partial w_k} = \sum_i\sum_l \frac{\varphi(t_l/r_k)}{r_k}
            E\big[\Delta_{k,i,l}\, z_i^{(k,l)}\big],\qquad
            z_i^{(k,l)} = \frac{t_l}{r_k}\hat w_k + P_{w_k} z_i,

  :math:`r_k = \|w_k\|`, :math:`\Delta_{k,i,l} = V_{ki}J_l(e_0 + V_{ki}J_l/2)` the change of :math:`\ell` when
  unit (k, i) steps up at :math:`t_l`, :math:`e_0` the residual with that unit at its lower level and every
  other unit of row i evaluated at :math:`z_i^{(k,l)}`.  One draw of Z serves every term: term (k, i, l)
  replaces the :math:`\hat w_k` component of row i by :math:`t_l/r_k`.  Bounded variance at every angle.

* :func:`score` (``derivations/score_function.md``): the likelihood-ratio estimator of the one-filter binary
  model, :math:`-\frac{u}{r}E[\sum_i a_i(e - a_i/2)(\cot\theta(y_i^2 - 1) - x_iy_i)]`.  Variance grows like
  :math:`\cot^2\theta`.

Both return :math:`r_k\,\widehat{\partial f/\partial w_k}` per sample, shape (N, K, D) in the rows'
coordinates: the factor :math:`1/r_k` is applied to the merged moments, so that neither the samples nor
their second moments under- or overflow at extreme :math:`\|w_k\|`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._sampling import Point, Terms, along, combine, levels, preactivations, row_sums
from .gaussian import PHI0

__all__ = ["NEAR", "Geometry", "ScoreAxes", "boundary", "score"]

NEAR = 2.0**-20
r""":math:`\sin^2\theta` below which two filters count as nearly parallel (:math:`\theta \lesssim 10^{-3}`)."""


@dataclass(frozen=True)
class Geometry:
    r"""The student filters' geometry (from exact arithmetic, :mod:`popgrad._exact_plane`).

    On the surface :math:`z_i^\top w_k = t_l` every unit of row i has the pre-activation
    :math:`t_l\,\text{along}_{ka} + z_i^\top P_{w_k}w_a`.  The second term is the difference
    :math:`z_i^\top w_a - \text{along}_{ka} z_i^\top w_k` of the pre-activations (relative rounding error
    :math:`\lesssim 4\epsilon/\sin\theta_{ka} \le 2^{-40}`) unless the filters are :data:`NEAR` parallel, where that
    difference would be rounding noise; there it is computed from the rows' coordinates
    :math:`c_i = Q^\top z_i` in the span's basis Q and the exact coordinates of :math:`P_{w_k}w_a` (a few ulps), and
    it is exactly 0 where the filters are parallel.

    Attributes
    ----------
    units : (K, D)        :math:`\hat w_k` in the rows' coordinates
    norms : (K,)          :math:`r_k`
    along : (K, F)        :math:`\hat w_k^\top w_a / r_k` for every filter a (students, then teachers)
    perp : (K, F, d)      coordinates of :math:`P_{w_k}w_a` in Q, times :math:`2^{-s_a}`
    sin2 : (K, F)         :math:`\sin^2\theta_{ka}`
    exponents : (F,)      :math:`s_a`
    basis : (n, d) or None   Q, to take the coordinates of full rows (None: the rows are coordinates)
    """

    units: np.ndarray
    norms: np.ndarray
    along: np.ndarray
    perp: np.ndarray
    sin2: np.ndarray
    exponents: np.ndarray
    basis: np.ndarray | None


@dataclass(frozen=True)
class ScoreAxes:
    r""":math:`\hat w` and u (rows' coordinates, (D,) each) and :math:`\cot\theta` of the one-filter model."""

    x: np.ndarray
    y: np.ndarray
    cot: float


def _density(t: float, r: float) -> tuple[float, float]:
    r""":math:`(\varphi(t/r), t/r)`; the density is 0 where :math:`t/r` overflows."""
    with np.errstate(over="ignore", divide="ignore"):
        tau = float(np.float64(t) / np.float64(r))
    return (PHI0 * math.exp(-0.5 * tau * tau) if math.isfinite(tau) else 0.0), tau


def boundary(X: np.ndarray, point: Point, geom: Geometry, t: Terms) -> np.ndarray:
    r"""Per-sample :math:`r_k\,\widehat{\partial f/\partial w_k}`, (N, K, D), for the rows ``X`` and their
    :class:`~popgrad._sampling.Terms` ``t`` (module docstring)."""
    act = point.activation
    _, N, m = t.pre.shape
    K = point.K
    C = point.weights
    a = np.zeros((K, N, m))
    b = np.zeros((N, K))
    others = t.e[:, None] - t.rows  # e without row i's units
    coords = None
    for k in range(K):
        # pre-activations on the surface z_i^T w_k = t_l, less t_l along[k, a]: z_i^T P_{w_k} w_a
        moving = np.flatnonzero(np.any(geom.perp[k] != 0, axis=1))  # not parallel to w_k
        fixed = np.setdiff1d(np.arange(C.shape[0]), moving)  # parallel (unit k itself among them): 0 exactly
        near = geom.sin2[k, moving] < NEAR
        perp = t.pre[moving] - geom.along[k, moving][:, None, None] * t.pre[k]
        if np.any(near):
            if coords is None:
                coords = X if geom.basis is None else (geom.basis.T @ X.reshape(N * m, -1).T).reshape(-1, N, m)
            idx = moving[near]
            perp[near] = preactivations(
                coords, Point(point.V, point.V_star, act, geom.perp[k, idx], geom.exponents[idx], True)
            )
        for tl, jl in zip(act.thresholds, act.jumps, strict=True):
            dens, tau = _density(tl, geom.norms[k])
            if dens == 0.0:
                continue
            rows = levels(act, tl * geom.along[k, fixed]) @ C[fixed]  # (m,): unit k at t_l, its lower level
            if moving.size:
                pre = perp + (tl * geom.along[k, moving])[:, None, None]
                rows = row_sums(levels(act, pre), C[moving]) + rows
            jump = point.V[k] * jl
            delta = jump * (others + rows + 0.5 * jump)
            a[k] += dens * delta
            if tau != 0.0:
                b[:, k] += (dens * tau) * (delta @ np.ones(m))
    g = combine(X, a, point.coord_major)
    g -= geom.units * np.einsum("bkd,kd->bk", g, geom.units)[:, :, None]
    g += b[:, :, None] * geom.units
    return g


def score(X: np.ndarray, point: Point, axes: ScoreAxes, t: Terms) -> np.ndarray:
    r"""Per-sample :math:`r\,\widehat{\partial f/\partial w}` of the one-filter binary model, (N, 1, D)."""
    x, y = along(X, axes.x, point.coord_major), along(X, axes.y, point.coord_major)
    a = t.rows  # a_i = v_i s_i - v*_i t_i
    dl = a * (t.e[:, None] - 0.5 * a)  # l - l^{(-i)}: the part of l that depends on row i
    weight = np.einsum("bi,bi->b", dl, axes.cot * (y * y - 1.0) - x * y)
    return -weight[:, None, None] * axes.y
