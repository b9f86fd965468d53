"""The expected coarse gradient E g_mu: its structure for any mu', and Lemmas 4 (ReLU) and 9 (identity).

See coarse_gradient.md.  Run: python derivations/coarse_gradient.py
"""

from __future__ import annotations

import sympy as sp
from _common import ANG, Checks, X, explicit_v, gauss_pdf, invariants_of, polar_expectation

from popgrad.symbolic import COARSE_W, PHI0, SS, SV, THETA, VV, VVS, H, Phi, coarse_w

HALF_PI = sp.pi / 2
# a = E[z mu'(z.w)], b = E[z mu'(z.w) 1{z.w > 0}], c = E[z mu'(z.w) 1{z.w* > 0}]; the identity
# below is linear in them, so one symbol per vector stands for any of its components.
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


#: The closed_form.py docstring's combination (the lead's), in the invariants.
STRUCTURE = VV * (B - A / 2) + (SV**2 - SV * SS + VVS) * A / 2 - VVS * C


def vector(radial_power: int, lo: sp.Expr, hi: sp.Expr) -> list[sp.Expr]:
    """(w_hat, u) components of E[z 1{lo < varphi < hi}] in polar coordinates."""
    return [polar_expectation(radial_power, f, lo, hi) for f in (sp.cos(ANG), sp.sin(ANG))]


def assemble(a: list, b: list, c: list) -> dict[str, sp.Expr]:
    """(w_hat, u) coefficients of E g from the component lists of a, b, c."""
    return {k: STRUCTURE.subs({A: a[i], B: b[i], C: c[i]}) for i, k in enumerate(("w_hat", "u"))}


def general_piece(ck: Checks) -> None:
    r"""mu' = 1{alpha < x < beta} in units x = z.w_hat (alpha < beta finite), Cartesian, y first.

    Checks the per-piece formulas of popgrad/closed_form.py's docstring:
    a = w_hat [phi(alpha) - phi(beta)], c = w_hat [phi(alpha)Phi(k alpha) - phi(beta)Phi(k beta)]
    + w*_hat phi(0) [Phi(beta/s) - Phi(alpha/s)], k = cot(theta), s = sin(theta).
    """
    al, be = sp.symbols("alpha beta", real=True)
    k = sp.Symbol("kappa", real=True)
    s = sp.Symbol("s", positive=True)  # sin(theta) on (0, pi); 1 + cot^2 = 1/sin^2
    ck.equal("1 + cot(theta)^2 = 1/sin(theta)^2", 1 + sp.cot(THETA) ** 2, 1 / sp.sin(THETA) ** 2)
    a_w = sp.integrate(X * gauss_pdf(X), (X, al, be))
    ck.equal("piece: a = w_hat [phi(alpha) - phi(beta)]", a_w, gauss_pdf(al) - gauss_pdf(be))
    # u-part of c: int phi(x) phi(k x) dx, with 1 + k^2 = 1/s^2
    u_part = sp.integrate(sp.exp(-(X**2) / (2 * s**2)) / (2 * sp.pi), (X, al, be))
    ck.equal(
        "piece: int phi(x)phi(kx) = s phi(0)[Phi(beta/s) - Phi(alpha/s)]",
        u_part,
        s * PHI0 * (Phi(be / s) - Phi(al / s)),
    )
    # w_hat-part: integration by parts, d/dx[-phi(x)Phi(kx)] = x phi(x)Phi(kx) - k phi(x)phi(kx)
    by_parts = sp.diff(-gauss_pdf(X) * Phi(k * X), X) - (
        X * gauss_pdf(X) * Phi(k * X) - k * gauss_pdf(X) * gauss_pdf(k * X)
    )
    ck.zero("d/dx[-phi(x)Phi(kx)] = x phi(x)Phi(kx) - k phi(x)phi(kx)", by_parts)
    x_part = gauss_pdf(al) * Phi(k * al) - gauss_pdf(be) * Phi(k * be) + k * u_part
    # to the (w_hat, w*_hat) basis: u = (w*_hat - cos w_hat)/s, k s = cos(theta)
    c_star = u_part / s
    c_w = x_part - k * u_part
    ck.equal("piece: c's w*_hat coefficient (closed_form.py docstring)", c_star, PHI0 * (Phi(be / s) - Phi(al / s)))
    ck.equal(
        "piece: c's w_hat coefficient (closed_form.py docstring)",
        c_w,
        gauss_pdf(al) * Phi(k * al) - gauss_pdf(be) * Phi(k * be),
    )


