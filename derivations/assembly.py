"""The K-filter committee: loss, dF/dV, dF/dw_k and E g_k assembled from pairwise kernels, by machine.

See assembly.md.  Run: python derivations/assembly.py

1. The pairwise pieces (popgrad.symbolic.kernels, derived by sympy): P_ab = (pi - theta)/(2 pi), E sigma = 1/2
   (the per-piece STE kernels are checked in piecewise_ste.py).
2. The assembly of the raw definition (popgrad.symbolic.committee) equals, for K, K* in 1..3, the variogram form
   and the formulas that popgrad/assembly.py evaluates in float64 (simplify).
3. K = K* = 1: it is the paper's Lemmas 1, 2 and 4 (and 7, 9) in popgrad.symbolic's invariants.
4. popgrad's float64 MultiFilterModel (loss, grad, coarse_grad) against the assembly at 50 digits, to 16 ulps of
   the natural scale.
"""

from __future__ import annotations

import itertools
import random

import mpmath
import numpy as np
import sympy as sp
from _common import Checks, explicit_v, invariants_of

import popgrad as pg
from popgrad.symbolic import CLIP, COARSE_W, GRAD_V, GRAD_W, LOSS, PHI0, THETA, R, evaluate
from popgrad.symbolic import kernels as kern
from popgrad.symbolic.committee import committee, pair_index

HALF = sp.Rational(1, 2)


def _erf_form(expr: sp.Expr) -> sp.Expr:
    """Phi (popgrad.symbolic.kernels.Ncdf) written with erf."""
    return expr.replace(kern.Ncdf, lambda x: (1 + sp.erf(x / sp.sqrt(2))) / 2)


def _circle(expr: sp.Expr) -> sp.Expr:
    """simplify with cos^2 = 1 - sin^2 and Phi written with erf."""
    expr = _erf_form(expr)
    return sp.simplify(sp.powsimp(sp.expand(expr)).subs(kern.COS**2, 1 - kern.SIN**2))


# -- 1. the pairwise pieces ---------------------------------------------------------------------------


def check_pieces(ck: Checks) -> None:
    """The pair probability and the mean of sigma, as popgrad.symbolic.kernels derives them; the STE kernels are
    checked in piecewise_ste.py."""
    ck.equal(
        "E 1{z.a > 0} 1{z.b > 0} = (pi - theta)/(2 pi), derived", kern.pair_probability(), (sp.pi - THETA) / (2 * sp.pi)
    )
    ck.true("... = 1/2 at theta = 0 and 0 at theta = pi (the ends' regions, derived)",
            kern.pair_probability("parallel") == HALF and kern.pair_probability("antiparallel") == 0)  # fmt: skip
    ck.true("E sigma = E sigma^2 = 1/2", kern.mean_sigma() == HALF)


# -- 2. the raw assembly equals the variogram form of popgrad/assembly.py ------------------------------


def variogram_form(K: int, K_star: int, m: int) -> dict:
    """popgrad/assembly.py's formulas (its docstring) in the symbols of the committee's assembly."""
    c = committee(K, K_star, m)
    F = K + K_star
    C = c.V.col_join(-c.V_star)
    mean, var = HALF, HALF - HALF**2  # mu_a and v_a of the binary sigma
    theta = lambda a, b: 0 if a == b else c.theta[pair_index(a, b)]  # noqa: E731
    gamma = sp.Matrix(F, F, lambda a, b: 2 * var - 2 * (kern.pair_probability().subs(THETA, theta(a, b)) - mean**2)
                      if a != b else 0)  # fmt: skip
    u = [sum(mean * C[a, i] for a in range(F)) for i in range(m)]
    T = [sum(C[a, i] for a in range(F)) for i in range(m)]
    omega = [sum(var * C[a, i] for a in range(F)) for i in range(m)]
    H = C * C.T
    su = sum(u)
    loss = HALF * (su**2 + sum(t * o for t, o in zip(T, omega, strict=True))
                   - HALF * sum(gamma[a, b] * H[a, b] for a in range(F) for b in range(F)))  # fmt: skip
    gc = gamma * C
    grad_c = sp.Matrix(F, m, lambda a, i: su * mean + HALF * (var * T[i] + omega[i]) - HALF * gc[a, i])
    S = [sum(c.V[k, i] for i in range(m)) for k in range(K)]
    coarse = {}
    for k in range(K):
        own = H[k, k] * (c.beta[k] - mean * c.alpha[k]) + c.alpha[k] * S[k] * su
        own += sum(H[k, b] * (c.c_w[k, b] - mean * c.alpha[k]) for b in c.others(k))
        coarse[k, k] = own
        coarse.update({(k, b): H[k, b] * c.c_star[k, b] for b in c.others(k)})
    d_theta = {(k, b): sp.diff(loss, c.theta[pair_index(k, b)]) for k in range(K) for b in c.others(k)}
    return {"loss": loss, "grad_v": grad_c[:K, :], "coarse": coarse, "d_theta": d_theta, "H": H, "committee": c}


