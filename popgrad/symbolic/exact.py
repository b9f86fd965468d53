r"""Exact rational geometry of a committee's filters (float64 inputs are dyadic rationals).

For the :math:`F` filters :math:`w_a` (students, then teachers) :class:`Geometry` holds, exactly,
:math:`\|w_a\|^2`, :math:`w_a^\top w_b` and :math:`\|w_a\|^2\|w_b\|^2 - (w_a^\top w_b)^2 =
\|w_a\|^2\|w_b\|^2\sin^2\theta_{ab}` (Lagrange's identity), so that a pair is known *exactly* to be
parallel, antiparallel or neither, and :math:`\cos\theta_{ab}`, :math:`\sin\theta_{ab}`, :math:`\theta_{ab}` and
the unit vectors are each rounded once, at the working precision, from exact scale-invariant ratios.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import mpmath
import numpy as np

__all__ = ["Geometry", "fractions", "mpf"]


def fractions(x: np.ndarray) -> Any:
    """A float64 array as nested lists of exact :class:`~fractions.Fraction` (same nesting as ``x.tolist()``; a 0-d
    array gives one Fraction)."""
    if np.ndim(x) == 0:
        return Fraction(float(x))
    return [fractions(row) for row in x]


def mpf(x: Fraction) -> mpmath.mpf:
    """An exact rational rounded once at the working precision."""
    return mpmath.mpf(x.numerator) / x.denominator


def _dot(a: Sequence[Fraction], b: Sequence[Fraction]) -> Fraction:
    return sum((x * y for x, y in zip(a, b, strict=True)), Fraction(0))


@dataclass(frozen=True)
class Geometry:
    """Exact invariants of the filters ``w`` (F rows of Fractions); see the module docstring."""

    w: tuple[tuple[Fraction, ...], ...]
    sq: tuple[Fraction, ...]  # |w_a|^2
    dot: dict  # (a, b) -> w_a . w_b, every ordered pair a != b
    wedge: dict  # (a, b) -> |w_a|^2 |w_b|^2 - (w_a . w_b)^2 >= 0

    @classmethod
    def of(cls, w: Sequence[Sequence[Fraction]]) -> Geometry:
        rows = tuple(tuple(row) for row in w)
        sq = tuple(_dot(x, x) for x in rows)
        dot, wedge = {}, {}
        for a in range(len(rows)):
            for b in range(len(rows)):
                if a != b:
                    dot[a, b] = _dot(rows[a], rows[b])
                    wedge[a, b] = sq[a] * sq[b] - dot[a, b] ** 2
        return cls(rows, sq, dot, wedge)

    def region(self, a: int, b: int) -> str:
        """``"interior"``, ``"parallel"`` (θ = 0) or ``"antiparallel"`` (θ = π), decided exactly."""
        if self.wedge[a, b] != 0:
            return "interior"
        return "parallel" if self.dot[a, b] > 0 else "antiparallel"

    # -- numbers at the working precision -------------------------------------------------------------

    def norm(self, a: int) -> mpmath.mpf:
        return mpmath.sqrt(mpf(self.sq[a]))

    def cos_sin(self, a: int, b: int) -> tuple[mpmath.mpf, mpmath.mpf]:
        r""":math:`\cos\theta_{ab}` and :math:`\sin\theta_{ab}`, each from one exact ratio (scale invariant)."""
        den = self.sq[a] * self.sq[b]
        d = self.dot[a, b]
        cos = mpmath.sqrt(mpf(d * d / den))
        return (cos if d >= 0 else -cos), mpmath.sqrt(mpf(self.wedge[a, b] / den))

    def theta(self, a: int, b: int) -> mpmath.mpf:
        r""":math:`\theta_{ab} \in [0, \pi]`, exactly 0 or :math:`\pi` at the ends."""
        region = self.region(a, b)
        if region != "interior":
            return mpmath.mpf(0) if region == "parallel" else +mpmath.pi
        cos, sin = self.cos_sin(a, b)
        return mpmath.atan2(sin, cos)

    def unit(self, a: int) -> list:
        r""":math:`\hat w_a`."""
        r = self.norm(a)
        return [mpf(x) / r for x in self.w[a]]

    def u(self, a: int, b: int) -> list:
        r"""The unit vector of :math:`\hat w_b` orthogonal to :math:`\hat w_a` (0 at the ends, where it is undefined).

        :math:`\|w_a\|^2 w_b - (w_a^\top w_b) w_a` is exact and has length :math:`\|w_a\|\sqrt{\text{wedge}}`.
        """
        if self.wedge[a, b] == 0:
            return [mpmath.mpf(0)] * len(self.w[a])
        scale = 1 / (self.norm(a) * mpmath.sqrt(mpf(self.wedge[a, b])))
        d = self.dot[a, b]
        return [mpf(self.sq[a] * y - d * x) * scale for x, y in zip(self.w[a], self.w[b], strict=True)]
