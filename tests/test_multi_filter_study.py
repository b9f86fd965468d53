"""The multi-filter study (popgrad.multi_filter_study): its parts checked against independent derivations, the
paper's one-filter results (K = K* = 1 as a control), and the Monte Carlo engine (the network's definition, sampled;
it shares no code with the closed forms).

Monte Carlo comparisons use |z| < 5 per component (false-alarm rate ~6e-7 each); "Monte Carlo rejects zero" uses
|z| > 10 for the largest component.  Seeds are fixed, so every run is deterministic.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import popgrad as pg
from popgrad.critical import proposition1
from popgrad.multi_filter_study import (
    battery,
    format_report,
    multi_filter_study,
    relu_identity_law,
)
from popgrad.multi_filter_study.correlation import correlation_study, inner_products, nearest_partner, rounding_bound
from popgrad.multi_filter_study.critical import classify, settle
from popgrad.multi_filter_study.descent import descent_study, step_test
from popgrad.multi_filter_study.grid import KINDS, Config, optimal_v, points
from popgrad.multi_filter_study.kinks import Manifold, snap
from popgrad.multi_filter_study.runs import METHODS, run_pair

C_RELU = 1 / (2 * math.sqrt(2 * math.pi))  # E[z 1{z.a > 0} 1{z.b > 0}] = C_RELU (a_hat + b_hat)

# The smallest counterexample to <E g, df/dW> >= 0: one student filter (m = 1, a committee machine), two teacher
# filters in the plane, the first at an angle 0.1 from the student, the second orthogonal on the other side.
# With n = 2 every u_kb is +-u, and <E g_relu, df/dw> = C_RELU/(2 pi r) (sum_b H_b sin_b e_b)(sum_b H_b e_b)
# = C_RELU/(2 pi) (2 sin 0.1 - 1)(2 - 1) < 0.
DELTA = 0.1
CX = dict(
    v_star=[[-2.0], [-1.0]],
    w_star=[[math.cos(DELTA), math.sin(DELTA)], [0.0, -1.0]],
    v=[[1.0]],
    w=[[1.0, 0.0]],
)


def _unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _law(model, v, w):
    """Independent derivation for the binary sigma, per filter k (module tests docstring of the study):
    df/dw_k = sum_b H_kb u_kb / (2 pi r_k) and the part of E g_relu,k orthogonal to w_k, sum_b H_kb C_RELU P w_b_hat."""
    C = np.concatenate([v, -model.v_star])
    F = np.concatenate([w, model.w_star])
    H = C @ C.T
    out_grad, out_inner = [], []
    for k in range(len(v)):
        wk = _unit(w[k])
        grad, perp = np.zeros(w.shape[1]), np.zeros(w.shape[1])
        for b in range(len(F)):
            if b == k:
                continue
            p = _unit(F[b]) - (_unit(F[b]) @ wk) * wk
            size = np.linalg.norm(p)
            if size > 0:
                grad += H[k, b] * p / size
                perp += H[k, b] * C_RELU * p
        r = np.linalg.norm(w[k])
        out_grad.append(grad / (2 * np.pi * r))
        out_inner.append(perp @ grad / (2 * np.pi * r))
    return np.array(out_grad), np.array(out_inner)


# -- the battery ------------------------------------------------------------------------------------------------


def test_battery_kinds_collisions_and_optimal_v():
    rng = np.random.default_rng(1)
    pts = points(rng, Config(3, 2, 4, 5), 6)
    assert pts.v.shape == (24, 3, 4) and pts.w.shape == (24, 3, 5) and list(pts.kind[::6]) == list(KINDS)
    sin, _ = nearest_partner(pts.model, pts.w)
    collided = np.isin(pts.kind, ["collision", "collision, V optimal"])
    assert np.all(sin[collided].min(axis=-1) <= np.sin(10**-0.5) * (1 + 1e-12))
    gv, _ = pts.model.grad(pts.v, pts.w)
    optimal = np.char.endswith(pts.kind.astype(str), "V optimal")
    assert np.max(np.abs(gv[optimal])) < 1e-13 and np.min(np.max(np.abs(gv[~optimal]), axis=(1, 2))) > 1e-3


def test_optimal_v_of_one_filter_is_lemma_1_solution():
    v_star, w_star = np.array([1.0, -0.5, 2.0]), np.array([1.0, 0.0, 0.0])
    model = pg.MultiFilterModel([v_star], [w_star])
    theta = np.array([0.3, 1.7, np.pi])
    w = np.stack([np.cos(theta), np.sin(theta), 0 * theta], axis=-1)[:, None]
    m = v_star.size
    ones = np.ones((m, m))
    # Lemma 1: f is (1/8)[v'(I+11')v - 2 v'((1 - 2 theta/pi) I + 11') v* + ...]
    expected = [np.linalg.solve(np.eye(m) + ones, ((1 - 2 * t / np.pi) * np.eye(m) + ones) @ v_star) for t in theta]
    np.testing.assert_allclose(optimal_v(model, w)[:, 0], expected, rtol=0, atol=1e-13)


# -- correlation ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("k", "k_star", "m", "n"), [(1, 2, 1, 2), (2, 2, 3, 4), (3, 1, 2, 5), (4, 3, 2, 3)])
def test_per_filter_inner_product_law(k, k_star, m, n):
    """The closed forms' df/dW and per-filter <E g_relu, df/dw_k> against the independent derivation in _law; the
    identity STE gives exactly twice the ReLU's inner products."""
    rng = np.random.default_rng(k * 100 + k_star * 10 + m)
    pts = points(rng, Config(k, k_star, m, n), 3)
    model = pts.model
    sin, _ = nearest_partner(model, pts.w)
    for v, w, s in zip(pts.v, pts.w, sin.min(axis=-1), strict=True):
        grad, inner = _law(model, v, w)
        _, gw = model.grad(v, w)
        # _law's plain projection loses digits like eps / sin(theta) next to a collision
        loss_of_digits = 1e-13 / min(1.0, s)
        np.testing.assert_allclose(gw, grad, rtol=0, atol=loss_of_digits * np.abs(grad).max())
        c = model.correlation(v, w, "relu").inner_w_filters
        np.testing.assert_allclose(c, inner, rtol=0, atol=loss_of_digits * np.abs(inner).max())
        np.testing.assert_allclose(model.correlation(v, w, "identity").inner_w_filters, 2 * c, rtol=1e-13, atol=0)


