r"""Measurements beyond the paper: STE families, and staircase (multi-bit) activations.

These are *measurements* (grids and random draws, seeds fixed), not proofs.

:func:`ste_families` -- for the leaky-ReLU STEs (:math:`\mu' = 1` for :math:`x > 0`, :math:`\alpha`
otherwise, :math:`\alpha \in [0, 1]`) and the clipped-ReLU STEs (:math:`\mu' = 1\{0 < x < c\}`):

* the correlation
  :math:`\langle E g_\mu, \partial f/\partial w\rangle = \frac{(v^\top v^*)^2}{2\pi\|w\|}\sin\theta\,c_*`
  (closed form, :func:`popgrad.closed_form.inner_w`): it is :math:`\ge 0` everywhere iff the
  :math:`\hat w^*`-coefficient :math:`c_*(\theta, \|w\|) \ge 0`; measured as the minimum of
  ``Model.correlation(...).inner_w`` over a grid of :math:`\theta`, :math:`\|w\|` and random teachers/students;
* stability: :math:`\|E g_\mu\|` at the spurious minimizers :math:`\theta = \pi`,
  :math:`v = (I + 11^\top)^{-1}(11^\top - I)v^*` of Proposition 1 (``vanishes`` when it is 0 to rounding).

:func:`staircase_study` -- for uniform ``bits``-bit activations: where positive correlation and the descent
property hold, and the paper's Fig. 2 protocol in the population model (descents by
:func:`popgrad.dynamics.descend` on a staircase :class:`popgrad.Model`).  Notebooks 6 and 7 show both studies.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike

from . import ste as ste_mod
from ._progress import bar
from .activation import Activation, uniform
from .dynamics import Trajectory, descend
from .models import Model
from .ste import STE

__all__ = ["FamilyMember", "StaircaseResult", "spurious_minimizer_v", "staircase_study", "ste_families"]

_ALPHAS = np.linspace(0.0, 1.0, 11)  # the default leaky-ReLU slopes (a module constant: ruff B008)
_ALPHAS.flags.writeable = False


@dataclass(frozen=True)
class FamilyMember:
    """Measured behaviour of one STE (see :func:`ste_families`).

    min_inner_w : smallest :math:`\\langle E g_\\mu, \\partial f/\\partial w\\rangle / (v^\\top v^*)^2` seen
    keeps_correlation : ``min_inner_w >= 0``
    max_norm_at_spurious : largest :math:`\\|E g_\\mu\\| / \\|v^*\\|^2` at the spurious minimizers
    vanishes_at_spurious : that norm is below ``1e-13`` (rounding)
    """

    family: str
    param: float
    min_inner_w: float
    keeps_correlation: bool
    max_norm_at_spurious: float
    vanishes_at_spurious: bool


def spurious_minimizer_v(v_star: np.ndarray) -> np.ndarray:
    r""":math:`v = (I + 11^\top)^{-1}(11^\top - I)v^*` (Proposition 1); shape ``(m,)``."""
    v_star = np.asarray(v_star, dtype=np.float64)
    m = v_star.size
    ones = np.ones((m, m))
    return np.linalg.solve(np.eye(m) + ones, (ones - np.eye(m)) @ v_star)


def _teachers(rng: np.random.Generator, count: int, m: int, n: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Random teachers with spurious local minimizers: (1'v*)^2 < (m+1)/2 ||v*||^2 and 1'v* != 0."""
    out: list[tuple[np.ndarray, np.ndarray]] = []
    while len(out) < count:
        v_star = rng.normal(size=m)
        if 0 < v_star.sum() ** 2 < 0.5 * (m + 1) * (v_star @ v_star):
            out.append((v_star, rng.normal(size=n)))
    return out


