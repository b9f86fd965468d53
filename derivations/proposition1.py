"""Proposition 1: saddle points, spurious local minimizers, the condition (1'v*)^2 < (m+1)/2 |v*|^2.

Every candidate v lies in span{v*, 1}, so vectors are pairs (alpha, beta) = alpha v* + beta 1 with
the Gram matrix [[|v*|^2, 1'v*], [1'v*, m]]: the algebra holds for every m symbolically.
See proposition1.md.  Run: python derivations/proposition1.py
"""

from __future__ import annotations

import mpmath
import numpy as np
import sympy as sp
from _common import Checks, mp_value, term_scale, v_invariants

from popgrad.critical import proposition1
from popgrad.symbolic import GRAD_V, LOSS, SS, SV, THETA, VSS, VV, VVS, M

V_STAR = (sp.Integer(1), sp.Integer(0))
ONE = (sp.Integer(0), sp.Integer(1))

#: the paper's Proposition 1 formulas, as written there
SADDLE_THETA = sp.pi / 2 * (M + 1) * VSS / ((M + 1) * VSS - SS**2)
SADDLE_ALPHA = -(SS**2) / ((M + 1) * VSS - SS**2)  # v = (I + 11')^{-1}(alpha I + 11') v*
SPURIOUS_VVS = 2 * SS**2 / (M + 1) - VSS


def dot(x: tuple, y: tuple) -> sp.Expr:
    return x[0] * y[0] * VSS + (x[0] * y[1] + x[1] * y[0]) * SS + x[1] * y[1] * M


def add(*terms: tuple) -> tuple:
    return (sum(t[0] for t in terms), sum(t[1] for t in terms))


def scale(k: sp.Expr, x: tuple) -> tuple:
    return (k * x[0], k * x[1])


def a_mul(x: tuple) -> tuple:
    """(I + 11') x = x + 1 (1'x)."""
    return add(x, scale(dot(ONE, x), ONE))


def a_inv(x: tuple) -> tuple:
    """Sherman-Morrison: (I + 11')^{-1} x = x - 1 (1'x)/(m + 1)."""
    return add(x, scale(-dot(ONE, x) / (M + 1), ONE))


def stationary_v(alpha: sp.Expr) -> tuple:
    """v = (I + 11')^{-1}(alpha I + 11') v*, alpha = 1 - 2 theta/pi (df/dv = 0)."""
    return a_inv(add(scale(alpha, V_STAR), scale(SS, ONE)))


def invariants(v: tuple) -> dict:
    return {VV: dot(v, v), SV: dot(ONE, v), VVS: dot(v, V_STAR)}


def grad_v(v: tuple) -> tuple:
    """popgrad's df/dv (GRAD_V: coefficients of v, 1, v*) as a pair."""
    c = {k: e.subs(invariants(v)) for k, e in GRAD_V.items()}
    return add(scale(c["v"], v), scale(c["ones"], ONE), scale(c["v_star"], V_STAR))


def same(x: tuple, y: tuple) -> sp.Expr:
    """0 iff the pairs are equal (v* and 1 may be parallel, but equal pairs are always equal vectors)."""
    return sp.simplify(x[0] - y[0]) ** 2 + sp.simplify(x[1] - y[1]) ** 2


