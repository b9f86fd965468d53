r"""The error function per array library: ``erf``, ``erfc`` and ``ndtr`` through one small dispatch.

The Array API standard has no special functions.  The libraries have them: ``scipy.special`` for numpy (the
reference: its results are popgrad's numpy results, unchanged), ``jax.scipy.special``, ``torch.special``,
``cupyx.scipy.special``.  Any other namespace (e.g. ``array-api-strict``) gets :func:`portable_erf` and
:func:`portable_erfc`, W. J. Cody's rational Chebyshev approximations (Math. Comp. 23 (1969) 631--638; the
coefficients of his SPECFUN routine CALERF), written with Array API operations only; relative error a few
ulps (measured against mpmath in ``tests/test_array_api.py``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from types import ModuleType

import array_api_compat

from ._xp import Array, is_numpy

__all__ = ["erf", "erfc", "ndtr", "portable_erf", "portable_erfc"]

_SQRT1_2 = math.sqrt(0.5)
_SQRPI = 0.56418958354775628695  # 1/sqrt(pi)

# erf(x) = x P(x^2)/Q(x^2) for |x| <= 0.46875
_A = (3.16112374387056560e00, 1.13864154151050156e02, 3.77485237685302021e02, 3.20937758913846947e03,
      1.85777706184603153e-1)  # fmt: skip
_B = (2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03, 2.84423683343917062e03)
# erfc(x) = exp(-x^2) P(x)/Q(x) for 0.46875 <= x <= 4
_C = (5.64188496988670089e-1, 8.88314979438837594e00, 6.61191906371416295e01, 2.98635138197400131e02,
      8.81952221241769090e02, 1.71204761263407058e03, 2.05107837782607147e03, 1.23033935479799725e03,
      2.15311535474403846e-8)  # fmt: skip
_D = (1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02, 1.62138957456669019e03,
      3.29079923573345963e03, 4.36261909014324716e03, 3.43936767414372164e03, 1.23033935480374942e03)  # fmt: skip
# erfc(x) = exp(-x^2)/x (1/sqrt(pi) + R(1/x^2)/x^2) for x > 4
_P = (3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1, 1.60837851487422766e-2,
      6.58749161529837803e-4, 1.63153871373020978e-2)  # fmt: skip
_Q = (2.56852019228982242e00, 1.87295284992346047e00, 5.27905102951428412e-1, 6.05183413124413191e-2,
      2.33520497626869185e-3)  # fmt: skip
_THRESH, _BIG = 0.46875, 26.543  # erfc(x) underflows to 0 above _BIG


def _ratio(y: Array, num: tuple[float, ...], den: tuple[float, ...]) -> Array:
    """Cody's evaluation order: ``num[-1] y`` and ``y`` seed the Horner schemes of numerator and denominator."""
    k = len(den)
    xnum, xden = num[-1] * y, y
    for i in range(k - 1):
        xnum = (xnum + num[i]) * y
        xden = (xden + den[i]) * y
    return (xnum + num[k - 1]) / (xden + den[k - 1])


def _exp_minus_square(xp: ModuleType, y: Array) -> Array:
    """:math:`e^{-y^2}` as :math:`e^{-s^2}e^{-(y-s)(y+s)}` with :math:`s = \\lfloor 16y\\rfloor/16` (Cody): the
    rounding of :math:`y^2` is not amplified by the exponential."""
    s = xp.floor(y * 16.0) / 16.0
    return xp.exp(-s * s) * xp.exp(-(y - s) * (y + s))


def _erfc_tail(xp: ModuleType, y: Array) -> Array:
    """erfc(y) for y >= 0.46875 (the middle and the far range), 0 beyond the underflow."""
    mid = _ratio(xp.where(y <= 4.0, y, 4.0), _C, _D)
    yf = xp.where(y > 4.0, y, 4.0)
    inv = 1.0 / (yf * yf)
    far = (_SQRPI - inv * _ratio(inv, _P, _Q)) / yf
    big = y >= _BIG
    scale = _exp_minus_square(xp, xp.where(big, 0.0, y))
    return xp.where(big, 0.0, scale * xp.where(y <= 4.0, mid, far))


def portable_erf(xp: ModuleType, x: Array) -> Array:
    r""":math:`\operatorname{erf}(x)` in Array API operations (module docstring)."""
    y = xp.abs(x)
    small = y <= _THRESH
    ys = xp.where(small, y, 0.0)
    inner = x * _ratio(ys * ys, _A, _B)
    tail = 1.0 - _erfc_tail(xp, xp.where(small, 1.0, y))
    return xp.where(small, inner, xp.where(x < 0, -tail, tail))


def portable_erfc(xp: ModuleType, x: Array) -> Array:
    r""":math:`\operatorname{erfc}(x)` in Array API operations (module docstring)."""
    y = xp.abs(x)
    small = y <= _THRESH
    ys = xp.where(small, y, 0.0)
    inner = 1.0 - x * _ratio(ys * ys, _A, _B)
    tail = _erfc_tail(xp, xp.where(small, 1.0, y))
    return xp.where(small, inner, xp.where(x < 0, 2.0 - tail, tail))


@functools.cache
def _library(xp: ModuleType) -> tuple[Callable, Callable, Callable | None]:
    """``(erf, erfc, ndtr)`` of the library behind ``xp``; ``ndtr`` None where the library has none."""
    if is_numpy(xp):
        from scipy import special

        return special.erf, special.erfc, special.ndtr
    if array_api_compat.is_jax_namespace(xp):
        from jax.scipy import special

        return special.erf, special.erfc, special.ndtr
    if array_api_compat.is_torch_namespace(xp):
        import torch

        return torch.special.erf, torch.special.erfc, torch.special.ndtr
    if array_api_compat.is_cupy_namespace(xp):
        from cupyx.scipy import special

        return special.erf, special.erfc, special.ndtr
    return functools.partial(portable_erf, xp), functools.partial(portable_erfc, xp), None


def erf(xp: ModuleType, x: Array) -> Array:
    r""":math:`\operatorname{erf}(x)` by the library behind ``xp``."""
    return _library(xp)[0](x)


def erfc(xp: ModuleType, x: Array) -> Array:
    r""":math:`\operatorname{erfc}(x)` by the library behind ``xp``."""
    return _library(xp)[1](x)


def ndtr(xp: ModuleType, x: Array) -> Array:
    r""":math:`\Phi(x)`: the library's ``ndtr``, else :math:`\tfrac12\operatorname{erfc}(-x/\sqrt2)`."""
    own = _library(xp)[2]
    return own(x) if own is not None else 0.5 * erfc(xp, -x * _SQRT1_2)