def ste_families(
    alphas: ArrayLike = _ALPHAS,
    clips: ArrayLike = (0.05, 0.2, 0.5, 1.0, 2.0, 5.0, 20.0),
    n_teachers: int = 4,
    m: int = 4,
    n: int = 5,
    seed: int = 0,
    teachers: list[tuple[np.ndarray, np.ndarray]] | None = None,
    progress: bool | None = None,
) -> list[FamilyMember]:
    """Measure every leaky-ReLU (``alphas``) and clipped-ReLU (``clips``) STE; see the module docstring.

    ``progress``: a tqdm bar over the members (``None``: on a terminal only; :mod:`popgrad._progress`).

    Grid: :math:`\\theta` in 33 points of :math:`[0, \\pi]` (ends included), :math:`\\|w\\|` in
    ``geomspace(0.05, 20, 9)``, ``n_teachers`` random teachers (with spurious minimizers), one random
    student ``v`` each (or the given ``teachers``, a list of ``(v_star, w_star)``).  At the spurious
    minimizers :math:`\\|w\\|` runs over the same 9 values.
    """
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    thetas = np.linspace(0.0, np.pi, 33)
    norms = np.geomspace(0.05, 20.0, 9)
    if teachers is None:
        teachers = _teachers(rng, n_teachers, m, n)
    n = teachers[0][1].size
    members = [("leaky_relu", float(a), ste_mod.leaky_relu(float(a))) for a in np.atleast_1d(alphas)]
    members += [("clipped_relu", float(c), ste_mod.clipped_relu(float(c))) for c in np.atleast_1d(clips)]
    out = []
    for family, param, s in bar(members, "popgrad families", progress, unit="STE"):
        worst_inner, worst_norm = np.inf, 0.0
        for v_star, w_star in teachers:
            model = Model(v_star, w_star)
            w_hat = w_star / np.linalg.norm(w_star)
            perp = rng.normal(size=n)
            perp -= (perp @ w_hat) * w_hat
            perp /= np.linalg.norm(perp)
            direction = np.cos(thetas)[:, None] * w_hat + np.sin(thetas)[:, None] * perp
            w = (norms[:, None, None] * direction[None]).reshape(-1, n)
            v = rng.normal(size=m)
            vv = v @ v_star
            inner = model.correlation(v, w, s).inner_w / vv**2
            _, g = model.coarse_grad(spurious_minimizer_v(v_star), -norms[:, None] * w_hat, s)
            worst_inner = min(worst_inner, float(inner.min()))
            worst_norm = max(worst_norm, float(np.linalg.norm(g, axis=-1).max() / (v_star @ v_star)))
        out.append(FamilyMember(family, param, worst_inner, worst_inner >= 0, worst_norm, worst_norm < 1e-13))
    return out


@dataclass(frozen=True)
class StaircaseResult:
    """Measurements for one (activation, STE) pair (see :func:`staircase_study`).

    Attributes
    ----------
    frac_inner_w_negative : fraction of grid points with :math:`\\langle E g, \\partial f/\\partial w\\rangle < 0`
    frac_no_descent : fraction with :math:`f(v - \\eta\\partial_v f, w - \\eta E g) \\ge f(v, w)`
    min_cos : smallest cosine between the full (v, w) coarse and true gradients
    fig2 : dict
           The Fig. 2 protocol (identity / relu rows only): ``{"from": "clipped_relu", "eta", "steps",
           "runs"}``, each run a dict with ``loss_start``, ``loss_end``, ``loss_max``, ``rises``, the true and
           clipped-ReLU coarse gradient norms and ``‖w‖`` at the start, the smallest ``‖w‖`` on the way,
           :math:`\\theta` at the start and the end, ``start_converged`` and ``train_steps`` (of the
           clipped-ReLU descent that found the start)
    """

    activation: str
    ste: str
    n_points: int
    frac_inner_w_negative: float
    frac_no_descent: float
    min_cos: float
    fig2: dict = field(default_factory=dict)


def _descend(
    model: Model, v: np.ndarray, w: np.ndarray, ste: str | STE, eta: float, steps: int, gtol: float = 0.0
) -> Trajectory:
    """Coarse gradient descent with expected gradients (Algorithm 1, :func:`popgrad.dynamics.descend`) from
    the starts ``v (B, m)``, ``w (B, n)`` in lockstep: constant step ``eta``, at most ``steps`` steps, a run
    stopping where ``|(E dl/dv, E g)| <= gtol |v*|^2`` (with ``gtol = 0``, only at an exact zero);
    ``w`` may pass through the origin (``c_w=None``: the protocol runs on)."""
    return descend(model, v, w, ste, lr=eta, max_iter=steps, gtol=gtol, c_w=None, record="scalars")


