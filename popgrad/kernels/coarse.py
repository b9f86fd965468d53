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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from ..gaussian import CLIP, PHI0, ndtr_diff, phi, phi_diff, ratio
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


def _constant(lo: float, hi: float) -> bool:
    """A piece whose ends are 0 or infinite: against the binary sigma its terms do not depend on the plane."""
    return lo in (0.0, -np.inf) and hi in (0.0, np.inf)


def _phi_end(x: float) -> float:  # phi at x in {-inf, 0, inf}
    return PHI0 if x == 0 else 0.0


def _ends(lo: float, hi: float, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The piece's ends in units of x = z.a_hat, clipped to [-40, 40]."""
    with np.errstate(over="ignore", divide="ignore"):
        return np.clip(lo / r, -CLIP, CLIP), np.clip(hi / r, -CLIP, CLIP)


def self_terms(
    pieces: tuple[Piece, ...], thresholds: tuple[float, ...], jumps: tuple[float, ...], r: ArrayLike
) -> CoarseSelf:
    r""":math:`\alpha(r), \beta(r)` of the module docstring; ``r (...)`` -> each ``(...)``."""
    r = np.asarray(r, dtype=np.float64)
    binary = _binary(thresholds, jumps)
    t = np.asarray(thresholds)
    j = np.asarray(jumps)
    with np.errstate(divide="ignore"):
        tau = np.clip(t / r[..., None], -CLIP, CLIP)  # (..., K)
    alpha = beta = np.zeros(r.shape)
    for lo, hi, nu in pieces:
        if binary and _constant(lo, hi):
            alpha = alpha + nu * (_phi_end(lo) - _phi_end(hi))
            beta = beta + nu * (_phi_end(max(lo, 0.0)) - _phi_end(max(hi, 0.0)))
            continue
        x_lo, x_hi = _ends(lo, hi, r)
        alpha = alpha + nu * phi_diff(x_lo, x_hi)
        beta = beta + nu * (phi_diff(np.maximum(x_lo[..., None], tau), np.maximum(x_hi[..., None], tau)) @ j)
    return CoarseSelf(alpha, beta)


def cross(pieces: tuple[Piece, ...], thresholds: tuple[float, ...], jumps: tuple[float, ...], p: Plane) -> CoarseCross:
    r""":math:`c_w, c_*` of the module docstring for the pairs of the plane ``p`` (``a = w``, ``b = w_star``)."""
    binary = _binary(thresholds, jumps)
    r = np.asarray(p.r, dtype=np.float64)
    cos = np.asarray(p.cos_theta)[..., None]
    sin = np.asarray(p.sin_theta)[..., None]
    t = np.asarray(thresholds)
    j = np.asarray(jumps)
    with np.errstate(over="ignore", divide="ignore"):  # thresholds of b in its units, (..., K)
        tau_b = np.clip(t / np.asarray(p.r_star, dtype=np.float64)[..., None], -CLIP, CLIP)
    dens_b = phi(tau_b)
    shape = np.broadcast_shapes(r.shape, np.shape(p.cos_theta))
    c_w = c_star = np.zeros(shape)
    for lo, hi, nu in pieces:
        if binary and _constant(lo, hi):
            # phi(x) Phi(x c / s) is phi(0)/2 at x = 0 and 0 at x = +-inf; Phi((x - 0)/s) is 0, 1/2, 1
            c_w = c_w + nu * 0.5 * (_phi_end(lo) - _phi_end(hi))
            c_star = c_star + nu * PHI0 * ((0.5 if hi == 0 else float(hi > 0)) - (0.5 if lo == 0 else float(lo > 0)))
            continue
        x_lo, x_hi = (x[..., None] for x in _ends(lo, hi, r))
        k_lo, k_hi = ratio(x_lo * cos - tau_b, sin), ratio(x_hi * cos - tau_b, sin)
        # phi(l)Phi(k_l) - phi(h)Phi(k_h) = (phi(l) - phi(h))Phi(k_l) + phi(h)(Phi(k_l) - Phi(k_h))
        cw = phi_diff(x_lo, x_hi) * special.ndtr(k_lo) + phi(x_hi) * ndtr_diff(k_hi, k_lo)
        cs = dens_b * ndtr_diff(ratio(x_lo - tau_b * cos, sin), ratio(x_hi - tau_b * cos, sin))
        c_w = c_w + nu * (cw @ j)
        c_star = c_star + nu * (cs @ j)
    return CoarseCross(c_w, c_star)
