"""The accurate geometry on JAX: the rare rows that need it are found and computed under ``jit`` whatever their count.

Under ``jax.jit`` the rows that need the accurate paths of :mod:`popgrad.geometry` (nearly parallel or
antiparallel vectors, norms beyond 1e140, nearly equal norms) cannot be selected by shape, so
:func:`popgrad._xp.jax_rows` gathers them into blocks of static size: the first 64 always, the rest in a block of
a sixteenth of the rows or, beyond that, by computing every row.  Each route is taken here on purpose, with the
special rows scattered among ordinary ones, and the JAX results are compared with the numpy path (measured against
50-digit mpmath in ``tests/test_geometry.py``).  A row left on the cheap path shows at once: its angle of 1e-100
would come out as about 1e-8, or 0.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests._accurate_rows import assert_rows_close, assert_same, batch, fields, needs_accuracy, tiny_angle_problem

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
    """At angles of 1e-15 .. 1e-250 the model's true gradient in w has direction u, found only on the accurate
    path (the cheap one gives u to a relative 1e-16 / theta, or 0)."""
    model, v, w = tiny_angle_problem()
    got = jax.jit(lambda a, b: model.grad(a, b)[1])(jnp.asarray(v), jnp.asarray(w))
    assert_rows_close(got, model.grad(v, w)[1])