def main() -> None:
    ck = Checks("proposition1")
    x = sp.symbols("x0 x1")
    ck.zero("Sherman-Morrison: (I + 11')(I - 11'/(m+1)) x = x", same(a_mul(a_inv(x)), x))
    ck.equal("v*'(I + 11')^{-1} v* = |v*|^2 - (1'v*)^2/(m+1)", dot(V_STAR, a_inv(V_STAR)), VSS - SS**2 / (M + 1))

    alpha = 1 - 2 * THETA / sp.pi
    v_theta = stationary_v(alpha)
    ck.zero("df/dv = 0 at v = (I+11')^{-1}((1 - 2theta/pi) I + 11')v*", same(grad_v(v_theta), (0, 0)))

    # (8): v'v* = 0 along the stationary curve; v'v* is affine in theta
    vvs_theta = sp.expand(dot(v_theta, V_STAR))
    slope = sp.diff(vvs_theta, THETA)
    ck.equal(
        "d(v'v*)/d theta = -(2/pi) v*'(I+11')^{-1} v* < 0: one root at most",
        slope,
        -2 / sp.pi * (VSS - SS**2 / (M + 1)),
    )
    root = sp.solve(sp.Eq(vvs_theta, 0), THETA)
    ck.true("v'v* = 0 has exactly one root theta_s", len(root) == 1)
    ck.equal("theta_s == the paper's (pi/2)(m+1)|v*|^2/((m+1)|v*|^2 - (1'v*)^2)", root[0], SADDLE_THETA)
    ck.equal(
        "1 - 2 theta_s/pi == the paper's -(1'v*)^2/((m+1)|v*|^2 - (1'v*)^2)", alpha.subs(THETA, root[0]), SADDLE_ALPHA
    )
    ck.equal("pi - theta_s = (pi/2)((m+1)|v*|^2 - 2(1'v*)^2)/((m+1)|v*|^2 - (1'v*)^2)",
             sp.pi - SADDLE_THETA, sp.pi / 2 * ((M + 1) * VSS - 2 * SS**2) / ((M + 1) * VSS - SS**2))  # fmt: skip
    ck.equal("theta_s - pi/2 = (pi/2)(1'v*)^2/((m+1)|v*|^2 - (1'v*)^2) >= 0",
             SADDLE_THETA - sp.pi / 2, sp.pi / 2 * SS**2 / ((M + 1) * VSS - SS**2))  # fmt: skip
    # the denominator (m+1)|v*|^2 - (1'v*)^2 >= |v*|^2 > 0 by Cauchy-Schwarz ((1'v*)^2 <= m |v*|^2), so
    # theta_s in [pi/2, pi) iff 2 (1'v*)^2 < (m+1)|v*|^2: the Proposition's condition.

    # saddle, not extremum: Hessian of f in (v, theta) is [[A/4, v*/(2pi)], [v*'/(2pi), 0]]
    ck.equal("d^2 f/d theta^2 = 0", sp.diff(LOSS, THETA, 2), 0)
    ck.equal("d/d theta (df/dv) = v*/(2 pi): v* coefficient", sp.diff(GRAD_V["v_star"], THETA), 1 / (2 * sp.pi))
    ck.true(
        "d/d theta (df/dv): no v or 1 component", sp.diff(GRAD_V["v"], THETA) == 0 == sp.diff(GRAD_V["ones"], THETA)
    )
    schur = -((1 / (2 * sp.pi)) ** 2) * 4 * dot(V_STAR, a_inv(V_STAR))  # -b'(A/4)^{-1}b
    ck.equal("Schur complement = -(|v*|^2 - (1'v*)^2/(m+1))/pi^2 < 0: indefinite Hessian", schur,
             -(VSS - SS**2 / (M + 1)) / sp.pi**2)  # fmt: skip

    # spurious minimizers: theta = pi, v0 = (I+11')^{-1}(11' - I)v*
    v0 = stationary_v(-1)
    ck.zero("v0 == (I+11')^{-1}(11' - I) v*", same(v0, a_inv(add(scale(-1, V_STAR), scale(SS, ONE)))))
    ck.equal("v0'v* == the paper's 2(1'v*)^2/(m+1) - |v*|^2", dot(v0, V_STAR), SPURIOUS_VVS)
    ck.equal("v0'v* < 0 iff the condition: (m+1) v0'v* = 2(1'v*)^2 - (m+1)|v*|^2", (M + 1) * dot(v0, V_STAR),
             2 * SS**2 - (M + 1) * VSS)  # fmt: skip
    ck.equal(
        "df/d theta = v'v*/(2 pi) (< 0 at v0: f decreases towards theta = pi)", sp.diff(LOSS, THETA), VVS / (2 * sp.pi)
    )
    f0 = sp.factor(sp.simplify(LOSS.subs(invariants(v0)).subs(THETA, sp.pi)))
    ck.equal("f(v0, pi) = (1'v*)^2/(2(m+1)): > 0 (spurious) only if 1'v* != 0", f0, SS**2 / (2 * (M + 1)))
    # FINDING: if 1'v* = 0 the condition holds, yet (v0, pi) = (-v*, pi) has f = 0: a global minimizer
    # (sigma(-x) = 1 - sigma(x) a.e., so -v*'sigma(-Z w*) = v*'sigma(Z w*) - 1'v*).
    ck.zero("1'v* = 0: v0 = -v*", same(v0.__class__(e.subs(SS, 0) for e in v0), (-1, 0)))
    ck.equal("m = 1: 1'v* = v*, (1'v*)^2 = |v*|^2, the condition 2|v*|^2 < 2|v*|^2 never holds",
             (2 * SS**2 - (M + 1) * VSS).subs({M: 1, SS**2: VSS}), 0)  # fmt: skip

    # explicit check, m = 3, rational v*: matrices instead of the pair algebra
    vs = sp.Matrix([3, -1, 2]) / 7
    m = 3
    eye, one = sp.eye(m), sp.ones(m, 1)
    a_exp = eye + one * one.T
    subs = {VSS: (vs.T * vs)[0], SS: sum(vs), M: m}
    th = SADDLE_THETA.subs(subs)
    v = a_exp.inv() * ((1 - 2 * th / sp.pi) * eye + one * one.T) * vs
    ck.true("m = 3, v* = (3,-1,2)/7: condition holds", 2 * sum(vs) ** 2 < (m + 1) * (vs.T * vs)[0])
    ck.equal("m = 3 explicit: v'v* = 0 at the saddle", (v.T * vs)[0], 0)
    grad = (a_exp * v - ((1 - 2 * th / sp.pi) * eye + one * one.T) * vs) / 4
    ck.equal("m = 3 explicit: df/dv = 0 at the saddle", grad.dot(grad), 0)
    v0e = a_exp.inv() * (one * one.T - eye) * vs
    ck.equal("m = 3 explicit: v0'v* == 2(1'v*)^2/(m+1) - |v*|^2", (v0e.T * vs)[0], SPURIOUS_VVS.subs(subs))
    float64_proposition1(ck, root[0])
    ck.finish()


