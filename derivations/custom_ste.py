"""Expected coarse gradient for any mu' (pg.ste.custom): the one-dimensional integrals the quadrature evaluates.

See custom_ste.md.  Run: python derivations/custom_ste.py
"""

from __future__ import annotations

import functools
import math

import mpmath
import numpy as np
import sympy as sp
from _common import Checks, X, Y, combine, gauss_pdf, geometry, one_filter_points, point_values
from coarse_gradient import STRUCTURE, A, B, C
from gaussian_helpers import COS, SIN

import popgrad as pg
from popgrad.geometry import plane
from popgrad.kernels import custom
from popgrad.symbolic import PHI0, R

MU = sp.Function("mu")  # mu', any function
TAU = sp.Symbol("tau_star", real=True)  # a threshold of sigma in units of the other filter: t/|b|
T = sp.Symbol("t", real=True)
M_BUMP = sp.Symbol("m", real=True)  # the Gaussian bump mu'(y) = exp(-(y - m)^2/2)
TOL = 1e-12  # the quadrature tolerance asked of popgrad.kernels.custom in the float64 checks
REFERENCE_DPS = 22  # the reference integrals' working digits (checked error estimates below 1e-19)


@functools.cache
def row_factors() -> tuple[sp.Expr, sp.Expr]:
    """P(c x + s y > tau* | x) and E[y 1{c x + s y > tau*} | x], the half-plane solved for y by sympy."""
    solved = sp.solve(X * COS + Y * SIN > TAU, Y)
    if not (isinstance(solved, sp.StrictGreaterThan) and solved.lhs == Y):
        raise AssertionError(f"expected y > g(x), got {solved}")
    p = sp.simplify(sp.integrate(gauss_pdf(Y), (Y, solved.rhs, sp.oo)).rewrite(sp.erf))
    q = sp.simplify(sp.integrate(Y * gauss_pdf(Y), (Y, solved.rhs, sp.oo)).rewrite(sp.erf))
    return p, q


def derivation(ck: Checks) -> None:
    """a, b, c of a unit against a threshold tau* of the other unit: the integrals of custom_ste.md."""
    ck.equal("E y = 0: y integrates out of a and b", sp.integrate(Y * gauss_pdf(Y), (Y, -sp.oo, sp.oo)), 0)
    p, q = row_factors()
    ck.equal("P(c x + s y > tau* | x) = Phi((x c - tau*)/s)", p, (1 + sp.erf((X * COS - TAU) / (SIN * sp.sqrt(2)))) / 2)
    ck.equal("E[y 1{c x + s y > tau*} | x] = phi((tau* - x c)/s)", q, gauss_pdf((TAU - X * COS) / SIN))
    # completing the square (c^2 + s^2 = 1): phi(x) phi((tau* - c x)/s) = phi(tau*) phi((x - tau* c)/s)
    square = sp.expand(gauss_pdf(X) * q / (gauss_pdf(TAU) * gauss_pdf((X - TAU * COS) / SIN)))
    ck.equal("phi(x) phi((tau* - c x)/s) = phi(tau*) phi((x - tau* c)/s) on the circle c^2 + s^2 = 1",
             sp.simplify(sp.powsimp(square).subs(COS**2, 1 - SIN**2)), 1)  # fmt: skip
    # Q = int mu'(r x) phi(tau*) phi((x - tau* c)/s) dx; x = tau* c + s t
    q_int = sp.Integral(MU(R * X) * gauss_pdf(TAU) * gauss_pdf((X - TAU * COS) / SIN), (X, -sp.oo, sp.oo))
    moved = q_int.transform(X, (TAU * COS + SIN * T, T))
    target = SIN * gauss_pdf(TAU) * MU(R * (TAU * COS + SIN * T)) * gauss_pdf(T)
    same_limits = moved.limits == ((T, -sp.oo, sp.oo),)
    ck.true("Q = s phi(tau*) int mu'(r(tau* c + s t)) phi(t) dt (x = tau* c + s t, by sympy)",
            same_limits and sp.simplify(moved.function - target) == 0, "simplify")  # fmt: skip
    # c = P w_hat + Q u, u = (w*_hat - c w_hat)/s  =>  c = (P - c Q/s) w_hat + (Q/s) w*_hat
    big_p, big_q = sp.symbols("P Q")
    coef = sp.solve([sp.Eq(sp.Symbol("cw") + sp.Symbol("cs") * COS, big_p), sp.Eq(sp.Symbol("cs") * SIN, big_q)],
                    [sp.Symbol("cw"), sp.Symbol("cs")])  # fmt: skip
    ck.true("c_* = Q/s and c_w = P - cos(theta) c_* (the basis change, solved)",
            sp.simplify(coef[sp.Symbol("cs")] - big_q / SIN) == 0
            and sp.simplify(coef[sp.Symbol("cw")] - (big_p - COS * big_q / SIN)) == 0, "solve")  # fmt: skip


