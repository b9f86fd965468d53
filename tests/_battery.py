"""The battery of points shared by the Monte Carlo and quadrature tests.

Random teachers (fixed seed), m in [1, 8], n in [1, 12], theta near 0, pi/2 and pi (and exactly
0 and pi), ||w|| from 0.05 to 20.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import popgrad as pg

STES = ("identity", "relu", "clipped_relu")


@dataclass(frozen=True)
class Point:
    label: str
    model: pg.Model
    v: np.ndarray
    w: np.ndarray


def _w_at(rng: np.random.Generator, w_star: np.ndarray, theta: float, norm: float) -> np.ndarray:
    """A w of norm ``norm`` at angle ``theta`` from ``w_star`` (any angle in [0, pi] if n >= 2)."""
    ws = w_star / np.linalg.norm(w_star)
    if w_star.size == 1:
        return norm * ws * (1.0 if theta < np.pi / 2 else -1.0)
    e = rng.standard_normal(w_star.size)
    e -= (e @ ws) * ws
    e /= np.linalg.norm(e)
    return norm * (np.cos(theta) * ws + np.sin(theta) * e)


def battery() -> list[Point]:
    rng = np.random.default_rng(20190305)
    specs = [  # (m, n, theta, ||w||)
        (1, 1, 0.0, 1.0),
        (2, 1, np.pi, 0.3),
        (1, 3, 1e-3, 0.05),
        (3, 2, np.pi / 2, 1.0),
        (4, 5, np.pi / 2 + 1e-3, 20.0),
        (5, 7, np.pi - 1e-3, 3.0),
        (8, 12, 0.02, 0.3),
        (6, 4, np.pi - 0.05, 0.05),
        (2, 12, 1.1, 20.0),
        (8, 3, 2.5, 1.7),
        (3, 6, 0.0, 0.7),
        (7, 9, np.pi, 5.0),
    ]
    points = []
    for m, n, theta, norm in specs:
        v_star = rng.standard_normal(m)
        w_star = rng.standard_normal(n) * rng.uniform(0.2, 5.0)
        v = rng.standard_normal(m)
        w = _w_at(rng, w_star, theta, norm)
        label = f"m={m},n={n},theta={theta:.4g},|w|={norm:g}"
        points.append(Point(label, pg.Model(v_star, w_star), v, w))
    return points


BATTERY = battery()
IDS = [p.label for p in BATTERY]
