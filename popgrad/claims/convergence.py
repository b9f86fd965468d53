r"""Claim 6: convergence of Algorithm 1 with expected coarse gradients (Theorems 1 and 2).

For each teacher, :func:`popgrad.dynamics.descend` with :math:`\eta = 1/(m+1)` (half of
:math:`2/L_v`) runs the ReLU and the clipped-ReLU STE from ``n_inits`` random initialisations
(:math:`v^0 \sim N(0, \|v^*\|^2 I/m)`, :math:`w^0` a random direction of norm
:math:`10^{U(-1/2, 1/2)}`), stopping at :math:`\|(\partial f/\partial v, E g)\| \le 10^{-8}\|v^*\|^2`.

Theorem 1 *assumes* :math:`\|w^t\| \ge c_w > 0` and holds "for :math:`\eta` small enough" (the
bound shrinks with :math:`c_w`: the Lipschitz constant of Lemma 3 grows as :math:`\|w\|` falls).
A run (without collapse) in which ``f`` rises is therefore rerun from the same start with
:math:`\eta/4` and :math:`\eta/16`; the claim fails if ``f`` still rises at :math:`\eta/16`.
A run in which ``w`` passes through the origin (``"w_collapse"``) violates the assumption for every
:math:`c_w`; such runs are counted and reported, and the conclusions are checked on the others:

* ``f`` never increases by more than its rounding error (:func:`popgrad.claims.descent.loss_rounding`,
  x8), at :math:`\eta` or, for the runs where it does at :math:`\eta`, at :math:`\eta/4` or :math:`\eta/16`;
* every run converges within ``max_iter`` (scaled by the teacher, see :func:`convergence`), to a
  point of a known kind (:func:`classify`): a global
  minimizer (:math:`\theta \le 10^{-5}` and :math:`\|v - v^*\| \le 10^{-5}\|v^*\|`, or
  :math:`f \le 10^{-5} f(v, 0)`), the spurious minimizer (:math:`\pi - \theta \le 10^{-5}`,
  :math:`\|v - v_{sp}\| \le 10^{-5}\|v^*\|`) or a saddle (same tolerances);
* Theorem 2: initialisations with :math:`v^{0\top}v^* > 0`, :math:`\theta^0 < \pi/2`,
  :math:`(1^\top v^*)(1^\top v^0) \le (1^\top v^*)^2` keep :math:`v^{t\top}v^* > 0`,
  :math:`\theta^t < \pi/2` and reach a global minimizer;
* Theorem 1, identity STE: started at :math:`\theta = \pi - 10^{-3}`, :math:`v = v_{sp} + 10^{-3}\|v^*\|d`
  (teachers with spurious minimizers, :math:`1^\top v^* \ne 0`, ``m > 1``), the identity STE does not
  converge to the spurious minimizer within ``2 max_iter / 3`` steps while the ReLU STE from the
  same start does.
  Reported, not required: how many identity runs leave the ball of radius 0.1 around the point in
  :math:`(v/\|v^*\|, \theta, \|w\|/\|w^0\|)` and in how many ``f`` rises within those steps.  (At the
  point :math:`E g_{id}` is parallel to ``w`` with norm :math:`\propto (1^\top v^*)^2` (Lemma 9): the
  iterates first slide along the set of spurious minimizers, shrinking :math:`\|w\|`, at a speed that
  is tiny when :math:`1^\top v^*` is small, and leave it when ``w`` collapses.)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..critical import proposition1, random_orthogonal_directions, w_at_angle
from ..dynamics import COLLAPSE, CONVERGED, Trajectory, descend
from ..models import Model
from ._common import EPS
from .battery import Battery, Case, case_points
from .descent import loss_rounding
from .result import Check, ClaimResult

__all__ = ["classify", "convergence"]

TOL_CLASS = 1e-5
STES = ("relu", "clipped_relu")


def classify(model: Model, v: np.ndarray, theta: np.ndarray, loss: np.ndarray) -> np.ndarray:
    """Kind of each limit point: ``"global"``, ``"spurious"``, ``"saddle"`` or ``"other"``; shapes (B,)."""
    cp = proposition1(model.v_star)
    vn = np.linalg.norm(model.v_star)
    out = np.full(theta.shape, "other", dtype=object)
    near_sp = (np.pi - theta <= TOL_CLASS) & (np.linalg.norm(v - cp.spurious_v, axis=-1) <= TOL_CLASS * vn)
    out[near_sp] = "spurious"
    if cp.exists and 0 < cp.saddle_theta < np.pi:
        near_s = (np.abs(theta - cp.saddle_theta) <= TOL_CLASS) & (
            np.linalg.norm(v - cp.saddle_v, axis=-1) <= TOL_CLASS * vn
        )
        out[near_s] = "saddle"
    near_g = (theta <= TOL_CLASS) & (np.linalg.norm(v - model.v_star, axis=-1) <= TOL_CLASS * vn)
    # f <= TOL f(w = 0) also catches the other global minimizers (theta = pi, v = -v* when 1'v* = 0)
    out[near_g | (loss <= TOL_CLASS * 0.125 * (vn**2 + model.v_star.sum() ** 2))] = "global"
    return out.astype(str)


def _random_inits(case: Case, k: int, theorem2: bool) -> tuple[np.ndarray, np.ndarray]:
    model, rng = case.model, case.rng(3 if theorem2 else 4)
    m, n = model.m, model.n
    s = model.v_star.sum()
    vs: list[np.ndarray] = []
    while len(vs) < k:
        v = rng.standard_normal(m) * np.linalg.norm(model.v_star) / np.sqrt(m)
        if not theorem2 or (v @ model.v_star > 0 and s * v.sum() <= s**2):
            vs.append(v)
    r = 10.0 ** rng.uniform(-0.5, 0.5, k)
    if theorem2:
        theta = rng.uniform(0.0, np.pi / 2, k) if n > 1 else np.zeros(k)
        direction = random_orthogonal_directions(rng, model.w_star, k) if n > 1 else None
        w = w_at_angle(model.w_star, theta, r, direction)
    else:
        w = rng.standard_normal((k, n))
        w *= (r / np.linalg.norm(w, axis=1))[:, None]
    return np.array(vs), w


def _run_stats(model: Model, tr: Trajectory) -> dict[str, np.ndarray]:
    assert tr.v is not None  # descend(record="all"), the default
    rounding = 8 * (loss_rounding(tr.v, model.v_star) + EPS * np.abs(tr.loss))
    rise = (
        np.max((tr.loss[1:] - tr.loss[:-1]) / rounding[:-1], axis=0)
        if tr.loss.shape[0] > 1
        else np.zeros(tr.loss.shape[1])
    )
    return {
        "collapse": tr.reason == COLLAPSE,
        "converged": tr.reason == CONVERGED,
        "rise": rise,
        "kind": classify(model, tr.v_final, tr.theta[-1], tr.loss[-1]),
        "iters": tr.n_iter,
        "min_w": tr.w_norm.min(axis=0),
        "gv": tr.grad_v_norm[-1],
        "gw": tr.grad_w_norm[-1],
    }


@dataclass
class _Tally:
    """What the runs of :func:`convergence` found, summed over teachers."""

    rows: list = field(default_factory=list)  # per (teacher, STE): statistics of the random starts
    thm2: list = field(default_factory=list)  # ... and of Theorem 2's starts
    thm2_invariant_violations: int = 0
    n_smaller: int = 0  # runs where f rose at eta (rerun with smaller steps)
    collapsed_smaller: int = 0
    rising: int = 0  # runs where f still rose at eta/16
    needed: int = 0  # the largest step divisor needed
    n_id: int = 0  # starts next to a spurious minimizer
    id_converged: int = 0
    id_left: int = 0
    id_rising: int = 0
    relu_not_converged: int = 0
    id_rise: float = -np.inf
    id_min_w: float = np.inf


def _descents(case: Case, max_iter: int, n_inits: int, tally: _Tally, inits: dict[str, list]) -> None:
    """Random and Theorem-2 starts, one batch per STE; runs where f rises are rerun at eta/4, eta/16."""
    model = case.model
    v_r, w_r = _random_inits(case, n_inits, theorem2=False)
    v_2, w_2 = _random_inits(case, max(2, n_inits // 2), theorem2=True)
    k = v_r.shape[0]
    inits["v0"].append(np.vstack([v_r, v_2]))
    inits["w0"].append(np.vstack([w_r, w_2]))
    for ste in STES:
        tr = descend(model, np.vstack([v_r, v_2]), np.vstack([w_r, w_2]), ste, max_iter=max_iter)
        st = _run_stats(model, tr)
        assert tr.v is not None and tr.w is not None  # descend(record="all"), the default
        tally.rows.append({key: x[:k] for key, x in st.items()})
        st2 = {key: x[k:] for key, x in st.items()}
        tally.thm2.append(st2)
        vv = np.einsum("tbi,i->tb", tr.v[:, k:], model.v_star)
        left = np.any(vv <= 0, axis=0) | np.any(tr.theta[:, k:] >= np.pi / 2, axis=0)
        tally.thm2_invariant_violations += int(np.sum(~st2["collapse"] & left))
        # "for eta small enough": rerun the runs where f rose with smaller steps
        bad = ~st["collapse"] & (st["rise"] > 1)
        tally.n_smaller += int(bad.sum())
        for factor in (4, 16):
            if not bad.any():
                break
            idx = np.flatnonzero(bad)
            tr_f = descend(model, tr.v[0, idx], tr.w[0, idx], ste, lr=tr.lr / factor, max_iter=max_iter)
            st_f = _run_stats(model, tr_f)
            tally.collapsed_smaller += int(st_f["collapse"].sum())
            bad[idx] = ~st_f["collapse"] & (st_f["rise"] > 1)
            tally.needed = max(tally.needed, factor)
        tally.rising += int(bad.sum())


def _near_spurious(case: Case, max_iter: int, tally: _Tally) -> None:
    """Theorem 1's second half: from 1e-3 next to a spurious minimizer, the identity STE does not converge to it
    (distance measured in (v/|v*|, theta, |w|): there E g_id is parallel to w, Lemma 9); the ReLU STE does."""
    model = case.model
    cp = proposition1(model.v_star)
    if not (cp.exists and model.m > 1 and model.n > 1) or abs(model.v_star.sum()) <= 1e-8 * np.linalg.norm(
        model.v_star
    ):
        return
    d = case.rng(6).standard_normal(model.m)
    d /= np.linalg.norm(d)
    vn = np.linalg.norm(model.v_star)
    v0 = cp.spurious_v + 1e-3 * vn * d
    w0 = w_at_angle(model.w_star, np.pi - 1e-3, 1.0)
    tally.n_id += 1

    def dist(v: np.ndarray, w: np.ndarray) -> np.ndarray:
        dv = np.linalg.norm(v - cp.spurious_v, axis=-1) / vn
        return np.sqrt(dv**2 + (np.pi - model.theta(w)) ** 2 + (np.linalg.norm(w, axis=-1) - 1.0) ** 2)

    for ste in ("identity", "relu"):
        tr = descend(model, v0, w0, ste, max_iter=min(max_iter, 2 * max_iter // 3), c_w=None)
        at_spurious = tr.converged[0] and classify(model, tr.v_final, tr.theta[-1], tr.loss[-1])[0] == "spurious"
        if ste == "relu":
            tally.relu_not_converged += int(not at_spurious)
            continue
        tally.id_converged += int(at_spurious)
        assert tr.v is not None and tr.w is not None  # descend(record="all"), the default
        tally.id_left += int(np.any(dist(tr.v[:, 0], tr.w[:, 0]) > 0.1))
        rounding = 8 * (loss_rounding(tr.v[:-1, 0], model.v_star) + EPS * np.abs(tr.loss[:-1, 0]))
        tally.id_rising += int(np.any(np.diff(tr.loss[:, 0]) > rounding))
        tally.id_rise = max(tally.id_rise, float(np.max(np.diff(tr.loss[:, 0]))))
        tally.id_min_w = min(tally.id_min_w, float(tr.w_norm.min()))


def convergence(battery: Battery, max_iter: int | None = None) -> ClaimResult:
    r"""Claim 6; ``max_iter`` defaults to 3000 (20000 for the thorough battery) for teachers with
    :math:`\|v^*\| \ge 1` and grows as :math:`1/\|v^*\|^2` below (at most tenfold): with a fixed
    :math:`\eta` the angle moves by :math:`O(\eta\,v^\top v^*)` per step (Lemma 4), so small teachers
    are slow."""
    base_iter = max_iter or (20000 if battery.thorough else 3000)
    tally = _Tally()
    inits: dict[str, list] = {"v0": [], "w0": []}
    for case in battery.cases:
        v_sq = float(case.model.v_star @ case.model.v_star)
        teacher_iter = int(min(10 * base_iter, np.ceil(base_iter / min(1.0, v_sq))))
        _descents(case, teacher_iter, battery.n_inits, tally, inits)
        _near_spurious(case, teacher_iter, tally)
    rows, thm2 = tally.rows, tally.thm2
    thm2_invariant_violations, n_smaller, rising = tally.thm2_invariant_violations, tally.n_smaller, tally.rising
    collapsed_smaller, needed, n_id = tally.collapsed_smaller, tally.needed, tally.n_id
    id_converged, relu_not_converged, id_rise = tally.id_converged, tally.relu_not_converged, tally.id_rise
    id_left, id_rising, id_min_w = tally.id_left, tally.id_rising, tally.id_min_w
    cat = {k: np.concatenate([r[k] for r in rows]) for k in rows[0]}
    cat2 = {k: np.concatenate([r[k] for r in thm2]) for k in thm2[0]}
    ok, ok2 = ~cat["collapse"], ~cat2["collapse"]
    kinds = cat["kind"][ok & cat["converged"]]
    checks = (
        Check("runs (||w|| >= c_w) where f rises above rounding at eta, eta/4 and eta/16", rising, "==", 0),
        Check(
            "runs (||w|| >= c_w) not converged within max_iter (teacher-scaled)",
            int(np.sum(ok & ~cat["converged"])),
            "==",
            0,
        ),
        Check("converged runs whose limit is not a known critical point", int(np.sum(kinds == "other")), "==", 0),
        Check("Thm 2 runs leaving {v'v* > 0, theta < pi/2}", thm2_invariant_violations, "==", 0),
        Check(
            "Thm 2 runs not reaching a global minimizer",
            int(np.sum(ok2 & (cat2["kind"] != "global"))),
            "==",
            0,
        ),
        Check("identity STE runs (from near the spurious minimizer) converging to it", id_converged, "==", 0),
        Check("ReLU STE runs (same start) not converging to it", relu_not_converged, "==", 0),
    )
    values = {
        "runs": int(ok.size),
        "runs_w_collapse (Thm 1 assumption violated)": int(np.sum(~ok)),
        "global": int(np.sum(kinds == "global")),
        "spurious": int(np.sum(kinds == "spurious")),
        "saddle": int(np.sum(kinds == "saddle")),
        "runs_where_f_rose_at_eta (rerun with smaller eta)": n_smaller,
        "smallest_eta_fraction_needed": 1.0 / max(needed, 1),
        "reruns_that_collapse": collapsed_smaller,
        "max_iterations": int(cat["iters"][ok].max()) if ok.any() else 0,
        "median_iterations": float(np.median(cat["iters"][ok])) if ok.any() else 0.0,
        "min_|w|_without_collapse": float(cat["min_w"][ok].min()) if ok.any() else np.nan,
        "max_final_|df/dv|": float(cat["gv"][ok].max()) if ok.any() else np.nan,
        "max_final_|E g|": float(cat["gw"][ok].max()) if ok.any() else np.nan,
        "thm2_runs": int(ok2.size),
        "thm2_runs_w_collapse": int(np.sum(~ok2)),
        "identity_starts": n_id,
        "identity_max_f_increase_per_step": id_rise,
        "identity_runs_leaving_the_0.1_ball": id_left,
        "identity_runs_where_f_rises": id_rising,
        "identity_min_|w|": id_min_w,
    }
    return ClaimResult(
        key="convergence",
        title="Convergence of coarse gradient descent",
        reference="Thm 1, Thm 2",
        method="expected-gradient dynamics",
        checks=checks,
        n_points=int(ok.size + ok2.size + 2 * n_id),
        values=values,
        points={
            **{k: v for k, v in case_points(battery.cases).items() if k in ("teacher", "v_star", "w_star")},
            **inits,
        },
        headline=1,
    )
