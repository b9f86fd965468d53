r"""Coarse-gradient kernels of a piecewise-constant :math:`\mu'` against a staircase :math:`\sigma`, in closed form.

For one row :math:`z \sim N(0, I_n)`, filters :math:`a, b` (:math:`r_a = \|a\|`, :math:`r_b = \|b\|`,
:math:`\theta = \angle(a, b)`, :math:`c = \cos\theta`, :math:`s = \sin\theta`), an STE
:math:`\mu' = \sum \nu\,1\{lo < x < hi\}` and :math:`\sigma(x) = \sum_k J_k 1\{x > t_k\}`:

.. math::
    E[z\mu'(z^\top a)] &= \alpha\,\hat a, &
    E[z\mu'(z^\top a)\sigma(z^\top a)] &= \beta\,\hat a, &
    E[z\mu'(z^\top a)\sigma(z^\top b)] &= c_w\,\hat a + c_*\,\hat b,

with :math:`l = lo/r_a`, :math:`h = hi/r_a`, :math:`\tau_k = t_k/r_a`, :math:`\tau^*_k = t_k/r_b`
(``derivations/piecewise_ste.md``, ``derivations/staircase.md``):

.. math::
    \alpha &= \textstyle\sum \nu[\varphi(l) - \varphi(h)], \qquad
    \beta = \textstyle\sum_k J_k \sum \nu[\varphi(\max(l, \tau_k)) - \varphi(\max(h, \tau_k))],\\
    c_w &= \textstyle\sum_k J_k \sum \nu\big[\varphi(l)\Phi(\tfrac{lc - \tau^*_k}{s})
          - \varphi(h)\Phi(\tfrac{hc - \tau^*_k}{s})\big],\quad
    c_* = \textstyle\sum_k J_k\,\varphi(\tau^*_k) \sum \nu\big[\Phi(\tfrac{h - \tau^*_k c}{s})
          - \Phi(\tfrac{l - \tau^*_k c}{s})\big].

Every coefficient is bounded and continuous on :math:`\theta \in [0, \pi]`; at :math:`s = 0` the limits
are taken (:func:`popgrad.gaussian.ratio`).  The paper's binary :math:`\sigma` is the staircase with one
threshold 0 and jump 1: ReLU gives Lemma 4, the identity Lemma 9, :math:`1\{0 < x < 1\}` Lemma 7.

Arrays of any Array API namespace (:mod:`popgrad._xp`), and the pieces' ends and values may be arrays of it
(0-d, e.g. a traced clipping level: :func:`popgrad.ste.clipped_relu`), so that the coefficients can be
differentiated in them.  An infinite end is the constant :math:`\pm 40` (no :math:`\infty/r`, whose derivative
in :math:`r` is not finite).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from .._xp import Array, constant, device_of, into, namespace
from ..gaussian import CLIP, PHI0, ndtr, ndtr_diff, phi, phi_diff, ratio
from ..geometry import Plane
from ..ste import Piece

__all__ = ["CoarseCross", "CoarseSelf", "cross", "self_terms"]


@dataclass(frozen=True)
class CoarseSelf:
    r""":math:`\alpha` and :math:`\beta` (coefficients on :math:`\hat a`), each of the batch shape of ``r``."""

    alpha: np.ndarray
    beta: np.ndarray


@dataclass(frozen=True)
class CoarseCross:
    r""":math:`c_w` (on :math:`\hat a`) and :math:`c_*` (on :math:`\hat b`), each of the plane's batch shape."""

    c_w: np.ndarray
    c_star: np.ndarray


def _binary(thresholds: tuple[float, ...], jumps: tuple[float, ...]) -> bool:
    return thresholds == (0.0,) and jumps == (1.0,)


def _number(x: object) -> bool:
    return isinstance(x, (int, float))


def _constant(lo: object, hi: object) -> bool:
    """A piece whose ends are 0 or infinite: against the binary sigma its terms do not depend on the plane."""
    return _number(lo) and _number(hi) and lo in (0.0, -math.inf) and hi in (0.0, math.inf)


def _phi_end(x: float) -> float:  # phi at x in {-inf, 0, inf}
    return PHI0 if x == 0 else 0.0


def _clip(xp: ModuleType, x: Array) -> Array:
    """``x`` clipped to [-40, 40] (``minimum(maximum(...))``: numpy's ``clip`` values, without the wrappers' cost)."""
    return xp.minimum(xp.maximum(x, -CLIP), CLIP)


