"""Staircase (multi-bit) activations: closed forms vs the quadrature engine, literal Monte Carlo, and
high-precision numerical differentiation; and the binary case vs the core formulas.

References here never import popgrad.kernels or popgrad.assembly and never call Model.loss /
grad / coarse_grad for their answers.  Quadrature: ``pg.expectations(..., engine="quadrature")``
(popgrad.quadrature: 2-D Gauss-Legendre in each pair's plane, split at every threshold, error
estimates checked); compared at 1e-9 relative (vector norm) and within both engines' error bounds.
Monte Carlo: the library's engine (``pg.expectations(..., engine="monte_carlo")``, full Z from the definition
of the model), |z| < 5 per component (false alarm 5.7e-7 each), fixed seeds.
"""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest

import popgrad as pg
from popgrad import activation as act_mod
from popgrad import ste

V_STAR = np.array([1.0, -0.5, 2.0])
W_STAR = np.array([0.6, -1.2, 0.3])
REL = 1e-9


def _close(x, ref, rel=REL):
    x, ref = np.asarray(x), np.asarray(ref)
    return np.linalg.norm(x - ref) <= rel * np.linalg.norm(ref)


TWO_BIT = act_mod.uniform(2, 0.5)
FOUR_BIT = act_mod.uniform(4, 0.15)
ODD = act_mod.staircase([0.8, -0.4, 0.1], [-0.7, 1.0, 1.5])  # negative threshold and a negative jump
CASES = [
    (TWO_BIT, np.array([0.4, 1.1, -0.3]), np.array([0.7, -0.9, 0.5]), ste.clipped_relu(1.5)),
    (TWO_BIT, np.array([-0.2, 0.5, 1.0]), np.array([-0.5, 1.0, 0.1]), ste.identity),
    (FOUR_BIT, np.array([0.9, -0.1, 0.6]), np.array([1.3, -2.0, 0.2]), ste.relu),
    (ODD, np.array([0.3, 0.2, -0.8]), np.array([0.2, 0.4, 1.5]), ste.leaky_relu(0.2)),
]


# pieces with infinite ends (relu, identity, a piece (-inf, 1)) and finite ends at +-1 (where no shortcut applies)
EDGE_STES = [
    ste.relu,
    ste.identity,
    ste.piecewise_constant([1.0], [1.0, 0.0]),
    ste.piecewise_constant([-1.0, 1.0], [0.5, -1.0, 2.0]),
]


# one-step staircases next to the binary step: a threshold or a jump that differs from it alone
ONE_STEP = [act_mod.staircase([1.0], [1.0]), act_mod.staircase([0.0], [1.5]), act_mod.staircase([0.5], [0.75])]


@pytest.mark.parametrize(
    "act", [pg.activation.binary, TWO_BIT, *ONE_STEP], ids=["binary", "two_bit", "t1_j1", "t0_j1.5", "t05_j0.75"]
)
@pytest.mark.parametrize("mu", EDGE_STES, ids=lambda s: s.name)
def test_orthogonal_filters_and_pieces_with_infinite_or_unit_ends(act, mu):
    """w exactly orthogonal to w* (cos theta = 0: an unclipped infinite end times cos would be NaN), pieces
    ending at +-1 (not the binary sigma's 0/infinite shortcut), and one-step staircases that are not the binary
    step (the shortcut must not apply to them): closed forms against the quadrature engine."""
    w_star = np.array([0.0, 2.0, 0.0])
    model = pg.Model(V_STAR, w_star, activation=act)
    v = np.array([0.4, 1.1, -0.3])
    for w in (np.array([0.7, 0.0, 0.0]), np.array([0.7, 0.3, -0.5])):
        ref = pg.expectations(model, v, w, mu, engine="quadrature")
        closed = pg.expectations(model, v, w, mu)
        assert _close(closed.coarse_grad_w.value, ref.coarse_grad_w.value), (w, closed.coarse_grad_w.value)
        assert _close(closed.coarse_grad_v.value, ref.coarse_grad_v.value)


@pytest.mark.parametrize(("act", "v", "w", "mu"), CASES)
def test_staircase_matches_quadrature(act, v, w, mu):
    model = pg.Model(V_STAR, W_STAR, activation=act)
    ref = pg.expectations(model, v, w, mu, engine="quadrature")
    closed = pg.expectations(model, v, w, mu)
    assert _close(model.loss(v, w), ref.loss.value)
    gv, g = model.coarse_grad(v, w, mu)
    assert _close(gv, ref.grad_v.value)
    assert _close(model.grad(v, w)[0], ref.grad_v.value)
    assert _close(model.grad(v, w)[1], ref.grad_w.value)
    assert _close(g, ref.coarse_grad_w.value)
    for key in ("loss", "grad_v", "grad_w", "coarse_grad_w"):
        q, c = getattr(ref, key), getattr(closed, key)
        assert np.all(np.abs(np.asarray(q.value) - c.value) <= np.asarray(q.error) + c.error), key


