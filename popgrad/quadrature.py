r"""Deterministic quadrature of every expectation in the model, over the plane span{w, w*}.

Trusts only the definitions, independence of the rows of Z and their rotation invariance; it
does not import :mod:`popgrad.closed_form` (nor :mod:`popgrad.geometry`).

Reduction.  Row i enters through :math:`x_i = z_i^\top\hat w`, :math:`y_i = z_i^\top u`
(i.i.d. N(0, 1), ``derivations/projection.md``): :math:`s_i = 1\{x_i > 0\}`,
:math:`t_i = 1\{x_i\cos\theta + y_i\sin\theta > 0\}`, :math:`\mu_i = \mu'(\|w\|x_i)`.  With
:math:`a_i = v_i s_i - v^*_i t_i`, :math:`e = \sum_i a_i` and rows independent,

.. math::
    f &= \tfrac12\Big[\textstyle\sum_i E a_i^2 + A^2 - \sum_i (E a_i)^2\Big],\quad A = \sum_i E a_i,\\
    E[s_k e] &= v_k P_s - v^*_k P_{st} + P_s (A - E a_k),\\
    E g_\mu &= \textstyle\sum_k v_k\big(v_k J_s - v^*_k J_t + J (A - E a_k)\big)\quad
               \text{(coordinates on } \hat w, u),

where :math:`E a_i = v_i P_s - v^*_i P_t`, :math:`E a_i^2 = v_i^2 P_s - 2v_iv^*_i P_{st} + v^{*2}_i P_t`
and the *row integrals* are, with :math:`\varphi` the N(0, 1) density,

.. math::
    P_\bullet = \iint \bullet\,\varphi(x)\varphi(y)\,dx\,dy,\qquad
    J_\bullet = \iint (x, y)\,\mu'(\|w\|x)\,\bullet\,\varphi(x)\varphi(y)\,dx\,dy

for :math:`\bullet \in \{s, t, st\}` (and :math:`J = J_1`).  The true gradient uses the boundary
representation of ``derivations/score_function.md``:
:math:`\partial f/\partial w = \frac{\varphi(0)}{\|w\|}\sum_i v_i\big[(A - Ea_i + v_i/2)K_0 - v^*_i K_+\big]u`,
:math:`K_0 = \int y\varphi(y)\,dy`, :math:`K_+ = \int_0^\infty y\varphi(y)\,dy`.

Each row integral is iterated, :math:`x` outside, :math:`y` inside, on :math:`[-L, L]^2`
(:math:`\varphi(L)(1 + L)` below the tolerance), split where the integrand jumps: the outer one at
:math:`x = 0` and at the breakpoints :math:`b/\|w\|` of :math:`\mu'` (``ste.pieces``), the inner one
at :math:`y = -x\cot\theta` (the edge of :math:`t`) and at 0.  Every integrator error estimate is
checked (inner and outer); a result that misses its tolerance raises :class:`QuadratureError`.

Backends: ``"scipy"`` (``scipy.integrate.quad``, float64, relative tolerance 1e-11) and
``"mpmath"`` (``mpmath.quad``, tanh-sinh, any ``dps``; tolerance :math:`10^{-\mathrm{dps}+5}`).
An STE without ``pieces`` is integrated without splits at its (unknown) jumps by the scipy
backend, still with the error check; the mpmath backend refuses it.
"""

from __future__ import annotations

import functools
import itertools
import math
import warnings
from dataclasses import dataclass

import mpmath
import numpy as np
from scipy import integrate

from ._exact_plane import exact_plane
from .ste import STE

__all__ = ["QuadratureError", "QuadratureResult", "integrate_point"]


class QuadratureError(ArithmeticError):
    """An integral whose error estimate exceeds the requested tolerance."""


# ---------------------------------------------------------------------------------------------
# Backends: the same integration code in float64 (scipy) or at any precision (mpmath)


class _Scipy:
    name = "scipy"

    def __init__(self) -> None:
        self.rtol = 1e-11
        self.atol = 1e-15
        self.half_width = 12.0  # phi(12) (1 + 12) < 1e-30

    num = staticmethod(float)
    exp = staticmethod(math.exp)
    sqrt = staticmethod(math.sqrt)
    pi = math.pi

    def quad(self, f, a: float, b: float) -> tuple[float, float]:
        with warnings.catch_warnings():
            warnings.simplefilter("error", integrate.IntegrationWarning)
            try:
                val, err = integrate.quad(f, a, b, epsabs=0.1 * self.atol, epsrel=0.01 * self.rtol, limit=400)
            except integrate.IntegrationWarning as exc:
                raise QuadratureError(f"scipy.integrate.quad on [{a:.6g}, {b:.6g}]: {exc}") from None
        return val, err


