"""Lemmas 11-12: the Gaussian helper expectations, derived twice (polar and Cartesian coordinates).

See gaussian_helpers.md.  Run: python derivations/gaussian_helpers.py
"""

from __future__ import annotations

import math
import random

import sympy as sp
from _common import ANG, Checks, X, Y, gauss_pdf, polar_expectation

from popgrad.symbolic import PHI0, THETA, Phi

TH = THETA
HALF_PI = sp.pi / 2


def orthant_region_checks(ck: Checks) -> None:
    """{cos t > 0} and {cos(t - theta) > 0} intersect in (theta - pi/2, pi/2) for theta in [0, pi]."""
    # cos is continuous with zeros exactly at -pi/2, pi/2 in (-pi, pi]; its sign on each piece
    # is its sign at one interior point.  (sympy 1.14's solveset(cos(t) > 0, t, (-pi, pi]) wrongly
    # returns [0, pi/2), so the inequality is not handed to it.)
    zeros = sp.solveset(sp.Eq(sp.cos(ANG), 0), ANG, sp.Interval.Lopen(-sp.pi, sp.pi))
    signs = [sp.sign(sp.cos(t)) for t in (-3 * sp.pi / 4, 0, 3 * sp.pi / 4)]
    ck.true(
        "{x > 0} is the angular interval (-pi/2, pi/2) of (-pi, pi]",
        zeros == sp.FiniteSet(-HALF_PI, HALF_PI) and signs == [-1, 1, -1],
        "exact zeros and signs",
    )
    rng = random.Random(11)
    ok = True
    for _ in range(20000):
        th, t = rng.uniform(0, math.pi), rng.uniform(-math.pi, math.pi)
        both = math.cos(t) > 0 and math.cos(t - th) > 0
        ok &= both == (th - math.pi / 2 < t < math.pi / 2) or abs(math.cos(t)) < 1e-12 or abs(math.cos(t - th)) < 1e-12
    ck.true("{x > 0, z.w*_hat > 0} = {theta - pi/2 < varphi < pi/2}  (20000 random (theta, varphi))", ok, "points")


