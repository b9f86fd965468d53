r"""Claim 7 (Remark 1): with N samples the empirical loss descends along the sampled coarse gradient
only "in a coarse scale", and becomes monotone as N grows.

At a point ``(v, w)`` draw :math:`Z_1..Z_N` (:func:`popgrad.montecarlo.draw_inputs`), form the
empirical loss :math:`f_N = \frac1N\sum_k \ell(v, w; Z_k)` and the sampled coarse gradient
:math:`(\hat G_v, \hat G_w) = \frac1N\sum_k (\partial\ell/\partial v, g_\mu)` *on the same samples*
(:func:`popgrad.montecarlo.per_sample`), and evaluate :math:`f_N(v - \eta\hat G_v, w - \eta\hat G_w)`
on the grid :math:`\eta_j = j\,\eta_{max}/K`, ``j = 0..K`` (``K = 20``, for cost).  The *fraction of increases*
is the fraction of the K grid steps on which :math:`f_N` rises.  ``f_N`` is piecewise constant in
``w`` (the activation is a step), so at small N it jumps up and down; as N grows the jumps shrink
like :math:`1/N` while the drift per step does not, and the curve becomes monotone.

:math:`\eta_{max}` is half the largest step on :math:`[0, 1/(m+1)]` (:math:`1/(m+1)` is
:func:`popgrad.dynamics.default_lr`) up to which the *population* loss decreases along the negative
*expected* coarse gradient (scanned on 200 steps), so that in the limit :math:`N \to \infty` the
fraction is 0 on the grid.

Points: the first battery point (six with ``--thorough``) per teacher with ``n >= 2``, :math:`0.1 \le \|w\| \le 10` and
:math:`0.05 \le \theta \le \pi - 0.05`; STEs ReLU and clipped ReLU; ``N`` in 10, 50, 1000, 10^4;
2 independent sample sets (fixed seeds) per point, STE and N (8 with ``--thorough``).
Also reported (not checked): the upward share of the curve's total variation,
:math:`\sum_j (\Delta_j)_+ / \sum_j |\Delta_j|`, averaged like the fraction.

**Holds** (decided before measuring, not tuned): the mean fraction of increases is non-increasing
in N, and at :math:`N = 10^4` it is at most 0.05.
"""

from __future__ import annotations

import numpy as np

from ..montecarlo import draw_inputs, per_sample
from .battery import Battery
from .result import Check, ClaimResult

__all__ = ["SAMPLE_SIZES", "eta_max", "finite_samples", "increase_fraction"]

SAMPLE_SIZES = (10, 50, 1000, 10_000)
K = 20
STES = ("relu", "clipped_relu")
FINAL_BOUND = 0.05


def eta_max(model, v: np.ndarray, w: np.ndarray, ste: str, n_scan: int = 200) -> float:
    r"""Half the largest :math:`\eta \le 1/(m+1)` up to which the population loss decreases at every
    step of an ``n_scan``-point grid along :math:`-(\partial f/\partial v, E g_\mu)`."""
    gv, g = model.coarse_grad(v, w, ste=ste)
    etas = np.linspace(0.0, 1.0 / (model.m + 1), n_scan + 1)
    f = model.loss(v[None] - etas[:, None] * gv[None], w[None] - etas[:, None] * g[None])
    rises = np.flatnonzero(np.diff(f) >= 0)
    last = etas[rises[0]] if rises.size else etas[-1]
    return 0.5 * float(last)


def increase_fraction(
    model, v: np.ndarray, w: np.ndarray, ste: str, n_samples: int, rng: np.random.Generator, eta: float
) -> tuple[float, float]:
    r"""``(fraction, upward share)``: the fraction of the ``K`` grid steps on :math:`[0, \eta]` on which
    the empirical loss rises along the negative sampled coarse gradient (both on the same
    ``n_samples`` inputs), and the upward share of the curve's total variation."""
    Z = draw_inputs(rng, n_samples, model.m, model.n)
    ps = per_sample(model, v, w, Z, ste=ste)
    gv, gw = ps.grad_v.mean(0), ps.coarse_grad_w[ste].mean(0)
    f = np.array(
        [per_sample(model, v - t * gv, w - t * gw, Z, ste=ste).loss.mean() for t in np.linspace(0.0, eta, K + 1)]
    )
    d = np.diff(f)
    tv = float(np.sum(np.abs(d)))
    return float(np.mean(d > 0)), (float(np.sum(np.maximum(d, 0.0))) / tv if tv > 0 else 0.0)


def _points(battery: Battery, per_teacher: int):
    for case in battery.cases:
        if case.model.n < 2:
            continue
        theta = case.model.theta(case.w)
        r = np.linalg.norm(case.w, axis=1)
        ok = np.flatnonzero((r >= 0.1) & (r <= 10) & (theta >= 0.05) & (theta <= np.pi - 0.05))
        for i in ok[:per_teacher]:
            yield case, int(i)


def finite_samples(battery: Battery) -> ClaimResult:
    """Claim 7 on the battery; see the module docstring."""
    n_sets = 8 if battery.thorough else 2
    per_teacher = 6 if battery.thorough else 1
    fractions: dict[int, list[float]] = {n: [] for n in SAMPLE_SIZES}
    shares: dict[int, list[float]] = {n: [] for n in SAMPLE_SIZES}
    n_points = 0
    for case, i in _points(battery, per_teacher):
        v, w = case.v[i], case.w[i]
        n_points += 1
        for s, ste in enumerate(STES):
            eta = eta_max(case.model, v, w, ste)
            for k, n in enumerate(SAMPLE_SIZES):
                ss = np.random.SeedSequence(case.seed.entropy, spawn_key=(*case.seed.spawn_key, 71, i, s, k))
                for rng in (np.random.default_rng(c) for c in ss.spawn(n_sets)):
                    frac, share = increase_fraction(case.model, v, w, ste, n, rng, eta)
                    fractions[n].append(frac)
                    shares[n].append(share)
    mean = np.array([np.mean(fractions[n]) if fractions[n] else np.nan for n in SAMPLE_SIZES])
    checks = (
        Check(
            "max increase of the mean fraction of rising steps from one N to the next",
            float(np.max(np.diff(mean))),
            "<=",
            0.0,
            note=f"N = {SAMPLE_SIZES}; the fraction must not grow with N (no allowance for sampling noise)",
        ),
        Check(f"mean fraction of rising steps at N = {SAMPLE_SIZES[-1]}", mean[-1], "<=", FINAL_BOUND),
    )
    values = {f"mean_fraction_rising_N={n}": float(x) for n, x in zip(SAMPLE_SIZES, mean, strict=True)}
    values.update({f"max_fraction_rising_N={n}": float(np.max(fractions[n])) for n in SAMPLE_SIZES if fractions[n]})
    values.update({f"mean_upward_share_N={n}": float(np.mean(shares[n])) for n in SAMPLE_SIZES if shares[n]})
    values["curves_per_N"] = len(fractions[SAMPLE_SIZES[0]])
    return ClaimResult(
        key="finite_samples",
        title="Finite samples: empirical loss along the sampled coarse gradient",
        reference="Remark 1",
        method=f"sampled batches, {K}-step eta grid",
        checks=checks,
        n_points=n_points,
        values=values,
        headline=1,
    )
