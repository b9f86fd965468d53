r"""The paper's formulas, transcribed literally from its statements (``docs/claims.md`` restates them).

These are *check paths*: they share no code with :mod:`popgrad.closed_form` (which derives every
STE from one general formula).  They follow the paper's own notation -- :math:`h(v, v^*)`, the
half-angle vector :math:`(\hat w + \hat w^*)/\|\hat w + \hat w^*\|`, and for the clipped ReLU the
integrals :math:`p(\theta, w), q(\theta, w)` computed with ``scipy.integrate.quad`` from their
definitions, with quad's own error estimate returned.

Every function takes single points or batches: ``v (..., m)``, ``w (..., n)``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike
from scipy import integrate, special

__all__ = [
    "coarse_crelu_lemma7",
    "coarse_id_lemma9",
    "coarse_relu_lemma4",
    "grad_lemma2",
    "inner_lemma5",
    "inner_lemma7",
    "inner_lemma10",
    "lemma9_norm_at_spurious",
    "loss_lemma1",
    "pq",
    "xi",
]

SQRT_2PI = math.sqrt(2.0 * math.pi)


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.einsum("...i,...i->...", a, b)


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.sqrt(_dot(x, x))[..., None]


def _broadcast_vw(v: ArrayLike, w: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Broadcast the leading axes of ``v (..., m)`` and ``w (..., n)``."""
    v, w = np.asarray(v, float), np.asarray(w, float)
    batch = np.broadcast_shapes(v.shape[:-1], w.shape[:-1])
    return np.broadcast_to(v, (*batch, v.shape[-1])), np.broadcast_to(w, (*batch, w.shape[-1]))


def _theta(w: np.ndarray, w_star: np.ndarray) -> np.ndarray:
    """Angle by atan2 of the projection (an independent, simpler route than popgrad.geometry)."""
    wh, wsh = _unit(w), _unit(np.broadcast_to(w_star, w.shape))
    c = _dot(wh, wsh)
    s = np.sqrt(np.maximum(_dot(wsh - c[..., None] * wh, wsh - c[..., None] * wh), 0.0))
    return np.arctan2(s, c)


def loss_lemma1(v: np.ndarray, v_star: np.ndarray, theta: np.ndarray) -> np.ndarray:
    r"""Lemma 1: :math:`f = \tfrac18[v^\top(I+11^\top)v - 2v^\top((1-\tfrac{2\theta}{\pi})I + 11^\top)v^*
    + v^{*\top}(I+11^\top)v^*]`."""
    v, v_star = np.asarray(v, float), np.asarray(v_star, float)
    m = v_star.size
    a = np.eye(m) + np.ones((m, m))
    theta = np.asarray(theta, float)
    b = (1 - 2 * theta / np.pi)[..., None, None] * np.eye(m) + np.ones((m, m))
    return 0.125 * (_dot(v, v @ a) - 2 * _dot(v, np.einsum("...ij,j->...i", b, v_star)) + v_star @ a @ v_star)


