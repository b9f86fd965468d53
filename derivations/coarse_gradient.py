"""The expected coarse gradient E g_mu: its structure for any mu', and Lemmas 4 (ReLU) and 9 (identity).

See coarse_gradient.md.  Run: python derivations/coarse_gradient.py
"""

from __future__ import annotations

import functools

import sympy as sp
from _common import Checks, combine, explicit_v, invariants_of, mp_value, one_filter_points, point_values, term_scale
from gaussian_helpers import expectations

import popgrad as pg
from popgrad.symbolic import COARSE_W, PHI0, SS, SV, THETA, VV, VVS, H, coarse_w

# a = E[z mu'(z.w)], b = E[z mu'(z.w) 1{z.w > 0}], c = E[z mu'(z.w) 1{z.w* > 0}]; the identity below is
# linear in them, so one symbol per vector stands for any of its components.
A, B, C = sp.symbols("a b c")


def structure(m: int) -> tuple[sp.Expr, list, list]:
    r"""E g_mu = E sum_i z_i mu'(z_i.w) v_i (sum_j v_j sigma_j - sum_j v*_j sigma*_j), pair by pair.

    j = i: E[z mu' sigma] = b, E[z mu' sigma*] = c; j != i (independent rows): E[z_i mu'_i] E[sigma_j] = a/2.
    """
    v, vs = explicit_v(m)
    total = 0
    for i in range(m):
        for j in range(m):
            with_student = B if i == j else A / 2
            with_teacher = C if i == j else A / 2
            total += v[i] * (v[j] * with_student - vs[j] * with_teacher)
    return total, v, vs


#: The combination that every E g_mu of the one-filter model is (checked against the pair sum, m <= 5).
STRUCTURE = VV * (B - A / 2) + (SV**2 - SV * SS + VVS) * A / 2 - VVS * C


def assemble(a: list, b: list, c: list) -> dict[str, sp.Expr]:
    """(w_hat, u) coefficients of E g from the (w_hat, u) components of a, b, c."""
    return {k: sp.simplify(STRUCTURE.subs({A: a[i], B: b[i], C: c[i]})) for i, k in enumerate(("w_hat", "u"))}


@functools.cache
def derived() -> dict[str, dict[str, dict[str, sp.Expr]]]:
    r"""E g_identity and E g_relu on (w_hat, u): interior (theta in (0, pi)) and at theta = 0 and pi.

    From the derived expectations of gaussian_helpers.py: E z = 0, E z 1{x > 0} = phi(0) w_hat,
    E z 1{z.w* > 0} = phi(0) w*_hat (the same result in w*'s frame) with w*_hat = (cos, sin) on (w_hat, u),
    and E z 1{x > 0, z.w* > 0} on the derived arc.  At theta = 0 the teacher's half-plane is the student's, at
    theta = pi its complement (so the wedge is the half-plane, or empty).
    """
    e = expectations()
    half, wedge, whole = e["E z 1{x > 0}"], e["E z 1{x > 0, z.w* > 0}"], e["E z"]
    teacher = [PHI0 * sp.cos(THETA), PHI0 * sp.sin(THETA)]
    zero = [sp.Integer(0), sp.Integer(0)]
    out = {
        "identity": {"interior": assemble(a=whole, b=half, c=teacher)},
        "relu": {"interior": assemble(a=half, b=half, c=wedge)},
    }
    for end, at, sign in (("0", 0, 1), ("pi", sp.pi, -1)):
        teacher_end = [sign * PHI0, sp.Integer(0)]  # w*_hat = +-w_hat
        wedge_end = half if sign > 0 else zero
        out["identity"][end] = {k: x.subs(THETA, at) for k, x in assemble(whole, half, teacher_end).items()}
        out["relu"][end] = {k: x.subs(THETA, at) for k, x in assemble(half, half, wedge_end).items()}
    return out


def float64_coarse(ck: Checks) -> None:
    """pg.Model.coarse_grad (identity, ReLU) against the derived E g at fixed-seed points."""
    d = derived()
    for ste in ("identity", "relu"):
        ours, refs, scales = [], [], []
        for v, v_star, w, w_star in one_filter_points(seed=3, count=18):
            values, geo = point_values(v, v_star, w, w_star)
            region = "interior" if geo.sin != 0 else ("0" if geo.cos > 0 else "pi")
            coef = d[ste][region]
            _, g = pg.Model(v_star, w_star).coarse_grad(v, w, ste)
            ref = combine([mp_value(coef["w_hat"], values), mp_value(coef["u"], values)], [geo.w_hat, geo.u])
            scale = term_scale(coef["w_hat"], values) + term_scale(coef["u"], values)
            ours.extend(g)
            refs.extend(ref)
            scales.extend([scale] * len(g))
        ck.float64(f"pg.Model.coarse_grad({ste!r}) == derived E g, {len(ours)} components", ours, refs, scales)


def main() -> None:
    ck = Checks("coarse_gradient")
    for m in range(1, 6):
        e, v, vs = structure(m)
        ck.equal(f"E g_mu, m = {m}: pair expansion == |v|^2(b - a/2) + K a/2 - (v.v*) c",
                 e, STRUCTURE.subs(invariants_of(v, vs)), sp.expand)  # fmt: skip
    ck.equal("K = h - |v|^2, h the paper's h(v, v*)", (SV**2 - SV * SS + VVS) + VV, H)

    d = derived()
    for ste in ("identity", "relu"):
        for basis in ("w_hat", "u"):
            ck.equal(f"{ste}: derived E g ({basis}) == popgrad.symbolic.COARSE_W",
                     d[ste]["interior"][basis], COARSE_W[ste][basis])  # fmt: skip

    # the paper's statements, on (w_hat, u): w*_hat = (cos, sin), |w_hat + w*_hat| = 2 cos(theta/2)
    ws = [sp.cos(THETA), sp.sin(THETA)]
    lemma9 = [PHI0 * (VV * e - VVS * f) for e, f in zip((1, 0), ws, strict=True)]
    mid = [(1 + ws[0]) / (2 * sp.cos(THETA / 2)), ws[1] / (2 * sp.cos(THETA / 2))]
    lemma4 = [H * PHI0 / 2 * e - sp.cos(THETA / 2) * VVS * PHI0 * f for e, f in zip((1, 0), mid, strict=True)]
    for i, basis in enumerate(("w_hat", "u")):
        ck.equal(f"Lemma 9 as stated == derived E g_identity ({basis})", lemma9[i], d["identity"]["interior"][basis])
        ck.equal(f"Lemma 4 as stated == derived E g_relu ({basis})", lemma4[i], d["relu"]["interior"][basis])

    # theta in {0, pi}: the values from the degenerate regions are the limits of the interior formula, and
    # popgrad.symbolic's end values
    for ste in ("identity", "relu"):
        for end, at, idx in (("0", 0, 0), ("pi", sp.pi, 1)):
            for basis in ("w_hat", "u"):
                lim = sp.limit(d[ste]["interior"][basis], THETA, at)
                ck.equal(
                    f"{ste} at theta = {end} ({basis}): from the region == limit of the interior",
                    d[ste][end][basis],
                    lim,
                )
                ck.equal(f"{ste} at theta = {end} ({basis}): == popgrad.symbolic.coarse_w", d[ste][end][basis],
                         coarse_w(ste, idx)[basis])  # fmt: skip
    float64_coarse(ck)
    ck.finish()


if __name__ == "__main__":
    main()
