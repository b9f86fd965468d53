"""Monte Carlo from the literal definition of the model, for the tests (independent of popgrad).

Samples full ``Z`` in R^{N x m x n} with i.i.d. N(0, 1) entries, applies the activation ``sigma`` and
the STE derivative ``mu_prime`` elementwise and averages

* the sample loss  l = (v . sigma(Z w) - v* . sigma(Z w*))^2 / 2,
* dl/dv = sigma(Z w) * residual,
* the coarse gradient g = Z^T (mu'(Z w) * v) * residual,

returning means and standard errors.  Tests compare with |z| < 5 per component: for a correct
formula the false-alarm rate is about 6e-7 per component; seeds are fixed, so runs are deterministic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Estimate:
    mean: np.ndarray
    stderr: np.ndarray

    def z(self, exact: object) -> np.ndarray:
        """z-scores of ``exact`` against this estimate (inf where stderr = 0 and they differ)."""
        diff = self.mean - np.asarray(exact, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.abs(diff) / self.stderr
        return np.where(self.stderr > 0, out, np.where(np.abs(diff) <= 1e-12, 0.0, np.inf))


def binary(x: np.ndarray) -> np.ndarray:
    return (x > 0).astype(np.float64)


def literal_mc(
    v_star: np.ndarray,
    w_star: np.ndarray,
    v: np.ndarray,
    w: np.ndarray,
    mu_prime: Callable[[np.ndarray], np.ndarray],
    sigma: Callable[[np.ndarray], np.ndarray] = binary,
    n_samples: int = 200_000,
    seed: int = 0,
    chunk: int = 50_000,
) -> dict[str, Estimate]:
    """Estimates of ``loss``, ``grad_v`` and ``coarse_w`` at one point (1-D v, w)."""
    v_star, w_star, v, w = (np.asarray(a, dtype=np.float64) for a in (v_star, w_star, v, w))
    m, n = v.size, w.size
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    sums = {"loss": np.zeros(1), "grad_v": np.zeros(m), "coarse_w": np.zeros(n)}
    squares = {k: np.zeros_like(s) for k, s in sums.items()}
    done = 0
    while done < n_samples:
        k = min(chunk, n_samples - done)
        z = rng.standard_normal((k, m, n))
        xw, xs = z @ w, z @ w_star
        sw = sigma(xw)
        res = sw @ v - sigma(xs) @ v_star
        vals = {
            "loss": (0.5 * res * res)[:, None],
            "grad_v": sw * res[:, None],
            "coarse_w": np.einsum("kmn,km->kn", z, mu_prime(xw) * v) * res[:, None],
        }
        for key, x in vals.items():
            sums[key] += x.sum(axis=0)
            squares[key] += (x * x).sum(axis=0)
        done += k
    out = {}
    for key in sums:
        mean = sums[key] / n_samples
        var = np.maximum(squares[key] / n_samples - mean**2, 0.0) * n_samples / (n_samples - 1)
        out[key] = Estimate(
            mean.squeeze() if key == "loss" else mean,
            np.sqrt(var / n_samples).squeeze() if key == "loss" else np.sqrt(var / n_samples),
        )
    return out
