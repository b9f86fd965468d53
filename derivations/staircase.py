"""Staircase (multi-bit) activations: row moments, loss, true gradient and expected coarse gradient.

See staircase.md.  Run: python derivations/staircase.py
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import sympy as sp
from _common import Checks, X, Y, explicit_v, gauss_pdf, geometry, half_angle_simplify, one_filter_points

import popgrad as pg
from popgrad.symbolic import THETA

A_, B_ = sp.symbols("a b", real=True)  # thresholds of the bivariate orthant
RHO_ = sp.Symbol("rho", real=True)
S_ = sp.Symbol("s", positive=True)
TAU, TAU_S = sp.symbols("tau tau_star", real=True)
LO, HI = sp.symbols("l h", real=True)
#: the row moments as symbols: m_w, m_*, s_ww, s_**, s_w*
MW, MS, SWW, SSS, SWS = sp.symbols("m_w m_star s_ww s_ss s_ws", real=True)


def Phi(t: sp.Expr) -> sp.Expr:
    return (1 + sp.erf(t / sp.sqrt(2))) / 2


def ERF(e: sp.Expr) -> sp.Expr:
    """simplify after rewriting erfc as erf."""
    return sp.simplify(sp.expand(e.rewrite(sp.erf)))


# -- 1. the derivation, by sympy ---------------------------------------------------------------------------


def row_moments(ck: Checks) -> None:
    """m_w = sum J_k Phi(-tau_k) and E sigma^2 = sum (L_k^2 - L_{k-1}^2) Phi(-tau_k), three steps."""
    ck.equal("P(x > tau) = Phi(-tau) (integrated)", sp.integrate(gauss_pdf(X), (X, TAU, sp.oo)), Phi(-TAU), ERF)
    t = sp.symbols("t1:4", real=True)
    j = sp.symbols("J1:4", real=True)
    levels = [sum(j[: k + 1]) for k in range(3)]
    ends = [*t, sp.oo]
    # sigma = L_k on (t_k, t_{k+1}]: integrate sigma and sigma^2 interval by interval
    mean = sum(levels[k] * sp.integrate(gauss_pdf(X), (X, ends[k], ends[k + 1])) for k in range(3))
    square = sum(levels[k] ** 2 * sp.integrate(gauss_pdf(X), (X, ends[k], ends[k + 1])) for k in range(3))
    ck.equal("E sigma = sum_k J_k Phi(-tau_k) (3 steps)", mean, sum(j[k] * Phi(-t[k]) for k in range(3)), ERF)
    prev = [0, *levels[:-1]]
    ck.equal("E sigma^2 = sum_k (L_k^2 - L_{k-1}^2) Phi(-tau_k) (3 steps)", square,
             sum((levels[k] ** 2 - prev[k] ** 2) * Phi(-t[k]) for k in range(3)), ERF)  # fmt: skip


def orthant(ck: Checks) -> sp.Integral:
    r"""Phi2bar(a, b; rho) = P(x > a, rho x + s y > b) as the x-integral of P(y > (b - rho x)/s), derived."""
    inner = sp.integrate(gauss_pdf(Y), (Y, (B_ - RHO_ * X) / S_, sp.oo))
    ck.equal("P(rho x + s y > b | x) = Phi((rho x - b)/s)", inner, Phi((RHO_ * X - B_) / S_),
             lambda e: sp.simplify(e.rewrite(sp.erf)))  # fmt: skip
    bar2 = sp.Integral(gauss_pdf(X) * Phi((RHO_ * X - B_) / S_), (X, A_, sp.oo))
    ck.equal("d Phi2bar/da = -phi(a) Phi((rho a - b)/s) (Leibniz, by sympy)", sp.diff(bar2, A_).doit(),
             -gauss_pdf(A_) * Phi((RHO_ * A_ - B_) / S_))  # fmt: skip
    # the bivariate density and the two cancellation-free forms of its exponent (s^2 = 1 - rho^2)
    q = (A_**2 - 2 * RHO_ * A_ * B_ + B_**2) / S_**2
    on_circle = lambda e: sp.simplify(sp.together(e).subs(S_**2, 1 - RHO_**2))  # noqa: E731
    ck.equal("Q = (a - b)^2/s^2 + 2ab/(1 + rho)", q, (A_ - B_) ** 2 / S_**2 + 2 * A_ * B_ / (1 + RHO_), on_circle)
    ck.equal("Q = (a + b)^2/s^2 - 2ab/(1 - rho)", q, (A_ + B_) ** 2 / S_**2 - 2 * A_ * B_ / (1 - RHO_), on_circle)
    return bar2


def plackett(ck: Checks) -> None:
    """d Phi2bar/d rho = phi2(a, b; rho), by mpmath (differentiation of the quadrature; a second route)."""
    rng = np.random.default_rng(3)
    worst = mpmath.mpf(0)
    with mpmath.workdps(30):
        for _ in range(6):
            a, b = (mpmath.mpf(x) for x in rng.uniform(-2, 2, 2))
            rho = mpmath.mpf(rng.uniform(-0.95, 0.95))
            deriv = mpmath.diff(lambda p, a=a, b=b: orthant_numeric(a, b, p, mpmath.sqrt(1 - p**2)), rho)
            s = mpmath.sqrt(1 - rho**2)
            phi2 = mpmath.exp(-(a**2 - 2 * rho * a * b + b**2) / (2 * s**2)) / (2 * mpmath.pi * s)
            worst = max(worst, abs(deriv - phi2) / phi2)
    ck.true(f"Plackett: d Phi2bar/d rho = phi2 (max rel. diff {mpmath.nstr(worst, 3)})", worst < 1e-20,
            "points: 6 @ 30 digits, to 20 digits")  # fmt: skip


def loss_and_gradient(ck: Checks) -> None:
    """f from the row moments and the independence of rows (explicit m), and its partial derivatives."""
    from popgrad.symbolic import SS, SV, VSS, VV, VVS

    stated = sp.Rational(1, 2) * (VV * (SWW - MW**2) + SV**2 * MW**2 - 2 * VVS * (SWS - MW * MS)
                                  - 2 * SV * SS * MW * MS + VSS * (SSS - MS**2) + SS**2 * MS**2)  # fmt: skip
    for m in range(1, 5):
        v, vs = explicit_v(m)
        inv = {VV: sum(x * x for x in v), SV: sum(v), SS: sum(vs), VVS: sum(a * b for a, b in zip(v, vs, strict=True)),
               VSS: sum(x * x for x in vs)}  # fmt: skip
        rows = range(m)
        ww = lambda i, k: SWW if i == k else MW**2  # noqa: E731  E sigma_i sigma_k
        ss = lambda i, k: SSS if i == k else MS**2  # noqa: E731
        ws = lambda i, k: SWS if i == k else MW * MS  # noqa: E731
        f = sp.Rational(1, 2) * sum(v[i] * v[k] * ww(i, k) - 2 * v[i] * vs[k] * ws(i, k) + vs[i] * vs[k] * ss(i, k)
                                    for i in rows for k in rows)  # fmt: skip
        ck.equal(f"m = {m}: f from the row moments == staircase.md", f, stated.subs(inv), sp.expand)
        for i in rows:
            gv = (SWW - MW**2) * v[i] + MW**2 * sum(v) - (SWS - MW * MS) * vs[i] - MW * MS * sum(vs)
            ck.equal(f"m = {m}: df/dv_{i + 1} == staircase.md", sp.diff(f, v[i]), gv, sp.expand)
    # f depends on w only through m_w, s_ww, s_w*: the chain rule's three partial derivatives
    ck.equal("df/dm_w = m_w((1'v)^2 - |v|^2) + m_*(v'v* - (1'v)(1'v*))", sp.diff(stated, MW),
             MW * (SV**2 - VV) + MS * (VVS - SV * SS), sp.expand)  # fmt: skip
    ck.equal("df/ds_ww = |v|^2/2", sp.diff(stated, SWW), VV / 2)
    ck.equal("df/ds_w* = -v'v*", sp.diff(stated, SWS), -VVS)


def coarse_structure(ck: Checks) -> None:
    """E g_mu from the row kernels A, B, C and independence across rows (explicit m)."""
    from popgrad.symbolic import SS, SV, VV, VVS

    a, b, c = sp.symbols("A B C", real=True)  # the kernels are vectors; E g is linear in them
    stated = VV * (b - MW * a) + (SV**2 * MW - SV * SS * MS) * a - VVS * (c - MS * a)
    for m in range(1, 5):
        v, vs = explicit_v(m)
        inv = {VV: sum(x * x for x in v), SV: sum(v), SS: sum(vs), VVS: sum(p * q for p, q in zip(v, vs, strict=True))}
        rows = range(m)
        g = sum(v[i] * (v[i] * b + sum(v[k] for k in rows if k != i) * a * MW
                        - vs[i] * c - sum(vs[k] for k in rows if k != i) * a * MS) for i in rows)  # fmt: skip
        ck.equal(f"m = {m}: E g_mu from the row kernels == staircase.md", g, stated.subs(inv), sp.expand)


def kernels(ck: Checks) -> None:
    """a, b, c_w, c_* of one STE piece (l, h) and one threshold: the integrals, the square, the parts."""
    ck.equal(
        "int_l^h x phi = phi(l) - phi(h)", sp.integrate(X * gauss_pdf(X), (X, LO, HI)), gauss_pdf(LO) - gauss_pdf(HI)
    )
    c, s = sp.cos(THETA), sp.sin(THETA)
    alpha, beta = c / s, -TAU_S / s
    ck.equal("x^2 + (alpha x + beta)^2 = (x - tau* c)^2/s^2 + tau*^2", X**2 + (alpha * X + beta) ** 2,
             (X - TAU_S * c) ** 2 / s**2 + TAU_S**2, half_angle_simplify)  # fmt: skip
    # the u-part: the antiderivative of phi(x) phi(alpha x + beta) is s phi(tau*) Phi((x - tau* c)/s)
    anti_u = s * gauss_pdf(TAU_S) * Phi((X - TAU_S * c) / s)
    ck.equal(
        "d/dx [s phi(tau*) Phi((x - tau* c)/s)] = phi(x) phi(alpha x + beta)",
        sp.diff(anti_u, X),
        gauss_pdf(X) * gauss_pdf(alpha * X + beta),
        lambda e: half_angle_simplify(sp.expand(sp.powsimp(e))),
    )
    # the w_hat part by parts: d/dx[-phi(x) Phi(alpha x + beta)] = x phi Phi - alpha phi phi(alpha x + beta)
    ck.equal("parts: d/dx[-phi(x) Phi(alpha x + beta)] = x phi(x) Phi(.) - alpha phi(x) phi(alpha x + beta)",
             sp.diff(-gauss_pdf(X) * Phi(alpha * X + beta), X),
             X * gauss_pdf(X) * Phi(alpha * X + beta) - alpha * gauss_pdf(X) * gauss_pdf(alpha * X + beta))  # fmt: skip
    # C = P w_hat + (s c_*) u with u = (w*_hat - c w_hat)/s: the w_hat coefficient
    c_star = sp.Symbol("c_star", real=True)
    ends = gauss_pdf(LO) * Phi(alpha * LO + beta) - gauss_pdf(HI) * Phi(alpha * HI + beta)
    p = ends + alpha * s * c_star
    ck.equal("c_w = P - cos(theta) c_* = phi(l)Phi(.) - phi(h)Phi(.) (the alpha s c_* term cancels)",
             p - c * c_star, ends)  # fmt: skip


# -- 2. popgrad's float64 staircase model against the derivation, at 30 digits -----------------------------

STAIRS = (
    pg.activation.uniform(2, 0.5),
    pg.activation.staircase([-0.4, 0.3, 1.2], [0.5, 1.0, -0.75]),
)
STES = (pg.ste.relu, pg.ste.identity, pg.ste.clipped_relu(1.5))
CLIP_X = 40  # |x| <= 40 in the float64 kernels, where phi = 0


def orthant_numeric(a: mpmath.mpf, b: mpmath.mpf, rho: mpmath.mpf, s: mpmath.mpf) -> mpmath.mpf:
    """Phi2bar(a, b; rho) by quadrature of its derived x-integral (s > 0), or its limit at s = 0."""
    if s == 0:
        return mpmath.ncdf(-max(a, b)) if rho > 0 else max(mpmath.mpf(0), mpmath.ncdf(-b) - mpmath.ncdf(a))
    # Phi((rho x - b)/s) steps at x = b/rho over a width ~ s/|rho|: split there, so every panel is smooth;
    # beyond x = 40, phi < 1e-347 (the thresholds are clipped to [-40, 40] as in popgrad)
    if a >= CLIP_X:
        return mpmath.mpf(0)
    breaks = [] if rho == 0 else [b / rho + k * s / abs(rho) for k in (-20, 0, 20)]
    pts = [a, *sorted(x for x in breaks if a < x < CLIP_X), mpmath.mpf(CLIP_X)]
    return mpmath.quad(lambda x: mpmath.npdf(x) * mpmath.ncdf((rho * x - b) / s), pts)


def _step(x: mpmath.mpf) -> mpmath.mpf:
    """1{x > 0}, and 1/2 at x = 0."""
    return mpmath.mpf(1) if x > 0 else mpmath.mpf(0) if x < 0 else mpmath.mpf(1) / 2


def _units(thresholds: tuple, r: mpmath.mpf) -> list:
    return [max(min(mpmath.mpf(t) / r, CLIP_X), -CLIP_X) for t in thresholds]


def reference(act: object, stes: tuple, v: np.ndarray, vs: np.ndarray, w: np.ndarray, ws: np.ndarray) -> tuple:
    """loss, grad_v, grad_w and E g for each STE from staircase.md's derived formulas, at the working precision.

    Returns ``(values, scales)``: each value's natural scale is the sum of the absolute values of the terms of
    its formula (sums over thresholds and pieces included), one number per result.
    """
    geo = geometry(w, ws)
    c, s, r, rs = geo.cos, geo.sin, geo.r, geo.r_star
    jumps = [mpmath.mpf(j) for j in act.jumps]
    levels = [sum(jumps[: k + 1]) for k in range(len(jumps))]
    sq_jumps = [levels[k] ** 2 - (levels[k - 1] ** 2 if k else 0) for k in range(len(jumps))]
    tw, ts = _units(act.thresholds, r), _units(act.thresholds, rs)

    def both(terms: list) -> tuple:  # (sum, sum of absolute values)
        return mpmath.fsum(terms), mpmath.fsum(abs(t) for t in terms)

    mw, mw_a = both([j * mpmath.ncdf(-t) for j, t in zip(jumps, tw, strict=True)])
    ms, ms_a = both([j * mpmath.ncdf(-t) for j, t in zip(jumps, ts, strict=True)])
    sww, sww_a = both([j * mpmath.ncdf(-t) for j, t in zip(sq_jumps, tw, strict=True)])
    sss, sss_a = both([j * mpmath.ncdf(-t) for j, t in zip(sq_jumps, ts, strict=True)])
    pairs = [(jk * jl, a, b) for jk, a in zip(jumps, tw, strict=True) for jl, b in zip(jumps, ts, strict=True)]
    sws, sws_a = both([jj * orthant_numeric(a, b, c, s) for jj, a, b in pairs])
    vm, vsm = [mpmath.mpf(x) for x in v], [mpmath.mpf(x) for x in vs]
    vv, sv, ss = mpmath.fsum(x * x for x in vm), mpmath.fsum(vm), mpmath.fsum(vsm)
    vvs, vss = mpmath.fsum(x * y for x, y in zip(vm, vsm, strict=True)), mpmath.fsum(x * x for x in vsm)
    val, scale = {}, {}
    val["loss"] = (vv * (sww - mw**2) + sv**2 * mw**2 - 2 * vvs * (sws - mw * ms) - 2 * sv * ss * mw * ms
                   + vss * (sss - ms**2) + ss**2 * ms**2) / 2  # fmt: skip
    scale["loss"] = (vv * (sww_a + mw_a**2) + sv**2 * mw_a**2 + 2 * abs(vvs) * (sws_a + mw_a * ms_a)
                     + 2 * abs(sv * ss) * mw_a * ms_a + vss * (sss_a + ms_a**2) + ss**2 * ms_a**2) / 2  # fmt: skip
    val["grad_v"] = [(sww - mw**2) * a + mw**2 * sv - (sws - mw * ms) * b - mw * ms * ss
                     for a, b in zip(vm, vsm, strict=True)]  # fmt: skip
    scale["grad_v"] = max((sww_a + mw_a**2) * abs(a) + mw_a**2 * abs(sv) + (sws_a + mw_a * ms_a) * abs(b)
                          + mw_a * ms_a * abs(ss) for a, b in zip(vm, vsm, strict=True))  # fmt: skip
    dm, dm_a = both([j * mpmath.npdf(t) * t / r for j, t in zip(jumps, tw, strict=True)])
    dsww, dsww_a = both([j * mpmath.npdf(t) * t / r for j, t in zip(sq_jumps, tw, strict=True)])
    # grad_w s_w* = on_w w_hat + on_u u; s = 0: the limit of Phi((c a - b)/s), 1/2 where c a - b = 0
    on_w, on_w_a = both([jj * mpmath.npdf(a) * a / r * (mpmath.ncdf((c * a - b) / s) if s else _step(c * a - b))
                         for jj, a, b in pairs])  # fmt: skip
    # (s/r) phi2 = exp(-Q/2)/(2 pi r), Q = (a^2 - 2 c a b + b^2)/s^2; the u-term is 0 at s = 0
    on_u, on_u_a = both([jj * mpmath.exp(-(a**2 - 2 * c * a * b + b**2) / s**2 / 2) / (2 * mpmath.pi * r)
                         for jj, a, b in pairs] if s else [mpmath.mpf(0)])  # fmt: skip
    coef_w = (mw * (sv**2 - vv) + ms * (vvs - sv * ss)) * dm + vv / 2 * dsww - vvs * on_w
    val["grad_w"] = [coef_w * x - vvs * on_u * y for x, y in zip(geo.w_hat, geo.u, strict=True)]
    scale["grad_w"] = ((mw_a * (sv**2 + vv) + ms_a * (abs(vvs) + abs(sv * ss))) * dm_a + vv / 2 * dsww_a
                       + abs(vvs) * (on_w_a + on_u_a))  # fmt: skip
    for ste in stes:
        ta, tb, tcw, tcs = [], [], [], []
        for lo, hi, nu in ste.pieces:
            nu = mpmath.mpf(nu)
            lx = max(mpmath.mpf(lo) / r, -CLIP_X) if math.isfinite(lo) else mpmath.mpf(-CLIP_X)
            hx = min(mpmath.mpf(hi) / r, CLIP_X) if math.isfinite(hi) else mpmath.mpf(CLIP_X)
            if hx <= lx:
                continue
            ta.append(nu * (mpmath.npdf(lx) - mpmath.npdf(hx)))
            tb.extend(
                nu * j * (mpmath.npdf(max(lx, t)) - mpmath.npdf(max(hx, t))) for j, t in zip(jumps, tw, strict=True)
            )
            for j, t in zip(jumps, ts, strict=True):
                if s:
                    tcw.append(nu * j * (mpmath.npdf(lx) * mpmath.ncdf((lx * c - t) / s)
                                         - mpmath.npdf(hx) * mpmath.ncdf((hx * c - t) / s)))  # fmt: skip
                    tcs.append(
                        nu * j * mpmath.npdf(t) * (mpmath.ncdf((hx - t * c) / s) - mpmath.ncdf((lx - t * c) / s))
                    )
                else:  # w* = +-|w*| w_hat: 1{z.w* > t} = 1{+-x > tau*}, C = w_hat int x phi over the overlap
                    lo2, hi2 = (max(lx, t), hx) if c > 0 else (lx, min(hx, -t))
                    tcw.append(nu * j * (mpmath.npdf(lo2) - mpmath.npdf(hi2)) if hi2 > lo2 else mpmath.mpf(0))
        (a_, a_a), (b_, b_a), (cw, cw_a), (cs, cs_a) = (both(t or [mpmath.mpf(0)]) for t in (ta, tb, tcw, tcs))
        big_a = [a_ * x for x in geo.w_hat]
        big_b = [b_ * x for x in geo.w_hat]
        big_c = [cw * x + cs * y for x, y in zip(geo.w_hat, geo.w_star_hat, strict=True)]
        val[ste.name] = [vv * (bb - mw * aa) + (sv**2 * mw - sv * ss * ms) * aa - vvs * (cc - ms * aa)
                         for aa, bb, cc in zip(big_a, big_b, big_c, strict=True)]  # fmt: skip
        scale[ste.name] = (vv * (b_a + mw_a * a_a) + (sv**2 * mw_a + abs(sv * ss) * ms_a) * a_a
                           + abs(vvs) * (cw_a + cs_a + ms_a * a_a))  # fmt: skip
    return val, scale


def float64_staircase(ck: Checks) -> None:
    """pg.Model(..., activation=staircase): loss, grad, coarse_grad against :func:`reference`, at 30 digits."""
    rows = {k: ([], [], []) for k in ("loss", "grad_v", "grad_w", *(s.name for s in STES))}
    with mpmath.workdps(30):
        for act in STAIRS:
            for v, vs, w, ws in one_filter_points(seed=11, count=9):
                model = pg.Model(vs, ws, activation=act)
                ref, scale = reference(act, STES, v, vs, w, ws)
                gv, gw = model.grad(v, w)
                got = {"loss": [model.loss(v, w)], "grad_v": gv, "grad_w": gw}
                got.update({ste.name: model.coarse_grad(v, w, ste)[1] for ste in STES})
                for key, (ours, refs, scales) in rows.items():
                    vals = np.ravel(got[key])
                    ours.extend(vals.tolist())
                    refs.extend(ref[key] if isinstance(ref[key], list) else [ref[key]])
                    scales.extend([scale[key]] * vals.size)
    for key, (ours, refs, scales) in rows.items():
        what = key if key in ("loss", "grad_v", "grad_w") else f"coarse_grad({key})"
        ck.float64(f"pg.Model(activation=staircase).{what} == derived, {len(ours)} values, 2 staircases", ours,
                   refs, scales)  # fmt: skip


def main() -> None:
    ck = Checks("staircase")
    row_moments(ck)
    orthant(ck)
    plackett(ck)
    loss_and_gradient(ck)
    coarse_structure(ck)
    kernels(ck)
    float64_staircase(ck)
    ck.finish()


if __name__ == "__main__":
    main()