def main() -> None:
    ck = Checks("gaussian_helpers")
    orthant_region_checks(ck)

    # -- polar coordinates ----------------------------------------------------------------------
    p1 = polar_expectation(0, sp.Integer(1), -HALF_PI, HALF_PI)
    ck.equal("E 1{z.w > 0} = 1/2", p1, sp.Rational(1, 2))
    p2 = polar_expectation(0, sp.Integer(1), TH - HALF_PI, HALF_PI)
    ck.equal("E 1{z.w > 0, z.w* > 0} = (pi - theta)/(2 pi)", p2, (sp.pi - TH) / (2 * sp.pi))
    ez1 = [polar_expectation(1, f, -HALF_PI, HALF_PI) for f in (sp.cos(ANG), sp.sin(ANG))]
    ck.equal("E z 1{z.w > 0} = w_hat/sqrt(2 pi): w_hat part", ez1[0], PHI0)
    ck.equal("E z 1{z.w > 0} = w_hat/sqrt(2 pi): u part", ez1[1], 0)
    ezs = [polar_expectation(1, f, TH - HALF_PI, TH + HALF_PI) for f in (sp.cos(ANG), sp.sin(ANG))]
    ck.equal("E z 1{z.w* > 0} = w*_hat/sqrt(2 pi): w_hat part", ezs[0], PHI0 * sp.cos(TH))
    ck.equal("E z 1{z.w* > 0} = w*_hat/sqrt(2 pi): u part", ezs[1], PHI0 * sp.sin(TH))
    ez2 = [polar_expectation(1, f, TH - HALF_PI, HALF_PI) for f in (sp.cos(ANG), sp.sin(ANG))]
    # Lemma 12 as the paper writes it: cos(theta/2)/sqrt(2 pi) (w_hat + w*_hat)/|w_hat + w*_hat|,
    # with w_hat + w*_hat = (1 + cos theta, sin theta) in the (w_hat, u) basis and
    # |w_hat + w*_hat| = 2 cos(theta/2) (checked in identities.py).
    norm = 2 * sp.cos(TH / 2)
    paper = [sp.cos(TH / 2) * PHI0 * (1 + sp.cos(TH)) / norm, sp.cos(TH / 2) * PHI0 * sp.sin(TH) / norm]
    ck.equal("E z 1{z.w > 0, z.w* > 0} = paper's Lemma 12 form: w_hat part", ez2[0], paper[0])
    ck.equal("E z 1{z.w > 0, z.w* > 0} = paper's Lemma 12 form: u part", ez2[1], paper[1])
    ck.equal("... = (w_hat + w*_hat)/(2 sqrt(2 pi)): w_hat part", ez2[0], PHI0 * (1 + sp.cos(TH)) / 2)
    ck.equal("... = (w_hat + w*_hat)/(2 sqrt(2 pi)): u part", ez2[1], PHI0 * sp.sin(TH) / 2)

    # -- Cartesian coordinates, second route: integrate y first ---------------------------------
    # z.w*_hat = x cos(theta) + y sin(theta) > 0  <=>  y > -kappa x,  kappa = cot(theta), theta in (0, pi).
    kp, kn = sp.Symbol("kappa", positive=True), sp.Symbol("k", positive=True)
    inner_1 = sp.integrate(gauss_pdf(Y), (Y, -kp * X, sp.oo))
    ck.equal(
        "int_{-kappa x}^oo phi(y) dy = Phi(kappa x)", inner_1, Phi(kp * X), lambda e: sp.simplify(e.rewrite(sp.erf))
    )
    inner_y = sp.integrate(Y * gauss_pdf(Y), (Y, -kp * X, sp.oo))
    ck.equal("int_{-kappa x}^oo y phi(y) dy = phi(kappa x)", inner_y, gauss_pdf(kp * X))
    for kappa, sign in ((kp, "kappa > 0 (theta < pi/2)"), (-kn, "kappa < 0 (theta > pi/2)")):
        prob = sp.integrate(gauss_pdf(X) * Phi(kappa * X), (X, 0, sp.oo))
        # atan(cot theta) = pi/2 - theta on (0, pi)
        ck.equal(
            f"int_0^oo phi(x) Phi(kappa x) dx = 1/4 + atan(kappa)/(2 pi), {sign}",
            prob,
            1 / sp.Integer(4) + sp.atan(kappa) / (2 * sp.pi),
        )
        ey = sp.integrate(gauss_pdf(X) * gauss_pdf(kappa * X), (X, 0, sp.oo))
        ck.equal(
            f"E y 1{{x > 0, y > -kappa x}} = 1/(2 sqrt(2 pi) sqrt(1 + kappa^2)), {sign}",
            ey,
            PHI0 / (2 * sp.sqrt(1 + kappa**2)),
        )
        ex = sp.integrate(X * gauss_pdf(X) * Phi(kappa * X), (X, 0, sp.oo))
        ck.equal(
            f"E x 1{{x > 0, y > -kappa x}} = (1 + kappa/sqrt(1+kappa^2))/(2 sqrt(2 pi)), {sign}",
            ex,
            PHI0 / 2 * (1 + kappa / sp.sqrt(1 + kappa**2)),
        )

    # with kappa = cot(theta): 1/sqrt(1 + kappa^2) = sin(theta), kappa/sqrt(1 + kappa^2) = cos(theta)
    def theta_sampler(rng: random.Random) -> dict:
        return {TH: rng.uniform(1e-3, math.pi - 1e-3)}

    ck.at_points("atan(cot theta) = pi/2 - theta on (0, pi)", sp.atan(sp.cot(TH)), HALF_PI - TH, theta_sampler)
    ck.at_points(
        "1/sqrt(1 + cot(theta)^2) = sin(theta) on (0, pi)", 1 / sp.sqrt(1 + sp.cot(TH) ** 2), sp.sin(TH), theta_sampler
    )
    ck.finish()


if __name__ == "__main__":
    main()
