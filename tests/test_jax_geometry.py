"""The accurate geometry on JAX: the rare rows that need it are found and computed under ``jit`` whatever their count.

Under ``jax.jit`` the rows that need the accurate paths of :mod:`popgrad.geometry` (nearly parallel or
antiparallel vectors, norms beyond 1e140, nearly equal norms) cannot be selected by shape, so
:func:`popgrad._xp.jax_rows` gathers them into blocks of static size: the first 64 always, the rest in a block of
a sixteenth of the rows or, beyond that, by computing every row.  Each route is taken here on purpose, with the
special rows scattered among ordinary ones, and the JAX results are compared with the numpy path (measured against
50-digit mpmath in ``tests/test_geometry.py``).  A row left on the cheap path shows at once: its angle of about
1e-17 would come out as about 1e-8, or 0.
"""

from __future__ import annotations

import numpy as np
import pytest

import popgrad as pg
from popgrad.geometry import plane_of_arrays
from tests._accurate_rows import (
    EQUAL,
    assert_rows_close,
    assert_same,
    batch,
    fields,
    needs_accuracy,
    tiny_angle_problem,
)

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")


@pytest.fixture(autouse=True)
def _x64():
    with jax.enable_x64(True):
        yield


@pytest.mark.parametrize(
    ("total", "special", "route"),
    [
        (40, 40, (0, 40)),  # at most 64 rows: every row computed
        (1000, 30, (1, 64)),  # the first block of 64 holds them all
        (4000, 200, (65, 250)),  # beyond 64: the block of 4000 // 16 = 250 rows
        (1000, 500, (65, 1000)),  # beyond max(64, 1000 // 16): every row
    ],
    ids=["small-batch", "few", "block", "many"],
)
def test_special_rows_under_jit_equal_numpy(total: int, special: int, route: tuple[int, int]) -> None:
    w, w_star, where = batch(total, special)
    ref = fields(w, w_star)
    flagged = needs_accuracy(w, w_star)
    assert np.all(flagged[where]) and route[0] <= np.sum(flagged) <= route[1]  # the route intended
    got = jax.jit(fields)(jnp.asarray(w), jnp.asarray(w_star))
    assert_same(got, ref)


def test_special_rows_eager_equal_numpy() -> None:
    w, w_star, _ = batch(300, 100)
    assert_same(fields(jnp.asarray(w), jnp.asarray(w_star)), fields(w, w_star))


def test_tiny_angles_survive_end_to_end() -> None:
    """At angles of 1e-15 .. 1e-17 the model's true gradient in w has direction u, found only on the accurate
    path (the cheap one gives u to a relative 1e-16 / theta, or 0)."""
    model, v, w = tiny_angle_problem()
    got = jax.jit(lambda a, b: model.grad(a, b)[1])(jnp.asarray(v), jnp.asarray(w))
    assert_rows_close(got, model.grad(v, w)[1])


@pytest.mark.parametrize("total", [1, 10, 1000], ids=["one-row", "every-row", "padding-row"])
def test_gradient_finite_at_right_angles_under_jit(total: int) -> None:
    """The accurate rows are computed for rows that do not need them too (every row of a small batch; the last row as
    the padding of a block), and discarded; their derivatives must stay finite there, or the discarded branch's
    ``0 * inf`` poisons the gradient.  At theta = pi/2 (sin rounds to 1 for |cos| < 1e-8) ``sqrt(1 - sin^2)`` has an
    infinite derivative: jax.grad under jit gave NaN for w orthogonal to the teacher."""
    rng = np.random.default_rng(4)
    w_star = np.array([1.0, 0.0, 0.0])
    model = pg.Model([1.0, -0.5, 2.0], w_star)
    w = rng.normal(size=(total, 3))
    w[-1] = [0.0, 1.0, -0.4]  # exactly orthogonal
    w[0] = [1e-9, 0.7, 0.2]  # cos ~ 1e-9: sin rounds to 1
    v = rng.normal(size=(total, 3))
    ref = model.grad(v, w)[1]
    got = jax.jit(jax.grad(lambda b: jnp.sum(model.loss(jnp.asarray(v), b))))(jnp.asarray(w))
    assert np.all(np.abs(np.asarray(got) - ref) <= EQUAL * np.max(np.abs(ref), axis=-1, keepdims=True))
    # theta's derivative is -u/|w| (u = the teacher's direction here)
    d_theta = jax.jit(jax.grad(lambda b: jnp.sum(pg.angle(b, jnp.asarray(w_star)))))(jnp.asarray(w))
    expected = -plane_of_arrays(w, w_star).u / np.linalg.norm(w, axis=-1, keepdims=True)
    np.testing.assert_allclose(np.asarray(d_theta), expected, rtol=1e-13, atol=0)
