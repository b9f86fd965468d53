"""The closed forms on JAX arrays: JAX in, JAX out, under jit, grad, vmap and hessian, equal to the numpy path.

Every comparison is with the numpy closed forms (the reference, unchanged by the Array API port) or with an
exact identity of the model (Lemma 1's Hessian in ``v``; Proposition 1's classification).  float64 throughout
(``jax_enable_x64`` for each test).  Skipped when JAX is not installed (it is part of the ``test`` extra).
"""

from __future__ import annotations

import numpy as np
import pytest

import popgrad as pg
from popgrad import critical
from popgrad.claims.autodiff import autodiff_gap
from tests._namespaces import closed_forms, problem, worst_difference

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")

POINTS = 1000
EQUAL = 1e-13  # normwise relative difference JAX vs numpy per point and quantity


@pytest.fixture(autouse=True)
def _x64():
    with jax.enable_x64(True):
        yield


def _problem(kind: str):
    rng = np.random.default_rng(14)
    return problem(rng, POINTS, 4, 5) if kind == "paper" else problem(rng, POINTS, 3, 4, k=2, k_star=2)


def _assert_equal(model, v, w, got: dict, ref: dict) -> None:
    for key, x in got.items():
        assert isinstance(x, jax.Array) and x.dtype == jnp.float64, key
    worst = worst_difference(model, v, w, got, ref)
    bad = {k: rel for k, (rel, _) in worst.items() if not rel <= EQUAL}
    assert not bad, bad


@pytest.mark.parametrize("kind", ["paper", "committee"])
def test_jax_arrays_in_jax_arrays_out(kind: str) -> None:
    model, v, w = _problem(kind)
    _assert_equal(model, v, w, closed_forms(model, jnp.asarray(v), jnp.asarray(w)), closed_forms(model, v, w))


@pytest.mark.parametrize("kind", ["paper", "committee"])
def test_jit_equals_numpy(kind: str) -> None:
    model, v, w = _problem(kind)
    got = jax.jit(lambda a, b: closed_forms(model, a, b))(jnp.asarray(v), jnp.asarray(w))
    _assert_equal(model, v, w, got, closed_forms(model, v, w))


def test_vmap_equals_batch() -> None:
    model, v, w = _problem("paper")
    loss = jax.vmap(lambda a, b: model.loss(a, b))(jnp.asarray(v), jnp.asarray(w))
    ref = model.loss(v, w)
    assert np.max(np.abs(np.asarray(loss) - ref) / np.abs(ref)) <= EQUAL


def test_grad_of_loss_is_lemma2() -> None:
    """Autodiff of Lemma 1's implementation against Lemma 2's (``popgrad.claims.autodiff``), 1000 points."""
    model, v, w = _problem("paper")
    gap, points = autodiff_gap(model, v, w)
    assert points == POINTS and gap <= 1e-12


def test_grad_of_committee_loss() -> None:
    model, v, w = _problem("committee")
    total = jax.jit(jax.grad(lambda a, b: jnp.sum(model.loss(a, b)), argnums=(0, 1)))
    for a, b in zip(total(jnp.asarray(v), jnp.asarray(w)), model.grad(v, w), strict=True):
        rel = np.linalg.norm(np.asarray(a) - b, axis=(-2, -1)) / np.linalg.norm(b, axis=(-2, -1))
        assert np.max(rel) <= 1e-12


def _f_v_theta(model: pg.Model, direction: np.ndarray):
    """``f(v, w_theta)`` with ``w_theta = cos(theta) w*^ + sin(theta) d`` (``d`` a unit vector orthogonal to w*)."""
    w_hat = model.w_star / np.linalg.norm(model.w_star)

    def f(x):
        theta = x[-1]
        return model.loss(x[:-1], jnp.cos(theta) * w_hat + jnp.sin(theta) * direction)

    return f


