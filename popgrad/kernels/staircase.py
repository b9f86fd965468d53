r"""Kernels of a staircase activation :math:`\sigma(x) = \sum_k J_k 1\{x > t_k\}` (``derivations/staircase.md``).

Notation: :math:`r = \|a\|`, :math:`\tau_k = t_k/r` (thresholds in units of :math:`z^\top\hat a`),
:math:`L_k = J_1 + \dots + J_k` the levels, :math:`\varphi, \Phi` the standard normal pdf and cdf.
For one row :math:`z`:

.. math::
    \mu &= E\sigma(z^\top a) = \textstyle\sum_k J_k\Phi(-\tau_k), \qquad
    E\sigma(z^\top a)^2 = \textstyle\sum_k (L_k^2 - L_{k-1}^2)\Phi(-\tau_k), \qquad v = E\sigma^2 - \mu^2,\\
    \kappa(a, b) &= E\sigma(z^\top a)\sigma(z^\top b)
        = \textstyle\sum_{k,l} J_kJ_l\,\bar\Phi_2(\tau^a_k, \tau^b_l; \cos\theta),
    \qquad \Gamma(a, b) = v_a + v_b - 2(\kappa - \mu_a\mu_b),

with :math:`\bar\Phi_2(x, y; \rho) = P(X > x, Y > y)` for standard normals of correlation :math:`\rho`
(Owen's T, :func:`upper_orthant`).  Derivatives: :math:`d\mu/dr = \sum_k J_k\varphi(\tau_k)\tau_k/r`, and

.. math:: \nabla_a\kappa = \textstyle\sum_{k,l} J_kJ_l\Big[\varphi(\tau^a_k)\Phi\Big(\frac{c\tau^a_k - \tau^b_l}{s}\Big)
          \frac{\tau^a_k}{r}\hat a + \frac{s}{r}\varphi_2(\tau^a_k, \tau^b_l; c)\,u\Big].

The pair terms cost :math:`K^2` bivariate normal probabilities per pair of filters; they are computed in
blocks of bounded memory, and a staircase with more than :data:`MAX_PAIR_TERMS` threshold pairs is refused
when the kernels are built (e.g. ``uniform(12, ...)`` has 4095 thresholds, 16.8 million pairs).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from ..activation import Activation
from ..gaussian import CLIP, phi, ratio
from ..geometry import Plane
from .base import UnitMoments, Variogram

__all__ = ["MAX_PAIR_TERMS", "StaircaseKernels", "upper_orthant"]

MAX_PAIR_TERMS = 2**22
"""Largest number of threshold pairs :math:`K^2` the closed forms accept (11 bits: :math:`2047^2`)."""

_BLOCK = 2**21  # elements per working array in the pair terms


def _units(t: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Thresholds in units of the filter's norm, clipped to [-40, 40] (where phi = 0 and Phi is 0 or 1)."""
    with np.errstate(over="ignore", divide="ignore"):
        return np.clip(t / r, -CLIP, CLIP)


