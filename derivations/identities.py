"""Identities the paper uses and popgrad relies on.

See identities.md.  Run: python derivations/identities.py
"""

from __future__ import annotations

import random

import sympy as sp
from _common import Checks, explicit_v, invariants_of

from popgrad.symbolic import GRAD_V, LOSS, SS, SV, THETA, VSS, VV, VVS, H


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

    # closed_form.py writes f and df/dv without cancellation near the global minimum
    d2, s_d = VV - 2 * VVS + VSS, SV - SS  # |v - v*|^2, 1'(v - v*)
    ck.equal(
        "Lemma 1 = (|v-v*|^2 + (1'(v-v*))^2 + (4 theta/pi) v'v*)/8", LOSS, (d2 + s_d**2 + 4 * THETA / sp.pi * VVS) / 8
    )
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
        "20 points @ 50 digits",
    )
    ck.finish()


if __name__ == "__main__":
    main()
