"""Degenerate geometry and bad input: documented behaviour, each case tested."""

from __future__ import annotations

import math

import numpy as np
import pytest

import popgrad as pg

STES = ("identity", "relu", "clipped_relu")


@pytest.fixture
def model() -> pg.Model:
    return pg.Model([1.0, -0.5, 2.0], [1.0, 0.0, 0.0])


V = np.array([0.3, 1.0, -0.7])


# -- degenerate geometry ------------------------------------------------------------------------


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_exact_ends_grad_w_is_min_norm_clarke_element(model: pg.Model, sign: float) -> None:
    w = sign * np.array([2.0, 0.0, 0.0])
    assert model.theta(w) == (0.0 if sign > 0 else math.pi)
    _, gw = model.grad(V, w)
    np.testing.assert_array_equal(gw, 0.0)
    corr = model.correlation(V, w)
    assert corr.inner_w == 0.0 and corr.cos_w == 0.0  # cosine with a zero vector: 0 by convention


@pytest.mark.parametrize("end", [0.0, math.pi])
@pytest.mark.parametrize("ste", STES)
def test_coarse_grad_continuous_at_the_ends(model: pg.Model, end: float, ste: str) -> None:
    """theta within 1e-12 of 0 or pi gives finite values continuous with the exact-end limit."""
    exact = np.array([math.cos(end), 0.0, 0.0])
    _, g_end = model.coarse_grad(V, exact, ste)
    for eps in (1e-12, 1e-9, 1e-6):
        near = np.array([math.cos(end), eps, 0.0])
        assert abs(float(model.theta(near)) - abs(end - eps)) <= 1e-15
        _, g = model.coarse_grad(V, near, ste)
        assert np.all(np.isfinite(g))
        assert np.max(np.abs(g - g_end)) <= 10 * eps  # Lipschitz in theta with a modest constant
        assert np.isfinite(model.loss(V, near)) and np.all(np.isfinite(model.grad(V, near)[1]))


def test_relu_second_term_vanishes_at_pi(model: pg.Model) -> None:
    """Lemma 4 at theta = pi: E g_relu = h/(2 sqrt(2 pi)) w_hat only."""
    w = np.array([-3.0, 0.0, 0.0])
    vs = model.v_star
    h = V @ V + V.sum() ** 2 - V.sum() * vs.sum() + V @ vs
    _, g = model.coarse_grad(V, w, "relu")
    np.testing.assert_allclose(g, h / (2 * math.sqrt(2 * math.pi)) * np.array([-1.0, 0.0, 0.0]), rtol=1e-15)


def test_n_equals_one_only_ends() -> None:
    model = pg.Model([1.0, 2.0], [-0.5])
    assert model.theta([3.0]) == math.pi and model.theta([-1e-5]) == 0.0
    _, gw = model.grad([1.0, 1.0], [[3.0], [-2.0]])
    np.testing.assert_array_equal(gw, 0.0)
    for ste in STES:
        assert np.all(np.isfinite(model.coarse_grad([1.0, 1.0], [3.0], ste)[1]))


@pytest.mark.parametrize("r", [1e-300, 1e-8, 1e8, 1e300])
@pytest.mark.parametrize("ste", STES)
def test_huge_and_tiny_norms_are_finite(model: pg.Model, r: float, ste: str) -> None:
    w = r * np.array([0.6, 0.8, 0.0])
    assert np.isfinite(model.loss(V, w))
    gv, gw = model.grad(V, w)
    _, g = model.coarse_grad(V, w, ste)
    assert np.all(np.isfinite(gv)) and np.all(np.isfinite(gw)) and np.all(np.isfinite(g))
    np.testing.assert_allclose(model.loss(V, w), model.loss(V, [0.6, 0.8, 0.0]), rtol=1e-14)


def test_clipped_relu_limits_in_norm(model: pg.Model) -> None:
    """1{0 < z.w < 1} -> 1{z.w > 0} as |w| -> 0 (clipped -> ReLU); E g = O(1/|w|) as |w| -> inf.

    For large r = |w| the window 0 < x < 1/r is thin: c_w, c* and so E g are linear in 1/r to
    first order (a, b are O(1/r^2)), so r E g has a finite limit.
    """
    w = np.array([0.6, 0.8, 0.0])
    np.testing.assert_allclose(
        model.coarse_grad(V, 1e-300 * w, "clipped_relu")[1], model.coarse_grad(V, w, "relu")[1], rtol=1e-15
    )
    limit = 1e300 * model.coarse_grad(V, 1e300 * w, "clipped_relu")[1]
    np.testing.assert_allclose(1e12 * model.coarse_grad(V, 1e12 * w, "clipped_relu")[1], limit, rtol=1e-9)
    assert np.linalg.norm(limit) > 0.01


# -- bad input ----------------------------------------------------------------------------------