def upper_orthant(
    a: np.ndarray, b: np.ndarray, cos: np.ndarray, sin: np.ndarray, diff: np.ndarray | None = None
) -> np.ndarray:
    r""":math:`P(X > a, Y > b)`, standard normals with correlation :math:`\rho = \cos\theta` (:math:`\sin\theta \ge 0`).

    Owen (1956): with :math:`h = -a`, :math:`k = -b`, :math:`\Phi_2(h, k; \rho) = \tfrac12\Phi(h) + \tfrac12\Phi(k)
    - T(h, \frac{k - \rho h}{h s}) - T(k, \frac{h - \rho k}{k s}) - \delta`,
    :math:`\delta = \tfrac12` if :math:`hk < 0` or (:math:`hk = 0` and :math:`h + k < 0`), else 0
    (``scipy.special.owens_t``).  Special cases: :math:`a = b = 0` gives :math:`(\pi - \theta)/2\pi`;
    :math:`s = 0` gives :math:`\bar\Phi(\max(a, b))` (:math:`\rho = 1`) and
    :math:`\max(0, \Phi(-b) - \Phi(a))` (:math:`\rho = -1`).  Broadcasts.  Absolute error a few
    1e-16, up to ~2e-15 near :math:`\rho = \pm 1` (measured against mpmath in the tests).

    ``diff``, if given, is :math:`a - b` computed more accurately than the difference of the rounded ``a``,
    ``b`` (:func:`_gaps`): the Owen's T arguments :math:`(\rho a - b)/(as)` then keep their digits for nearly
    parallel pairs with nearly equal thresholds, where :math:`\rho a - b` is a tiny difference of large terms.
    """
    a, b, cos, sin = np.broadcast_arrays(*(np.asarray(x, dtype=np.float64) for x in (a, b, cos, sin)))
    h, k = -a, -b
    theta = np.arctan2(sin, cos)
    num_h, num_k = _leans(a, b, cos, sin, diff)  # rho a - b = k - rho h and rho b - a = h - rho k
    with np.errstate(divide="ignore", invalid="ignore"):
        ah = num_h / (h * sin)
        ak = num_k / (k * sin)
        ah = np.where(h == 0, np.copysign(np.inf, num_h), ah)
        ak = np.where(k == 0, np.copysign(np.inf, num_k), ak)
        # the sign of h k from the signs (the product of two tiny thresholds underflows to 0)
        opposite, on_axis = np.sign(h) * np.sign(k) < 0, (h == 0) | (k == 0)
        delta = np.where(opposite | (on_axis & (h + k < 0)), 0.5, 0.0)
        general = (
            0.5 * special.ndtr(h) + 0.5 * special.ndtr(k) - special.owens_t(h, ah) - special.owens_t(k, ak) - delta
        )
    zero = (h == 0) & (k == 0)
    general = np.where(zero, (np.pi - theta) / (2.0 * np.pi), general)
    same = special.ndtr(-np.maximum(a, b))
    opposite = np.maximum(0.0, special.ndtr(-b) - special.ndtr(a))
    out = np.where(sin > 0, general, np.where(cos > 0, same, opposite))
    return np.clip(out, 0.0, 1.0)


