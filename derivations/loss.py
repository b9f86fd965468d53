"""Lemma 1: the population loss f(v, w), derived from the orthant probabilities.

See loss.md.  Run: python derivations/loss.py
"""

from __future__ import annotations

import sympy as sp
from _common import Checks, explicit_v, invariants_of, polar_expectation

from popgrad.symbolic import LOSS, LOSS_AT_ZERO, THETA

HALF_PI = sp.pi / 2


def pair_tables() -> tuple[sp.Expr, sp.Expr]:
    """E sigma(x) = E sigma(x)^2 and E sigma(z.w) sigma(z.w*) for one row z (polar coordinates)."""
    half = polar_expectation(0, sp.Integer(1), -HALF_PI, HALF_PI)
    both = polar_expectation(0, sp.Integer(1), THETA - HALF_PI, HALF_PI)
    return half, both


def derived_loss(m: int, w_is_zero: bool = False) -> tuple[sp.Expr, list, list]:
    r"""f = 1/2 E (v.sigma(Zw) - v*.sigma(Zw*))^2 expanded over pairs of rows (i, j).

    Rows are independent, so for i != j every product of indicators has expectation 1/2 * 1/2;
    for i = j: E sigma^2 = E sigma = 1/2 and E sigma(z.w) sigma(z.w*) = (pi - theta)/(2 pi).
    At w = 0, sigma(Z 0) = 1{0 > 0} = 0.
    """
    half, both = pair_tables()
    v, vs = explicit_v(m)
    s_s = lambda i, j: half if i == j else half * half  # noqa: E731  E s_i s_j (or s*_i s*_j)
    s_t = lambda i, j: both if i == j else half * half  # noqa: E731  E s_i s*_j
    rng = range(m)
    student = 0 if w_is_zero else sum(v[i] * v[j] * s_s(i, j) for i in rng for j in rng)
    cross = 0 if w_is_zero else sum(v[i] * vs[j] * s_t(i, j) for i in rng for j in rng)
    teacher = sum(vs[i] * vs[j] * s_s(i, j) for i in rng for j in rng)
    return sp.Rational(1, 2) * (student - 2 * cross + teacher), v, vs


def main() -> None:
    ck = Checks("loss")
    half, both = pair_tables()
    ck.equal("E 1{z.w > 0} = 1/2", half, sp.Rational(1, 2))
    ck.equal("E 1{z.w > 0, z.w* > 0} = (pi - theta)/(2 pi)", both, (sp.pi - THETA) / (2 * sp.pi))
    for m in range(1, 6):
        f, v, vs = derived_loss(m)
        ck.zero(
            f"Lemma 1, m = {m}: derived f == popgrad.symbolic.LOSS",
            sp.expand(f - LOSS.subs(invariants_of(v, vs))),
            sp.expand,
        )
        f0, v, vs = derived_loss(m, w_is_zero=True)
        ck.zero(
            f"Lemma 1 at w = 0, m = {m}: f == LOSS_AT_ZERO",
            sp.expand(f0 - LOSS_AT_ZERO.subs(invariants_of(v, vs))),
            sp.expand,
        )
        # the paper's matrix form, literally
        one = sp.ones(m, 1)
        vv, vsv = sp.Matrix(v), sp.Matrix(vs)
        eye = sp.eye(m)
        paper = (vv.T * (eye + one * one.T) * vv - 2 * vv.T * ((1 - 2 * THETA / sp.pi) * eye + one * one.T) * vsv
                 + vsv.T * (eye + one * one.T) * vsv)[0] / 8  # fmt: skip
        ck.zero(
            f"Lemma 1, m = {m}: paper's matrix form == LOSS",
            sp.expand(paper - LOSS.subs(invariants_of(v, vs))),
            sp.expand,
        )
    ck.finish()


if __name__ == "__main__":
    main()
