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

Arrays of any Array API namespace (:mod:`popgrad._xp`).  On numpy the accurate paths run on the rows that need
them only (boolean masks); elsewhere (e.g. under ``jax.jit``, where shapes cannot depend on values) they run on
every row and :func:`where` keeps the rows that need them, so the two give the same numbers up to the libraries'
elementary functions.  Two limits of JAX on the CPU: XLA flushes subnormal numbers to zero (entries below
:math:`2.2\cdot10^{-308}` are 0, and the compensated products lose their error terms when those would be
subnormal, i.e. for products below about :math:`10^{-292}`).  Under automatic differentiation
:math:`\theta` has derivative :math:`-u/\|w\|` (:math:`+u` coefficient for ``w_star``), and 0 where
:math:`\sin\theta = 0` (every ``sqrt`` and division there is taken as its limit with a finite derivative).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from ._compensated import dot2, two_prod, two_sum
from ._validate import as_vector_batch, check_nonzero_rows
from ._xp import Array, einsum, exponent, is_jax, is_numpy, jax_rows, ldexp, namespace, safe_divide, safe_sqrt

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
    norm_gap : (...)    ``r_star - r``: to a few ulps of itself where the norms agree to a relative 2**-20 (computed
                        from the squares' difference), to an ulp or two of the larger norm elsewhere (so to a
                        relative 2**-32 of itself at worst)
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


def _replace_rows(mask: Array, current: tuple, compute: Callable[..., tuple], *inputs: Array) -> tuple:
    """``current`` (arrays with rows on axis 0, fresh: numpy's are changed in place) with the rows in ``mask``
    replaced by ``compute(*inputs)`` on those rows.  An input with one row (e.g. the one teacher filter of a
    whole batch) is shared by every row: passed as it is, and ``compute`` broadcasts it.

    numpy: ``compute`` sees the masked rows only (and is not called when there are none).  JAX:
    :func:`popgrad._xp.jax_rows` (the masked rows gathered into a block of static size).  Other namespaces
    (shapes cannot depend on values under ``jit``): ``compute`` sees every row, :func:`where` selects; it must
    then return finite values and derivatives on the rows it is not meant for.
    """
    xp = namespace(mask, *current)
    if is_jax(xp):
        return jax_rows(mask, current, compute, inputs)
    if is_numpy(xp):
        if not np.any(mask):
            return current
        rows = (x if x.shape[0] == 1 else x[mask] for x in inputs)
        for c, new in zip(current, compute(*rows), strict=True):
            c[mask] = new
        return current
    out = []
    for c, new in zip(current, compute(*inputs), strict=True):
        m = xp.reshape(mask, mask.shape + (1,) * (c.ndim - mask.ndim))
        out.append(xp.where(m, new, c))
    return tuple(out)


def _exact_scale(x: np.ndarray) -> np.ndarray:
    """Scale each row of ``x`` (k, n) by a power of two so that its largest entry is in [0.5, 1).

    Multiplying by a power of two is exact, so directions are untouched, and norms neither
    overflow nor underflow whatever the magnitude of ``x``.
    """
    xp = namespace(x)
    return ldexp(xp, x, -exponent(xp, xp.max(xp.abs(x), axis=-1, keepdims=True)))


def _norm(x: np.ndarray) -> np.ndarray:
    xp = namespace(x)
    return safe_sqrt(xp, einsum(xp, "...i,...i->...", x, x))


# Squared norms inside this range are computed without harmful overflow or underflow: the
# largest entry squared is at most the sum, and entries whose squares underflow are then
# negligible.  Rows outside it are scaled exactly first (rare: |x| < 1e-140 or > 1e140).
_SAFE_SQ = (1e-280, 1e280)


