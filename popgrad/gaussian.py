r"""The standard normal density and distribution function, evaluated without cancellation.

:math:`\varphi(x) = e^{-x^2/2}/\sqrt{2\pi}` and :math:`\Phi(x) = \int_{-\infty}^x\varphi`.  Every
closed form of popgrad is a sum of such terms; the differences below are what keeps them accurate
to a few ulps *relative* where the naive formula cancels.  This module is the one place where
:math:`\varphi(0) = 1/\sqrt{2\pi}` is defined (:data:`PHI0`).

Shapes: every function broadcasts its array arguments (numpy semantics) and returns their
broadcast shape.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

__all__ = ["CLIP", "PHI0", "ndtr_diff", "phi", "phi_diff", "ratio"]

PHI0 = 1.0 / math.sqrt(2.0 * math.pi)
"""The standard normal density at 0, :math:`\\varphi(0) = 1/\\sqrt{2\\pi}`."""

CLIP = 40.0
"""Arguments are clipped to :math:`[-40, 40]`: :math:`\\varphi(40) = 0` and :math:`\\Phi(40) = 1` exactly in float64."""

_SQRT1_2 = math.sqrt(0.5)


def phi(x: np.ndarray) -> np.ndarray:
    r""":math:`\varphi(x) = e^{-x^2/2}/\sqrt{2\pi}`."""
    return PHI0 * np.exp(-0.5 * x * x)


def phi_diff(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    r""":math:`\varphi(lo) - \varphi(hi)` without cancellation: the larger density is factored out,

    .. math:: \varphi(lo) - \varphi(hi) = -\varphi(lo)\,\operatorname{expm1}\big(\tfrac{lo^2 - hi^2}{2}\big)
              \quad (|lo| \le |hi|),

    and symmetrically, with :math:`lo^2 - hi^2 = (lo - hi)(lo + hi)`.
    """
    e = 0.5 * (lo - hi) * (lo + hi)
    small_lo = np.abs(lo) <= np.abs(hi)
    with np.errstate(over="ignore", invalid="ignore"):  # only in the branch np.where discards
        return np.where(small_lo, -phi(lo) * np.expm1(e), phi(hi) * np.expm1(-e))


def ndtr_diff(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    r""":math:`\Phi(hi) - \Phi(lo)` for either order of the arguments, without cancellation.

    Both arguments above 1: a difference of upper tails (``erfc``); both below -1: of lower tails;
    otherwise of ``erf`` values, which are then of moderate size.
    """
    a, b = np.minimum(lo, hi), np.maximum(lo, hi)
    sign = np.where(lo <= hi, 1.0, -1.0)
    with np.errstate(invalid="ignore"):
        mid = 0.5 * (special.erf(b * _SQRT1_2) - special.erf(a * _SQRT1_2))
        upper = 0.5 * (special.erfc(a * _SQRT1_2) - special.erfc(b * _SQRT1_2))
        lower = 0.5 * (special.erfc(-b * _SQRT1_2) - special.erfc(-a * _SQRT1_2))
    return sign * np.where(a >= 1.0, upper, np.where(b <= -1.0, lower, mid))


def ratio(num: np.ndarray, s: np.ndarray) -> np.ndarray:
    r""":math:`num/s` for :math:`s \ge 0`; at :math:`s = 0` the limit :math:`\operatorname{sign}(num)\,\infty`
    (0 where :math:`num = 0`), as :math:`\Phi(num/s)` needs at :math:`\sin\theta = 0`."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = num / s
    return np.where(s > 0, out, np.where(num == 0, 0.0, np.copysign(np.inf, num)))
