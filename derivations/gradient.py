"""Lemma 2 (the true gradient, as sympy derivatives of f) and Lemma 4's E[dl/dv] = df/dv.

See gradient.md.  Run: python derivations/gradient.py
"""

from __future__ import annotations

import random

import sympy as sp
from _common import Checks, explicit_v, invariants_of
from loss import pair_tables

from popgrad.symbolic import GRAD_V, GRAD_W, LOSS, THETA, VVS, R


def grad_v_vector(v: list, vs: list) -> list:
    """popgrad's df/dv assembled from its basis coefficients: c_v v + c_1 1 + c_* v*."""
    inv = invariants_of(v, vs)
    c = {k: e.subs(inv) for k, e in GRAD_V.items()}
    return [c["v"] * a + c["ones"] + c["v_star"] * b for a, b in zip(v, vs, strict=True)]


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
    """General position in R^3: theta = acos(w.w*/(|w||w*|)) differentiated by sympy, vs -u/r."""
    w = sp.Matrix(sp.symbols("w1:4", real=True))
    ws = sp.Matrix(sp.symbols("ws1:4", real=True))
    r = sp.sqrt(w.dot(w))
    theta = sp.acos(w.dot(ws) / (r * sp.sqrt(ws.dot(ws))))
    grad = [sp.diff(theta, x) for x in w]
    proj = ws - w.dot(ws) / w.dot(w) * w  # P_w w*
    u = proj / sp.sqrt(proj.dot(proj))  # the paper's P_w w*/|P_w w*|, = u of popgrad.symbolic
    w_hat, ws_hat = w / r, ws / sp.sqrt(ws.dot(ws))
    c = w_hat.dot(ws_hat)
    u_def = (ws_hat - c * w_hat) / sp.sqrt((ws_hat - c * w_hat).dot(ws_hat - c * w_hat))

    def sampler(rng: random.Random) -> dict:
        return {x: rng.gauss(0, 1) for x in (*w, *ws)}

    for k in range(3):
        ck.at_points(f"d theta/d w_{k + 1} = -u_{k + 1}/|w| (R^3)", grad[k], -u[k] / r, sampler, seed=k)
        ck.at_points(f"P_w w*/|P_w w*| = u, component {k + 1}", u[k], u_def[k], sampler, seed=10 + k)


def main() -> None:
    ck = Checks("gradient")
    half, both = pair_tables()
    for m in range(1, 5):
        v, vs = explicit_v(m)
        f = LOSS.subs(invariants_of(v, vs))
        gv = grad_v_vector(v, vs)
        for k in range(m):
            ck.equal(f"Lemma 2, m = {m}: d f/d v_{k + 1} == GRAD_V", sp.diff(f, v[k]), gv[k], sp.expand)
        # Lemma 4, first part: E[sigma(Zw)(v.sigma(Zw) - v*.sigma(Zw*))]_k over pairs of rows
        for k in range(m):
            e = sum(v[j] * (half if j == k else half**2) - vs[j] * (both if j == k else half**2) for j in range(m))
            ck.equal(f"Lemma 4, m = {m}: E[dl/dv_{k + 1}] == d f/d v_{k + 1}", e, gv[k], sp.expand)
    # d f/d w = (d f/d theta)(d theta/d w), d theta/d w = -u/|w|
    ck.equal("d f/d theta = v.v*/(2 pi)", sp.diff(LOSS, THETA), VVS / (2 * sp.pi))
    dtheta_dw_plane(ck)
    dtheta_dw_3d(ck)
    ck.equal("Lemma 2: d f/d w = -(v.v*)/(2 pi |w|) u == GRAD_W", sp.diff(LOSS, THETA) * (-1 / R), GRAD_W["u"])
    ck.true("GRAD_W has no w_hat component", GRAD_W["w_hat"] == 0)
    ck.finish()


if __name__ == "__main__":
    main()
