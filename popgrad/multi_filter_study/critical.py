r"""Critical points of the K-filter landscape: searched by gradient descent on f, then classified.

Search: plain gradient descent on :math:`f` (``model.grad``, :func:`popgrad.dynamics.true_gradient`) from random
starts (:math:`V, W` standard normal) with the default step :math:`1/(K(m+1))`.  It ends oscillating around kinks
(:mod:`.kinks`), so each end point is

1. **snapped** onto the kinks it is near (:func:`.kinks.snap`; :math:`V` re-solved), and **polished** by Newton steps
   on the smooth piece of the landscape through it (:class:`.kinks.Manifold`), until the gradient there is
   below ``1e-9`` (relative to :math:`\max(1, \|V^*\|^2)`);
2. **classified**:

   * ``global`` -- :math:`f \le 10^{-10}\max(1, \|V^*\|^2)` (the teacher's filters, permuted, split, or with idle
     extra filters: ``K >= K*`` throughout);
   * ``saddle`` -- the Hessian on the smooth piece (central differences of the closed-form gradient) has an
     eigenvalue below :math:`-10^{-6}` (relative) and moving along its eigenvector lowers :math:`f`;
   * ``spurious minimum`` -- :math:`f > 0`, the Hessian on the smooth piece is positive semi-definite, the
     one-sided derivatives off it are :math:`\ge 0` (random directions and, per filter, against the smooth part
     of its gradient: the kinks hold the point), and no perturbation on spheres of radii
     :math:`10^{-3}, 10^{-4}, 10^{-5}` (relative to :math:`\|V^*\|` and each :math:`\|w_k\|`) lowers :math:`f`;
   * ``unresolved`` -- anything else (e.g. the polish does not reach a critical point: the descent had not
     converged).

At every classified point the expected coarse gradients of the three STEs are evaluated (they are continuous at the
kinks): a coarse gradient *vanishes* there when every component is within the closed-form engine's rounding bound.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..dynamics import descend, true_gradient
from ..engines import expectations
from ..models.multi_filter import MultiFilterModel
from .correlation import STES
from .kinks import Manifold, snap

__all__ = ["Endpoint", "classify", "search"]

_RADII = (1e-3, 1e-4, 1e-5)
_SLOPE_T = 1e-7


@dataclass(frozen=True)
class Endpoint:
    r"""One classified end point of the search.

    Attributes
    ----------
    label : ``"global"``, ``"spurious minimum"``, ``"saddle"`` or ``"unresolved"``
    loss : :math:`f` at the snapped and polished point, relative to :math:`\max(1, \|V^*\|^2)`
    v, w : the point, ``(K, m)``, ``(K, n)``
    groups : the filters on one line: ``(teacher or -1, ((student, sign), ...))``
    grad_norm : gradient norm on the smooth piece (relative)
    hess_min : smallest Hessian eigenvalue on the smooth piece (relative); ``nan`` if not computed
    slope_min : smallest one-sided derivative off the point (relative); ``nan`` if not computed
    rise_min : smallest :math:`f(x+\delta) - f(x)` over the perturbation spheres (relative); ``nan`` if not computed
    coarse_norm : STE name -> :math:`\|E g_\mu\| / \max(1, \|V^*\|^2)`
    coarse_vanishes : STE name -> every component within its rounding bound
    """

    label: str
    loss: float
    v: np.ndarray
    w: np.ndarray
    groups: tuple
    grad_norm: float
    hess_min: float = float("nan")
    slope_min: float = float("nan")
    rise_min: float = float("nan")
    coarse_norm: dict = field(default_factory=dict)
    coarse_vanishes: dict = field(default_factory=dict)


def _unit_rows(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _directions(
    rng: np.random.Generator, count: int, v: np.ndarray, w: np.ndarray, scale_v: float
) -> tuple[np.ndarray, np.ndarray]:
    """``count`` random directions (δV, δW), uniform on the unit sphere of the scaled coordinates
    (δV / scale_v, δw_k / |w_k|)."""
    d = _unit_rows(rng.standard_normal((count, v.size + w.size)))
    dv = d[:, : v.size].reshape(count, *v.shape) * scale_v
    dw = d[:, v.size :].reshape(count, *w.shape) * np.linalg.norm(w, axis=-1, keepdims=True)
    return dv, dw


def _slopes(
    model: MultiFilterModel, v: np.ndarray, w: np.ndarray, rng: np.random.Generator, scale_v: float
) -> np.ndarray:
    """One-sided derivatives :math:`(f(x + t d) - f(x))/t` along random directions and, per filter, along minus the
    component of its (smooth) gradient orthogonal to it."""
    dv, dw = _directions(rng, 64, v, w, scale_v)
    _, gw = model.grad(v, w)
    w_hat = _unit_rows(w)
    perp = gw - np.sum(gw * w_hat, axis=-1, keepdims=True) * w_hat
    own = np.zeros((len(w), *w.shape))
    for k in range(len(w)):
        size = np.linalg.norm(perp[k])
        if size > 0:
            own[k, k] = -perp[k] / size * np.linalg.norm(w[k])
    dv = np.concatenate([dv, np.zeros((len(w), *v.shape))])
    dw = np.concatenate([dw, own])
    f0 = model.loss(v, w)
    return (model.loss(v + _SLOPE_T * dv, w + _SLOPE_T * dw) - f0) / _SLOPE_T


def _rise(model: MultiFilterModel, v: np.ndarray, w: np.ndarray, rng: np.random.Generator, scale_v: float) -> float:
    f0 = model.loss(v, w)
    rises = []
    for rho in _RADII:
        dv, dw = _directions(rng, 64, v, w, scale_v)
        rises.append(np.min(model.loss(v + rho * dv, w + rho * dw) - f0))
    return float(min(rises))


def _coarse(model: MultiFilterModel, v: np.ndarray, w: np.ndarray, scale: float) -> tuple[dict, dict]:
    norms, vanish = {}, {}
    for name, e in expectations(model, v, w, list(STES), engine="closed_form").items():
        g = e.coarse_grad_w
        norms[name] = float(np.linalg.norm(g.value)) / scale
        vanish[name] = bool(np.all(np.abs(g.value) <= g.error))
    return norms, vanish


def _polish(man: Manifold, tol: float, steps: int = 8) -> tuple[np.ndarray, float]:
    """Newton steps on the manifold (pseudo-inverse of the finite-difference Hessian), kept while they lower the
    gradient norm; returns the point and its gradient norm."""
    x = man.x0()
    g = man.grad(x[None])[0]
    gn = float(np.linalg.norm(g))
    for _ in range(steps):
        if gn <= tol:
            break
        x_new = x - np.linalg.pinv(man.hessian(x), rcond=1e-10, hermitian=True) @ g
        g_new = man.grad(x_new[None])[0]
        if not np.linalg.norm(g_new) < gn:
            break
        x, g, gn = x_new, g_new, float(np.linalg.norm(g_new))
    return x, gn


def _minimise(man: Manifold, tol: float, steps: int) -> np.ndarray:
    r"""Modified Newton on the manifold: direction :math:`-|H|^{-1} g` (eigenvalues by absolute value, floored), the
    best of the steps :math:`2^0, \dots, 2^{-30}` along it (one batched call) if it lowers f."""
    x = man.x0()
    alphas = 2.0 ** -np.arange(31)
    for _ in range(steps):
        g = man.grad(x[None])[0]
        if np.linalg.norm(g) <= tol:
            break
        lam, q = np.linalg.eigh(man.hessian(x))
        d = -q @ ((q.T @ g) / np.maximum(np.abs(lam), 1e-8 * (1 + np.abs(lam).max())))
        f = man.loss(x[None] + alphas[:, None] * d[None])
        best = int(np.argmin(f))
        if not f[best] < man.loss(x[None])[0]:
            break
        x = x + alphas[best] * d
    return x


def settle(
    model: MultiFilterModel, v: np.ndarray, w: np.ndarray, rounds: int = 6, steps: int = 25
) -> tuple[np.ndarray, np.ndarray]:
    """Continue a descent that has not converged: ``rounds`` times, snap onto the kinks nearby
    (:func:`.kinks.snap`) and minimise on the smooth piece through them (:func:`_minimise`); a filter that
    reaches another's line is snapped in the next round.  Returns ``(v (K, m), w (K, n))``."""
    scale = max(1.0, float(np.sum(model.v_star**2)))
    for _ in range(rounds):
        man = Manifold(model, *snap(model, v, w))
        x = _minimise(man, 1e-9 * scale, steps)
        v, w = (a[0] for a in man.point(x[None]))
        if np.linalg.norm(man.grad(x[None])) <= 1e-9 * scale and len(snap(model, v, w)[2]) == len(man.groups):
            break
    return v, w


