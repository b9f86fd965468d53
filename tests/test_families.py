"""The families study returns what the closed forms predict (checked against the paper's Lemma 9 / 6 / 8)."""

from __future__ import annotations

import math

import numpy as np

from popgrad.families import spurious_minimizer_v, staircase_study, ste_families

V_STAR = np.array([1.0, 0.5, -0.2, 0.3])  # (1'v*)^2 = 2.56 < (m+1)/2 ||v*||^2 = 3.45: spurious minimizers exist
W_STAR = np.array([0.3, -1.0, 0.2, 0.5, 0.1])


def test_spurious_minimizer_satisfies_its_definition():
    v = spurious_minimizer_v(V_STAR)
    m = V_STAR.size
    np.testing.assert_allclose((np.eye(m) + 1) @ v, (np.ones((m, m)) - np.eye(m)) @ V_STAR, atol=1e-15)
    # Proposition 1: v'v* = 2(1'v*)^2/(m+1) - ||v*||^2
    assert math.isclose(v @ V_STAR, 2 * V_STAR.sum() ** 2 / (m + 1) - V_STAR @ V_STAR, rel_tol=1e-14)


def test_families_match_lemmas_6_8_9():
    res = ste_families(alphas=[0.0, 0.25, 1.0], clips=[0.1, 1.0, 7.0], teachers=[(V_STAR, W_STAR)])
    by = {(r.family, r.param): r for r in res}
    m, s = V_STAR.size, V_STAR.sum()
    lemma9 = 2 * (m - 1) * s**2 / (math.sqrt(2 * math.pi) * (m + 1) ** 2) / (V_STAR @ V_STAR)
    # leaky: E g = alpha E g_id + (1 - alpha) E g_relu and E g_relu = 0 there (Lemma 6)
    for alpha in (0.25, 1.0):
        r = by[("leaky_relu", alpha)]
        assert math.isclose(r.max_norm_at_spurious, alpha * lemma9, rel_tol=1e-12)
        assert not r.vanishes_at_spurious
    assert by[("leaky_relu", 0.0)].vanishes_at_spurious
    for c in (0.1, 1.0, 7.0):  # Lemma 8, for every clipping level
        assert by[("clipped_relu", c)].vanishes_at_spurious
    assert all(r.keeps_correlation for r in res)


def test_staircase_study_runs_and_reports():
    res = staircase_study(bits=(2,), n_teachers=2, n_students=3, fig2_runs=2, fig2_steps=5, fig2_train_steps=50, seed=3)
    assert [r.ste for r in res] == ["identity", "relu", "clipped_relu"]
    for r in res:
        assert r.n_points == 6
        assert 0 <= r.frac_inner_w_negative <= 1 and 0 <= r.frac_no_descent <= 1
        assert -1 <= r.min_cos <= 1
    runs = res[0].fig2["runs"]
    assert len(runs) == 2 and set(runs[0]) >= {"loss_start", "loss_end", "rises", "start_converged", "train_steps"}
    assert res[2].fig2 == {}
    for run in runs:  # the record is consistent with itself
        assert run["rises"] == (run["loss_end"] > run["loss_start"]) and run["loss_max"] >= run["loss_end"]
        assert run["train_steps"] <= 50 and run["w_norm_min"] <= run["w_norm_at_start"]


def test_staircase_descent_is_algorithm_1():
    """The study's descent (popgrad.dynamics) takes the same steps as Algorithm 1 written out here."""
    from popgrad import ste
    from popgrad.activation import uniform
    from popgrad.families import _descend
    from popgrad.models import Model

    rng = np.random.default_rng(7)
    model = Model(rng.normal(size=3), rng.normal(size=4), activation=uniform(2, 0.5))
    v, w = rng.normal(size=(2, 3)), rng.normal(size=(2, 4))
    tr = _descend(model, v, w, ste.clipped_relu(1.5), 0.05, 40)
    for _ in range(40):
        gv, gw = model.coarse_grad(v, w, ste.clipped_relu(1.5))
        v, w = v - 0.05 * gv, w - 0.05 * gw
    np.testing.assert_allclose(tr.v_final, v, rtol=0, atol=1e-14)
    np.testing.assert_allclose(tr.w_final, w, rtol=0, atol=1e-14)
    assert tr.loss.shape == (41, 2)
