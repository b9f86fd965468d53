"""MultiFilterModel: structural identities of the K-filter network, each independent of how it is computed.

The model's function y(Z) = sum_k sum_i V[k, i] sigma(Z_i . w_k) is unchanged by relabelling filters, by splitting a
filter into two copies that share its output weights, and by adding a filter with zero output weights; a filter
at 0 outputs the constant sigma(0).  Each identity compares the closed forms at two different committees, so a
wrong pairwise term shows up as a broken identity.  Finite differences check grad; Monte Carlo and quadrature
(the engines' own tests) check the values.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import popgrad as pg

ACTIVATIONS = {
    "binary": pg.activation.binary,
    "uniform2": pg.activation.uniform(2, 0.5),
    "irregular": pg.activation.staircase([-0.4, 0.3, 1.1], [0.5, 1.0, -0.3]),
}
STES = ("relu", "identity", "clipped_relu", pg.ste.leaky_relu(0.2))


def _problem(seed: int, k: int, k_star: int, m: int, n: int):
    rng = np.random.default_rng(seed)
    return (
        rng.normal(size=(k_star, m)),
        rng.normal(size=(k_star, n)),
        rng.normal(size=(k, m)),
        rng.normal(size=(k, n)) * rng.uniform(0.3, 3.0, size=(k, 1)),
    )


def _all(model, v, w, ste="relu"):
    gv, gw = model.grad(v, w)
    return {"loss": model.loss(v, w), "gv": gv, "gw": gw, "g": model.coarse_grad(v, w, ste)[1]}


def _close(a: dict, b: dict, rtol: float = 1e-13) -> None:
    for key in a:
        scale = max(np.max(np.abs(a[key])), np.max(np.abs(b[key])), 1e-300)
        np.testing.assert_allclose(a[key], b[key], rtol=0, atol=rtol * scale, err_msg=key)


@pytest.mark.parametrize("act", ACTIVATIONS.values(), ids=ACTIVATIONS.keys())
@pytest.mark.parametrize("ste", STES, ids=str)
def test_one_filter_is_the_paper_model(act, ste) -> None:
    vs, ws, v, w = _problem(1, 1, 1, 3, 4)
    multi = pg.MultiFilterModel(vs, ws, act)
    one = pg.Model(vs[0], ws[0], act)
    a = _all(multi, v, w, ste)
    b = _all(one, v[0], w[0], ste)
    _close({k: np.reshape(x, np.shape(b[k])) for k, x in a.items()}, b, rtol=1e-15)


@pytest.mark.parametrize("act", ACTIVATIONS.values(), ids=ACTIVATIONS.keys())
def test_relabelling_filters(act) -> None:
    vs, ws, v, w = _problem(2, 3, 2, 2, 3)
    model = pg.MultiFilterModel(vs, ws, act)
    perm = [2, 0, 1]
    a = _all(model, v, w)
    b = _all(model, v[perm], w[perm])
    _close({"loss": a["loss"], "gv": a["gv"][perm], "gw": a["gw"][perm], "g": a["g"][perm]}, b)
    swapped = pg.MultiFilterModel(vs[::-1], ws[::-1], act)
    _close(a, _all(swapped, v, w))


@pytest.mark.parametrize("act", ACTIVATIONS.values(), ids=ACTIVATIONS.keys())
@pytest.mark.parametrize("ste", STES, ids=str)
def test_splitting_a_filter_into_two_copies(act, ste) -> None:
    """Filters 0 and 1 equal, output weights a and v - a: the same network as one filter with v.

    Loss and the derivative in V are unchanged (split per copy); each copy's coarse gradient is its share,
    g_k = sum_i z_i mu'(z_i.w) V[k, i] e, and the true gradient in w is shared the same way."""
    vs, ws, v, w = _problem(3, 2, 2, 3, 3)
    model = pg.MultiFilterModel(vs, ws, act)
    a = np.array([0.3, -1.2, 0.7])
    v_split = np.stack([a, v[0] - a, v[1]])
    w_split = np.stack([w[0], w[0], w[1]])
    one = _all(model, v, w, ste)
    two = _all(model, v_split, w_split, ste)
    np.testing.assert_allclose(two["loss"], one["loss"], rtol=1e-13)
    np.testing.assert_allclose(two["gv"][[0, 1, 2]], one["gv"][[0, 0, 1]], rtol=1e-12, atol=1e-14)
    # the true gradient of the merged filter is the sum over copies; its coarse gradient too
    np.testing.assert_allclose(two["gw"][0] + two["gw"][1], one["gw"][0], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(two["gw"][2], one["gw"][1], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(two["g"][0] + two["g"][1], one["g"][0], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("act", ACTIVATIONS.values(), ids=ACTIVATIONS.keys())
def test_a_filter_with_zero_output_weights_changes_nothing_else(act) -> None:
    vs, ws, v, w = _problem(4, 2, 3, 2, 4)
    model = pg.MultiFilterModel(vs, ws, act)
    extra_w = np.array([[0.3, -0.8, 1.1, 0.2]])
    v3, w3 = np.concatenate([v, np.zeros((1, 2))]), np.concatenate([w, extra_w])
    a, b = _all(model, v, w), _all(model, v3, w3)
    np.testing.assert_allclose(b["loss"], a["loss"], rtol=1e-13)
    for key in ("gv", "gw", "g"):
        np.testing.assert_allclose(b[key][:2], a[key], rtol=1e-12, atol=1e-14, err_msg=key)
    np.testing.assert_array_equal(b["g"][2], 0.0)  # its coarse gradient carries V[2] = 0


def test_teacher_duplicated_equals_teacher_doubled() -> None:
    """Two identical teacher filters with weights a and b: the teacher with one filter and weights a + b."""
    vs, ws, v, w = _problem(5, 2, 1, 3, 3)
    doubled = pg.MultiFilterModel(np.stack([vs[0] * 0.25, vs[0] * 0.75]), np.stack([ws[0], ws[0]]))
    single = pg.MultiFilterModel(vs, ws)
    _close(_all(doubled, v, w), _all(single, v, w), rtol=1e-13)


@pytest.mark.parametrize("act", ACTIVATIONS.values(), ids=ACTIVATIONS.keys())
def test_zero_filter_outputs_sigma_of_zero(act) -> None:
    """A student filter at 0 outputs the constant sigma(0): the loss is defined (for the binary sigma, sigma(0) = 0
    and it equals the loss of the committee without that filter); the gradients refuse, naming the filter."""
    vs, ws, v, w = _problem(6, 2, 2, 2, 3)
    model = pg.MultiFilterModel(vs, ws, act)
    w0 = w.copy()
    w0[1] = 0.0
    f = model.loss(v, w0)
    assert np.isfinite(f)
    if act.is_binary:  # sigma(0) = 0: the filter contributes nothing
        np.testing.assert_allclose(f, model.loss(v[:1], w[:1]), rtol=1e-13)
    with pytest.raises(ValueError, match=r"zero vector \(at batch index \(\), filter 1\)"):
        model.grad(v, w0)


@pytest.mark.parametrize("act", ACTIVATIONS.values(), ids=ACTIVATIONS.keys())
def test_grad_matches_central_differences(act) -> None:
    vs, ws, v, w = _problem(7, 3, 2, 2, 3)
    model = pg.MultiFilterModel(vs, ws, act)
    gv, gw = model.grad(v, w)
    h = 1e-6
    for x, g, name in ((v, gv, "v"), (w, gw, "w")):
        num = np.zeros_like(x)
        for idx in np.ndindex(x.shape):
            d = np.zeros_like(x)
            d[idx] = h
            args_p = (v + d, w) if name == "v" else (v, w + d)
            args_m = (v - d, w) if name == "v" else (v, w - d)
            num[idx] = (model.loss(*args_p) - model.loss(*args_m)) / (2 * h)
        # central differences: O(h^2) truncation plus rounding ~1e-16/h
        np.testing.assert_allclose(num, g, rtol=0, atol=1e-8 * max(1.0, np.max(np.abs(g))), err_msg=name)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 4), st.integers(1, 4), st.integers(1, 4), st.integers(2, 6), st.integers(0, 2**32 - 1))
def test_correlation_per_filter_sums_to_the_whole_and_matches_dot_products(k, k_star, m, n, seed) -> None:
    vs, ws, v, w = _problem(seed, k, k_star, m, n)
    model = pg.MultiFilterModel(vs, ws)
    c = model.correlation(v, w, "relu")
    _, gw = model.grad(v, w)
    _, g = model.coarse_grad(v, w, "relu")
    dots = np.einsum("kn,kn->k", g, gw)
    scale = np.linalg.norm(g, axis=-1) * np.linalg.norm(gw, axis=-1)
    assert np.all(np.abs(c.inner_w_filters - dots) <= 1e-13 * scale + 1e-300)
    np.testing.assert_allclose(c.inner_w, c.inner_w_filters.sum(), rtol=1e-13, atol=1e-13 * scale.sum())


def test_batch_shapes_and_theta() -> None:
    vs, ws, _, _ = _problem(8, 2, 3, 2, 4)
    model = pg.MultiFilterModel(vs, ws)
    rng = np.random.default_rng(0)
    v = rng.normal(size=(5, 1, 2, 2))
    w = rng.normal(size=(1, 3, 2, 4))
    assert model.loss(v, w).shape == (5, 3)
    gv, gw = model.grad(v, w)
    assert gv.shape == (5, 3, 2, 2) and gw.shape == (5, 3, 2, 4)
    theta = model.theta(w)
    assert theta.shape == (1, 3, 2, 5)
    np.testing.assert_allclose(theta[0, 0, :, 2:], pg.angle(w[0, 0, :, None, :], ws[None, :, :]))
    np.testing.assert_array_equal(np.diagonal(theta[0, 0, :, :2]), 0.0)


@pytest.mark.parametrize(
    ("v", "w", "exc", "match"),
    [
        (np.ones(2), np.ones((1, 4)), ValueError, r"v must have shape \(\.\.\., K, 2\)"),
        (np.ones((2, 2)), np.ones((3, 4)), ValueError, "same number K of filters"),
        (np.ones((1, 3)), np.ones((1, 4)), ValueError, "last axis of length 2"),
        (np.ones((0, 2)), np.ones((0, 4)), ValueError, "at least one filter"),
        (np.ones((1, 2)), [["a", "b", "c", "d"]], TypeError, "w must be an array of real numbers"),
    ],
)
def test_bad_student(v, w, exc, match) -> None:
    vs, ws, _, _ = _problem(9, 1, 2, 2, 4)
    with pytest.raises(exc, match=match):
        pg.MultiFilterModel(vs, ws).loss(v, w)


@pytest.mark.parametrize(
    ("vs", "ws", "match"),
    [
        (np.ones((2, 3)), np.ones((3, 4)), "same number of rows"),
        (np.ones(3), np.ones((1, 4)), "2-dimensional"),
        (np.ones((1, 3)), np.zeros((1, 4)), "non-zero rows"),
    ],
)
def test_bad_teacher(vs, ws, match) -> None:
    with pytest.raises(ValueError, match=match):
        pg.MultiFilterModel(vs, ws)
