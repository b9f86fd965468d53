r"""Every row integral of a committee, as arrays, for the quadrature engine's assembly (:mod:`popgrad.quadrature`).

Filters :math:`a = 0..F-1`: the K student filters, then the :math:`K^*` teacher filters.  For each student
:math:`k` and each other filter :math:`b` the pair's integrals are computed in :math:`k`'s frame
(:func:`popgrad._quad_rows.pair_rows`); :math:`\kappa_{kb}` once per unordered pair.  The teacher's own
integrals (one-filter rows, teacher-teacher :math:`\kappa`) are cached per backend, activation and teacher.
Values are working numbers (float64 or ``mpf``), errors float64.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from ._quad_geometry import filter_geometry, pair_geometry
from ._quad_rows import filter_rows, pair_rows, ste_weight
from ._quad_rule import Backend, GaussianTail, backend
from .activation import Activation
from .ste import STE

__all__ = ["CommitteeRows", "committee_rows", "working"]


@functools.lru_cache(maxsize=8)
def working(name: str, dps: int) -> tuple[Backend, GaussianTail]:
    """The backend and its Gaussian table (built once; mpmath: call inside ``mpmath.workdps(dps + 5)``)."""
    bk = backend(name, dps)
    return bk, GaussianTail(bk)


@dataclass(frozen=True)
class CommitteeRows:
    r"""The row integrals of a committee (``e_*``: their error bounds, float64, same shapes).

    Attributes
    ----------
    mu, kappa : (F,), (F, F)          :math:`E\sigma_a`, :math:`E\sigma_a\sigma_b` (diagonal :math:`E\sigma_a^2`)
    alpha, beta : dict name -> (K,)   :math:`E[x\mu'_k]`, :math:`E[x\mu'_k\sigma_k]` along :math:`\hat w_k`
    gx, gy : dict name -> (K, F)      :math:`E[z\mu'_k\sigma_b] = g^x\hat w_k + g^y u_{kb}` (0 on b = k)
    M, N : (K, F, T)                  boundary values at :math:`x_k = \tau_{kl}` (0 on b = k and where
                                      :math:`\varphi(\tau_{kl}) = 0`)
    w_hat : (K, n); u : (K, F, n)     :math:`\hat w_k`, :math:`u_{kb}` (0 on b = k and for parallel pairs)
    tau, phi_tau : (K, T); inv_r : (K,)
    max_error : float                 the largest error bound of a row integral
    """

    mu: np.ndarray
    e_mu: np.ndarray
    kappa: np.ndarray
    e_kappa: np.ndarray
    alpha: dict
    e_alpha: dict
    beta: dict
    e_beta: dict
    gx: dict
    e_gx: dict
    gy: dict
    e_gy: dict
    M: np.ndarray
    e_M: np.ndarray
    N: np.ndarray
    e_N: np.ndarray
    w_hat: np.ndarray
    u: np.ndarray
    tau: np.ndarray
    phi_tau: np.ndarray
    inv_r: np.ndarray
    max_error: float


@functools.lru_cache(maxsize=32)
def _teacher(key: tuple[str, int], activation: Activation, w_star: tuple) -> tuple:
    """Geometry, one-filter rows and teacher-teacher kappa of a teacher (cached)."""
    bk, tail = working(*key)
    ws = [np.array(w) for w in w_star]
    geos = [filter_geometry(bk, w, activation.thresholds) for w in ws]
    rows = [filter_rows(bk, activation, g, []) for g in geos]
    kappa = {}
    for a in range(len(ws)):
        for b in range(a + 1, len(ws)):
            pg = pair_geometry(bk, ws[a], ws[b])
            kappa[a, b] = pair_rows(bk, tail, activation, geos[a], geos[b], pg, [], kappa=True, boundary=False).kappa
    return geos, rows, kappa


def committee_rows(
    key: tuple[str, int], activation: Activation, W: np.ndarray, w_star: np.ndarray, stes: tuple[STE, ...]
) -> CommitteeRows:
    """The row integrals of the student filters ``W (K, n)`` with the teacher filters ``w_star (K*, n)``."""
    bk, tail = working(*key)
    K, n = W.shape
    F = K + w_star.shape[0]
    T = len(activation.thresholds)
    t_geos, t_rows, t_kappa = _teacher(key, activation, tuple(tuple(float(x) for x in w) for w in w_star))
    s_geos = [filter_geometry(bk, w, activation.thresholds) for w in W]
    geos = [*s_geos, *t_geos]
    filters = [*W, *w_star]
    weights = [[ste_weight(bk, s, g) for s in stes] for g in s_geos]
    rows = [filter_rows(bk, activation, g, wt) for g, wt in zip(s_geos, weights, strict=True)] + t_rows
    names = [s.name for s in stes]

    zero = bk.num(0)

    def table(*shape: int) -> tuple[np.ndarray, np.ndarray]:
        return bk.array(np.zeros(shape)) if not bk.is_mp else np.full(shape, zero, dtype=object), np.zeros(shape)

    mu, e_mu = bk.array([r.mean[0] for r in rows]), np.array([r.mean[1] for r in rows])
    kappa, e_kappa = table(F, F)
    gx = {s: table(K, F) for s in names}
    gy = {s: table(K, F) for s in names}
    M, e_M = table(K, F, T)
    N, e_N = table(K, F, T)
    u = np.full((K, F, n), zero, dtype=object) if bk.is_mp else np.zeros((K, F, n))

    def put_kappa(a: int, b: int, value_err: tuple) -> None:
        kappa[a, b] = kappa[b, a] = value_err[0]
        e_kappa[a, b] = e_kappa[b, a] = value_err[1]

    for a, r in enumerate(rows):
        put_kappa(a, a, r.second)
    for (a, b), kap in t_kappa.items():
        put_kappa(K + a, K + b, kap)
    errors = [*e_mu, *e_kappa.ravel()]
    for k in range(K):
        for b in range(F):
            if b == k:
                continue
            pg = pair_geometry(bk, filters[k], filters[b])
            pr = pair_rows(bk, tail, activation, geos[k], geos[b], pg, weights[k], kappa=b > k, boundary=True)
            if b > k:
                assert pr.kappa is not None  # asked for with kappa=True
                put_kappa(k, b, pr.kappa)
            for s in names:
                (gx[s][0][k, b], gx[s][1][k, b]), (gy[s][0][k, b], gy[s][1][k, b]) = pr.g[s]
            for t in range(T):
                if pr.M[t] is not None:
                    (M[k, b, t], e_M[k, b, t]), (N[k, b, t], e_N[k, b, t]) = pr.M[t], pr.N[t]
            u[k, b] = pg.u
        errors += [e for s in names for e in (*gx[s][1][k], *gy[s][1][k])] + [*e_M[k].ravel(), *e_N[k].ravel()]
    alpha = {s: bk.array([rows[k].alpha[s][0] for k in range(K)]) for s in names}
    beta = {s: bk.array([rows[k].beta[s][0] for k in range(K)]) for s in names}
    e_alpha = {s: np.array([rows[k].alpha[s][1] for k in range(K)]) for s in names}
    e_beta = {s: np.array([rows[k].beta[s][1] for k in range(K)]) for s in names}
    errors += [e for s in names for e in (*e_alpha[s], *e_beta[s])]
    return CommitteeRows(
        mu,
        e_mu,
        kappa,
        e_kappa,
        alpha,
        e_alpha,
        beta,
        e_beta,
        {s: v[0] for s, v in gx.items()},
        {s: v[1] for s, v in gx.items()},
        {s: v[0] for s, v in gy.items()},
        {s: v[1] for s, v in gy.items()},
        M,
        e_M,
        N,
        e_N,
        np.stack([g.w_hat for g in s_geos]),
        u,
        np.stack([g.tau for g in s_geos]),
        np.stack([g.phi_tau for g in s_geos]),
        bk.array([g.inv_r for g in s_geos]),
        float(max(errors)),
    )