def _scaled_unit_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Norms and unit vectors of rows of any magnitude: the rows scaled exactly first."""
    xp = namespace(x)
    e = exponent(xp, xp.max(xp.abs(x), axis=-1))
    scaled = ldexp(xp, x, -e[:, None])  # exact; largest entry in [0.5, 1)
    scaled_norm = _norm(scaled)
    return ldexp(xp, scaled_norm, e), scaled / scaled_norm[:, None]  # the norm overflows only if it must


def _unit_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Norms and unit vectors of the rows of ``x`` (k, n), for any magnitude of the entries."""
    xp = namespace(x)
    if not is_numpy(xp):  # no control flow under jit: every row scaled (the same roundings in the normal range)
        return _scaled_unit_rows(x)
    sq = einsum(xp, "ki,ki->k", x, x)
    unsafe = ~((sq > _SAFE_SQ[0]) & (sq < _SAFE_SQ[1]))
    r = safe_sqrt(xp, sq)
    x_hat = x / xp.where(unsafe, 1.0, r)[:, None]
    return _replace_rows(unsafe, (r, x_hat), _scaled_unit_rows, x)


def _norm2(x: np.ndarray) -> np.ndarray:
    """Row norms of ``x`` (k, n) to within about one ulp, whatever n (compensated sum of squares)."""
    hi, lo = dot2(x, x)
    return safe_sqrt(namespace(x), hi + lo)


def _exactly_parallel(ws: np.ndarray, wss: np.ndarray) -> np.ndarray:
    """Rows (k,) where ``w_i w*_j == w*_i w_j`` for all i, j, decided exactly in O(n).

    With ``j`` the largest entry of ``w`` (non-zero), every 2x2 minor vanishes iff those through
    ``j`` do; a product is compared exactly through its error-free (rounded, error) pair.
    """
    xp = namespace(ws, wss)
    j = xp.argmax(xp.abs(ws), axis=1)[:, None]
    p1, e1 = two_prod(ws, xp.take_along_axis(wss, j, axis=1))
    p2, e2 = two_prod(wss, xp.take_along_axis(ws, j, axis=1))
    return xp.all((p1 == p2) & (e1 == e2), axis=1)


