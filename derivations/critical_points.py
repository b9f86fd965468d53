"""Lemmas 6, 8, 9, 10 at the critical points: E g_relu, E g_crelu vanish there; E g_id does not.

See critical_points.md.  Run: python derivations/critical_points.py
"""

from __future__ import annotations

import mpmath
import numpy as np
import sympy as sp
from _common import Checks, combine, half_angle_simplify, mp_value, point_values, term_scale
from clipped_relu import derived_ends
from inner_products import derived_coefficients
from proposition1 import ONE, SADDLE_THETA, V_STAR, add, dot, grad_v, invariants, same, scale, stationary_v

import popgrad as pg
from popgrad.critical import proposition1, w_at_angle
from popgrad.symbolic import CLIP, GRAD_V, GRAD_W, PHI0, SS, THETA, VV, VVS, M, R

ROOT2PI = sp.sqrt(2 * sp.pi)


def ends() -> dict[str, dict[str, dict[str, sp.Expr]]]:
    """The derived E g at theta = 0 and pi (coarse_gradient.py, clipped_relu.py)."""
    from coarse_gradient import derived

    out = {ste: {end: derived()[ste][end] for end in ("0", "pi")} for ste in ("identity", "relu")}
    out["clipped_relu"] = derived_ends()
    return out


def float64_at_critical_points(ck: Checks) -> None:
    """pg.Model.coarse_grad at Prop. 1's points (popgrad.critical, float64) against the derived E g there.

    The float64 inputs are the critical points rounded, so the reference is the derived E g at those exact inputs;
    it is also checked to be tiny (< 1e-12 of the natural scale) for the ReLU and clipped ReLU: the points are
    critical.  At the spurious points, |E g_id| is Lemma 9's value.
    """
    rng = np.random.default_rng(10)
    coef = derived_coefficients()
    end_coef = ends()
    got, ref, scales, small = [], [], [], mpmath.mpf(0)
    lemma9_ours, lemma9_ref, lemma9_scale = [], [], []
    for m in (2, 3, 4, 5, 6):
        v_star = rng.normal(size=m)
        w_star = rng.normal(size=4)
        cp = proposition1(v_star)
        if not cp.exists:
            continue
        model = pg.Model(v_star, w_star)
        points = [(cp.saddle_v, w_at_angle(w_star, cp.saddle_theta, 1.3)), (cp.spurious_v, -0.7 * w_star)]
        for v, w in points:
            values, geo = point_values(v, v_star, w, w_star)
            values[CLIP] = mpmath.mpf(1)
            for ste in ("relu", "clipped_relu"):
                c = coef[ste] if geo.sin != 0 else end_coef[ste]["0" if geo.cos > 0 else "pi"]
                _, g = model.coarse_grad(v, w, ste)
                exact = combine([mp_value(c["w_hat"], values), mp_value(c["u"], values)], [geo.w_hat, geo.u])
                sc = term_scale(c["w_hat"], values) + term_scale(c["u"], values)
                got.extend(g)
                ref.extend(exact)
                scales.extend([sc] * len(g))
                small = max(small, max(abs(x) for x in exact) / sc)
        values, geo = point_values(cp.spurious_v, v_star, -0.7 * w_star, w_star)
        _, g = model.coarse_grad(cp.spurious_v, -0.7 * w_star, "identity")
        lemma9_ours.append(float(np.linalg.norm(g)))
        lemma9_ref.append(mp_value(2 * (M - 1) * SS**2 / (ROOT2PI * (M + 1) ** 2), values | {M: m}))
        lemma9_scale.append(mp_value(PHI0 * (VV + abs(VVS)), values))  # the terms of phi(0)(|v|^2 + v'v*)
    ck.float64(f"pg.Model.coarse_grad (relu, clipped_relu) at Prop. 1's points == derived, {len(got)} components",
               got, ref, scales)  # fmt: skip
    ck.true(f"... where the derived E g is {mpmath.nstr(small, 3)} of its natural scale (< 1e-12: critical)",
            small < 1e-12, "points @ 50 digits")  # fmt: skip
    ck.float64(f"|pg.Model.coarse_grad(identity)| at the spurious points == Lemma 9's value, {len(lemma9_ours)}",
               lemma9_ours, lemma9_ref, lemma9_scale)  # fmt: skip


