"""Identities the paper uses and popgrad relies on.

See identities.md.  Run: python derivations/identities.py
"""

from __future__ import annotations

import math
import random

import mpmath
import numpy as np
import sympy as sp
from _common import Checks, explicit_v, geometry, invariants_of, mp_value, point_values, term_scale

import popgrad as pg
from popgrad.critical import w_at_angle
from popgrad.symbolic import GRAD_V, LOSS, SS, SV, THETA, VSS, VV, VVS, H

#: Lemma 1 without cancellation near the global minimum: |v - v*|^2, 1'(v - v*) and theta are small there.
D2, S_D = sp.symbols("d2 s_d", real=True)  # |v - v*|^2 and 1'(v - v*)
STABLE_LOSS = (D2 + S_D**2 + 4 * THETA / sp.pi * VVS) / 8


def main() -> None:
    ck = Checks("identities")
    # Lemma 4's identity: h = 4 v'df/dv + 2(1 - theta/pi) v'v*
    v_dot_grad = GRAD_V["v"] * VV + GRAD_V["ones"] * SV + GRAD_V["v_star"] * VVS
    ck.equal("h(v, v*) = 4 v'df/dv + 2(1 - theta/pi) v'v*", H, 4 * v_dot_grad + 2 * (1 - THETA / sp.pi) * VVS)

    # |w_hat + w*_hat| = 2 cos(theta/2) (w*_hat = cos w_hat + sin u); cos(theta/2) >= 0 on [0, pi], so
    # cos(theta/2) (w_hat + w*_hat)/|w_hat + w*_hat| = (w_hat + w*_hat)/2 (Lemma 12's vector)
    norm2 = (1 + sp.cos(THETA)) ** 2 + sp.sin(THETA) ** 2
    by_trig = lambda e: sp.simplify(sp.expand_trig(e))  # noqa: E731
    ck.equal("|w_hat + w*_hat|^2 = (2 cos(theta/2))^2", norm2, (2 * sp.cos(THETA / 2)) ** 2, by_trig)

    # f and df/dv without cancellation near the global minimum
    d2, s_d = VV - 2 * VVS + VSS, SV - SS  # |v - v*|^2, 1'(v - v*)
    ck.equal("Lemma 1 = (|v-v*|^2 + (1'(v-v*))^2 + (4 theta/pi) v'v*)/8", LOSS, STABLE_LOSS.subs({D2: d2, S_D: s_d}))
    for m in range(1, 5):
        v, vs = explicit_v(m)
        c = {k: e.subs(invariants_of(v, vs)) for k, e in GRAD_V.items()}
        for i in range(m):
            mine = c["v"] * v[i] + c["ones"] + c["v_star"] * vs[i]
            lead = ((v[i] - vs[i]) + sum(v) - sum(vs) + 2 * THETA / sp.pi * vs[i]) / 4
            ck.equal(f"m = {m}: df/dv_{i + 1} = ((v-v*) + 1 1'(v-v*) + (2 theta/pi) v*)/4", mine, lead, sp.expand)

    # Sherman-Morrison, explicit matrices
    for m in range(1, 7):
        eye, one = sp.eye(m), sp.ones(m, 1)
        ck.true(f"m = {m}: (I + 11')^{{-1}} = I - 11'/(m+1)", (eye + one * one.T).inv() == eye - one * one.T / (m + 1))

    # Lagrange's identity behind geometry.py's wedge and symbolic.evaluate's exact sin(theta)
    for n in range(2, 6):
        a, b = sp.symbols(f"a1:{n + 1}", real=True), sp.symbols(f"b1:{n + 1}", real=True)
        dot = lambda x, y: sum(p * q for p, q in zip(x, y, strict=True))  # noqa: E731
        wedge = sum((a[j] * b[i] - b[j] * a[i]) ** 2 for i in range(n) for j in range(n)) / 2
        ck.equal(
            f"n = {n}: |a|^2|b|^2 - (a.b)^2 = |a ^ b|_F^2/2", dot(a, a) * dot(b, b) - dot(a, b) ** 2, wedge, sp.expand
        )
        perp = [dot(a, a) * b[i] - dot(a, b) * a[i] for i in range(n)]
        ck.equal(f"n = {n}: | |a|^2 b - (a.b) a |^2 = |a|^2 (|a|^2|b|^2 - (a.b)^2)", dot(perp, perp),
                 dot(a, a) * (dot(a, a) * dot(b, b) - dot(a, b) ** 2), sp.expand)  # fmt: skip

    # theta = atan2(|a||b| sin, a.b) is the angle: compare with acos at random points away from the ends
    rng = random.Random(4)
    worst = 0.0
    for _ in range(20):
        a, b = ([sp.Rational(rng.gauss(0, 1)) for _ in range(3)] for _ in range(2))
        dab = sum(x * y for x, y in zip(a, b, strict=True))
        na, nb = sp.sqrt(sum(x * x for x in a)), sp.sqrt(sum(x * x for x in b))
        lag = na**2 * nb**2 - dab**2
        worst = max(worst, abs(float((sp.atan2(sp.sqrt(lag), dab) - sp.acos(dab / (na * nb))).evalf(50))))
    ck.true(
        f"atan2(sqrt(Lagrange), a.b) == acos(a.b/(|a||b|)) (max diff {worst:.1e})",
        worst < 1e-45,
        "points: 20 @ 50 digits, to 45 digits",
    )
    float64_checks(ck)
    ck.finish()


def float64_checks(ck: Checks) -> None:
    """pg.angle against the exact angle; pg.Model.loss near the global minimum against STABLE_LOSS's terms."""
    rng = np.random.default_rng(12)
    ours, refs = [], []
    for theta in (1e-12, 1e-7, 0.4, 1.3, 2.2, math.pi - 1e-6, math.pi - 1e-12):
        w_star = rng.normal(size=4)
        w = w_at_angle(w_star, theta, 10 ** rng.uniform(-3, 3), direction=None)
        ours.append(pg.angle(w, w_star))
        refs.append(geometry(w, w_star).theta)
    ck.float64(f"pg.angle == atan2 of the exact invariants, {len(ours)} angles near 0, between, near pi", ours, refs,
               [abs(x) for x in refs])  # fmt: skip
    ours, refs, scales = [], [], []
    for k in range(8):
        m = 1 + k % 5
        v_star, w_star = rng.normal(size=m), rng.normal(size=3)
        v = v_star + rng.normal(size=m) * 10.0 ** -rng.integers(3, 9)
        w = w_at_angle(w_star, 10.0 ** -rng.integers(3, 9), 2.0)
        values, _ = point_values(v, v_star, w, w_star)
        dv = [mpmath.mpf(float(a)) - mpmath.mpf(float(b)) for a, b in zip(v, v_star, strict=True)]
        values |= {D2: sum(x * x for x in dv), S_D: sum(dv)}
        ours.append(pg.Model(v_star, w_star).loss(v, w))
        refs.append(mp_value(LOSS, values))
        scales.append(term_scale(STABLE_LOSS, values))
    ck.float64(f"pg.Model.loss near the global minimum (f down to ~1e-17), {len(ours)} points: few ulps of the "
               "terms of the cancellation-free form", ours, refs, scales)  # fmt: skip


if __name__ == "__main__":
    main()
