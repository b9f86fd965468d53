"""Random committees (K student, K* teacher filters), activations and STEs shared by the engines' tests."""

from __future__ import annotations

import numpy as np

import popgrad as pg
from popgrad import activation as act
from popgrad import ste as ste_mod

ACTIVATIONS = {
    "binary": act.binary,
    "2-bit": act.uniform(2, 0.5),
    "irregular": act.staircase([0.8, -0.4, 0.1], [-0.7, 1.0, 1.5]),  # a negative threshold and a negative jump
}
NAMED = (
    "relu",
    "clipped_relu",
    "identity",
    ste_mod.leaky_relu(-0.3),
    ste_mod.hard_tanh(),
    ste_mod.piecewise_constant([-0.5, 0.2, 1.1], [0.3, -1.0, 2.0, 0.5], name="four_pieces"),
)


def _window(x: np.ndarray) -> np.ndarray:
    return np.where((x > -0.3) & (x < 1.2), 1.0 + 0.5 * x, 0.0)


def _bump(x: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * (x - 0.3) ** 2)


CUSTOM = (ste_mod.custom(_window, name="window"), ste_mod.custom(_bump, name="bump"))


def random_committee(
    rng: np.random.Generator, activation: act.Activation, collisions: bool = True
) -> tuple[pg.MultiFilterModel, np.ndarray, np.ndarray]:
    """A random teacher and student: K, K* in {1, 2, 3}, m in 1..4, n in 1..6.

    With ``collisions`` one in five points has a student filter exactly parallel or antiparallel to another
    filter (scaled by a power of 2: exact), one in five a near-parallel one (1e-12 .. 1e-6); without, the
    filters are in general position (n = 1 excepted: there every filter lies on one line).
    """
    K, Ks = (int(x) for x in rng.integers(1, 4, size=2))
    m, n = int(rng.integers(1, 5)), int(rng.integers(1, 7))
    v_star = rng.standard_normal((Ks, m))
    w_star = rng.standard_normal((Ks, n)) * rng.uniform(0.3, 3.0, size=(Ks, 1))
    V = rng.standard_normal((K, m))
    W = rng.standard_normal((K, n)) * rng.uniform(0.3, 3.0, size=(K, 1))
    kind = int(rng.integers(0, 5)) if collisions else 0
    k = int(rng.integers(0, K))
    others = [*w_star, *(W[j] for j in range(K) if j != k)]
    b = others[int(rng.integers(0, len(others)))]
    sign = 1.0 if rng.random() < 0.5 else -1.0
    if kind in (1, 2):  # theta = 0 or pi exactly
        W[k] = sign * 2.0 ** int(rng.integers(-1, 2)) * b
    elif kind == 3:  # near-parallel: a random scale (no tie of scaled thresholds) and a perturbation 1e-12..1e-6
        noise = rng.standard_normal(n)
        W[k] = sign * rng.uniform(0.3, 3.0) * b + 10.0 ** rng.uniform(-12, -6) * np.linalg.norm(b) * noise
    return pg.MultiFilterModel(v_star, w_star, activation=activation), V, W
