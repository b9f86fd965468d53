"""Shared checking machinery for the derivation scripts (not a derivation itself).

Every script derives its result from the Gaussian integrals with sympy, compares it with the expression the
documents state (and, where one exists, the sympy expression popgrad uses, :mod:`popgrad.symbolic`), and
evaluates popgrad's float64 functions against the derived expression.  Each check names its method in its
output line (README.md, "How a check is made"):

* ``simplify``: the difference simplifies to exactly 0 (also ``expand``, ``limit``, ``assumptions``, ``exact``:
  other exact methods, named as such);
* ``points``: two independent high-precision evaluations agree at ``n`` random points drawn from a fixed
  seed, at ``dps`` working digits, to ``digits`` significant digits (all three printed with the check);
* ``float64``: a popgrad float64 function against the derived expression evaluated at :data:`DPS` digits from
  the exact float64 inputs, at fixed-seed points: the worst error is at most ``ulps`` units of
  :data:`EPS` times the *natural scale* of the result (the sum of the absolute values of the terms of the
  derived expression, :func:`term_scale`; printed with the check).

A failing check raises ``AssertionError`` at the end (exit status 1), after all checks ran.
"""

from __future__ import annotations

import functools
import math
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # runnable as `python derivations/<name>.py` from anywhere
    sys.path.insert(0, str(ROOT))

import mpmath  # noqa: E402
import numpy as np  # noqa: E402
import sympy as sp  # noqa: E402

from popgrad.symbolic.exact import mpf as _mpf  # noqa: E402  (an exact rational rounded once)

DPS = 50
N_POINTS = 20
EPS = 2.0**-52
#: Default float64 tolerance, in units of EPS times the natural scale of the result.
ULPS = 16

mpmath.mp.dps = DPS