def main() -> None:
    ck = Checks("critical_points")
    coef = derived_coefficients()
    end_coef = ends()
    saddle = invariants(stationary_v(1 - 2 * SADDLE_THETA / sp.pi))
    ck.equal("saddle: v'v* = 0", saddle[VVS], 0)
    spurious = invariants(stationary_v(-1))
    global_min = invariants(V_STAR)

    for ste in ("relu", "clipped_relu"):
        lemma = 6 if ste == "relu" else 8
        for basis in ("w_hat", "u"):
            at_saddle = coef[ste][basis].subs(saddle).subs(THETA, SADDLE_THETA)
            ck.equal(f"Lemma {lemma}: derived E g_{ste} = 0 at the saddle points ({basis})", at_saddle, 0)
            ck.equal(
                f"derived E g_{ste} = 0 at theta = pi, v = v0 ({basis})", end_coef[ste]["pi"][basis].subs(spurious), 0
            )
            ck.equal(
                f"derived E g_{ste} = 0 at theta = 0, v = v* ({basis})", end_coef[ste]["0"][basis].subs(global_min), 0
            )

    # "only there": on (0, pi) the derived u-coefficient is -(v'v*) K with K > 0 free of v, so E g = 0 forces
    # v'v* = 0; with df/dv = 0 that is (8), whose only solution is the saddle (proposition1.py: v'v* is affine in
    # theta with non-zero slope along the stationary curve)
    t = sp.Symbol("t", positive=True)
    for ste in ("relu", "clipped_relu"):
        k = sp.simplify(-coef[ste]["u"] / VVS)
        positive = half_angle_simplify(k).subs(sp.Symbol("t_half", positive=True), t).is_positive
        ck.true(f"{ste}: derived u coefficient = -(v'v*) K, K = {k} free of v and > 0 on (0, pi)",
                k.free_symbols <= {THETA, R, CLIP} and positive is True, "simplify, assumptions")  # fmt: skip
    # at theta in {0, pi}, df/dv = 0 determines v (I + 11' is invertible: Sherman-Morrison, proposition1.py)
    ck.zero("df/dv = 0 at theta = 0 only for v = v*", same(stationary_v(1), V_STAR))
    v0_paper = add(scale(-1, V_STAR), scale(2 * SS / (M + 1), ONE))  # v0 = -v* + 2(1'v*)/(m+1) 1
    ck.zero("df/dv = 0 at theta = pi only for v = v0 = -v* + 2(1'v*)/(m+1) 1", same(stationary_v(-1), v0_paper))

    # Lemma 9: E g_id at (v0, pi) is its w_hat coefficient times w_hat (the u-term vanishes)
    g_id = sp.factor(sp.simplify(end_coef["identity"]["pi"]["w_hat"].subs(spurious)))
    paper = 2 * (M - 1) * SS**2 / (ROOT2PI * (M + 1) ** 2)
    ck.equal("Lemma 9: derived E g_id at (v0, pi) = 2(m-1)(1'v*)^2/(sqrt(2pi)(m+1)^2) w_hat", g_id, paper)
    ck.true("Lemma 9: ... which is >= 0, so it is also the norm",
            paper.subs({M: sp.Symbol("k", positive=True) + 1}).is_nonnegative)  # fmt: skip
    ck.equal("... = phi(0)(|v0|^2 + v0'v*), from v0 = -v* + 2(1'v*)/(m+1) 1 directly",
             PHI0 * (dot(v0_paper, v0_paper) + dot(v0_paper, V_STAR)), paper)  # fmt: skip
    ck.equal("... and E g_id's w_hat coefficient at theta = pi is phi(0)(|v|^2 + v'v*)",
             end_coef["identity"]["pi"]["w_hat"], PHI0 * (VV + VVS))  # fmt: skip

    # Lemma 10: near (v0, pi), |E g_id|^2 -> Lemma 9's value^2 > 0 while the denominator -> 0
    inner_id = sum(coef["identity"][b] * GRAD_W[b] for b in ("w_hat", "u"))
    ck.equal("Lemma 10: <E g_id, df/dw> -> 0 as theta -> pi", sp.limit(inner_id.subs(THETA, sp.pi - t), t, 0, "+"), 0)
    gv = grad_v(stationary_v(-1))
    ck.zero("Lemma 10: df/dv = 0 at (v0, pi)", same(tuple(e.subs(THETA, sp.pi) for e in gv), (0, 0)))
    ck.true("(GRAD_V is continuous in theta: polynomial)", all(e.is_polynomial(THETA) for e in GRAD_V.values()))
    ck.equal("(E g_id is continuous at theta = pi: the limit of the interior is the end value)",
             sp.limit(coef["identity"]["w_hat"], THETA, sp.pi), end_coef["identity"]["pi"]["w_hat"])  # fmt: skip
    float64_at_critical_points(ck)
    ck.finish()


if __name__ == "__main__":
    main()
