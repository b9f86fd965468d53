"""Lemma 2 (the true gradient, as sympy derivatives of the derived f) and Lemma 4's E[dl/dv] = df/dv.

See gradient.md.  Run: python derivations/gradient.py
"""

from __future__ import annotations

import random

import sympy as sp
from _common import (
    Checks,
    combine,
    invariants_of,
    mp_value,
    one_filter_points,
    point_values,
    term_scale,
)
from loss import derived_loss, pair_table

import popgrad as pg
from popgrad.geometry import plane
from popgrad.kernels.binary import BinaryKernels
from popgrad.symbolic import GRAD_V, GRAD_W, THETA, VVS, R

COS, SIN = sp.Symbol("c", real=True), sp.Symbol("s", positive=True)  # cos, sin of theta in (0, pi)
R_STAR = sp.Symbol("r_star", positive=True)


def grad_v_vector(v: list, vs: list) -> list:
    """popgrad.symbolic's df/dv assembled from its basis coefficients: c_v v + c_1 1 + c_* v*."""
    inv = invariants_of(v, vs)
    c = {k: e.subs(inv) for k, e in GRAD_V.items()}
    return [c["v"] * a + c["ones"] + c["v_star"] * b for a, b in zip(v, vs, strict=True)]


def dtheta_dw_invariants(ck: Checks) -> None:
    r"""grad_w theta = -u/|w| in any dimension: the chain rule on theta = acos(D/sqrt(W S)), exactly.

    W = |w|^2, S = |w*|^2, D = w.w*; grad_w W = 2 w, grad_w D = w*, grad_w S = 0.  Vectors are coefficients on
    (w, w*); at W = r^2, S = r*^2, D = r r* c the result is compared with -u/r, u = (w* - (D/W) w)/(r* s).
    """
    W, S, D = sp.symbols("W S D", positive=True)
    theta = sp.acos(D / sp.sqrt(W * S))
    grad = sp.Matrix([2 * sp.diff(theta, W), sp.diff(theta, D)])  # coefficients on (w, w*)
    at = {W: R**2, S: R_STAR**2, D: R * R_STAR * COS}
    grad = grad.subs(at).applyfunc(lambda e: sp.simplify(sp.expand(e).subs(COS**2, 1 - SIN**2)))
    grad = grad.applyfunc(lambda e: sp.simplify(e.subs(sp.sqrt(1 - COS**2), SIN).subs(1 - COS**2, SIN**2)))
    u = sp.Matrix([-R_STAR * COS / R, 1]) / (R_STAR * SIN)  # (w* - (D/W) w)/|P_w w*|, |P_w w*| = r* s
    ok = all(sp.simplify(e) == 0 for e in grad + u / R)
    ck.true("d theta/d w = -u/|w| (chain rule on acos(w.w*/(|w||w*|)), any n)", ok, "simplify")


def dtheta_dw_plane(ck: Checks) -> None:
    """Exact, in the plane: w = r(cos a, sin a), w* = (1, 0), theta = a in (0, pi): grad theta = -u/r."""
    w1, w2 = sp.symbols("w1 w2", real=True)
    a = sp.Symbol("alpha", positive=True)
    theta = sp.atan2(w2, w1)  # the angle to w* = e_1, for w2 > 0
    grad = [sp.diff(theta, w1), sp.diff(theta, w2)]
    at = {w1: R * sp.cos(a), w2: R * sp.sin(a)}
    w_hat = sp.Matrix([sp.cos(a), sp.sin(a)])
    d = sp.Matrix([1, 0]) - sp.cos(a) * w_hat  # w*_hat - cos(theta) w_hat
    ck.equal("|w*_hat - cos(theta) w_hat|^2 = sin(theta)^2", d.dot(d), sp.sin(a) ** 2)
    u = d / sp.sin(a)  # sin(a) > 0 on (0, pi)
    for k in range(2):
        ck.equal(f"d theta/d w = -u/|w| in the plane, component {k + 1}", grad[k].subs(at), -u[k] / R)


def dtheta_dw_3d(ck: Checks) -> None:
    """A third route, in R^3 with all six components symbolic: sympy's gradient of acos, at points."""
    w = sp.Matrix(sp.symbols("w1:4", real=True))
    ws = sp.Matrix(sp.symbols("ws1:4", real=True))
    r = sp.sqrt(w.dot(w))
    theta = sp.acos(w.dot(ws) / (r * sp.sqrt(ws.dot(ws))))
    grad = [sp.diff(theta, x) for x in w]
    proj = ws - w.dot(ws) / w.dot(w) * w  # P_w w*
    u = proj / sp.sqrt(proj.dot(proj))  # the paper's P_w w*/|P_w w*|

    def sampler(rng: random.Random) -> dict:
        return {x: rng.gauss(0, 1) for x in (*w, *ws)}

    for k in range(3):
        ck.at_points(f"d theta/d w_{k + 1} = -u_{k + 1}/|w| (R^3)", grad[k], -u[k] / r, sampler, seed=k)


