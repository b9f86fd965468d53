"""Lemmas 11-12: one row of Z in the plane of two filters, the angular regions, the Gaussian helper expectations.

See gaussian_helpers.md.  Run: python derivations/gaussian_helpers.py
"""

from __future__ import annotations

import functools

import numpy as np
import sympy as sp
from _common import (
    ANG,
    RHO,
    Checks,
    X,
    Y,
    gauss_pdf,
    geometry,
    mp_value,
    one_filter_points,
    polar_expectation,
)
from sympy.solvers.inequalities import solve_univariate_inequality

import popgrad as pg
from popgrad.geometry import plane
from popgrad.kernels import coarse
from popgrad.kernels.binary import BinaryKernels
from popgrad.symbolic import PHI0, THETA, Phi

HALF_PI = sp.pi / 2
TAN_PHI = sp.Symbol("t", real=True)  # tan(varphi/2): varphi = 2 atan(t) runs over (-pi, pi) increasingly
TAN_TH = sp.Symbol("k", positive=True)  # tan(theta/2): theta = 2 atan(k) runs over (0, pi)
COS, SIN = sp.Symbol("c", real=True), sp.Symbol("s", positive=True)  # cos, sin of theta in (0, pi)


# -- 1. one row in the plane -------------------------------------------------------------------------------


def plane_frame(ck: Checks) -> None:
    r"""(w_hat, u) is orthonormal and w*_hat = cos w_hat + sin u, in any dimension n.

    Vectors are coefficient pairs on (w, w*), inner products come from the Gram matrix
    [[r^2, r r* c], [r r* c, r*^2]] (c = cos(theta), s = sin(theta) > 0, c^2 + s^2 = 1): nothing depends on n.
    """
    r, rs = sp.symbols("r r_star", positive=True)
    gram = sp.Matrix([[r**2, r * rs * COS], [r * rs * COS, rs**2]])
    circle = {COS**2: 1 - SIN**2}

    def inner(a: sp.Matrix, b: sp.Matrix) -> sp.Expr:
        return sp.simplify(sp.expand((a.T * gram * b)[0]).subs(circle))

    w, ws = sp.Matrix([1, 0]), sp.Matrix([0, 1])
    w_hat = w / sp.sqrt(inner(w, w))
    p = ws - inner(ws, w_hat) * w_hat  # Gram-Schmidt
    u = p / sp.sqrt(inner(p, p))
    ck.equal("|w_hat|^2 = 1", inner(w_hat, w_hat), 1)
    ck.equal("|u|^2 = 1", inner(u, u), 1)
    ck.equal("w_hat.u = 0", inner(w_hat, u), 0)
    ws_hat = ws / sp.sqrt(inner(ws, ws))
    ck.true("w*_hat = cos(theta) w_hat + sin(theta) u (coefficients on w, w*)",
            all(sp.simplify(e) == 0 for e in ws_hat - (COS * w_hat + SIN * u)), "simplify")  # fmt: skip
    ck.true("w = |w| w_hat, so z.w = |w| x and z.w* = |w*|(c x + s y) with x = z.w_hat, y = z.u",
            all(sp.simplify(e) == 0 for e in w - r * w_hat), "simplify")  # fmt: skip


