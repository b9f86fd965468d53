"""Expected coarse gradient for any piecewise-constant STE: the pairwise kernels alpha, beta, c_w, c*.

See piecewise_ste.md.  Run: python derivations/piecewise_ste.py

1. popgrad.symbolic.kernels derives the kernels by sympy (the half-plane solved for y, the y-integrals, then
   antiderivatives in x); this script checks those antiderivatives independently (differentiated back to
   integrands it computes itself from the solved half-plane; continuous), the formulas of piecewise_ste.md
   against them for every kind of piece, and the ends of [0, pi] as limits of the interior.
2. The defining integrals by mpmath quadrature against the closed forms (a numerical second route).
3. popgrad's float64 kernels (popgrad.kernels.coarse) and pg.Model.correlation against the closed forms.
"""

from __future__ import annotations

import functools
import math
import random

import mpmath
import numpy as np
import sympy as sp
from _common import Checks, X, Y, gauss_pdf, geometry, one_filter_points, point_values
from gaussian_helpers import COS, SIN, half_plane_in_y

import popgrad as pg
from popgrad.geometry import plane
from popgrad.kernels import coarse
from popgrad.symbolic import PHI0, THETA, VVS, R
from popgrad.symbolic import kernels as kern

HALF = sp.Rational(1, 2)
T = sp.Symbol("t", real=True)  # the variable of popgrad.symbolic.kernels' antiderivatives

#: The STEs of the numerical checks: every kind of piece (bounds -inf, < 0, 0, > 0, +inf; a negative value).
STES = (
    pg.ste.relu,
    pg.ste.identity,
    pg.ste.clipped_relu(),
    pg.ste.clipped_relu(2.5),
    pg.ste.leaky_relu(0.3),
    pg.ste.hard_tanh(),
    pg.ste.piecewise_constant([-0.5, 0.3, 1.2], [0.2, -1.0, 1.5, 0.4]),
)


def _erf_form(expr: sp.Expr) -> sp.Expr:
    """Phi (popgrad.symbolic.kernels.Ncdf) written with erf."""
    return expr.replace(kern.Ncdf, lambda x: (1 + sp.erf(x / sp.sqrt(2))) / 2)


def _circle(expr: sp.Expr) -> sp.Expr:
    """simplify with cos^2 = 1 - sin^2 and Phi written with erf."""
    expr = _erf_form(expr).rewrite(sp.erf)
    return sp.simplify(sp.powsimp(sp.expand(expr)).subs(COS**2, 1 - SIN**2))


# -- 1. the antiderivatives and the documented formulas ------------------------------------------------------


@functools.cache
def row_integrands() -> dict[str, sp.Expr]:
    r"""The x-integrands of alpha, c_w, c* in the interior, from the half-plane sympy solved (y > -x c/s).

    p(x) = P(z.b > 0 | x), q(x) = E[y 1{z.b > 0} | x]; E[z mu' 1{z.b > 0}] = (int x phi p) a_hat + (int phi q) u
    and u = (b_hat - c a_hat)/s, so c_w integrates x phi p - (c/s) phi q and c* integrates phi q / s.
    """
    lower = half_plane_in_y()
    p = sp.simplify(sp.integrate(gauss_pdf(Y), (Y, lower, sp.oo)).rewrite(sp.erf))
    q = sp.simplify(sp.integrate(Y * gauss_pdf(Y), (Y, lower, sp.oo)).rewrite(sp.erf))
    return {"alpha": X * gauss_pdf(X), "c_w": X * gauss_pdf(X) * p - COS / SIN * gauss_pdf(X) * q,
            "c_star": gauss_pdf(X) * q / SIN}  # fmt: skip


def check_antiderivatives(ck: Checks) -> None:
    interior = kern.antiderivatives("interior")
    for key, integrand in row_integrands().items():
        anti = interior[key].subs(T, X)
        back = _circle(sp.diff(anti, X) - integrand)
        smooth = not any(f.has(X) for f in anti.atoms(sp.Abs, sp.sign, sp.Heaviside, sp.Piecewise))
        ck.true(f"interior: d/dx of popgrad.symbolic.kernels' antiderivative of {key} = its integrand; continuous",
                back == 0 and smooth, "simplify")  # fmt: skip
    # the ends: the region is x > 0 (theta = 0) or x < 0 (theta = pi), y integrates out (q = 0)
    for region, step in (("parallel", sp.Heaviside(X)), ("antiparallel", sp.Heaviside(-X))):
        anti = kern.antiderivatives(region)["c_w"].subs(T, X)
        pieces_ok = all(
            sp.simplify(sp.diff(anti, X).subs(X, x0) - (X * gauss_pdf(X) * step).subs(X, x0)) == 0
            for x0 in (sp.Symbol("xp", positive=True), -sp.Symbol("xn", positive=True))
        )
        continuous = sp.limit(anti, X, 0, "+") == sp.limit(anti, X, 0, "-")
        ck.true(
            f"{region}: the antiderivative of c_w is x phi(x) 1{{region}} on each side of 0, continuous at 0",
            pieces_ok and continuous and kern.antiderivatives(region)["c_star"] == 0,
            "simplify, limit",
        )


