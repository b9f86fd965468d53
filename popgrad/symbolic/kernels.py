r"""The pairwise Gaussian kernels of the binary committee, derived by sympy and lambdified to mpmath.

One row :math:`z \sim N(0, I_n)` and two filters :math:`a, b` at angle :math:`\theta`, :math:`r = \|a\|`.  In the
plane of :math:`a, b`, :math:`z = x\hat a + y u + z_\perp` with :math:`(x, y) \sim N(0, I_2)` and :math:`u` the unit
vector of :math:`\hat b` orthogonal to :math:`\hat a`; then :math:`z^\top a = r x` and
:math:`z^\top b > 0 \iff x\cos\theta + y\sin\theta > 0`, and :math:`z_\perp` (mean 0, in no indicator) drops out.
A pair is in one of three *regions*: ``"interior"`` (:math:`\theta \in (0, \pi)`, symbols :math:`c = \cos\theta`,
:math:`s = \sin\theta > 0`), ``"parallel"`` (:math:`\theta = 0`) or ``"antiparallel"`` (:math:`\theta = \pi`).

What sympy derives here (nothing below is typed in as a result):

* the half-plane :math:`\{z^\top b > 0\}` as a condition on :math:`y` given :math:`x` (or on :math:`x` at the ends),
  and the :math:`y`-integrals :math:`p(x) = P(z^\top b > 0 \mid x)`, :math:`q(x) = E[y\,1\{z^\top b > 0\} \mid x]`
  (:func:`row_factors`);
* :math:`P = E[\sigma(z^\top a)\sigma(z^\top b)] = \int_0^\infty\varphi(x)p(x)\,dx` (:func:`pair_probability`),
  through :math:`\partial P/\partial\kappa` (:math:`\kappa = \cot\theta`) and then as a function of :math:`\theta`;
* antiderivatives in :math:`x` of :math:`x\varphi(x)`, :math:`x\varphi(x)p(x)` and :math:`\varphi(x)q(x)`
  (by parts where sympy's integrator needs it), whose differences over a piece :math:`(l, h)` of
  :math:`\mu'(r x)` are the kernels (:func:`piece_kernels`)

  .. math:: E[z\mu'(z^\top a)] = \alpha\hat a, \quad E[z\mu'(z^\top a)1\{z^\top a > 0\}] = \beta\hat a, \quad
            E[z\mu'(z^\top a)1\{z^\top b > 0\}] = c_w\hat a + c_*\hat b

  (in the interior :math:`u = (\hat b - \cos\theta\,\hat a)/\sin\theta`; at the ends :math:`\hat b = \pm\hat a`,
  :math:`q = 0` and :math:`c_* = 0`).  ``derivations/piecewise_ste.md`` has the same results by hand.

Each piece's bounds are classified (:func:`bound_kind`: :math:`-\infty`, negative, zero, positive, :math:`+\infty`)
so that sympy resolves :math:`1\{x > 0\}` and takes infinite bounds exactly, and tails are written with
:math:`\operatorname{erfc}` on the side of the bound's sign (no cancellation of :math:`1 - 1` far out).

The derivations run once per process, on first use (a few seconds), and are cached.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import mpmath
import sympy as sp

from .paper import THETA, phi

__all__ = [
    "BOUND_KINDS",
    "COS",
    "REGIONS",
    "SIN",
    "Ncdf",
    "X",
    "Y",
    "antiderivatives",
    "bound",
    "bound_kind",
    "kernel_values",
    "mean_sigma",
    "ncdf",
    "pair_probability",
    "piece_kernels",
    "piece_kernels_expr",
    "row_factors",
]

X, Y, T = sp.symbols("x y t", real=True)
COS = sp.Symbol("c", real=True)
SIN = sp.Symbol("s", positive=True)
KAPPA = sp.Symbol("kappa", real=True)

#: (cos, sin) of the pair's angle in each region.
REGIONS: dict[str, tuple[sp.Expr, sp.Expr]] = {
    "interior": (COS, SIN),
    "parallel": (sp.Integer(1), sp.Integer(0)),
    "antiparallel": (sp.Integer(-1), sp.Integer(0)),
}

#: Kinds of a piece's bound ``t`` (pre-activation units divided by r): its sign, or infinite.
BOUND_KINDS = ("-inf", "neg", "zero", "pos", "+inf")


def bound(kind: str, side: str) -> sp.Expr:
    """The sympy value of a bound of this kind: +-oo, 0, or a symbol ``l_neg``, ``h_pos``, ... (``side`` l or h)."""
    fixed = {"-inf": -sp.oo, "zero": sp.Integer(0), "+inf": sp.oo}
    if kind in fixed:
        return fixed[kind]
    if kind not in BOUND_KINDS:
        raise ValueError(f"bound kind must be one of {BOUND_KINDS}, got {kind!r}")
    return sp.Symbol(f"{side}_{kind}", negative=kind == "neg", positive=kind == "pos")


def bound_kind(t: float) -> str:
    """The kind of a piece's bound (:data:`BOUND_KINDS`); ``t`` is a float (the sign of lo/r is that of lo)."""
    if t == -math.inf:
        return "-inf"
    if t == math.inf:
        return "+inf"
    return "neg" if t < 0 else ("zero" if t == 0 else "pos")