class Checks:
    """Collects named checks; :meth:`finish` prints a summary and fails if any check failed."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.failures: list[str] = []
        self.count = 0
        self.start = time.perf_counter()

    def _record(self, ok: bool, label: str, method: str) -> None:
        self.count += 1
        print(f"{'ok  ' if ok else 'FAIL'} [{method}] {label}", flush=True)
        if not ok:
            self.failures.append(label)

    def zero(self, label: str, expr: sp.Expr, simplifier: Callable[[sp.Expr], sp.Expr] = sp.simplify) -> None:
        """Assert that ``expr`` simplifies to exactly 0."""
        self._record(simplifier(sp.sympify(expr)) == 0, label, "simplify")

    def equal(self, label: str, lhs: sp.Expr, rhs: sp.Expr, simplifier: Callable = sp.simplify) -> None:
        """Assert ``lhs - rhs`` simplifies to 0."""
        self.zero(label, sp.sympify(lhs) - sp.sympify(rhs), simplifier)

    def true(self, label: str, condition: object, method: str = "exact") -> None:
        """Assert a condition established some other way (its method is named)."""
        self._record(bool(condition), label, method)

    def at_points(
        self,
        label: str,
        lhs: Callable[[dict], mpmath.mpf] | sp.Expr,
        rhs: Callable[[dict], mpmath.mpf] | sp.Expr,
        sampler: Callable[[random.Random], dict],
        n: int = N_POINTS,
        seed: int = 0,
        digits: int = DPS - 5,
        dps: int = DPS,
    ) -> None:
        """Assert ``lhs == rhs`` to ``digits`` significant digits at ``n`` random points, at ``dps`` digits.

        ``lhs``/``rhs``: sympy expressions (evaluated with the sampled symbol values) or callables
        of the sampled ``{symbol: mpf}`` dict.  ``sampler(rng)`` returns that dict (floats are
        converted exactly).
        """
        rng = random.Random(seed)
        worst = mpmath.mpf(0)
        first = sampler(random.Random(seed))
        fl, fr = _numeric(lhs, list(first)), _numeric(rhs, list(first))
        with mpmath.workdps(dps):
            tol = mpmath.mpf(10) ** (-digits)
            for _ in range(n):
                point = {k: mpmath.mpf(x) for k, x in sampler(rng).items()}
                a, b = mpmath.mpf(fl(point)), mpmath.mpf(fr(point))
                scale = max(abs(a), abs(b))
                err = abs(a - b) / scale if scale else abs(a - b)
                worst = max(worst, err)
        method = f"points: {n} @ {dps} digits, to {digits} digits"
        self._record(worst <= tol, f"{label}  (max rel. diff {mpmath.nstr(worst, 3)})", method)

    def float64(
        self, label: str, ours: object, reference: Sequence, scale: object, ulps: float = ULPS, atol: object = 0.0
    ) -> None:
        """popgrad's float64 values ``ours`` against the derived ``reference`` (mpf), entry by entry.

        Passes if every ``|ours - reference| <= atol + ulps * EPS * scale`` (``scale``: the natural scale of each
        entry, a number or one per entry; ``atol``: only for results of a quadrature with that tolerance) and every
        value and every reference is finite; the worst ratio ``|ours - reference| / (atol + EPS * scale)`` is printed.
        """
        ours = np.asarray(ours, dtype=np.float64).ravel()
        reference = list(reference)
        scales = list(scale) if isinstance(scale, list | tuple) else [scale] * len(reference)
        atols = list(atol) if isinstance(atol, list | tuple) else [atol] * len(reference)
        if not (ours.size == len(reference) == len(scales) == len(atols)):
            raise ValueError(f"{label}: {ours.size} values, {len(reference)} references, {len(scales)} scales")
        worst = mpmath.mpf(0)
        ok = bool(np.all(np.isfinite(ours))) and all(mpmath.isfinite(mpmath.mpf(b)) for b in reference)
        for a, b, sc, at in zip(ours.tolist(), reference, scales, atols, strict=True):
            err = abs(mpmath.mpf(a) - mpmath.mpf(b))
            bound = mpmath.mpf(at) + ulps * mpmath.mpf(EPS) * mpmath.mpf(sc)
            worst = max(worst, err / bound if bound > 0 else (mpmath.inf if err > 0 else mpmath.mpf(0)))
        ok = ok and worst <= 1
        if any(atols):
            method = f"float64 by quadrature, <= its tolerance + {ulps} ulps of scale"
            text = f"{label}  (worst {mpmath.nstr(worst, 3)} of the bound)"
        else:
            method = f"float64, <= {ulps} ulps of scale"
            text = f"{label}  (worst {mpmath.nstr(worst * ulps, 3)} ulps)"
        self._record(ok, text, method)

    def finish(self) -> None:
        elapsed = time.perf_counter() - self.start
        print(f"{self.name}: {self.count - len(self.failures)}/{self.count} checks passed in {elapsed:.1f} s")
        if self.failures:
            raise AssertionError(f"{self.name}: failed checks: {self.failures}")


def _numeric(side: object, symbols: list) -> Callable[[dict], mpmath.mpf]:
    """A callable of the sampled point: ``side`` itself, or ``side`` lambdified to mpmath once."""
    if callable(side) and not isinstance(side, sp.Basic):
        return side
    fn = sp.lambdify(symbols, sp.sympify(side), modules="mpmath")
    return lambda point: fn(*(point[k] for k in symbols))


def uniform(rng: random.Random, lo: float, hi: float) -> float:
    return rng.uniform(lo, hi)


def log_uniform(rng: random.Random, lo: float, hi: float) -> float:
    """10**U(log10 lo, log10 hi)."""
    return 10 ** rng.uniform(math.log10(lo), math.log10(hi))


# -- the Gaussian in the plane span{w_hat, u} ---------------------------------------------------
# (x, y) = (z.w_hat, z.u) ~ N(0, I_2) (gaussian_helpers.py); polar coordinates x = rho cos(t), y = rho sin(t).

X, Y = sp.symbols("x y", real=True)
RHO = sp.Symbol("rho", positive=True)
ANG = sp.Symbol("varphi", real=True)


def gauss_pdf(t: sp.Expr) -> sp.Expr:
    """Standard normal density."""
    return sp.exp(-(t**2) / 2) / sp.sqrt(2 * sp.pi)


def polar_expectation(radial_power: int, angular: sp.Expr, lo: sp.Expr, hi: sp.Expr) -> sp.Expr:
    r"""E[rho**radial_power * angular(varphi) * 1{lo < varphi < hi}] for (x, y) ~ N(0, I_2).

    The density in polar coordinates is :math:`\frac{1}{2\pi}\rho e^{-\rho^2/2}\,d\rho\,d\varphi`;
    the radial integral over :math:`(0, \infty)` is done first, then the angular one.
    """
    radial = sp.integrate(RHO**radial_power * RHO * sp.exp(-(RHO**2) / 2), (RHO, 0, sp.oo))
    return sp.simplify(radial / (2 * sp.pi) * sp.integrate(angular, (ANG, lo, hi)))


def antiderivative(integrand: sp.Expr, x: sp.Symbol, ck: Checks | None = None, label: str = "") -> sp.Expr:
    """sympy's antiderivative of ``integrand`` in ``x`` (no Meijer G).

    With ``ck``, checked: differentiating it back gives the integrand, and it is continuous (no ``Abs``, ``sign``,
    ``Heaviside`` or ``Piecewise`` of ``x``), so its differences are definite integrals.
    """
    out = sp.integrate(integrand, x, meijerg=False)
    if out.has(sp.Integral):
        raise AssertionError(f"sympy left an integral: {out}")
    if ck is not None:
        back = _erf_simplify(sp.diff(out, x) - integrand)
        smooth = not any(f.has(x) for f in out.atoms(sp.Abs, sp.sign, sp.Heaviside, sp.Piecewise))
        ck.true(f"antiderivative of {label or integrand}: continuous, derivative = integrand", back == 0 and smooth,
                "simplify")  # fmt: skip
    return out


def _erf_simplify(expr: sp.Expr) -> sp.Expr:
    return sp.simplify(sp.sympify(expr).rewrite(sp.erf))


# -- explicit vectors of a given length m ---------------------------------------------------------


def explicit_v(m: int) -> tuple[list[sp.Symbol], list[sp.Symbol]]:
    """Symbols v_1..v_m and v*_1..v*_m (real)."""
    return list(sp.symbols(f"v1:{m + 1}", real=True)), list(sp.symbols(f"s1:{m + 1}", real=True))


def invariants_of(v: list[sp.Expr], v_star: list[sp.Expr]) -> dict:
    """popgrad.symbolic's invariant symbols -> their expressions in explicit components."""
    from popgrad.symbolic import SS, SV, VSS, VV, VVS

    dot = lambda a, b: sum(x * y for x, y in zip(a, b, strict=True))  # noqa: E731
    return {VV: dot(v, v), SV: sum(v), SS: sum(v_star), VVS: dot(v, v_star), VSS: dot(v_star, v_star)}