def documented_piece(lo: str, hi: str) -> dict[str, sp.Expr]:
    """piecewise_ste.md, section 2: alpha, beta, c_w, c* of a piece (l, h) in units of r (interior)."""
    lo_, hi_ = kern.bound(lo, "l"), kern.bound(hi, "h")
    c, s = COS, SIN
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
    }


PIECE_KINDS = [(lo, hi) for i, lo in enumerate(kern.BOUND_KINDS[:4]) for hi in kern.BOUND_KINDS[max(i, 1) :]
               if (lo, hi) != ("zero", "zero")]  # fmt: skip


def _limit_at_zero(expr: sp.Expr, t: sp.Symbol) -> sp.Expr:
    """lim_{t -> 0+} term by term: erf(a(t)) with a ~ k/t -> sign(k) (k of known sign), else erf(lim a)."""
    expr = sp.expand(expr)

    def limit_erf(arg: sp.Expr) -> sp.Expr:
        scale = sp.limit(arg * sp.sin(t), t, 0, "+")  # arg ~ scale / t
        if scale == 0:
            return sp.erf(sp.limit(arg, t, 0, "+"))
        return sp.sign(scale)

    return sp.simplify(expr.replace(sp.erf, limit_erf).subs(t, 0))


def check_pieces(ck: Checks) -> None:
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
            at = {COS: sign * sp.cos(t), SIN: sp.sin(t)}  # theta = t -> 0+ or theta = pi - t
            value = _limit_at_zero(_erf_form(inner["c_w"] + sign * inner["c_star"]).subs(at), t)
            ok = sp.simplify(value - _erf_form(end["c_w"])) == 0 and end["c_star"] == 0
            ck.true(f"piece ({lo}, {hi}) at theta = {'0' if sign > 0 else 'pi'}: end kernel == interior limit", ok,
                    "limit")  # fmt: skip


def check_inner_product(ck: Checks) -> None:
    """<E g_mu, df/dw> = (v.v*)^2/(2 pi r) sin(theta) c*: a, b lie along w_hat, only c's w*_hat part meets u."""
    a_w, b_w, c_w, c_s = sp.symbols("a_w b_w c_w c_s", real=True)
    from coarse_gradient import STRUCTURE, A, B, C

    c_vec = [c_w + c_s * sp.cos(THETA), c_s * sp.sin(THETA)]  # c_w w_hat + c* w*_hat on (w_hat, u)
    g = [STRUCTURE.subs({A: a, B: b, C: c}) for a, b, c in zip((a_w, 0), (b_w, 0), c_vec, strict=True)]
    grad_w = [0, -VVS / (2 * sp.pi * R)]  # gradient.md
    inner = sum(x * y for x, y in zip(g, grad_w, strict=True))
    ck.equal(
        "<E g_mu, df/dw> = (v.v*)^2/(2 pi |w|) sin(theta) c*", inner, VVS**2 / (2 * sp.pi * R) * sp.sin(THETA) * c_s
    )


# -- 2. the defining integrals by quadrature ----------------------------------------------------------------


def _quadrature(pieces: tuple, theta: mpmath.mpf, r: mpmath.mpf) -> list:
    """alpha, beta, c_w, c* by quadrature of the defining x-integrals (section 2's first display)."""
    k = mpmath.cot(theta)
    phi = mpmath.npdf
    out = [mpmath.mpf(0)] * 4
    for lo, hi, nu in pieces:
        lo_x = mpmath.mpf(lo) / r if math.isfinite(lo) else mpmath.mpf(lo)
        hi_x = mpmath.mpf(hi) / r if math.isfinite(hi) else mpmath.mpf(hi)
        grid = [lo_x, *sorted(p for p in {mpmath.mpf(0)} if lo_x < p < hi_x), hi_x]
        quad = lambda f, grid=grid: mpmath.quad(f, grid)  # noqa: E731
        a = quad(lambda x: x * phi(x))
        b = quad(lambda x: x * phi(x) if x > 0 else mpmath.mpf(0))
        on_w = quad(lambda x: x * phi(x) * mpmath.ncdf(k * x))
        on_u = quad(lambda x: phi(x) * phi(k * x))
        # c = on_w w_hat + on_u u = (on_w - cot on_u) w_hat + (on_u / sin) w*_hat
        parts = (a, b, on_w - k * on_u, on_u / mpmath.sin(theta))
        out = [o + mpmath.mpf(nu) * x for o, x in zip(out, parts, strict=True)]
    return out


