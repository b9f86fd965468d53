r"""Beyond the paper: the STE theory for networks with K filters, computed and measured.

:class:`popgrad.MultiFilterModel` has the closed forms; this study *measures*, on random teachers and points with
fixed seeds (a measurement, not a proof, and not a claim of the paper -- ``popgrad verify`` checks the paper's
claims), what of the paper's one-filter picture survives with several filters:

* **correlation** (:mod:`.correlation`): is :math:`\langle E g_\mu, \partial f/\partial W\rangle \ge 0`, for the whole
  of :math:`W` and per filter, on a battery of ``(K, K*, m, n)`` (:mod:`.grid`); failures counted only beyond
  the rounding bound, located by the nearest collision;
* **descent** (:mod:`.descent`): do small steps along the negative expected coarse gradient decrease f;
* **critical points and dynamics** (:mod:`.runs`, :mod:`.critical`, :mod:`.kinks`): gradient descent on f and
  Algorithm 1 with each STE from the same random starts; the end points of gradient descent classified (global
  minimum, spurious local minimum, saddle), and whether the expected coarse gradients vanish at the spurious minima.

:func:`multi_filter_study` runs all of it; ``popgrad multi-filter`` prints it; notebook 8 and ``docs/multi_filter.md``
show and discuss the numbers.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .._progress import counter
from .._validate import positive_int
from .correlation import STES, CorrelationRow, correlation_study, inner_products
from .descent import DescentRow, descent_study
from .grid import Points, configs, points
from .runs import METHODS, PairRun, run_pair

__all__ = [
    "METHODS",
    "STES",
    "CorrelationRow",
    "DescentRow",
    "MultiFilterStudy",
    "PairRun",
    "battery",
    "format_report",
    "multi_filter_study",
    "relu_identity_law",
]

RUN_PAIRS = ((1, 1), (2, 2), (3, 3), (4, 2))
SIZES = {
    False: {"per_kind": 8, "teachers": 1, "starts": 12, "steps": 1000},
    True: {"per_kind": 32, "teachers": 3, "starts": 32, "steps": 4000},
}


@dataclass(frozen=True)
class MultiFilterStudy:
    """Everything :func:`multi_filter_study` measured (see the package docstring); ``to_dict()`` for JSON."""

    seed: int
    thorough: bool
    sizes: dict
    n_configs: int
    n_points: int
    correlation: list[CorrelationRow]
    relu_identity_law: float
    descent: list[DescentRow]
    runs: list[PairRun]
    seconds: float = field(default=0.0, compare=False)

    def to_dict(self) -> dict:
        return _plain(asdict(self))


def _plain(x: object) -> Any:
    """JSON-ready copy: numpy scalars and arrays to Python, tuples to lists, dict keys to strings."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    return x


def battery(seed: int = 0, thorough: bool = False, per_kind: int = 8) -> list[Points]:
    """The correlation/descent battery (:mod:`.grid`): 64 configurations (1216 if ``thorough``), ``per_kind``
    points of each of the four kinds each, from ``np.random.default_rng([seed, 0])``."""
    rng = np.random.default_rng([seed, 0])
    return [points(rng, c, per_kind) for c in configs(rng, thorough)]


def relu_identity_law(batteries: list[Points]) -> float:
    r"""Largest :math:`|\langle E g_{id}, \partial f/\partial w_k\rangle
    - 2\langle E g_{relu}, \partial f/\partial w_k\rangle|` over the battery, in units of the rounding bounds
    of the two inner products.  With the binary :math:`\sigma` both coarse gradients have the same
    :math:`\hat w_b`-components up to the factor 2, and :math:`\partial f/\partial w_k \perp w_k`; so the
    identity and ReLU STEs fail at the same points.  At most 1 when the law holds to rounding."""
    worst = 0.0
    for pts in batteries:
        a, b = (inner_products(pts.model, pts.v, pts.w, s) for s in ("identity", "relu"))
        dev = np.abs(a["inner_f"] - 2 * b["inner_f"]) / (a["bound_f"] + 2 * b["bound_f"])
        worst = max(worst, float(np.max(dev)))
    return worst