def test_inner_products_within_their_bound_of_a_50_digit_evaluation():
    """A V-optimal point where filter 0 has V_0 ~ 1e-16 and gradients ~ 1e-32 (cancellation): the study's dot products
    of the closed-form vectors stay within their rounding bound of the per-filter law evaluated with 50 digits."""
    import mpmath as mp

    vs, ws = [[-1.0429007228994265]], [[0.9208595893947553, -0.32342807721055006]]
    v = np.array([[-9.181342150456914e-17], [-1.0428162499458173], [-8.447295360898172e-05]])
    w = np.array(
        [
            [0.0644943111705343, 0.08731524267005678],
            [8.296172159991473, -2.912800160518572],
            [-0.05098093632003763, -0.4530332887971006],
        ]
    )
    model = pg.MultiFilterModel(vs, ws)
    got = inner_products(model, v[None], w[None], "relu")
    with mp.workdps(50):
        C = [[mp.mpf(x) for x in row] for row in np.concatenate([v, -np.array(vs)])]
        F = [[mp.mpf(x) for x in row] for row in np.concatenate([w, np.array(ws)])]
        for k in range(3):
            r = mp.sqrt(mp.fsum(t * t for t in F[k]))
            wk = [t / r for t in F[k]]
            grad, perp = [mp.mpf(0)] * 2, [mp.mpf(0)] * 2
            for b in range(4):
                if b == k:
                    continue
                wb = [t / mp.sqrt(mp.fsum(x * x for x in F[b])) for t in F[b]]
                c = mp.fsum(x * y for x, y in zip(wb, wk, strict=True))
                p = [x - c * y for x, y in zip(wb, wk, strict=True)]
                h = mp.fsum(x * y for x, y in zip(C[k], C[b], strict=True))
                size = mp.sqrt(mp.fsum(t * t for t in p))
                grad = [g + h * x / size for g, x in zip(grad, p, strict=True)]
                perp = [q + h * x / (2 * mp.sqrt(2 * mp.pi)) for q, x in zip(perp, p, strict=True)]
            exact = mp.fsum(x * y / (2 * mp.pi * r) for x, y in zip(perp, grad, strict=True))
            assert abs(got["inner_f"][0, k] - float(exact)) <= got["bound_f"][0, k]
    assert np.all(np.abs(got["cos_f"]) <= 1 + 1e-12)


