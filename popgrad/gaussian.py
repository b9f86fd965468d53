r"""The standard normal density and distribution function, evaluated without cancellation.

:math:`\varphi(x) = e^{-x^2/2}/\sqrt{2\pi}` and :math:`\Phi(x) = \int_{-\infty}^x\varphi`.  Every
closed form of popgrad is a sum of such terms; the differences below are what keeps them accurate
to a few ulps *relative* where the naive formula cancels.  This module is the one place where
:math:`\varphi(0) = 1/\sqrt{2\pi}` is defined (:data:`PHI0`).

Shapes: every function broadcasts its array arguments and returns their broadcast shape.  Arrays of any
Array API namespace (:mod:`popgrad._xp`; ``erf``/``erfc`` through :mod:`popgrad._special`).  Every branch that
:func:`where` discards is computed on safe arguments, so that its value and its derivative (under automatic
differentiation) stay finite.
"""

from __future__ import annotations

import math

import numpy as np

from . import _special
from ._xp import Array, namespace, safe_divide

__all__ = ["CLIP", "PHI0", "ndtr", "ndtr_diff", "phi", "phi_diff", "ratio"]

PHI0 = 1.0 / math.sqrt(2.0 * math.pi)
"""The standard normal density at 0, :math:`\\varphi(0) = 1/\\sqrt{2\\pi}`."""

CLIP = 40.0
"""Arguments are clipped to :math:`[-40, 40]`: :math:`\\varphi(40) = 0` and :math:`\\Phi(40) = 1` exactly in float64."""

_SQRT1_2 = math.sqrt(0.5)


def phi(x: Array) -> Array:
    r""":math:`\varphi(x) = e^{-x^2/2}/\sqrt{2\pi}`."""
    xp = namespace(x)
    return PHI0 * xp.exp(-0.5 * x * x)


def phi_diff(lo: Array, hi: Array) -> Array:
    r""":math:`\varphi(lo) - \varphi(hi)` without cancellation: the larger density is factored out,

    .. math:: \varphi(lo) - \varphi(hi) = -\varphi(lo)\,\operatorname{expm1}\big(\tfrac{lo^2 - hi^2}{2}\big)
              \quad (|lo| \le |hi|),

    and symmetrically, with :math:`lo^2 - hi^2 = (lo - hi)(lo + hi)`.
    """
    xp = namespace(lo, hi)
    e = 0.5 * (lo - hi) * (lo + hi)
    small_lo = xp.abs(lo) <= xp.abs(hi)
    # each branch's exponent where the other is taken is 0: no overflow, no 0 * inf, in value or derivative
    left = -phi(lo) * xp.expm1(xp.where(small_lo, e, 0.0))
    return xp.where(small_lo, left, phi(hi) * xp.expm1(xp.where(small_lo, 0.0, -e)))


def ndtr_diff(lo: Array, hi: Array) -> Array:
    r""":math:`\Phi(hi) - \Phi(lo)` for either order of the arguments, without cancellation.

    Both arguments above 1: a difference of upper tails (``erfc``); both below -1: of lower tails;
    otherwise of ``erf`` values, which are then of moderate size.
    """
    xp = namespace(lo, hi)
    a, b = xp.minimum(lo, hi), xp.maximum(lo, hi)
    sign = xp.where(lo <= hi, xp.ones_like(a), -1.0)
    with np.errstate(invalid="ignore"):
        mid = 0.5 * (_special.erf(xp, b * _SQRT1_2) - _special.erf(xp, a * _SQRT1_2))
        upper = 0.5 * (_special.erfc(xp, a * _SQRT1_2) - _special.erfc(xp, b * _SQRT1_2))
        lower = 0.5 * (_special.erfc(xp, -b * _SQRT1_2) - _special.erfc(xp, -a * _SQRT1_2))
    return sign * xp.where(a >= 1.0, upper, xp.where(b <= -1.0, lower, mid))


def ndtr(x: Array) -> Array:
    r""":math:`\Phi(x)` (``scipy.special.ndtr`` for numpy; :mod:`popgrad._special`)."""
    return _special.ndtr(namespace(x), x)


def ratio(num: Array, s: Array) -> Array:
    r""":math:`num/s` for :math:`s \ge 0`; at :math:`s = 0` the limit :math:`\operatorname{sign}(num)\,\infty`
    (0 where :math:`num = 0`), as :math:`\Phi(num/s)` needs at :math:`\sin\theta = 0`."""
    xp = namespace(num, s)
    limit = xp.where(num == 0, 0.0, xp.copysign(math.inf, num))
    return safe_divide(xp, num, s, s > 0, limit)
