r"""Coarse-gradient kernels of any :math:`\mu'` (``pg.ste.custom``) by checked one-dimensional quadrature.

The same expectations as :mod:`popgrad.kernels.coarse` (staircase :math:`\sigma(x) = \sum_k J_k 1\{x > t_k\}`,
the binary one included), for a :math:`\mu'` known only as a function.  With :math:`x = z^\top\hat a`,
:math:`r = \|a\|`, :math:`\tau_k = t_k/r`, :math:`\tau^*_k = t_k/\|b\|`, :math:`c = \cos\theta`,
:math:`s = \sin\theta` (``derivations/custom_ste.md``):

.. math::
    \alpha &= \int\mu'(rx)\,x\varphi(x)\,dx, \qquad
    \beta = \textstyle\sum_k J_k\int_{\tau_k}^\infty \mu'(rx)\,x\varphi(x)\,dx, \\
    c_* &= \textstyle\sum_k J_k\,\varphi(\tau^*_k)\int\mu'\big(r(\tau^*_k c + s t)\big)\varphi(t)\,dt, \qquad
    c_w = \textstyle\sum_k J_k\int\mu'(rx)\,x\varphi(x)\,\Phi\Big(\frac{xc - \tau^*_k}{s}\Big)dx \;-\; c\,c_*.

At :math:`s = 0` the limits are used (:math:`\Phi(\cdot/s) \to` a step; :math:`c_*` with :math:`s = 10^{-300}`).

Trust.  Each integral runs over :math:`|x| \le 40` (:math:`\varphi(40) = 0` in float64, so :math:`\mu'` must not
grow faster than a polynomial), split at 0, at the thresholds, at the edge layer of :math:`\Phi`, at the STE's
declared ``points`` and at every jump of :math:`\mu'` that :func:`popgrad._scan.find_jumps` locates on the range
the integral sees; ``scipy.integrate.quad`` evaluates each piece, and the summed error estimate of every
coefficient is checked against ``tol`` (``ValueError`` naming the coefficient otherwise).  A jump narrower than
the scan's grid (about :math:`80\|a\|/2^{15}` in pre-activation units) must be declared in ``points``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike
from scipy import integrate, special

from .._scan import find_jumps
from ..gaussian import CLIP, PHI0
from ..geometry import Plane
from ..ste import STE
from .coarse import CoarseCross, CoarseSelf

__all__ = ["DEFAULT_TOL", "cross", "self_terms"]

DEFAULT_TOL = 1e-10
"""Absolute tolerance on the summed quadrature error estimate of each coefficient."""

_TINY = 1e-300


def _integrate(f: Callable[[float], float], breaks: list[float], what: str, tol: float, lo: float = -CLIP) -> float:
    """Integral of ``f`` over [lo, 40] split at ``breaks``; raises if the summed error estimate exceeds ``tol``."""
    edges = sorted({lo, CLIP, *(b for b in breaks if lo < b < CLIP)})
    total = err = 0.0
    for a, b in itertools.pairwise(edges):
        val, e, *_ = integrate.quad(f, a, b, epsabs=0.1 * tol, epsrel=1e-12, limit=200, full_output=1)
        total += val
        err += e
    if not err <= tol:
        raise ValueError(
            f"quadrature of {what} has error estimate {err:.3g} > tol = {tol:g}; declare the discontinuities "
            "of mu_prime as points=... in popgrad.ste.custom, or raise tol"
        )
    return total


def _scalar(mu: Callable[[np.ndarray], np.ndarray]) -> Callable[[float], float]:
    def f(x: float) -> float:
        return float(np.asarray(mu(np.array([x])), dtype=np.float64).reshape(-1)[0])

    return f


class _Integrals:
    """The integrals of one STE at one ``r``: the jumps of mu'(r x) are located once."""

    def __init__(self, ste: STE, r: float, tol: float) -> None:
        self.r, self.tol = r, tol
        self.mu = _scalar(ste.mu_prime)
        found = find_jumps(ste.mu_prime, -CLIP * r, CLIP * r)
        self.jumps = sorted({*found.tolist(), *getattr(ste, "points", ())})  # pre-activation units
        self.x_breaks = [0.0, *(p / r for p in self.jumps)]

    def weight(self, x: float) -> float:  # mu'(r x) x phi(x)
        return self.mu(self.r * x) * x * PHI0 * math.exp(-0.5 * x * x)

    def alpha(self) -> float:
        return _integrate(self.weight, self.x_breaks, "alpha = E[z mu'(z.a)]", self.tol)

    def beta(self, thresholds: tuple[float, ...], jumps: tuple[float, ...]) -> float:
        total = 0.0
        for t, j in zip(thresholds, jumps, strict=True):
            tau = t / self.r
            if tau < CLIP:
                total += j * _integrate(
                    self.weight, self.x_breaks, "beta = E[z mu' sigma(z.a)]", self.tol, max(tau, -CLIP)
                )
        return total

    def cross(
        self, thresholds: tuple[float, ...], jumps: tuple[float, ...], r_b: float, cos: float, sin: float
    ) -> tuple[float, float]:
        s = max(sin, _TINY)
        big_p = c_star = 0.0
        for t, j in zip(thresholds, jumps, strict=True):
            tau = t / r_b
            shift = tau * cos
            t_breaks = [(p / self.r - shift) / s for p in self.jumps]
            cs = _integrate(
                # mypy cannot infer the type of a lambda with a default argument; the default binds the loop's
                # shift (ruff B023), and this module is the numerical core: its body is left as it is
                lambda u, shift=shift: self.mu(self.r * (shift + s * u)) * PHI0 * math.exp(-0.5 * u * u),  # type: ignore[misc]
                t_breaks,
                "c_star",
                self.tol,
            )
            c_star += j * PHI0 * math.exp(-0.5 * tau * tau) * cs
            big_p += j * self._p_term(tau, cos, sin)
        return big_p - cos * c_star, c_star

    def _p_term(self, tau: float, cos: float, sin: float) -> float:
        """int mu'(r x) x phi(x) Phi((x c - tau)/s) dx; at s = 0 the step 1{x c > tau}."""
        if sin > 0:
            edge = [] if cos == 0 else [tau / cos + d * sin / abs(cos) for d in (-4.0, -1.0, 0.0, 1.0, 4.0)]
            return _integrate(
                lambda x: self.weight(x) * special.ndtr((x * cos - tau) / sin), self.x_breaks + edge, "c_w", self.tol
            )
        # sin = 0: cos = +-1, the step is at x = tau / cos
        step = tau / cos
        if cos > 0:
            return _integrate(self.weight, self.x_breaks, "c_w", self.tol, max(step, -CLIP)) if step < CLIP else 0.0
        if step <= -CLIP:
            return 0.0
        return self.alpha() - (_integrate(self.weight, self.x_breaks, "c_w", self.tol, step) if step < CLIP else 0.0)