class _Mpmath:
    name = "mpmath"

    def __init__(self, dps: int) -> None:
        self.dps = dps
        self.rtol = mpmath.mpf(10) ** (-dps + 5)
        self.atol = mpmath.mpf(10) ** (-dps + 2)
        self.half_width = mpmath.mpf(math.sqrt(2 * (dps + 8) * math.log(10)) + 1)

    num = staticmethod(mpmath.mpf)
    exp = staticmethod(mpmath.exp)
    sqrt = staticmethod(mpmath.sqrt)

    @property
    def pi(self):
        return mpmath.pi

    def quad(self, f, a, b):
        val, err = mpmath.quad(f, [a, b], method="gauss-legendre", error=True)
        return val, err


# ---------------------------------------------------------------------------------------------
# The plane, in backend arithmetic


@dataclass(frozen=True)
class _Plane:
    r: object
    w_hat: list
    u: list
    cos: object
    sin: object


def _plane(bk, w: np.ndarray, w_star: np.ndarray) -> _Plane:
    """The basis from exact rational invariants (:mod:`popgrad._exact_plane`), in backend numbers."""
    ex = exact_plane(w, w_star)
    if bk.name == "scipy":
        r, w_hat, u, cos, sin = ex.floats()
        return _Plane(r, list(w_hat), list(u), cos, sin)

    def q(x):  # a Fraction in working precision
        return mpmath.mpf(x.numerator) / x.denominator

    sw = mpmath.sqrt(q(ex.W))
    w_hat = [q(x) / sw for x in ex.w]
    ws = mpmath.sqrt(q(ex.W * ex.S))
    if ex.parallel:
        return _Plane(sw, w_hat, [mpmath.mpf(0)] * len(w_hat), q(ex.D) / ws, mpmath.mpf(0))
    pn = mpmath.sqrt(q(ex.W * ex.G))
    return _Plane(sw, w_hat, [q(x) / pn for x in ex.p], q(ex.D) / ws, mpmath.sqrt(q(ex.G)) / ws)


# ---------------------------------------------------------------------------------------------
# Row integrals