def grad_lemma2(v: np.ndarray, v_star: np.ndarray, w: np.ndarray, w_star: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""Lemma 2 (:math:`\theta \in (0, \pi)`): :math:`\partial f/\partial v = \tfrac14(I+11^\top)v -
    \tfrac14((1-\tfrac{2\theta}{\pi})I + 11^\top)v^*`, :math:`\partial f/\partial w =
    -\frac{v^\top v^*}{2\pi\|w\|}\frac{P_w w^*}{\|P_w w^*\|}`."""
    v, w = np.asarray(v, float), np.asarray(w, float)
    theta = _theta(w, w_star)
    gv = 0.25 * (v + v.sum(-1, keepdims=True)) - 0.25 * ((1 - 2 * theta / np.pi)[..., None] * v_star + v_star.sum())
    wh = _unit(w)
    pw = w_star - _dot(wh, np.broadcast_to(w_star, w.shape))[..., None] * wh
    gw = -(_dot(v, v_star) / (2 * np.pi * np.sqrt(_dot(w, w))))[..., None] * _unit(pw)
    return gv, gw


def _h(v: np.ndarray, v_star: np.ndarray) -> np.ndarray:
    """:math:`h(v, v^*) = \\|v\\|^2 + (1^\\top v)^2 - (1^\\top v)(1^\\top v^*) + v^\\top v^*` (Lemma 4)."""
    s = v.sum(-1)
    return _dot(v, v) + s**2 - s * v_star.sum() + v @ v_star


def coarse_relu_lemma4(v: np.ndarray, v_star: np.ndarray, w: np.ndarray, w_star: np.ndarray) -> np.ndarray:
    r"""Lemma 4: :math:`E g_{relu} = \frac{h}{2\sqrt{2\pi}}\hat w - \cos(\theta/2)\frac{v^\top v^*}{\sqrt{2\pi}}
    \frac{\hat w + \hat w^*}{\|\hat w + \hat w^*\|}` (second term 0 at :math:`\theta = \pi`)."""
    v, w = np.asarray(v, float), np.asarray(w, float)
    wh, wsh = _unit(w), _unit(np.broadcast_to(w_star, w.shape))
    theta = _theta(w, w_star)
    s = wh + wsh
    ns = np.sqrt(_dot(s, s))
    half = np.divide(s, ns[..., None], out=np.zeros_like(s), where=ns[..., None] > 0)
    return (_h(v, v_star) / (2 * SQRT_2PI))[..., None] * wh - (np.cos(theta / 2) * (v @ v_star) / SQRT_2PI)[
        ..., None
    ] * half


def coarse_id_lemma9(v: np.ndarray, v_star: np.ndarray, w: np.ndarray, w_star: np.ndarray) -> np.ndarray:
    r"""Lemma 9: :math:`E g_{id} = (\|v\|^2\hat w - (v^\top v^*)\hat w^*)/\sqrt{2\pi}`."""
    v, w = np.asarray(v, float), np.asarray(w, float)
    wh, wsh = _unit(w), _unit(np.broadcast_to(w_star, w.shape))
    return (_dot(v, v)[..., None] * wh - (v @ v_star)[..., None] * wsh) / SQRT_2PI


def lemma9_norm_at_spurious(v_star: np.ndarray) -> float:
    r"""Lemma 9: :math:`\|E g_{id}\| = \frac{2(m-1)(1^\top v^*)^2}{\sqrt{2\pi}(m+1)^2}` at the spurious minimizer."""
    m = np.size(v_star)
    return 2 * (m - 1) * float(np.sum(v_star)) ** 2 / (SQRT_2PI * (m + 1) ** 2)


def xi(x: ArrayLike) -> np.ndarray:
    r""":math:`\xi(x) = \int_0^x r^2 e^{-r^2/2}\,dr = \sqrt{\pi/2}\;P(\tfrac32, x^2/2)` for :math:`x \ge 0`.

    (Substitute :math:`t = r^2/2`; :math:`P` is the regularized lower incomplete gamma function,
    accurate to full relative precision also for tiny ``x``, where :math:`\xi \approx x^3/3`.)

    >>> from scipy import integrate
    >>> abs(float(xi(1.3)) - integrate.quad(lambda r: r * r * np.exp(-r * r / 2), 0, 1.3)[0]) < 1e-15
    True
    >>> round(float(xi(1e-5) / (1e-15 / 3 - 1e-25 / 10)), 13)   # the series x^3/3 - x^5/10 + ...
    1.0
    """
    x = np.asarray(x, float)
    return math.sqrt(math.pi / 2) * special.gammainc(1.5, 0.5 * x * x)


def pq(theta: float, r: float) -> tuple[float, float, float, float]:
    r"""Lemma 7's integrals, by adaptive quadrature, with error estimates:

    .. math::
        p(\theta, w) &= \frac{1}{2\pi}\int_{-\pi/2+\theta}^{\pi/2}\cos\varphi\,\xi(\sec\varphi/\|w\|)\,d\varphi,\\
        q(\theta, w) &= \frac{1}{2\pi}\int_{-\pi/2+\theta}^{\pi/2}\sin\varphi\,\xi(\sec\varphi/\|w\|)\,d\varphi.

    Evaluated in the distance :math:`\psi` of :math:`\varphi` from :math:`\pm\pi/2`
    (:math:`\cos\varphi = \sin\psi`, exact in floating point near the ends, where ``sec`` blows up):
    with :math:`J_g(a, b) = \int_a^b g(\psi)\,\xi(1/(\|w\|\sin\psi))\,d\psi`,
    :math:`2\pi p = J_{\sin}(0, \pi/2) + J_{\sin}(\theta, \pi/2)` for :math:`\theta \le \pi/2` and
    :math:`J_{\sin}(0, \pi - \theta)` otherwise; the odd part of :math:`q`'s integrand over
    :math:`[-|\pi/2-\theta|, |\pi/2-\theta|]` cancels exactly, leaving
    :math:`2\pi q = J_{\cos}(0, \min(\theta, \pi - \theta))` (no cancellation).  Each piece is split
    where :math:`\sin\psi \sim 1/\|w\|` (the knee of :math:`\xi`) and at decades beyond it.

    Returns ``(p, q, p_err, q_err)`` for scalars ``theta`` in :math:`[0, \pi]` and ``r = ‖w‖ > 0``.

    >>> p, q, _, _ = pq(np.pi / 2, 1e-12)    # r -> 0: xi -> sqrt(pi/2), p = q = sqrt(pi/2)/(2 pi)
    >>> [round(float(x * 2 * np.pi / np.sqrt(np.pi / 2)), 12) for x in (p, q)]
    [1.0, 1.0]
    """
    xi_inf = math.sqrt(math.pi / 2)

    def integrand(psi: float, trig: Callable[[float], float]) -> float:
        s = math.sin(psi)
        return trig(psi) * (float(xi(1.0 / (s * r))) if s * r > 0 else xi_inf)

    def J(trig: object, a: float, b: float) -> tuple[float, float]:
        if b <= a:
            return 0.0, 0.0
        # the knee of xi at sin(psi) ~ 1/r, then decades (xi ~ x^3/3 decays like 1/psi^2 beyond it)
        scales = (0.1, 0.3, 1.0, 3.0, *(10.0**j for j in range(1, 20)))
        knees = {math.asin(k / r) for k in scales if k < r}
        edges = [a, *sorted(x for x in knees if a < x < b), b]
        total = err = 0.0
        for lo, hi in itertools.pairwise(edges):
            d, e = integrate.quad(integrand, lo, hi, args=(trig,), epsabs=0.0, epsrel=1e-12, limit=200)
            total, err = total + d, err + e
        return total, err

    half = math.pi / 2
    if theta <= half:
        p1, e1 = J(math.sin, 0.0, half)
        p2, e2 = J(math.sin, theta, half)
        p, ep = p1 + p2, e1 + e2
    else:
        p, ep = J(math.sin, 0.0, math.pi - theta)
    q, eq = J(math.cos, 0.0, min(theta, math.pi - theta))
    k = 1 / (2 * math.pi)
    return k * p, k * q, k * ep, k * eq


def coarse_crelu_lemma7(
    v: np.ndarray, v_star: np.ndarray, w: np.ndarray, w_star: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    r"""Lemma 7 (:math:`\theta \in (0, \pi)`), with :math:`p, q` by :func:`pq`:

    .. math:: E g_{crelu} = \frac{p(0,w)h}{2}\hat w - (v^\top v^*)\csc(\theta/2)q(\theta,w)
              \frac{\hat w + \hat w^*}{\|\hat w + \hat w^*\|}
              - (v^\top v^*)(p(\theta,w) - \cot(\theta/2)q(\theta,w))\hat w.

    Returns ``(E g (..., n), err (...))`` where ``err`` bounds the error propagated from quad's
    estimates.  Loops over points (quad is scalar).
    """
    v, w = _broadcast_vw(v, w)
    wh, wsh = _unit(w), _unit(np.broadcast_to(w_star, w.shape))
    theta = _theta(w, w_star)
    r = np.sqrt(_dot(w, w))
    h, vv = _h(v, v_star), v @ v_star
    out = np.empty(w.shape)
    err = np.empty(theta.shape)
    for idx in np.ndindex(theta.shape):
        t, rr = float(theta[idx]), float(r[idx])
        p0, _, ep0, _ = pq(0.0, rr)
        p, q, ep, eq = pq(t, rr)
        csc, cot = 1 / math.sin(t / 2), math.cos(t / 2) / math.sin(t / 2)
        half = _unit(wh[idx] + wsh[idx])
        out[idx] = p0 * h[idx] / 2 * wh[idx] - vv[idx] * csc * q * half - vv[idx] * (p - cot * q) * wh[idx]
        err[idx] = abs(h[idx]) / 2 * ep0 + abs(vv[idx]) * (csc * eq + ep + abs(cot) * eq)
    return out, err


def inner_lemma5(v: np.ndarray, v_star: np.ndarray, w: np.ndarray, w_star: np.ndarray) -> np.ndarray:
    r"""Lemma 5: :math:`\langle E g_{relu}, \partial f/\partial w\rangle
    = \frac{\sin\theta}{2(\sqrt{2\pi})^3\|w\|}(v^\top v^*)^2`."""
    w = np.asarray(w, float)
    return np.sin(_theta(w, w_star)) / (2 * SQRT_2PI**3 * np.sqrt(_dot(w, w))) * (np.asarray(v, float) @ v_star) ** 2


def inner_lemma10(v: np.ndarray, v_star: np.ndarray, w: np.ndarray, w_star: np.ndarray) -> np.ndarray:
    r"""Lemma 10: :math:`\langle E g_{id}, \partial f/\partial w\rangle
    = \frac{\sin\theta}{(\sqrt{2\pi})^3\|w\|}(v^\top v^*)^2`."""
    return 2.0 * inner_lemma5(v, v_star, w, w_star)


def inner_lemma7(v: np.ndarray, v_star: np.ndarray, w: np.ndarray, w_star: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""Lemma 7: :math:`\langle E g_{crelu}, \partial f/\partial w\rangle
    = \frac{q(\theta,w)}{2\pi\|w\|}(v^\top v^*)^2`.

    Returns ``(value (...), quad error bound (...))``.
    """
    v, w = _broadcast_vw(v, w)
    vv, theta, r = v @ v_star, _theta(w, w_star), np.sqrt(_dot(w, w))
    val, err = np.empty(theta.shape), np.empty(theta.shape)
    for idx in np.ndindex(theta.shape):
        _, q, _, eq = pq(float(theta[idx]), float(r[idx]))
        k = vv[idx] ** 2 / (2 * math.pi * r[idx])
        val[idx], err[idx] = k * q, k * eq
    return val, err
