"""popgrad.paper_integrals: the forms of the paper's p(theta, w), q(theta, w) it evaluates, Lemma 13's tight case.

See p_q_closed_form.md.  Run: python derivations/p_q_closed_form.py
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import sympy as sp
from _common import Checks, mp_value, term_scale
from clipped_relu import cartesian

import popgrad as pg
from popgrad.symbolic import CLIP, P0_CLIP, THETA, R, phi

BETA = sp.Symbol("beta", positive=True)  # 1/|w|
A = sp.Symbol("a", positive=True)  # |cos(theta)| for theta in (pi/2, pi)


def Phibar(x: sp.Expr) -> sp.Expr:
    """1 - Phi(x)."""
    return sp.erfc(x / sp.sqrt(2)) / 2


def mills(x: sp.Expr) -> sp.Expr:
    """The Mills ratio R(x) = (1 - Phi(x))/phi(x)."""
    return Phibar(x) / phi(x)


def forms(ck: Checks) -> dict[str, sp.Expr]:
    """popgrad.paper_integrals' head - tail form of p (c = 1), and its tail for theta > pi/2, equal the derived p."""
    d = cartesian()
    p, q = (d[k].subs(CLIP, 1) for k in ("p", "q"))
    c, s = sp.cos(THETA), sp.sin(THETA)
    head = phi(0) * sp.cos(THETA / 2) ** 2
    tail = phi(1 / R) * (1 - Phibar(sp.cot(THETA) / R)) + c * phi(0) * Phibar(1 / (R * s))
    ck.equal(
        "head = phi(0)(1 + cos)/2 = phi(0) cos^2(theta/2)",
        head,
        phi(0) * (1 + c) / 2,
        lambda e: sp.simplify(sp.expand_trig(e)),
    )
    ck.equal(
        "p (derived, c = 1) == head - tail", p, head - tail, lambda e: sp.simplify(sp.expand_trig(e).rewrite(sp.erf))
    )
    ck.equal(
        "q (derived, c = 1) == phi(0) sin [Phi(beta/sin) - 1/2]",
        q,
        phi(0) * s * (1 - Phibar(1 / (R * s)) - sp.Rational(1, 2)),
        lambda e: sp.simplify(e.rewrite(sp.erf)),
    )
    # theta > pi/2: cos = -a, sin = sqrt(1 - a^2), t = beta/sin; the tail as a sum of non-negative parts
    sn = sp.sqrt(1 - A**2)
    t = BETA / sn
    tail_obtuse = phi(BETA) * (1 - Phibar(-A * BETA / sn)) - A * phi(0) * Phibar(t)
    mills_form = phi(0) * phi(t) * ((mills(A * t) - mills(t)) + (1 - A) * mills(t))
    ck.equal("theta > pi/2: tail = phi(0) phi(t) [(R(|c| t) - R(t)) + (1 - |c|) R(t)], t = beta/sin, R Mills' ratio",
             tail_obtuse, mills_form, lambda e: sp.simplify(sp.powsimp(sp.expand(e.rewrite(sp.erfc)))))  # fmt: skip
    return {"p": p, "q": q}


