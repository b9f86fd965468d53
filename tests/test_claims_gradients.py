"""Claims 3-5 (Lemmas 5-10): correlation, descent, vanishing -- analytic cases and properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from scipy import integrate

import popgrad as pg
from popgrad.claims import descent, make_battery, paper
from popgrad.claims.descent import largest_descending_step
from popgrad.claims.vanishing import approach_path, instability_ratio
from popgrad.critical import proposition1, w_at_angle
from popgrad.strategies import problems, spurious_teachers

EPS = np.finfo(float).eps
STES = ("relu", "clipped_relu", "identity")


def test_pq_against_the_literal_double_integral():
    # p, q straight from the definitions, xi itself by quad (nested): no shared code with paper.pq
    def xi(x):
        return integrate.quad(lambda r: r * r * math.exp(-r * r / 2), 0.0, x)[0]

    for theta, r in [(0.7, 1.0), (2.5, 0.3), (1.2, 4.0)]:
        p_ref = integrate.quad(
            lambda f, r=r: math.cos(f) * xi(1 / (math.cos(f) * r)), -math.pi / 2 + theta, math.pi / 2
        )[0]
        q_ref = integrate.quad(
            lambda f, r=r: math.sin(f) * xi(1 / (math.cos(f) * r)), -math.pi / 2 + theta, math.pi / 2
        )[0]
        p, q, _, _ = paper.pq(theta, r)
        assert p == pytest.approx(p_ref / (2 * math.pi), rel=1e-9)
        assert q == pytest.approx(q_ref / (2 * math.pi), rel=1e-9)


def test_lemma9_norm_by_hand():
    # m = 3, v* = (1, 1, -1): 1'v* = 1; 2(m-1)/(sqrt(2 pi)(m+1)^2) = 4/(16 sqrt(2 pi))
    assert paper.lemma9_norm_at_spurious([1.0, 1.0, -1.0]) == pytest.approx(0.25 / math.sqrt(2 * math.pi), rel=1e-15)
    model = pg.Model([1.0, 1.0, -1.0], [0.0, 1.0])
    v = proposition1(model.v_star).spurious_v
    _, g = model.coarse_grad(v, [0.0, -3.0], ste="identity")
    assert np.linalg.norm(g) == pytest.approx(0.25 / math.sqrt(2 * math.pi), rel=1e-14)


@settings(max_examples=60)
@given(problems(interior=True))
def test_inner_product_matches_lemmas_5_10_and_is_nonnegative(pr):
    model, v, w = pr.model, pr.v, pr.w
    gv, gw = model.grad(v, w)
    s = v.sum()
    scale_g = (v @ v + s * s + abs(s * model.v_star.sum()) + abs(v @ model.v_star)) / math.sqrt(2 * math.pi)
    tol = 64 * (model.n + 4) * EPS * scale_g * np.linalg.norm(gw)
    refs = {
        "relu": paper.inner_lemma5(v, model.v_star, w, model.w_star),
        "identity": paper.inner_lemma10(v, model.v_star, w, model.w_star),
    }
    for ste, ref in refs.items():
        _, g = model.coarse_grad(v, w, ste=ste)
        inner = g @ gw
        assert inner >= -tol
        assert abs(inner - ref) <= tol + 64 * EPS * abs(ref)
        full = gv @ gv + inner
        assert full > 0 or np.linalg.norm(gv) < 1e-12


@settings(max_examples=15)
@given(problems(interior=True))
def test_inner_product_matches_lemma7_by_quadrature(pr):
    model, v, w = pr.model, pr.v, pr.w
    _, gw = model.grad(v, w)
    _, g = model.coarse_grad(v, w, ste="clipped_relu")
    ref, err = paper.inner_lemma7(v, model.v_star, w, model.w_star)
    s = v.sum()
    scale_g = (v @ v + s * s + abs(s * model.v_star.sum()) + abs(v @ model.v_star)) / math.sqrt(2 * math.pi)
    tol = 64 * (model.n + 4) * EPS * scale_g * np.linalg.norm(gw) + 64 * EPS * abs(ref) + err
    assert g @ gw >= -tol
    assert abs(g @ gw - ref) <= tol


@settings(max_examples=40)
@given(problems())
def test_small_steps_descend(pr):
    model = pr.model
    gv, _ = model.grad(pr.v, pr.w)
    assume(np.linalg.norm(gv) > 1e-6 * np.linalg.norm(model.v_star))  # away from critical points
    for ste in STES:
        eta_star, eta_min = largest_descending_step(model, pr.v[None], pr.w[None], ste)
        assert eta_star[0] >= eta_min[0] > 0


@settings(max_examples=20)
@given(spurious_teachers())
# the path reaches t = 2e-16, where <E g_id, df/dw> by a dot product cancelled to a negative number
@example(pg.Model([2.4375, 0.015625, -2.4375], [1.0, 3.0]))
def test_coarse_gradients_vanish_at_critical_points_and_identity_ratio_blows_up(model):
    cp = proposition1(model.v_star)
    vn = np.linalg.norm(model.v_star)
    scale = (vn**2 + model.v_star.sum() ** 2) / math.sqrt(2 * math.pi)
    pts = [(cp.global_v, 0.0), (cp.spurious_v, np.pi), (cp.saddle_v, cp.saddle_theta)]
    for v, theta in pts:
        for r in (1e-3, 1.0, 1e3):
            w = w_at_angle(model.w_star, theta, r)
            for ste in ("relu", "clipped_relu"):
                _, g = model.coarse_grad(v, w, ste=ste)
                assert np.linalg.norm(g) <= 1e3 * EPS * (scale + np.linalg.norm(v) ** 2)
    assume(abs(model.v_star.sum()) > 1e-3 * vn)
    _, vp, wp = approach_path(model, np.ones(model.m) / math.sqrt(model.m))
    ratio = instability_ratio(model, vp, wp, "identity")[-5:]  # t <= 1e-3 tau
    assert np.all(np.diff(ratio) > 0)
    assert ratio[-1] / ratio[0] > 1e3  # ~ 1/t over 4 decades


def test_claims_3_to_5_on_default_battery(seed0):
    for key in ("correlation", "descent", "vanishing"):
        result = seed0[key]
        assert result.status == "PASS", (result.key, [c for c in result.checks if not c.holds])
    assert 0 < seed0["correlation"].values["min_cos_relu"] < 1


def test_descent_claim_accepts_any_ste():
    """Claim 4 with STEs beyond the paper's three (piecewise constant, non-negative mu')."""
    b = make_battery(0)
    small = type(b)(b.seed, b.thorough, b.cases[:3], b.n_inits, b.n_quad, b.n_perturb)
    stes = [pg.ste.leaky_relu(0.5), pg.ste.hard_tanh(), pg.ste.clipped_relu(2.0)]
    result = descent(small, stes=stes)
    assert result.holds, [c for c in result.checks if not c.holds]
    assert {f"min_eta_star_{s.name}" for s in stes} <= set(result.values)