def test_positive_correlation_fails_with_two_teacher_filters_confirmed_by_monte_carlo():
    model = pg.MultiFilterModel(CX["v_star"], CX["w_star"])
    v, w = np.array(CX["v"]), np.array(CX["w"])
    corr = model.correlation(v, w, "relu")
    predicted = C_RELU / (2 * np.pi) * (2 * np.sin(DELTA) - 1) * (2 - 1)
    assert math.isclose(float(corr.inner_w), predicted, rel_tol=1e-13)
    assert corr.inner_w < -1e6 * rounding_bound(model, v, w, "relu").sum()
    # Monte Carlo of E g and f against finite differences of the closed-form loss (checked by Monte Carlo here)
    mc = pg.expectations(model, v, w, "relu", engine="monte_carlo", n_samples=1_000_000, seed=11)
    assert abs(mc.loss.z(model.loss(v, w))) < 5
    h = 1e-6
    fd = np.array([(model.loss(v, w + h * e) - model.loss(v, w - h * e)) / (2 * h) for e in np.eye(2)[:, None, :]])
    _, gw = model.grad(v, w)
    np.testing.assert_allclose(fd.reshape(1, 2), gw, rtol=0, atol=1e-8)
    assert np.all(np.abs(mc.coarse_grad_w.z(model.coarse_grad(v, w, "relu")[1])) < 5)
    g, se = mc.coarse_grad_w.value, mc.coarse_grad_w.error
    inner_mc, inner_se = float(np.sum(g * gw)), float(np.sqrt(np.sum((se * gw) ** 2)))
    assert inner_mc < -10 * inner_se  # Monte Carlo alone rejects a non-negative inner product


def test_correlation_study_counts_are_consistent():
    bat = battery(seed=3, per_kind=2)[:16]  # K = 1 (K* = 1..4) and K = 2, K* = 1..4 for m = 1, 2, 4, 8
    rows = correlation_study(bat)
    assert [r.ste for r in rows] == ["relu", "clipped_relu", "identity"]
    for r in rows:
        assert r.n_points == sum(len(p.v) for p in bat) and r.n_filters == sum(p.v.shape[0] * p.v.shape[1] for p in bat)
        for by in (r.by_kind, r.by_pair, r.by_m, r.by_n):
            assert sum(f for f, _ in by.values()) == r.fail_w and sum(t for _, t in by.values()) == r.n_points
        assert sum(row[2] for row in r.by_sin) == r.fail_filters == sum(r.by_partner.values())
        assert sum(row[3] for row in r.by_sin) == r.n_filters
        assert -1 <= r.worst_cos_w <= 1 or r.worst_cos_w == np.inf
        assert r.by_pair.get("K=1 K*=1", [0, 0])[0] == 0  # the paper's model: Lemmas 5, 7, 10
    by = {r.ste: r for r in rows}
    assert by["relu"].fail_w == by["identity"].fail_w and by["relu"].fail_filters == by["identity"].fail_filters
    assert relu_identity_law(bat) <= 1.0


# -- descent --------------------------------------------------------------------------------------------------


def test_no_descent_at_the_counterexample_with_optimal_v():
    model = pg.MultiFilterModel(CX["v_star"], CX["w_star"])
    w = np.array(CX["w"])[None]
    v = optimal_v(model, w)
    for ste in ("relu", "identity"):  # with V optimal the first-order change is eta * <E g, df/dW> < 0
        r = step_test(model, v, w, ste)
        assert r["no_descent"].tolist() == [True] and r["rate"][0] < 0
        _, g = model.coarse_grad(v, w, ste)
        assert model.loss(v, w - 1e-4 * g) > model.loss(v, w)
    # at a random point nearby (dL/dV large) the steps descend
    r = step_test(model, np.array([[[0.3]]]), w, "relu")
    assert not r["no_descent"][0] and r["eta_star"][0] > 0


