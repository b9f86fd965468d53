"""Lemmas 5, 7, 10: <E g_mu, df/dw> in closed form for the three STEs, and its sign on (0, pi).

See inner_products.md.  Run: python derivations/inner_products.py
"""

from __future__ import annotations

import sympy as sp
from _common import Checks

from popgrad.symbolic import CLIP, COARSE_W, GRAD_W, PHI0, THETA, VVS, Phi, R, q_clip

ROOT2PI = sp.sqrt(2 * sp.pi)

#: the paper's closed forms (Lemma 10: identity, Lemma 5: ReLU, Lemma 7: clipped ReLU)
PAPER = {
    "identity": sp.sin(THETA) / (ROOT2PI**3 * R) * VVS**2,
    "relu": sp.sin(THETA) / (2 * ROOT2PI**3 * R) * VVS**2,
    "clipped_relu": q_clip() / (2 * sp.pi * R) * VVS**2,
}


def inner(ste: str) -> sp.Expr:
    """<E g, df/dw> from popgrad's coefficients in the orthonormal basis (w_hat, u)."""
    return sum(COARSE_W[ste][b] * GRAD_W[b] for b in ("w_hat", "u"))


def main() -> None:
    ck = Checks("inner_products")
    t = sp.Symbol("t", positive=True)  # t = tan(theta/2): theta in (0, pi) <=> t in (0, oo)
    weierstrass = {THETA: 2 * sp.atan(t)}
    for ste, paper in PAPER.items():
        mine = inner(ste)
        ck.equal(f"{ste}: <E g, df/dw> == the paper's closed form", mine, paper)
        factor = sp.simplify(mine / VVS**2)
        ck.true(f"{ste}: <E g, df/dw> = (v.v*)^2 K(theta, |w|)", factor.free_symbols <= {THETA, R, CLIP}, "exact")
        k = sp.simplify(sp.expand_trig(factor.subs(weierstrass)))
        ck.true(f"{ste}: K > 0 for theta in (0, pi), any |w| > 0: K = {k}", k.is_positive is True, "assumptions")
    # closed_form.inner_w relies on <E g, df/dw> = (v.v*)^2/(2 pi |w|) sin(theta) c*, c* = E g's w*_hat
    # coefficient / (-v.v*) (the w*_hat coefficient of c); for the clipped ReLU q = sin(theta) c*.
    c_star = {
        "identity": PHI0,
        "relu": PHI0 / 2,
        "clipped_relu": PHI0 * (Phi(CLIP / (R * sp.sin(THETA))) - Phi(0)),
    }
    for ste, cs in c_star.items():
        lead = VVS**2 / (2 * sp.pi * R) * sp.sin(THETA) * cs
        ck.equal(
            f"{ste}: closed_form.inner_w's formula == <E g, df/dw>",
            lead,
            inner(ste),
            lambda e: sp.simplify(e.rewrite(sp.erf)),
        )
    ck.finish()


if __name__ == "__main__":
    main()