def multi_filter_study(
    seed: int = 0,
    thorough: bool = False,
    *,
    per_kind: int | None = None,
    pairs: tuple[tuple[int, int], ...] = RUN_PAIRS,
    teachers: int | None = None,
    starts: int | None = None,
    steps: int | None = None,
    m: int = 4,
    n: int = 6,
    progress: bool | None = None,
) -> MultiFilterStudy:
    """Run the whole study (package docstring).

    Parameters
    ----------
    seed : the battery uses ``default_rng([seed, 0])``, the runs of teacher ``t`` of ``(K, K*)``
        ``default_rng([seed, 1, K, K*, t])``.
    thorough : larger sizes (:data:`SIZES`: 32 points per kind and every n in 2..20 instead of one n; 3 teachers
        per ``(K, K*)``, 32 starts and 4000 steps instead of 1, 12 and 1000).
    per_kind, teachers, starts, steps : override the sizes.
    pairs : the ``(K, K*)`` of the runs (default (1, 1) -- the paper's model, a control -- (2, 2), (3, 3), (4, 2)).
    m, n : patches and patch dimension of the runs.
    progress : a tqdm bar over the study's steps (battery, correlation, descent, each run; ``None``: on a
        terminal only).
    """
    t0 = time.perf_counter()
    sizes = dict(SIZES[bool(thorough)])
    for key, val in (("per_kind", per_kind), ("teachers", teachers), ("starts", starts), ("steps", steps)):
        if val is not None:
            sizes[key] = positive_int(val, key)
    m, n = positive_int(m, "m"), positive_int(n, "n", 2)
    for pair in pairs:
        if len(pair) != 2 or positive_int(pair[0], "K") < positive_int(pair[1], "K*"):
            raise ValueError(f"pairs must be (K, K*) with K >= K* >= 1 (a global minimum has f = 0), got {pair}")
    jobs = [(k, ks, t) for k, ks in pairs for t in range(sizes["teachers"])]
    done = counter(3 + len(jobs), "popgrad multi-filter", progress, unit="step")
    bat = battery(seed, thorough, sizes["per_kind"])
    done.update()
    corr = correlation_study(bat)
    law = relu_identity_law(bat)
    done.update()
    desc = descent_study(bat)
    done.update()
    runs = []
    for k, ks, t in jobs:
        runs.append(run_pair(k, ks, m, n, sizes["starts"], sizes["steps"], np.random.default_rng([seed, 1, k, ks, t])))
        done.update()
    done.close()
    return MultiFilterStudy(
        seed=seed,
        thorough=bool(thorough),
        sizes=sizes,
        n_configs=len(bat),
        n_points=sum(len(p.v) for p in bat),
        correlation=corr,
        relu_identity_law=law,
        descent=desc,
        runs=runs,
        seconds=time.perf_counter() - t0,
    )


def format_report(study: MultiFilterStudy) -> str:
    """The study as plain-text tables (``popgrad multi-filter``)."""
    lines = [
        f"multi-filter study (beyond the paper; measured, seed {study.seed}, "
        f"{'thorough' if study.thorough else 'default'} sizes {study.sizes}): "
        f"{study.n_configs} configurations, {study.n_points} points, {study.seconds:.1f} s",
        "",
        "correlation <E g, df/dW> (failure: below minus its rounding bound)",
        f"{'STE':<14}{'fail W':>10}{'frac':>9}{'fail filt':>11}{'frac':>9}{'worst cos W':>13}{'worst cos filt':>16}",
    ]
    for r in study.correlation:
        lines.append(
            f"{r.ste:<14}{r.fail_w:>10}{r.frac_fail_w:>9.4f}{r.fail_filters:>11}{r.frac_fail_filters:>9.4f}"
            f"{r.worst_cos_w:>13.4f}{r.worst_cos_filters:>16.4f}"
        )
    lines.append(f"identity = 2 x relu (per filter), worst deviation / rounding bound: {study.relu_identity_law:.3g}")
    lines += [
        "",
        "descent along -(E dl/dV, E g)",
        f"{'STE':<14}{'points':>8}{'no descent':>12}{'rate > 0':>10}{'(max sin)':>11}",
    ]
    for d in study.descent:
        lines.append(
            f"{d.ste:<14}{d.n_points - d.critical - d.undecided:>8}{d.no_descent:>12}{d.positive_rate:>10}"
            f"{d.positive_rate_max_sin:>11.2g}"
        )
    lines += ["", "runs from the same starts (one row per teacher): reached a global minimum (stalled elsewhere)"]
    lines.append(f"{'K':>3}{'K*':>4}{'starts':>8}{'steps':>7}" + "".join(f"{mt:>16}" for mt in METHODS))
    for run in study.runs:
        cells = "".join(f"{f'{run.reached_global[mt]} ({run.stalled[mt]})':>16}" for mt in METHODS)
        lines.append(f"{run.k:>3}{run.k_star:>4}{run.starts:>8}{run.steps:>7}{cells}")
    lines += ["", "gradient descent end points, settled: labels; spurious minima: |E g| / max(1, |V*|^2)"]
    for run in study.runs:
        lines.append(f"K={run.k} K*={run.k_star}: {run.settled}")
        for s in run.spurious:
            norms = ", ".join(
                f"{ste} {s['coarse_norm'][ste]:.3g}{' (0)' if s['coarse_vanishes'][ste] else ''}" for ste in STES
            )
            lines.append(f"    f = {s['loss']:.4g} ({s['runs']} runs): {norms}")
    return "\n".join(lines)
