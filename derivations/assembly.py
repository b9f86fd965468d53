"""The K-filter committee: loss, dF/dV, dF/dw_k and E g_k assembled from pairwise kernels, by machine.

See assembly.md.  Run: python derivations/assembly.py

1. The pairwise pieces (popgrad.symbolic.kernels, derived by sympy): P_ab = (pi - theta)/(2 pi), E sigma = 1/2,
   the per-piece STE kernels = the formulas of piecewise_ste.md (every kind of piece), at the ends the limits.
2. The assembly of the raw definition (popgrad.symbolic.committee) equals, for K, K* in 1..3, the variogram form
   and the formulas that popgrad/assembly.py evaluates in float64 (simplify).
3. K = K* = 1: it is the paper's Lemmas 1, 2 and 4 (and 7, 9) in popgrad.symbolic's invariants.
4. popgrad's float64 MultiFilterModel (loss, grad, coarse_grad) against the assembly at 50 digits, to 1e-12.
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


def documented_piece(lo: str, hi: str) -> dict[str, sp.Expr]:
    """piecewise_ste.md, section 2: alpha, beta, c_w, c* of a piece (l, h) in units of r (interior)."""
    lo_, hi_ = kern.bound(lo, "l"), kern.bound(hi, "h")
    c, s = kern.COS, kern.SIN
    phi = lambda t: sp.Integer(0) if t.is_infinite else sp.exp(-(t**2) / 2) / sp.sqrt(2 * sp.pi)  # noqa: E731
    cdf = lambda t: (1 + sp.erf(t / sp.sqrt(2))) / 2  # noqa: E731
    plus = lambda t: (sp.oo if t is sp.oo else sp.Integer(0)) if t.is_infinite else sp.Max(t, 0)  # noqa: E731
    phi_cdf = lambda t: 0 if t.is_infinite else phi(t) * cdf(t * c / s)  # noqa: E731
    cdf_s = lambda t: (sp.Integer(1) if t is sp.oo else sp.Integer(0)) if t.is_infinite else cdf(t / s)  # noqa: E731
    return {
        "alpha": phi(lo_) - phi(hi_),
        "beta": phi(plus(lo_)) - phi(plus(hi_)),
        "c_w": phi_cdf(lo_) - phi_cdf(hi_),
        "c_star": PHI0 * (cdf_s(hi_) - cdf_s(lo_)),
    }  # fmt: skip


PIECE_KINDS = [(lo, hi) for i, lo in enumerate(kern.BOUND_KINDS[:4]) for hi in kern.BOUND_KINDS[max(i, 1) :]
               if (lo, hi) != ("zero", "zero")]  # fmt: skip


def check_pieces(ck: Checks) -> None:
    ck.equal(
        "E 1{z.a > 0} 1{z.b > 0} = (pi - theta)/(2 pi), derived", kern.pair_probability(), (sp.pi - THETA) / (2 * sp.pi)
    )
    ck.true("... = 1/2 at theta = 0 and 0 at theta = pi (the ends' regions, derived)",
            kern.pair_probability("parallel") == HALF and kern.pair_probability("antiparallel") == 0)  # fmt: skip
    ck.true("E sigma = E sigma^2 = 1/2", kern.mean_sigma() == HALF)
    for lo, hi in PIECE_KINDS:
        derived = kern.piece_kernels_expr(lo, hi, "interior")
        doc = documented_piece(lo, hi)
        ok = all(_circle(derived[k] - doc[k]) == 0 for k in doc)
        ck.true(f"piece ({lo}, {hi}): alpha, beta, c_w, c* derived == piecewise_ste.md", ok, "simplify")
    # ends: E[z mu' 1{z.b > 0}] with b_hat = +-a_hat is the limit of c_w a_hat + c* b_hat (b_hat -> +-a_hat)
    t = sp.Symbol("t", positive=True)
    for lo, hi in PIECE_KINDS:
        for region, sign in (("parallel", 1), ("antiparallel", -1)):
            end = kern.piece_kernels_expr(lo, hi, region)
            inner = kern.piece_kernels_expr(lo, hi, "interior")
            # theta = t -> 0+ (c = cos t, s = sin t) or theta = pi - t
            at = {kern.COS: sign * sp.cos(t), kern.SIN: sp.sin(t)}
            limit = (inner["c_w"] + sign * inner["c_star"]).replace(
                kern.Ncdf, lambda x: (1 + sp.erf(x / sp.sqrt(2))) / 2
            )
            value = _limit_at_zero(limit.subs(at), t)
            ok = sp.simplify(value - end["c_w"].replace(kern.Ncdf, lambda x: (1 + sp.erf(x / sp.sqrt(2))) / 2)) == 0
            ck.true(
                f"piece ({lo}, {hi}) at theta = {'0' if sign > 0 else 'pi'}: end kernel == interior limit", ok, "limit"
            )


def _limit_at_zero(expr: sp.Expr, t: sp.Symbol) -> sp.Expr:
    """lim_{t -> 0+} term by term: erf(a(t)) with a ~ k/t -> sign(k) (k of known sign), else erf(lim a)."""
    expr = sp.expand(expr)

    def limit_erf(arg: sp.Expr) -> sp.Expr:
        scale = sp.limit(arg * sp.sin(t), t, 0, "+")  # arg ~ scale / t
        if scale == 0:
            return sp.erf(sp.limit(arg, t, 0, "+"))
        return sp.sign(scale)

    return sp.simplify(expr.replace(sp.erf, limit_erf).subs(t, 0))


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
    rng = np.random.default_rng(13)
    stes = [pg.ste.relu, pg.ste.identity, pg.ste.clipped_relu(2.0), pg.ste.leaky_relu(0.3), pg.ste.hard_tanh(),
            pg.ste.piecewise_constant([-0.5, 0.3, 1.2], [0.2, -1.0, 1.5, 0.4])]  # fmt: skip
    worst = 0.0
    for K, K_star in ((1, 1), (2, 1), (1, 2), (2, 3), (3, 3)):
        for _ in range(2):
            m, n = int(rng.integers(1, 4)), 3
            model = pg.MultiFilterModel(rng.normal(size=(K_star, m)), rng.normal(size=(K_star, n)))
            v, w = rng.normal(size=(K, m)), rng.normal(size=(K, n)) * 10 ** rng.uniform(-1, 1, size=(K, 1))
            exact = evaluate(model, v, w, dps=50, ste=stes)
            gv, gw = model.grad(v, w)
            pairs = [(model.loss(v, w), exact.loss), (gv, exact.grad_v), (gw, exact.grad_w)]
            pairs += [(model.coarse_grad(v, w, s)[1], exact.coarse_grad_w[s.name]) for s in stes]
            with mpmath.workdps(30):
                for ours, ref in pairs:
                    ref = [mpmath.mpf(x) for x in np.ravel(np.asarray(ref, dtype=object))]
                    diff = mpmath.norm([mpmath.mpf(float(a)) - b for a, b in zip(np.ravel(ours), ref, strict=True)])
                    worst = max(worst, float(diff / mpmath.norm(ref)))
    label = f"MultiFilterModel float64 loss, grad, coarse_grad (6 STEs) vs 50 digits, 10 points (worst {worst:.1e})"
    ck.true(label, worst < 1e-12, "points")


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
