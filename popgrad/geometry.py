r"""Geometry of the plane :math:`P = \mathrm{span}\{w, w^*\}`: the angle and an orthonormal basis.

Rows of :math:`Z` are isotropic, so every expectation in the paper depends on ``w`` and
``w_star`` only through

* :math:`r = \|w\|`,
* :math:`\hat w = w/\|w\|` and :math:`\hat w^* = w^*/\|w^*\|`,
* :math:`\theta = \angle(w, w^*) \in [0, \pi]`,
* :math:`u`, the unit vector of :math:`\hat w^* - (\hat w^{*\top}\hat w)\hat w`
  (so that :math:`\hat w^* = \cos\theta\,\hat w + \sin\theta\,u`); ``u = 0`` where
  :math:`\sin\theta = 0` (the plane degenerates to a line).

Accuracy.  The textbook ``arccos`` loses half the digits near 0 and :math:`\pi`.  Here
:math:`\theta = \operatorname{atan2}(\sin\theta, \cos\theta)` where, when the vectors are nearly
(anti)parallel, :math:`\sin\theta` and ``u`` come from the perpendicular component
:math:`N = \|w\|^2 w^* - (w^\top w^*)\,w` (so :math:`\|N\| = \|w\|^2\|w^*\|\sin\theta`), with
:math:`\|w\|^2` and :math:`w^\top w^*` as compensated (double-double) dot products and every
:math:`N_i` from error-free products (:mod:`popgrad._compensated`), on copies of ``w`` and
``w_star`` scaled by exact powers of two; O(n) time and memory.  So :math:`\theta`,
:math:`\sin\theta` and ``u`` are correct to a few ulps *relative* down to
:math:`\theta = 10^{-300}`, for the float64 vectors as given (``tests/test_geometry.py``
measures them against 50-digit mpmath), and exactly parallel vectors give exactly
:math:`\sin\theta = 0`, ``u = 0``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from ._compensated import dot2, two_prod
from ._validate import as_vector_batch, check_nonzero_rows

__all__ = ["Plane", "angle", "plane"]

# Below this value of sin(theta) the cheap projection loses more than a few ulps of relative accuracy
# in u; the compensated path (_perp_sin_and_u) takes over.
_NEAR_PARALLEL = 0.25


@dataclass(frozen=True)
class Plane:
    """Invariants of ``(w, w_star)``; arrays with batch shape ``(...)`` or ``(..., n)``.

    Attributes
    ----------
    r : (...)           norm of ``w``
    r_star : (...)      norm of ``w_star`` (broadcast to the batch)
    norm_gap : (...)    ``r_star - r``, to a few ulps of itself even when the norms nearly agree
    w_hat : (..., n)    ``w / ‖w‖``
    w_star_hat : (..., n)  ``w_star / ‖w_star‖`` (broadcast to the batch)
    u : (..., n)        unit vector of the component of ``w_star_hat`` orthogonal to ``w``;
                        exactly 0 where ``sin_theta == 0``
    theta, cos_theta, sin_theta : (...)   the angle and its cosine and sine
    """

    r: np.ndarray
    r_star: np.ndarray
    norm_gap: np.ndarray
    w_hat: np.ndarray
    w_star_hat: np.ndarray
    u: np.ndarray
    theta: np.ndarray
    cos_theta: np.ndarray
    sin_theta: np.ndarray


def _exact_scale(x: np.ndarray) -> np.ndarray:
    """Scale each row of ``x`` (k, n) by a power of two so that its largest entry is in [0.5, 1).

    Multiplying by a power of two is exact, so directions are untouched, and norms neither
    overflow nor underflow whatever the magnitude of ``x``.
    """
    _, exponent = np.frexp(np.max(np.abs(x), axis=-1, keepdims=True))
    return np.ldexp(x, -exponent)


def _norm(x: np.ndarray) -> np.ndarray:
    return np.sqrt(np.einsum("...i,...i->...", x, x))


# Squared norms inside this range are computed without harmful overflow or underflow: the
# largest entry squared is at most the sum, and entries whose squares underflow are then
# negligible.  Rows outside it are scaled exactly first (rare: |x| < 1e-140 or > 1e140).
_SAFE_SQ = (1e-280, 1e280)


def _unit_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Norms and unit vectors of the rows of ``x`` (k, n), for any magnitude of the entries."""
    sq = np.einsum("ki,ki->k", x, x)
    r = np.sqrt(sq)
    unsafe = ~((sq > _SAFE_SQ[0]) & (sq < _SAFE_SQ[1]))
    if np.any(unsafe):
        _, exponent = np.frexp(np.max(np.abs(x[unsafe]), axis=-1))
        scaled = np.ldexp(x[unsafe], -exponent[:, None])  # exact; largest entry in [0.5, 1)
        scaled_norm = _norm(scaled)
        r[unsafe] = np.ldexp(scaled_norm, exponent)  # overflows only if the norm itself does
        r_safe = np.where(unsafe, 1.0, r)
        x_hat = x / r_safe[:, None]
        x_hat[unsafe] = scaled / scaled_norm[:, None]
        return r, x_hat
    return r, x / r[:, None]


