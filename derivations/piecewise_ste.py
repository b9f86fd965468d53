"""Machine check of derivations/piecewise_ste.md (any piecewise-constant STE).

1. The antiderivatives of x phi(x) Phi(k x) and phi(x) phi(k x) used in section 2 differentiate
   back to their integrands (sympy, simplifies to 0).
2. The row decomposition of section 1 (sympy, m = 4, symbolic v, v*, a, b, c: simplifies to 0).
3. popgrad's float64 closed form equals a 50-digit mpmath quadrature of the defining integrals of
   a, b, c (section 2, first display) at 40 random points and several STEs, to 1e-12 relative to
   the scale of the coefficients.

Run: python derivations/piecewise_ste.py  (exit status 1 on failure)
"""

from __future__ import annotations

import itertools

import mpmath as mp
import numpy as np
import sympy as sp
from _common import Checks

from popgrad import geometry, ste
from popgrad.kernels import coarse


def check_antiderivatives(ck: Checks) -> None:
    x, k = sp.symbols("x kappa", real=True)
    s = sp.symbols("s", positive=True)  # sin(theta); k = cot(theta) so 1 + k^2 = 1/s^2
    phi = lambda t: sp.exp(-(t**2) / 2) / sp.sqrt(2 * sp.pi)  # noqa: E731
    Phi = lambda t: (1 + sp.erf(t / sp.sqrt(2))) / 2  # noqa: E731
    anti_u = phi(0) * s * Phi(x / s)  # of phi(x) phi(k x), valid when 1 + k^2 = 1/s^2
    lhs = sp.diff(anti_u, x) - phi(x) * phi(k * x)
    ck.zero("d/dx of phi(0) s Phi(x/s) = phi(x) phi(kappa x)", lhs.subs(k, sp.sqrt(1 / s**2 - 1)))
    anti_w = -phi(x) * Phi(k * x) + k * anti_u
    lhs = sp.diff(anti_w, x) - x * phi(x) * Phi(k * x)
    ck.zero(
        "d/dx of -phi Phi(kappa x) + kappa phi(0) s Phi(x/s) = x phi(x) Phi(kappa x)",
        lhs.subs(k, sp.sqrt(1 / s**2 - 1)),
    )


def check_row_decomposition(ck: Checks, m: int = 4) -> None:
    v = sp.symbols(f"v0:{m}")
    vs = sp.symbols(f"s0:{m}")
    a, b, c = sp.symbols("a b c")  # one direction at a time: the identity is linear in a, b, c
    half = sp.Rational(1, 2)
    # E[z_i mu'_i sigma_j] = b (j = i), a/2 (j != i); E[z_i mu'_i sigma*_j] = c (j = i), a/2 (j != i)
    total = sum(
        v[i] * sum((b if i == j else a * half) * v[j] - (c if i == j else a * half) * vs[j] for j in range(m))
        for i in range(m)
    )
    sq, s1, t1, vv = sum(x * x for x in v), sum(v), sum(vs), sum(x * y for x, y in zip(v, vs, strict=True))
    claim = sq * (b - a / 2) + (s1**2 - s1 * t1 + vv) * a / 2 - vv * c
    ck.zero(f"row decomposition of E g (m = {m})", total - claim, sp.expand)


def _reference(pieces, theta: float, r: float) -> tuple[mp.mpf, mp.mpf, mp.mpf, mp.mpf]:
    """a, b, c_w, c* at 50 digits by quadrature of the defining integrals (no closed form)."""
    with mp.workdps(50):
        th, rr = mp.mpf(theta), mp.mpf(r)
        phi = lambda t: mp.npdf(t)  # noqa: E731
        cdf = lambda t: mp.ncdf(t)  # noqa: E731
        k = mp.cos(th) / mp.sin(th)
        a = b = cw_orth = cu = mp.mpf(0)
        for lo, hi, nu in pieces:
            lo_x = mp.mpf(lo) / rr if np.isfinite(lo) else (-mp.inf if lo < 0 else mp.inf)
            hi_x = mp.mpf(hi) / rr if np.isfinite(hi) else (mp.inf if hi > 0 else -mp.inf)
            pts = sorted({lo_x, hi_x, mp.mpf(0)} - {mp.inf, -mp.inf})
            grid = [lo_x, *[p for p in pts if lo_x < p < hi_x], hi_x]
            quad = lambda f: mp.quad(f, grid)  # noqa: E731, B023
            nu = mp.mpf(nu)
            a += nu * quad(lambda t: t * phi(t))
            b += nu * quad(lambda t: t * phi(t) if t > 0 else mp.mpf(0))
            cw_orth += nu * quad(lambda t: t * phi(t) * cdf(k * t))
            cu += nu * quad(lambda t: phi(t) * phi(k * t))
        # c = cw_orth w_hat + cu u = (cw_orth - cot cu) w_hat + (cu / sin) w*_hat
        return a, b, cw_orth - k * cu, cu / mp.sin(th)


def check_against_popgrad(ck: Checks, n_points: int = 40, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    stes = [ste.relu, ste.identity, ste.clipped_relu(), ste.clipped_relu(2.5), ste.leaky_relu(0.3), ste.hard_tanh()]
    worst = 0.0
    for _, s in zip(range(n_points), itertools.cycle(stes)):
        theta = rng.uniform(0.05, np.pi - 0.05)
        r = 10 ** rng.uniform(-1.5, 1.5)
        w = r * np.array([1.0, 0.0])
        w_star = np.array([np.cos(theta), np.sin(theta)])
        p = geometry.plane(w, w_star)
        own = coarse.self_terms(s.pieces, (0.0,), (1.0,), p.r)
        cross = coarse.cross(s.pieces, (0.0,), (1.0,), p)
        ref = _reference(s.pieces, float(p.theta), float(p.r))
        ours = [own.alpha, own.beta, cross.c_w, cross.c_star]
        scale = max(abs(float(x)) for x in ref) + 1e-300
        err = max(abs(float(mp.mpf(float(o)) - x)) for o, x in zip(ours, ref, strict=True)) / scale
        worst = max(worst, err)
    label = f"popgrad float64 a, b, c vs 50-digit quadrature, {n_points} points (worst rel. error {worst:.2e})"
    ck.true(label, worst < 1e-12, "quadrature")


if __name__ == "__main__":
    checks = Checks("piecewise_ste")
    check_antiderivatives(checks)
    check_row_decomposition(checks)
    check_against_popgrad(checks)
    checks.finish()
