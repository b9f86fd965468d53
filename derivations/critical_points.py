"""Lemmas 6, 8, 9, 10 at the critical points: E g_relu, E g_crelu vanish there; E g_id does not.

See critical_points.md.  Run: python derivations/critical_points.py
"""

from __future__ import annotations

import sympy as sp
from _common import Checks
from proposition1 import SADDLE_THETA, V_STAR, dot, grad_v, invariants, same, stationary_v

from popgrad.symbolic import COARSE_W, GRAD_V, GRAD_W, PHI0, SS, THETA, VVS, M, coarse_w, q_clip

ROOT2PI = sp.sqrt(2 * sp.pi)


def main() -> None:
    ck = Checks("critical_points")
    saddle = invariants(stationary_v(1 - 2 * SADDLE_THETA / sp.pi))
    ck.equal("saddle: v'v* = 0", saddle[VVS], 0)
    spurious = invariants(stationary_v(-1))
    global_min = invariants(V_STAR)

    for ste in ("relu", "clipped_relu"):
        for basis in ("w_hat", "u"):
            at_saddle = COARSE_W[ste][basis].subs(saddle).subs(THETA, SADDLE_THETA)
            ck.equal(f"Lemma {6 if ste == 'relu' else 8}: E g_{ste} = 0 at the saddle points ({basis})", at_saddle, 0)
            ck.equal(f"E g_{ste} = 0 at theta = pi, v = v0 ({basis})", coarse_w(ste, 1)[basis].subs(spurious), 0)
            ck.equal(f"E g_{ste} = 0 at theta = 0, v = v* ({basis})", coarse_w(ste, 0)[basis].subs(global_min), 0)

    # "only there": on (0, pi) the u-coefficient is -(v'v*) K with K > 0 (inner_products.py), so
    # E g = 0 forces v'v* = 0; with df/dv = 0 that is (8), whose only solution is the saddle
    # (proposition1.py: v'v* is affine in theta with non-zero slope along the stationary curve).
    ck.equal(
        "relu: u coefficient = -(v'v*) sin(theta)/(2 sqrt(2 pi))",
        COARSE_W["relu"]["u"],
        -VVS * sp.sin(THETA) * PHI0 / 2,
    )
    ck.equal("clipped_relu: u coefficient = -(v'v*) q(theta, w)", COARSE_W["clipped_relu"]["u"], -VVS * q_clip())
    # at theta in {0, pi}, df/dv = 0 determines v: v* (theta = 0) or v0 (theta = pi), covered above
    for name, alpha, v in (("theta = 0", 1, V_STAR), ("theta = pi", -1, stationary_v(-1))):
        ck.zero(f"df/dv = 0 at {name} only for v = {'v*' if alpha == 1 else 'v0'}", same(stationary_v(alpha), v))

    # Lemma 9: E g_id at (v0, pi) is its w_hat coefficient times w_hat (u-term vanishes)
    g_id = sp.factor(sp.simplify(coarse_w("identity", 1)["w_hat"].subs(spurious)))
    paper = 2 * (M - 1) * SS**2 / (ROOT2PI * (M + 1) ** 2)
    ck.equal("Lemma 9: E g_id at (v0, pi) = 2(m-1)(1'v*)^2/(sqrt(2pi)(m+1)^2) w_hat", g_id, paper)
    ck.true(
        "Lemma 9: ... which is >= 0, so it is also the norm",
        paper.subs({M: sp.Symbol("k", positive=True) + 1}).is_nonnegative,
    )
    ck.equal("... E g_id at (v0, pi) computed from v0 = -v* + 2(1'v*)/(m+1) 1 directly",
             PHI0 * (dot(stationary_v(-1), stationary_v(-1)) + dot(stationary_v(-1), V_STAR)), paper)  # fmt: skip

    # Lemma 10: near (v0, pi), |E g_id|^2 -> Lemma 9's value^2 > 0 while the denominator -> 0
    t = sp.Symbol("t", positive=True)
    inner_id = sum(COARSE_W["identity"][b] * GRAD_W[b] for b in ("w_hat", "u"))
    ck.equal("Lemma 10: <E g_id, df/dw> -> 0 as theta -> pi", sp.limit(inner_id.subs(THETA, sp.pi - t), t, 0, "+"), 0)
    gv = grad_v(stationary_v(-1))
    ck.zero("Lemma 10: df/dv = 0 at (v0, pi)", same(tuple(e.subs(THETA, sp.pi) for e in gv), (0, 0)))
    ck.true("(GRAD_V is continuous in theta: polynomial)", all(e.is_polynomial(THETA) for e in GRAD_V.values()))
    ck.finish()


if __name__ == "__main__":
    main()
