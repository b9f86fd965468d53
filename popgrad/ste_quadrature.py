r"""Expected coarse gradient for any :math:`\mu'` (``pg.ste.custom``) by checked 1-D quadrature.

The coarse gradient needs, for one row :math:`z \sim N(0, I_n)` (see :mod:`popgrad.closed_form`),
:math:`a = E[z\mu'(z^\top w)]`, :math:`b = E[z\mu'(z^\top w)1\{z^\top w > 0\}]` and
:math:`c = E[z\mu'(z^\top w)1\{z^\top w^* > 0\}] = c_w\hat w + c_*\hat w^*`.  With
:math:`x = z^\top\hat w`, :math:`r = \|w\|`, :math:`s = \sin\theta`, :math:`\kappa = \cot\theta`
(``derivations/custom_ste.md``):

.. math::
    a &= \int \mu'(rx)\,x\varphi(x)\,dx, \qquad b = \int_0^\infty \mu'(rx)\,x\varphi(x)\,dx, \\
    c_* &= \varphi(0)\int \mu'(r s t)\,\varphi(t)\,dt, \qquad
    c_w = \int \mu'(rx)\,x\varphi(x)\Phi(\kappa x)\,dx \;-\; \cos\theta\; c_*,

(equivalently :math:`c_w = \int\mu'(rx)[x\varphi(x)\Phi(\kappa x) - \kappa\varphi(0)\varphi(x/s)]dx`).
At :math:`s = 0` the limits are used: :math:`\Phi(\kappa x) \to 1\{x\cos\theta > 0\}` and
:math:`c_* \to \varphi(0)[\mu'(0^-) + \mu'(0^+)]/2`.

Each integral is split at 0, at the STE's ``points`` (scaled to :math:`x` units) and truncated to
:math:`|x| \le 40` (where :math:`\varphi = 0` in float64, so :math:`\mu'` must not grow faster than a
polynomial), and evaluated with ``scipy.integrate.quad``; the summed error estimates are checked
against ``tol`` and a ``ValueError`` names the coefficient that missed it.

Examples
--------
>>> import numpy as np
>>> from popgrad import ste
>>> from popgrad.geometry import plane
>>> from popgrad.ste_quadrature import coarse_coefficients
>>> cc = coarse_coefficients(ste.custom(lambda x: (x > 0) * 1.0, points=[0.0]), plane([1.0, 0.0], [0.0, 1.0]))
>>> bool(abs(cc.b - 1 / np.sqrt(2 * np.pi)) < 1e-12)   # ReLU: b = phi(0)
True
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np
from scipy import integrate, special

from .closed_form import CoarseCoefficients
from .geometry import Plane
from .ste import STE

__all__ = ["DEFAULT_TOL", "coarse_coefficients"]

DEFAULT_TOL = 1e-10
_PHI0 = 1.0 / math.sqrt(2.0 * math.pi)
_CUT = 40.0
_TINY = 1e-300


def _integrate(f: Callable[[float], float], breaks: list[float], what: str, tol: float) -> float:
    """Integral of ``f`` over [-40, 40] split at ``breaks``; raises if the error estimate exceeds ``tol``."""
    edges = sorted({-_CUT, _CUT, *(b for b in breaks if -_CUT < b < _CUT)})
    total = err = 0.0
    for lo, hi in itertools.pairwise(edges):
        val, e, *_ = integrate.quad(f, lo, hi, epsabs=0.1 * tol, epsrel=1e-12, limit=200, full_output=1)
        total += val
        err += e
    if not err <= tol:
        raise ValueError(
            f"quadrature of {what} has error estimate {err:.3g} > tol = {tol:g}; give the discontinuities "
            "of mu_prime as points=... to popgrad.ste.custom, or raise tol"
        )
    return total


def _scalar(mu: Callable[[np.ndarray], np.ndarray]) -> Callable[[float], float]:
    def f(x: float) -> float:
        return float(np.asarray(mu(np.array([x])), dtype=np.float64).reshape(-1)[0])

    return f


def _one(mu1: Callable[[float], float], points: tuple[float, ...], r: float, cos: float, sin: float, tol: float):
    xb = [0.0, *(t / r for t in points)]
    a = _integrate(lambda x: mu1(r * x) * x * _PHI0 * math.exp(-0.5 * x * x), xb, "a = E[z mu'(z.w)]", tol)
    b = _integrate(
        lambda x: mu1(r * x) * x * _PHI0 * math.exp(-0.5 * x * x) if x > 0 else 0.0, xb, "b = E[z mu' 1{z.w>0}]", tol
    )
    s = max(sin, _TINY)
    tb = [0.0, *(t / (r * s) for t in points)]
    c_star = _PHI0 * _integrate(lambda t: mu1(r * s * t) * _PHI0 * math.exp(-0.5 * t * t), tb, "c_star", tol)
    if sin > 0:
        k = cos / sin
        # the step of Phi(k x) has width 1/|k| around 0: add breaks there so quad resolves it
        width = [d / abs(k) for d in (-4.0, -1.0, 1.0, 4.0)] if k != 0 else []
        big_p = _integrate(
            lambda x: mu1(r * x) * x * _PHI0 * math.exp(-0.5 * x * x) * special.ndtr(k * x), xb + width, "c_w", tol
        )
    else:
        big_p = b if cos > 0 else a - b  # Phi(k x) -> 1{x cos > 0}
    return a, b, big_p - cos * c_star, c_star


def coarse_coefficients(ste: STE, p: Plane, tol: float = DEFAULT_TOL) -> CoarseCoefficients:
    r"""``a, b, c_w, c_*`` (see the module docstring) by quadrature, for an STE without ``pieces``.

    Parameters
    ----------
    ste : popgrad.ste.STE
        Its ``mu_prime`` is integrated; ``ste.points`` are used as breakpoints.
    p : popgrad.geometry.Plane
        Batch shape ``(...)``; one set of quadratures per distinct ``(‖w‖, θ)``.
    tol : float
        Absolute tolerance on the summed error estimate of each coefficient.

    Returns
    -------
    CoarseCoefficients with arrays of shape ``(...)``.
    """
    if not tol > 0:
        raise ValueError(f"tol must be > 0, got {tol}")
    mu1 = _scalar(ste.mu_prime)
    points = tuple(getattr(ste, "points", ()))
    r = np.asarray(p.r, dtype=np.float64)
    cos = np.broadcast_to(p.cos_theta, r.shape)
    sin = np.broadcast_to(p.sin_theta, r.shape)
    out = np.empty((4, *r.shape))
    cache: dict[tuple[float, float, float], tuple[float, float, float, float]] = {}
    for idx in np.ndindex(r.shape):
        key = (float(r[idx]), float(cos[idx]), float(sin[idx]))
        if key not in cache:
            cache[key] = _one(mu1, points, *key, tol)
        out[(slice(None), *idx)] = cache[key]
    return CoarseCoefficients(a=out[0], b=out[1], c_w=out[2], c_star=out[3])
