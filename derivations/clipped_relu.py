"""Lemma 7 (clipped ReLU STE): the paper's p(theta, w), q(theta, w) in closed form, E g_crelu, Lemma 13.

See clipped_relu.md.  Run: python derivations/clipped_relu.py
"""

from __future__ import annotations

import functools
import math
import random

import mpmath
import sympy as sp
from _common import (
    ANG,
    RHO,
    Checks,
    X,
    combine,
    half_angle_simplify,
    log_uniform,
    mp_value,
    one_filter_points,
    point_values,
    term_scale,
)
from coarse_gradient import STRUCTURE, A, B, C
from gaussian_helpers import COS, SIN, arcs

import popgrad as pg
from popgrad.symbolic import CLIP, COARSE_W, P0_CLIP, THETA, VVS, H, R, coarse_w, p_clip, q_clip
from popgrad.symbolic import kernels as kern

HALF_PI = sp.pi / 2
SEC_POS = sp.Symbol("C", positive=True)  # cos(varphi) on the arc, where it is > 0


@functools.cache
def xi_closed() -> sp.Expr:
    r"""xi(x) = int_0^x rho^2 e^{-rho^2/2} d rho, with x symbolic."""
    return sp.integrate(RHO**2 * sp.exp(-(RHO**2) / 2), (RHO, 0, X))


def paper_integral(weight: sp.Expr, theta: sp.Expr = THETA) -> sp.Integral:
    r"""The paper's (1/2pi) int_{theta - pi/2}^{pi/2} weight(varphi) xi(c sec(varphi)/r) d varphi, unevaluated."""
    return sp.Integral(
        weight * xi_closed().subs(X, CLIP / (R * sp.cos(ANG))) / (2 * sp.pi), (ANG, theta - HALF_PI, HALF_PI)
    )


def polar_definition(ck: Checks) -> None:
    """E[(x, y) 1{0 < x < c/r, z.w* > 0}] in polar coordinates is the paper's (p, q)."""
    ck.true("the region's angles: varphi in (theta - pi/2, pi/2) (gaussian_helpers.py), where cos(varphi) > 0",
            arcs()["wedge"] == (THETA - HALF_PI, HALF_PI), "solved")  # fmt: skip
    radial = sp.solve(RHO * SEC_POS < CLIP / R, RHO)  # 0 < rho cos(varphi) < c/r, cos(varphi) > 0
    ck.equal("0 < x < c/r <=> rho < c sec(varphi)/r (solved for rho)", radial.rhs, CLIP / (R * SEC_POS))
    bound = radial.rhs.subs(SEC_POS, sp.cos(ANG))
    inner = sp.integrate(RHO * RHO * sp.exp(-(RHO**2) / 2), (RHO, 0, bound)) / (2 * sp.pi)
    ck.equal(
        "radial integral of rho * density = xi(c sec(varphi)/r)/(2 pi)", inner, xi_closed().subs(X, bound) / (2 * sp.pi)
    )
    ck.equal("xi(x) = -x e^{-x^2/2} + sqrt(pi/2) erf(x/sqrt 2)", xi_closed(),
             -X * sp.exp(-(X**2) / 2) + sp.sqrt(sp.pi / 2) * sp.erf(X / sp.sqrt(2)))  # fmt: skip


