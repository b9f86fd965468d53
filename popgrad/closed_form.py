r"""Closed forms in float64, batched over leading axes (Yin et al. 2019, Lemmas 1, 2, 4, 7, 9).

Notation: :math:`\varphi, \Phi` the standard normal pdf and cdf, :math:`r = \|w\|`,
:math:`\hat w, \hat w^*` unit vectors, :math:`\theta = \angle(w, w^*)`, and the scalar invariants
:math:`\|v\|^2, 1^\top v, v^\top v^*, \|v^*\|^2, 1^\top v^*`.

Loss (Lemma 1), written without cancellation near the global minimum:

.. math:: f = \tfrac18\big[\|v - v^*\|^2 + (1^\top(v - v^*))^2 + \tfrac{4\theta}{\pi} v^\top v^*\big].

Expected coarse gradient for a piecewise-constant :math:`\mu'` (``derivations/piecewise_ste.md``).
With :math:`a = E[z\mu'(z^\top w)]`, :math:`b = E[z\mu'(z^\top w)1\{z^\top w>0\}]`,
:math:`c = E[z\mu'(z^\top w)1\{z^\top w^*>0\}]` (one row :math:`z \sim N(0, I_n)`),

.. math:: E g_\mu = \|v\|^2 (b - a/2) + \big((1^\top v)^2 - (1^\top v)(1^\top v^*) + v^\top v^*\big)
          a/2 - (v^\top v^*)\, c,

and for :math:`\mu' = \sum_k \nu_k 1\{l_k < x < h_k\}`, :math:`\alpha_k = l_k/r`,
:math:`\beta_k = h_k/r`, :math:`\kappa = \cot\theta`:

.. math::
    a &= \hat w \textstyle\sum_k \nu_k [\varphi(\alpha_k) - \varphi(\beta_k)], \qquad
    b = \hat w \textstyle\sum_k \nu_k [\varphi(\alpha_k^+) - \varphi(\beta_k^+)], \\
    c &= \hat w \textstyle\sum_k \nu_k [\varphi(\alpha_k)\Phi(\kappa\alpha_k)
          - \varphi(\beta_k)\Phi(\kappa\beta_k)]
      + \hat w^*\varphi(0) \textstyle\sum_k \nu_k [\Phi(\beta_k/\sin\theta) - \Phi(\alpha_k/\sin\theta)].

Every coefficient is bounded and continuous on :math:`\theta \in [0, \pi]`; at
:math:`\sin\theta = 0` the limits are taken (:math:`\Phi(\pm\infty\cdot x) \to 1\{\pm x > 0\}`,
:math:`\Phi(0) = 1/2`).  ReLU gives Lemma 4, identity Lemma 9, :math:`1\{0<x<1\}` Lemma 7.

Functions here take validated float64 arrays (see :mod:`popgrad.model` for the public API).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special

from .geometry import Plane
from .ste import Piece

__all__ = [
    "CoarseCoefficients",
    "TeacherInvariants",
    "coarse_coefficients",
    "coarse_grad_w",
    "grad_v",
    "grad_w",
    "inner_w",
    "loss",
    "loss_at_zero",
]

PHI0 = 1.0 / math.sqrt(2.0 * math.pi)  # phi(0)
_SQRT1_2 = math.sqrt(0.5)
_CLIP = 40.0  # phi(40) == 0 and Phi(40) == 1 exactly in float64


@dataclass(frozen=True)
class TeacherInvariants:
    """:math:`v^*` and its scalar invariants."""

    v_star: np.ndarray
    sq_norm: float  # ||v*||^2
    sum: float  # 1^T v*

    @classmethod
    def of(cls, v_star: np.ndarray) -> TeacherInvariants:
        return cls(v_star, float(v_star @ v_star), float(v_star.sum()))


def loss_at_zero(t: TeacherInvariants) -> float:
    r"""Lemma 1 at ``w = 0``: :math:`f = \tfrac18 v^{*\top}(I + 11^\top)v^*` (the student outputs 0)."""
    return 0.125 * (t.sq_norm + t.sum**2)


def loss(v: np.ndarray, t: TeacherInvariants, theta: np.ndarray) -> np.ndarray:
    """Lemma 1 (``w != 0``); ``v (..., m)``, ``theta (...)`` -> broadcast shape."""
    d = v - t.v_star
    vv = v @ t.v_star
    return 0.125 * (np.einsum("...i,...i->...", d, d) + d.sum(axis=-1) ** 2 + (4.0 / np.pi) * theta * vv)


def grad_v(v: np.ndarray, t: TeacherInvariants, theta: np.ndarray) -> np.ndarray:
    r"""Lemma 2: :math:`\partial f/\partial v = \tfrac14[(v - v^*) + 1\,1^\top(v - v^*) + \tfrac{2\theta}{\pi}v^*]`."""
    d = v - t.v_star
    theta = np.asarray(theta)[..., None]
    return 0.25 * (d + d.sum(axis=-1, keepdims=True) + (2.0 / np.pi) * theta * t.v_star)


def grad_w(v: np.ndarray, t: TeacherInvariants, p: Plane) -> np.ndarray:
    r"""Lemma 2: :math:`\partial f/\partial w = -\frac{v^\top v^*}{2\pi\|w\|} u`; 0 where :math:`\sin\theta = 0`."""
    scale = -(v @ t.v_star) / (2.0 * np.pi * p.r)
    return np.asarray(scale)[..., None] * p.u + 0.0  # + 0.0 turns -0.0 into 0.0


# ---------------------------------------------------------------------------------------------
# Gaussian building blocks, each accurate to a few ulps relative.


def _phi(x: np.ndarray) -> np.ndarray:
    return PHI0 * np.exp(-0.5 * x * x)


def _phi_diff(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """phi(lo) - phi(hi) without cancellation: factor out the larger density."""
    e = 0.5 * (lo - hi) * (lo + hi)  # (lo^2 - hi^2)/2
    small_lo = np.abs(lo) <= np.abs(hi)
    with np.errstate(over="ignore", invalid="ignore"):  # only in the branch np.where discards
        return np.where(small_lo, -_phi(lo) * np.expm1(e), _phi(hi) * np.expm1(-e))


def _ndtr_diff(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Phi(hi) - Phi(lo) for any order of the arguments, without cancellation."""
    a, b = np.minimum(lo, hi), np.maximum(lo, hi)
    sign = np.where(lo <= hi, 1.0, -1.0)
    with np.errstate(invalid="ignore"):
        mid = 0.5 * (special.erf(b * _SQRT1_2) - special.erf(a * _SQRT1_2))
        upper = 0.5 * (special.erfc(a * _SQRT1_2) - special.erfc(b * _SQRT1_2))
        lower = 0.5 * (special.erfc(-b * _SQRT1_2) - special.erfc(-a * _SQRT1_2))
    return sign * np.where(a >= 1.0, upper, np.where(b <= -1.0, lower, mid))