def test_descent_study_failures_have_a_negative_rate_or_a_collision():
    bat = battery(seed=5, per_kind=2)[::4]
    for row in descent_study(bat):
        assert row.critical == 0 and row.positive_rate_max_sin < 1e-3
        assert row.by_kind["random"][0] == 0  # dL/dV dominates off V-optimal points


# -- kinks and critical points --------------------------------------------------------------------------------


def _teacher_with_spurious(m=4, n=5):
    v_star = np.array([1.0, 0.5, -0.2, 0.3])[:m]  # (1'v*)^2 < (m+1)/2 |v*|^2 and 1'v* != 0
    w_star = np.array([0.3, -1.0, 0.2, 0.5, 0.1])[:n]
    return v_star, w_star


def test_snap_makes_collisions_exact_and_the_manifold_gradient_is_its_derivative():
    rng = np.random.default_rng(2)
    model = pg.MultiFilterModel(rng.standard_normal((2, 3)), rng.standard_normal((2, 4)))
    w = rng.standard_normal((3, 4))
    w[0] = -2.7 * model.w_star[1] + 1e-3 * rng.standard_normal(4)  # antiparallel to a teacher filter
    w[2] = 0.4 * w[1] + 1e-3 * rng.standard_normal(4)  # parallel to another student filter
    v, w1, groups = snap(model, rng.standard_normal((3, 3)), w)
    theta = model.theta(w1)
    assert theta[0, 3 + 1] == np.pi and theta[1, 2] == 0.0 and theta[2, 1] == 0.0
    assert sorted((g.teacher, g.members) for g in groups) == [(-1, (1, 2)), (1, (0,))]
    gv, _ = model.grad(v, w1)
    assert np.abs(gv).max() < 1e-13  # V re-solved
    man = Manifold(model, v, w1, groups)
    x = man.x0() + 0.01 * rng.standard_normal(man.dim)
    h = 1e-6
    fd = [(man.loss((x + h * e)[None]) - man.loss((x - h * e)[None]))[0] / (2 * h) for e in np.eye(man.dim)]
    np.testing.assert_allclose(man.grad(x[None])[0], fd, rtol=0, atol=1e-8)


def test_one_filter_control_classifies_proposition_1():
    """K = K* = 1: the global minimizer, Prop. 1's saddle and spurious minimizer, classified without Prop. 1; the
    ReLU and clipped-ReLU coarse gradients vanish at the spurious minimizer, the identity's has Lemma 9's norm."""
    v_star, w_star = _teacher_with_spurious()
    model = pg.MultiFilterModel([v_star], [w_star])
    cp = proposition1(v_star)
    rng = np.random.default_rng(0)
    w_hat = w_star / np.linalg.norm(w_star)
    perp = _unit(np.array([1.0, 0.3, 0.0, 0.0, 0.0]) - (np.array([1.0, 0.3, 0, 0, 0]) @ w_hat) * w_hat)
    glob = classify(model, v_star[None], 2.0 * w_star[None], rng)
    assert glob.label == "global" and all(glob.coarse_vanishes.values())
    w_saddle = (np.cos(cp.saddle_theta) * w_hat + np.sin(cp.saddle_theta) * perp)[None]
    assert classify(model, cp.saddle_v[None], w_saddle, rng).label == "saddle"
    sp = classify(model, cp.spurious_v[None], -w_star[None], rng)
    assert sp.label == "spurious minimum" and sp.rise_min >= 0 and sp.hess_min > 0
    assert sp.coarse_vanishes["relu"] and sp.coarse_vanishes["clipped_relu"] and not sp.coarse_vanishes["identity"]
    m, s = v_star.size, v_star.sum()
    lemma9 = 2 * (m - 1) * s**2 / (math.sqrt(2 * math.pi) * (m + 1) ** 2) / max(1.0, v_star @ v_star)
    assert math.isclose(sp.coarse_norm["identity"], lemma9, rel_tol=1e-12)