@functools.cache
def cartesian() -> dict[str, sp.Expr]:
    r"""p, q and p(0, w): the kernels of the piece (0, c/r), as popgrad.symbolic.kernels derives them.

    kernels.py solves the half-plane for y, integrates y out and finds the x-antiderivatives (by parts for the
    w_hat part); piecewise_ste.py differentiates those antiderivatives back to the integrands.  The piece
    mu'(r x) = 1{0 < x < c/r} has c = c_w w_hat + c* w*_hat = (c_w + cos c*) w_hat + (sin c*) u, so
    p = c_w + cos(theta) c*, q = sin(theta) c*, and p(0, w) = alpha (= beta).
    """
    k = kern.piece_kernels_expr("zero", "pos", "interior")
    at = {kern.bound("pos", "h"): CLIP / R, COS: sp.cos(THETA), SIN: sp.sin(THETA)}

    def erf_form(e: sp.Expr) -> sp.Expr:
        return e.replace(kern.Ncdf, lambda x: (1 + sp.erf(x / sp.sqrt(2))) / 2).subs(at)

    return {
        "p": sp.simplify(erf_form(k["c_w"] + COS * k["c_star"])),
        "q": sp.simplify(erf_form(SIN * k["c_star"])),
        "p0": sp.simplify(erf_form(k["alpha"])),
        "p0 (beta)": sp.simplify(erf_form(k["beta"])),
    }


def check_cartesian(ck: Checks) -> tuple[sp.Expr, sp.Expr]:
    d = cartesian()
    ck.equal("q(theta, w) derived == popgrad.symbolic.q_clip", d["q"], q_clip())
    ck.equal(
        "p(theta, w) derived == popgrad.symbolic.p_clip", d["p"], p_clip(), lambda e: sp.simplify(e.rewrite(sp.erf))
    )
    paper_q = sp.sin(THETA) / (2 * sp.sqrt(2 * sp.pi)) * sp.erf(1 / (sp.sqrt(2) * R * sp.sin(THETA)))
    ck.equal("q = sin/(2 sqrt(2 pi)) erf(1/(sqrt2 |w| sin)) (c = 1)", d["q"].subs(CLIP, 1), paper_q)
    ck.equal("p(0, w) = E[x 1{0 < x < c/r}] = phi(0) - phi(c/r) == P0_CLIP", d["p0"], P0_CLIP)
    ck.equal("a = b: E[x 1{0 < x < c/r} 1{x > 0}] = p(0, w)", d["p0 (beta)"], d["p0"])
    return d["p"], d["q"]


def paper_integrals_exact(ck: Checks) -> None:
    r"""The paper's integrals equal the closed forms: the same theta-derivative, the same value at theta = pi.

    sympy differentiates the unevaluated integrals in their lower limit (Leibniz), and evaluates them over the
    empty interval at theta = pi; the closed forms' derivatives are compared after t = tan(theta/2).
    """
    for name, weight, closed in (("p", sp.cos(ANG), p_clip()), ("q", sp.sin(ANG), q_clip())):
        d_paper = sp.diff(paper_integral(weight), THETA).doit()
        ck.zero(f"d/dtheta {name}_clip == d/dtheta of the paper's {name} integral (Leibniz, by sympy)",
                sp.diff(closed, THETA) - d_paper, half_angle_simplify)  # fmt: skip
        ck.equal(f"the paper's {name}(pi, w) = 0 (empty interval)", paper_integral(weight, sp.pi).doit(), 0)
        t = sp.Symbol("t", positive=True)
        ck.equal(f"{name}_clip -> 0 as theta -> pi-", sp.limit(closed.subs(THETA, sp.pi - t), t, 0, "+"), 0)


