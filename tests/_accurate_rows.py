"""Rows that need the accurate paths of :mod:`popgrad.geometry` (nearly parallel or antiparallel to the teacher, angles
1e-15 .. 1e-17, norms within 1e-10 of the teacher's, norms of 1e+-200), scattered among ordinary rows, and the
comparison of another namespace's plane with numpy's (shared by ``tests/test_jax_geometry.py`` and
``tests/test_torch.py``)."""

from __future__ import annotations

import numpy as np

import popgrad as pg
from popgrad.geometry import plane_of_arrays

N = 6
EQUAL = 1e-13  # relative difference to numpy, per row and field (both are a few ulps from the exact values)
FIELDS = ("r", "norm_gap", "w_hat", "u", "theta", "cos_theta", "sin_theta")


def special_rows(rng: np.random.Generator, count: int, w_star: np.ndarray) -> np.ndarray:
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


def batch(total: int, special: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(total + special)
    w_star = rng.normal(size=N)
    w = rng.normal(size=(total, N))
    where = rng.choice(total, size=special, replace=False)
    w[where] = special_rows(rng, special, w_star)
    return w, w_star, where


def needs_accuracy(w: np.ndarray, w_star: np.ndarray) -> np.ndarray:
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


def fields(w, w_star) -> tuple:
    p = plane_of_arrays(w, w_star)
    return tuple(getattr(p, f) for f in FIELDS)


def assert_same(got: tuple, ref: tuple) -> None:
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


def tiny_angle_problem() -> tuple[pg.Model, np.ndarray, np.ndarray]:
    """A model and 2000 points, 100 of whose ``w`` need the accurate paths (angles down to the rounding of
    float64, about 1e-17, among them)."""
    rng = np.random.default_rng(3)
    w, w_star, _ = batch(2000, 100)
    return pg.Model(rng.normal(size=4), w_star), rng.normal(size=(2000, 4)), w


def assert_rows_close(got: object, ref: np.ndarray) -> None:
    """Each row of ``got`` within ``EQUAL`` of ``ref``'s largest entry (max norms: |df/dw| ~ 1/|w| reaches 1e200)."""
    diff = np.max(np.abs(np.asarray(got) - ref), axis=-1)
    assert np.all(diff <= EQUAL * np.max(np.abs(ref), axis=-1))