@pytest.mark.parametrize(("act", "v", "w", "mu", "seed"), [(*c, i) for i, c in enumerate(CASES)])
def test_staircase_matches_literal_monte_carlo(act, v, w, mu, seed):
    model = pg.Model(V_STAR, W_STAR, activation=act)
    est = pg.expectations(model, v, w, mu, engine="monte_carlo", n_samples=200_000, seed=100 + seed)
    gv, g = model.coarse_grad(v, w, mu)
    assert abs(est.loss.z(model.loss(v, w))) < 5
    assert np.all(np.abs(est.grad_v.z(gv)) < 5)
    assert np.all(np.abs(est.grad_w.z(model.grad(v, w)[1])) < 5)
    assert np.all(np.abs(est.coarse_grad_w.z(g)) < 5)


def _mp_loss(act, v, w):
    """f(v, w) at mpmath precision: m, s from Phi; E s(w) s(w*) by 1-D mp.quad (no Owen's T)."""
    t, j = [mp.mpf(x) for x in act.thresholds], [mp.mpf(x) for x in act.jumps]
    w = [mp.mpf(x) for x in w]
    ws = [mp.mpf(float(x)) for x in W_STAR]
    r = mp.sqrt(mp.fsum(x * x for x in w))
    rs = mp.sqrt(mp.fsum(x * x for x in ws))
    rho = mp.fsum(a * b for a, b in zip(w, ws, strict=True)) / (r * rs)
    sd = mp.sqrt(1 - rho**2)

    def mom(rr):
        m = mp.fsum(jk * mp.ncdf(-tk / rr) for tk, jk in zip(t, j, strict=True))
        s2 = mp.fsum(
            jk * jl * mp.ncdf(-max(tk, tl) / rr)
            for tk, jk in zip(t, j, strict=True)
            for tl, jl in zip(t, j, strict=True)
        )
        return m, s2

    m_w, s_ww = mom(r)
    m_s, s_ss = mom(rs)
    # P(X > a, Y > b) = int_a^inf phi(x) P(Y > b | x) dx, Y | x ~ N(rho x, 1 - rho^2)
    s_x = mp.fsum(
        jk
        * jl
        * mp.quad(lambda x, tl=tl: mp.npdf(x) * mp.ncdf((rho * x - tl / rs) / sd), [tk / r, tk / r + 10, mp.inf])
        for tk, jk in zip(t, j, strict=True)
        for tl, jl in zip(t, j, strict=True)
    )
    v = [mp.mpf(float(x)) for x in v]
    vs = [mp.mpf(float(x)) for x in V_STAR]
    sq, one, vv = mp.fsum(x * x for x in v), mp.fsum(v), mp.fsum(a * b for a, b in zip(v, vs, strict=True))
    vs_sq, vs_sum = mp.fsum(x * x for x in vs), mp.fsum(vs)
    e_yy = sq * s_ww + (one**2 - sq) * m_w**2
    e_yys = vv * s_x + (one * vs_sum - vv) * m_w * m_s
    e_ysys = vs_sq * s_ss + (vs_sum**2 - vs_sq) * m_s**2
    return (e_yy - 2 * e_yys + e_ysys) / 2


@pytest.mark.parametrize(("act", "v", "w"), [(TWO_BIT, *CASES[0][1:3]), (ODD, *CASES[3][1:3])])
def test_true_gradient_matches_high_precision_differentiation(act, v, w):
    # directional derivatives along w_hat and u (the gradient lies in span{w_hat, u} by symmetry)
    model = pg.Model(V_STAR, W_STAR, activation=act)
    _, gw = model.grad(v, w)
    w_hat = w / np.linalg.norm(w)
    u = W_STAR - (W_STAR @ w_hat) * w_hat
    u /= np.linalg.norm(u)
    with mp.workdps(20):
        ref = []
        for e in (w_hat, u):

            def f(h, e=e):
                return _mp_loss(act, v, [mp.mpf(float(a)) + h * float(b) for a, b in zip(w, e, strict=True)])

            ref.append(float(mp.diff(f, 0)))
        assert abs(float(_mp_loss(act, v, w)) - model.loss(v, w)) <= 1e-13
    assert _close([gw @ w_hat, gw @ u], ref, rel=1e-10)
    assert abs(gw @ np.cross(w_hat, u)) <= 1e-15 * np.linalg.norm(gw)