def float64_gradients(ck: Checks, df_dtheta: sp.Expr) -> None:
    """pg.Model.grad and BinaryKernels.variogram's gradient against the derived expressions."""
    derived = {m: derived_loss(m) for m in range(1, 6)}
    gv_ours, gv_refs, gv_scales = [], [], []
    gw_ours, gw_refs, gw_scales = [], [], []
    du_ours, du_refs = [], []
    tab = pair_table()
    var = tab["ss"] - tab["ss"] ** 2  # sigma^2 = sigma
    gamma_theta = sp.diff(2 * var - 2 * (tab["st"] - tab["ss"] ** 2), THETA)
    ck.equal("d Gamma/d theta = 1/pi (Gamma = Var sigma_a + Var sigma_b - 2 Cov)", gamma_theta, 1 / sp.pi)
    for v, v_star, w, w_star in one_filter_points(seed=2, count=18):
        values, geo = point_values(v, v_star, w, w_star)
        f, sym_v, sym_vs = derived[v.size]
        comp = dict(zip(sym_v, map(float, v), strict=True)) | dict(zip(sym_vs, map(float, v_star), strict=True))
        gv, gw = pg.Model(v_star, w_star).grad(v, w)
        for k, x in enumerate(sym_v):
            d = sp.diff(f, x)
            gv_ours.append(gv[k])
            gv_refs.append(mp_value(d, values | comp))
            gv_scales.append(term_scale(d, values | comp))
        # df/dw = (df/dtheta)(-u/|w|) for theta in (0, pi); 0 (the minimum-norm Clarke element) at 0 and pi
        coef = -mp_value(df_dtheta, values) / geo.r if geo.sin != 0 else 0
        gw_ours.extend(gw)
        gw_refs.extend(combine([coef], [geo.u]))
        gw_scales.extend([abs(mp_value(df_dtheta, values)) / geo.r] * len(gw))
        vg = BinaryKernels().variogram(plane(w, w_star))
        du_ours.append(float(vg.d_u))
        du_refs.append(-mp_value(gamma_theta, values) / geo.r)
    ck.float64(f"pg.Model.grad: df/dv == derived, {len(gv_ours)} components", gv_ours, gv_refs, gv_scales)
    ck.float64(f"pg.Model.grad: df/dw == derived, {len(gw_ours)} components", gw_ours, gw_refs, gw_scales)
    ck.float64(f"BinaryKernels.variogram: d Gamma/d w on u == -(d Gamma/d theta)/|w|, {len(du_ours)} points",
               du_ours, du_refs, [abs(x) for x in du_refs])  # fmt: skip


def main() -> None:
    ck = Checks("gradient")
    tab = pair_table()
    for m in range(1, 5):
        f, v, vs = derived_loss(m)
        gv = grad_v_vector(v, vs)
        for k in range(m):
            ck.equal(
                f"Lemma 2, m = {m}: d f/d v_{k + 1} of the derived f == GRAD_V", sp.diff(f, v[k]), gv[k], sp.expand
            )
        # Lemma 4, first part: E[sigma(Zw)(v.sigma(Zw) - v*.sigma(Zw*))]_k over pairs of rows
        for k in range(m):
            e = sum(
                v[j] * (tab["ss"] if j == k else tab["ss_other"]) - vs[j] * (tab["st"] if j == k else tab["st_other"])
                for j in range(m)
            )
            ck.equal(f"Lemma 4, m = {m}: E[dl/dv_{k + 1}] == d f/d v_{k + 1}", e, gv[k], sp.expand)
    # f depends on w only through theta; d f/d w = (d f/d theta)(d theta/d w), d theta/d w = -u/|w|
    for m in range(1, 6):
        f, v, vs = derived_loss(m)
        ck.zero(f"m = {m}: d f/d theta = v.v*/(2 pi)",
                sp.expand(sp.diff(f, THETA) - (VVS / (2 * sp.pi)).subs(invariants_of(v, vs))), sp.expand)  # fmt: skip
    dtheta_dw_invariants(ck)
    dtheta_dw_plane(ck)
    dtheta_dw_3d(ck)
    ck.equal("Lemma 2: d f/d w = -(v.v*)/(2 pi |w|) u == GRAD_W", (VVS / (2 * sp.pi)) * (-1 / R), GRAD_W["u"])
    ck.true("GRAD_W has no w_hat component", GRAD_W["w_hat"] == 0)
    float64_gradients(ck, VVS / (2 * sp.pi))
    ck.finish()


if __name__ == "__main__":
    main()