def test_two_filter_spurious_minimum_where_no_coarse_gradient_vanishes():
    """K = K* = 2: student filter 0 antiparallel to teacher filter 0, filter 1 on teacher filter 1, V optimal.  It is
    a spurious local minimum (perturbations at radii 1e-2 .. 1e-5 never lower f), and, unlike K = 1, the ReLU and
    clipped-ReLU coarse gradients do not vanish there: Monte Carlo rejects 0."""
    v_star = np.array([[1.0, 0.5, -0.2, 0.3], [0.4, -1.0, 0.8, 0.2]])
    w_star = np.array([[0.3, -1.0, 0.2, 0.5, 0.1], [0.6, 0.2, -0.4, 0.1, 0.9]])
    model = pg.MultiFilterModel(v_star, w_star)
    w = np.array([-w_star[0], w_star[1]])
    v = optimal_v(model, w[None])[0]
    rng = np.random.default_rng(4)
    f0 = model.loss(v, w)
    assert f0 > 1e-3
    for rho in (1e-2, 1e-3, 1e-4, 1e-5):  # an independent perturbation test
        d = _unit(rng.standard_normal((256, v.size + w.size)))
        dv, dw = d[:, : v.size].reshape(-1, *v.shape), d[:, v.size :].reshape(-1, *w.shape)
        assert np.min(model.loss(v + rho * dv, w + rho * dw)) >= f0
    e = classify(model, v, w, rng)
    assert e.label == "spurious minimum" and not any(e.coarse_vanishes.values())
    mc = pg.expectations(model, v, w, ["relu", "clipped_relu"], engine="monte_carlo", n_samples=400_000, seed=21)
    for ste, est in mc.items():
        assert np.all(np.abs(est.coarse_grad_w.z(model.coarse_grad(v, w, ste)[1])) < 5)
        assert np.max(np.abs(est.coarse_grad_w.z(0.0))) > 10


def test_settle_continues_an_unfinished_descent_to_a_critical_point():
    v_star, w_star = _teacher_with_spurious()
    model = pg.MultiFilterModel([v_star], [w_star])
    rng = np.random.default_rng(3)
    v, w = settle(model, rng.standard_normal((1, 4)), np.array([[0.2, 1.0, 0.5, -0.3, 0.8]]))
    assert classify(model, v, w, rng).label in ("global", "spurious minimum")


# -- runs and the study ---------------------------------------------------------------------------------------


def test_run_pair_records_every_method():
    r = run_pair(2, 1, 2, 3, starts=3, steps=40, rng=np.random.default_rng(0))
    assert (r.k, r.k_star, r.starts, r.steps) == (2, 1, 3, 40) and math.isclose(r.lr, 1 / (2 * 3))
    for method in METHODS:
        assert 0 <= r.reached_global[method] + r.stalled[method] <= 3 and 0 <= r.rises[method] <= 3
    assert sum(r.endpoints.values()) == sum(r.settled.values()) == 3
    assert sum(s["runs"] for s in r.spurious) == r.settled.get("spurious minimum", 0)


def test_study_smoke_json_and_report():
    s = multi_filter_study(seed=1, per_kind=1, pairs=((1, 1),), starts=2, steps=20, m=2, n=3)
    assert s.n_configs == 64 and s.n_points == 64 * 4
    assert s.sizes == {"per_kind": 1, "teachers": 1, "starts": 2, "steps": 20}
    d = json.loads(json.dumps(s.to_dict()))
    assert d["runs"][0]["k"] == 1 and len(d["correlation"]) == 3
    text = format_report(s)
    assert "correlation" in text and "descent" in text and "K=1 K*=1" in text


def test_study_rejects_bad_sizes():
    with pytest.raises(ValueError, match="K >= K"):
        multi_filter_study(pairs=((1, 2),))
    with pytest.raises(TypeError, match="starts"):
        multi_filter_study(starts=2.5)
    with pytest.raises(ValueError, match="steps"):
        multi_filter_study(steps=0)