def test_staircase_kernels_of_the_binary_step_are_the_binary_kernels():
    """The staircase family's Owen's-T kernels with one threshold 0 and jump 1 are the binary family's
    exact ones: mean 1/2, variance 1/4, variogram theta/pi with gradient -u/(pi |a|)."""
    from popgrad.activation import Activation
    from popgrad.geometry import plane
    from popgrad.kernels.staircase import StaircaseKernels

    rng = np.random.default_rng(7)
    a = rng.normal(size=(40, 3)) * rng.uniform(0.1, 5, size=(40, 1))
    b = rng.normal(size=(40, 3)) * rng.uniform(0.1, 5, size=(40, 1))
    b[0], b[1] = 3 * a[0], -0.2 * a[1]  # theta = 0 and pi
    kern = StaircaseKernels(Activation("step as a staircase", (0.0,), (1.0,)))
    p = plane(a, b)
    mom = kern.moments(p.r)
    np.testing.assert_allclose(mom.mean, 0.5, rtol=0, atol=1e-16)
    np.testing.assert_allclose(mom.var, 0.25, rtol=0, atol=1e-16)
    np.testing.assert_array_equal(mom.d_mean, 0.0)
    vg = kern.variogram(p)
    np.testing.assert_allclose(vg.value, p.theta / np.pi, rtol=0, atol=4e-15)
    np.testing.assert_allclose(vg.d_r, 0.0, rtol=0, atol=1e-15)
    interior = p.sin_theta > 0
    np.testing.assert_allclose(vg.d_u[interior], (-1.0 / (np.pi * p.r))[interior], rtol=1e-13)


def test_upper_orthant_against_mpmath():
    from popgrad.kernels.staircase import upper_orthant

    with mp.workdps(30):
        for a, b, th in [
            (0.3, -0.2, 0.4),
            (-1.0, -2.0, 2.9),
            (0.0, 1.5, 1.0),
            (1.2, 0.0, 2.0),
            (2.0, 2.0, 1e-3),
            (-0.5, 0.5, math.pi - 1e-3),
            (0.0, 0.0, 1.1),
            (-3.0, 1.0, 0.2),
        ]:
            c, s = math.cos(th), math.sin(th)
            ref = mp.quad(lambda x, b=b, c=c, s=s: mp.npdf(x) * mp.ncdf((c * x - b) / s), [a, a + 10, mp.inf])
            assert abs(float(upper_orthant(a, b, c, s)) - ref) <= 4e-15, (a, b, th)  # documented: ~2e-15 near rho = +-1
    # degenerate angles: Y = X and Y = -X
    assert float(upper_orthant(0.3, -0.2, 1.0, 0.0)) == pytest.approx(0.5 * math.erfc(0.3 / math.sqrt(2)), abs=1e-15)
    assert float(upper_orthant(-1.0, -0.5, -1.0, 0.0)) == pytest.approx(
        0.5 * math.erfc(-0.5 / math.sqrt(2)) - 0.5 * math.erfc(1.0 / math.sqrt(2)), abs=1e-15
    )


def test_degenerate_angles_are_limits():
    model = pg.Model(V_STAR, W_STAR, activation=TWO_BIT)
    v = np.array([0.4, 1.1, -0.3])
    perp = np.array([2.0, 1.0, 0.0])
    for sign in (1.0, -1.0):
        w0 = sign * 0.8 * W_STAR
        assert abs(model.loss(v, w0) - model.loss(v, w0 + 1e-9 * perp)) <= 1e-8
        for mu in (ste.identity, ste.relu, ste.clipped_relu(1.5)):
            np.testing.assert_allclose(
                model.coarse_grad(v, w0, mu)[1], model.coarse_grad(v, w0 + 1e-9 * perp, mu)[1], atol=1e-7
            )


def test_loss_at_w_zero_is_sigma_of_zero():
    """The engines refuse w = 0 (no gradient there); the per-sample loss of the library's literal code does not."""
    from popgrad.montecarlo import draw_inputs, per_sample

    act = act_mod.staircase([-0.5, 0.5], [1.0, 2.0])  # sigma(0) = 1
    model = pg.Model(V_STAR, W_STAR, activation=act)
    v = np.array([0.3, 0.2, -0.8])
    loss = per_sample(model, v, np.zeros(3), draw_inputs(np.random.default_rng(9), 100_000, 3, 3)).loss
    est = pg.Quantity(loss.mean(), loss.std(ddof=1) / np.sqrt(loss.size))
    assert abs(est.z(model.loss(v, np.zeros(3)))) < 5


def test_activation_validation():
    with pytest.raises(ValueError, match="zero"):
        act_mod.staircase([0.0, 0.0], [1.0, -1.0])
    with pytest.raises(ValueError, match="step"):
        act_mod.uniform(2, 0.0)
    with pytest.raises(TypeError, match="bits"):
        act_mod.uniform(2.0, 1.0)
    with pytest.raises(TypeError, match="activation"):
        pg.Model(V_STAR, W_STAR, activation="relu")
    assert act_mod.staircase([0.5, 0.0, 0.5], [1.0, 1.0, 1.0]).jumps == (1.0, 2.0)