def main() -> None:
    ck = Checks("coarse_gradient")
    for m in range(1, 6):
        e, v, vs = structure(m)
        ck.equal(
            f"E g_mu, m = {m}: pair expansion == |v|^2(b - a/2) + K a/2 - (v.v*) c",
            e,
            STRUCTURE.subs(invariants_of(v, vs)),
            sp.expand,
        )
    ck.equal("K = h - |v|^2, h the paper's h(v, v*)", (SV**2 - SV * SS + VVS) + VV, H)

    # the three expectations for the identity and ReLU STEs (polar coordinates; Lemmas 11-12)
    half_plane = vector(1, -HALF_PI, HALF_PI)  # E z 1{z.w > 0}
    teacher_plane = vector(1, THETA - HALF_PI, THETA + HALF_PI)  # E z 1{z.w* > 0}
    wedge = vector(1, THETA - HALF_PI, HALF_PI)  # E z 1{z.w > 0, z.w* > 0}
    whole = vector(1, -sp.pi, sp.pi)  # E z
    ck.equal("E z = 0", whole[0] ** 2 + whole[1] ** 2, 0)

    derived = {
        "identity": assemble(a=whole, b=half_plane, c=teacher_plane),
        "relu": assemble(a=half_plane, b=half_plane, c=wedge),
    }
    for ste, coef in derived.items():
        for basis in ("w_hat", "u"):
            ck.equal(f"{ste}: derived E g ({basis}) == popgrad.symbolic.COARSE_W", coef[basis], COARSE_W[ste][basis])

    # the paper's statements, in the (w_hat, u) basis: w*_hat = (cos, sin), |w_hat + w*_hat| = 2 cos(theta/2)
    ws = [sp.cos(THETA), sp.sin(THETA)]
    lemma9 = [PHI0 * (VV * e - VVS * f) for e, f in zip((1, 0), ws, strict=True)]
    mid = [(1 + ws[0]) / (2 * sp.cos(THETA / 2)), ws[1] / (2 * sp.cos(THETA / 2))]
    lemma4 = [H * PHI0 / 2 * e - sp.cos(THETA / 2) * VVS * PHI0 * f for e, f in zip((1, 0), mid, strict=True)]
    for i, basis in enumerate(("w_hat", "u")):
        ck.equal(f"Lemma 9 as stated == COARSE_W['identity'] ({basis})", lemma9[i], COARSE_W["identity"][basis])
        ck.equal(f"Lemma 4 as stated == COARSE_W['relu'] ({basis})", lemma4[i], COARSE_W["relu"][basis])

    # theta in {0, pi}: identity and ReLU coefficients are continuous; popgrad's end values are the limits
    for ste in ("identity", "relu"):
        for end, at in ((0, 0), (1, sp.pi)):
            ends = coarse_w(ste, end)
            ck.equal(
                f"{ste}: w_hat coefficient at theta = {at} is the limit",
                sp.limit(COARSE_W[ste]["w_hat"], THETA, at),
                ends["w_hat"],
            )
            ck.equal(f"{ste}: u coefficient -> 0 at theta = {at}", sp.limit(COARSE_W[ste]["u"], THETA, at), ends["u"])
    general_piece(ck)
    ck.finish()


if __name__ == "__main__":
    main()
