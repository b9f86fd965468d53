r"""Critical points of the population loss: Proposition 1's formulas, and an independent search.

Two ways, kept apart so that one can check the other (:mod:`popgrad.claims.landscape` compares
them):

* :func:`proposition1` transcribes the paper literally.  With :math:`A = I + 11^\top`,
  :math:`s = 1^\top v^*`, :math:`N = \|v^*\|^2`: if :math:`s^2 < \tfrac{m+1}{2}N`,

  .. math::
      v_{saddle} = A^{-1}\Big(-\frac{s^2}{(m+1)N - s^2} I + 11^\top\Big)v^*, \qquad
      \theta_{saddle} = \frac{\pi}{2}\,\frac{(m+1)N}{(m+1)N - s^2},

  are saddle points and :math:`\theta = \pi,\ v = A^{-1}(11^\top - I)v^*` spurious local minimizers;
  otherwise neither exists.  Global minimizers: :math:`\theta = 0,\ v = v^*`.

* :func:`profile` and :func:`search` use :class:`popgrad.Model` as a black box.  For a fixed angle
  :math:`\theta` the loss is a strictly convex quadratic in ``v`` (Lemma 1), so
  :math:`F(\theta) = \min_v f(v, w_\theta)` is attained at the unique root ``v_opt`` of
  :math:`\partial f/\partial v`, found by a linear solve on ``Model.grad`` evaluated at ``v = 0`` and
  ``v = e_i``.  Critical points with :math:`\theta \in (0, \pi)` are the roots of
  :math:`\partial f/\partial\theta` along ``v_opt``; the end :math:`\theta = \pi` is a local minimizer
  when :math:`F` increases as :math:`\theta` leaves :math:`\pi`.  No formula of Proposition 1 is used.

With ``n = 1`` the angle takes only the values 0 and :math:`\pi` (``w`` is a signed scalar), so no
interior critical angle can be realised.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import optimize

from ._validate import as_vector_batch
from .models import Model

__all__ = ["CriticalPoints", "Profile", "SearchResult", "profile", "proposition1", "search", "w_at_angle"]


@dataclass(frozen=True)
class CriticalPoints:
    r"""Proposition 1's candidate points for one teacher.

    Attributes
    ----------
    condition : float
        :math:`\tfrac{m+1}{2}\|v^*\|^2 - (1^\top v^*)^2`; Prop. 1 predicts saddles and spurious
        minimizers iff it is > 0.
    exists : bool
        ``condition > 0``.
    global_v : (m,)   :math:`v^*` (with :math:`\theta = 0`).
    spurious_v : (m,)  :math:`(I+11^\top)^{-1}(11^\top - I)v^*` (with :math:`\theta = \pi`); always
        computed, a minimizer only if ``exists``.
    saddle_v : (m,)   the formula's saddle ``v`` (always computed).
    saddle_theta : float  the formula's saddle angle (may lie outside :math:`(0, \pi)`).
    """

    condition: float
    exists: bool
    global_v: np.ndarray
    spurious_v: np.ndarray
    saddle_v: np.ndarray
    saddle_theta: float


def proposition1(v_star: ArrayLike) -> CriticalPoints:
    r"""Proposition 1 of the paper, transcribed literally (``np.linalg.solve`` with :math:`I + 11^\top`).

    Parameters
    ----------
    v_star : array_like, shape (m,)

    Examples
    --------
    >>> cp = proposition1([1.0, -1.0])          # 1'v* = 0: saddle at v = 0, theta = pi/2
    >>> cp.exists, float(cp.saddle_theta / np.pi), cp.saddle_v.tolist(), cp.spurious_v.tolist()
    (True, 0.5, [0.0, 0.0], [-1.0, 1.0])
    """
    v_star = as_vector_batch(v_star, "v_star", batch=False)
    m = v_star.size
    eye, ones = np.eye(m), np.ones((m, m))
    a = eye + ones
    s, nn = float(v_star.sum()), float(v_star @ v_star)
    coef = -(s**2) / ((m + 1) * nn - s**2)
    saddle_v = np.linalg.solve(a, (coef * eye + ones) @ v_star)
    saddle_theta = 0.5 * np.pi * (m + 1) * nn / ((m + 1) * nn - s**2)
    spurious_v = np.linalg.solve(a, (ones - eye) @ v_star)
    condition = 0.5 * (m + 1) * nn - s**2
    return CriticalPoints(
        condition=condition,
        exists=bool(condition > 0),
        global_v=v_star.copy(),
        spurious_v=spurious_v,
        saddle_v=saddle_v,
        saddle_theta=float(saddle_theta),
    )


def _orthogonal_direction(w_star: np.ndarray) -> np.ndarray:
    """A fixed unit vector orthogonal to ``w_star`` (Gram--Schmidt on the least aligned basis vector)."""
    w_hat = w_star / np.linalg.norm(w_star)
    e = np.zeros_like(w_hat)
    e[np.argmin(np.abs(w_hat))] = 1.0
    d = e - (e @ w_hat) * w_hat
    return d / np.linalg.norm(d)


def random_orthogonal_directions(rng: np.random.Generator, w_star: ArrayLike, size: int) -> np.ndarray:
    """``size`` random unit vectors orthogonal to ``w_star`` (shape (size, n), n >= 2), uniform on that sphere.

    Gram--Schmidt runs twice: one pass leaves about eps/|d| of ``w_star`` in ``d`` ("twice is enough").
    """
    w_hat = as_vector_batch(w_star, "w_star", batch=False)
    w_hat = w_hat / np.linalg.norm(w_hat)
    d = rng.standard_normal((size, w_hat.size))
    for _ in range(2):
        d -= (d @ w_hat)[:, None] * w_hat
    return d / np.linalg.norm(d, axis=1, keepdims=True)


def w_at_angle(
    w_star: ArrayLike, theta: ArrayLike, r: ArrayLike = 1.0, direction: ArrayLike | None = None
) -> np.ndarray:
    r""":math:`w = r(\cos\theta\,\hat w^* + \sin\theta\,d)`: a filter at angle ``theta`` from ``w_star``.

    Parameters
    ----------
    w_star : array_like, shape (n,)
    theta : array_like, shape (...)    angles in :math:`[0, \pi]`; with ``n = 1`` only 0 and :math:`\pi`.
    r : array_like, shape (...)        norms (> 0), broadcast against ``theta``.
    direction : array_like, shape (..., n), optional
        Unit vectors orthogonal to ``w_star`` (default: a fixed one).  Not re-orthogonalised.

    Returns
    -------
    ndarray, shape (..., n)

    Examples
    --------
    >>> w = w_at_angle([0.0, 2.0], np.pi / 3, r=2.0)
    >>> w.round(12).tolist()
    [1.732050807569, 1.0]
    """
    w_star = as_vector_batch(w_star, "w_star", batch=False)
    theta = np.asarray(theta, dtype=np.float64)
    r = np.asarray(r, dtype=np.float64)
    if np.any((theta < 0) | (theta > np.pi)) or not np.all(np.isfinite(theta)):
        raise ValueError("theta must lie in [0, pi]")
    if np.any(r <= 0) or not np.all(np.isfinite(r)):
        raise ValueError("r must be positive and finite")
    w_hat = w_star / np.linalg.norm(w_star)
    cos, sin = np.cos(theta), np.sin(theta)
    cos = np.where(theta == np.pi, -1.0, cos)
    sin = np.where(theta == np.pi, 0.0, sin)
    if w_star.size == 1:
        if np.any((theta != 0) & (theta != np.pi)):
            raise ValueError("with n = 1 the angle can only be 0 or pi")
        return (r * cos)[..., None] * w_hat
    d = _orthogonal_direction(w_star) if direction is None else as_vector_batch(direction, "direction", w_star.size)
    return (r * cos)[..., None] * w_hat + (r * sin)[..., None] * d


@dataclass(frozen=True)
class Profile:
    r""":math:`F(\theta) = \min_v f(v, w_\theta)` and its derivative, from ``Model`` as a black box.

    Every attribute has the batch shape of ``theta``.

    Attributes
    ----------
    theta : (...)
    v_opt : (..., m)   the minimizing ``v`` (root of :math:`\partial f/\partial v`)
    value : (...)      :math:`F(\theta)`
    slope : (...)      :math:`\partial f/\partial\theta` at ``(v_opt, w_theta)``
                       (= :math:`dF/d\theta` by the envelope theorem); 0 at :math:`\theta \in \{0, \pi\}`
                       where ``Model.grad`` returns the Clarke element 0.
    """

    theta: np.ndarray
    v_opt: np.ndarray
    value: np.ndarray
    slope: np.ndarray


def profile(model: Model, theta: ArrayLike, r: float = 1.0) -> Profile:
    r"""Evaluate :class:`Profile` at angles ``theta`` (shape (...)), filters of norm ``r``.

    :math:`\partial f/\partial v` is affine in ``v``: :math:`\partial f/\partial v = Mv + c` with
    :math:`c = \partial f/\partial v|_{v=0}` and columns :math:`M e_i = \partial f/\partial v|_{v=e_i} - c`;
    ``v_opt`` solves :math:`Mv = -c`.  :math:`\partial f/\partial\theta = \partial f/\partial w \cdot
    \partial w_\theta/\partial\theta` with :math:`w_\theta` from :func:`w_at_angle`.
    """
    theta = np.asarray(theta, dtype=np.float64)
    m, n = model.m, model.n
    w = w_at_angle(model.w_star, theta, r)  # (..., n)
    probes = np.concatenate([np.zeros((1, m)), np.eye(m)])  # (m+1, m)
    gv, _ = model.grad(probes, w[..., None, :])  # (..., m+1, m)
    gv = np.asarray(gv)
    c = gv[..., 0, :]
    mat = np.swapaxes(gv[..., 1:, :] - c[..., None, :], -1, -2)  # columns M e_i
    v_opt = np.linalg.solve(mat, -c[..., None])[..., 0]
    _, gw = model.grad(v_opt, w)
    if n == 1:
        dw = np.zeros_like(w)
    else:
        w_hat = model.w_star / np.linalg.norm(model.w_star)
        d = _orthogonal_direction(model.w_star)
        dw = r * (-np.sin(theta)[..., None] * w_hat + np.cos(theta)[..., None] * d)
    slope = np.einsum("...i,...i->...", np.asarray(gw), dw)
    return Profile(theta=theta, v_opt=v_opt, value=np.asarray(model.loss(v_opt, w)), slope=slope)


@dataclass(frozen=True)
class SearchResult:
    r"""Critical points found by :func:`search` (no use of Proposition 1).

    Attributes
    ----------
    saddle_theta : (k,) interior angles where :math:`dF/d\theta = 0` and :math:`F` has a local
        maximum (so :math:`f` has a saddle: convex in ``v``, decreasing along the profile).
    interior_theta : (k',) all interior roots of :math:`dF/d\theta` (saddles, minima or degenerate).
    saddle_v : (k, m)
    spurious : bool   whether :math:`\theta = \pi` with ``v_opt(pi)`` is a local minimizer
        (``F`` increases as :math:`\theta` leaves :math:`\pi`; with ``n = 1`` :math:`\theta` cannot
        leave :math:`\pi` without ``w`` crossing 0, so it is one).
    spurious_v : (m,)  ``v_opt(pi)``
    spurious_rise : float  :math:`F(\pi - h) - F(\pi)` for the step ``h`` used (nan with ``n = 1``).
    """

    saddle_theta: np.ndarray
    interior_theta: np.ndarray
    saddle_v: np.ndarray
    spurious: bool
    spurious_v: np.ndarray
    spurious_rise: float


def search(model: Model, n_grid: int = 2049, h: float = 1e-6) -> SearchResult:
    r"""Find the critical points of ``model``'s loss from :func:`profile` alone.

    Roots of :math:`dF/d\theta` are bracketed on a uniform grid of ``n_grid`` interior angles (plus
    :math:`h` and :math:`\pi - h`, so that roots next to the ends are bracketed too) and
    refined by Brent's method (``xtol`` 4 ulps of :math:`\pi`); each is a saddle when
    :math:`dF/d\theta` changes sign from + to − (a local maximum of :math:`F`).  :math:`\theta = \pi`
    is a local minimizer when :math:`F(\pi - h) > F(\pi)`; a double-check uses :math:`F(\pi - 10h)`.
    """
    if model.n == 1:
        p = profile(model, np.array([np.pi]))
        empty = np.empty(0)
        return SearchResult(empty, empty, np.empty((0, model.m)), True, p.v_opt[0], float("nan"))
    # interior grid plus h and pi - h: a saddle closer to an end than one grid step must still be bracketed
    grid = np.concatenate([[h], np.linspace(0.0, np.pi, n_grid + 2)[1:-1], [np.pi - h]])
    slope = profile(model, grid).slope
    roots, kinds = [], []
    for i in np.flatnonzero(np.sign(slope[:-1]) * np.sign(slope[1:]) <= 0):
        if slope[i + 1] == 0:
            continue  # an exact zero on the grid: handled as the left end of the next bracket
        if slope[i] == 0:  # exact zero at grid[i]: a local maximum of F if the slope turns + to -
            roots.append(grid[i])
            kinds.append(i > 0 and slope[i - 1] > 0 and slope[i + 1] < 0)
            continue
        roots.append(
            optimize.brentq(lambda t: float(profile(model, t).slope), grid[i], grid[i + 1], xtol=4 * np.pi * 2.0**-52)
        )
        kinds.append(slope[i] > 0 > slope[i + 1])
    interior = np.array(roots)
    saddles = interior[np.array(kinds, dtype=bool)] if roots else np.empty(0)
    saddle_v = profile(model, saddles).v_opt if saddles.size else np.empty((0, model.m))
    ends = profile(model, np.array([np.pi, np.pi - h, np.pi - 10 * h]))
    rise = ends.value[1:] - ends.value[0]
    return SearchResult(
        saddle_theta=saddles,
        interior_theta=interior,
        saddle_v=saddle_v,
        spurious=bool(np.all(rise > 0)),
        spurious_v=ends.v_opt[0],
        spurious_rise=float(rise[0]),
    )