def _int(integrand: sp.Expr, *limits: object) -> sp.Expr:
    """sympy's integral (Risch and heuristics, no Meijer G: cleaner erf forms), which must finish."""
    out = sp.integrate(integrand, *limits, meijerg=False)
    if out.has(sp.Integral):
        raise AssertionError(f"sympy left an integral: {out}")
    return out


def _on_circle(expr: sp.Expr) -> sp.Expr:
    """Simplify with :math:`\\cos^2\\theta = 1 - \\sin^2\\theta`."""
    return sp.simplify(sp.powsimp(sp.expand(expr)).subs(COS**2, 1 - SIN**2))


@functools.cache
def row_factors(region: str) -> tuple[sp.Expr, sp.Expr]:
    r""":math:`p(x) = P(z^\top b > 0 \mid x)` and :math:`q(x) = E[y\,1\{z^\top b > 0\} \mid x]`.

    The half-plane :math:`x\cos\theta + y\sin\theta > 0` is solved by sympy: for :math:`y` in the interior
    (:math:`y > -x\cos\theta/\sin\theta`, and the :math:`y`-integrals run from there to :math:`\infty`), for
    :math:`x` at the ends (:math:`x > 0` or :math:`x < 0`, an indicator; :math:`y` then runs over the line).
    """
    c, s = REGIONS[region]
    condition = X * c + Y * s > 0
    if condition.has(Y):
        solved = sp.solve(condition, Y)
        if not (isinstance(solved, sp.StrictGreaterThan) and solved.lhs == Y):
            raise AssertionError(f"expected y > g(x), sympy gave {solved}")
        lower, indicator = solved.rhs, sp.Integer(1)
    else:
        lower, indicator = -sp.oo, sp.Piecewise((1, sp.solve(condition, X)), (0, True))
    return _int(phi(Y), (Y, lower, sp.oo)) * indicator, _int(Y * phi(Y), (Y, lower, sp.oo)) * indicator


@functools.cache
def mean_sigma() -> sp.Expr:
    r""":math:`E\sigma(z^\top a) = \int_0^\infty\varphi = \tfrac12`; also :math:`E\sigma^2` (since σ² = σ)."""
    return _int(phi(X), (X, 0, sp.oo))


@functools.cache
def pair_probability(region: str = "interior") -> sp.Expr:
    r""":math:`P = E[\sigma(z^\top a)\sigma(z^\top b)] = \int_0^\infty \varphi(x)p(x)\,dx`.

    At the ends sympy integrates directly.  In the interior :math:`p(x) = \Phi(\kappa x)`,
    :math:`\kappa = \cot\theta`, and sympy integrates :math:`\partial P/\partial\kappa = \int_0^\infty
    x\varphi(x)\varphi(\kappa x)dx` (differentiation under the integral, dominated), then over :math:`\kappa`
    from :math:`P(0) = \int_0^\infty \varphi/2`: :math:`P = \tfrac14 + \arctan(\kappa)/(2\pi)`.  As a function of
    :math:`\theta` its derivative simplifies to a constant, so on the interval :math:`(0, \pi)` it is the
    line through its value at :math:`\pi/2`: :math:`(\pi - \theta)/(2\pi)`, which also takes the end values.
    """
    p, _ = row_factors(region)
    if region != "interior":
        return _int(phi(X) * p, (X, 0, sp.oo))
    p_kappa = p.subs(COS, KAPPA * SIN)
    if p_kappa.has(SIN):
        raise AssertionError(f"p(x) should depend on cot(theta) only, got {p_kappa}")
    q = sp.Symbol("q", positive=True)  # 1 + kappa^2
    slope_integrand = sp.powsimp(sp.expand(phi(X) * sp.diff(p_kappa, KAPPA))).subs(KAPPA**2, q - 1)
    slope = _int(sp.simplify(slope_integrand), (X, 0, sp.oo)).subs(q, 1 + KAPPA**2)
    k = sp.Symbol("k", real=True)
    p_of_kappa = _int(phi(X) * p_kappa.subs(KAPPA, 0), (X, 0, sp.oo)) + _int(slope.subs(KAPPA, k), (k, 0, KAPPA))
    p_of_theta = p_of_kappa.subs(KAPPA, sp.cot(THETA))
    d_theta = sp.simplify(sp.diff(p_of_theta, THETA))
    if d_theta.free_symbols:
        raise AssertionError(f"dP/dtheta should be constant on (0, pi), got {d_theta}")
    return sp.expand(p_of_theta.subs(THETA, sp.pi / 2) + d_theta * (THETA - sp.pi / 2))