def staircase_study(
    bits: tuple[int, ...] = (2, 4),
    top: float = 2.0,
    m: int = 4,
    n: int = 5,
    n_teachers: int = 20,
    n_students: int = 20,
    eta_descent: float = 1e-3,
    fig2_runs: int = 3,
    fig2_eta: float = 1e-3,
    fig2_steps: int = 2000,
    fig2_train_steps: int = 20000,
    fig2_train_eta: float = 0.05,
    seed: int = 0,
) -> list[StaircaseResult]:
    """Uniform ``bits``-bit activations with step ``top / (2**bits - 1)`` (levels cover [0, top] with
    :math:`\\|w^*\\| = 1`, i.e. about two standard deviations of the teacher's pre-activation), and the
    identity, ReLU and clipped-ReLU STEs (clipped at the top level ``top``).

    Correlation/descent: ``n_teachers`` random teachers (``v*`` standard normal, ``w*`` a random unit
    vector), each with ``n_students`` random students (``v`` standard normal, ``w`` random direction with
    ``‖w‖`` log-uniform in [0.3, 3]); descent is tested with one step of ``eta_descent``.

    Fig. 2 protocol: one more random teacher; coarse gradient descent with the clipped-ReLU STE from
    ``fig2_runs`` random standard normal starts (step ``fig2_train_eta``, up to ``fig2_train_steps`` steps, until the
    expected coarse gradient is below :math:`10^{-7}\\|v^*\\|^2`), then ``fig2_steps`` steps of
    ``fig2_eta`` with the identity / ReLU STE from where each start ended; ``rises`` if the loss at the end
    exceeds the loss at the start.  All descents are :func:`popgrad.dynamics.descend`, batched.
    """
    rng = np.random.default_rng(np.random.SeedSequence(seed))

    def teacher(act: Activation) -> Model:
        v_star, w_star = rng.normal(size=m), rng.normal(size=n)
        return Model(v_star, w_star / np.linalg.norm(w_star), activation=act)

    out = []
    for b in bits:
        act: Activation = uniform(b, top / (2**b - 1))
        stes = {"identity": ste_mod.identity, "relu": ste_mod.relu, "clipped_relu": ste_mod.clipped_relu(top)}
        points = []
        for _ in range(n_teachers):
            model = teacher(act)
            w = rng.normal(size=(n_students, n))
            w *= (
                np.exp(rng.uniform(np.log(0.3), np.log(3.0), size=(n_students, 1)))
                / np.linalg.norm(w, axis=-1)[:, None]
            )
            points.append((model, rng.normal(size=(n_students, m)), w))
        fig_model = teacher(act)
        v0, w0 = rng.normal(size=(fig2_runs, m)), rng.normal(size=(fig2_runs, n))
        train = _descend(fig_model, v0, w0, stes["clipped_relu"], fig2_train_eta, fig2_train_steps, gtol=1e-7)
        for name, s in stes.items():
            neg, no_desc, min_cos = _correlation_and_descent(points, s, eta_descent)
            fig2 = {}
            if name != "clipped_relu":
                runs = _fig2_runs(fig_model, train, s, stes["clipped_relu"], fig2_eta, fig2_steps)
                fig2 = {"from": "clipped_relu", "eta": fig2_eta, "steps": fig2_steps, "runs": runs}
            total = n_teachers * n_students
            out.append(StaircaseResult(act.name, name, total, neg / total, no_desc / total, min_cos, fig2))
    return out


def _correlation_and_descent(points: list, ste: ste_mod.STE, eta: float) -> tuple[int, int, float]:
    """Over (model, v, w) batches: points with <E g, df/dw> < 0, points where one step of ``eta`` along the negative
    coarse gradient does not decrease f, and the smallest cosine of the full (v, w) vectors."""
    neg = no_desc = 0
    min_cos = np.inf
    for model, v, w in points:
        c = model.correlation(v, w, ste)
        neg += int(np.sum(c.inner_w < 0))
        min_cos = min(min_cos, float(np.min(c.cos)))
        gv, gw = model.coarse_grad(v, w, ste)
        no_desc += int(np.sum(model.loss(v - eta * gv, w - eta * gw) >= model.loss(v, w)))
    return neg, no_desc, min_cos


def _fig2_runs(model: Model, train: Trajectory, ste: ste_mod.STE, crelu: ste_mod.STE, eta: float, steps: int) -> list:
    """The Fig. 2 protocol from where the clipped-ReLU training ``train`` ended: ``steps`` steps of ``eta`` with
    ``ste``, one record per run."""
    v1, w1 = train.v_final, train.w_final
    tr = _descend(model, v1, w1, ste, eta, steps)
    gv, gw = model.grad(v1, w1)
    cv, cw = model.coarse_grad(v1, w1, crelu)
    return [
        {
            "loss_start": float(tr.loss[0, k]),
            "loss_end": float(tr.loss[-1, k]),
            "loss_max": float(tr.loss[:, k].max()),
            "rises": bool(tr.loss[-1, k] > tr.loss[0, k]),
            "true_grad_norm_at_start": float(np.sqrt(gv[k] @ gv[k] + gw[k] @ gw[k])),
            "crelu_coarse_grad_norm_at_start": float(np.sqrt(cv[k] @ cv[k] + cw[k] @ cw[k])),
            "w_norm_at_start": float(tr.w_norm[0, k]),
            "w_norm_min": float(tr.w_norm[:, k].min()),
            "theta_start": float(tr.theta[0, k]),
            "theta_end": float(tr.theta[-1, k]),
            "start_converged": bool(train.converged[k]),
            "train_steps": int(train.n_iter[k]),
        }
        for k in range(train.v_final.shape[0])
    ]