def lemma13_tight_case(ck: Checks, pq: dict[str, sp.Expr]) -> None:
    r"""At theta = pi/2 both of Lemma 13's gaps equal D(beta) = phi(beta)/2 - phi(0) Phibar(beta) > 0."""
    at = {THETA: sp.pi / 2, R: 1 / BETA}
    gap1 = (pq["q"] - pq["p"]).subs(at)
    gap2 = (pq["q"] - sp.Rational(1, 2) * P0_CLIP.subs(CLIP, 1)).subs(at)
    D = phi(BETA) / 2 - phi(0) * Phibar(BETA)
    simp = lambda e: sp.simplify(e.rewrite(sp.erf))  # noqa: E731
    ck.equal("theta = pi/2: q - p = D(beta) = phi(beta)/2 - phi(0) Phibar(beta)", gap1, D, simp)
    ck.equal("theta = pi/2: q - (1 - 1/2) p(0, w) = D(beta)", gap2, D, simp)
    dD = sp.diff(D, BETA)
    ck.equal("D' = (phi(0) - beta/2) phi(beta): D = int_0^beta (phi(0) - x/2) phi(x) dx", dD,
             (phi(0) - BETA / 2) * phi(BETA), simp)  # fmt: skip
    ck.true("D(0) = 0 and D(beta) -> 0 as beta -> oo (so D > 0: it rises on (0, 2 phi(0)), then falls to 0)",
            sp.simplify(D.subs(BETA, 0)) == 0 and sp.limit(D, BETA, sp.oo) == 0, "simplify, limit")  # fmt: skip
    # the sizes of the gap quoted in p_q_closed_form.md, at 50 digits
    quoted = {0.5: ("relative", 0.094, 0.001), 1.0: ("relative", 0.42, 0.01), 0.1: ("absolute", 3.5e-23, 1e-24)}
    ok = True
    for r, (kind, value, last_digit) in quoted.items():
        gap = mp_value(D, {BETA: 1 / mpmath.mpf(r)})
        size = gap / mp_value(pq["q"].subs(THETA, sp.pi / 2), {R: mpmath.mpf(r)}) if kind == "relative" else gap
        ok &= abs(size - value) <= last_digit / 2
    ck.true(
        "the quoted gaps at theta = pi/2: (q - p)/q = 0.094 (|w| = 0.5), 0.42 (|w| = 1); q - p = 3.5e-23 (|w| = 0.1)",
        ok,
        "points @ 50 digits, to the quoted digits",
    )


def float64_paper_integrals(ck: Checks, pq: dict[str, sp.Expr]) -> None:
    """pg.paper_integrals.p, q against the derived p, q (c = 1) at angles in [0, pi] and norms in [1e-2, 30]."""
    thetas = (0.0, 1e-6, 0.3, 0.5, 1.2, math.pi / 2, 2.0, 2.8, math.pi - 1e-3, math.pi - 1e-8, math.pi)
    norms = (0.01, 0.2, 1.0, 3.0, 30.0)
    ends = {"p": P0_CLIP.subs(CLIP, 1), "q": sp.Integer(0)}
    for name, fn in (("p", pg.paper_integrals.p), ("q", pg.paper_integrals.q)):
        ours, refs, scales = [], [], []
        for theta in thetas:
            for r in norms:
                values = {THETA: mpmath.mpf(theta), R: mpmath.mpf(r)}
                expr = ends[name] if theta == 0.0 else pq[name]
                ours.append(fn(theta, r))
                refs.append(mp_value(expr, values))
                scales.append(term_scale(expr, values))
        ck.float64(f"pg.paper_integrals.{name} == derived, {len(ours)} (theta, |w|)", ours, refs, scales)
    # the documented relative accuracy of p: a few (1 + |w|^2) ulps
    worst = 0.0
    for theta in np.linspace(0.05, math.pi - 0.05, 13):
        for r in norms:
            ref = mp_value(pq["p"], {THETA: mpmath.mpf(float(theta)), R: mpmath.mpf(r)})
            err = abs(mpmath.mpf(float(pg.paper_integrals.p(theta, r))) - ref) / ref
            worst = max(worst, float(err / (2.0**-52 * (1 + r * r))))
    ck.true(f"pg.paper_integrals.p to a few (1 + |w|^2) ulps relative (worst {worst:.3g}), 65 points", worst <= 16,
            "float64, <= 16 (1 + |w|^2) ulps of the value")  # fmt: skip


def main() -> None:
    ck = Checks("p_q_closed_form")
    pq = forms(ck)
    lemma13_tight_case(ck, pq)
    float64_paper_integrals(ck, pq)
    ck.finish()


if __name__ == "__main__":
    main()