def half_angle_simplify(expr: sp.Expr) -> sp.Expr:
    r"""simplify after the Weierstrass substitution t = tan(theta/2) > 0 (theta in (0, pi)).

    sin, cos, tan, cot of theta become rational in t, which lets ``simplify`` finish where
    trigonometric functions inside ``exp``/``erf`` make it stall.
    """
    from popgrad.symbolic import THETA

    t = sp.Symbol("t_half", positive=True)
    rational = {
        sp.sin(THETA): 2 * t / (1 + t**2),
        sp.cos(THETA): (1 - t**2) / (1 + t**2),
        sp.tan(THETA): 2 * t / (1 - t**2),
        sp.cot(THETA): (1 - t**2) / (2 * t),
    }
    return sp.simplify(sp.sympify(expr).subs(rational))


# -- popgrad's float64 functions against the derived expressions ---------------------------------


def _fractions(x: object) -> list[Fraction]:
    return [Fraction(float(a)) for a in np.asarray(x, dtype=np.float64).ravel()]


def _dot(a: Sequence[Fraction], b: Sequence[Fraction]) -> Fraction:
    return sum((x * y for x, y in zip(a, b, strict=True)), Fraction(0))


@dataclass(frozen=True)
class Geometry:
    r"""The plane of two float64 vectors ``w``, ``w_star``, from their exact values, at :data:`DPS` digits.

    ``u`` is the unit vector of :math:`\hat w^* - \cos\theta\,\hat w` (0 if they are parallel), so that
    :math:`\hat w^* = \cos\theta\,\hat w + \sin\theta\,u`; ``theta`` is atan2 of the exact
    :math:`\sqrt{\|w\|^2\|w^*\|^2 - (w^\top w^*)^2}` and :math:`w^\top w^*` (no cancellation at any angle).
    """

    r: mpmath.mpf
    r_star: mpmath.mpf
    cos: mpmath.mpf
    sin: mpmath.mpf
    theta: mpmath.mpf
    w_hat: list
    u: list
    w_star_hat: list


def geometry(w: object, w_star: object) -> Geometry:
    wf, sf = _fractions(w), _fractions(w_star)
    W, S, D = _dot(wf, wf), _dot(sf, sf), _dot(wf, sf)
    G = W * S - D * D
    r, rs = mpmath.sqrt(_mpf(W)), mpmath.sqrt(_mpf(S))
    gram = mpmath.sqrt(_mpf(G))
    theta = mpmath.atan2(gram, _mpf(D))
    u = [_mpf(W * b - D * a) / mpmath.sqrt(_mpf(W * G)) for a, b in zip(wf, sf, strict=True)] if G else [0] * len(wf)
    return Geometry(
        r=r,
        r_star=rs,
        cos=_mpf(D) / (r * rs) if G else mpmath.mpf(1 if D > 0 else -1),  # exactly +-1 when parallel
        sin=gram / (r * rs),
        theta=theta,
        w_hat=[_mpf(a) / r for a in wf],
        u=[mpmath.mpf(x) for x in u],
        w_star_hat=[_mpf(b) / rs for b in sf],
    )