def paper_integrals_quadrature(ck: Checks) -> None:
    """Second route: the paper's integral definitions by mpmath quadrature vs the closed forms."""
    xi = sp.lambdify(X, xi_closed(), modules="mpmath")

    def paper(weight: object) -> object:
        def value(pt: dict) -> mpmath.mpf:
            # q's integrand changes sign, so q is a difference of larger parts: 15 guard digits
            with mpmath.workdps(mpmath.mp.dps + 15):
                th, r, c = pt[THETA], pt[R], pt[CLIP]
                f = lambda t: weight(t) * xi(c / (r * mpmath.cos(t)))  # noqa: E731
                # break where c sec(t)/r crosses 1, the steep part of xi(c sec(t)/r) when c < r
                lo = th - mpmath.pi / 2
                cuts = {lo, mpmath.mpf(0), mpmath.pi / 2} | ({mpmath.acos(c / r)} if c < r else set())
                total, err = mpmath.quad(f, sorted(x for x in cuts if x >= lo), error=True)
                assert err < mpmath.mpf(10) ** -(mpmath.mp.dps - 5), f"quadrature error estimate {err} too large"
                return total / (2 * mpmath.pi)

        return value

    def sampler(rng: random.Random) -> dict:
        return {THETA: rng.uniform(0.01, math.pi - 0.01), R: log_uniform(rng, 0.05, 20), CLIP: log_uniform(rng, 0.2, 5)}

    for seed, (name, weight, closed) in enumerate((("p", mpmath.cos, p_clip()), ("q", mpmath.sin, q_clip()))):
        ck.at_points(f"the paper's {name}(theta, w) integral (quadrature) == {name}_clip", paper(weight), closed,
                     sampler, n=10, seed=seed + 1, dps=30, digits=25)  # fmt: skip


def limits(ck: Checks) -> None:
    """p, q at the ends of (0, pi): the values popgrad.symbolic uses at theta in {0, pi}.

    The limits are taken after substituting theta = t or theta = pi - t (t -> 0+): sympy 1.14's
    limit(p_clip, theta, pi, '-') wrongly returns p(0, w) (the value at theta = pi - 1e-12 is 1e-25).
    """
    t = sp.Symbol("t", positive=True)
    for at, p_end in ((0, P0_CLIP), (sp.pi, 0)):
        theta = t if at == 0 else sp.pi - t
        ck.equal(f"lim p(theta, w), theta -> {at}", sp.limit(p_clip().subs(THETA, theta), t, 0, "+"), p_end)
        ck.equal(f"lim q(theta, w), theta -> {at}", sp.limit(q_clip().subs(THETA, theta), t, 0, "+"), 0)
        end = coarse_w("clipped_relu", 0 if at == 0 else 1)
        ck.equal(f"coarse_w('clipped_relu', end) at theta = {at}: w_hat", end["w_hat"], P0_CLIP * H / 2 - VVS * p_end)
        ck.true(f"coarse_w('clipped_relu', end) at theta = {at}: u = 0", end["u"] == 0)
    near = {THETA: sp.pi - sp.Float("1e-30", 60), R: 1, CLIP: 1}
    ck.true("p(pi - 1e-30, w) < 1e-59 (numeric sanity of the limit)", abs(p_clip().subs(near).evalf(60)) < 1e-59)


def derived_coarse(p: sp.Expr, q: sp.Expr) -> dict[str, sp.Expr]:
    """E g_crelu on (w_hat, u): a = b = p(0, w) w_hat, c = p w_hat + q u in the general structure."""
    p0 = cartesian()["p0"]
    return {k: STRUCTURE.subs({A: a, B: b, C: c}) for k, a, b, c in (("w_hat", p0, p0, p), ("u", 0, 0, q))}


def lemma7(ck: Checks, p: sp.Expr, q: sp.Expr) -> None:
    e = derived_coarse(p, q)
    for basis in ("w_hat", "u"):
        ck.equal(f"Lemma 7: derived E g_crelu ({basis}) == COARSE_W", e[basis], COARSE_W["clipped_relu"][basis],
                 lambda x: sp.simplify(x.rewrite(sp.erf)))  # fmt: skip
    # the paper's form: p(0,w) h/2 w_hat - v.v* csc(theta/2) q (w_hat + w*_hat)/|w_hat + w*_hat|
    #                   - v.v* (p - cot(theta/2) q) w_hat
    pp, qq = sp.symbols("p q", real=True)
    mid = [(1 + sp.cos(THETA)) / (2 * sp.cos(THETA / 2)), sp.sin(THETA) / (2 * sp.cos(THETA / 2))]
    paper = [
        P0_CLIP * H / 2 - VVS * qq * mid[0] / sp.sin(THETA / 2) - VVS * (pp - sp.cot(THETA / 2) * qq),
        -VVS * qq * mid[1] / sp.sin(THETA / 2),
    ]
    symbolic = derived_coarse(pp, qq)
    for i, basis in enumerate(("w_hat", "u")):
        ck.equal(f"Lemma 7 as stated == derived ({basis})", paper[i], symbolic[basis])