def check_quadrature(ck: Checks) -> None:
    rng = random.Random(5)
    worst = mpmath.mpf(0)
    n = 0
    with mpmath.workdps(30):
        for _ in range(3):
            for s in STES:
                theta, r = mpmath.mpf(rng.uniform(0.05, math.pi - 0.05)), mpmath.mpf(10 ** rng.uniform(-1.5, 1.5))
                ref = _quadrature(s.pieces, theta, r)
                closed = kern.kernel_values(s.pieces, r, "interior", mpmath.cos(theta), mpmath.sin(theta))
                scale = max(abs(x) for x in ref)
                worst = max(worst, max(abs(a - b) for a, b in zip(ref, closed, strict=True)) / scale)
                n += 1
    ck.true(
        f"defining integrals (quadrature) == closed forms, {n} (STE, theta, r)  (max rel. diff "
        f"{mpmath.nstr(worst, 3)})",
        worst < mpmath.mpf(10) ** -25,
        "points: 21 @ 30 digits, to 25 digits",
    )


# -- 3. popgrad's float64 kernels ----------------------------------------------------------------------------


def check_float64(ck: Checks) -> None:
    """popgrad.kernels.coarse against the closed forms; Model.correlation's inner_w for general pieces."""
    rng = np.random.default_rng(6)
    got: dict[str, list] = {k: [] for k in ("alpha", "beta", "c_w", "c_star")}
    ref: dict[str, list] = {k: [] for k in got}
    scales: dict[str, list] = {k: [] for k in got}
    inner_ours, inner_ref, inner_scale = [], [], []
    for idx, (v, v_star, w, w_star) in enumerate(one_filter_points(seed=6, count=27)):
        w = w * 2.0 ** int(rng.integers(-5, 6))  # wider norms (exact scaling: parallel pairs stay parallel)
        geo = geometry(w, w_star)
        region = "interior" if geo.sin != 0 else ("parallel" if geo.cos > 0 else "antiparallel")
        p = plane(w, w_star)
        s = STES[idx % len(STES)]
        own = coarse.self_terms(s.pieces, (0.0,), (1.0,), np.linalg.norm(w))
        cross = coarse.cross(s.pieces, (0.0,), (1.0,), p)
        closed = kern.kernel_values(s.pieces, geo.r, region, geo.cos, geo.sin)
        bound = 2 * float(PHI0) * sum(abs(nu) for _, _, nu in s.pieces)  # each kernel: sum of 2 terms |nu| phi Phi
        ours = [float(x) for x in (own.alpha, own.beta, cross.c_w, cross.c_star)]
        if region != "interior":  # w*_hat = +-w_hat: only c_w +- c* (the vector's coefficient) is defined
            ours[2:] = [ours[2] + (1 if region == "parallel" else -1) * ours[3], 0.0]
        for key, val, x in zip(got, ours, closed, strict=True):
            got[key].append(val)
            ref[key].append(x)
            scales[key].append(mpmath.mpf(float(bound)))
        if region == "interior":
            values, _ = point_values(v, v_star, w, w_star)
            inner_ours.append(pg.Model(v_star, w_star).correlation(v, w, s).inner_w)
            lead = values[VVS] ** 2 / (2 * mpmath.pi * geo.r) * geo.sin
            inner_ref.append(lead * closed[3])
            inner_scale.append(abs(lead) * bound)
    for key in got:
        ck.float64(f"popgrad.kernels.coarse: {key}, {len(got[key])} points, 7 STEs", got[key], ref[key], scales[key])
    ck.float64(f"pg.Model.correlation(...).inner_w == (v.v*)^2/(2 pi r) sin c*, {len(inner_ours)} points",
               inner_ours, inner_ref, inner_scale)  # fmt: skip


def main() -> None:
    ck = Checks("piecewise_ste")
    check_antiderivatives(ck)
    check_pieces(ck)
    check_inner_product(ck)
    check_quadrature(ck)
    check_float64(ck)
    ck.finish()


if __name__ == "__main__":
    main()