def plane_coordinates_are_independent_normals(ck: Checks) -> None:
    r"""x = z.w_hat, y = z.u and P z (the rest) are independent, x, y ~ N(0, 1), E P z = 0: by their joint MGF.

    z ~ N(0, I_n) has independent N(0, 1) coordinates (the model), so E exp(t.z) = prod_j E exp(t_j z_j); sympy
    integrates one factor.  For t = a w_hat + b u + t_perp (t_perp orthogonal to the plane) |t|^2 = a^2 + b^2 +
    |t_perp|^2 (plane_frame), so E exp(a x + b y + t_perp.z) factorises into N(0, 1) MGFs of x and y and the MGF
    of P z.  (A law is determined by its MGF; a factorised MGF means independence.)
    """
    t = sp.Symbol("t", real=True)
    one = sp.integrate(sp.exp(t * X) * gauss_pdf(X), (X, -sp.oo, sp.oo))
    ck.equal("E exp(t z_j) = exp(t^2/2) for z_j ~ N(0, 1)", one.rewrite(sp.erf), sp.exp(t**2 / 2))
    n = 3
    ts = sp.symbols(f"t1:{n + 1}", real=True)
    zs = sp.symbols(f"z1:{n + 1}", real=True)
    joint = sp.exp(sum(a * b for a, b in zip(ts, zs, strict=True))) * sp.prod([gauss_pdf(z) for z in zs])
    mgf = joint
    for z in zs:
        mgf = sp.integrate(mgf, (z, -sp.oo, sp.oo), conds="none")
    ck.equal("n = 3: E exp(t.z) = exp(|t|^2/2) (three-fold integral)",
             sp.simplify(mgf.rewrite(sp.erf)), sp.exp(sum(a**2 for a in ts) / 2))  # fmt: skip
    a, b, tp = sp.symbols("a b tau", real=True)  # tau = |t_perp|
    total = sp.exp((a**2 + b**2 + tp**2) / 2)  # |a w_hat + b u + t_perp|^2, orthonormality (plane_frame)
    ck.equal("E exp(a x + b y + t_perp.z) = E exp(a x) E exp(b y) E exp(t_perp.z), x, y ~ N(0, 1)",
             total, one.rewrite(sp.erf).subs(t, a) * sp.exp(b**2 / 2) * sp.exp(tp**2 / 2))  # fmt: skip
    ck.equal("E P z = d/d t_perp of exp(tau^2/2) at 0 = 0", sp.diff(sp.exp(tp**2 / 2), tp).subs(tp, 0), 0)


# -- 2. the angular regions ------------------------------------------------------------------------------------


def _linear_positive_set(factor: sp.Expr) -> tuple[str, sp.Expr | None]:
    """Where a linear polynomial in tan(varphi/2) is > 0 on (-1, 1): ("all", None) or ("above", root)."""
    poly = sp.Poly(factor, TAN_PHI)
    if poly.degree() != 1:
        raise AssertionError(f"expected a linear factor, got {factor}")
    slope, const = poly.all_coeffs()
    ends = [sp.simplify(factor.subs(TAN_PHI, e)) for e in (-1, 1)]
    if all(e.is_positive for e in ends):  # linear: positive at both ends, positive between
        return "all", None
    root = sp.simplify(-const / slope)
    inside = sp.simplify(root + 1).is_positive and sp.simplify(1 - root).is_positive
    if slope.is_positive and inside:
        return "above", root
    raise AssertionError(f"cannot decide the sign of {factor} on (-1, 1)")


@functools.cache
def _derived_arcs() -> tuple[dict[str, tuple[sp.Expr, sp.Expr]], tuple]:
    r"""The angular intervals of {x > 0} and {x > 0, z.w* > 0}, derived by solving the half-plane inequalities.

    With varphi = 2 atan(t) (t real <-> varphi in (-pi, pi), increasing) and theta = 2 atan(k) (k > 0 <->
    theta in (0, pi)), cos(varphi) and cos(varphi - theta) are rational in t with positive denominators; sympy
    solves the polynomial inequality of {x > 0} and factors the other numerator into linear factors whose signs
    on (-1, 1) it decides from the assumption k > 0.  Returns the arcs in varphi and the (label, ok, method) steps.
    """
    steps = []
    to_t = {ANG: 2 * sp.atan(TAN_PHI), THETA: 2 * sp.atan(TAN_TH)}
    steps.append(("varphi = 2 atan(t) is increasing: d varphi/dt > 0",
                  sp.diff(2 * sp.atan(TAN_PHI), TAN_PHI).is_positive, "assumptions"))  # fmt: skip

    numer, denom = sp.fraction(sp.together(sp.simplify(sp.expand_trig(sp.cos(ANG).subs(to_t)))))
    half_t = solve_univariate_inequality(numer > 0, TAN_PHI, relational=False)
    steps.append(("{x > 0} = {cos varphi > 0}: (1 - t^2)/(1 + t^2) > 0 iff t in (-1, 1)",
                  denom.is_positive and half_t == sp.Interval.open(-1, 1), "solve_univariate_inequality"))  # fmt: skip
    half = (2 * sp.atan(-1), 2 * sp.atan(1))

    numer, denom = sp.fraction(sp.together(sp.simplify(sp.expand_trig(sp.cos(ANG - THETA).subs(to_t)))))
    const, factors = sp.factor_list(numer)
    sets = [_linear_positive_set(f) for f, power in factors if power == 1]
    roots = [root for kind, root in sets if kind == "above"]
    ok = const.is_positive and denom.is_positive and len(sets) == len(factors) == 2 and len(roots) == 1
    ok = ok and sp.simplify(roots[0] - (TAN_TH - 1) / (TAN_TH + 1)) == 0
    steps.append(("{x > 0, z.w* > 0}: cos(varphi - theta) > 0 for t in (-1, 1) iff t > (k - 1)/(k + 1)",
                  ok, "factor, signs by assumptions"))  # fmt: skip
    lower = 2 * sp.atan(roots[0])
    # 2 atan((k-1)/(k+1)) = theta - pi/2: equal derivatives in k, equal at k = 1
    target = 2 * sp.atan(TAN_TH) - HALF_PI
    same = sp.simplify(sp.diff(lower - target, TAN_TH)) == 0 and sp.simplify((lower - target).subs(TAN_TH, 1)) == 0
    steps.append(("... so varphi in (theta - pi/2, pi/2): 2 atan((k-1)/(k+1)) = 2 atan(k) - pi/2", same, "simplify"))
    return {"half": half, "wedge": (THETA - HALF_PI, half[1])}, tuple(steps)