def _all_zero(exprs: object) -> bool:
    return all(sp.expand(e) == 0 for e in exprs)


def check_variogram_form(ck: Checks) -> None:
    for K, K_star in itertools.product((1, 2, 3), repeat=2):
        m = 2 if K + K_star > 4 else 3
        form = variogram_form(K, K_star, m)
        c = form["committee"]
        label = f"K = {K}, K* = {K_star}, m = {m}"
        ck.zero(f"{label}: f of the definition == assembly.py's variogram form", c.loss - form["loss"], sp.expand)
        ck.true(f"{label}: df/dV == assembly.py's df/dC", _all_zero(c.grad_v - form["grad_v"]), "simplify")
        ok = _all_zero(c.d_theta[p] + form["H"][p] / (2 * sp.pi) for p in c.d_theta)
        ck.true(f"{label}: df/dtheta_kb = -H_kb/(2 pi) (so df/dw_k = sum_b H_kb u_kb/(2 pi |w_k|))", ok, "simplify")
        ok = _all_zero(c.d_theta[p] - form["d_theta"][p] for p in c.d_theta)
        ck.true(f"{label}: ... == d/dtheta_kb of the variogram form", ok, "simplify")
        ok = _all_zero(c.coarse[p] - form["coarse"][p] for p in c.coarse)
        ck.true(f"{label}: E g_k of the definition == assembly.py's E g_k", ok, "simplify")


# -- 3. one filter: the paper's lemmas ---------------------------------------------------------------------

#: mu' of the paper's STEs as pieces (kinds of their bounds), the clipped ReLU's upper bound c/|w|.
PAPER_STES = {"relu": ("zero", "+inf"), "identity": ("-inf", "+inf"), "clipped_relu": ("zero", "pos")}


def paper_coarse(c: object, name: str) -> dict[str, sp.Expr]:
    """The one-filter committee's E g on (w_hat, u) with the paper STE's kernels (theta in (0, pi))."""
    lo, hi = PAPER_STES[name]
    k = kern.piece_kernels_expr(lo, hi, "interior")
    at = {kern.COS: sp.cos(THETA), kern.SIN: sp.sin(THETA), kern.bound("pos", "h"): CLIP / R}
    values = {c.alpha[0]: k["alpha"], c.beta[0]: k["beta"], c.c_w[0, 1]: k["c_w"], c.c_star[0, 1]: k["c_star"]}
    own, on = (c.coarse[0, a].subs(values).subs(at) for a in (0, 1))
    # w*_hat = cos(theta) w_hat + sin(theta) u
    return {"w_hat": own + on * sp.cos(THETA), "u": on * sp.sin(THETA)}


def check_one_filter(ck: Checks) -> None:
    for m in (1, 2, 3, 4):
        c = committee(1, 1, m)
        v, vs = explicit_v(m)
        sub = {**dict(zip(c.V, v, strict=True)), **dict(zip(c.V_star, vs, strict=True)), c.theta[0, 1]: THETA}
        inv = invariants_of(v, vs)
        ck.zero(f"m = {m}: f == Lemma 1 (popgrad.symbolic.LOSS)", c.loss.subs(sub) - LOSS.subs(inv), sp.expand)
        coef = {key: e.subs(inv) for key, e in GRAD_V.items()}
        paper_gv = [coef["v"] * a + coef["ones"] + coef["v_star"] * b for a, b in zip(v, vs, strict=True)]
        ck.true(f"m = {m}: df/dv == Lemma 2 (GRAD_V)",
                _all_zero(g.subs(sub) - p for g, p in zip(c.grad_v, paper_gv, strict=True)), "simplify")  # fmt: skip
        grad_w_u = -c.d_theta[0, 1].subs(sub) / R  # df/dw = df/dtheta (-u/|w|)
        ck.zero(f"m = {m}: df/dw == Lemma 2 (GRAD_W)", grad_w_u - GRAD_W["u"].subs(inv), sp.expand)
        if m != 3:
            continue
        for name in ("relu", "identity"):
            ours = paper_coarse(c, name)
            for basis in ("w_hat", "u"):
                expr = _circle(ours[basis].subs(sub) - COARSE_W[name][basis].subs(inv))
                ck.true(f"m = 3: E g_{name} on {basis} == Lemma {4 if name == 'relu' else 9}", expr == 0, "simplify")


