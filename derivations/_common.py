"""Shared checking machinery for the derivation scripts (not a derivation itself).

Every script builds its result from the Gaussian integrals with sympy and compares it with the
expression popgrad uses (:mod:`popgrad.symbolic`), by one of two methods, named in each check's
output and in the script's Markdown document:

* ``simplify``: the difference simplifies to exactly 0;
* ``points``: where simplification stalls (or one side is only defined by a numerical integral),
  the two sides agree to 45 of 50 digits at >= 20 random points drawn from a fixed seed.

A failing check raises ``AssertionError`` at the end (exit status 1), after all checks ran.
"""

from __future__ import annotations

import math
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # runnable as `python derivations/<name>.py` from anywhere
    sys.path.insert(0, str(ROOT))

import mpmath  # noqa: E402
import sympy as sp  # noqa: E402

DPS = 50
N_POINTS = 20


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
        """Assert ``lhs == rhs`` to ``digits`` digits at ``n`` random points at ``dps`` digits.

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
        self._record(worst <= tol, f"{label}  (max rel. diff {mpmath.nstr(worst, 3)})", f"{n} points @ {dps} digits")

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
# (x, y) = (z.w_hat, z.u) ~ N(0, I_2); polar coordinates x = rho cos(t), y = rho sin(t).

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