def _norm2(x: np.ndarray) -> np.ndarray:
    """Row norms of ``x`` (k, n) to within about one ulp, whatever n (compensated sum of squares)."""
    hi, lo = dot2(x, x)
    return np.sqrt(hi + lo)


def _exactly_parallel(ws: np.ndarray, wss: np.ndarray) -> np.ndarray:
    """Rows (k,) where ``w_i w*_j == w*_i w_j`` for all i, j, decided exactly in O(n).

    With ``j`` the largest entry of ``w`` (non-zero), every 2x2 minor vanishes iff those through
    ``j`` do; a product is compared exactly through its error-free (rounded, error) pair.
    """
    j = np.argmax(np.abs(ws), axis=1)[:, None]
    p1, e1 = two_prod(ws, np.take_along_axis(wss, j, axis=1))
    p2, e2 = two_prod(wss, np.take_along_axis(ws, j, axis=1))
    return np.all((p1 == p2) & (e1 == e2), axis=1)


def _perp_sin_and_u(ws: np.ndarray, wss: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """sin(theta) and u of scaled vectors ``ws, wss`` (k, n), in O(kn) time and memory.

    ``N = ‖w‖² w* - (w·w*) w`` is the component of ``w*`` orthogonal to ``w`` times ``‖w‖²``,
    so ``|N| = ‖w‖² ‖w*‖ sin(theta)`` and ``u = N/|N|``.  ``‖w‖²`` and ``w·w*`` come from
    :func:`dot2` (double-double) and each ``N_i`` from error-free products, so ``N`` has a
    relative error of a few ulps plus ``O(u²)``-relative errors *along w* (from the double-double
    rounding).  Those shift ``|N|`` only to second order; one refinement ``N -= (w·N/‖w‖²) w``
    with a compensated ``w·N`` removes them for ``u``.
    """
    s_hi, s_lo = dot2(ws, ws)
    c_hi, c_lo = dot2(ws, wss)
    p1, e1 = two_prod(s_hi[:, None], wss)
    p2, e2 = two_prod(c_hi[:, None], ws)
    # p1 - p2 is exact where p1, p2 are within a factor 2 (Sterbenz) and relatively accurate elsewhere
    perp = (p1 - p2) + ((e1 - e2) + (s_lo[:, None] * wss - c_lo[:, None] * ws))
    top = np.where(_exactly_parallel(ws, wss), 0.0, np.max(np.abs(perp), axis=1))
    nonzero = top > 0
    _, exponent = np.frexp(np.where(nonzero, top, 1.0))
    perp = np.ldexp(perp, -exponent[:, None])  # exact: entries in [0.5, 1) at most
    along_hi, along_lo = dot2(ws, perp)
    perp -= ((along_hi + along_lo) / s_hi)[:, None] * ws
    perp_norm = _norm2(perp)
    nonzero &= perp_norm > 0
    sin = np.ldexp(perp_norm, exponent) / (s_hi * _norm2(wss))
    u = np.divide(perp, perp_norm[:, None], out=np.zeros_like(perp), where=nonzero[:, None])
    return np.where(nonzero, np.minimum(sin, 1.0), 0.0), u


_CLOSE_NORMS = 2.0**-20  # below this relative gap, r_star - r is recomputed without cancellation


def _norm_gap(x: np.ndarray, y: np.ndarray, rx: np.ndarray, ry: np.ndarray, same: np.ndarray) -> np.ndarray:
    """``|y| - |x|`` for rows of ``x, y`` (k, n): ``(|y|^2 - |x|^2)/(|x| + |y|)``, the squares in double-double.

    Where the norms nearly agree the plain difference of the rounded norms keeps only its last bits; the
    squares' difference is exact to first order (their leading parts are within a factor 2: Sterbenz).
    Rows flagged ``same`` (identical ``x`` and ``y``) have the gap 0 exactly.
    """
    gap = np.where(same, 0.0, ry - rx)
    close = (np.abs(gap) <= _CLOSE_NORMS * np.maximum(rx, ry)) & ~same
    if np.any(close):
        both = np.concatenate([x[close], y[close]], axis=1)
        _, exponent = np.frexp(np.max(np.abs(both), axis=1))
        xs, ys = np.ldexp(x[close], -exponent[:, None]), np.ldexp(y[close], -exponent[:, None])  # exact
        x_hi, x_lo = dot2(xs, xs)
        y_hi, y_lo = dot2(ys, ys)
        diff = (y_hi - x_hi) + (y_lo - x_lo)
        gap[close] = np.ldexp(diff / (np.sqrt(x_hi + x_lo) + np.sqrt(y_hi + y_lo)), exponent)
    return gap


def plane_of_arrays(w: np.ndarray, w_star: np.ndarray) -> Plane:
    """:func:`plane` without validation; ``w (..., n)``, ``w_star (n,)`` or ``(..., n)``, non-zero."""
    n = w.shape[-1]
    batch = np.broadcast_shapes(w.shape[:-1], w_star.shape[:-1])
    w2 = np.broadcast_to(w, (*batch, n)).reshape(-1, n)
    r, w_hat = _unit_rows(w2)
    # normalise w_star on its own shape (e.g. one teacher for a whole batch), then broadcast
    r_star, w_star_hat = _unit_rows(w_star.reshape(-1, n))
    r_star, w_star_hat = r_star.reshape(w_star.shape[:-1]), w_star_hat.reshape(w_star.shape)
    if w_star.size == n:  # one vector for the whole batch
        w_star_hat = w_star_hat.reshape(n)
        c0 = w_hat @ w_star_hat
    else:
        w_star_hat = np.broadcast_to(w_star_hat, (*batch, n)).reshape(-1, n)
        c0 = np.einsum("ki,ki->k", w_hat, w_star_hat)
    d = w_star_hat - c0[:, None] * w_hat
    sd = _norm(d)
    hyp = np.hypot(sd, c0)
    sin = sd / hyp
    cos = c0 / hyp
    u = np.divide(d, sd[:, None], out=np.zeros_like(d), where=sd[:, None] > 0)
    w_star_rows = np.broadcast_to(w_star, (*batch, n)).reshape(-1, n)
    # identical rows (e.g. each filter paired with itself) are exactly parallel: what the compensated path
    # would return for them (sin 0, u 0, cos 1) without its cost
    same = np.all(w2 == w_star_rows, axis=1)
    sin[same], u[same], cos[same] = 0.0, 0.0, 1.0
    near = (sd < _NEAR_PARALLEL) & ~same
    if np.any(near):
        ws_near = _exact_scale(w2[near])
        wss_near = _exact_scale(w_star_rows[near])
        s_near, u_near = _perp_sin_and_u(ws_near, wss_near)
        sin[near] = s_near
        u[near] = u_near
        cos[near] = np.copysign(np.sqrt((1.0 - s_near) * (1.0 + s_near)), c0[near])
    theta = np.arctan2(sin, cos)
    vec = (*batch, n)
    r_star_rows = np.broadcast_to(r_star, batch).reshape(-1)
    return Plane(
        r=r.reshape(batch),
        r_star=np.broadcast_to(r_star, batch),
        norm_gap=_norm_gap(w2, w_star_rows, r, r_star_rows, same).reshape(batch),
        w_hat=w_hat.reshape(vec),
        w_star_hat=np.broadcast_to(w_star_hat.reshape(-1, n), (np.prod(batch, dtype=int), n)).reshape(vec),
        u=u.reshape(vec),
        theta=theta.reshape(batch),
        cos_theta=cos.reshape(batch),
        sin_theta=sin.reshape(batch),
    )


def plane(w: ArrayLike, w_star: ArrayLike) -> Plane:
    """Invariants of the plane span{w, w_star}; see :class:`Plane`.

    Parameters
    ----------
    w : array_like, shape (..., n)
        Non-zero first-layer weights.
    w_star : array_like, shape (..., n)
        Non-zero teacher weights; broadcast against ``w``.
    """
    w = as_vector_batch(w, "w")
    w_star = as_vector_batch(w_star, "w_star", w.shape[-1])
    check_nonzero_rows(w, "w", "its direction, and so the angle, is undefined")
    check_nonzero_rows(w_star, "w_star", "its direction, and so the angle, is undefined")
    return plane_of_arrays(w, w_star)


def angle(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    r"""Angle between vectors ``a`` and ``b`` in radians, in :math:`[0, \pi]`.

    :math:`\theta = \operatorname{atan2}(\|a \wedge b\|, a\cdot b)`, accurate to a few ulps
    relative for every angle (see the module docstring), not ``arccos``.

    Parameters
    ----------
    a, b : array_like, shape (..., n)
        Non-zero vectors; leading axes broadcast.

    Returns
    -------
    ndarray, shape (...)

    Examples
    --------
    >>> import popgrad as pg
    >>> float(pg.angle([1.0, 0.0], [0.0, 2.0]))  # doctest: +ELLIPSIS
    1.5707963267948...
    >>> float(pg.angle([1.0, 0.0], [1.0, 1e-12]))
    1e-12
    """
    a = as_vector_batch(a, "a")
    b = as_vector_batch(b, "b", a.shape[-1])
    check_nonzero_rows(a, "a", "the angle to a zero vector is undefined")
    check_nonzero_rows(b, "b", "the angle to a zero vector is undefined")
    try:
        np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(f"a {a.shape} and b {b.shape} do not broadcast") from None
    return plane_of_arrays(a, b).theta
