r"""The kinks of the K-filter landscape, and the smooth piece of it through a kink configuration.

With the binary :math:`\sigma`, :math:`\mu_a = \tfrac12`, :math:`v_a = \tfrac14` and
:math:`\Gamma_{ab} = \theta_{ab}/\pi`, so (:mod:`popgrad.assembly`)

.. math:: f(V, W) = Q(V) - \frac{1}{2\pi}\sum_{a<b} H_{ab}\,\theta_{ab}, \qquad H = CC^\top,

a quadratic in :math:`V` minus a combination of the angles between all filters (students and teachers).  An angle
is a cone-shaped, non-differentiable function of the filters where it is 0 or :math:`\pi` (a *collision*), so
the landscape has kinks there -- the paper's spurious minimizers (:math:`\theta = \pi`) and the global minimizers
(:math:`\theta = 0`) sit on them, and plain gradient descent oscillates around them instead of converging.

:func:`snap` turns a point near kinks into one exactly on them: filters within :data:`SNAP_ANGLE` of each other
(parallel or antiparallel) are grouped (union-find; at most one teacher filter per group), and every student filter
of a group is set to :math:`\pm 2^{e}` times one base vector -- the group's teacher filter, or its first student
filter -- so that the closed forms see the angle exactly 0 or :math:`\pi` (products of powers of two are exact;
:math:`f` does not depend on the norms of the filters).  :class:`Manifold` is the smooth piece of the landscape
through such a point: coordinates :math:`V` and, for each group without a teacher, a direction in the tangent space
of its base, every member following it.  On it the angles inside groups stay 0 or :math:`\pi`, so :math:`f`
restricted to it is smooth, and its gradient is the closed-form gradient (the colliding pairs' terms are 0 there,
:class:`popgrad.MultiFilterModel`) pulled back by the chart.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..models.multi_filter import MultiFilterModel
from .grid import optimal_v

__all__ = ["SNAP_ANGLE", "Group", "Manifold", "snap"]

SNAP_ANGLE = 0.05


@dataclass(frozen=True)
class Group:
    """Filters on one line: ``teacher`` (its index, or -1), ``members`` (student indices), their ``signs``
    (+1 parallel to the base, -1 antiparallel) and ``exponents`` (member = sign * 2**exponent * base)."""

    teacher: int
    members: tuple[int, ...]
    signs: tuple[float, ...]
    exponents: tuple[int, ...]
    base: np.ndarray


def _groups(model: MultiFilterModel, w: np.ndarray, angle: float) -> list[list[int]]:
    """Union-find over filters 0..K-1 (students) and K.. (teachers): edges where an angle is within ``angle`` of
    0 or pi, taken from the tightest; an edge that would put two teacher filters in one group is skipped."""
    k = w.shape[0]
    theta = np.asarray(model.theta(w))  # (K, K + K*)
    gap = np.minimum(theta, np.pi - theta)
    parent = list(range(k + model.k_star))

    def root(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    def has_teacher(a: int) -> bool:
        return any(root(t) == a for t in range(k, k + model.k_star))

    for i, j in sorted(zip(*np.nonzero(gap < angle), strict=True), key=lambda ij: gap[ij]):
        ri, rj = root(int(i)), root(int(j))
        if ri != rj and not (has_teacher(ri) and has_teacher(rj)):
            parent[max(ri, rj)] = min(ri, rj)
    out: dict[int, list[int]] = {}
    for a in range(k + model.k_star):
        out.setdefault(root(a), []).append(a)
    return [g for g in out.values() if g[0] < k]  # groups holding at least one student filter


def snap(
    model: MultiFilterModel, v: np.ndarray, w: np.ndarray, angle: float = SNAP_ANGLE
) -> tuple[np.ndarray, np.ndarray, list[Group]]:
    """``(V, W, groups)``: ``w (K, n)`` with every near-collision made exact (module docstring) and ``V`` the
    minimiser of :math:`f(\\cdot, W)` there (:func:`popgrad.multi_filter_study.grid.optimal_v`)."""
    k = w.shape[0]
    w_new = np.array(w, dtype=float)
    groups = []
    for g in _groups(model, w, angle):
        teachers = [a - k for a in g if a >= k]
        members = tuple(a for a in g if a < k)
        base = model.w_star[teachers[0]] if teachers else w[members[0]]
        signs = tuple(1.0 if w[a] @ base >= 0 else -1.0 for a in members)
        exps = tuple(int(np.round(np.log2(np.linalg.norm(w[a]) / np.linalg.norm(base)))) for a in members)
        for a, s, e in zip(members, signs, exps, strict=True):
            w_new[a] = s * np.ldexp(base, e)
        groups.append(Group(teachers[0] if teachers else -1, members, signs, exps, np.array(base)))
    return optimal_v(model, w_new[None])[0], w_new, groups


class Manifold:
    """The smooth piece of the landscape through a snapped point (module docstring).

    Coordinates ``x = (vec V, t_1, ..., t_G)``: ``t_g`` in :math:`R^{n-1}` moves the base of group ``g`` (one without
    a teacher) to :math:`b_g + B_g t_g`, :math:`B_g` an orthonormal basis of :math:`b_g^\\perp` scaled by
    :math:`\\|b_g\\|` (so :math:`|t_g|` is about the angle turned).  ``x = 0`` in the ``t`` part is the snapped point.
    """

    def __init__(self, model: MultiFilterModel, v: np.ndarray, w: np.ndarray, groups: list[Group]) -> None:
        self.model, self.v, self.w = model, np.asarray(v, float), np.asarray(w, float)
        self.groups = groups
        self.free = [g for g in groups if g.teacher < 0]
        n = self.w.shape[1]
        self.bases = []
        for g in self.free:
            u, _, _ = np.linalg.svd(g.base[:, None], full_matrices=True)  # u[:, 1:] spans the complement
            self.bases.append(u[:, 1:] * np.linalg.norm(g.base))
        self.n_v = self.v.size
        self.dim = self.n_v + len(self.free) * (n - 1)

    def x0(self) -> np.ndarray:
        return np.concatenate([self.v.ravel(), np.zeros(self.dim - self.n_v)])

    def point(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``x (P, dim)`` -> ``V (P, K, m)``, ``W (P, K, n)``."""
        p = x.shape[0]
        v = x[:, : self.n_v].reshape(p, *self.v.shape)
        w = np.broadcast_to(self.w, (p, *self.w.shape)).copy()
        n1 = self.w.shape[1] - 1
        for i, (g, b) in enumerate(zip(self.free, self.bases, strict=True)):
            t = x[:, self.n_v + i * n1 : self.n_v + (i + 1) * n1]
            d = g.base + t @ b.T  # (P, n)
            for a, s, e in zip(g.members, g.signs, g.exponents, strict=True):
                w[:, a] = s * np.ldexp(d, e)
        return v, w

    def loss(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.model.loss(*self.point(x)))

    def grad(self, x: np.ndarray) -> np.ndarray:
        """Gradient of :math:`f` on the manifold, ``(P, dim)``."""
        v, w = self.point(x)
        gv, gw = self.model.grad(v, w)
        parts = [gv.reshape(len(x), -1)]
        for g, b in zip(self.free, self.bases, strict=True):
            gt = sum(s * np.ldexp(1.0, e) * gw[:, a] for a, s, e in zip(g.members, g.signs, g.exponents, strict=True))
            parts.append(gt @ b)
        return np.concatenate(parts, axis=1)

    def hessian(self, x: np.ndarray, h: float = 1e-5) -> np.ndarray:
        """Hessian on the manifold at ``x (dim,)`` by central differences of :meth:`grad` (one batched call),
        symmetrised; ``(dim, dim)``."""
        steps = np.concatenate([np.eye(self.dim), -np.eye(self.dim)]) * h
        g = self.grad(x[None] + steps)
        hess = (g[: self.dim] - g[self.dim :]) / (2 * h)
        return 0.5 * (hess + hess.T)
