r"""The plane span{w, w*} from exact rational arithmetic, for the verification engines.

Float64 inputs are exact rationals, so with :class:`fractions.Fraction`

.. math::
    W = \|w\|^2,\quad S = \|w^*\|^2,\quad D = w^\top w^*,\quad G = WS - D^2 \;(\ge 0),\quad
    p = W w^* - D w \;(= W\,P_w w^*)

are exact: :math:`\sin^2\theta = G/(WS)`, :math:`\cos\theta = D/\sqrt{WS}`, ``u = p/‖p‖`` with
:math:`\|p\|^2 = WG`, and the plane degenerates to a line exactly when :math:`G = 0`.  Every
derived number is then rounded once (the square roots of correctly rounded ratios), so the basis
is accurate to a few ulps at any angle, even :math:`10^{-300}`, independently of
:mod:`popgrad.geometry`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

__all__ = ["ExactPlane", "exact_plane"]


@dataclass(frozen=True)
class ExactPlane:
    """Exact invariants of (w, w*); see the module docstring."""

    w: tuple[Fraction, ...]
    W: Fraction
    S: Fraction
    D: Fraction
    G: Fraction
    p: tuple[Fraction, ...]

    @property
    def parallel(self) -> bool:
        return self.G == 0

    def floats(self) -> tuple[float, np.ndarray, np.ndarray, float, float]:
        """(r, w_hat (n,), u (n,), cos, sin) rounded to float64; u = 0, sin = 0 if parallel."""
        r = _sqrt(self.W)
        w_hat = np.array([_signed_sqrt_ratio(x, self.W) for x in self.w])
        ws = self.W * self.S
        cos = _signed_sqrt_ratio(self.D, ws)
        if self.parallel:
            return r, w_hat, np.zeros_like(w_hat), cos, 0.0
        sin = _sqrt(self.G / ws)
        pp = self.W * self.G
        u = np.array([_signed_sqrt_ratio(x, pp) for x in self.p])
        return r, w_hat, u, cos, sin


def _sqrt(x: Fraction) -> float:
    """sqrt(x) of a positive Fraction, within an ulp, for any magnitude (float(x) alone under- or overflows)."""
    k = (x.numerator.bit_length() - x.denominator.bit_length()) // 2  # x / 4**k is in [1/16, 16]
    scaled = x / Fraction(4) ** k if k >= 0 else x * Fraction(4) ** -k
    return math.ldexp(math.sqrt(float(scaled)), k)


def _signed_sqrt_ratio(x: Fraction, y: Fraction) -> float:
    """x / sqrt(y) in float64 (y > 0) via the correctly rounded x^2 / y."""
    if x == 0:
        return 0.0
    return math.copysign(math.sqrt(float(x * x / y)), 1.0 if x > 0 else -1.0)  # float(x) may overflow


def exact_plane(w: np.ndarray, w_star: np.ndarray) -> ExactPlane:
    """:class:`ExactPlane` of non-zero float vectors ``w (n,)`` and ``w_star (n,)``."""
    wf = tuple(Fraction(float(x)) for x in w)
    sf = tuple(Fraction(float(x)) for x in w_star)
    W = sum((x * x for x in wf), Fraction(0))
    S = sum((x * x for x in sf), Fraction(0))
    D = sum((x * y for x, y in zip(wf, sf, strict=True)), Fraction(0))
    p = tuple(W * y - D * x for x, y in zip(wf, sf, strict=True))
    return ExactPlane(wf, W, S, D, W * S - D * D, p)
