"""The K-filter closed forms against Monte Carlo of the literal network, at 100 random points per activation.

Each point is a random committee in general position (``tests/_committees.random_committee``: K, K* in
{1, 2, 3}, m in 1..4, n in 1..6) and one full Monte Carlo run (literal inputs Z, 10,000 samples) for all eight
STEs at once: six piecewise-constant ones (named, leaky ReLU of negative slope, hard tanh, four pieces) and two
custom ones (a window with jumps, a smooth bump).  Every component of the loss, dF/dV, dF/dW, E dl/dV and E g
of every STE gives z = (Monte Carlo - closed form) / standard error; all must have |z| < 5.

False alarms: for a correct pair of engines P(|z| >= 5) = 5.7e-7 per component (Gaussian tails; 10,000
samples).  The file computes about 34,000 z-scores (counted by ``test_z_score_count``), so a correct pair would
fail with probability about 2 % on a fresh seed; the seeds are fixed, so each run gives the same answer.  A
component with no randomness left (e.g. n = 1, where every filter lies on one line) has a standard error of
rounding size; errors are floored at :data:`ROUND` of the quantity's scale, far below any sampling error here.
"""

from __future__ import annotations

import numpy as np
import pytest

import popgrad as pg
from tests._committees import ACTIVATIONS, CUSTOM, NAMED, random_committee

POINTS = 100
N_SAMPLES = 10_000
Z_MAX = 5.0
ROUND = 2.0**-40
STES = (*NAMED, *CUSTOM)
COUNT = {"z": 0, "max": 0.0}


def _z(mc: pg.Quantity, closed: object) -> np.ndarray:
    closed = np.asarray(closed, dtype=float)
    scale = max(float(np.max(np.abs(closed))), 1e-300)
    z = np.abs(mc.value - closed) / np.maximum(mc.error, ROUND * scale)
    COUNT["z"] += z.size
    COUNT["max"] = max(COUNT["max"], float(z.max()))
    return z


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_closed_forms_match_literal_monte_carlo(name):
    rng = np.random.default_rng(4000 + list(ACTIVATIONS).index(name))
    bad = []
    for i in range(POINTS):
        model, V, W = random_committee(rng, ACTIVATIONS[name], collisions=False)
        mc = pg.expectations(model, V, W, list(STES), engine="monte_carlo", n_samples=N_SAMPLES, seed=i)
        cf = pg.expectations(model, V, W, list(STES))
        first = next(iter(mc.values()))
        ref = next(iter(cf.values()))
        checks = {f: (getattr(first, f), getattr(ref, f).value) for f in ("loss", "grad_v", "grad_w")}
        for s in mc:
            checks[f"coarse_grad_v[{s}]"] = (mc[s].coarse_grad_v, cf[s].coarse_grad_v.value)
            checks[f"coarse_grad_w[{s}]"] = (mc[s].coarse_grad_w, cf[s].coarse_grad_w.value)
        for what, (est, closed) in checks.items():
            z = _z(est, closed)
            if np.any(z >= Z_MAX):
                where = f"point {i} (K* = {model.k_star}, V {V.shape}, W {W.shape})"
                bad.append(f"{where}: {what} max |z| {z.max():.2f}")
    assert not bad, bad


def test_z_score_count():
    """Runs last in this module: the number of z-scores the docstring's false-alarm rate is computed from."""
    assert COUNT["z"] > 30_000, COUNT["z"]
    print(f"\n{COUNT['z']} z-scores, largest |z| = {COUNT['max']:.3f}")