def arcs() -> dict[str, tuple[sp.Expr, sp.Expr]]:
    """``{"half": (lo, hi), "wedge": (lo, hi)}``: the arcs of {x > 0} and {x > 0, z.w* > 0} in varphi."""
    return _derived_arcs()[0]


def check_arcs(ck: Checks) -> None:
    for label, ok, method in _derived_arcs()[1]:
        ck.true(label, ok, method)
    ck.true("{x > 0} is varphi in (-pi/2, pi/2)", arcs()["half"] == (-HALF_PI, HALF_PI), "exact")


# -- 3. the expectations ------------------------------------------------------------------------------------


@functools.cache
def expectations() -> dict[str, sp.Expr]:
    """Lemmas 11, 12 in polar coordinates over the derived arcs ((w_hat, u) components of the vectors)."""
    half, wedge = arcs()["half"], arcs()["wedge"]
    return {
        "P(x > 0)": polar_expectation(0, sp.Integer(1), *half),
        "P(x > 0, z.w* > 0)": polar_expectation(0, sp.Integer(1), *wedge),
        "E z 1{x > 0}": [polar_expectation(1, f, *half) for f in (sp.cos(ANG), sp.sin(ANG))],
        "E z 1{x > 0, z.w* > 0}": [polar_expectation(1, f, *wedge) for f in (sp.cos(ANG), sp.sin(ANG))],
        "E z": [polar_expectation(1, f, -sp.pi, sp.pi) for f in (sp.cos(ANG), sp.sin(ANG))],
    }


def polar_results(ck: Checks) -> None:
    e = expectations()
    ck.equal("E 1{z.w > 0} = 1/2", e["P(x > 0)"], sp.Rational(1, 2))
    ck.equal("E 1{z.w > 0, z.w* > 0} = (pi - theta)/(2 pi)", e["P(x > 0, z.w* > 0)"], (sp.pi - THETA) / (2 * sp.pi))
    ck.equal("E z 1{z.w > 0} = w_hat/sqrt(2 pi): w_hat part", e["E z 1{x > 0}"][0], PHI0)
    ck.equal("E z 1{z.w > 0} = w_hat/sqrt(2 pi): u part", e["E z 1{x > 0}"][1], 0)
    ck.equal("E z = 0", e["E z"][0] ** 2 + e["E z"][1] ** 2, 0)
    ez2 = e["E z 1{x > 0, z.w* > 0}"]
    # Lemma 12 as the paper writes it: cos(theta/2)/sqrt(2 pi) (w_hat + w*_hat)/|w_hat + w*_hat|, with
    # w_hat + w*_hat = (1 + cos theta, sin theta) on (w_hat, u) (plane_frame) and |w_hat + w*_hat| = 2 cos(theta/2)
    norm = 2 * sp.cos(THETA / 2)
    ck.equal(
        "|w_hat + w*_hat|^2 = (1 + cos)^2 + sin^2 = (2 cos(theta/2))^2",
        (1 + sp.cos(THETA)) ** 2 + sp.sin(THETA) ** 2,
        norm**2,
        lambda d: sp.simplify(sp.expand_trig(d)),
    )
    paper = [sp.cos(THETA / 2) * PHI0 * (1 + sp.cos(THETA)) / norm, sp.cos(THETA / 2) * PHI0 * sp.sin(THETA) / norm]
    for i, basis in enumerate(("w_hat", "u")):
        ck.equal(f"E z 1{{z.w > 0, z.w* > 0}} = the paper's Lemma 12 form: {basis} part", ez2[i], paper[i])
    ck.equal("... = (w_hat + w*_hat)/(2 sqrt(2 pi)): w_hat part", ez2[0], PHI0 * (1 + sp.cos(THETA)) / 2)
    ck.equal("... = (w_hat + w*_hat)/(2 sqrt(2 pi)): u part", ez2[1], PHI0 * sp.sin(THETA) / 2)