def _end(x: Any, r: Array) -> Array:
    """A piece's end in units of x = z.a_hat, clipped to [-40, 40]."""
    xp = namespace(x, r)
    if _number(x) and math.isinf(x):
        return xp.full_like(r, math.copysign(CLIP, x))
    with np.errstate(over="ignore", divide="ignore"):
        return _clip(xp, x / r)


def _pieces_arrays(pieces: tuple[Piece, ...]) -> list:
    return [x for piece in pieces for x in piece if not _number(x)]


def self_terms(
    pieces: tuple[Piece, ...], thresholds: tuple[float, ...], jumps: tuple[float, ...], r: Array
) -> CoarseSelf:
    r""":math:`\alpha(r), \beta(r)` of the module docstring; ``r (...)`` -> each ``(...)``."""
    xp = namespace(r, *_pieces_arrays(pieces))
    r = into(xp, r, device_of(*_pieces_arrays(pieces)))
    binary = _binary(thresholds, jumps)
    t = constant(xp, thresholds, device_of(r))
    j = constant(xp, jumps, device_of(r))
    with np.errstate(divide="ignore"):
        tau = _clip(xp, t / r[..., None])  # (..., K)
    alpha = beta = xp.zeros_like(r)
    for lo, hi, nu in pieces:
        if binary and _constant(lo, hi):
            alpha = alpha + nu * (_phi_end(lo) - _phi_end(hi))
            beta = beta + nu * (_phi_end(max(lo, 0.0)) - _phi_end(max(hi, 0.0)))
            continue
        x_lo, x_hi = _end(lo, r), _end(hi, r)
        alpha = alpha + nu * phi_diff(x_lo, x_hi)
        beta = beta + nu * (phi_diff(xp.maximum(x_lo[..., None], tau), xp.maximum(x_hi[..., None], tau)) @ j)
    return CoarseSelf(alpha, beta)


def cross(pieces: tuple[Piece, ...], thresholds: tuple[float, ...], jumps: tuple[float, ...], p: Plane) -> CoarseCross:
    r""":math:`c_w, c_*` of the module docstring for the pairs of the plane ``p`` (``a = w``, ``b = w_star``)."""
    xp = namespace(p.r, p.cos_theta, *_pieces_arrays(pieces))
    binary = _binary(thresholds, jumps)
    r = p.r
    cos = p.cos_theta[..., None]
    sin = p.sin_theta[..., None]
    dev = device_of(r)
    t = constant(xp, thresholds, dev)
    j = constant(xp, jumps, dev)
    with np.errstate(over="ignore", divide="ignore"):  # thresholds of b in its units, (..., K)
        tau_b = _clip(xp, t / p.r_star[..., None])
    dens_b = phi(tau_b)
    shape = np.broadcast_shapes(r.shape, p.cos_theta.shape)
    c_w = c_star = xp.zeros_like(xp.broadcast_to(r, shape))
    for lo, hi, nu in pieces:
        if binary and _constant(lo, hi):
            # phi(x) Phi(x c / s) is phi(0)/2 at x = 0 and 0 at x = +-inf; Phi((x - 0)/s) is 0, 1/2, 1
            c_w = c_w + nu * 0.5 * (_phi_end(lo) - _phi_end(hi))
            c_star = c_star + nu * PHI0 * ((0.5 if hi == 0 else float(hi > 0)) - (0.5 if lo == 0 else float(lo > 0)))
            continue
        x_lo, x_hi = _end(lo, r)[..., None], _end(hi, r)[..., None]
        k_lo, k_hi = ratio(x_lo * cos - tau_b, sin), ratio(x_hi * cos - tau_b, sin)
        # phi(l)Phi(k_l) - phi(h)Phi(k_h) = (phi(l) - phi(h))Phi(k_l) + phi(h)(Phi(k_l) - Phi(k_h))
        cw = phi_diff(x_lo, x_hi) * ndtr(k_lo) + phi(x_hi) * ndtr_diff(k_hi, k_lo)
        cs = dens_b * ndtr_diff(ratio(x_lo - tau_b * cos, sin), ratio(x_hi - tau_b * cos, sin))
        c_w = c_w + nu * (cw @ j)
        c_star = c_star + nu * (cs @ j)
    return CoarseCross(c_w, c_star)