def float64_proposition1(ck: Checks, theta_s: sp.Expr) -> None:
    """popgrad.critical.proposition1 against the derived saddle angle and points, the spurious point, the condition.

    Natural scales: for the vectors alpha v* + beta 1, |alpha v*_i| + |beta| (each entry's terms) times m + 1, the
    condition number of I + 11'; for the condition the sum of the absolute values of its terms; for the angle (a
    monomial over (m+1)|v*|^2 - (1'v*)^2) its value times 1 + (the denominator's terms)/|denominator|.
    """
    alpha_s = sp.simplify(1 - 2 * theta_s / sp.pi)
    rng = np.random.default_rng(9)
    got: dict[str, list] = {k: [] for k in ("condition", "saddle_theta", "saddle_v", "spurious_v")}
    ref: dict[str, list] = {k: [] for k in got}
    scale: dict[str, list] = {k: [] for k in got}
    teachers = [rng.normal(size=m) + rng.normal() for m in (1, 2, 3, 4, 6, 9) for _ in range(2)]
    teachers.append(np.array([1.0, -1.0, 0.5, -0.5]))  # 1'v* = 0
    for v_star in teachers:
        cp = proposition1(v_star)
        values = v_invariants(v_star, v_star) | {M: mpmath.mpf(v_star.size)}
        condition = (M + 1) * VSS / 2 - SS**2
        got["condition"].append(cp.condition)
        ref["condition"].append(mp_value(condition, values))
        scale["condition"].append(term_scale(condition, values))
        got["saddle_theta"].append(cp.saddle_theta)
        den = sp.fraction(sp.together(theta_s))[1]
        value = mp_value(theta_s, values)
        ref["saddle_theta"].append(value)
        scale["saddle_theta"].append(abs(value) * (1 + term_scale(den, values) / abs(mp_value(den, values))))
        for key, vec in (("saddle_v", stationary_v(alpha_s)), ("spurious_v", stationary_v(-1))):
            a, b = mp_value(vec[0], values), mp_value(vec[1], values)
            got[key].extend(getattr(cp, key))
            ref[key].extend(a * mpmath.mpf(float(x)) + b for x in v_star)
            scale[key].extend((abs(a * mpmath.mpf(float(x))) + abs(b)) * (v_star.size + 1) for x in v_star)
    for key in got:
        ck.float64(f"popgrad.critical.proposition1: {key} == derived, {len(teachers)} teachers", got[key], ref[key],
                   scale[key])  # fmt: skip


if __name__ == "__main__":
    main()
