"""popgrad.dynamics and claim 6 (Theorems 1, 2)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import popgrad as pg
from popgrad.claims import convergence, make_battery
from popgrad.claims.convergence import classify
from popgrad.critical import proposition1, w_at_angle
from popgrad.dynamics import default_lr, descend, expected_gradient
from popgrad.strategies import teachers


def test_identity_ste_at_the_spurious_point_shrinks_w_linearly_until_it_collapses():
    # At theta = pi, v = v_sp: df/dv = 0 so v stays, and E g_id = c w_hat with c = Lemma 9's norm
    # 2(m-1)(1'v*)^2/(sqrt(2 pi)(m+1)^2): |w| falls by lr*c per step and w collapses at step ceil(r0/(lr c)).
    model = pg.Model([1.0, 1.0, -1.0], [0.0, 1.0])
    v_sp = np.array([-0.5, -0.5, 1.5])  # (I + 11')^{-1}(11' - I)v* = 2(1'v*)/(m+1) 1 - v*, 1'v* = 1, m = 3
    c = 4.0 / (16 * math.sqrt(2 * math.pi))
    lr, r0 = 0.25, 0.1
    tr = descend(model, v_sp, [0.0, -r0], "identity", lr=lr, max_iter=1000)
    assert tr.reason.tolist() == ["w_collapse"]
    assert tr.n_iter[0] == math.ceil(r0 / (lr * c))
    np.testing.assert_allclose(tr.w_norm[:5, 0], r0 - lr * c * np.arange(5), rtol=1e-12)
    np.testing.assert_allclose(tr.v[:, 0], np.broadcast_to(v_sp, tr.v[:, 0].shape), atol=1e-15)
    # the ReLU STE: the same point is a fixed point (Lemma 6)
    tr = descend(model, v_sp, [0.0, -r0], "relu", lr=lr, max_iter=10)
    assert tr.reason.tolist() == ["converged"] and tr.n_iter[0] == 0


def test_descend_batches_and_freezes_finished_runs():
    model = pg.Model([1.0, -0.5, 2.0], [1.0, 1.0])
    v0 = np.array([[0.5, 0.5, 0.5], [1.0, -0.5, 2.0]])  # the second starts at the global minimizer
    w0 = np.array([[1.0, 0.0], [2.0, 2.0]])
    tr = descend(model, v0, w0, "clipped_relu", max_iter=4000)
    assert tr.loss.shape == tr.theta.shape == tr.w_norm.shape == (tr.n_iter.max() + 1, 2)
    assert tr.v.shape == (tr.n_iter.max() + 1, 2, 3) and tr.w.shape == (tr.n_iter.max() + 1, 2, 2)
    assert tr.n_iter[1] == 0 and np.all(tr.loss[:, 1] == 0.0)
    np.testing.assert_array_equal(tr.v_final, tr.v[-1])
    assert tr.converged.tolist() == [True, True]
    scalars = descend(model, v0, w0, "clipped_relu", max_iter=4000, record="scalars")
    assert scalars.v is None and np.array_equal(scalars.loss, tr.loss)


def test_recorded_norms_do_not_overflow_before_the_vectors_do():
    """|w| = 1e160 * sqrt(2) is a float64; np.linalg.norm squares the entries and returned inf."""
    model = pg.Model([1.0, -0.5], [1.0, 0.0])
    tr = descend(model, [0.5, 0.5], [1e160, 1e160], "relu", max_iter=2)
    np.testing.assert_allclose(tr.w_norm[:, 0], np.hypot(tr.w[:, 0, 0], tr.w[:, 0, 1]), rtol=1e-15)
    assert np.all(np.isfinite(tr.grad_v_norm)) and np.all(np.isfinite(tr.grad_w_norm))


def test_descend_validates_its_arguments():
    model = pg.Model([1.0, 1.0], [1.0, 0.0])
    with pytest.raises(ValueError, match="w0"):
        descend(model, [1.0, 1.0], [0.0, 0.0])
    with pytest.raises(ValueError, match="lr"):
        descend(model, [1.0, 1.0], [1.0, 0.0], lr=-1.0)
    with pytest.raises(ValueError, match="record"):
        descend(model, [1.0, 1.0], [1.0, 0.0], record="some")
    with pytest.raises(ValueError, match="v0"):
        descend(model, [1.0, 1.0, 1.0], [1.0, 0.0])
    with pytest.raises(TypeError, match="max_iter"):
        descend(model, [1.0, 1.0], [1.0, 0.0], max_iter=1.5)


def test_custom_oracle_and_stop_rule():
    model = pg.Model([1.0, 2.0], [1.0, 0.0])
    calls = []

    def oracle(v, w, rng):
        calls.append(rng)
        return expected_gradient(model, "relu")(v, w, rng)

    tr = descend(model, [0.0, 0.0], [1.0, 1.0], oracle=oracle, seed=3, stop_when=lambda v, w: v[:, 1] > 0.5)
    assert tr.reason.tolist() == ["stop_when"] and tr.v_final[0, 1] > 0.5 >= tr.v[-2, 0, 1]
    assert all(isinstance(g, np.random.Generator) for g in calls)


@settings(max_examples=12, deadline=None)
@given(teachers(m=st.integers(1, 5), n=st.integers(2, 4)), st.integers(0, 2**32 - 1))
@example(pg.Model([0.0, -2.5, 0.0, -3.0], [0.0, 1.0]), 215)  # f rose at eta = 1/(m+1), |w| ~ 0.2
@example(pg.Model([0.1], [0.0, 1.0]), 0)  # a tiny teacher: 1/|v*|^2 steps before rescaling
def test_theorem2_initialisations_reach_a_global_minimizer(model, seed):
    """Theorem 2 as the convergence claim checks it (popgrad.claims.convergence).

    * Scale: v* -> c v* with v -> c v turns Algorithm 1 at step eta into Algorithm 1 at step c^2 eta,
      so the teacher is rescaled to |v*|^2 = m without loss of generality (a tiny drawn teacher
      otherwise needs ~1/|v*|^2 steps: minutes per example).
    * "eta small enough": the default step 1/(m+1) only bounds the v-curvature; the w-side Lipschitz
      constant (Lemma 3) grows as |w| falls, so a run in which f rises is rerun at eta/4 and eta/16.
    """
    model = pg.Model(model.v_star * np.sqrt(model.m) / np.linalg.norm(model.v_star), model.w_star)
    rng = np.random.default_rng(seed)
    s = model.v_star.sum()
    while True:
        v0 = rng.standard_normal(model.m) * np.linalg.norm(model.v_star)
        if v0 @ model.v_star > 0 and s * v0.sum() <= s * s:
            break
    w0 = w_at_angle(model.w_star, rng.uniform(0.05, np.pi / 2 - 0.05), 1.0)
    for ste in ("relu", "clipped_relu"):
        for factor in (1, 4, 16):
            tr = descend(model, v0, w0, ste, lr=default_lr(model) / factor, max_iter=20000)
            rounding = 8 * np.finfo(float).eps * (1 + np.abs(tr.loss[:-1, 0])) * (1 + model.v_star @ model.v_star)
            if tr.reason[0] == "w_collapse" or np.all(np.diff(tr.loss[:, 0]) <= rounding):
                break
        if tr.reason[0] == "w_collapse":
            continue  # Theorem 1's assumption |w^t| >= c_w fails: outside the theorem
        assert np.all(np.diff(tr.loss[:, 0]) <= rounding), "f rose even at eta/16"
        assert tr.reason[0] == "converged"
        assert np.all(np.einsum("ti,i->t", tr.v[:, 0], model.v_star) > 0) and np.all(tr.theta < np.pi / 2)
        assert classify(model, tr.v_final, tr.theta[-1], tr.loss[-1])[0] == "global"


def test_classify():
    model = pg.Model([1.0, -1.0, 0.5], [1.0, 0.0])
    cp = proposition1(model.v_star)
    v = np.array([model.v_star, cp.spurious_v, cp.saddle_v, [5.0, 5.0, 5.0]])
    theta = np.array([0.0, np.pi, cp.saddle_theta, 1.0])
    w = w_at_angle(model.w_star, theta, 1.0)
    assert classify(model, v, theta, model.loss(v, w)).tolist() == ["global", "spurious", "saddle", "other"]


def test_convergence_claim_on_a_small_battery():
    b = make_battery(0)
    small = type(b)(b.seed, b.thorough, b.cases[:2], 4, b.n_quad, b.n_perturb)
    r = convergence(small)
    assert r.holds, [c for c in r.checks if not c.holds]
    assert r.values["global"] + r.values["spurious"] + r.values["saddle"] > 0


def test_sampled_oracle_is_unbiased_for_the_expected_one():
    # the mean over 400 independent batches of 256 vs Model.coarse_grad: |z| < 5 per component
    from popgrad.dynamics import sampled_gradient

    model = pg.Model([1.0, -0.5, 0.8], [1.0, 0.3, -0.2])
    v, w = np.array([[0.2, 0.4, -0.3]]), np.array([[0.3, 1.0, 0.1]])
    for ste in ("relu", "clipped_relu", pg.ste.resolve("identity")):
        oracle = sampled_gradient(model, ste, batch_size=256)
        rng = np.random.default_rng(5)
        draws = [np.concatenate(oracle(v, w, rng), axis=1)[0] for _ in range(400)]
        draws = np.array(draws)
        exact = np.concatenate(model.coarse_grad(v[0], w[0], ste=ste))
        z = (draws.mean(0) - exact) / (draws.std(0, ddof=1) / np.sqrt(len(draws)))
        assert np.max(np.abs(z)) < 5, (ste, z)


def test_sampled_descent_is_deterministic_given_seed_and_tracks_the_expected_one():
    from popgrad.dynamics import sampled_gradient

    model = pg.Model([1.0, -0.5, 0.8], [1.0, 0.3])
    v0, w0 = np.array([[0.2, 0.4, -0.3], [0.5, 0.5, 0.5]]), np.array([[0.3, 1.0], [-1.0, 0.2]])
    kw = {"max_iter": 40, "c_w": None, "gtol": 0.0}
    exact = descend(model, v0, w0, "relu", **kw)

    def run(batch, seed):
        return descend(model, v0, w0, oracle=sampled_gradient(model, "relu", batch_size=batch), seed=seed, **kw)

    a, b = run(2000, 3), run(2000, 3)
    assert np.array_equal(a.v, b.v) and np.array_equal(a.w, b.w)
    assert not np.array_equal(run(2000, 4).v, a.v)

    def dev(batch):  # largest distance from the expected trajectory over steps, runs and 3 seeds
        return max(np.max(np.abs(run(batch, s).v - exact.v)) for s in range(3))

    small, large = dev(20), dev(2000)
    # batch means' noise shrinks like 1/sqrt(N): 100x the batch, ~10x closer (5x allows for noise)
    assert large < small / 5, (small, large)
    assert np.all(np.diff(exact.loss, axis=0) <= 0)


def test_sampled_oracle_needs_a_generator_and_a_valid_batch():
    from popgrad.dynamics import sampled_gradient

    model = pg.Model([1.0], [1.0, 0.0])
    with pytest.raises(ValueError, match="batch_size"):
        sampled_gradient(model, batch_size=0)
    with pytest.raises(TypeError, match="seed"):
        sampled_gradient(model)(np.ones((1, 1)), np.ones((1, 2)), None)