def test_cli_multi_filter(monkeypatch, capsys):
    from popgrad import cli
    from popgrad import multi_filter_study as study

    full = study.multi_filter_study

    def tiny(**kwargs):
        assert kwargs == {"seed": 2, "thorough": False, "progress": False, "starts": 2, "steps": 10, "per_kind": 1}
        return full(**kwargs, pairs=((1, 1),), m=2, n=3)

    monkeypatch.setattr(study, "multi_filter_study", tiny)
    assert cli.main(["multi-filter", "--seed", "2", "--starts", "2", "--steps", "10", "--per-kind", "1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["seed"] == 2 and data["sizes"] == {"per_kind": 1, "teachers": 1, "starts": 2, "steps": 10}
    monkeypatch.setattr(study, "multi_filter_study", full)
    assert cli.main(["multi-filter", "--steps", "0"]) == 2
    assert "steps" in capsys.readouterr().err


# -- popgrad.dynamics with K filters ----------------------------------------------------------------------------


def test_descend_one_filter_committee_tracks_the_model():
    from popgrad.dynamics import descend

    v_star, w_star = _teacher_with_spurious()
    one, multi = pg.Model(v_star, w_star), pg.MultiFilterModel([v_star], [w_star])
    rng = np.random.default_rng(0)
    v0, w0 = rng.standard_normal((5, 4)), rng.standard_normal((5, 5))
    for ste in ("relu", "clipped_relu", "identity"):
        a = descend(one, v0, w0, ste, max_iter=300)
        b = descend(multi, v0[:, None], w0[:, None], ste, max_iter=300)
        assert a.lr == b.lr and a.reason.tolist() == b.reason.tolist() and np.array_equal(a.n_iter, b.n_iter)
        np.testing.assert_allclose(b.v_final[:, 0], a.v_final, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(b.w_final[:, 0], a.w_final, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(b.loss, a.loss, rtol=1e-9, atol=1e-14)
        np.testing.assert_allclose(b.theta[..., 0, 1], a.theta, rtol=0, atol=1e-9)
        assert b.w_norm.shape == (*a.w_norm.shape, 1) and b.v.shape == (*a.v.shape[:2], 1, 4)


def test_descend_k_filters_shapes_rules_and_oracles():
    from popgrad.dynamics import default_lr, descend, sampled_gradient, true_gradient

    model = pg.MultiFilterModel([[1.0, 0.5], [-0.5, 1.0]], [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    rng = np.random.default_rng(1)
    v0, w0 = rng.standard_normal((4, 3, 2)), rng.standard_normal((4, 3, 3))
    tr = descend(model, v0, w0, "clipped_relu", max_iter=50, record="all")
    assert tr.v.shape == (51, 4, 3, 2) and tr.theta.shape == (51, 4, 3, 5) and tr.w_norm.shape == (51, 4, 3)
    assert tr.lr == default_lr(model, 3) == 1 / 9
    gd = descend(model, v0, w0, oracle=true_gradient(model), max_iter=1, record="all")
    gv, gw = model.grad(v0, w0)
    np.testing.assert_allclose(gd.v[1], v0 - gd.lr * gv, rtol=0, atol=1e-15)
    np.testing.assert_allclose(gd.w[1], w0 - gd.lr * gw, rtol=0, atol=1e-15)

    # one filter reaching 0 stops its run before the step; one collapsing stops it after
    def to_zero(v, w, rng):  # w - 0.5 (2 w) = 0 exactly for filter 1 (powers of two)
        gw = np.zeros_like(w)
        gw[:, 1] = 2 * w[:, 1]
        return np.zeros_like(v), gw

    tr = descend(model, v0[:2], w0[:2], oracle=to_zero, lr=0.5, max_iter=5)
    assert tr.reason.tolist() == ["w_zero", "w_zero"] and tr.n_iter.tolist() == [0, 0]
    tr = descend(model, v0[:1], w0[:1], "relu", max_iter=5, c_w=10.0)
    assert tr.reason.tolist() == ["w_collapse"] and tr.n_iter.tolist() == [1]
    with pytest.raises(ValueError, match="v0"):
        descend(model, v0[0, 0], w0)
    with pytest.raises(ValueError, match="same number K"):
        descend(model, v0[:, :2], w0)
    with pytest.raises(ValueError, match="w0 contains a zero"):
        descend(model, v0, np.zeros_like(w0))
    # the sampled oracle (per-sample gradients of the literal network) averages to the expected one
    sampled = sampled_gradient(model, "relu", batch_size=20_000)
    gen = np.random.default_rng(5)
    draws = [sampled(v0[:1], w0[:1], gen) for _ in range(20)]
    exact = model.coarse_grad(v0[:1], w0[:1], "relu")
    for part in (0, 1):
        x = np.stack([d[part] for d in draws])
        z = (x.mean(0) - exact[part]) / (x.std(0, ddof=1) / np.sqrt(len(x)))
        assert np.all(np.abs(z) < 5)  # 20 batch means: |z| < 5, a t(19) false-alarm rate of ~1e-4 per component