@functools.cache
def bump_exact() -> dict[str, sp.Expr]:
    r"""The Gaussian bump mu'(y) = exp(-(y - m)^2/2), binary sigma (tau* = 0): alpha and c_* by sympy."""
    mu = lambda y: sp.exp(-((y - M_BUMP) ** 2) / 2)  # noqa: E731
    alpha = sp.simplify(sp.integrate(mu(R * X) * X * gauss_pdf(X), (X, -sp.oo, sp.oo)))
    c_star = sp.simplify(PHI0 * sp.integrate(mu(R * SIN * T) * gauss_pdf(T), (T, -sp.oo, sp.oo)))
    return {"alpha": alpha, "c_star": c_star}


def check_bump(ck: Checks) -> None:
    e = bump_exact()
    doc_alpha = R * M_BUMP / (1 + R**2) ** sp.Rational(3, 2) * sp.exp(-(M_BUMP**2) / (2 * (1 + R**2)))
    doc_cstar = PHI0 / sp.sqrt(1 + R**2 * SIN**2) * sp.exp(-(M_BUMP**2) / (2 * (1 + R**2 * SIN**2)))
    ck.equal("Gaussian bump: alpha = r m/(1 + r^2)^{3/2} exp(-m^2/(2(1 + r^2)))", e["alpha"], doc_alpha,
             lambda x: sp.simplify(x.rewrite(sp.erf)))  # fmt: skip
    ck.equal("Gaussian bump: c_* = phi(0)(1 + r^2 s^2)^{-1/2} exp(-m^2/(2(1 + r^2 s^2)))", e["c_star"], doc_cstar)
    ck.equal("s -> 0: c_* -> phi(0) mu'(0) (mu' continuous at 0)", sp.limit(e["c_star"], SIN, 0, "+"),
             PHI0 * sp.exp(-(M_BUMP**2) / 2))  # fmt: skip


# -- the reference values: the derived integrals at 30 digits ------------------------------------------------------


def _quad(f, lo: mpmath.mpf, hi: mpmath.mpf, breaks: tuple) -> mpmath.mpf:
    """int_lo^hi f, split at the breaks; the error estimate must be below 1e-19 (far below float64's)."""
    pts = [lo, *sorted({b for b in breaks if lo < b < hi}), hi]
    value, err = mpmath.quad(f, pts, error=True)
    if err > mpmath.mpf(10) ** -19:
        raise AssertionError(f"reference quadrature error estimate {err}")
    return value


def reference(center: float, r, r_b, cos, sin, thresholds, jumps) -> dict[str, mpmath.mpf]:
    """alpha, beta, c_w, c_* of custom_ste.md's integrals for the bump mu'(y) = exp(-(y - center)^2/2) and a
    staircase sigma, by mpmath quadrature over |x| <= 40 (where phi < 1e-347), split at the bump's centre and
    its +-1, +-4 widths."""
    mu = lambda y: mpmath.exp(-((y - center) ** 2) / 2)  # noqa: E731
    weight = lambda x: mu(r * x) * x * mpmath.npdf(x)  # noqa: E731
    lim = mpmath.mpf(40)
    bump = tuple(mpmath.mpf(center + d) / r for d in (-4, -1, 0, 1, 4))
    out = {"alpha": _quad(weight, -lim, lim, (0, *bump))}
    out["beta"] = sum(
        (
            j * _quad(weight, mpmath.mpf(t) / r, lim, (0, *bump))
            for t, j in zip(thresholds, jumps, strict=True)
            if mpmath.mpf(t) / r < lim
        ),
        mpmath.mpf(0),
    )
    c_w = c_star = mpmath.mpf(0)
    for t, j in zip(thresholds, jumps, strict=True):
        tau = mpmath.mpf(t) / r_b
        if sin == 0:  # the degenerate region: sigma(z.b) = 1{+-x r_b > t}, only c_w +- c_* is defined
            edge = tau / cos
            part = _quad(weight, edge, lim, (0, *bump)) if cos > 0 else _quad(weight, -lim, edge, (0, *bump))
            c_w += j * part
            continue
        in_t = tuple((b - tau * cos) / sin for b in bump)  # the bump in t = (x - tau* c)/s
        cs = mpmath.npdf(tau) * _quad(lambda u, tau=tau: mu(r * (tau * cos + sin * u)) * mpmath.npdf(u), -lim, lim,
                                      (0, *in_t))  # fmt: skip
        edge = tuple(tau / cos + d * sin / abs(cos) for d in (-4, -1, 0, 1, 4)) if cos != 0 else ()
        big_p = _quad(lambda x, tau=tau: weight(x) * mpmath.ncdf((x * cos - tau) / sin), -lim, lim, (0, *bump, *edge))
        c_star += j * cs
        c_w += j * (big_p - cos * cs)
    out.update(c_w=c_w, c_star=c_star)
    return out


