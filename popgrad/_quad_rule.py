r"""The quadrature engine's rule: composite Gauss--Legendre with checked error estimates, in float64 or mpmath.

Rule.  On a panel :math:`[a, b]` a smooth integrand is integrated by two Gauss--Legendre rules of ``n`` and
``2n`` nodes; the ``2n``-node sum is the value and :math:`|Q_{2n} - Q_n|` its error estimate (conservative: the
larger rule is far more accurate than the smaller one, whose error this is).  Panels are at most one unit
long (the scale of the Gaussian density) and split wherever the integrand jumps, so every panel sees a smooth
function; a panel whose estimate is too large is bisected, and an integral whose summed estimate still misses
its tolerance (:func:`integrate`) after :data:`MAX_ROUNDS` rounds of bisection raises :class:`QuadratureError`.

Backends (:func:`backend`):

* ``"scipy"`` -- float64; nodes from ``scipy.special.roots_legendre`` (8 and 16 nodes: on a unit panel the
  8-node rule's error on :math:`\varphi` is about :math:`10^{-17}`); half-width
  :math:`L = 10` (:math:`\varphi(10) = 7.7\cdot10^{-23}`); rtol :math:`10^{-11}`.
* ``"mpmath"`` -- ``mpmath.mpf`` numbers in numpy object arrays, at ``dps + 5`` digits; nodes of mpmath's own
  Gauss--Legendre rule (``mpmath.calculus.quadrature.GaussLegendre``, :math:`3\cdot2^{d-1}` and
  :math:`3\cdot2^{d}` nodes, :math:`d = 3` up to 30 digits, one more per doubling of ``dps``);
  :math:`L = \lceil\sqrt{2(\text{dps} + 8)\ln 10}\,\rceil + 1`; rtol :math:`10^{-\text{dps}+5}`.

:class:`GaussianTail` is the inner integral of the two-dimensional row integrals:
:math:`U_q(y) = \int_y^L t^q\varphi(t)\,dt` (:math:`q = 0, 1`), from a table of the unit panels
:math:`[g, g + 1]` (integers :math:`g`) and the rule on the partial panel :math:`[y, \lceil y\rceil]`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import TypeAlias

import mpmath
import numpy as np
from scipy import special

__all__ = ["MAX_ROUNDS", "Backend", "GaussianTail", "Integrals", "QuadratureError", "backend", "integrate"]

MAX_ROUNDS = 40
"""Bisections of a panel before an integral that misses its tolerance raises :class:`QuadratureError`."""

MAX_PANELS = 20_000
"""More panels than this in one integral raise :class:`QuadratureError` (an integrand the rule cannot resolve)."""

CHUNK = 256
"""Panels evaluated at once (bounds the memory of the inner integrals' arrays)."""


class QuadratureError(ArithmeticError):
    """An integral whose error estimate exceeds the requested tolerance."""


Num: TypeAlias = float | mpmath.mpf
"""A working number: float64 (scipy backend) or ``mpmath.mpf`` (mpmath backend)."""


@dataclass(frozen=True)
class Backend:
    r"""Arithmetic, rule and tolerances of one backend (module docstring).

    Attributes
    ----------
    name : ``"scipy"`` or ``"mpmath"``
    dps : working digits (mpmath) or None
    rtol, atol : float, the tolerance of every integral's summed error estimate
    eps : float, the unit roundoff of the working arithmetic
    L : int, the half-width of the integration range :math:`[-L, L]`
    t_lo, w_lo, t_hi, w_hi : arrays, the two Gauss--Legendre rules on :math:`[-1, 1]`
    """

    name: str
    dps: int | None
    rtol: float
    atol: float
    eps: float
    L: int
    t_lo: np.ndarray
    w_lo: np.ndarray
    t_hi: np.ndarray
    w_hi: np.ndarray

    @property
    def is_mp(self) -> bool:
        return self.name == "mpmath"

    def num(self, x: float | int | Fraction) -> Num:
        """``x`` as a working number (exactly rounded from a Fraction)."""
        if not self.is_mp:
            return float(x)
        if isinstance(x, Fraction):
            return mpmath.mpf(x.numerator) / x.denominator
        return mpmath.mpf(x)

    def array(self, values: object) -> np.ndarray:
        """A working array (float64, or object array of ``mpf``)."""
        if not self.is_mp:
            return np.asarray(values, dtype=np.float64)
        arr = np.asarray(values, dtype=object)
        return np.vectorize(self.num, otypes=[object])(arr) if arr.size else arr

    def exp(self, x: np.ndarray) -> np.ndarray:
        return _MP_EXP(x) if self.is_mp else np.exp(x)

    def phi(self, x: np.ndarray) -> np.ndarray:
        r""":math:`\varphi(x) = e^{-x^2/2}/\sqrt{2\pi}` elementwise."""
        return self.exp(-0.5 * x * x) * self.inv_sqrt_2pi

    @property
    def inv_sqrt_2pi(self) -> Num:
        return 1 / mpmath.sqrt(2 * mpmath.pi) if self.is_mp else 1.0 / math.sqrt(2.0 * math.pi)

    def ceil_int(self, x: np.ndarray) -> np.ndarray:
        """``ceil(x)`` as an int64 array (``x`` finite)."""
        if self.is_mp:
            return np.vectorize(lambda v: int(mpmath.ceil(v)), otypes=[np.int64])(x)
        return np.ceil(x).astype(np.int64)

    def floats(self, x: object) -> np.ndarray:
        """Working numbers as float64."""
        return np.asarray(x, dtype=object).astype(np.float64) if self.is_mp else np.asarray(x, dtype=np.float64)


_MP_EXP = np.frompyfunc(mpmath.exp, 1, 1)


def _phi_float(x: float) -> float:
    return math.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


def _legendre(n: int) -> tuple[np.ndarray, np.ndarray]:
    t, w = special.roots_legendre(n)
    return np.asarray(t, dtype=np.float64), np.asarray(w, dtype=np.float64)


def _mp_legendre(degree: int) -> tuple[np.ndarray, np.ndarray]:
    """mpmath's Gauss--Legendre nodes of ``degree`` (3 * 2**(degree - 1) nodes on [-1, 1]) at the current precision."""
    from mpmath.calculus.quadrature import GaussLegendre

    nodes = GaussLegendre(mpmath.mp).calc_nodes(degree, mpmath.mp.prec)
    return np.array([t for t, _ in nodes], dtype=object), np.array([w for _, w in nodes], dtype=object)


def backend(name: str, dps: int = 30) -> Backend:
    """The backend ``"scipy"`` or ``"mpmath"`` (the latter inside ``mpmath.workdps(dps + 5)``)."""
    if name == "scipy":
        return Backend("scipy", None, 1e-11, 1e-300, 2.0**-53, 10, *_legendre(8), *_legendre(16))
    if name == "mpmath":
        degree = 3 + max(0, math.ceil(math.log2(dps / 30))) if dps > 30 else 3
        L = math.ceil(math.sqrt(2 * (dps + 8) * math.log(10))) + 1
        return Backend(
            "mpmath",
            dps,
            10.0 ** (-dps + 5),
            1e-300,
            2.0 ** (-mpmath.mp.prec),
            L,
            *_mp_legendre(degree),
            *_mp_legendre(degree + 1),
        )
    raise ValueError(f"unknown backend {name!r}; expected 'scipy' or 'mpmath'")


# ---------------------------------------------------------------------------------------------------------
# Composite rule over panels


@dataclass(frozen=True)
class Integrals:
    r"""The results of :func:`integrate`, one entry per integrand (working numbers / float64).

    ``value`` the integrals; ``error`` their bounds: the summed (checked) estimates, the integrands' own errors
    (their ``spread`` integrated), the truncation and the rounding of the sums; ``scale`` :math:`\int|f|`.
    """

    value: np.ndarray
    error: np.ndarray
    scale: np.ndarray


Integrand = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray | float]]
"""``f(x) -> (values (R, *x.shape), spread (R, *x.shape))``: R integrands at the nodes ``x``, and a float64 bound
on the error of each value (e.g. from an inner integral); ``spread`` may be 0."""


