"""Exact toy cases computed by hand from the model's definition (not from the closed forms).

m = 1, v = v* = 1, w* = e1, w = e2 (theta = pi/2):
  l = 1/2 (s(z2) - s(z1))^2 = 1/2 1{signs differ}       -> f = 1/2 * P(differ) = theta/(2 pi) = 1/4
  dl/dv = s(z2)(s(z2) - s(z1)) = 1{z2>0, z1<0}           -> df/dv = 1/4
  f(theta) = theta/(2 pi), d theta/dw = -u/|w|, u = e1    -> df/dw = -e1/(2 pi)
  g_mu = z mu'(z2)(s(z2) - s(z1)):
    relu:     z 1{z2>0, z1<0}        -> (E z1 1{z1<0} P(z2>0), E z2 1{z2>0} P(z1<0)) = (-phi0/2, phi0/2)
    identity: z (s(z2) - s(z1))      -> (-E z1 1{z1>0}, E z2 1{z2>0}) = (-phi0, phi0)
    clipped:  z 1{0<z2<1} 1{z1<0}    -> (-phi0 (Phi(1) - 1/2), (phi0 - phi(1))/2)
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

import popgrad as pg
from popgrad.claims.paper import pq

PHI0 = 1.0 / math.sqrt(2.0 * math.pi)
E1, E2 = np.array([1.0, 0.0]), np.array([0.0, 1.0])


@pytest.fixture
def toy() -> pg.Model:
    return pg.Model([1.0], E1)


def test_toy_loss_and_grad(toy: pg.Model) -> None:
    assert toy.loss([1.0], E2) == pytest.approx(0.25, rel=1e-15)
    gv, gw = toy.grad([1.0], E2)
    np.testing.assert_allclose(gv, [0.25], rtol=1e-15)
    np.testing.assert_allclose(gw, [-1 / (2 * math.pi), 0.0], rtol=1e-15, atol=1e-300)


@pytest.mark.parametrize(
    ("ste", "expected"),
    [
        ("relu", [-PHI0 / 2, PHI0 / 2]),
        ("identity", [-PHI0, PHI0]),
        ("clipped_relu", [-PHI0 * (norm.cdf(1.0) - 0.5), (PHI0 - norm.pdf(1.0)) / 2]),
    ],
)
def test_toy_coarse_grad(toy: pg.Model, ste: str, expected: list[float]) -> None:
    gv, g = toy.coarse_grad([1.0], E2, ste=ste)
    np.testing.assert_allclose(gv, [0.25], rtol=1e-15)
    np.testing.assert_allclose(g, expected, rtol=1e-14)


def test_toy_scaled_w_only_changes_clipped(toy: pg.Model) -> None:
    """|w| = 2: mu'(z.w) = 1{0 < z2 < 1/2}; ReLU and identity do not see |w|."""
    _, g = toy.coarse_grad([1.0], 2 * E2, ste="clipped_relu")
    np.testing.assert_allclose(g, [-PHI0 * (norm.cdf(0.5) - 0.5), (PHI0 - norm.pdf(0.5)) / 2], rtol=1e-14)
    for ste in ("relu", "identity"):
        np.testing.assert_array_equal(toy.coarse_grad([1.0], 2 * E2, ste)[1], toy.coarse_grad([1.0], E2, ste)[1])


def test_global_minimum_everything_vanishes() -> None:
    model = pg.Model([1.0, -2.0, 0.5], [0.3, -1.0, 2.0])
    v, w = model.v_star, 4.0 * model.w_star  # a power of two: exactly parallel in float64
    assert model.loss(v, w) == 0.0
    # 3 * w* is parallel only up to rounding (theta ~ 1e-17), and the loss sees exactly that
    assert 0.0 < model.loss(v, 3.0 * model.w_star) < 1e-16
    gv, gw = model.grad(v, w)
    assert np.all(gv == 0) and np.all(gw == 0)
    for ste in ("relu", "identity", "clipped_relu"):
        np.testing.assert_allclose(model.coarse_grad(v, w, ste)[1], 0.0, atol=1e-16)


def test_opposite_filter_m1() -> None:
    """theta = pi, m = 1, v = v* = 1: the signs always differ, so l = 1/2 surely."""
    model = pg.Model([1.0], [1.0, 2.0])
    assert model.loss([1.0], [-2.0, -4.0]) == 0.5


def test_w_zero_loss() -> None:
    """w = 0: the student outputs 0, f = E y*^2 / 2 = v*'(I + 11')v*/8."""
    model = pg.Model([1.0, 2.0], [1.0, 0.0])
    assert model.loss([5.0, -1.0], [0.0, 0.0]) == pytest.approx((5 + 9) / 8, rel=1e-15)
    batch = model.loss([5.0, -1.0], [[0.0, 0.0], [0.0, 1.0]])
    assert batch[0] == pytest.approx(14 / 8) and batch[1] == model.loss([5.0, -1.0], [0.0, 1.0])


def test_lemma9_norm_at_spurious_minimizer() -> None:
    """Lemma 9: |E g_id| = 2(m-1)(1'v*)^2 / (sqrt(2 pi)(m+1)^2) at theta = pi, v = (I+11')^-1(11' - I)v*."""
    v_star = np.array([1.0, 0.5, 2.0, -0.25])
    m = v_star.size
    model = pg.Model(v_star, [1.0, 0.0, 0.0])
    v = np.linalg.solve(np.eye(m) + 1.0, (np.ones((m, m)) - np.eye(m)) @ v_star)
    _, g = model.coarse_grad(v, [-1.0, 0.0, 0.0], ste="identity")
    expected = 2 * (m - 1) * v_star.sum() ** 2 / (math.sqrt(2 * math.pi) * (m + 1) ** 2)
    assert np.linalg.norm(g) == pytest.approx(expected, rel=1e-14)
    for ste in ("relu", "clipped_relu"):  # Lemmas 6, 8: these vanish there
        np.testing.assert_allclose(model.coarse_grad(v, [-1.0, 0.0, 0.0], ste)[1], 0.0, atol=1e-15)


@pytest.mark.parametrize("seed", range(4))
def test_correlation_is_lemma_5_7_10(seed: int) -> None:
    """<E g, df/dw> equals the paper's formulas, written here literally."""
    rng = np.random.default_rng(seed)
    m, n = 3, 4
    model = pg.Model(rng.normal(size=m), rng.normal(size=n))
    v, w = rng.normal(size=m), rng.normal(size=n) * 10 ** rng.uniform(-1, 1)
    theta, r, vv = float(model.theta(w)), np.linalg.norm(w), v @ model.v_star
    s3 = math.sqrt(2 * math.pi) ** 3
    lemma5 = math.sin(theta) / (2 * s3 * r) * vv**2
    lemma10 = math.sin(theta) / (s3 * r) * vv**2
    _, q, _, q_err = pq(theta, r)  # Lemma 7's q by quadrature of its definition (no closed form)
    assert q_err < 1e-11
    lemma7 = q / (2 * math.pi * r) * vv**2
    assert model.correlation(v, w, "relu").inner_w == pytest.approx(lemma5, rel=1e-13)
    assert model.correlation(v, w, "identity").inner_w == pytest.approx(lemma10, rel=1e-13)
    assert model.correlation(v, w, "clipped_relu").inner_w == pytest.approx(lemma7, rel=1e-9)