def lemma13(ck: Checks) -> None:
    """Lemma 13 (c = 1): for theta in [pi/2, pi], p(theta, w) <= q(theta, w) and (1 - theta/pi) p(0, w) <= q."""
    p = sp.lambdify((THETA, R), p_clip().subs(CLIP, 1), modules="mpmath")
    q = sp.lambdify((THETA, R), q_clip().subs(CLIP, 1), modules="mpmath")
    p0 = sp.lambdify((R,), P0_CLIP.subs(CLIP, 1), modules="mpmath")
    rng = random.Random(13)
    worst1 = worst2 = mpmath.inf
    for _ in range(400):
        th = mpmath.mpf(rng.uniform(math.pi / 2, math.pi - 1e-9))
        r = mpmath.mpf(log_uniform(rng, 1e-3, 1e3))
        worst1 = min(worst1, q(th, r) - p(th, r))
        worst2 = min(worst2, q(th, r) - (1 - th / mpmath.pi) * p0(r))
    method = "400 random points @ 50 digits"
    ck.true(f"Lemma 13: p <= q on [pi/2, pi) (min q - p = {mpmath.nstr(worst1, 3)})", worst1 >= 0, method)
    ck.true(f"Lemma 13: (1 - theta/pi) p(0,w) <= q (min gap {mpmath.nstr(worst2, 3)})", worst2 >= 0, method)


@functools.cache
def derived_ends() -> dict[str, dict[str, sp.Expr]]:
    """E g_crelu at theta = 0 and pi: the limits of the derived interior coefficients (theta = t or pi - t)."""
    d = cartesian()
    e = derived_coarse(d["p"], d["q"])
    t = sp.Symbol("t", positive=True)
    return {end: {k: sp.limit(x.subs(THETA, at), t, 0, "+") for k, x in e.items()}
            for end, at in (("0", t), ("pi", sp.pi - t))}  # fmt: skip


def float64_coarse(ck: Checks, p: sp.Expr, q: sp.Expr) -> None:
    """pg.Model.coarse_grad with clipped ReLUs (levels 1 and 2.5) against the derived E g_crelu."""
    e = derived_coarse(p, q)
    ends = derived_ends()
    for level in (1.0, 2.5):
        ours, refs, scales = [], [], []
        for v, v_star, w, w_star in one_filter_points(seed=7 + int(level), count=18):
            values, geo = point_values(v, v_star, w, w_star)
            values[CLIP] = mpmath.mpf(level)
            coef = e if geo.sin != 0 else ends["0" if geo.cos > 0 else "pi"]
            _, g = pg.Model(v_star, w_star).coarse_grad(v, w, pg.ste.clipped_relu(level))
            ours.extend(g)
            refs.extend(combine([mp_value(coef["w_hat"], values), mp_value(coef["u"], values)], [geo.w_hat, geo.u]))
            scales.extend([term_scale(coef["w_hat"], values) + term_scale(coef["u"], values)] * len(g))
        ck.float64(f"pg.Model.coarse_grad(clipped_relu({level})) == derived E g_crelu, {len(ours)} components",
                   ours, refs, scales)  # fmt: skip


def main() -> None:
    ck = Checks("clipped_relu")
    polar_definition(ck)
    p, q = check_cartesian(ck)
    paper_integrals_exact(ck)
    paper_integrals_quadrature(ck)
    limits(ck)
    lemma7(ck, p, q)
    lemma13(ck)
    float64_coarse(ck, p, q)
    ck.finish()


if __name__ == "__main__":
    main()