class _RowIntegrals:
    """The row integrals P and J of the module docstring, with their checked error estimates."""

    def __init__(self, bk, plane: _Plane) -> None:
        self.bk = bk
        self.p = plane
        self.L = bk.half_width
        self.norm = 1 / bk.sqrt(2 * bk.pi)
        self.max_err = 0.0
        self._inner_cached = functools.lru_cache(maxsize=None)(self._inner_uncached)

    def phi(self, x):
        return self.norm * self.bk.exp(-x * x / 2)

    def _check(self, val, err, scale, what: str) -> None:
        """Accept ``err <= rtol * scale + atol``; ``scale`` = sum of |sub-integrals| (>= |val|)."""
        bk = self.bk
        if not err <= bk.rtol * scale + bk.atol:
            raise QuadratureError(
                f"{bk.name} quadrature of {what}: error estimate {float(err):.3g} exceeds the tolerance "
                f"(relative {float(bk.rtol):.3g}, absolute {float(bk.atol):.3g}) for the value {float(val):.17g}"
            )
        self.max_err = max(self.max_err, float(err))

    def _integrate(self, f, points: list, what: str):
        return self._integrate_segments([(a, b, f) for a, b in itertools.pairwise(points)], what)

    def _integrate_segments(self, segments: list, what: str):
        """Sum of the integrals of ``f`` over ``[a, b]`` for ``(a, b, f)`` in ``segments``, checked."""
        total = scale = self.bk.num(0)
        total_err = 0
        for a, b, f in segments:
            if b > a:
                val, err = self.bk.quad(f, a, b)
                total += val
                scale += abs(val)
                total_err += err
        self._check(total, total_err, scale, what)
        return total

    def _inner_uncached(self, x, k: int, with_t: bool):
        r"""\int y^k 1\{t\} \varphi(y) dy at outer point x (the whole line if not with_t)."""
        L = self.L
        lo = -L
        if with_t:
            if self.p.sin == 0:
                if not self.p.cos * x > 0:
                    return self.bk.num(0)
            else:
                lo = max(lo, -x * self.p.cos / self.p.sin)
                if lo >= L:
                    return self.bk.num(0)
        points = [lo, 0, L] if lo < 0 else [lo, L]
        where = f"at x={float(x):.6g}" if with_t else "over the line"
        return self._integrate(lambda y: y**k * self.phi(y), points, f"the inner integral (k={k}) {where}")

    def inner(self, x, k: int, with_t: bool):
        return self._inner_cached(x if with_t else None, k, with_t)  # the whole line: independent of x

    def outer_points(self, breaks: list) -> list:
        r"""-L, the jumps in x (0 and ``breaks``), the layer of t's edge, L (sorted, inside (-L, L)).

        The inner integral over t's region, a smooth function of x, turns from 0 to its full value
        across :math:`|x| \lesssim |\tan\theta|` (its edge :math:`y = -x\cot\theta` sweeps through
        the bulk of :math:`\varphi(y)`); for small :math:`|\tan\theta|` that layer gets its own
        sub-intervals, at :math:`\pm 4^k|\tan\theta|`, k = 0..3.
        """
        L = self.L
        extra = set()
        if self.p.sin != 0 and abs(self.p.sin) < abs(self.p.cos):
            tan = abs(self.p.sin / self.p.cos)
            extra = {sign * tan * 4**k for k in range(4) for sign in (-1, 1)}
        inside = sorted({b for b in [*breaks, *extra] if -L < b < L} | {self.bk.num(0)})
        return [-L, *inside, L]

    def row(self, weight, k_x: int, k_y: int, with_s: bool, with_t: bool, breaks: list, what: str):
        r""":math:`\iint x^{k_x} y^{k_y} \text{weight}(x) 1\{s\}^{with_s} 1\{t\}^{with_t}\varphi\varphi`.

        ``weight`` is a callable, or a list of constants, one per outer sub-interval (then
        sub-intervals where the integrand vanishes identically are skipped).
        """
        points = self.outer_points(breaks)
        if callable(weight):

            def f(x):
                if with_s and not x > 0:
                    return self.bk.num(0)
                return x**k_x * weight(x) * self.phi(x) * self.inner(x, k_y, with_t)

            return self._integrate(f, points, what)
        segments = []
        for (a, b), c in zip(itertools.pairwise(points), weight, strict=True):
            if c != 0 and not (with_s and b <= 0):
                segments.append((a, b, c))
        return self._integrate_segments(
            [(a, b, (lambda x, c=c: c * x**k_x * self.phi(x) * self.inner(x, k_y, with_t))) for a, b, c in segments],
            what,
        )


def _mu_weight(bk, ste: STE, r, ri: _RowIntegrals) -> tuple[object, list]:
    """(weight, outer split points) for mu'(r x).

    With ``pieces`` known, mu' is constant between the breakpoints b/r: the weight is the list of
    the literal ``mu_prime`` evaluated at the middle of each outer sub-interval.  Without pieces,
    the weight is ``mu_prime`` itself, evaluated at every node.
    """
    if ste.pieces is None:
        if bk.name == "mpmath":
            raise ValueError(
                f"ste {ste.name!r} has no pieces (its jumps are unknown): the mpmath backend needs them to split "
                "the integrals; use backend='scipy' (integrates without splits, error-checked) or Monte Carlo"
            )
        return (lambda x: float(ste.mu_prime(np.array([float(r * x)]))[0])), []
    breaks = sorted({b / r for lo, hi, _ in ste.pieces for b in (lo, hi) if math.isfinite(b)})
    points = ri.outer_points(breaks)
    mids = np.array([float(r * (a + b) / 2) for a, b in itertools.pairwise(points)])
    return [bk.num(float(c)) for c in np.asarray(ste.mu_prime(mids), dtype=np.float64)], breaks


# ---------------------------------------------------------------------------------------------
# Public API


@dataclass(frozen=True)
class QuadratureResult:
    r"""Expectations at one point by quadrature.

    Floats / float64 arrays (scipy backend) or ``mpmath.mpf`` / object arrays of ``mpf`` (mpmath).

    Attributes
    ----------
    loss : scalar               :math:`f(v, w)` (Lemma 1)
    grad_v : (m,)               :math:`\partial f/\partial v` (Lemma 2)
    grad_w : (n,)               :math:`\partial f/\partial w` (Lemma 2; 0 where :math:`\sin\theta = 0`)
    coarse : dict[str, (n,)]    :math:`E g_\mu` per STE name (Lemmas 4, 7, 9)
    max_error : float           largest error estimate among the row integrals (all checked)
    backend : str
    """

    loss: object
    grad_v: np.ndarray
    grad_w: np.ndarray
    coarse: dict
    max_error: float
    backend: str


