r"""Coarse gradient descent (Algorithm 1 of the paper), batched over many runs.

.. math:: v^{t+1} = v^t - \eta\, G_v(v^t, w^t), \qquad w^{t+1} = w^t - \eta\, G_w(v^t, w^t),

where :math:`(G_v, G_w)` is a *gradient oracle*.  :func:`expected_gradient` gives the population
oracle :math:`(E_Z[\partial\ell/\partial v], E_Z[g_\mu]) = ` ``Model.coarse_grad`` (Lemmas 4, 7, 9);
:func:`sampled_gradient` draws a fresh batch of inputs each step (stochastic coarse gradient descent,
Remark 1).  Any ``oracle(v, w, rng) -> (G_v, G_w)`` plugs in unchanged.

``v0 (B, m)``, ``w0 (B, n)`` run ``B`` independent descents in lockstep; each stops on its own
(converged, ``w`` collapsed, or ``max_iter``) and is frozen afterwards.  For a
:class:`popgrad.MultiFilterModel` the weights carry a filter axis, ``v0 (B, K, m)``, ``w0 (B, K, n)``, and
every rule on ``w`` applies to each filter (a run stops when *any* filter reaches 0 or collapses).
:func:`true_gradient` is the oracle of plain gradient descent on ``f`` (to compare Algorithm 1 against).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from ._validate import as_vector_batch, broadcast_leading, positive_int, real_number
from .models import Model, MultiFilterModel
from .models.multi_filter import student_filters
from .montecarlo import draw_inputs, per_sample
from .ste import STE, resolve

__all__ = ["Oracle", "Trajectory", "descend", "expected_gradient", "sampled_gradient", "true_gradient"]

Oracle = Callable[[np.ndarray, np.ndarray, np.random.Generator], tuple[np.ndarray, np.ndarray]]

_CHUNK = 256  # steps whose loss and angle are evaluated together
CONVERGED, W_ZERO, COLLAPSE, STOP_WHEN, MAX_ITER = "converged", "w_zero", "w_collapse", "stop_when", "max_iter"


def expected_gradient(model: Model | MultiFilterModel, ste: str | STE = "relu") -> Oracle:
    r"""Population oracle: :math:`(E\,\partial\ell/\partial v,\ E\,g_\mu)` from ``model.coarse_grad``
    (:class:`popgrad.Model` or :class:`popgrad.MultiFilterModel`).

    >>> import popgrad as pg
    >>> oracle = expected_gradient(pg.Model([1.0, -1.0], [1.0, 0.0]), "relu")
    >>> gv, gw = oracle(np.array([[1.0, -1.0]]), np.array([[1.0, 0.0]]), None)
    >>> float(np.abs(gv).max() + np.abs(gw).max())    # the global minimizer is a fixed point
    0.0
    """

    def oracle(v: np.ndarray, w: np.ndarray, rng: np.random.Generator | None) -> tuple[np.ndarray, np.ndarray]:
        gv, gw = model.coarse_grad(v, w, ste=ste)
        return np.asarray(gv), np.asarray(gw)

    return oracle


def true_gradient(model: Model | MultiFilterModel) -> Oracle:
    r"""Oracle of gradient descent on the population loss: :math:`(\partial f/\partial v, \partial f/\partial w)`
    from ``model.grad`` (at exactly parallel or antiparallel filters, the value ``model.grad`` defines there).

    >>> import popgrad as pg
    >>> model = pg.MultiFilterModel([[1.0], [-1.0]], [[1.0, 0.0], [0.0, 1.0]])
    >>> gv, gw = true_gradient(model)(np.array([[[1.0], [-1.0]]]), np.array([[[2.0, 0.0], [0.0, 3.0]]]), None)
    >>> float(np.abs(gv).max() + np.abs(gw).max())    # the teacher itself (any filter norms) is critical
    0.0
    """

    def oracle(v: np.ndarray, w: np.ndarray, rng: np.random.Generator | None) -> tuple[np.ndarray, np.ndarray]:
        gv, gw = model.grad(v, w)
        return np.asarray(gv), np.asarray(gw)

    return oracle


def sampled_gradient(model: Model, ste: str | STE = "relu", batch_size: int = 64, rows: object = "gaussian") -> Oracle:
    r"""Sampled oracle: for each run, a fresh batch :math:`Z_1..Z_N` (``N = batch_size``, rows i.i.d.
    from ``rows``, :func:`popgrad.montecarlo.draw_inputs`) and the batch means
    :math:`(\frac1N\sum_k \partial\ell/\partial v,\ \frac1N\sum_k g_\mu)` of the literal per-sample
    quantities (:func:`popgrad.montecarlo.per_sample`); unbiased for :func:`expected_gradient` with
    Gaussian rows.  Every run and step gets its own batch, drawn from the generator ``descend`` passes
    (``seed``), so a trajectory is deterministic given ``seed``.

    ``ste``: a name or a :class:`popgrad.ste.STE`.  Shapes: ``v (B, m)``, ``w (B, n)`` -> ``(B, m), (B, n)``.

    >>> import popgrad as pg
    >>> model = pg.Model([1.0, -1.0], [1.0, 0.0])
    >>> oracle = sampled_gradient(model, "clipped_relu", batch_size=8)
    >>> gv, gw = oracle(np.array([[0.5, 0.5]]), np.array([[0.0, 1.0]]), np.random.default_rng(0))
    >>> gv.shape, gw.shape
    ((1, 2), (1, 2))
    """
    batch_size = positive_int(batch_size, "batch_size")
    name = resolve(ste).name

    def oracle(v: np.ndarray, w: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        if not isinstance(rng, np.random.Generator):
            raise TypeError("a sampled oracle needs a numpy Generator: call descend(..., seed=...)")
        gv, gw = np.empty_like(v, dtype=float), np.empty_like(w, dtype=float)
        for b in range(v.shape[0]):
            Z = draw_inputs(rng, batch_size, model.m, model.n, rows)
            ps = per_sample(model, v[b], w[b], Z, ste=ste)
            gv[b], gw[b] = ps.grad_v.mean(0), ps.coarse_grad_w[name].mean(0)
        return gv, gw

    return oracle


@dataclass(frozen=True)
class Trajectory:
    r"""Per-step records of ``B`` runs of coarse gradient descent (``T`` = steps of the longest run).

    Attributes
    ----------
    loss, theta, w_norm : (T+1, B)   :math:`f(v^t, w^t)`, :math:`\theta(w^t, w^*)`, :math:`\|w^t\|`
    grad_v_norm, grad_w_norm : (T+1, B)   norms of the oracle's ``v``- and ``w``-parts at step t
    v : (T+1, B, m) or None,  w : (T+1, B, n) or None   (``record="all"``)
    v_final : (B, m), w_final : (B, n)

    For a :class:`popgrad.MultiFilterModel` the weights keep their filter axis (``v (T+1, B, K, m)``,
    ``v_final (B, K, m)``, ...), ``theta`` is ``(T+1, B, K, K + K*)`` (``MultiFilterModel.theta``: each student
    filter against the students, then the teachers), ``w_norm`` is ``(T+1, B, K)``, and the gradient norms are
    Frobenius norms over all filters.
    n_iter : (B,) int    steps taken by each run (later rows repeat the frozen state)
    reason : (B,) str    ``"converged"``, ``"w_collapse"``, ``"w_zero"``, ``"stop_when"`` or ``"max_iter"``
    lr : float
    """

    loss: np.ndarray
    theta: np.ndarray
    w_norm: np.ndarray
    grad_v_norm: np.ndarray
    grad_w_norm: np.ndarray
    v: np.ndarray | None
    w: np.ndarray | None
    v_final: np.ndarray
    w_final: np.ndarray
    n_iter: np.ndarray
    reason: np.ndarray
    lr: float

    @property
    def converged(self) -> np.ndarray:
        """(B,) bool: the run met the gradient tolerance."""
        return self.reason == CONVERGED


def _norms(x: np.ndarray) -> np.ndarray:
    """Norms along the last axis; where the squares overflow (entries beyond ~1e154), by scaled hypot."""
    with np.errstate(over="ignore"):
        r = np.linalg.norm(x, axis=-1)
    big = ~np.isfinite(r)
    if np.any(big):
        r[big] = np.hypot.reduce(x[big], axis=-1)
    return r


def _dots(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise ``a . b``; rows whose products overflow are first scaled (by positive factors: the sign holds)."""
    with np.errstate(over="ignore", invalid="ignore"):
        d = np.einsum("bi,bi->b", a, b)
    big = ~np.isfinite(d)
    if np.any(big):
        a_big, b_big = a[big], b[big]
        a_big = a_big / np.max(np.abs(a_big), axis=-1, keepdims=True)
        b_big = b_big / np.max(np.abs(b_big), axis=-1, keepdims=True)
        d[big] = np.einsum("bi,bi->b", a_big, b_big)
    return d


