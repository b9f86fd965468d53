"""Lemmas 5, 7, 10: <E g_mu, df/dw> in closed form for the three STEs, and its sign on (0, pi).

See inner_products.md.  Run: python derivations/inner_products.py
"""

from __future__ import annotations

import mpmath
import sympy as sp
from _common import Checks, mp_value, one_filter_points, point_values, term_scale
from clipped_relu import cartesian, derived_coarse
from coarse_gradient import derived

import popgrad as pg
from popgrad.symbolic import CLIP, GRAD_W, THETA, VVS, R, q_clip

ROOT2PI = sp.sqrt(2 * sp.pi)

#: the paper's closed forms (Lemma 10: identity, Lemma 5: ReLU, Lemma 7: clipped ReLU, with q the paper's
#: integral, equal to q_clip by clipped_relu.py)
PAPER = {
    "identity": sp.sin(THETA) / (ROOT2PI**3 * R) * VVS**2,
    "relu": sp.sin(THETA) / (2 * ROOT2PI**3 * R) * VVS**2,
    "clipped_relu": q_clip() / (2 * sp.pi * R) * VVS**2,
}


def derived_coefficients() -> dict[str, dict[str, sp.Expr]]:
    """E g_mu on (w_hat, u) as derived from the Gaussian integrals (coarse_gradient.py, clipped_relu.py)."""
    p_q = cartesian()
    return {**{k: derived()[k]["interior"] for k in ("identity", "relu")},
            "clipped_relu": derived_coarse(p_q["p"], p_q["q"])}  # fmt: skip


def inner(coef: dict[str, sp.Expr]) -> sp.Expr:
    """<E g, df/dw> from coefficients in the orthonormal basis (w_hat, u); df/dw = GRAD_W (gradient.py)."""
    return sum(coef[b] * GRAD_W[b] for b in ("w_hat", "u"))


def float64_inner(ck: Checks, products: dict[str, sp.Expr]) -> None:
    """pg.Model.correlation(...).inner_w against the derived inner products (0 at theta in {0, pi})."""
    stes = {"identity": "identity", "relu": "relu", "clipped_relu": pg.ste.clipped_relu(1.5)}
    for name, ste in stes.items():
        ours, refs, scales = [], [], []
        for v, v_star, w, w_star in one_filter_points(seed=8, count=18):
            values, geo = point_values(v, v_star, w, w_star)
            values[CLIP] = mpmath.mpf(1.5)
            ours.append(pg.Model(v_star, w_star).correlation(v, w, ste).inner_w)
            at_end = geo.sin == 0
            refs.append(mpmath.mpf(0) if at_end else mp_value(products[name], values))
            scales.append(abs(values[VVS]) ** 2 / geo.r if at_end else term_scale(products[name], values))
        ck.float64(f"pg.Model.correlation({name}).inner_w == derived, {len(ours)} points", ours, refs, scales)


def main() -> None:
    ck = Checks("inner_products")
    t = sp.Symbol("t", positive=True)  # t = tan(theta/2): theta in (0, pi) <=> t in (0, oo)
    weierstrass = {THETA: 2 * sp.atan(t)}
    products = {}
    for ste, coef in derived_coefficients().items():
        mine = inner(coef)
        products[ste] = mine
        ck.equal(f"{ste}: derived <E g, df/dw> == the paper's closed form", mine, PAPER[ste],
                 lambda e: sp.simplify(e.rewrite(sp.erf)))  # fmt: skip
        factor = sp.simplify(mine / VVS**2)
        ck.true(f"{ste}: <E g, df/dw> = (v.v*)^2 K(theta, |w|)", factor.free_symbols <= {THETA, R, CLIP}, "exact")
        k = sp.simplify(sp.expand_trig(factor.subs(weierstrass)))
        ck.true(f"{ste}: K > 0 for theta in (0, pi), any |w| > 0: K = {k}", k.is_positive is True, "assumptions")
    float64_inner(ck, products)
    ck.finish()


if __name__ == "__main__":
    main()