def _times(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    """x * k with 0 * inf := 0 (the limit used at sin(theta) = 0)."""
    with np.errstate(invalid="ignore"):
        return np.where(x == 0, 0.0, x * k)


@dataclass(frozen=True)
class CoarseCoefficients:
    r"""Coefficients of :math:`a, b` on :math:`\hat w` and of :math:`c` on :math:`\hat w, \hat w^*`.

    All arrays (or floats) broadcast to the batch shape of ``w``.
    """

    a: np.ndarray
    b: np.ndarray
    c_w: np.ndarray
    c_star: np.ndarray


def _constant_piece(lo: float, hi: float) -> tuple[float, float, float, float]:
    """(a, b, c_w, c_star) of a unit piece whose ends are 0 or infinite: independent of w."""

    def phi(x: float) -> float:
        return PHI0 if x == 0 else 0.0

    def cdf_sign(x: float) -> float:  # Phi(x / sin(theta)) for x in {-inf, 0, inf}
        return 0.5 if x == 0 else float(x > 0)

    a = phi(lo) - phi(hi)
    b = phi(max(lo, 0.0)) - phi(max(hi, 0.0))
    c_w = 0.5 * (phi(lo) - phi(hi))  # phi(x) Phi(k x) = phi(0)/2 at x = 0, 0 at +-inf
    c_star = PHI0 * (cdf_sign(hi) - cdf_sign(lo))
    return a, b, c_w, c_star


def coarse_coefficients(pieces: tuple[Piece, ...], p: Plane) -> CoarseCoefficients:
    """The Gaussian expectations ``a, b, c`` for a piecewise-constant :math:`\\mu'`."""
    a = b = c_w = c_star = 0.0
    cot = csc = None
    for lo, hi, value in pieces:
        if lo in (0.0, -np.inf) and hi in (0.0, np.inf):
            da, db, dcw, dcs = _constant_piece(lo, hi)
            a, b, c_w, c_star = a + value * da, b + value * db, c_w + value * dcw, c_star + value * dcs
            continue
        if cot is None:
            with np.errstate(divide="ignore"):
                cot = p.cos_theta / p.sin_theta  # +-inf at sin = 0, handled by _times
                csc = 1.0 / p.sin_theta
        x_lo = np.clip(lo / p.r, -_CLIP, _CLIP)
        x_hi = np.clip(hi / p.r, -_CLIP, _CLIP)
        a = a + value * _phi_diff(x_lo, x_hi)
        b = b + value * _phi_diff(np.maximum(x_lo, 0.0), np.maximum(x_hi, 0.0))
        k_lo, k_hi = _times(x_lo, cot), _times(x_hi, cot)
        # phi(lo)Phi(k lo) - phi(hi)Phi(k hi) = (phi(lo)-phi(hi))Phi(k lo) + phi(hi)(Phi(k lo)-Phi(k hi))
        c_w = c_w + value * (_phi_diff(x_lo, x_hi) * special.ndtr(k_lo) - _phi(x_hi) * _ndtr_diff(k_lo, k_hi))
        c_star = c_star + value * PHI0 * _ndtr_diff(_times(x_lo, csc), _times(x_hi, csc))
    return CoarseCoefficients(a=a, b=b, c_w=c_w, c_star=c_star)


def _v_invariants(v: np.ndarray, t: TeacherInvariants) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(||v||^2, (1'v)^2 - (1'v)(1'v*) + v'v*, v'v*), each of shape v.shape[:-1]."""
    vv = v @ t.v_star
    s = v.sum(axis=-1)
    return np.einsum("...i,...i->...", v, v), s * (s - t.sum) + vv, vv


def coarse_grad_w(v: np.ndarray, t: TeacherInvariants, p: Plane, cc: CoarseCoefficients) -> np.ndarray:
    r""":math:`E g_\mu = A\hat w + B\hat w^*`; ``v (..., m)`` and the plane broadcast -> ``(..., n)``."""
    sq, k, vv = _v_invariants(v, t)
    coef_w = sq * (cc.b - 0.5 * cc.a) + 0.5 * k * cc.a - vv * cc.c_w
    coef_star = -vv * cc.c_star
    return np.asarray(coef_w)[..., None] * p.w_hat + np.asarray(coef_star)[..., None] * p.w_star_hat


def inner_w(v: np.ndarray, t: TeacherInvariants, p: Plane, cc: CoarseCoefficients) -> np.ndarray:
    r""":math:`\langle E g_\mu, \partial f/\partial w\rangle = \frac{(v^\top v^*)^2}{2\pi\|w\|}\sin\theta\;c^*`.

    ``c^*`` is the :math:`\hat w^*` coefficient of ``c``; ReLU gives Lemma 5, identity Lemma 10,
    the clipped ReLU Lemma 7 with :math:`q(\theta, w) = \sin\theta\,c^*`.
    """
    vv = v @ t.v_star
    return vv * (vv / (2.0 * np.pi * p.r) * p.sin_theta * cc.c_star)  # no (v'v*)^2: it underflows first
