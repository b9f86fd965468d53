r"""Beyond one filter: the binary- or staircase-activated network with K filters, ``MultiFilterModel``.

Student :math:`V \in \mathbb R^{K\times m}`, :math:`W \in \mathbb R^{K\times n}`; teacher :math:`V^*, W^*` with
:math:`K^*` filters (:math:`K \ne K^*` allowed); input :math:`Z \in \mathbb R^{m\times n}` with i.i.d. N(0, 1)
entries and rows :math:`z_i`:

.. math:: y(Z) = \sum_k\sum_i V_{ki}\,\sigma(z_i^\top w_k), \quad \ell = \tfrac12(y - y^*)^2,\quad f = E\ell,
          \quad g_k = \sum_i z_i\,\mu'(z_i^\top w_k)\,V_{ki}\,(y - y^*).

``K = K* = 1`` is the paper's model (:class:`popgrad.Model`); ``m = 1`` is the soft committee machine
:math:`\sum_k v_k\sigma(x^\top w_k)`.  The closed forms are the assembly of :mod:`popgrad.assembly`
(``derivations/assembly.md``): pairwise Gaussian expectations of the filters, rows independent.

Degenerate geometry (documented behaviour, tested): two filters parallel or antiparallel (:math:`\theta_{kb}
\in \{0, \pi\}`) make f non-differentiable in them; the gradient takes the minimum-norm Clarke element (the
pair's angular term is 0), and coarse gradients take their continuous limits, as in :class:`popgrad.Model`.
A student filter at 0 outputs the constant :math:`\sigma(0)`: the loss is defined, the gradients raise
``ValueError``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from .._validate import as_float_array, check_nonzero_rows, teacher_copy
from ..assembly import Assembly
from ..geometry import plane_of_arrays
from .base import ModelFamily, finite, overflow_checked

__all__ = ["MultiFilterModel"]


def student_filters(x: object, name: str, d: int) -> np.ndarray:
    """``x`` as a float array of student filters, shape ``(..., K, d)`` with ``K >= 1``; ValueError naming ``name``."""
    arr = as_float_array(x, name)
    if arr.ndim < 2:
        raise ValueError(f"{name} must have shape (..., K, {d}) (one row per student filter), got shape {arr.shape}")
    if arr.shape[-1] != d:
        raise ValueError(f"{name} must have last axis of length {d} to match the teacher, got shape {arr.shape}")
    if arr.shape[-2] == 0:
        raise ValueError(f"{name} must have at least one filter (axis -2), got shape {arr.shape}")
    return arr


class MultiFilterModel(ModelFamily):
    r"""Teacher :math:`(V^*, W^*)` with :math:`K^*` filters (module docstring).

    Parameters
    ----------
    v_star : array_like, shape (K*, m)
        Teacher output weights, row :math:`k` for filter :math:`k` (copied).
    w_star : array_like, shape (K*, n)
        Teacher filters, non-zero rows (copied).
    activation : popgrad.activation.Activation, optional
        Binary (default) or any staircase.

    Methods take ``v (..., K, m)`` and ``w (..., K, n)`` (any number K >= 1 of student filters; leading axes
    broadcast) and return ``loss (...)``, ``grad -> ((..., K, m), (..., K, n))``,
    ``coarse_grad -> ((..., K, m), (..., K, n))``, ``theta -> (..., K, K + K*)``.

    Examples
    --------
    >>> import numpy as np, popgrad as pg
    >>> teacher = pg.MultiFilterModel([[1.0, 0.5], [-0.5, 1.0]], [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    >>> float(teacher.loss(teacher.v_star, teacher.w_star))   # the student equal to the teacher
    0.0
    >>> one = pg.Model([1.0, 0.5], [1.0, 0.0, 0.0])
    >>> v, w = np.array([0.3, -0.2]), np.array([0.5, 0.5, 0.1])
    >>> k1 = pg.MultiFilterModel([[1.0, 0.5]], [[1.0, 0.0, 0.0]])
    >>> bool(np.isclose(k1.loss(v[None], w[None]), one.loss(v, w), rtol=1e-15))   # K = K* = 1 is Model
    True
    """

    per_filter = True

    def __init__(self, v_star: ArrayLike, w_star: ArrayLike, activation: object = None) -> None:
        v_star = teacher_copy(v_star, "v_star", ndim=2)
        w_star = teacher_copy(w_star, "w_star", ndim=2)
        if v_star.shape[0] != w_star.shape[0]:
            raise ValueError(
                f"v_star {v_star.shape} and w_star {w_star.shape} must have the same number of rows (teacher filters)"
            )
        check_nonzero_rows(w_star, "w_star", "a teacher filter's direction is undefined; give non-zero rows")
        self._asm = Assembly(v_star, w_star, self._activation(activation))

    @property
    def v_star(self) -> np.ndarray:
        """Teacher output weights, shape (K*, m) (read-only)."""
        return self._asm.v_star

    @property
    def w_star(self) -> np.ndarray:
        """Teacher filters, shape (K*, n) (read-only)."""
        return self._asm.w_star

    @property
    def m(self) -> int:
        """Number of patches."""
        return self.v_star.shape[1]

    @property
    def n(self) -> int:
        """Patch dimension."""
        return self.w_star.shape[1]

    @property
    def k_star(self) -> int:
        """Number of teacher filters."""
        return self.v_star.shape[0]

    def __repr__(self) -> str:
        act = "" if self.activation.is_binary else f", activation={self.activation.name}"
        return f"MultiFilterModel(v_star={self.v_star.tolist()}, w_star={self.w_star.tolist()}{act})"

    def committee(self, v: ArrayLike, w: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """``v (..., K, m)``, ``w (..., K, n)`` validated and broadcast to a common batch shape."""
        v = student_filters(v, "v", self.m)
        w = student_filters(w, "w", self.n)
        if v.shape[-2] != w.shape[-2]:
            raise ValueError(f"v {v.shape} and w {w.shape} must have the same number K of filters (axis -2)")
        try:
            batch = np.broadcast_shapes(v.shape[:-2], w.shape[:-2])
        except ValueError:
            raise ValueError(
                f"the leading (batch) axes of v {v.shape} and w {w.shape} do not broadcast; "
                "v has shape (..., K, m) and w shape (..., K, n) with broadcastable '...'"
            ) from None
        k = v.shape[-2]
        return np.broadcast_to(v, (*batch, k, self.m)), np.broadcast_to(w, (*batch, k, self.n))

    def from_committee(self, x: np.ndarray) -> np.ndarray:
        return x

    @overflow_checked
    def theta(self, w: ArrayLike) -> np.ndarray:
        r"""Angles between each student filter and every filter, students first then teachers: ``(..., K, K + K*)``."""
        w = student_filters(w, "w", self.n)
        check_nonzero_rows(w, "w", "the angle of a zero filter is undefined")
        others = np.concatenate([w, np.broadcast_to(self.w_star, (*w.shape[:-2], *self.w_star.shape))], axis=-2)
        return finite(plane_of_arrays(w[..., :, None, :], others[..., None, :, :]).theta)