def classify(model: MultiFilterModel, v: np.ndarray, w: np.ndarray, rng: np.random.Generator) -> Endpoint:
    """Snap, polish and classify one end point ``v (K, m)``, ``w (K, n)`` (module docstring)."""
    scale = max(1.0, float(np.sum(model.v_star**2)))
    scale_v = float(np.linalg.norm(model.v_star))
    v1, w1, groups = snap(model, v, w)
    man = Manifold(model, v1, w1, groups)
    x, gn = _polish(man, 1e-9 * scale)
    vp, wp = (a[0] for a in man.point(x[None]))
    f = float(model.loss(vp, wp)) / scale
    desc = tuple((g.teacher, tuple(zip(g.members, g.signs, strict=True))) for g in groups)
    norms, vanish = _coarse(model, vp, wp, scale)
    common = {"loss": f, "v": vp, "w": wp, "groups": desc, "grad_norm": gn / scale}
    common.update(coarse_norm=norms, coarse_vanishes=vanish)
    if f <= 1e-10:
        return Endpoint("global", **common)
    if gn > 1e-9 * scale:
        return Endpoint("unresolved", **common)
    hess = man.hessian(x)
    lam, vec = np.linalg.eigh(hess)
    hmin = float(lam[0]) / scale
    if hmin < -1e-6:
        step = 1e-3 * vec[:, 0]
        drop = min(man.loss(np.stack([x + step, x - step]))) - model.loss(vp, wp)
        return Endpoint("saddle" if drop < 0 else "unresolved", hess_min=hmin, **common)
    slope = float(np.min(_slopes(model, vp, wp, rng, scale_v))) / scale
    rise = _rise(model, vp, wp, rng, scale_v) / scale
    ok = slope >= -1e-6 and rise >= -1e-12
    return Endpoint("spurious minimum" if ok else "unresolved", hess_min=hmin, slope_min=slope, rise_min=rise, **common)


def search(
    model: MultiFilterModel, k: int, starts: int, rng: np.random.Generator, max_iter: int = 2000
) -> list[Endpoint]:
    """Gradient descent on :math:`f` from ``starts`` random points with ``k`` student filters, then
    :func:`classify` on each end point."""
    v0 = rng.standard_normal((starts, k, model.m))
    w0 = rng.standard_normal((starts, k, model.n))
    tr = descend(model, v0, w0, oracle=true_gradient(model), max_iter=max_iter, gtol=0.0, record="scalars", c_w=None)
    return [classify(model, tr.v_final[i], tr.w_final[i], rng) for i in range(starts)]