def _panel_sums(
    bk: Backend, a: np.ndarray, b: np.ndarray, f: Integrand, sizes: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Both rules on the panels ``[a_p, b_p]``: (hi (R, P), lo (R, P), |f| integral (R, P), spread (R, P));
    the last two are None unless ``sizes``."""
    if len(a) > CHUNK:
        parts = [_panel_sums(bk, a[i : i + CHUNK], b[i : i + CHUNK], f, sizes) for i in range(0, len(a), CHUNK)]
        cols = list(zip(*parts, strict=True))
        hi, lo = (np.concatenate(c, axis=-1) for c in cols[:2])
        sized = [None if c[0] is None else np.concatenate(c, axis=-1) for c in cols[2:]]
        return hi, lo, sized[0], sized[1]
    half = (b - a) / 2
    mid = (a + b) / 2
    t = np.concatenate([bk.t_hi, bk.t_lo])
    x = mid[:, None] + half[:, None] * t[None, :]
    vals, spread = f(x)
    n_hi = len(bk.t_hi)
    hi = (vals[..., :n_hi] * bk.w_hi).sum(axis=-1) * half
    lo = (vals[..., n_hi:] * bk.w_lo).sum(axis=-1) * half
    if not sizes:
        return hi, lo, None, None
    w_hi = bk.floats(bk.w_hi)
    half_f = bk.floats(half)
    absint = (np.abs(bk.floats(vals[..., :n_hi])) * w_hi).sum(axis=-1) * half_f
    prop = (np.broadcast_to(spread, vals.shape)[..., :n_hi] * w_hi).sum(axis=-1) * half_f
    return hi, lo, absint, prop


def integrate(bk: Backend, breaks: list, f: Integrand, names: list[str], bounds: np.ndarray) -> Integrals:
    r"""Integrals of the R integrands of ``f`` over the line, split at ``breaks`` and the unit grid of :math:`[-L, L]`.

    ``bounds`` (R,) bound :math:`|f(x)|/\varphi(x)` (integrands of the form weight(x) x^p φ(x), p <= 1, with
    :math:`|x^p\,\text{weight}| \le` bound outside :math:`[-L, L]`): the truncation adds at most :math:`2\varphi(L)`
    times it to ``error``, and it is the natural size of the integral.  ``error`` also holds the propagated
    ``spread`` and the rounding of the sums, ``(P + 32) eps`` times :math:`\int|f|` for P panels.

    Tolerance: ``rtol * max(scale, bound) + atol`` (relative to :math:`\int|f|`, but never finer than the
    integrand's natural size: an integral that is small by cancellation of its layer, e.g. along a near-parallel
    pair's :math:`u`, is not refined into the rounding noise of its integrand).  Raises :class:`QuadratureError`
    naming the integrand whose summed estimate misses it after :data:`MAX_ROUNDS` rounds of bisection of the
    offending panels.
    """
    L = bk.L
    pts = sorted({bk.num(g) for g in range(-L, L + 1)} | {x for x in breaks if -L < x < L})
    a, b = bk.array(pts[:-1]), bk.array(pts[1:])
    keep = b > a
    a, b = a[keep], b[keep]
    R = len(names)
    value = bk.array([0] * R)
    est, scale, prop = np.zeros(R), np.zeros(R), np.zeros(R)
    floor = np.asarray(bounds, dtype=np.float64)
    count = 0
    for _ in range(MAX_ROUNDS):
        hi, lo, absint, pr = _panel_sums(bk, a, b, f)
        assert absint is not None and pr is not None  # sizes=True
        err = np.abs(bk.floats(hi - lo))
        tol = bk.rtol * np.maximum(scale + absint.sum(axis=1), floor) + bk.atol
        failing = est + err.sum(axis=1) > tol
        # a failing integrand's tolerance is shared among the panels in proportion to their width
        share = tol[:, None] * bk.floats(b - a)[None, :] / (2.0 * L)
        bad = np.any(failing[:, None] & (err > share), axis=0)
        if np.any(failing) and not np.any(bad):
            bad = np.any(failing[:, None] & (err > 0), axis=0)
        good = ~bad
        value = value + hi[:, good].sum(axis=1)
        est = est + err[:, good].sum(axis=1)
        scale = scale + absint[:, good].sum(axis=1)
        prop = prop + pr[:, good].sum(axis=1)
        count += int(good.sum())
        if not np.any(bad):
            break
        a_bad, b_bad = a[bad], b[bad]
        if count + 2 * len(a_bad) > MAX_PANELS:
            break
        mid = (a_bad + b_bad) / 2
        a, b = np.concatenate([a_bad, mid]), np.concatenate([mid, b_bad])
    tol = bk.rtol * np.maximum(scale, floor) + bk.atol
    if np.any(bad) or np.any(est > tol):
        worst = int(np.argmax(est / tol)) if not np.any(bad) else int(np.argmax(failing))
        raise QuadratureError(
            f"{bk.name} quadrature of {names[worst]}: error estimate {est[worst]:.3g} exceeds the tolerance "
            f"{tol[worst]:.3g} (after up to {MAX_ROUNDS} rounds of bisection, at most {MAX_PANELS} panels)"
        )
    rounding = (count + 32) * bk.eps * scale
    return Integrals(value, est + prop + rounding + 2.0 * _phi_float(L) * floor, scale)


# ---------------------------------------------------------------------------------------------------------
# The inner integral


class GaussianTail:
    r""":math:`U_q(y) = \int_y^L t^q\varphi(t)\,dt`, :math:`q = 0, 1`, by the rule (module docstring).

    The table holds the integrals from each integer :math:`g \in [-L, L]` to :math:`L` (sums of unit panels,
    each checked); a call adds the partial panel :math:`[y, \lceil y\rceil]` (checked at every ``y``).  Since
    :math:`|U_q| \le 1`, the tolerance of every panel is absolute: ``rtol``.
    """

    def __init__(self, bk: Backend) -> None:
        self.bk = bk
        L = bk.L
        g = bk.array(list(range(-L, L)))
        hi, lo, _, _ = _panel_sums(bk, g, g + 1, self._moments, sizes=False)
        err = np.abs(bk.floats(hi - lo))
        if np.any(err > bk.rtol):  # U_q <= 1: the tolerance is absolute (rtol of the scale 1)
            raise QuadratureError(f"{bk.name} quadrature of the Gaussian table: error estimate {err.max():.3g}")
        zero = np.array([[bk.num(0)], [bk.num(0)]], dtype=object if bk.is_mp else np.float64)
        # cumulative from the top: table[:, j] = integral from g_j = j - L to L
        self.table = np.concatenate([np.cumsum(hi[:, ::-1], axis=1)[:, ::-1], zero], axis=1)
        self.table_err = np.concatenate([np.cumsum(err[:, ::-1], axis=1)[:, ::-1], np.zeros((2, 1))], axis=1)
        # truncation: int_L^oo t^q phi <= phi(L) (q = 1), phi(L)/L (q = 0); both ends counted
        self.tail = 2.0 * _phi_float(L)

    def _moments(self, t: np.ndarray) -> tuple[np.ndarray, float]:
        ph = self.bk.phi(t)
        return np.stack([ph, t * ph]), 0.0

    def __call__(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(U_0(y), U_1(y), error bound)`` elementwise; ``y`` outside ``[-L, L]`` is clipped (tails bounded)."""
        bk = self.bk
        L = bk.L
        y = np.where(y < -L, bk.num(-L), np.where(y > L, bk.num(L), y))
        g = bk.ceil_int(y)
        h = g - y  # in [0, 1)
        hi, lo, _, _ = _panel_sums(bk, y.reshape(-1), (y + h).reshape(-1), self._moments, sizes=False)
        err = np.abs(bk.floats(hi - lo))
        if np.any(err > bk.rtol):
            raise QuadratureError(f"{bk.name} quadrature of an inner Gaussian panel: error estimate {err.max():.3g}")
        idx = (g + L).reshape(-1)
        u = self.table[:, idx] + hi
        bound = err.max(axis=0) + self.table_err[:, idx].max(axis=0) + self.tail
        bound = bound + 8 * bk.eps * np.abs(bk.floats(u)).max(axis=0)
        shape = y.shape
        return u[0].reshape(shape), u[1].reshape(shape), bound.reshape(shape)