def test_hessian_at_proposition1_points_agrees_with_its_classification() -> None:
    """Lemma 1: f is quadratic in v with Hessian (I + 11^T)/4 and linear in theta.  At Prop. 1's saddle the
    gradient in (v, theta) vanishes and the Hessian has a negative eigenvalue; at its spurious minimizer
    (theta = pi) and at the global minimizer (theta = 0) the gradient in v vanishes, the Hessian in v is positive
    definite and f rises as theta leaves the end (one-sided slope, taken 1e-3 inside)."""
    v_star = np.array([1.0, -0.5, 0.8, -1.1])
    model = pg.Model(v_star, np.array([0.3, -1.0, 0.4, 2.0, 0.1]))
    cp = critical.proposition1(v_star)
    assert cp.exists and 0 < cp.saddle_theta < np.pi
    d = critical.w_at_angle(model.w_star, np.pi / 2)
    f = _f_v_theta(model, d / np.linalg.norm(d))
    a = (np.eye(4) + np.ones((4, 4))) / 4
    for v, theta, kind in [(cp.saddle_v, cp.saddle_theta, "saddle"), (cp.spurious_v, np.pi, "min"), (v_star, 0, "min")]:
        grad = np.asarray(jax.grad(f)(jnp.asarray(np.append(v, theta))))
        np.testing.assert_allclose(grad[:4], 0.0, atol=1e-14)
        # at the ends f is not twice differentiable in w (theta is a kink): the Hessian 1e-3 inside
        inside = theta if kind == "saddle" else theta + (1e-3 if theta == 0 else -1e-3)
        at = jnp.asarray(np.append(v, inside))
        hess = np.asarray(jax.hessian(f)(at))
        np.testing.assert_allclose(hess[:4, :4], a, rtol=1e-13, atol=1e-14)
        assert abs(hess[-1, -1]) <= (1e-13 if kind == "saddle" else 1e-9)  # f is linear in theta
        if kind == "saddle":
            eig = np.linalg.eigvalsh(hess)
            assert abs(grad[-1]) <= 1e-14 and eig[0] < -1e-3 and eig[-1] > 1e-3
        else:
            assert np.linalg.eigvalsh(hess[:4, :4])[0] > 0
            slope = float(jax.grad(f)(at)[-1])
            assert (slope > 0) if theta == 0 else (slope < 0)


def test_clip_level_is_differentiable() -> None:
    """d E g_crelu(c) / dc by jax.grad against a central difference of the numpy closed forms in c."""
    model, v, w = _problem("paper")
    v, w = v[:20], w[:20]
    d = np.random.default_rng(1).normal(size=w.shape)

    def crit(c):
        return jnp.sum(model.coarse_grad(jnp.asarray(v), jnp.asarray(w), pg.ste.clipped_relu(c))[1] * d)

    c, h = 1.7, 1e-5
    got = float(jax.grad(crit)(jnp.asarray(c)))
    fd = [np.sum(model.coarse_grad(v, w, pg.ste.clipped_relu(x))[1] * d) for x in (c + h, c - h)]
    assert got == pytest.approx((fd[0] - fd[1]) / (2 * h), rel=1e-7)


def test_compensated_products_exact_under_jit() -> None:
    """No reassociation, and no product contracted with the sum it feeds (XLA on the CPU contracts ``a * b + c``
    into a fused multiply-add in about a quarter of the elements, at some shapes only: (3, 6) did, (1000, 8) did
    not): the error-free transformations stay exact when fused with their uses."""
    from popgrad._compensated import dot2, two_prod
    from popgrad._xp import rounded

    x = jnp.asarray([[1e16, 1.0, -1e16]])
    hi, lo = jax.jit(dot2)(x, jnp.ones((1, 3)))
    assert float(hi[0]) == 1.0 and float(lo[0]) == 0.0
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(2, 1000))
    p, e = jax.jit(two_prod)(jnp.asarray(a), jnp.asarray(b))
    np.testing.assert_array_equal(np.asarray(p), a * b)
    np.testing.assert_array_equal(np.asarray(e), two_prod(a, b)[1])
    for shape in [(1, 6), (3, 6), (1000, 6), (7, 8), (5, 200)]:
        x, y = rng.normal(size=(2, *shape))
        for u, w in ((x, y), (x, x)):
            hi, lo = jax.jit(dot2)(jnp.asarray(u), jnp.asarray(w))
            ref_hi, ref_lo = dot2(u, w)
            np.testing.assert_array_equal(np.asarray(hi), ref_hi)
            # lo adds the products' error terms in float64, in XLA's order: ~1e-32 of hi, not 1e-16
            assert np.all(np.abs(np.asarray(lo) - ref_lo) <= 2.0**-100 * np.abs(ref_hi)), shape
    a, b, c = rng.normal(size=(3, 100_000))
    fused = jax.jit(lambda a, b, c: rounded(jnp, a * b) + c)(a, b, c)
    np.testing.assert_array_equal(np.asarray(fused), a * b + c)


def test_staircase_refused_naming_owens_t() -> None:
    model = pg.Model([1.0, -0.5], [1.0, 0.0], activation=pg.activation.uniform(2, 1.0))
    with pytest.raises(NotImplementedError, match="Owen's T"):
        model.loss(jnp.asarray([0.3, 1.0]), jnp.asarray([0.2, 1.0]))


def test_float32_refused() -> None:
    model, v, w = _problem("paper")
    with pytest.raises(TypeError, match="float64"):
        model.loss(jnp.asarray(v[:3], dtype=jnp.float32), jnp.asarray(w[:3]))


def test_non_finite_refused_eagerly() -> None:
    model, v, w = _problem("paper")
    with pytest.raises(ValueError, match="NaN"):
        model.loss(jnp.asarray(v[:3]), jnp.asarray(np.full_like(w[:3], np.nan)))


def test_expectations_refuses_jax_arrays() -> None:
    model, v, w = _problem("paper")
    with pytest.raises(TypeError, match="closed forms"):
        pg.expectations(model, jnp.asarray(v[0]), jnp.asarray(w[0]))
