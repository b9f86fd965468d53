"""Claim 2 (Prop. 1, Lemmas 6, 8): critical points, checked against analytic toy cases and by property."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import popgrad as pg
from popgrad.claims import Case, landscape, make_battery
from popgrad.critical import profile, proposition1, search, w_at_angle
from popgrad.strategies import spurious_teachers, teachers


def test_balanced_teacher_by_hand():
    # v* = (1, -1): 1'v* = 0, so alpha = 0: saddle at v = 0, theta = pi/2; spurious v = -v* (vv* = -2 < 0)
    cp = proposition1([1.0, -1.0])
    assert cp.exists and cp.condition == 3.0
    assert cp.saddle_theta == pytest.approx(np.pi / 2, rel=1e-15)
    np.testing.assert_allclose(cp.saddle_v, [0.0, 0.0], atol=1e-15)
    np.testing.assert_allclose(cp.spurious_v, [-1.0, 1.0], rtol=1e-15)
    found = search(pg.Model([1.0, -1.0], [1.0, 0.0]))
    np.testing.assert_allclose(found.saddle_theta, [np.pi / 2], rtol=1e-12)
    assert found.spurious


def test_positive_teacher_has_no_spurious_minimizer():
    # v* = (1, 1), m = 2: (1'v*)^2 = 4 >= (3/2) 2 = 3; theta_saddle = (pi/2) 6/(6-4) = 3pi/2 > pi
    cp = proposition1([1.0, 1.0])
    assert not cp.exists
    assert cp.saddle_theta == pytest.approx(1.5 * np.pi)
    found = search(pg.Model([1.0, 1.0], [0.0, 1.0]))
    assert found.saddle_theta.size == 0 and not found.spurious
    # v_opt(pi) = A^{-1}(11' - I)v* = (1/3, 1/3) with v'v* = 2/3 > 0: f falls as theta leaves pi
    np.testing.assert_allclose(found.spurious_v, [1 / 3, 1 / 3], rtol=1e-14)


def test_n1_spurious_minimizer_where_prop1_says_none():
    # m = n = 1, v* = 1: for w < 0, f(v, w) = (2(v-1)^2 + 4v)/8 = (v^2 + 1)/4 >= 1/4 = f(0, w):
    # (0, w < 0) is a local (not global) minimizer although Prop. 1's condition fails (1 < 1 is false).
    model = pg.Model([1.0], [1.0])
    v = np.linspace(-0.1, 0.1, 21)[:, None]
    w = -np.geomspace(0.5, 2.0, 21)[:, None]
    assert np.all(model.loss(v, w) >= 0.25)
    assert float(model.loss([0.0], [-1.0])) == 0.25 and float(model.loss([1.0], [1.0])) == 0.0
    assert not proposition1([1.0]).exists
    assert search(model).spurious


def test_w_at_angle_and_profile():
    w = w_at_angle([3.0, 4.0, 0.0], np.array([0.0, 1.0, np.pi]), np.array([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(pg.angle(w, [3.0, 4.0, 0.0]), [0.0, 1.0, np.pi], atol=1e-15)
    np.testing.assert_allclose(np.linalg.norm(w, axis=1), [1.0, 2.0, 3.0], rtol=1e-15)
    with pytest.raises(ValueError, match="n = 1"):
        w_at_angle([1.0], 1.0)
    # profile: v_opt solves df/dv = 0 (Lemma 2 by hand: (I + 11')v = ((1 - 2 theta/pi) I + 11')v*)
    model = pg.Model([1.0, -2.0, 0.5], [1.0, 0.0])
    p = profile(model, np.array([0.3, 2.0]))
    a = np.eye(3) + 1
    for t, v in zip(p.theta, p.v_opt, strict=True):
        np.testing.assert_allclose(a @ v, ((1 - 2 * t / np.pi) * np.eye(3) + 1) @ model.v_star, atol=1e-14)


@settings(max_examples=25)
@given(spurious_teachers())
def test_prop1_matches_search(model):
    cp = proposition1(model.v_star)
    found = search(model, n_grid=257)
    assert found.spurious
    assert found.saddle_theta.size == 1
    assert found.saddle_theta[0] == pytest.approx(cp.saddle_theta, abs=1e-9)
    np.testing.assert_allclose(found.saddle_v[0], cp.saddle_v, atol=1e-9 * np.linalg.norm(model.v_star))
    np.testing.assert_allclose(found.spurious_v, cp.spurious_v, atol=1e-12 * np.linalg.norm(model.v_star))


@settings(max_examples=25)
@given(teachers(n=st.integers(2, 5)))
@example(pg.Model([0.0, 2.0, 2.25], [0.0, 1.0]))  # saddle 0.011 from pi, inside the grid's last step
def test_existence_condition_matches_search(model):
    cp = proposition1(model.v_star)
    if abs(cp.condition) < 1e-6 * (model.v_star @ model.v_star):
        return  # on the boundary the spurious point is degenerate (v'v* = 0)
    found = search(model, n_grid=257)
    assert found.spurious == cp.exists
    assert (found.saddle_theta.size == 1) == cp.exists


@settings(max_examples=20)
@given(spurious_teachers())
def test_spurious_minimizer_is_local_min_and_saddle_is_saddle(model):
    cp = proposition1(model.v_star)
    rng = np.random.default_rng(0)
    rise = landscape.perturbation_rise(model, cp.spurious_v, w_at_angle(model.w_star, np.pi, 1.0), rng, 32)
    assert np.all(rise > 0)
    # saddle: moving theta and v along the profile lowers f on both sides
    p = profile(model, cp.saddle_theta + np.array([-1e-3, 0.0, 1e-3]))
    assert p.value[0] < p.value[1] and p.value[2] < p.value[1]


def test_critical_points_claim_on_default_battery(seed0):
    r = seed0["critical_points"]
    assert r.status == "PASS", [c for c in r.checks if not c.holds]
    assert r.values["teachers_with_theta_pi_minimizers"] >= 4


def test_prop1_n1_claim_is_refuted_with_numbers(seed0):
    r = seed0["prop1_n1"]
    assert r.status == "REFUTED" and r.corrected_by == "critical_points" and r.n_points == 1
    assert r.worst.value == 1.0  # the m=3, n=1 teacher: a saddle is predicted, none can exist
    assert r.values["predicted saddles (none can exist)"] == 1


def test_prop1_n1_refutes_both_halves_on_the_thorough_teachers():
    # m = 2, n = 1, v* = (1, 1): (1'v*)^2 = 4 >= (3/2)|v*|^2 = 3, so Prop. 1 says there is no spurious
    # minimizer; yet theta = pi, v = (1/3, 1/3) is a local minimizer with f = 4/6 / |v*|^2 = 1/3 of |v*|^2
    model = pg.Model([1.0, 1.0], [2.0])
    cases = (Case("m=2 n=1 by hand", model, np.zeros((1, 2)), np.ones((1, 1)), np.random.SeedSequence(5)),)
    b = make_battery(0)
    r = landscape.proposition1_n1(type(b)(b.seed, b.thorough, cases, b.n_inits, b.n_quad, b.n_perturb))
    assert r.status == "REFUTED" and r.values["spurious local minimizers where Prop. 1 says none"] == 1
    assert r.checks[2].value == pytest.approx(1 / 3, rel=1e-14)
    # a battery without n = 1 teachers has no counterexample: the refutation is not confirmed
    r = landscape.proposition1_n1(type(b)(b.seed, b.thorough, b.cases[:2], b.n_inits, b.n_quad, b.n_perturb))
    assert r.status == "FAIL"


def test_prop1_spurious_claim_passes(seed0):
    r = seed0["prop1_spurious"]
    assert r.status == "PASS" and r.values["teachers with spurious minimizers (n >= 2, 1'v* != 0)"] >= 4


def test_prop1_sum_zero_refutation_needs_its_counterexample(seed0):
    b = make_battery(0)
    assert seed0["prop1_sum_zero"].status == "REFUTED"
    # without a teacher with 1'v* = 0 the refutation has no counterexample: not confirmed, FAIL
    others = tuple(c for c in b.cases if c.model.v_star.sum() != 0)
    r = landscape.proposition1_sum_zero(type(b)(b.seed, b.thorough, others, b.n_inits, b.n_quad, b.n_perturb))
    assert r.status == "FAIL" and r.n_points == 0