def default_lr(model: Model | MultiFilterModel, k: int = 1) -> float:
    r""":math:`\eta = 1/(m+1)`: half of :math:`2/L_v`, with :math:`L_v = (m+1)/4` the largest eigenvalue
    of :math:`\partial^2 f/\partial v^2 = \tfrac14(I + 11^\top)` (Lemma 2).

    With K filters, :math:`\partial^2 f/\partial V^2 = E[ss^\top]`, :math:`s_{ki} = \sigma(z_i^\top w_k)`; by
    Cauchy-Schwarz :math:`E(x^\top s)^2 \le K\sum_k E(x_k^\top s_k)^2 \le K\frac{m+1}{4}\|x\|^2` (binary
    :math:`\sigma`), with equality when all filters are parallel: :math:`\eta = 1/(K(m+1))`, ``k`` = K
    student filters."""
    return 1.0 / (k * (model.m + 1))


def _starts(model: Model | MultiFilterModel, v0: ArrayLike, w0: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Validated starting points as copies ``(B, m), (B, n)``, or ``(B, K, m), (B, K, n)`` for K filters."""
    if not isinstance(model, MultiFilterModel):
        v = as_vector_batch(v0, "v0", model.m)
        w = as_vector_batch(w0, "w0", model.n)
        batch = broadcast_leading(v, w)
        return (
            np.broadcast_to(v, (*batch, model.m)).reshape(-1, model.m).copy(),
            np.broadcast_to(w, (*batch, model.n)).reshape(-1, model.n).copy(),
        )
    v, w = student_filters(v0, "v0", model.m), student_filters(w0, "w0", model.n)
    k = v.shape[-2]
    if w.shape[-2] != k:
        raise ValueError(f"v0 {v.shape} and w0 {w.shape} must have the same number K of filters (axis -2)")
    batch = broadcast_leading(v[..., 0], w[..., 0])
    return (
        np.broadcast_to(v, (*batch, k, model.m)).reshape(-1, k, model.m).copy(),
        np.broadcast_to(w, (*batch, k, model.n)).reshape(-1, k, model.n).copy(),
    )


def _any_filter(x: np.ndarray) -> np.ndarray:
    """``(B,)`` from a per-filter ``(B, K)`` condition (any filter); ``(B,)`` unchanged."""
    return np.any(x, axis=-1) if x.ndim == 2 else x


def descend(
    model: Model | MultiFilterModel,
    v0: ArrayLike,
    w0: ArrayLike,
    ste: str | STE = "relu",
    *,
    lr: float | None = None,
    max_iter: int = 5000,
    gtol: float = 1e-8,
    oracle: Oracle | None = None,
    record: str = "all",
    seed: int | np.random.SeedSequence | None = None,
    c_w: float | None = 0.0,
    stop_when: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> Trajectory:
    r"""Run Algorithm 1 from ``v0 (..., m)``, ``w0 (..., n)`` (leading axes broadcast to ``B`` runs); for a
    :class:`popgrad.MultiFilterModel` from ``v0 (..., K, m)``, ``w0 (..., K, n)``.

    Parameters
    ----------
    model : the teacher.
    ste : STE of the expected coarse gradient (ignored when ``oracle`` is given).
    lr : constant step :math:`\eta` (default :func:`default_lr`, with the K of ``v0``).
    max_iter : largest number of steps per run.
    gtol : a run stops when :math:`\|(G_v, G_w)\| \le` ``gtol`` :math:`\cdot\|v^*\|^2` (the natural
        scale of both parts; Frobenius norms for K filters).
    oracle : gradient oracle ``(v, w, rng) -> (G_v, G_w)``; default :func:`expected_gradient`.
    record : ``"all"`` (also ``v`` and ``w`` per step) or ``"scalars"``.
    seed : seeds the generator passed to the oracle (used by sampled oracles only).
    c_w : Theorem 1 assumes :math:`\|w^t\| \ge c_w > 0`.  A run stops with reason ``"w_collapse"``
        *after* the step on which :math:`\|w^{t+1}\| < c_w` or ``w`` passes through the origin
        (:math:`w^{t+1}\cdot w^t \le 0`): there the assumption fails for every :math:`c_w > 0` and
        :math:`\theta` jumps.  ``None`` disables this rule (the run goes on through the origin).
        A run that lands exactly on ``w = 0`` always stops before that step (``"w_zero"``).  With K filters
        both rules watch every filter: the first filter to collapse or reach 0 stops the run.
    stop_when : optional predicate ``(v (B, m), w (B, n)) -> (B,) bool`` (``(B, K, m), (B, K, n)`` for K
        filters); a run stops (reason ``"stop_when"``) at the first point where it is true.

    Examples
    --------
    >>> import popgrad as pg
    >>> model = pg.Model([1.0, 2.0], [1.0, 0.0])
    >>> tr = descend(model, [0.5, 0.5], [1.0, 1.0], "relu", max_iter=3000)
    >>> tr.reason.tolist(), bool(np.all(np.diff(tr.loss[:, 0]) <= 0)), float(tr.theta[-1, 0]) < 1e-6
    (['converged'], True, True)

    Two filters (the oracle may be :func:`true_gradient` for plain gradient descent on ``f``):

    >>> teacher = pg.MultiFilterModel([[1.0, 0.5], [-0.5, 1.0]], [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    >>> tr = descend(teacher, [[1.0, 0.5], [-0.5, 1.0]], [[1.0, 0.2, 0.0], [0.0, 1.0, 0.1]], "relu", record="scalars")
    >>> tr.v_final.shape, tr.theta.shape[1:], tr.w_norm.shape[1:]
    ((1, 2, 2), (1, 2, 4), (1, 2))
    """
    v, w = _starts(model, v0, w0)
    unit = v.ndim - 1  # axes of one run: (m,) or (K, m)
    if np.any(~np.any(w != 0, axis=-1)):
        raise ValueError("w0 contains a zero vector: the coarse gradient is undefined at w = 0; start from w != 0")
    max_iter = positive_int(max_iter, "max_iter", 0)
    lr = default_lr(model, 1 if unit == 1 else v.shape[1]) if lr is None else _positive_step(lr)
    tol = _gradient_tolerance(gtol) * float(np.vdot(model.v_star, model.v_star))
    if record not in ("all", "scalars"):
        raise ValueError(f"record must be 'all' or 'scalars', got {record!r}")
    oracle = expected_gradient(model, ste) if oracle is None else oracle
    rng = np.random.default_rng(seed)

    b = v.shape[0]
    active = np.ones(b, dtype=bool)
    n_iter = np.zeros(b, dtype=int)
    reason = np.full(b, MAX_ITER, dtype=object)
    recorder = _Recorder(model, b, keep_points=record == "all")
    gv, gw = oracle(v, w, rng)
    for t in range(max_iter + 1):
        gnorm = recorder.add(v, w, gv, gw)
        _stop(active, reason, gnorm <= tol, CONVERGED)
        if stop_when is not None:
            _stop(active, reason, np.asarray(stop_when(v, w), dtype=bool), STOP_WHEN)
        if t == max_iter or not np.any(active):
            break
        v, w, collapse = _step(v, w, gv, gw, lr, active, reason, c_w)
        n_iter += active
        _stop(active, reason, collapse, COLLAPSE)
        if np.any(active):  # frozen runs keep their point and their last gradient
            gv_a, gw_a = oracle(v[active], w[active], rng)
            gv, gw = gv.copy(), gw.copy()
            gv[active], gw[active] = gv_a, gw_a
    return recorder.trajectory(v_final=v, w_final=w, n_iter=n_iter, reason=reason.astype(str), lr=lr)


def _positive_step(lr: object) -> float:
    """``lr`` as a positive finite float, or ValueError."""
    lr = real_number(lr, "lr")
    if not (np.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive finite number, got {lr}")
    return lr


def _gradient_tolerance(gtol: object) -> float:
    """``gtol`` as a finite float ``>= 0``, or ValueError."""
    gtol = real_number(gtol, "gtol")
    if not (np.isfinite(gtol) and gtol >= 0):
        raise ValueError(f"gtol must be a finite number >= 0, got {gtol}")
    return gtol


def _stop(active: np.ndarray, reason: np.ndarray, hit: np.ndarray, why: str) -> None:
    """Stop the active runs where ``hit``, with reason ``why`` (in place)."""
    hit = active & hit
    reason[hit] = why
    active &= ~hit


def _step(
    v: np.ndarray,
    w: np.ndarray,
    gv: np.ndarray,
    gw: np.ndarray,
    lr: float,
    active: np.ndarray,
    reason: np.ndarray,
    c_w: float | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One step of the active runs; returns the new ``(v, w)`` and the runs whose ``w`` collapsed on it.

    A run whose step would land on ``w = 0`` stops *before* the step (reason ``"w_zero"``, set here in place:
    the model is undefined there); collapse (``|w| < c_w`` or ``w`` through the origin) is judged after it.
    """
    unit = v.ndim - 1
    v_new = v - lr * gv
    w_new = w - lr * gw
    _stop(active, reason, _any_filter(~np.any(w_new != 0, axis=-1)), W_ZERO)
    collapse = np.zeros_like(active)
    if c_w is not None:
        small = _norms(w_new) < c_w
        through = _dots(w_new.reshape(-1, w.shape[-1]), w.reshape(-1, w.shape[-1])).reshape(w.shape[:-1]) <= 0
        collapse = active & _any_filter(small | through)
    step = active.reshape(-1, *(1,) * unit)
    return np.where(step, v_new, v), np.where(step, w_new, w), collapse


class _Recorder:
    """The per-step record of a batch of runs: gradient norms every step; loss, angle and ``|w|`` of chunks
    of ``_CHUNK`` steps in one batched call (not one call per step); the points when ``keep_points``."""

    def __init__(self, model: Model | MultiFilterModel, b: int, keep_points: bool) -> None:
        self.model, self.b, self.keep_points = model, b, keep_points
        self.rec: dict[str, list[np.ndarray]] = {k: [] for k in ("loss", "theta", "w_norm", "gv", "gw", "v", "w")}
        self.chunk_v: list[np.ndarray] = []
        self.chunk_w: list[np.ndarray] = []

    def add(self, v: np.ndarray, w: np.ndarray, gv: np.ndarray, gw: np.ndarray) -> np.ndarray:
        """Record one step; returns the norm of the whole gradient ``(G_v, G_w)`` per run, shape ``(B,)``."""
        gvn, gwn = _norms(gv.reshape(len(gv), -1)), _norms(gw.reshape(len(gw), -1))  # all filters together
        self.rec["gv"].append(gvn)
        self.rec["gw"].append(gwn)
        self.chunk_v.append(v.copy())
        self.chunk_w.append(w.copy())
        if len(self.chunk_v) == _CHUNK:
            self.flush()
        return np.hypot(gvn, gwn)

    def flush(self) -> None:
        """Loss, angle and norm of the pending chunk of steps."""
        if not self.chunk_v:
            return
        cv, cw = np.stack(self.chunk_v), np.stack(self.chunk_w)
        self.rec["loss"].append(np.asarray(self.model.loss(cv, cw)).reshape(-1, self.b))
        theta = np.asarray(self.model.theta(cw))
        self.rec["theta"].append(theta.reshape(-1, self.b, *theta.shape[2:]))
        self.rec["w_norm"].append(_norms(cw))
        if self.keep_points:
            self.rec["v"].append(cv)
            self.rec["w"].append(cw)
        self.chunk_v.clear()
        self.chunk_w.clear()

    def trajectory(
        self, v_final: np.ndarray, w_final: np.ndarray, n_iter: np.ndarray, reason: np.ndarray, lr: float
    ) -> Trajectory:
        """The :class:`Trajectory` of the recorded steps and the runs' final state."""
        self.flush()
        stack = {
            k: (np.concatenate(x) if k in ("loss", "theta", "w_norm", "v", "w") else np.stack(x))
            for k, x in self.rec.items()
            if x
        }
        return Trajectory(
            loss=stack["loss"],
            theta=stack["theta"],
            w_norm=stack["w_norm"],
            grad_v_norm=stack["gv"],
            grad_w_norm=stack["gw"],
            v=stack.get("v"),
            w=stack.get("w"),
            v_final=v_final,
            w_final=w_final,
            n_iter=n_iter,
            reason=reason,
            lr=lr,
        )
