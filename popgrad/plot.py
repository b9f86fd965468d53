r"""Figures of the landscape, the dynamics and the checks, each returned as a matplotlib ``Figure``.

Needs matplotlib (``pip install "popgrad[plot]"``); it is imported only when a function here is
called, so ``import popgrad`` works without it.  Figures are built as ``matplotlib.figure.Figure``
objects, not through pyplot: no global state, no GUI backend, nothing to close.  In Jupyter a figure
left as a cell's value is displayed; elsewhere save it with ``fig.savefig("name.png")``.

Every plotted number comes from popgrad's public API (:class:`popgrad.Model` and, where the figure
needs them, :mod:`popgrad.montecarlo` and :mod:`popgrad.dynamics`); this module computes no formula of
its own, so a figure is exactly as right as the numbers the tests check.

Conventions: filters at angle :math:`\theta` from :math:`w^*` are
:math:`w = r(\cos\theta\,\hat w^* + \sin\theta\,d)` with a fixed unit :math:`d \perp w^*` (all the
plotted quantities are rotation invariant, so the choice of ``d`` does not matter); when ``v`` is not
given, it is the best second layer for that angle, :math:`v_{opt}(\theta) = \arg\min_v f(v, w)`
(the root of :math:`\partial f/\partial v`, Lemma 2), so the loss curve is the profile
:math:`F(\theta) = \min_v f` whose critical points are those of Proposition 1.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from . import critical
from ._validate import as_vector_batch
from .models import Model

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from .families import FamilyMember

__all__ = [
    "GALLERY_POINT",
    "GALLERY_TEACHER",
    "STE_NAMES",
    "descent_trajectories",
    "finite_sample_step",
    "gallery",
    "landscape_curves",
    "landscape_heatmaps",
    "monte_carlo_convergence",
    "precision_agreement",
    "ste_family_study",
    "v_opt",
    "w_at_angle",
]

STE_NAMES = ("identity", "relu", "clipped_relu")
_COLOR = {"identity": "C3", "relu": "C0", "clipped_relu": "C2"}
_LABEL = {"identity": "identity", "relu": "ReLU", "clipped_relu": "clipped ReLU"}
_PI_TICKS = (np.linspace(0, np.pi, 5), ["0", "π/4", "π/2", "3π/4", "π"])


def _new_figure(ncols: int, nrows: int = 1, *, width: float = 3.9, height: float = 3.3) -> tuple[Figure, np.ndarray]:
    """A constrained-layout Figure with an ``(nrows, ncols)`` array of axes."""
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - exercised only without matplotlib
        raise ImportError('popgrad.plot needs matplotlib: pip install "popgrad[plot]"') from exc
    _show_in_ipython(Figure)
    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def _show_in_ipython(figure_type: type) -> None:
    """Let IPython/Jupyter display a pyplot-free Figure as PNG when it is a cell's value.

    pyplot's inline backend registers this formatter on import; these figures never import pyplot,
    so register it here unless a formatter (e.g. the user's SVG choice) already handles Figures.
    """
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None:
        return
    from IPython.core.pylabtools import print_figure

    formatters = shell.display_formatter.formatters
    for mime in ("image/png", "image/svg+xml", "image/jpeg", "application/pdf"):
        try:
            formatters[mime].lookup_by_type(figure_type)
            return
        except KeyError:
            pass
    formatters["image/png"].for_type(figure_type, lambda fig: print_figure(fig, "png", bbox_inches="tight"))


def _label(ste: str) -> str:
    return _LABEL.get(ste, ste)


def _color(ste: str, k: int) -> str:
    return _COLOR.get(ste, f"C{(k + 4) % 10}")


def _theta_axis(ax: Axes) -> None:
    ax.set_xticks(*_PI_TICKS)
    ax.set_xlabel("θ = ∠(w, w*)")
    ax.set_xlim(0, np.pi)


def _ste_names(stes: Sequence[str] | str) -> tuple[str, ...]:
    names = (stes,) if isinstance(stes, str) else tuple(stes)
    if not names or not all(isinstance(s, str) for s in names):
        raise TypeError(f"stes must be a non-empty sequence of STE names, got {stes!r}")
    return names


def w_at_angle(model: Model, theta: ArrayLike, r: ArrayLike = 1.0) -> np.ndarray:
    r"""Filters :math:`w = r(\cos\theta\,\hat w^* + \sin\theta\,d)` at angle ``theta`` from ``model.w_star``:
    :func:`popgrad.critical.w_at_angle` for ``model``'s teacher (``d`` its fixed unit vector orthogonal to
    :math:`w^*`).  ``theta (...)`` in :math:`[0, \pi]`, ``r (...) > 0`` broadcast; returns ``(..., n)``.

    >>> import popgrad as pg
    >>> model = pg.Model([1.0, 1.0], [0.0, 2.0])
    >>> w = w_at_angle(model, np.pi / 3, 2.0)
    >>> round(float(model.theta(w)), 12), round(float(np.linalg.norm(w)), 12)
    (1.047197551197, 2.0)
    """
    return critical.w_at_angle(model.w_star, theta, r)


def v_opt(model: Model, theta: ArrayLike) -> np.ndarray:
    r"""The best second layer at angle ``theta``, the root of :math:`\partial f/\partial v` (Lemma 2):
    ``popgrad.critical.profile(model, theta).v_opt``.  At ``theta = 0`` it is :math:`v^*`, at
    :math:`\pi` Proposition 1's spurious minimizer.  ``theta (...)`` -> ``(..., m)``.

    >>> import popgrad as pg
    >>> model = pg.Model([1.0, -0.5, 2.0], [1.0, 0.0])
    >>> v_opt(model, 0.0).round(12).tolist()
    [1.0, -0.5, 2.0]
    """
    return critical.profile(model, theta).v_opt


def _v_rows(model: Model, v: ArrayLike | None, theta: np.ndarray) -> np.ndarray:
    """``v`` broadcast to ``theta.shape + (m,)``, or :func:`v_opt` when ``v`` is None."""
    if v is None:
        return v_opt(model, theta)
    v = as_vector_batch(v, "v", model.m, batch=False)
    return np.broadcast_to(v, (*theta.shape, model.m))


def _v_text(v: ArrayLike | None) -> str:
    return "v = argmin_v f(v, w)" if v is None else "v fixed"


def landscape_curves(
    model: Model,
    v: ArrayLike | None = None,
    *,
    stes: Sequence[str] = STE_NAMES,
    norms: Sequence[float] = (0.5, 1.0, 2.0),
    theta_at: float = 2 * np.pi / 3,
    num: int = 181,
) -> Figure:
    r"""Three panels: :math:`f` against :math:`\theta`; :math:`\cos\angle(E g_\mu, \partial f/\partial w)`
    against :math:`\theta` per STE; the same cosine against :math:`\|w\|` at :math:`\theta` = ``theta_at``.

    The loss does not depend on :math:`\|w\|` (scale invariance), nor do the identity and ReLU
    cosines (Lemmas 4, 9); the clipped-ReLU cosine does (Lemma 7), so it is drawn for each of
    ``norms`` (solid for the first norm equal to 1, else the first, dashed otherwise).
    Cosines come from :meth:`popgrad.Model.correlation` (``cos_w``) on the open interval
    :math:`0 < \theta < \pi`, where :math:`\partial f/\partial w \ne 0`.

    Parameters
    ----------
    model : the teacher.
    v : (m,) or None (default: :func:`v_opt` at each angle).
    stes : STE names.  norms : filter norms for the clipped ReLU.
    theta_at : angle of the third panel.  num : number of angles.
    """
    stes = _ste_names(stes)
    norms = [float(r) for r in norms]
    theta = np.linspace(0.0, np.pi, num)
    inner = theta[1:-1]
    fig, axes = _new_figure(3)
    ax_f, ax_c, ax_r = axes[0]

    vv = _v_rows(model, v, theta)
    ax_f.plot(theta, model.loss(vv, w_at_angle(model, theta)), color="k", label="f")
    ax_f.set_ylabel("population loss f")
    ax_f.set_title(f"loss ({_v_text(v)})", fontsize=10)
    _theta_axis(ax_f)

    vi = vv[1:-1]
    main_norm = 1.0 if 1.0 in norms else norms[0]
    for k, ste in enumerate(stes):
        draw = norms if ste == "clipped_relu" else [main_norm]
        for r in draw:
            cos = model.correlation(vi, w_at_angle(model, inner, r), ste=ste).cos_w
            extra = f", ‖w‖={r:g}" if ste == "clipped_relu" and len(draw) > 1 else ""
            style = "-" if r == main_norm else ("--" if r < main_norm else ":")
            ax_c.plot(inner, cos, style, color=_color(ste, k), label=_label(ste) + extra)
    ax_c.set_ylabel("cos ∠(E g_μ, ∂f/∂w)")
    ax_c.set_title("coarse vs true gradient (w-part)", fontsize=10)
    ax_c.set_ylim(-0.05, 1.05)
    _theta_axis(ax_c)
    ax_c.legend(fontsize=8, loc="lower left")

    r_grid = np.geomspace(0.05, 20.0, num)
    v_at = _v_rows(model, v, np.asarray(theta_at))
    w_r = w_at_angle(model, theta_at, r_grid)
    for k, ste in enumerate(stes):
        cos = model.correlation(v_at, w_r, ste=ste).cos_w
        ax_r.plot(r_grid, cos, color=_color(ste, k), label=_label(ste))
    ax_r.set_xscale("log")
    ax_r.set_xlabel("‖w‖")
    ax_r.set_ylabel("cos ∠(E g_μ, ∂f/∂w)")
    ax_r.set_ylim(-0.05, 1.05)
    ax_r.set_title(f"against ‖w‖ at θ = {np.degrees(theta_at):.0f}°", fontsize=10)
    ax_r.legend(fontsize=8, loc="lower left")
    fig.suptitle(f"Landscape, teacher v* = {np.round(model.v_star, 3).tolist()}", fontsize=11)
    return fig


def landscape_heatmaps(
    model: Model,
    v: ArrayLike | None = None,
    *,
    stes: Sequence[str] = STE_NAMES,
    theta: ArrayLike | None = None,
    norms: object = None,
) -> Figure:
    r"""Heatmaps of :math:`\cos\angle(E g_\mu, \partial f/\partial w)` over :math:`(\theta, \|w\|)`, one per STE.

    ``theta`` (default 120 angles strictly inside :math:`(0, \pi)`) and ``norms`` (default 80
    log-spaced norms in [0.05, 20]) are the cell centres; the image of panel ``k`` is
    ``model.correlation(v, w(theta, norm), stes[k]).cos_w`` with rows indexed by ``norms``.
    """
    stes = _ste_names(stes)
    theta = np.linspace(0, np.pi, 122)[1:-1] if theta is None else np.asarray(theta, dtype=np.float64)
    norms = np.geomspace(0.05, 20.0, 80) if norms is None else np.asarray(norms, dtype=np.float64)
    if theta.ndim != 1 or norms.ndim != 1 or theta.size < 2 or norms.size < 2:
        raise ValueError("theta and norms must be one-dimensional with at least 2 entries each")
    tt, rr = np.meshgrid(theta, norms)  # (len(norms), len(theta))
    vv = _v_rows(model, v, tt)
    ww = w_at_angle(model, tt, rr)
    fig, axes = _new_figure(len(stes), width=3.6, height=3.2)
    mesh = None
    for ax, ste in zip(axes[0], stes, strict=True):
        cos = model.correlation(vv, ww, ste=ste).cos_w
        mesh = ax.pcolormesh(theta, norms, cos, shading="nearest", cmap="viridis", vmin=0.0, vmax=1.0)
        ax.set_yscale("log")
        ax.set_ylabel("‖w‖")
        ax.set_title(_label(ste), fontsize=10)
        _theta_axis(ax)
    assert mesh is not None  # stes is not empty
    fig.colorbar(mesh, ax=list(axes[0]), label="cos ∠(E g_μ, ∂f/∂w)", shrink=0.9)
    fig.suptitle(f"Alignment of the expected coarse gradient ({_v_text(v)})", fontsize=11)
    return fig


# ---------------------------------------------------------------------------------------------
# Dynamics: coarse gradient descent (Algorithm 1), popgrad.dynamics


def descent_trajectories(
    model: Model,
    v0: ArrayLike,
    w0: ArrayLike,
    *,
    stes: Sequence[str] = STE_NAMES,
    lr: float | None = None,
    max_iter: int = 400,
    title: str | None = None,
    **descend_kwargs: Any,
) -> Figure:
    r"""Coarse gradient descent from the same starts for each STE: :math:`f`, :math:`\theta` and
    :math:`\|w\|` against the iteration.

    ``v0 (B, m)`` and ``w0 (B, n)`` (or single vectors) are the starts; every STE runs
    :func:`popgrad.dynamics.descend` from all of them (``lr``, ``max_iter`` and ``descend_kwargs``
    passed through).  Colours are STEs, line styles are starts (labelled ``start k``).  The plotted
    values are the trajectory's own records (``Trajectory.loss``, ``.theta``, ``.w_norm``), up to each
    run's ``n_iter`` (a stopped run is not extended).
    """
    from .dynamics import descend

    stes = _ste_names(stes)
    v0 = np.atleast_2d(as_vector_batch(v0, "v0", model.m))
    w0 = np.atleast_2d(as_vector_batch(w0, "w0", model.n))
    fig, axes = _new_figure(3, width=3.8, height=3.2)
    ax_f, ax_t, ax_w = axes[0]
    styles = ["-", "--", ":", "-."]
    for k, ste in enumerate(stes):
        tr = descend(model, v0, w0, ste, lr=lr, max_iter=max_iter, **descend_kwargs)
        for b in range(tr.loss.shape[1]):
            steps = int(tr.n_iter[b]) + 1
            t = np.arange(steps)
            label = _label(ste) if b == 0 else None
            kw = {"color": _color(ste, k), "ls": styles[b % len(styles)], "label": label}
            ax_f.plot(t, tr.loss[:steps, b], **kw)
            ax_t.plot(t, tr.theta[:steps, b], **kw)
            ax_w.plot(t, tr.w_norm[:steps, b], **kw)
    ax_f.set_yscale("log")
    ax_f.set_ylabel("population loss f")
    ax_t.set_ylabel("θ = ∠(w, w*)")
    ax_t.set_yticks(*_PI_TICKS)
    ax_t.set_ylim(-0.1, np.pi + 0.1)
    ax_w.set_ylabel("‖w‖")
    for ax in axes[0]:
        ax.set_xlabel("iteration t")
    ax_f.legend(fontsize=8)
    if v0.shape[0] > 1:
        from matplotlib.lines import Line2D

        proxies = [Line2D([], [], color="0.3", ls=styles[b % len(styles)]) for b in range(v0.shape[0])]
        ax_w.legend(proxies, [f"start {b}" for b in range(v0.shape[0])], fontsize=8)
    fig.suptitle(title or "Coarse gradient descent (Algorithm 1), expected gradients", fontsize=11)
    return fig


# ---------------------------------------------------------------------------------------------
# Finite samples (Remark 1, the paper's Fig. 1), popgrad.montecarlo's per-sample code


def finite_sample_step(
    model: Model,
    v: ArrayLike,
    w: ArrayLike,
    *,
    ste: str = "relu",
    sample_sizes: Sequence[int] = (10, 50, 1000, 10000),
    etas: object = None,
    seed: int = 0,
) -> Figure:
    r"""The paper's Fig. 1: the empirical loss after one step of size :math:`\eta` along the negative
    empirical coarse gradient, against :math:`\eta`, one panel per sample size :math:`N`.

    For each :math:`N`, draw :math:`Z_1..Z_N` (:func:`popgrad.montecarlo.draw_inputs`, generator
    ``SeedSequence(seed).spawn(len(sample_sizes))[k]``), take the empirical gradients
    :math:`\hat G_v = \frac1N\sum_k \partial\ell/\partial v`, :math:`\hat G_w = \frac1N\sum_k g_\mu` at
    ``(v, w)`` and plot :math:`\hat f_N(\eta) = \frac1N\sum_k \ell(v - \eta\hat G_v, w - \eta\hat G_w; Z_k)`
    (solid; :func:`popgrad.montecarlo.per_sample`) beside the population loss at the same points
    (dashed; :meth:`popgrad.Model.loss`).  Remark 1: for small :math:`N` the empirical loss is piecewise
    constant and decreases only "in a coarse scale"; it becomes smooth and monotone as :math:`N` grows.
    """
    from .montecarlo import draw_inputs, per_sample

    v = as_vector_batch(v, "v", model.m, batch=False)
    w = as_vector_batch(w, "w", model.n, batch=False)
    etas = np.linspace(0.0, 3.0, 151) if etas is None else np.asarray(etas, dtype=np.float64)
    if etas.ndim != 1 or etas.size < 2:
        raise ValueError("etas must be one-dimensional with at least 2 step sizes")
    sizes = [int(n) for n in sample_sizes]
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(len(sizes))]
    fig, axes = _new_figure(len(sizes), width=3.0, height=3.0)
    for ax, n_samples, rng in zip(axes[0], sizes, rngs, strict=True):
        Z = draw_inputs(rng, n_samples, model.m, model.n)
        ps = per_sample(model, v, w, Z, ste=ste)
        gv, gw = ps.grad_v.mean(axis=0), ps.coarse_grad_w[ste].mean(axis=0)
        emp = [per_sample(model, v - eta * gv, w - eta * gw, Z, ste=ste).loss.mean() for eta in etas]
        ax.plot(etas, emp, color="C0", label="empirical loss")
        ax.plot(etas, model.loss(v - etas[:, None] * gv, w - etas[:, None] * gw), "--", color="k", label="population f")
        ax.set_title(f"N = {n_samples:,}", fontsize=10)
        ax.set_xlabel("step size η")
    axes[0][0].set_ylabel("loss after one step")
    axes[0][0].legend(fontsize=8)
    fig.suptitle(f"One step along the negative empirical coarse gradient ({_label(ste)} STE)", fontsize=11)
    return fig


# ---------------------------------------------------------------------------------------------
# Verification: Monte Carlo, quadrature and 50-digit evaluation against the closed forms


def monte_carlo_convergence(
    model: Model,
    v: ArrayLike,
    w: ArrayLike,
    *,
    stes: Sequence[str] = STE_NAMES,
    sizes: Sequence[int] = (100, 1000, 10_000, 100_000),
    seeds: Sequence[int] = (0, 1, 2),
    method: str = "full",
) -> Figure:
    r"""Monte Carlo error against the number of samples :math:`N`, on log-log axes.

    For each :math:`N` and seed, :func:`popgrad.monte_carlo` (``method``) estimates :math:`f` and
    :math:`E g_\mu`; the error is :math:`|\hat f - f|` (left) and :math:`\|\hat g - E g_\mu\|` (right),
    closed forms from :class:`popgrad.Model`.  Dots are the errors, one per seed; lines are the
    estimated standard errors (:math:`\sqrt{\operatorname{tr}\,\mathrm{Cov}}` for vectors), and the
    grey line :math:`\propto 1/\sqrt N` through the first standard error.
    """
    from .montecarlo import monte_carlo

    stes = _ste_names(stes)
    v = as_vector_batch(v, "v", model.m, batch=False)
    w = as_vector_batch(w, "w", model.n, batch=False)
    ns = np.asarray([int(n) for n in sizes])
    f = float(model.loss(v, w))
    exact = {s: np.asarray(model.coarse_grad(v, w, ste=s)[1]) for s in stes}
    err = {"loss": np.zeros((ns.size, len(seeds)))} | {s: np.zeros((ns.size, len(seeds))) for s in stes}
    se = {k: np.zeros(ns.size) for k in err}
    for i, n_samples in enumerate(ns):
        for j, seed in enumerate(seeds):
            r = monte_carlo(model, v, w, ste=list(stes), n_samples=int(n_samples), seed=seed, method=method)
            loss = r[stes[0]].loss
            err["loss"][i, j] = abs(float(loss.value) - f)
            se["loss"][i] += float(loss.error) / len(seeds)
            for s in stes:
                est = r[s].coarse_grad_w
                err[s][i, j] = np.linalg.norm(est.value - exact[s])
                se[s][i] += float(np.sqrt(np.sum(est.error**2))) / len(seeds)
    fig, axes = _new_figure(2, width=4.2, height=3.4)
    for ax, keys, what in (
        (axes[0][0], ["loss"], "|f̂ − f|"),
        (axes[0][1], list(stes), "‖ĝ − E g_μ‖"),
    ):
        for k, key in enumerate(keys):
            color = "k" if key == "loss" else _color(key, k)
            name = "loss f" if key == "loss" else _label(key)
            x = np.repeat(ns, len(seeds))
            ax.plot(x, np.maximum(err[key].ravel(), 1e-300), "o", ms=4, color=color, alpha=0.7, label=f"{name}: error")
            ax.plot(ns, se[key], "-", color=color, label=f"{name}: stderr")
        ref = se[keys[0]][0] * np.sqrt(ns[0] / ns)
        ax.plot(ns, ref, ":", color="0.5", lw=2, label="∝ 1/√N")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("number of samples N")
        ax.set_ylabel(what)
        ax.legend(fontsize=7)
    axes[0][0].set_title("loss", fontsize=10)
    axes[0][1].set_title("expected coarse gradient (w-part)", fontsize=10)
    fig.suptitle(f"Monte Carlo ({method} sampler) against the closed forms", fontsize=11)
    return fig


def precision_agreement(
    model: Model,
    v: ArrayLike,
    *,
    theta: ArrayLike | None = None,
    norms: Sequence[float] = (0.3, 1.0, 3.0),
    dps: int = 50,
) -> Figure:
    r"""Relative disagreement of the float64 closed forms and of scipy quadrature with a ``dps``-digit
    evaluation (:func:`popgrad.symbolic.evaluate`), against :math:`\theta`.

    Quantities: :math:`f` and :math:`E g_\mu` for the three STEs, at filters of each of ``norms``.
    The relative error of a vector is :math:`\|x - x_{ref}\|_\infty / \|x_{ref}\|_\infty`; an exact
    agreement is drawn at :math:`10^{-18}`.  The grey line is the float64 unit roundoff
    :math:`2^{-53}`.
    """
    from . import symbolic
    from .engines import expectations

    v = as_vector_batch(v, "v", model.m, batch=False)
    theta = np.linspace(0.02, np.pi - 0.02, 9) if theta is None else np.asarray(theta, dtype=np.float64)
    floor = 1e-18

    def rel(x: object, ref: object) -> float:
        x, ref = np.atleast_1d(np.asarray(x, dtype=np.float64)), np.atleast_1d(np.asarray(ref, dtype=float))
        return max(float(np.max(np.abs(x - ref)) / np.max(np.abs(ref))), floor)

    rows: dict[str, list[tuple[float, float, float]]] = {"closed form": [], "quadrature": []}
    for r in norms:
        for th in theta:
            w = w_at_angle(model, th, r)
            ref = symbolic.evaluate(model, v, w, dps=dps)
            quad = expectations(model, v, w, list(STE_NAMES), engine="quadrature")
            closed = {"loss": model.loss(v, w)} | {s: model.coarse_grad(v, w, ste=s)[1] for s in STE_NAMES}
            exact = {"loss": float(ref.loss)} | {s: [float(x) for x in ref.coarse_grad_w[s]] for s in STE_NAMES}
            got = {"loss": quad[STE_NAMES[0]].loss.value} | {s: quad[s].coarse_grad_w.value for s in STE_NAMES}
            rows["closed form"].append((th, r, max(rel(closed[k], exact[k]) for k in exact)))
            rows["quadrature"].append((th, r, max(rel(got[k], exact[k]) for k in exact)))
    fig, axes = _new_figure(2, width=4.2, height=3.4)
    for ax, (name, data) in zip(axes[0], rows.items(), strict=True):
        arr = np.array(data)
        for k, r in enumerate(norms):
            sel = arr[:, 1] == r
            ax.plot(arr[sel, 0], arr[sel, 2], "o-", ms=4, color=f"C{k}", label=f"‖w‖ = {r:g}")
        ax.axhline(2.0**-53, color="0.5", ls=":", label="2⁻⁵³")
        ax.set_yscale("log")
        ax.set_ylim(floor / 3, 1e-10)
        ax.set_ylabel(f"max relative error vs {dps} digits")
        ax.set_title(f"{name} (f and E g_μ, 3 STEs)", fontsize=10)
        _theta_axis(ax)
        ax.legend(fontsize=7)
    fig.suptitle("float64 closed forms and quadrature against high precision", fontsize=11)
    return fig


# ---------------------------------------------------------------------------------------------
# Beyond the paper: the leaky-ReLU and clipped-ReLU STE families, popgrad.families


def ste_family_study(
    model: Model,
    members: Sequence[FamilyMember] | None = None,
    *,
    alphas: Sequence[float] = (0.0, 0.5, 1.0),
    clips: Sequence[float] = (0.2, 1.0, 5.0),
    num: int = 121,
) -> Figure:
    r"""The STE families of :func:`popgrad.families.ste_families`: stability and alignment.

    Left and middle: :math:`\max\|E g_\mu\|/\|v^*\|^2` at the spurious minimizers (``members``, a list
    of :class:`popgrad.families.FamilyMember`; default ``ste_families()``), against :math:`\alpha` for
    the leaky ReLUs and against :math:`c` for the clipped ReLUs (values below :math:`10^{-18}` drawn
    there; the dotted line is the ``vanishes`` threshold :math:`10^{-13}`).  Right:
    :math:`\cos\angle(E g_\mu, \partial f/\partial w)` against :math:`\theta` at :math:`\|w\| = 1`,
    ``v`` = :func:`v_opt`, for the leaky ReLUs ``alphas`` (solid) and clipped ReLUs ``clips`` (dashed),
    from :meth:`popgrad.Model.correlation`.
    """
    from . import ste as ste_mod
    from .families import ste_families

    members = ste_families() if members is None else list(members)
    fig, axes = _new_figure(3, width=3.8, height=3.2)
    ax_a, ax_c, ax_t = axes[0]
    floor = 1e-18
    for ax, family, color in ((ax_a, "leaky_relu", "C1"), (ax_c, "clipped_relu", "C2")):
        rows = sorted((r.param, r.max_norm_at_spurious) for r in members if r.family == family)
        if rows:
            x, y = np.array(rows).T
            ax.plot(x, np.maximum(y, floor), "o-", ms=4, color=color)
        ax.axhline(1e-13, color="0.5", ls=":", label="vanishes below")
        ax.set_yscale("log")
        ax.set_ylim(floor / 3, 3.0)
        ax.set_ylabel("max ‖E g_μ‖ / ‖v*‖² at spurious min.")
        ax.legend(fontsize=8, loc="center right")
    ax_a.set_xlabel("α (leaky ReLU: μ' = α for x < 0)")
    ax_a.set_title("leaky ReLU: α = 0 is the ReLU", fontsize=10)
    ax_c.set_xscale("log")
    ax_c.set_xlabel("c (clipped ReLU: μ' = 1{0 < x < c})")
    ax_c.set_title("clipped ReLU", fontsize=10)

    theta = np.linspace(0.0, np.pi, num)[1:-1]
    v = v_opt(model, theta)
    w = w_at_angle(model, theta)
    stes = [(ste_mod.leaky_relu(a), "-") for a in alphas] + [(ste_mod.clipped_relu(c), "--") for c in clips]
    for k, (s, style) in enumerate(stes):
        ax_t.plot(theta, model.correlation(v, w, ste=s).cos_w, style, color=f"C{k}", label=s.name)
    ax_t.set_ylabel("cos ∠(E g_μ, ∂f/∂w)")
    ax_t.set_ylim(-0.05, 1.05)
    ax_t.set_title("alignment at ‖w‖ = 1, v = argmin_v f", fontsize=10)
    _theta_axis(ax_t)
    ax_t.legend(fontsize=7, loc="lower left")
    fig.suptitle("STE families: which vanish at the spurious minimizers, and how well they align", fontsize=11)
    return fig


# ---------------------------------------------------------------------------------------------
# The gallery behind ``popgrad figures`` and the README

GALLERY_TEACHER = ((1.0, -0.5, 2.0), (1.0, 0.0, 0.0))
"""The README's teacher ``(v*, w*)``: (1ᵀv*)² = 6.25 < (m+1)/2 ‖v*‖² = 10.5, so Proposition 1's saddle
and spurious minimizer exist, and 1ᵀv* ≠ 0 with m = 3, so the identity STE fails there (Theorem 1)."""


GALLERY_POINT = ((0.3, 1.0, -0.7), (0.2, 1.0, -0.4))
"""The README's student ``(v, w)`` for the gallery teacher (θ ≈ 79°), where the one-step and Monte Carlo
figures are drawn."""


def _gallery_point(model: Model) -> tuple[np.ndarray, np.ndarray]:
    if (tuple(model.v_star), tuple(model.w_star)) == GALLERY_TEACHER:
        return np.array(GALLERY_POINT[0]), np.array(GALLERY_POINT[1])
    rng = np.random.default_rng(0)
    return rng.normal(size=model.m), rng.normal(size=model.n)


def gallery(model: Model | None = None) -> Iterator[tuple[str, Figure]]:
    """Yield ``(file stem, Figure)`` for every figure of the gallery, one at a time.

    ``model`` defaults to :data:`GALLERY_TEACHER` with the student :data:`GALLERY_POINT` (for another
    teacher, a standard normal ``(v, w)`` drawn with seed 0).  ``popgrad figures --out DIR`` saves
    each as ``DIR/<stem>.png``; the README shows them from ``docs/figures``.
    """
    model = Model(*GALLERY_TEACHER) if model is None else model
    v, w = _gallery_point(model)
    yield "landscape_curves", landscape_curves(model)
    yield "landscape_heatmaps", landscape_heatmaps(model)
    starts = _descent_starts(model)
    yield "descent_same_starts", descent_trajectories(model, *starts, lr=0.1, max_iter=400)
    yield (
        "descent_spurious_minimizer",
        descent_trajectories(
            model,
            v_opt(model, np.pi),
            w_at_angle(model, np.pi - 0.05) if model.n > 1 else -model.w_star,
            lr=0.05,
            max_iter=300,
            c_w=None,
            title="Starting next to the spurious local minimizer (θ = π)",
        ),
    )
    yield "finite_samples", finite_sample_step(model, v, w)
    yield "monte_carlo_convergence", monte_carlo_convergence(model, v, w)
    yield "precision_agreement", precision_agreement(model, v)
    yield "ste_families", ste_family_study(model)


def _descent_starts(
    model: Model, theta0: Sequence[float] = (0.25 * np.pi, 0.55 * np.pi, 0.8 * np.pi), seed: int = 3
) -> tuple[np.ndarray, np.ndarray]:
    """Starts ``(v0 (B, m), w0 (B, n))`` of the gallery's descent figure: ``w0`` at the angles ``theta0``
    (norm 1), ``v0`` drawn from N(0, 0.25 I) with ``seed``."""
    v0 = np.random.default_rng(seed).normal(scale=0.5, size=(len(theta0), model.m))
    return v0, w_at_angle(model, np.asarray(theta0))