def _leans(
    a: np.ndarray, b: np.ndarray, cos: np.ndarray, sin: np.ndarray, diff: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    r""":math:`\rho a - b` and :math:`\rho b - a` (:math:`\rho = \cos\theta`), as
    :math:`\pm(a - b) - (1 - \rho)\,a` with :math:`1 - \rho = \sin^2\theta/(1 + \cos\theta)` for
    :math:`\rho > 0` (no cancellation near :math:`\theta = 0`) and ``diff`` for :math:`a - b` if given."""
    diff = a - b if diff is None else diff
    with np.errstate(divide="ignore", invalid="ignore"):
        one_minus = np.where(cos > 0, sin * sin / (1.0 + cos), 1.0 - cos)
    return diff - one_minus * a, -diff - one_minus * b


def _gaps(t_a: np.ndarray, t_b: np.ndarray, r_a: np.ndarray, r_b: np.ndarray, gap: np.ndarray) -> np.ndarray:
    r""":math:`t_a/r_a - t_b/r_b`, clipped as :func:`_units`; for equal thresholds :math:`t\,(r_b - r_a)/(r_a r_b)`
    from the plane's accurate ``norm_gap`` :math:`r_b - r_a` (the plain difference cancels when the norms agree)."""
    a, b = _units(t_a, r_a), _units(t_b, r_b)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        tied = t_a * (gap / (r_a * r_b))
    exact = (t_a == t_b) & (np.abs(a) < CLIP) & (np.abs(b) < CLIP) & np.isfinite(tied)
    return np.where(exact, tied, a - b)


class StaircaseKernels:
    """Moments and variogram of a staircase activation (module docstring)."""

    def __init__(self, activation: Activation) -> None:
        k = len(activation.thresholds)
        if k * k > MAX_PAIR_TERMS:
            raise ValueError(
                f"activation {activation.name} has {k} thresholds: its closed forms need {k * k:.3g} bivariate "
                f"normal probabilities per pair of filters (more than {MAX_PAIR_TERMS:.3g}); use at most "
                f"{math.isqrt(MAX_PAIR_TERMS)} thresholds (uniform(bits <= 11)), or Monte Carlo"
            )
        self.activation = activation
        self._t = np.asarray(activation.thresholds)
        self._j = np.asarray(activation.jumps)
        levels = np.asarray(activation.levels)
        self._sq = levels[1:] ** 2 - levels[:-1] ** 2  # jumps of sigma^2
        self.value_at_zero = float(activation(0.0))

    def moments(self, r: np.ndarray) -> UnitMoments:
        r"""Mean, variance and their :math:`r`-derivatives; ``r (...) > 0`` -> each ``(...)``."""
        r = np.asarray(r, dtype=np.float64)[..., None]
        tau = _units(self._t, r)
        tail, dens = special.ndtr(-tau), phi(tau) * tau / r  # phi(40) * 40 = 0: no 0 * inf at tiny r
        m, s, dm, ds = tail @ self._j, tail @ self._sq, dens @ self._j, dens @ self._sq
        return UnitMoments(m, s - m * m, dm, ds - 2.0 * m * dm)

    def _pair_terms(self, p: Plane) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        r""":math:`\kappa`, :math:`\partial\kappa/\partial r_a` and the ``u`` coefficient of :math:`\nabla_a\kappa`."""
        r = np.asarray(p.r, dtype=np.float64)
        shape = np.broadcast_shapes(r.shape, np.shape(p.theta))
        r = np.broadcast_to(r, shape)[..., None, None]
        rb = np.broadcast_to(np.asarray(p.r_star, dtype=np.float64), shape)[..., None, None]
        gap = np.broadcast_to(np.asarray(p.norm_gap, dtype=np.float64), shape)[..., None, None]
        cos = np.broadcast_to(p.cos_theta, shape)[..., None, None]
        sin = np.broadcast_to(p.sin_theta, shape)[..., None, None]
        a = _units(self._t[:, None], r)  # (..., K, 1): thresholds of a
        kappa = np.zeros(shape)
        d_r = np.zeros(shape)
        d_u = np.zeros(shape)
        size = max(1, math.prod(shape)) * len(self._t)
        step = max(1, _BLOCK // size)
        for lo in range(0, len(self._t), step):
            sl = slice(lo, lo + step)
            b = _units(self._t[None, sl], rb)  # (..., 1, l): thresholds of b
            weight = self._j[:, None] * self._j[None, sl]
            diff = _gaps(self._t[:, None], self._t[None, sl], r, rb, gap)  # a - b, accurate for tied thresholds
            prob = upper_orthant(a, b, cos, sin, diff)
            # d/dr_a: (dF/da)(da/dr_a) = phi(a) Phi((rho a - b)/s) a / r
            dr = phi(a) * a * special.ndtr(ratio(_leans(a, b, cos, sin, diff)[0], sin)) / r
            # along u: phi_2(a, b; rho) s / r = exp(-Q/2)/(2 pi r), Q written stably in rho
            with np.errstate(divide="ignore", invalid="ignore"):
                q_pos = ratio(diff**2, sin**2) + 2 * a * b / (1 + cos)
                q_neg = ratio((a + b) ** 2, sin**2) - 2 * a * b / (1 - cos)
                quad = np.where(cos >= 0, q_pos, q_neg)
                du = np.where(sin > 0, np.exp(-0.5 * quad) / (2 * np.pi), 0.0)
            kappa = kappa + np.sum(prob * weight, axis=(-2, -1))
            d_r = d_r + np.sum(dr * weight, axis=(-2, -1))
            d_u = d_u + np.sum(du * weight, axis=(-2, -1))
        return kappa, d_r, d_u / r[..., 0, 0]

    def variogram(self, p: Plane) -> Variogram:
        r""":math:`\Gamma(a, b) = v_a + v_b - 2(\kappa - \mu_a\mu_b)` and :math:`\nabla_a\Gamma`."""
        ma = self.moments(p.r)
        mb = self.moments(p.r_star)
        kappa, dk_r, dk_u = self._pair_terms(p)
        value = ma.var + mb.var - 2.0 * (kappa - ma.mean * mb.mean)
        d_r = ma.d_var - 2.0 * (dk_r - mb.mean * ma.d_mean)
        return Variogram(value, d_r, -2.0 * dk_u)
