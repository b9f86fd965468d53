"""Lemma 1: the population loss f(v, w), derived from the orthant probabilities and the independence of the rows.

See loss.md.  Run: python derivations/loss.py
"""

from __future__ import annotations

import functools

import numpy as np
import sympy as sp
from _common import ANG, RHO, Checks, explicit_v, invariants_of, mp_value, one_filter_points, point_values, term_scale
from gaussian_helpers import arcs, expectations

import popgrad as pg
from popgrad.symbolic import LOSS, LOSS_AT_ZERO, THETA

RHO2, ANG2 = sp.Symbol("rho_2", positive=True), sp.Symbol("varphi_2", real=True)


def two_rows(arc_i: tuple, arc_j: tuple) -> sp.Expr:
    r"""E[1{row i's angle in arc_i} 1{row j's angle in arc_j}] for two rows i != j, as one four-fold integral.

    The entries of Z are i.i.d. N(0, 1), so the joint density of rows i and j (each in its own plane, polar
    coordinates) is the product :math:`\frac{1}{(2\pi)^2}\rho_i\rho_j e^{-(\rho_i^2 + \rho_j^2)/2}`.
    """
    density = RHO * RHO2 * sp.exp(-(RHO**2 + RHO2**2) / 2) / (2 * sp.pi) ** 2
    return sp.integrate(density, (RHO, 0, sp.oo), (ANG, *arc_i), (RHO2, 0, sp.oo), (ANG2, *arc_j))


@functools.cache
def pair_table() -> dict[str, sp.Expr]:
    """E[s_i s_j], E[s_i t_j] (s = sigma(z.w), t = sigma(z.w*)) for i = j and i != j, derived."""
    e = expectations()
    half = arcs()["half"]  # {z.w > 0} in w's frame; {z.w* > 0} is the same arc in w*'s frame
    return {
        "ss": e["P(x > 0)"],  # sigma^2 = sigma
        "st": e["P(x > 0, z.w* > 0)"],
        "ss_other": two_rows(half, half),
        "st_other": two_rows(half, half),
    }


def derived_loss(m: int, w_is_zero: bool = False) -> tuple[sp.Expr, list, list]:
    r"""f = 1/2 E (v.sigma(Zw) - v*.sigma(Zw*))^2 expanded over pairs of rows (i, j) with the derived table.

    At w = 0, sigma(Z 0) = 1{0 > 0} = 0.
    """
    tab = pair_table()
    v, vs = explicit_v(m)
    s_s = lambda i, j: tab["ss"] if i == j else tab["ss_other"]  # noqa: E731  E s_i s_j (and t_i t_j)
    s_t = lambda i, j: tab["st"] if i == j else tab["st_other"]  # noqa: E731  E s_i t_j
    rng = range(m)
    student = 0 if w_is_zero else sum(v[i] * v[j] * s_s(i, j) for i in rng for j in rng)
    cross = 0 if w_is_zero else sum(v[i] * vs[j] * s_t(i, j) for i in rng for j in rng)
    teacher = sum(vs[i] * vs[j] * s_s(i, j) for i in rng for j in rng)
    return sp.Rational(1, 2) * (student - 2 * cross + teacher), v, vs


def float64_loss(ck: Checks) -> None:
    """pg.Model.loss against the derived f (and f at w = 0) at fixed-seed points."""
    derived = {m: derived_loss(m) for m in range(1, 6)}
    at_zero = {m: derived_loss(m, w_is_zero=True) for m in range(1, 6)}
    ours, refs, scales = [], [], []
    ours0, refs0, scales0 = [], [], []
    for v, v_star, w, w_star in one_filter_points(seed=1, count=18):
        m = v.size
        values, _ = point_values(v, v_star, w, w_star)
        f, sym_v, sym_vs = derived[m]
        values |= dict(zip(sym_v, (float(a) for a in v), strict=True)) | dict(
            zip(sym_vs, (float(a) for a in v_star), strict=True)
        )
        model = pg.Model(v_star, w_star)
        ours.append(model.loss(v, w))
        refs.append(mp_value(f, values))
        scales.append(term_scale(f, values))
        f0 = at_zero[m][0]
        ours0.append(model.loss(v, np.zeros_like(w)))
        refs0.append(mp_value(f0, values))
        scales0.append(term_scale(f0, values))
    ck.float64(f"pg.Model.loss == derived f at {len(ours)} points", ours, refs, scales)
    ck.float64(f"pg.Model.loss at w = 0 == derived f at {len(ours0)} points", ours0, refs0, scales0)


def main() -> None:
    ck = Checks("loss")
    tab = pair_table()
    ck.equal("E s_i^2 = E 1{z.w > 0} = 1/2", tab["ss"], sp.Rational(1, 2))
    ck.equal("E s_i t_i = E 1{z.w > 0, z.w* > 0} = (pi - theta)/(2 pi)", tab["st"], (sp.pi - THETA) / (2 * sp.pi))
    ck.equal("i != j: E s_i s_j = E s_i t_j = 1/4 (four-fold integral over two independent rows)",
             tab["ss_other"], sp.Rational(1, 4))  # fmt: skip
    for m in range(1, 6):
        f, v, vs = derived_loss(m)
        ck.zero(f"Lemma 1, m = {m}: derived f == popgrad.symbolic.LOSS",
                sp.expand(f - LOSS.subs(invariants_of(v, vs))), sp.expand)  # fmt: skip
        f0, v, vs = derived_loss(m, w_is_zero=True)
        ck.zero(f"Lemma 1 at w = 0, m = {m}: f == LOSS_AT_ZERO",
                sp.expand(f0 - LOSS_AT_ZERO.subs(invariants_of(v, vs))), sp.expand)  # fmt: skip
        # the paper's matrix form, literally
        one = sp.ones(m, 1)
        vv, vsv = sp.Matrix(v), sp.Matrix(vs)
        eye = sp.eye(m)
        paper = (vv.T * (eye + one * one.T) * vv - 2 * vv.T * ((1 - 2 * THETA / sp.pi) * eye + one * one.T) * vsv
                 + vsv.T * (eye + one * one.T) * vsv)[0] / 8  # fmt: skip
        ck.zero(f"Lemma 1, m = {m}: the paper's matrix form == derived f", sp.expand(paper - f), sp.expand)
    float64_loss(ck)
    ck.finish()


if __name__ == "__main__":
    main()
