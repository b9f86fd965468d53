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

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")

N = 6
EQUAL = 1e-13  # relative difference to numpy, per row and field (both are a few ulps from the exact values)
FIELDS = ("r", "norm_gap", "w_hat", "u", "theta", "cos_theta", "sin_theta")


@pytest.fixture(autouse=True)
def _x64():
    with jax.enable_x64(True):
        yield


def _special_rows(rng: np.random.Generator, count: int, w_star: np.ndarray) -> np.ndarray:
    """``count`` rows that each need an accurate path, cycling through four kinds."""
    rows = []
    for i in range(count):
        perp = rng.normal(size=N)
        perp -= (perp @ w_star) / (w_star @ w_star) * w_star
        perp /= np.linalg.norm(perp)
        kind = i % 4
        if kind in (0, 1):  # nearly parallel (0) or antiparallel (1), offset 1e-15 .. 1e-250 (below
            # about 1e-16 it is rounded away: the angles are those of the rounding, 1e-17 .. 1e-16)
            t = 10.0 ** -rng.uniform(15, 250)
            sign = 1.0 if kind == 0 else -1.0
            rows.append(sign * rng.uniform(0.5, 2.0) * w_star + t * np.linalg.norm(w_star) * perp)
        elif kind == 2:  # norm within a relative 1e-10 of the teacher's, any direction
            d = rng.normal(size=N)
            rows.append(d / np.linalg.norm(d) * np.linalg.norm(w_star) * (1.0 + rng.uniform(-1e-10, 1e-10)))
        else:  # norms whose squares overflow or underflow
            rows.append(rng.normal(size=N) * 10.0 ** rng.choice([-200.0, 200.0]))
    return np.array(rows)


def _batch(total: int, special: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(total + special)
    w_star = rng.normal(size=N)
    w = rng.normal(size=(total, N))
    where = rng.choice(total, size=special, replace=False)
    w[where] = _special_rows(rng, special, w_star)
    return w, w_star, where


def _needs_accuracy(w: np.ndarray, w_star: np.ndarray) -> np.ndarray:
    """Rows that need an accurate path by the thresholds of popgrad.geometry, in plain float64: sin(theta) < 0.25,
    relative norm gap below 2**-20, |w|^2 out of [1e-280, 1e280] (a row within rounding of a threshold may go
    either way: the test checks counts)."""
    top = np.max(np.abs(w), axis=1)
    s = w / top[:, None]  # rows scaled so that their norms do not overflow
    cos = (s @ w_star) / (np.linalg.norm(s, axis=1) * np.linalg.norm(w_star))
    sin = np.sqrt(np.maximum(0.0, 1.0 - cos * cos))
    log_r = np.log(top) + np.log(np.linalg.norm(s, axis=1))
    gap = np.abs(np.expm1(np.log(np.linalg.norm(w_star)) - log_r))
    return (sin < 0.25) | (gap <= 2.0**-20) | (np.abs(log_r) > np.log(1e140))


def _fields(w, w_star) -> tuple:
    p = plane_of_arrays(w, w_star)
    return tuple(getattr(p, f) for f in FIELDS)


def _assert_same(got: tuple, ref: tuple) -> None:
    norms = np.maximum(np.asarray(ref[0]), np.asarray(ref[0]) + np.asarray(ref[1]))  # max(r, r_star)
    for name, g, r in zip(FIELDS, got, ref, strict=True):
        g, r = np.asarray(g), np.asarray(r)
        assert g.shape == r.shape, name
        axes = tuple(range(1, r.ndim))
        diff = np.max(np.abs(g - r), axis=axes) if axes else np.abs(g - r)  # max norms: no overflow at 1e200
        size = np.max(np.abs(r), axis=axes) if axes else np.abs(r)
        allowed = EQUAL * size
        if name == "cos_theta":  # accurate to ulps of 1, not of itself, near theta = pi/2 (theta and sin are)
            allowed = allowed + 4 * np.finfo(float).eps
        if name == "norm_gap":  # the plain difference of the norms where they differ by more than 2**-20
            allowed = np.where(size <= 2.0**-20 * norms, allowed, allowed + 4 * np.spacing(norms))
        bad = diff > allowed
        assert not np.any(bad), (name, np.flatnonzero(bad)[:5], g[bad][:3], r[bad][:3])


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
    w, w_star, where = _batch(total, special)
    ref = _fields(w, w_star)
    flagged = _needs_accuracy(w, w_star)
    assert np.all(flagged[where]) and route[0] <= np.sum(flagged) <= route[1]  # the route intended
    got = jax.jit(_fields)(jnp.asarray(w), jnp.asarray(w_star))
    _assert_same(got, ref)


def test_special_rows_eager_equal_numpy() -> None:
    w, w_star, _ = _batch(300, 100)
    _assert_same(_fields(jnp.asarray(w), jnp.asarray(w_star)), _fields(w, w_star))


def test_tiny_angles_survive_end_to_end() -> None:
    """At angles of 1e-15 .. 1e-17 the model's true gradient in w has direction u, found only on the accurate
    path (the cheap one gives u to a relative 1e-16 / theta, or 0)."""
    rng = np.random.default_rng(3)
    w, w_star, _ = _batch(2000, 100)
    model = pg.Model(rng.normal(size=4), w_star)
    v = rng.normal(size=(2000, 4))
    ref = model.grad(v, w)[1]
    got = jax.jit(lambda a, b: model.grad(a, b)[1])(jnp.asarray(v), jnp.asarray(w))
    diff = np.max(np.abs(np.asarray(got) - ref), axis=-1)  # max norms: |df/dw| ~ 1/|w| reaches 1e200
    assert np.all(diff <= EQUAL * np.max(np.abs(ref), axis=-1))


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
