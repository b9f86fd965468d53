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
(anti)parallel, :math:`\sin\theta` and ``u`` come from the wedge
:math:`M_{ji} = w_j w^*_i - w^*_j w_i`, each entry computed with an error-free product (Dekker's
two-product), on copies of ``w`` and ``w_star`` scaled by exact powers of two.  So :math:`\theta`,
:math:`\sin\theta` and ``u`` are correct to a few ulps *relative* even at
:math:`\theta = 10^{-12}`, for the float64 vectors as given.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._validate import as_vector_batch, check_nonzero_rows

__all__ = ["Plane", "angle", "plane"]

# Below this value of sin(theta) the cheap projection loses more than ~1e-13 relative accuracy
# in u; the wedge path takes over.
_NEAR_PARALLEL = 1e-2
_SPLITTER = 134217729.0  # 2**27 + 1, Veltkamp's constant for float64


@dataclass(frozen=True)
class Plane:
    """Invariants of ``(w, w_star)``; arrays with batch shape ``(...)`` or ``(..., n)``.

    Attributes
    ----------
    r : (...)           norm of ``w``
    r_star : (...)      norm of ``w_star`` (broadcast to the batch)
    w_hat : (..., n)    ``w / ‖w‖``
    w_star_hat : (..., n)  ``w_star / ‖w_star‖`` (broadcast to the batch)
    u : (..., n)        unit vector of the component of ``w_star_hat`` orthogonal to ``w``;
                        exactly 0 where ``sin_theta == 0``
    theta, cos_theta, sin_theta : (...)   the angle and its cosine and sine
    """

    r: np.ndarray
    r_star: np.ndarray
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
        scaled = _exact_scale(x[unsafe])
        scaled_norm = _norm(scaled)
        r[unsafe] = scaled_norm * (np.max(np.abs(x[unsafe]), axis=-1) / np.max(np.abs(scaled), axis=-1))
        r_safe = np.where(unsafe, 1.0, r)
        x_hat = x / r_safe[:, None]
        x_hat[unsafe] = scaled / scaled_norm[:, None]
        return r, x_hat
    return r, x / r[:, None]


def _two_prod(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Error-free product: ``p + e == a * b`` exactly (Dekker 1971; |a|, |b| <= 1 here)."""
    p = a * b
    ca = _SPLITTER * a
    a_hi = ca - (ca - a)
    a_lo = a - a_hi
    cb = _SPLITTER * b
    b_hi = cb - (cb - b)
    b_lo = b - b_hi
    e = ((a_hi * b_hi - p) + a_hi * b_lo + a_lo * b_hi) + a_lo * b_lo
    return p, e


def _wedge_sin_and_u(ws: np.ndarray, wss: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """sin(theta) and u from the wedge of scaled vectors ``ws, wss`` of shape (k, n)."""
    p, e = _two_prod(ws[:, :, None], wss[:, None, :])  # [k, j, i] = w_j w*_i
    wedge = (p - np.swapaxes(p, 1, 2)) + (e - np.swapaxes(e, 1, 2))  # w_j w*_i - w*_j w_i
    top = np.max(np.abs(wedge), axis=(1, 2))
    safe_top = np.where(top > 0, top, 1.0)
    scaled = wedge / safe_top[:, None, None]
    wedge_norm = safe_top * np.sqrt(np.einsum("kji,kji->k", scaled, scaled))
    sin = wedge_norm / (np.sqrt(2.0) * _norm(ws) * _norm(wss))
    # N_i = sum_j w_j M_ji = |w|^2 w*_i - (w.w*) w_i, the component of w* orthogonal to w
    perp = np.einsum("kj,kji->ki", ws, scaled)
    perp_norm = _norm(perp)
    u = np.divide(perp, perp_norm[:, None], out=np.zeros_like(perp), where=perp_norm[:, None] > 0)
    sin = np.where(perp_norm > 0, sin, 0.0)
    return np.minimum(sin, 1.0), u


def _plane_of_arrays(w: np.ndarray, w_star: np.ndarray) -> Plane:
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
    near = sd < _NEAR_PARALLEL
    if np.any(near):
        w_star_near = np.broadcast_to(w_star, (*batch, n)).reshape(-1, n)[near]
        # identical vectors (e.g. a filter paired with itself) are exactly parallel: their wedge is 0, and at
        # O(n^2) per pair it is the dominant cost of the K-filter assembly, which pairs every filter with itself
        same = np.all(w2[near] == w_star_near, axis=-1)
        identical = np.zeros_like(near)
        identical[near] = same
        sin[identical], u[identical], cos[identical] = 0.0, 0.0, 1.0  # what the wedge gives for them
        near &= ~identical
        w_star_near = w_star_near[~same]
    if np.any(near):
        ws_near = _exact_scale(w2[near])
        wss_near = _exact_scale(w_star_near)
        s_near, u_near = _wedge_sin_and_u(ws_near, wss_near)
        sin[near] = s_near
        u[near] = u_near
        cos[near] = np.copysign(np.sqrt((1.0 - s_near) * (1.0 + s_near)), c0[near])
    theta = np.arctan2(sin, cos)
    vec = (*batch, n)
    return Plane(
        r=r.reshape(batch),
        r_star=np.broadcast_to(r_star, batch),
        w_hat=w_hat.reshape(vec),
        w_star_hat=np.broadcast_to(w_star_hat.reshape(-1, n), (np.prod(batch, dtype=int), n)).reshape(vec),
        u=u.reshape(vec),
        theta=theta.reshape(batch),
        cos_theta=cos.reshape(batch),
        sin_theta=sin.reshape(batch),
    )


def plane(w: object, w_star: object) -> Plane:
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
    return _plane_of_arrays(w, w_star)


def angle(a: object, b: object) -> np.ndarray:
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
    return _plane_of_arrays(a, b).theta
