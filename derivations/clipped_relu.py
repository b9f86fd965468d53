"""Lemma 7 (clipped ReLU STE): the paper's p(theta, w), q(theta, w) in closed form, E g_crelu, Lemma 13.

See clipped_relu.md.  Run: python derivations/clipped_relu.py
"""

from __future__ import annotations

import functools
import math
import random

import mpmath
import sympy as sp
from _common import ANG, RHO, Checks, X, gauss_pdf, half_angle_simplify, log_uniform
from coarse_gradient import STRUCTURE, A, B, C

from popgrad.symbolic import CLIP, COARSE_W, P0_CLIP, THETA, VVS, H, Phi, R, coarse_w, p_clip, q_clip

HALF_PI = sp.pi / 2
S = sp.Symbol("s", positive=True)  # sin(theta) on (0, pi)
KAPPA = sp.Symbol("kappa", real=True)  # cot(theta)


@functools.cache
def xi_closed() -> sp.Expr:
    r"""xi(x) = int_0^x rho^2 e^{-rho^2/2} d rho, with x symbolic."""
    return sp.integrate(RHO**2 * sp.exp(-(RHO**2) / 2), (RHO, 0, X))


def polar_definition(ck: Checks) -> None:
    """E[(x, y) 1{0 < x < c/r, z.w* > 0}] in polar coordinates is the paper's (p, q)."""
    # For cos(varphi) > 0: 0 < rho cos(varphi) < c/r  <=>  rho < c sec(varphi)/r; the density is
    # rho e^{-rho^2/2}/(2 pi) and x = rho cos(varphi), so the radial integral is xi(c sec(varphi)/r)/(2 pi).
    upper = CLIP / (R * sp.cos(ANG))
    radial = sp.integrate(RHO * RHO * sp.exp(-(RHO**2) / 2), (RHO, 0, upper)) / (2 * sp.pi)
    ck.equal("radial integral = xi(c sec(varphi)/r)/(2 pi)", radial, xi_closed().subs(X, upper) / (2 * sp.pi))
    ck.equal(
        "xi(x) = -x e^{-x^2/2} + sqrt(pi/2) erf(x/sqrt 2)",
        xi_closed(),
        -X * sp.exp(-(X**2) / 2) + sp.sqrt(sp.pi / 2) * sp.erf(X / sp.sqrt(2)),
    )


def cartesian(ck: Checks) -> tuple[sp.Expr, sp.Expr]:
    """p and q by integrating y first, then x over (0, c/r); integration by parts for p."""
    top = CLIP / R
    # y-integrals over {y > -kappa x} (gaussian_helpers.py): Phi(kappa x) and phi(kappa x)
    # q = int_0^{c/r} phi(x) phi(kappa x) dx, and phi(x)phi(kappa x) = e^{-x^2/(2 s^2)}/(2 pi)
    product = gauss_pdf(X) * gauss_pdf(sp.cot(THETA) * X)
    gauss2 = sp.exp(-(X**2) / (2 * S**2)) / (2 * sp.pi)
    ck.equal("phi(x) phi(cot(theta) x) = e^{-x^2/(2 sin^2)}/(2 pi)", product, gauss2.subs(S, sp.sin(THETA)))
    q = sp.integrate(gauss2, (X, 0, top))
    # p = int_0^{c/r} x phi(x) Phi(kappa x) dx = [-phi Phi(kappa .)]_0^{c/r} + kappa q
    g = gauss_pdf(X)
    ck.zero("d/dx[-phi(x)Phi(kx)] = x phi(x)Phi(kx) - k phi(x)phi(kx)",
            sp.diff(-g * Phi(KAPPA * X), X) - (X * g * Phi(KAPPA * X) - KAPPA * g * gauss_pdf(KAPPA * X)))  # fmt: skip
    p = gauss_pdf(0) * Phi(0) - gauss_pdf(top) * Phi(KAPPA * top) + KAPPA * q
    to_theta = {S: sp.sin(THETA), KAPPA: sp.cot(THETA)}
    q_t, p_t = q.subs(to_theta), p.subs(to_theta)
    ck.equal("q(theta, w) derived == popgrad.symbolic.q_clip", q_t, q_clip())
    ck.equal("p(theta, w) derived == popgrad.symbolic.p_clip", p_t, p_clip())
    paper_q = sp.sin(THETA) / (2 * sp.sqrt(2 * sp.pi)) * sp.erf(1 / (sp.sqrt(2) * R * sp.sin(THETA)))
    ck.equal("the lead's q = sin/(2 sqrt(2 pi)) erf(1/(sqrt2 |w| sin)) (c = 1)", q_t.subs(CLIP, 1), paper_q)
    p0 = sp.integrate(X * gauss_pdf(X), (X, 0, top))
    ck.equal("p(0, w) = E[x 1{0 < x < c/r}] = phi(0) - phi(c/r) == P0_CLIP", p0, P0_CLIP)
    return p_t, q_t


