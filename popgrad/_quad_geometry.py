r"""Directions, angles and scaled thresholds of the quadrature engine's filters, from exact rational arithmetic.

Float64 inputs are exact rationals; :mod:`popgrad._exact_plane` gives the invariants of a pair
:math:`W = \|a\|^2, S = \|b\|^2, D = a^\top b, G = WS - D^2, p = W b - D a` as :class:`fractions.Fraction`.
Every number the engine needs is a ratio of them, rounded once:
:math:`\hat a = a/\sqrt W`, :math:`\cos\theta = D/\sqrt{WS}`, :math:`\sin\theta = \sqrt{G/(WS)}`,
:math:`u = p/\sqrt{WG}` and the *scaled thresholds* :math:`t/\|a\| = t/\sqrt W` (``σ(z^\top a) = Σ_k J_k
1\{z^\top\hat a > t_k/\|a\|\}``).  No norm is ever formed in float64 (:func:`sqrt_ratio` scales the exponent
out), so :math:`\|a\|` from :math:`10^{-300}` to :math:`10^{300}` is as accurate as :math:`\|a\| = 1`
(a scaled threshold beyond the float64 range is :math:`\pm\infty`).  The mpmath backend converts the same
Fractions at its working precision.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import mpmath
import numpy as np

from ._exact_plane import exact_plane
from ._quad_rule import Backend, Num

__all__ = ["FilterGeometry", "PairGeometry", "filter_geometry", "pair_geometry", "sqrt_ratio"]


def _sqrt_float(q: Fraction) -> float:
    """sqrt(q) for a Fraction q >= 0, correctly rounded up to one ulp, without overflow of intermediates."""
    if q == 0:
        return 0.0
    e = (q.numerator.bit_length() - q.denominator.bit_length()) // 2
    scaled = q / Fraction(4) ** e if e >= 0 else q * Fraction(4) ** (-e)
    try:
        return math.ldexp(math.sqrt(float(scaled)), e)
    except OverflowError:
        return math.inf


def sqrt_ratio(bk: Backend, x: Fraction, y: Fraction) -> Num:
    r""":math:`x/\sqrt{y}` (``y > 0``) in working numbers; float64: :math:`\pm\infty` beyond its range."""
    if bk.is_mp:
        return bk.num(x) / mpmath.sqrt(bk.num(y))
    if x == 0:
        return 0.0
    root = _sqrt_float(x * x / y)
    return root if x > 0 else -root


@dataclass(frozen=True)
class FilterGeometry:
    r"""One filter :math:`a`: ``W`` (:math:`\|a\|^2`, exact), ``r`` (:math:`\|a\|`, working), ``w_hat`` (n,),
    ``tau`` (T,) the scaled thresholds of the activation, ``phi_tau`` (T,) :math:`\varphi(\tau)`, and
    ``inv_r`` :math:`1/\|a\|`."""

    W: Fraction
    r: Num
    inv_r: Num
    w_hat: np.ndarray
    tau: np.ndarray
    phi_tau: np.ndarray

    def scaled(self, bk: Backend, t: float) -> Num:
        """A pre-activation point ``t`` in units of :math:`z^\\top\\hat a`: ``t / ||a||`` (infinite stays infinite)."""
        if math.isinf(t):
            return bk.num(t)
        return sqrt_ratio(bk, Fraction(t), self.W)


def filter_geometry(bk: Backend, w: np.ndarray, thresholds: tuple[float, ...]) -> FilterGeometry:
    """:class:`FilterGeometry` of a non-zero float vector ``w (n,)``."""
    wf = [Fraction(float(x)) for x in w]
    W = sum((x * x for x in wf), Fraction(0))
    r = bk.num(1) / sqrt_ratio(bk, Fraction(1), W) if bk.is_mp else _sqrt_float(W)
    inv_r = sqrt_ratio(bk, Fraction(1), W)
    w_hat = bk.array([sqrt_ratio(bk, x, W) for x in wf])
    tau = bk.array([sqrt_ratio(bk, Fraction(t), W) for t in thresholds])
    finite = np.abs(bk.floats(tau)) < 1e150  # phi of a larger argument is 0 in any working precision we use
    phi_tau = bk.array([bk.phi(t) if ok else bk.num(0) for t, ok in zip(tau, finite, strict=True)])
    return FilterGeometry(W, r, inv_r, w_hat, tau, phi_tau)


@dataclass(frozen=True)
class PairGeometry:
    r"""Filter :math:`a` and filter :math:`b` in :math:`a`'s frame: :math:`x = z^\top\hat a`, :math:`y = z^\top u`,
    :math:`z^\top\hat b = c\,x + s\,y` (:math:`s \ge 0`; ``u`` = 0 when :math:`s = 0`).

    ``side(t_a, t_b)`` is the exact sign of :math:`c\,t_a/\|a\| - t_b/\|b\|` (used only when :math:`s = 0`,
    where a tie makes the boundary term take the midpoint of :math:`\sigma`'s jump); ``edge(t_a, t_b)`` the
    :math:`y` where the edge :math:`z^\top b = t_b` crosses the line :math:`z^\top a = t_a` (:math:`s > 0`),
    :math:`(t_b W - D t_a)/\sqrt{WG}`, rounded once.
    """

    c: Num
    s: Num
    u: np.ndarray
    parallel: bool
    W: Fraction
    S: Fraction
    D: Fraction
    G: Fraction

    def edge(self, bk: Backend, t_a: float, t_b: float) -> Num:
        return sqrt_ratio(bk, Fraction(t_b) * self.W - self.D * Fraction(t_a), self.W * self.G)

    def side(self, t_a: float, t_b: float) -> int:
        if not self.parallel:
            raise ValueError("side() is defined for parallel pairs only")
        sign_c = 1 if self.D > 0 else -1
        lhs, rhs = sign_c * Fraction(t_a), Fraction(t_b)  # compare lhs sqrt(S) with rhs sqrt(W)
        sl, sr = (lhs > 0) - (lhs < 0), (rhs > 0) - (rhs < 0)
        if sl != sr:
            return 1 if sl > sr else -1
        if sl == 0:
            return 0
        d = lhs * lhs * self.S - rhs * rhs * self.W
        mag = (d > 0) - (d < 0)
        return mag if sl > 0 else -mag


def pair_geometry(bk: Backend, a: np.ndarray, b: np.ndarray) -> PairGeometry:
    """:class:`PairGeometry` of non-zero float vectors ``a (n,)``, ``b (n,)``."""
    ex = exact_plane(a, b)
    WS = ex.W * ex.S
    c = sqrt_ratio(bk, ex.D, WS)
    if ex.parallel:
        return PairGeometry(c, bk.num(0), bk.array([0] * len(ex.p)), True, ex.W, ex.S, ex.D, ex.G)
    s = sqrt_ratio(bk, Fraction(1), WS / ex.G)
    pp = ex.W * ex.G
    u = bk.array([sqrt_ratio(bk, x, pp) for x in ex.p])
    return PairGeometry(c, s, u, False, ex.W, ex.S, ex.D, ex.G)