def _integrate(integrand: sp.Expr) -> sp.Expr:
    """An antiderivative in x."""
    return _int(integrand, X)


def _by_parts(u: sp.Expr, dv: sp.Expr) -> sp.Expr:
    r""":math:`\int u\,dv = uv - \int v\,u'` (``u`` smooth), the remaining integral by sympy."""
    v = _integrate(dv)
    return u * v - _integrate(_on_circle(v * sp.diff(u, X)))


class Ncdf(sp.Function):
    r""":math:`\Phi`, the standard normal cdf, as an unevaluated sympy function (mpmath: :func:`ncdf`).

    sympy rewrites :math:`\operatorname{erfc}(-a)` as :math:`2 - \operatorname{erfc}(a)`, which loses the
    digits of a small :math:`\Phi(-\sqrt2 a)`; ``Ncdf`` keeps the form it is given (and mpmath's ``ncdf``
    evaluates a lower tail without cancellation).
    """

    @classmethod
    def eval(cls, x: sp.Expr) -> sp.Expr | None:
        """The exact values :math:`\\Phi(\\pm\\infty) = 1, 0` and :math:`\\Phi(0) = 1/2`; otherwise unevaluated."""
        if x is sp.S.Infinity:
            return sp.S.One
        if x is sp.S.NegativeInfinity:
            return sp.S.Zero
        if x.is_zero:
            return sp.S.Half
        return None

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        """:math:`\\Phi' = \\varphi`."""
        return phi(self.args[0])


_HUGE = mpmath.mpf(10) ** 50


def ncdf(x: mpmath.mpf) -> mpmath.mpf:
    r""":math:`\Phi(x)` in mpmath at the working precision, for any finite ``x``.

    mpmath's ``ncdf`` (an ``erfc`` that is accurate in the lower tail) up to :math:`|x| = 10^{50}`; beyond (where
    mpmath's erfc overflows a float internally, e.g. a clipping level of 1e300) the Mills-ratio series
    :math:`\Phi(x) = \varphi(x)/|x|\,\sum_k (-1)^k (2k-1)!!\,x^{-2k}` for :math:`x < 0`, summed until its terms
    are below the working precision (they shrink by :math:`10^{-100}` each), and :math:`1 - \Phi(-x)` for
    :math:`x > 0`.  (Far out, :math:`\Phi` has relative condition number :math:`x^2`: the precision loop of
    :func:`popgrad.symbolic.evaluate` raises the working precision when such a term matters.)
    """
    if abs(x) <= _HUGE:
        return mpmath.ncdf(x)
    if x > 0:
        return 1 - ncdf(-x)
    t, term, total, k = 1 / (x * x), mpmath.mpf(1), mpmath.mpf(0), 0
    while abs(term) > mpmath.eps:
        total += term
        k += 1
        term *= -(2 * k - 1) * t
    return mpmath.npdf(x) / -x * total


def _as_ncdf(expr: sp.Expr) -> sp.Expr:
    r"""erf and erfc through :class:`Ncdf`: :math:`\operatorname{erf}(a) = 2\Phi(\sqrt2 a) - 1`,
    :math:`\operatorname{erfc}(a) = 2 - 2\Phi(\sqrt2 a)`."""
    expr = expr.replace(sp.erf, lambda a: 2 * Ncdf(sp.sqrt(2) * a) - 1)
    return sp.expand(expr.replace(sp.erfc, lambda a: 2 - 2 * Ncdf(sp.sqrt(2) * a)))


@functools.cache
def antiderivatives(region: str) -> dict[str, sp.Expr]:
    r"""Antiderivatives in :math:`x` (as functions of ``t``) whose differences over a piece are the kernels.

    ``"alpha"``: of :math:`x\varphi(x)`; ``"c_w"``, ``"c_star"``: the :math:`\hat a` and :math:`\hat b`
    coefficients of the antiderivative of :math:`(x\varphi(x)p(x),\ \varphi(x)q(x))` on :math:`(\hat a, u)`,
    moved to :math:`(\hat a, \hat b)` (interior: :math:`u = (\hat b - c\hat a)/s`; at the ends :math:`q = 0`).
    """
    p, q = row_factors(region)
    out = {"alpha": _integrate(X * phi(X))}
    if region == "interior":
        on_a = _by_parts(p, X * phi(X))  # p(x) = Phi(kappa x) is smooth
        on_u = _integrate(_on_circle(phi(X) * q))
        c_w, c_star = _on_circle(on_a - COS / SIN * on_u), _on_circle(on_u / SIN)
    else:
        if q != 0:
            raise AssertionError(f"q(x) should vanish at the ends of [0, pi], got {q}")
        c_w, c_star = _integrate(X * phi(X) * p), sp.Integer(0)
    out.update(c_w=c_w, c_star=c_star)
    return {k: _as_ncdf(v.subs(X, T)) for k, v in out.items()}