def check_float64(ck: Checks) -> None:
    """popgrad.kernels.custom (tol = 1e-12) and pg.Model.coarse_grad with a custom STE against the references."""
    bump_m = 0.7
    ste = pg.ste.custom(lambda y: np.exp(-0.5 * (y - bump_m) ** 2), name="bump")
    exact = {k: sp.lambdify((R, SIN, M_BUMP), e, "mpmath") for k, e in bump_exact().items()}
    activations = {"binary": ((0.0,), (1.0,)), "staircase": ((-0.4, 0.3, 1.1), (0.5, 1.0, -0.25))}
    got: dict[str, list] = {k: [] for k in ("alpha", "beta", "c_w", "c_star")}
    ref: dict[str, list] = {k: [] for k in got}
    worst_exact = mpmath.mpf(0)
    with mpmath.workdps(REFERENCE_DPS):
        for idx, (_, _, w, w_star) in enumerate(one_filter_points(seed=14, count=9)):
            th, jumps = activations["binary" if idx % 2 == 0 else "staircase"]
            geo = geometry(w, w_star)
            own = custom.self_terms(ste, th, jumps, np.linalg.norm(w), tol=TOL)
            cross = custom.cross(ste, th, jumps, plane(w, w_star), tol=TOL)
            ours = [float(x) for x in (own.alpha, own.beta, cross.c_w, cross.c_star)]
            if geo.sin == 0:
                ours[2:] = [ours[2] + (1 if geo.cos > 0 else -1) * ours[3], 0.0]
            refs = reference(bump_m, geo.r, geo.r_star, geo.cos, geo.sin, th, jumps)
            for key, val in zip(got, ours, strict=True):
                got[key].append(val)
                ref[key].append(refs[key])
            if th == (0.0,) and geo.sin != 0:  # the quadrature reference against the exact Gaussian integrals
                worst_exact = max(
                    worst_exact,
                    abs(refs["alpha"] - exact["alpha"](geo.r, geo.sin, mpmath.mpf(bump_m))),
                    abs(refs["c_star"] - exact["c_star"](geo.r, geo.sin, mpmath.mpf(bump_m))),
                )
    ck.true(
        f"the {REFERENCE_DPS}-digit quadrature of the integrals == the exact alpha, c_* of the bump (diff "
        f"{mpmath.nstr(worst_exact, 3)})",
        worst_exact < 1e-19,
        f"points @ {REFERENCE_DPS} digits, to 1e-19",
    )
    scale = 2 * float(PHI0)  # |mu'| <= 1: each kernel is at most 2 phi(0) in size (times the jumps' sum)
    for key in got:
        ck.float64(f"popgrad.kernels.custom: {key}, 9 planes (binary and staircase)", got[key], ref[key],
                   [scale * 1.75] * len(got[key]), atol=TOL)  # fmt: skip
    # the whole coarse gradient with the binary sigma: the structure with a = alpha w_hat, b = beta w_hat, c
    ours, refs, scales, atols = [], [], [], []
    for v, v_star, w, w_star in one_filter_points(seed=15, count=9):
        values, geo = point_values(v, v_star, w, w_star)
        with mpmath.workdps(REFERENCE_DPS):
            k = reference(bump_m, geo.r, geo.r_star, geo.cos, geo.sin, (0.0,), (1.0,))
        c_vec = [k["c_w"] + k["c_star"] * geo.cos, k["c_star"] * geo.sin]  # on (w_hat, u)
        coefs = [mpmath.mpf(STRUCTURE.subs({A: a, B: b, C: c}).subs(values))
                 for a, b, c in zip((k["alpha"], 0), (k["beta"], 0), c_vec, strict=True)]  # fmt: skip
        _, g = pg.Model(v_star, w_star).coarse_grad(v, w, ste)
        ours.extend(g)
        refs.extend(combine(coefs, [geo.w_hat, geo.u]))
        size = values[sp.Symbol("vv", nonnegative=True)] + abs(values[sp.Symbol("sv", real=True)]) * (
            abs(values[sp.Symbol("sv", real=True)]) + abs(values[sp.Symbol("ss", real=True)])) + abs(
            values[sp.Symbol("vvs", real=True)])  # fmt: skip
        scales.extend([2 * size * scale] * len(g))
        atols.extend([2 * size * custom.DEFAULT_TOL] * len(g))  # each kernel to the default tolerance, times weights
    ck.float64(f"pg.Model.coarse_grad(custom bump) == derived E g, {len(ours)} components", ours, refs, scales,
               atol=atols)  # fmt: skip


def main() -> None:
    ck = Checks("custom_ste")
    derivation(ck)
    check_bump(ck)
    check_float64(ck)
    ck.finish()


if __name__ == "__main__":
    main()
    del math