def _perp_sin_and_u(ws: np.ndarray, wss: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """sin(theta) and u of scaled vectors ``ws, wss`` (k, n), in O(kn) time and memory.

    ``N = ‖w‖² w* - (w·w*) w`` is the component of ``w*`` orthogonal to ``w`` times ``‖w‖²``,
    so ``|N| = ‖w‖² ‖w*‖ sin(theta)`` and ``u = N/|N|``.  ``‖w‖²`` and ``w·w*`` come from
    :func:`dot2` (double-double) and each ``N_i`` from error-free products, so ``N`` has a
    relative error of a few ulps plus ``O(u²)``-relative errors *along w* (from the double-double
    rounding).  Those shift ``|N|`` only to second order; one refinement ``N -= (w·N/‖w‖²) w``
    with a compensated ``w·N`` removes them for ``u``.
    """
    xp = namespace(ws, wss)
    s_hi, s_lo = dot2(ws, ws)
    c_hi, c_lo = dot2(ws, wss)
    p1, e1 = two_prod(s_hi[:, None], wss)
    p2, e2 = two_prod(c_hi[:, None], ws)
    q1, f1 = two_prod(s_lo[:, None], wss)
    q2, f2 = two_prod(c_lo[:, None], ws)
    # p1 - p2 is exact where p1, p2 are within a factor 2 (Sterbenz) and relatively accurate elsewhere.  The next
    # terms, of an ulp of p1, cancel with it when theta < 2**-53: summed error-free (a rounded sum would leave an
    # error of ulp(p1)**2, relative ulp**2 / theta to N: 1e-13 at theta = 1e-19), only their errors in float64
    perp, err = two_sum(p1 - p2, e1)
    for term in (-e2, q1, -q2):
        perp, t = two_sum(perp, term)
        err = err + t
    perp = perp + (err + (f1 - f2))
    top = xp.where(_exactly_parallel(ws, wss), 0.0, xp.max(xp.abs(perp), axis=1))
    nonzero = top > 0
    e = exponent(xp, xp.where(nonzero, top, 1.0))
    perp = ldexp(xp, perp, -e[:, None])  # exact: entries in [0.5, 1) at most
    along_hi, along_lo = dot2(ws, perp)
    perp = perp - ((along_hi + along_lo) / s_hi)[:, None] * ws
    perp_norm = _norm2(perp)
    nonzero = nonzero & (perp_norm > 0)
    sin = ldexp(xp, perp_norm, e) / (s_hi * _norm2(wss))
    u = safe_divide(xp, perp, perp_norm[:, None], nonzero[:, None])
    return xp.where(nonzero, xp.minimum(sin, 1.0), 0.0), u


def _near_parallel(w: np.ndarray, w_star: np.ndarray, c0: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """sin(theta), u and cos(theta) of rows (k, n) by the compensated path; ``c0`` gives the sign of the cosine."""
    xp = namespace(w, w_star)
    sin, u = _perp_sin_and_u(_exact_scale(w), _exact_scale(xp.broadcast_to(w_star, w.shape)))
    return sin, u, xp.copysign(safe_sqrt(xp, (1.0 - sin) * (1.0 + sin)), c0)


_CLOSE_NORMS = 2.0**-20  # below this relative gap, r_star - r is recomputed without cancellation


def _accurate_gap(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray]:
    """``|y| - |x|`` of rows (k, n) as ``(|y|^2 - |x|^2)/(|x| + |y|)``, the squares in double-double."""
    xp = namespace(x, y)
    y = xp.broadcast_to(y, x.shape)
    e = exponent(xp, xp.max(xp.abs(xp.concat([x, y], axis=1)), axis=1))
    xs, ys = ldexp(xp, x, -e[:, None]), ldexp(xp, y, -e[:, None])  # exact
    x_hi, x_lo = dot2(xs, xs)
    y_hi, y_lo = dot2(ys, ys)
    diff = (y_hi - x_hi) + (y_lo - x_lo)
    return (ldexp(xp, diff / (safe_sqrt(xp, x_hi + x_lo) + safe_sqrt(xp, y_hi + y_lo)), e),)


def _norm_gap(x: np.ndarray, y: np.ndarray, rx: np.ndarray, ry: np.ndarray, same: np.ndarray) -> np.ndarray:
    """``|y| - |x|`` for rows of ``x, y`` (k, n), to a few ulps of itself.

    Where the norms nearly agree the plain difference of the rounded norms keeps only its last bits; the
    squares' difference is exact to first order (their leading parts are within a factor 2: Sterbenz).
    Rows flagged ``same`` (identical ``x`` and ``y``) have the gap 0 exactly.
    """
    xp = namespace(x, y)
    gap = xp.where(same, 0.0, ry - rx)
    close = (xp.abs(gap) <= _CLOSE_NORMS * xp.maximum(rx, ry)) & ~same
    return _replace_rows(close, (gap,), _accurate_gap, x, y)[0]


def _identical_rows(x: Array, y: Array, candidates: Array) -> Array:
    """Rows (k,) where ``x`` and ``y`` (k, n) are identical; only ``candidates`` can be (numpy compares those rows
    only: identical rows are exactly parallel, so they are among the near-parallel ones)."""
    xp = namespace(x, y)
    if not is_numpy(xp):
        return xp.all(x == y, axis=1)
    same = np.zeros_like(candidates)
    idx = np.flatnonzero(candidates)
    if idx.size:
        same[idx] = np.all(x[idx] == (y if y.shape[0] == 1 else y[idx]), axis=1)
    return same


def plane_of_arrays(w: np.ndarray, w_star: np.ndarray) -> Plane:
    """:func:`plane` without validation; ``w (..., n)``, ``w_star (n,)`` or ``(..., n)``, non-zero."""
    xp = namespace(w, w_star)
    n = w.shape[-1]
    batch = np.broadcast_shapes(w.shape[:-1], w_star.shape[:-1])
    k = math.prod(batch)
    w2 = xp.reshape(xp.broadcast_to(w, (*batch, n)), (-1, n))
    r, w_hat = _unit_rows(w2)
    # normalise w_star on its own shape (e.g. one teacher for a whole batch), then broadcast
    r_star, w_star_hat = _unit_rows(xp.reshape(w_star, (-1, n)))
    r_star, w_star_hat = xp.reshape(r_star, w_star.shape[:-1]), xp.reshape(w_star_hat, w_star.shape)
    if math.prod(w_star.shape) == n:  # one vector for the whole batch
        w_star_hat = xp.reshape(w_star_hat, (n,))
        c0 = w_hat @ w_star_hat
    else:
        w_star_hat = xp.reshape(xp.broadcast_to(w_star_hat, (*batch, n)), (-1, n))
        c0 = einsum(xp, "ki,ki->k", w_hat, w_star_hat)
    d = w_star_hat - c0[:, None] * w_hat
    sd = _norm(d)
    hyp = xp.hypot(sd, c0)
    sin = sd / hyp
    cos = c0 / hyp
    u = safe_divide(xp, d, sd[:, None], sd[:, None] > 0)
    # the teacher's rows: one row when one vector serves the whole batch (not copied k times)
    w_star_rows = (
        xp.reshape(w_star, (1, n))
        if math.prod(w_star.shape) == n
        else xp.reshape(xp.broadcast_to(w_star, (*batch, n)), (-1, n))
    )
    # identical rows (e.g. each filter paired with itself) are exactly parallel: what the compensated path
    # would return for them (sin 0, u 0, cos 1) without its cost
    near = sd < _NEAR_PARALLEL
    same = _identical_rows(w2, w_star_rows, near)
    if is_numpy(xp):
        if np.any(same):
            sin[same], cos[same], u[same] = 0.0, 1.0, 0.0
    else:
        sin, cos = xp.where(same, 0.0, sin), xp.where(same, 1.0, cos)
        u = xp.where(same[:, None], 0.0, u)
    near = near & ~same
    sin, u, cos = _replace_rows(near, (sin, u, cos), _near_parallel, w2, w_star_rows, c0)
    theta = xp.atan2(sin, cos)
    vec = (*batch, n)
    r_star_rows = xp.reshape(xp.broadcast_to(r_star, batch), (-1,))
    return Plane(
        r=xp.reshape(r, batch),
        r_star=xp.broadcast_to(r_star, batch),
        norm_gap=xp.reshape(_norm_gap(w2, w_star_rows, r, r_star_rows, same), batch),
        w_hat=xp.reshape(w_hat, vec),
        w_star_hat=xp.reshape(xp.broadcast_to(xp.reshape(w_star_hat, (-1, n)), (k, n)), vec),
        u=xp.reshape(u, vec),
        theta=xp.reshape(theta, batch),
        cos_theta=xp.reshape(cos, batch),
        sin_theta=xp.reshape(sin, batch),
    )


def plane(w: ArrayLike, w_star: ArrayLike) -> Plane:
    """Invariants of the plane span{w, w_star}; see :class:`Plane`.

    Parameters
    ----------
    w : array_like, shape (..., n)
        Non-zero first-layer weights (numpy, or any Array API array: :mod:`popgrad._xp`).
    w_star : array_like, shape (..., n)
        Non-zero teacher weights; broadcast against ``w``.
    """
    w = as_vector_batch(w, "w", like=(w, w_star))
    w_star = as_vector_batch(w_star, "w_star", w.shape[-1], like=(w, w_star))
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
        Non-zero vectors; leading axes broadcast.  numpy arrays, or arrays of any Array API namespace (the
        result is then of that namespace).

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
    a = as_vector_batch(a, "a", like=(a, b))
    b = as_vector_batch(b, "b", a.shape[-1], like=(a, b))
    check_nonzero_rows(a, "a", "the angle to a zero vector is undefined")
    check_nonzero_rows(b, "b", "the angle to a zero vector is undefined")
    try:
        np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(f"a {a.shape} and b {b.shape} do not broadcast") from None
    return plane_of_arrays(a, b).theta
