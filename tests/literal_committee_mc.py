"""Monte Carlo of the K-filter network from its literal definition, for the tests (independent of popgrad).

Draws full inputs Z in R^{N x m x n} with i.i.d. N(0, 1) entries and averages

* the sample loss  l = (y - y*)^2 / 2,  y = sum_k sum_i V[k, i] 1{Z_i . w_k > 0},  y* likewise with (V*, W*);
* the coarse gradient of filter k: g_k = sum_i Z_i mu'(Z_i . w_k) V[k, i] (y - y*),

returning means and standard errors.  Tests use |z| < 5 per component (false-alarm rate about 6e-7 each for a
correct formula); seeds are fixed, so the runs are deterministic.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

MU_PRIME: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "relu": lambda x: (x > 0).astype(float),
    "identity": lambda x: np.ones_like(x),
    "clipped_relu": lambda x: ((x > 0) & (x < 1)).astype(float),
}


def committee_mc(v_star, w_star, v, w, ste: str = "relu", n_samples: int = 400_000, seed: int = 0, chunk: int = 50_000):
    """``{"loss": (mean, stderr), "coarse_w": (mean (K, n), stderr (K, n))}`` at one point ``v (K, m)``,
    ``w (K, n)``."""
    v_star, w_star, v, w = (np.asarray(a, dtype=float) for a in (v_star, w_star, v, w))
    k, m = v.shape
    n = w.shape[1]
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    mu_prime = MU_PRIME[ste]
    s_loss = s2_loss = 0.0
    s_g, s2_g = np.zeros((k, n)), np.zeros((k, n))
    done = 0
    while done < n_samples:
        c = min(chunk, n_samples - done)
        z = rng.standard_normal((c, m, n))
        x = np.einsum("cin,kn->cki", z, w)
        xs = np.einsum("cin,kn->cki", z, w_star)
        e = np.einsum("cki,ki->c", (x > 0) * 1.0, v) - np.einsum("cki,ki->c", (xs > 0) * 1.0, v_star)
        loss = 0.5 * e * e
        g = np.einsum("cin,cki->ckn", z, mu_prime(x) * v[None]) * e[:, None, None]
        s_loss += loss.sum()
        s2_loss += (loss * loss).sum()
        s_g += g.sum(0)
        s2_g += (g * g).sum(0)
        done += c
    out = {}
    for key, s, s2 in (("loss", s_loss, s2_loss), ("coarse_w", s_g, s2_g)):
        mean = s / n_samples
        var = np.maximum(s2 / n_samples - mean**2, 0.0) * n_samples / (n_samples - 1)
        out[key] = (mean, np.sqrt(var / n_samples))
    return out