@functools.cache
def half_plane_in_y() -> sp.Expr:
    """{c x + s y > 0} solved for y by sympy (s > 0): the lower limit of y given x."""
    solved = sp.solve(X * COS + Y * SIN > 0, Y)
    if not (isinstance(solved, sp.StrictGreaterThan) and solved.lhs == Y):
        raise AssertionError(f"expected y > g(x), got {solved}")
    return solved.rhs


def cartesian_route(ck: Checks) -> None:
    """Second route: integrate y first over the half-plane sympy solved, then x (kappa = cot theta)."""
    lower = half_plane_in_y()
    ck.equal("z.w*_hat > 0 <=> y > -x cot(theta)", lower, -X * COS / SIN)
    kp, kn = sp.Symbol("kappa", positive=True), sp.Symbol("k", positive=True)
    inner_1 = sp.integrate(gauss_pdf(Y), (Y, -kp * X, sp.oo))
    ck.equal(
        "int_{-kappa x}^oo phi(y) dy = Phi(kappa x)", inner_1, Phi(kp * X), lambda e: sp.simplify(e.rewrite(sp.erf))
    )
    inner_y = sp.integrate(Y * gauss_pdf(Y), (Y, -kp * X, sp.oo))
    ck.equal("int_{-kappa x}^oo y phi(y) dy = phi(kappa x)", inner_y, gauss_pdf(kp * X))
    for kappa, sign in ((kp, "kappa > 0 (theta < pi/2)"), (-kn, "kappa < 0 (theta > pi/2)")):
        prob = sp.integrate(gauss_pdf(X) * Phi(kappa * X), (X, 0, sp.oo))
        ck.equal(f"int_0^oo phi(x) Phi(kappa x) dx = 1/4 + atan(kappa)/(2 pi), {sign}",
                 prob, 1 / sp.Integer(4) + sp.atan(kappa) / (2 * sp.pi))  # fmt: skip
        ey = sp.integrate(gauss_pdf(X) * gauss_pdf(kappa * X), (X, 0, sp.oo))
        ck.equal(f"E y 1{{x > 0, y > -kappa x}} = 1/(2 sqrt(2 pi) sqrt(1 + kappa^2)), {sign}",
                 ey, PHI0 / (2 * sp.sqrt(1 + kappa**2)))  # fmt: skip
        ex = sp.integrate(X * gauss_pdf(X) * Phi(kappa * X), (X, 0, sp.oo))
        ck.equal(f"E x 1{{x > 0, y > -kappa x}} = (1 + kappa/sqrt(1+kappa^2))/(2 sqrt(2 pi)), {sign}",
                 ex, PHI0 / 2 * (1 + kappa / sp.sqrt(1 + kappa**2)))  # fmt: skip
    # kappa = cot(theta) on (0, pi): atan(cot theta) = pi/2 - theta (derivative -1, value 0 at pi/2) and
    # 1/sqrt(1 + cot^2) = sin, kappa/sqrt(1 + kappa^2) = cos (half-angle t = tan(theta/2) > 0)
    d = sp.atan(sp.cot(THETA)) - (HALF_PI - THETA)
    ck.true("atan(cot theta) = pi/2 - theta on (0, pi)",
            sp.simplify(sp.diff(d, THETA)) == 0 and d.subs(THETA, HALF_PI) == 0, "simplify")  # fmt: skip
    t = sp.Symbol("t_half", positive=True)
    half_angle = {sp.cot(THETA): (1 - t**2) / (2 * t)}

    def radicands_factored(e: sp.Expr) -> sp.Expr:
        e = sp.simplify(e)
        return sp.simplify(e.replace(lambda p: p.is_Pow and p.exp.is_Rational and p.exp.q == 2,
                                     lambda p: sp.factor(p.base) ** p.exp))  # fmt: skip

    ck.equal(
        "1/sqrt(1 + cot(theta)^2) = sin(theta) on (0, pi)",
        (1 / sp.sqrt(1 + sp.cot(THETA) ** 2)).subs(half_angle),
        2 * t / (1 + t**2),
        radicands_factored,
    )
    ck.equal("cot/sqrt(1 + cot^2) = cos(theta) on (0, pi)",
             (sp.cot(THETA) / sp.sqrt(1 + sp.cot(THETA) ** 2)).subs(half_angle), (1 - t**2) / (1 + t**2),
             radicands_factored)  # fmt: skip
    ck.true("(radial density rho e^{-rho^2/2} integrates to 1)",
            sp.integrate(RHO * sp.exp(-(RHO**2) / 2), (RHO, 0, sp.oo)) == 1)  # fmt: skip