def test_w_zero_gradients_raise(model: pg.Model) -> None:
    for call in (model.grad, model.coarse_grad, model.correlation):
        with pytest.raises(ValueError, match=r"w is the zero vector.*discontinuous"):
            call(V, [0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match=r"batch index \(1,\)"):
        model.grad(V, [[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])


@pytest.mark.parametrize(
    ("v", "w", "match"),
    [
        ([1.0, 2.0], [1.0, 0.0, 0.0], "v must have last axis of length 3"),
        (V, [1.0, 0.0], "w must have last axis of length 3"),
        ([np.nan, 1.0, 1.0], [1.0, 0.0, 0.0], "v contains NaN"),
        (V, [np.inf, 0.0, 0.0], "w contains NaN or infinite"),
        (3.0, [1.0, 0.0, 0.0], "v must be a vector"),
        (np.ones((2, 3)), np.ones((3, 3)), "do not broadcast"),
        (np.ones((0, 3)), [1.0, 0.0, 0.0], None),  # an empty batch is fine
    ],
)
def test_bad_values(model: pg.Model, v, w, match) -> None:
    if match is None:
        assert model.loss(v, w).shape == (0,)
        return
    with pytest.raises(ValueError, match=match):
        model.coarse_grad(v, w)


@pytest.mark.parametrize(
    ("v", "match"),
    [
        ("1,2,3", "got a string"),
        ([1 + 1j, 0, 0], "complex"),
        ([True, False, True], "booleans"),
        ([1.0, True, 0.0], "booleans"),  # numpy would make it [1.0, 1.0, 0.0]
        ((2, np.False_, 1), "booleans"),
        ([[1.0, 2.0], [3.0]], "real numbers"),
        ([None, 1.0, 2.0], "real numbers"),
        (["a", "b", "c"], "real numbers"),
    ],
)
def test_bad_types(model: pg.Model, v, match) -> None:
    with pytest.raises(TypeError, match=match):
        model.loss(v, [1.0, 0.0, 0.0])


def test_longdouble_beyond_float64_is_refused(model: pg.Model) -> None:
    with pytest.raises(ValueError, match="v has an entry too large for float64"):
        model.loss(np.array([np.longdouble("1e4000"), 0, 0]), [1.0, 0.0, 0.0])


def test_bad_teacher() -> None:
    with pytest.raises(ValueError, match="w_star is the zero vector"):
        pg.Model([1.0], [0.0, 0.0])
    with pytest.raises(ValueError, match="v_star must be one-dimensional"):
        pg.Model([[1.0]], [1.0])
    with pytest.raises(ValueError, match="w_star must have at least one entry"):
        pg.Model([1.0], [])
    with pytest.raises(TypeError, match="v_star"):
        pg.Model("x", [1.0])


def test_unknown_ste(model: pg.Model) -> None:
    with pytest.raises(ValueError, match="unknown ste 'sigmoid'"):
        model.coarse_grad(V, [1.0, 1.0, 0.0], ste="sigmoid")
    with pytest.raises(TypeError, match="ste must be a name"):
        model.coarse_grad(V, [1.0, 1.0, 0.0], ste=3)


def test_angle_errors() -> None:
    with pytest.raises(ValueError, match="a is the zero vector"):
        pg.angle([0.0, 0.0], [1.0, 0.0])
    with pytest.raises(ValueError, match="b must have last axis of length 2"):
        pg.angle([1.0, 0.0], [1.0, 0.0, 0.0])


def test_teacher_is_read_only(model: pg.Model) -> None:
    with pytest.raises(ValueError, match="read-only"):
        model.v_star[0] = 5.0


def test_stes_pickle_for_worker_processes() -> None:
    import pickle

    x = np.array([-2.0, -0.5, 0.5, 2.0])
    for s in (pg.ste.relu, pg.ste.identity, pg.ste.clipped_relu(2.0), pg.ste.leaky_relu(0.2), pg.ste.hard_tanh()):
        back = pickle.loads(pickle.dumps(s))
        assert back == s
        np.testing.assert_array_equal(back(x), s(x))
        np.testing.assert_array_equal(back.mu_prime(list(x)), s(x))  # any array-like


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda m: m.coarse_grad([1e200, 1.0, 1.0], [0.2, 1.0, -0.4], "identity"), "overflows float64"),
        (lambda m: m.loss([1e200, 1.0, 1.0], [0.2, 1.0, -0.4]), "overflows float64"),
        (lambda m: m.correlation([1e160, 1.0, 1.0], [0.2, 1.0, -0.4]), "overflows float64"),
        (lambda m: m.grad(V, [1e-320, 1e-320, 0.0]), "overflows float64"),
        (lambda m: m.loss([10**400, 1, 1], [0.2, 1.0, -0.4]), "v has an entry too large for float64"),
    ],
)
def test_overflow_is_an_error_not_a_silent_nan(model: pg.Model, call, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call(model)


def test_ste_parameters_are_named() -> None:
    with pytest.raises(TypeError, match="alpha must be a real number"):
        pg.ste.leaky_relu("a")
    with pytest.raises(TypeError, match="c must be a real number"):
        pg.ste.clipped_relu(None)
