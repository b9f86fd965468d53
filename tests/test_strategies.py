"""The hypothesis strategies produce what they promise."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import popgrad as pg
from popgrad.strategies import angles, norms, problems, spurious_teachers, teachers


@given(problems())
def test_problems_have_the_requested_angle_and_norm(pr):
    assert pr.v.shape == (pr.model.m,) and pr.w.shape == (pr.model.n,)
    assert np.all(np.isfinite(pr.v)) and np.all(np.isfinite(pr.w))
    assert np.linalg.norm(pr.w) == np.float64(pr.r) or abs(np.linalg.norm(pr.w) / pr.r - 1) < 1e-14
    assert abs(float(pg.angle(pr.w, pr.model.w_star)) - pr.theta) <= 4e-16 * max(pr.theta, 1.0) + 1e-15
    if pr.model.n == 1:
        assert pr.theta in (0.0, np.pi)


@given(problems(interior=True))
def test_interior_problems(pr):
    assert 0 < pr.theta < np.pi and pr.model.n >= 2


@given(spurious_teachers())
def test_spurious_teachers_meet_the_condition(model):
    s, nn = model.v_star.sum(), model.v_star @ model.v_star
    assert model.m >= 2 and model.n >= 2 and s * s < 0.5 * (model.m + 1) * nn


@given(teachers(m=st.just(1), n=st.just(2)), angles(), norms())
def test_edge_strategies(model, theta, r):
    assert model.m == 1 and model.n == 2
    assert 0.0 <= theta <= np.pi and 1e-8 <= r <= 1e8