def integrate_point(
    v_star: np.ndarray,
    w_star: np.ndarray,
    v: np.ndarray,
    w: np.ndarray,
    stes: tuple[STE, ...],
    *,
    backend: str = "scipy",
    dps: int = 30,
) -> QuadratureResult:
    r"""Loss, :math:`\partial f/\partial v`, :math:`\partial f/\partial w`, :math:`E g_\mu` by quadrature at one point.

    The engine behind ``pg.expectations(..., engine="quadrature")``: ``v_star (m,)``, ``w_star (n,)``,
    ``v (m,)``, ``w (n,)`` validated float64 arrays (``w``, ``w_star`` non-zero) of the one-filter binary model.

    Raises
    ------
    QuadratureError
        When an integrator's own error estimate misses the tolerance.
    """
    if backend == "scipy":
        return _expectations(_Scipy(), v, w, v_star, w_star, stes)
    if backend == "mpmath":
        if isinstance(dps, bool) or not isinstance(dps, int) or dps < 15:
            raise ValueError(f"dps must be an integer >= 15, got {dps!r}")
        with mpmath.workdps(dps + 5):
            return _expectations(_Mpmath(dps), v, w, v_star, w_star, stes)
    raise ValueError(f"unknown backend {backend!r}; expected 'scipy' or 'mpmath'")


def _expectations(bk, v, w, v_star, w_star, stes) -> QuadratureResult:
    p = _plane(bk, w, w_star)
    ri = _RowIntegrals(bk, p)

    one = [bk.num(1)] * (len(ri.outer_points([])) - 1)  # weight 1 on every outer sub-interval
    p_s = ri.row(one, 0, 0, True, False, [], "P_s")
    p_t = ri.row(one, 0, 0, False, True, [], "P_t")
    p_st = ri.row(one, 0, 0, True, True, [], "P_st")
    vs = [bk.num(float(x)) for x in v]
    vss = [bk.num(float(x)) for x in v_star]
    ea = [a * p_s - b * p_t for a, b in zip(vs, vss, strict=True)]
    ea2 = [a * a * p_s - 2 * a * b * p_st + b * b * p_t for a, b in zip(vs, vss, strict=True)]
    A = sum(ea, bk.num(0))
    loss = (sum(ea2, bk.num(0)) + A * A - sum((x * x for x in ea), bk.num(0))) / 2
    grad_v = [a * p_s - b * p_st + p_s * (A - e) for a, b, e in zip(vs, vss, ea, strict=True)]

    def to_vector(cx, cy):
        return [cx * a + cy * b for a, b in zip(p.w_hat, p.u, strict=True)]

    # true gradient: boundary representation, only along u
    k0 = ri._integrate(lambda y: y * ri.phi(y), [-ri.L, 0, ri.L], "K_0")
    kp = ri._integrate(lambda y: y * ri.phi(y), [0, ri.L], "K_+")
    coef = sum(((a * ((A - e + a / 2) * k0 - b * kp)) for a, b, e in zip(vs, vss, ea, strict=True)), bk.num(0))
    grad_w = to_vector(bk.num(0), ri.phi(bk.num(0)) / p.r * coef if p.sin != 0 else bk.num(0))

    coarse = {}
    for ste in stes:
        weight, breaks = _mu_weight(bk, ste, p.r, ri)
        js = {}
        for key, with_s, with_t in (("", False, False), ("s", True, False), ("t", False, True)):
            jx = ri.row(weight, 1, 0, with_s, with_t, breaks, f"J_{key or 1},x for {ste.name}")
            jy = ri.row(weight, 0, 1, with_s, with_t, breaks, f"J_{key or 1},y for {ste.name}")
            js[key] = (jx, jy)
        cx = cy = bk.num(0)
        for a, b, e in zip(vs, vss, ea, strict=True):
            cx += a * (a * js["s"][0] - b * js["t"][0] + js[""][0] * (A - e))
            cy += a * (a * js["s"][1] - b * js["t"][1] + js[""][1] * (A - e))
        coarse[ste.name] = to_vector(cx, cy)

    if bk.name == "scipy":
        arr = np.asarray
        return QuadratureResult(
            float(loss), arr(grad_v), arr(grad_w), {k: arr(g) for k, g in coarse.items()}, ri.max_err, bk.name
        )
    obj = functools.partial(np.array, dtype=object)
    return QuadratureResult(
        +loss, obj(grad_v), obj(grad_w), {k: obj(g) for k, g in coarse.items()}, ri.max_err, bk.name
    )