# -- 4. popgrad's float64 binary kernels ------------------------------------------------------------------------


def float64_kernels(ck: Checks) -> None:
    """BinaryKernels (mean, variance, variogram) and the ReLU/identity STE kernels against Lemmas 11, 12."""
    e = expectations()
    mean = e["P(x > 0)"]
    var = mean - mean**2  # sigma^2 = sigma
    gamma = 2 * var - 2 * (e["P(x > 0, z.w* > 0)"] - mean**2)  # Var(sigma_a - sigma_b)
    ck.equal("Gamma(a, b) = Var(sigma(z.a) - sigma(z.b)) = theta/pi", gamma, THETA / sp.pi)
    # STE kernels: E[z mu'] = alpha w_hat, E[z mu' sigma(z.w)] = beta w_hat,
    # E[z mu' sigma(z.w*)] = c_w w_hat + c* w*_hat
    wedge = e["E z 1{x > 0, z.w* > 0}"]
    relu = {"alpha": PHI0, "beta": PHI0, "c_star": wedge[1] / sp.sin(THETA)}
    relu["c_w"] = wedge[0] - sp.cos(THETA) * relu["c_star"]  # w*_hat = cos w_hat + sin u
    identity = {"alpha": 0, "beta": PHI0, "c_w": 0, "c_star": PHI0}  # a = E z = 0, c = E z 1{z.w* > 0} = phi(0) w*_hat
    kern = BinaryKernels()
    got: dict[str, list] = {"mean": [], "var": [], "gamma": []}
    refs: dict[str, list] = {"mean": [], "var": [], "gamma": []}
    stes = {"relu": (pg.ste.relu, relu), "identity": (pg.ste.identity, identity)}
    for name in stes:
        for key in ("alpha", "beta", "c_w", "c_star"):
            got[f"{name} {key}"], refs[f"{name} {key}"] = [], []
    for _, _, w, w_star in one_filter_points(seed=11):
        geo = geometry(w, w_star)
        at = {THETA: geo.theta}
        p = plane(w, w_star)
        mom = kern.moments(np.linalg.norm(w))
        got["mean"].append(float(mom.mean))
        got["var"].append(float(mom.var))
        got["gamma"].append(float(kern.variogram(p).value))
        refs["mean"].append(mp_value(mean, at))
        refs["var"].append(mp_value(var, at))
        refs["gamma"].append(mp_value(gamma, at))
        for name, (ste, derived) in stes.items():
            own = coarse.self_terms(ste.pieces, (0.0,), (1.0,), np.linalg.norm(w))
            cross = coarse.cross(ste.pieces, (0.0,), (1.0,), p)
            values = {"alpha": own.alpha, "beta": own.beta, "c_w": cross.c_w, "c_star": cross.c_star}
            for key, val in values.items():
                got[f"{name} {key}"].append(float(val))
                expr = sp.sympify(derived[key])
                ok_end = geo.sin != 0 or not expr.has(THETA)
                refs[f"{name} {key}"].append(mp_value(sp.simplify(expr), at) if ok_end else mp_value(
                    sp.limit(expr, THETA, 0 if geo.cos > 0 else sp.pi), at))  # fmt: skip
    for key in got:
        scale = 1 if key in ("mean", "var", "gamma") else float(PHI0)
        ck.float64(f"popgrad.kernels: {key} at {len(got[key])} points", got[key], refs[key], scale)


def main() -> None:
    ck = Checks("gaussian_helpers")
    plane_frame(ck)
    plane_coordinates_are_independent_normals(ck)
    check_arcs(ck)
    polar_results(ck)
    cartesian_route(ck)
    float64_kernels(ck)
    ck.finish()


if __name__ == "__main__":
    main()