def _check_tol(tol: float) -> None:
    if not tol > 0:
        raise ValueError(f"tol must be > 0, got {tol}")


def self_terms(
    ste: STE, thresholds: tuple[float, ...], jumps: tuple[float, ...], r: ArrayLike, tol: float = DEFAULT_TOL
) -> CoarseSelf:
    r""":math:`\alpha, \beta` by quadrature, one set per distinct ``r``; ``r (...)`` -> each ``(...)``."""
    _check_tol(tol)
    r = np.asarray(r, dtype=np.float64)
    alpha, beta = np.empty(r.shape), np.empty(r.shape)
    cache: dict[float, tuple[float, float]] = {}
    for idx in np.ndindex(r.shape):
        key = float(r[idx])
        if key not in cache:
            ints = _Integrals(ste, key, tol)
            cache[key] = (ints.alpha(), ints.beta(thresholds, jumps))
        alpha[idx], beta[idx] = cache[key]
    return CoarseSelf(alpha, beta)


def cross(
    ste: STE, thresholds: tuple[float, ...], jumps: tuple[float, ...], p: Plane, tol: float = DEFAULT_TOL
) -> CoarseCross:
    r""":math:`c_w, c_*` by quadrature, one set per distinct ``(‖a‖, ‖b‖, θ)`` of the plane ``p``."""
    _check_tol(tol)
    shape = np.broadcast_shapes(np.shape(p.r), np.shape(p.theta), np.shape(p.r_star))
    arrays = [
        np.broadcast_to(np.asarray(x, dtype=np.float64), shape) for x in (p.r, p.r_star, p.cos_theta, p.sin_theta)
    ]
    c_w, c_star = np.empty(shape), np.empty(shape)
    integrals: dict[float, _Integrals] = {}
    cache: dict[tuple[float, ...], tuple[float, float]] = {}
    for idx in np.ndindex(shape):
        key = tuple(float(a[idx]) for a in arrays)
        if key not in cache:
            if key[0] not in integrals:
                integrals[key[0]] = _Integrals(ste, key[0], tol)
            cache[key] = integrals[key[0]].cross(thresholds, jumps, *key[1:])
        c_w[idx], c_star[idx] = cache[key]
    return CoarseCross(c_w, c_star)