def v_invariants(v: object, v_star: object) -> dict:
    """popgrad.symbolic's invariants of ``v``, ``v_star`` (float64 arrays) as exact mpf values."""
    from popgrad.symbolic import SS, SV, VSS, VV, VVS

    a, b = _fractions(v), _fractions(v_star)
    return {k: _mpf(q) for k, q in ((VV, _dot(a, a)), (SV, sum(a)), (SS, sum(b)), (VVS, _dot(a, b)), (VSS, _dot(b, b)))}


def point_values(v: object, v_star: object, w: object, w_star: object) -> tuple[dict, Geometry]:
    """Every popgrad.symbolic symbol's value (invariants, THETA, R, M) at a float64 point, and its geometry."""
    from popgrad.symbolic import THETA, M, R

    geo = geometry(w, w_star)
    values = v_invariants(v, v_star) | {THETA: geo.theta, R: geo.r, M: mpmath.mpf(np.size(v))}
    return values, geo


@functools.cache
def _lambdified(expr: sp.Expr, symbols: tuple) -> Callable:
    from popgrad.symbolic.kernels import ncdf

    return sp.lambdify(symbols, expr, modules=[{"Ncdf": ncdf}, "mpmath"])


def mp_value(expr: sp.Expr, values: dict) -> mpmath.mpf:
    """``expr`` evaluated in mpmath with ``values`` (symbol -> number) for its free symbols."""
    expr = sp.sympify(expr)
    symbols = tuple(sorted(expr.free_symbols, key=str))
    return mpmath.mpf(_lambdified(expr, symbols)(*(values[s] for s in symbols)))


def term_scale(expr: sp.Expr, values: dict) -> mpmath.mpf:
    """The natural scale of ``expr`` at ``values``: the sum of the absolute values of its expanded terms."""
    return sum((abs(mp_value(t, values)) for t in sp.Add.make_args(sp.expand(expr))), mpmath.mpf(0))


def combine(coefs: Sequence, vectors: Sequence[Sequence]) -> list:
    """sum_k coefs[k] * vectors[k] (mpf lists)."""
    return [
        sum((c * vec[i] for c, vec in zip(coefs, vectors, strict=True)), mpmath.mpf(0)) for i in range(len(vectors[0]))
    ]


#: Angles of the float64 test points: spread over (0, pi), near and at both ends.
ANGLES = (0.0, 1e-9, 0.3, 1.1, 1.5707963267948966, 2.0, 2.9, math.pi - 1e-9, math.pi)


def one_filter_points(seed: int, count: int = len(ANGLES), m_max: int = 5, n: int = 3) -> list[tuple]:
    r"""Fixed-seed float64 points ``(v, v_star, w, w_star)`` of the paper's model, one per angle of :data:`ANGLES`.

    ``w = r(\cos\theta\,\hat w^* + \sin\theta\,d)`` in float64 (so the exact angle of the rounded inputs is near,
    not at, the nominal one, except at 0 and pi, where ``w`` is an exact multiple of ``w_star``), ``r``
    log-uniform in [0.1, 10], ``m`` in 1..m_max.
    """
    rng = np.random.default_rng(seed)
    out = []
    for k in range(count):
        theta = ANGLES[k % len(ANGLES)]
        m = int(rng.integers(1, m_max + 1))
        v, v_star = rng.normal(size=m), rng.normal(size=m)
        w_star = rng.normal(size=n) * 10 ** rng.uniform(-1, 1)
        w_hat = w_star / np.linalg.norm(w_star)
        d = rng.normal(size=n)
        d -= (d @ w_hat) * w_hat
        d -= (d @ w_hat) * w_hat
        d /= np.linalg.norm(d)
        r = 10 ** rng.uniform(-1, 1)
        if theta == 0.0:
            w = 2.0 * w_star
        elif theta == math.pi:
            w = -0.5 * w_star
        else:
            w = r * (math.cos(theta) * w_hat + math.sin(theta) * d)
        out.append((v, v_star, w, w_star))
    return out