def _at(antiderivative: sp.Expr, kind: str, side: str) -> sp.Expr:
    """The antiderivative at a bound of the given kind (at +-oo: its value there, which must exist)."""
    value = antiderivative.subs(T, bound(kind, side))
    if value.has(sp.oo, -sp.oo, sp.zoo, sp.nan):
        raise AssertionError(f"no finite value of {antiderivative} at t = {bound(kind, side)}")
    return value


def _tails(expr: sp.Expr) -> sp.Expr:
    r""":math:`\Phi(x) = 1 - \Phi(-x)` for :math:`x` known positive (upper tails), then expanded: the constants of
    the two bounds of a piece cancel exactly and no difference of two numbers near 1 is left."""
    return sp.expand(expr.replace(Ncdf, lambda x: 1 - Ncdf(-x) if x.is_positive else Ncdf(x)))


@functools.cache
def piece_kernels_expr(lo: str, hi: str, region: str) -> dict[str, sp.Expr]:
    r"""``alpha``, ``beta``, ``c_w``, ``c_star`` of one piece :math:`\mu' = 1` on :math:`(l, h)` (units of r).

    Symbols: the bounds (:func:`bound`: ``l_neg``, ``h_pos``, ...; none for 0 and infinite bounds), :data:`COS`,
    :data:`SIN`.  :math:`\beta` is the ``parallel`` region's :math:`c_w` (the region :math:`x > 0`).
    """
    order = BOUND_KINDS.index
    valid = lo in BOUND_KINDS[:4] and hi in BOUND_KINDS[1:] and order(lo) <= order(hi) and (lo, hi) != ("zero",) * 2
    if not valid:
        raise ValueError(f"no piece has bounds of kinds ({lo!r}, {hi!r})")
    parts = antiderivatives(region)
    source = {
        "alpha": parts["alpha"],
        "beta": antiderivatives("parallel")["c_w"],
        "c_w": parts["c_w"],
        "c_star": parts["c_star"],
    }
    return {k: _tails(_at(f, hi, "h") - _at(f, lo, "l")) for k, f in source.items()}


def _argument(kind: str, side: str) -> sp.Symbol:
    b = bound(kind, side)
    return b if isinstance(b, sp.Symbol) else sp.Dummy(f"{side}_{kind}")


@functools.cache
def piece_kernels(lo: str, hi: str, region: str) -> Callable:
    """``f(l, h, c, s) -> [alpha, beta, c_w, c_star]`` in mpmath for one piece (:func:`piece_kernels_expr`).

    ``l``, ``h`` are the bounds divided by r (ignored where the kind fixes them: 0 or infinite), ``c``, ``s``
    the cosine and sine of the pair's angle (ignored at the ends).  Lambdified once per kinds and region.
    """
    parts = piece_kernels_expr(lo, hi, region)
    args = (_argument(lo, "l"), _argument(hi, "h"), COS, SIN)
    exprs = [parts[k] for k in ("alpha", "beta", "c_w", "c_star")]
    return sp.lambdify(args, exprs, modules=[{"Ncdf": ncdf}, "mpmath"], cse=True)


def kernel_values(pieces: tuple, r: mpmath.mpf, region: str, cos: object, sin: object) -> list:
    r""":math:`[\alpha, \beta, c_w, c_*]` of :math:`\mu' = \sum\nu\,1\{lo < x < hi\}` (``pieces`` of ``(lo, hi, nu)``,
    float64, pre-activation units) for a filter of norm ``r`` in a pair of the given region, in mpmath at the working
    precision.  ``cos``, ``sin``: of the pair's angle (ignored at the ends).
    """
    total = [mpmath.mpf(0)] * 4
    for lo, hi, nu in pieces:
        f = piece_kernels(bound_kind(lo), bound_kind(hi), region)
        lo_r = mpmath.mpf(lo) / r if math.isfinite(lo) else 0
        hi_r = mpmath.mpf(hi) / r if math.isfinite(hi) else 0
        nu = mpmath.mpf(nu)
        total = [t + nu * x for t, x in zip(total, f(lo_r, hi_r, cos, sin), strict=True)]
    return total