def paper_integrals_exact(ck: Checks) -> None:
    r"""The paper's integrals equal the closed forms: same theta-derivative, same value at theta = pi.

    p_paper(theta) = (1/2pi) int_{theta - pi/2}^{pi/2} cos(t) xi(c sec(t)/r) dt, so by the fundamental
    theorem of calculus d p_paper/d theta = -(1/2pi) cos(theta - pi/2) xi(c sec(theta - pi/2)/r)
    = -(1/2pi) sin(theta) xi(c/(r sin theta)), and p_paper(pi) = 0 (empty interval); q likewise with
    sin(theta - pi/2) = -cos(theta).
    """
    xi_at = xi_closed().subs(X, CLIP / (R * sp.sin(THETA)))
    dp = sp.diff(p_clip(), THETA) + sp.sin(THETA) * xi_at / (2 * sp.pi)
    dq = sp.diff(q_clip(), THETA) - sp.cos(THETA) * xi_at / (2 * sp.pi)
    ck.zero("d/dtheta p_clip == d/dtheta of the paper's p integral", dp, half_angle_simplify)
    ck.zero("d/dtheta q_clip == d/dtheta of the paper's q integral", dq, half_angle_simplify)
    t = sp.Symbol("t", positive=True)
    ck.equal("p_clip -> 0 = paper's p(pi, w) as theta -> pi-", sp.limit(p_clip().subs(THETA, sp.pi - t), t, 0, "+"), 0)
    ck.equal("q_clip -> 0 = paper's q(pi, w) as theta -> pi-", sp.limit(q_clip().subs(THETA, sp.pi - t), t, 0, "+"), 0)


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

    # a second, numerical route (the exact one is paper_integrals_exact): 10 points each, 30 digits
    p_quad, q_quad = paper(mpmath.cos), paper(mpmath.sin)
    ck.at_points(
        "paper's p(theta, w) integral (quadrature) == p_clip",
        p_quad,
        p_clip(),
        sampler,
        n=10,
        seed=1,
        dps=30,
        digits=25,
    )
    ck.at_points(
        "paper's q(theta, w) integral (quadrature) == q_clip",
        q_quad,
        q_clip(),
        sampler,
        n=10,
        seed=2,
        dps=30,
        digits=25,
    )


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


def lemma7(ck: Checks, p: sp.Expr, q: sp.Expr) -> None:
    """E g_crelu: a = b = p(0, w) w_hat, c = p w_hat + q u in the general structure."""
    pp, qq = sp.symbols("p q", real=True)
    e = {k: STRUCTURE.subs({A: a, B: b, C: c}) for k, a, b, c in (("w_hat", P0_CLIP, P0_CLIP, pp), ("u", 0, 0, qq))}
    for basis in ("w_hat", "u"):
        ck.equal(
            f"Lemma 7: derived E g_crelu ({basis}) == COARSE_W",
            e[basis].subs({pp: p, qq: q}),
            COARSE_W["clipped_relu"][basis],
        )
    # the paper's form: p(0,w) h/2 w_hat - v.v* csc(theta/2) q (w_hat + w*_hat)/|w_hat + w*_hat|
    #                   - v.v* (p - cot(theta/2) q) w_hat
    mid = [(1 + sp.cos(THETA)) / (2 * sp.cos(THETA / 2)), sp.sin(THETA) / (2 * sp.cos(THETA / 2))]
    paper = [
        P0_CLIP * H / 2 - VVS * qq * mid[0] / sp.sin(THETA / 2) - VVS * (pp - sp.cot(THETA / 2) * qq),
        -VVS * qq * mid[1] / sp.sin(THETA / 2),
    ]
    for i, basis in enumerate(("w_hat", "u")):
        ck.equal(f"Lemma 7 as stated == derived ({basis})", paper[i], e[basis])


def lemma13(ck: Checks) -> None:
    """Lemma 13 (c = 1): for theta in [pi/2, pi], p(theta, w) <= q(theta, w) and (1 - theta/pi) p(0, w) <= q."""
    p = sp.lambdify((THETA, R), p_clip().subs(CLIP, 1), modules="mpmath")
    q = sp.lambdify((THETA, R), q_clip().subs(CLIP, 1), modules="mpmath")
    p0 = sp.lambdify((R,), P0_CLIP.subs(CLIP, 1), modules="mpmath")
    rng = random.Random(13)
    worst1 = worst2 = mpmath.inf
    with mpmath.workdps(50):
        for _ in range(400):
            th = mpmath.mpf(rng.uniform(math.pi / 2, math.pi - 1e-9))
            r = mpmath.mpf(log_uniform(rng, 1e-3, 1e3))
            worst1 = min(worst1, q(th, r) - p(th, r))
            worst2 = min(worst2, q(th, r) - (1 - th / mpmath.pi) * p0(r))
    ck.true(
        f"Lemma 13: p <= q on [pi/2, pi) (min q - p = {mpmath.nstr(worst1, 3)})", worst1 >= 0, "400 points @ 50 digits"
    )
    ck.true(
        f"Lemma 13: (1 - theta/pi) p(0,w) <= q (min gap {mpmath.nstr(worst2, 3)})",
        worst2 >= 0,
        "400 points @ 50 digits",
    )


def main() -> None:
    ck = Checks("clipped_relu")
    polar_definition(ck)
    p, q = cartesian(ck)
    paper_integrals_exact(ck)
    paper_integrals_quadrature(ck)
    limits(ck)
    lemma7(ck, p, q)
    lemma13(ck)
    ck.finish()


if __name__ == "__main__":
    main()
