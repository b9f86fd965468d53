r"""Algorithm 1 against gradient descent on f, from the same random starts, and the critical points they find.

For each ``(K, K*)``: one random teacher (:func:`.grid.teacher`), ``starts`` random starts (:math:`V, W` standard
normal), and from each of them ``steps`` steps (step :math:`1/(K(m+1))`, :func:`popgrad.dynamics.default_lr`) of

* ``gradient``: plain gradient descent on :math:`f` (:func:`popgrad.dynamics.true_gradient`);
* ``relu``, ``clipped_relu``, ``identity``: Algorithm 1 with the expected coarse gradient of that STE.

A run *reaches a global minimum* when its end point, snapped onto the kinks within
:data:`.kinks.SNAP_ANGLE` of it with :math:`V` re-solved (:func:`.kinks.snap`), has
:math:`f \le 10^{-10}\max(1, \|V^*\|^2)`.  A run *rises* when :math:`f` increases by more than
:math:`10^{-12}\max(1, \|V^*\|^2)` on some step.

Critical points: the end points of gradient descent are classified as they are (:func:`.critical.classify`) and
after settling (:func:`.critical.settle`); the distinct spurious minima (by their value of :math:`f`) are listed with
:math:`\|E g_\mu\|` there for each STE.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from ..dynamics import descend, true_gradient
from ..models.multi_filter import MultiFilterModel
from .correlation import STES
from .critical import classify, settle
from .grid import teacher
from .kinks import snap

__all__ = ["METHODS", "PairRun", "run_pair"]

METHODS = ("gradient", *STES)


@dataclass(frozen=True)
class PairRun:
    r"""Runs and critical points for one ``(K, K*)`` (module docstring).

    Attributes
    ----------
    k, k_star, m, n, starts, steps, lr : the set-up
    reached_global : method -> runs that reach a global minimum
    stalled : method -> runs that end at a *fixed point of the method* (oracle norm at most
        :math:`10^{-6}\max(1, \|V^*\|^2)`) that is not a global minimum
    rises : method -> runs in which f rises on some step
    median_loss : method -> median final :math:`f / \max(1, \|V^*\|^2)`
    median_growth : method -> median over runs of the largest :math:`\|w_k^T\| / \|w_k^0\|` (a filter that grows
        turns slowly: the angular step is :math:`\eta\,|E g_\perp| / \|w_k\|`)
    endpoints : label -> count, the gradient-descent end points as they are
    settled : label -> count, after settling
    spurious : the distinct spurious minima: dicts with ``loss`` (relative), ``runs`` (how many settled there),
        ``groups`` (filters on one line: teacher index or -1, (student, sign) pairs), ``coarse_norm`` and
        ``coarse_vanishes`` (STE name -> :math:`\|E g_\mu\|/\max(1, \|V^*\|^2)`, and whether it is 0 to rounding)
    """

    k: int
    k_star: int
    m: int
    n: int
    starts: int
    steps: int
    lr: float
    reached_global: dict = field(default_factory=dict)
    stalled: dict = field(default_factory=dict)
    rises: dict = field(default_factory=dict)
    median_loss: dict = field(default_factory=dict)
    median_growth: dict = field(default_factory=dict)
    endpoints: dict = field(default_factory=dict)
    settled: dict = field(default_factory=dict)
    spurious: list = field(default_factory=list)

    def frac_global(self, method: str) -> float:
        return self.reached_global[method] / self.starts


def _is_global(model: MultiFilterModel, v: np.ndarray, w: np.ndarray, scale: float) -> bool:
    v1, w1, _ = snap(model, v, w)
    return float(model.loss(v1, w1)) <= 1e-10 * scale


def run_pair(k: int, k_star: int, m: int, n: int, starts: int, steps: int, rng: np.random.Generator) -> PairRun:
    """All methods from the same starts for one random teacher; see the module docstring."""
    model = teacher(rng, k_star, m, n)
    scale = max(1.0, float(np.sum(model.v_star**2)))
    v0 = rng.standard_normal((starts, k, m))
    w0 = rng.standard_normal((starts, k, n))
    out: dict = {key: {} for key in ("reached_global", "stalled", "rises", "median_loss", "median_growth")}
    ends: tuple[np.ndarray, np.ndarray] | None = None
    lr = 0.0
    for method in METHODS:
        oracle = true_gradient(model) if method == "gradient" else None
        tr = descend(
            model,
            v0,
            w0,
            method if oracle is None else "relu",
            oracle=oracle,
            max_iter=steps,
            gtol=0.0,
            record="scalars",
            c_w=None,
        )
        lr = tr.lr
        reached = np.array([_is_global(model, tr.v_final[i], tr.w_final[i], scale) for i in range(starts)])
        fixed = np.hypot(tr.grad_v_norm[-1], tr.grad_w_norm[-1]) <= 1e-6 * scale
        out["reached_global"][method] = int(reached.sum())
        out["stalled"][method] = int(np.sum(fixed & ~reached))
        out["rises"][method] = int(np.sum(np.any(np.diff(tr.loss, axis=0) > 1e-12 * scale, axis=0)))
        out["median_loss"][method] = float(np.median(tr.loss[-1])) / scale
        out["median_growth"][method] = float(np.median(np.max(tr.w_norm[-1] / tr.w_norm[0], axis=-1)))
        if method == "gradient":
            ends = (tr.v_final, tr.w_final)
    assert ends is not None  # METHODS starts with "gradient"
    raw = [classify(model, ends[0][i], ends[1][i], rng) for i in range(starts)]
    settled = [classify(model, *settle(model, ends[0][i], ends[1][i]), rng) for i in range(starts)]
    distinct: dict[float, dict] = {}
    for e in settled:
        if e.label == "spurious minimum":
            key = round(e.loss, 9)
            if key in distinct:
                distinct[key]["runs"] += 1
            else:
                distinct[key] = {
                    "loss": e.loss,
                    "runs": 1,
                    "groups": e.groups,
                    "coarse_norm": e.coarse_norm,
                    "coarse_vanishes": e.coarse_vanishes,
                }
    return PairRun(
        k,
        k_star,
        m,
        n,
        starts,
        steps,
        lr,
        endpoints=dict(Counter(e.label for e in raw)),
        settled=dict(Counter(e.label for e in settled)),
        spurious=sorted(distinct.values(), key=lambda d: d["loss"]),
        **out,
    )