def check_clipped_relu(ck: Checks, m: int = 3) -> None:
    """Lemma 7 with p, q in closed form (popgrad.symbolic.p_clip, q_clip), at points: simplify stalls on erf."""
    c = committee(1, 1, m)
    v, vs = explicit_v(m)
    sub = {**dict(zip(c.V, v, strict=True)), **dict(zip(c.V_star, vs, strict=True)), c.theta[0, 1]: THETA}
    inv = invariants_of(v, vs)
    ours = paper_coarse(c, "clipped_relu")

    def sampler(rng: random.Random) -> dict:
        point = {x: rng.uniform(-2, 2) for x in (*v, *vs)}
        return point | {THETA: rng.uniform(0.01, 3.13), R: 10 ** rng.uniform(-1, 1), CLIP: 10 ** rng.uniform(-1, 1)}

    for basis in ("w_hat", "u"):
        lhs = _erf_form(ours[basis].subs(sub))
        ck.at_points(
            f"m = {m}: E g_crelu on {basis} == Lemma 7", lhs, COARSE_W["clipped_relu"][basis].subs(inv), sampler
        )


# -- 4. popgrad's float64 closed forms against the assembly at 50 digits ----------------------------------


def check_float64(ck: Checks) -> None:
    """MultiFilterModel's float64 loss, grad, coarse_grad against the assembly evaluated at 50 digits.

    Natural scales (a priori bounds of the terms): with A = sum |V| + sum |V*| and S_k = sum_i |V_ki|, the loss
    A^2/2, df/dV A, df/dw_k S_k A/(2 pi |w_k|), E g_k 2 phi(0) sum|nu| S_k A.
    """
    rng = np.random.default_rng(13)
    stes = [pg.ste.relu, pg.ste.identity, pg.ste.clipped_relu(2.0), pg.ste.leaky_relu(0.3), pg.ste.hard_tanh(),
            pg.ste.piecewise_constant([-0.5, 0.3, 1.2], [0.2, -1.0, 1.5, 0.4])]  # fmt: skip
    got: dict[str, list] = {"loss": [], "grad_v": [], "grad_w": [], "coarse": []}
    ref: dict[str, list] = {k: [] for k in got}
    scale: dict[str, list] = {k: [] for k in got}
    phi0 = float(PHI0)
    for K, K_star in ((1, 1), (2, 1), (1, 2), (2, 3), (3, 3)):
        for _ in range(2):
            m, n = int(rng.integers(1, 4)), 3
            model = pg.MultiFilterModel(rng.normal(size=(K_star, m)), rng.normal(size=(K_star, n)))
            v, w = rng.normal(size=(K, m)), rng.normal(size=(K, n)) * 10 ** rng.uniform(-1, 1, size=(K, 1))
            exact = evaluate(model, v, w, dps=50, ste=stes)
            gv, gw = model.grad(v, w)
            total = float(np.abs(v).sum() + np.abs(model.v_star).sum())
            own = np.abs(v).sum(axis=1)
            r = np.linalg.norm(w, axis=1)
            parts = {
                "loss": ([model.loss(v, w)], [exact.loss], [total**2 / 2]),
                "grad_v": (gv, exact.grad_v, np.full(gv.shape, total)),
                "grad_w": (gw, exact.grad_w, (own * total / (2 * np.pi * r))[:, None] * np.ones(gw.shape)),
            }
            for s in stes:
                nu = sum(abs(x) for _, _, x in s.pieces)
                parts[f"coarse {s.name}"] = (
                    model.coarse_grad(v, w, s)[1],
                    exact.coarse_grad_w[s.name],
                    (2 * phi0 * nu * own * total)[:, None] * np.ones(gw.shape),
                )
            for key, (ours, exact_value, sc) in parts.items():
                key = key.split()[0]
                got[key].extend(np.ravel(ours).tolist())
                ref[key].extend(mpmath.mpf(x) for x in np.ravel(np.asarray(exact_value, dtype=object)))
                scale[key].extend(np.ravel(sc).tolist())
    for key in got:
        what = f"{key} (6 STEs)" if key == "coarse" else key
        ck.float64(f"MultiFilterModel float64 {what} == the assembly at 50 digits, 10 committees", got[key], ref[key],
                   scale[key])  # fmt: skip


def main() -> None:
    ck = Checks("assembly")
    check_pieces(ck)
    check_variogram_form(ck)
    check_one_filter(ck)
    check_clipped_relu(ck)
    check_float64(ck)
    ck.finish()


if __name__ == "__main__":
    main()
