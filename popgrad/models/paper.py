r"""The teacher--student model of Yin et al. (2019): ``Model(v_star, w_star)``.

:math:`y(Z) = v^\top\sigma(Zw)` with :math:`\sigma(x) = 1\{x > 0\}` (or a staircase), rows of
:math:`Z \in \mathbb R^{m\times n}` i.i.d. :math:`N(0, I_n)`, labels :math:`y^*(Z) = v^{*\top}\sigma(Zw^*)`,
sample loss :math:`\ell = \tfrac12(y(Z) - y^*(Z))^2`, population loss :math:`f(v, w) = E_Z\,\ell`.
It is the one-filter case (``K = K* = 1``) of :mod:`popgrad.assembly`, where every formula below is derived.

Shapes: ``v`` is ``(..., m)``, ``w`` is ``(..., n)``; the leading axes broadcast against each other
and every result has the broadcast batch shape (scalars for single points).  For the binary
:math:`\sigma` only the direction of ``w_star`` matters (:math:`\sigma(Zcw^*) = \sigma(Zw^*)` for
:math:`c > 0`), so any non-zero norm is accepted.

Degenerate geometry (documented behaviour, tested):

* :math:`\theta \in \{0, \pi\}` exactly (always, when ``n = 1``): :math:`f` is not differentiable in
  ``w`` unless :math:`v^\top v^* = 0`; :meth:`Model.grad` returns the minimum-norm element of the
  Clarke subdifferential, which is 0.  Coarse gradients are continuous there and take their limits.
* ``w = 0``: :meth:`Model.loss` is the loss of the student that outputs :math:`\sigma(0)` on every
  patch (Lemma 1's :math:`\tfrac18 v^{*\top}(I+11^\top)v^*` for the binary :math:`\sigma`); gradient
  methods raise ``ValueError`` (f jumps at ``w = 0``: no gradient exists).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from .._validate import as_vector_batch, broadcast_leading, check_nonzero_rows, teacher_copy
from ..assembly import Assembly
from ..geometry import plane_of_arrays
from .base import ModelFamily, finite, overflow_checked

__all__ = ["Model"]


class Model(ModelFamily):
    r"""Teacher :math:`(v^*, w^*)` of the two-linear-layer network with a quantized activation.

    Closed forms (binary :math:`\sigma`; :math:`\theta = \angle(w, w^*)`, :math:`r = \|w\|`):

    * :meth:`loss`, Lemma 1:
      :math:`f = \tfrac18[v^\top(I+11^\top)v - 2v^\top((1-\tfrac{2\theta}{\pi})I + 11^\top)v^*
      + v^{*\top}(I+11^\top)v^*]`;
    * :meth:`grad`, Lemma 2:
      :math:`\partial f/\partial v = \tfrac14(I+11^\top)v - \tfrac14((1-\tfrac{2\theta}{\pi})I + 11^\top)v^*`,
      :math:`\partial f/\partial w = -\frac{v^\top v^*}{2\pi r}\frac{P_w w^*}{\|P_w w^*\|}`;
    * :meth:`coarse_grad`, Lemmas 4, 7, 9 (and any piecewise-constant or custom :math:`\mu'`), e.g. ReLU:
      :math:`E g_{relu} = \frac{h}{2\sqrt{2\pi}}\hat w - \frac{v^\top v^*}{2\sqrt{2\pi}}(\hat w + \hat w^*)`,
      :math:`h = \|v\|^2 + (1^\top v)^2 - (1^\top v)(1^\top v^*) + v^\top v^*`;
    * :meth:`correlation`, Lemmas 5, 7, 10.

    A staircase :math:`\sigma` (``pg.activation.staircase`` / ``uniform``) has thresholds in units of
    :math:`z^\top w`, so its results depend on :math:`\|w\|` and :math:`\|w^*\|` (``derivations/staircase.md``).

    Parameters
    ----------
    v_star : array_like, shape (m,)
        Teacher second layer (copied).
    w_star : array_like, shape (n,)
        Teacher filter, non-zero (copied).
    activation : popgrad.activation.Activation, optional
        :math:`\sigma` of student and teacher; default the paper's binary :math:`1\{x > 0\}`.

    Examples
    --------
    >>> import popgrad as pg
    >>> model = pg.Model(v_star=[1.0, 1.0], w_star=[1.0, 0.0])
    >>> float(model.loss([1.0, 1.0], [0.0, 1.0]))   # theta = pi/2: f = (4 theta/pi) v.v*/8
    0.5
    >>> gv, gw = model.coarse_grad([1.0, 1.0], [0.0, 1.0], ste="identity")
    >>> gw.round(6).tolist()   # (|v|^2 w_hat - v.v* w*_hat)/sqrt(2 pi), Lemma 9
    [-0.797885, 0.797885]
    """

    def __init__(self, v_star: ArrayLike, w_star: ArrayLike, activation: object = None) -> None:
        v_star = teacher_copy(v_star, "v_star")
        w_star = teacher_copy(w_star, "w_star")
        check_nonzero_rows(w_star, "w_star", "the teacher's direction is undefined; give w_star != 0")
        self._asm = Assembly(v_star[None, :], w_star[None, :], self._activation(activation))

    @property
    def v_star(self) -> np.ndarray:
        """Teacher second layer, shape (m,) (read-only)."""
        return self._asm.v_star[0]

    @property
    def w_star(self) -> np.ndarray:
        """Teacher filter, shape (n,) (read-only), as given."""
        return self._asm.w_star[0]

    @property
    def m(self) -> int:
        """Number of patches (rows of Z), the length of v."""
        return self.v_star.size

    @property
    def n(self) -> int:
        """Patch dimension (columns of Z), the length of w."""
        return self.w_star.size

    def __repr__(self) -> str:
        act = "" if self.activation.is_binary else f", activation={self.activation.name}"
        return f"Model(v_star={self.v_star.tolist()}, w_star={self.w_star.tolist()}{act})"

    def committee(self, v: ArrayLike, w: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """``v (..., m)``, ``w (..., n)`` -> ``V (..., 1, m)``, ``W (..., 1, n)`` with a common batch shape."""
        v = as_vector_batch(v, "v", self.m)
        w = as_vector_batch(w, "w", self.n)
        batch = broadcast_leading(v, w)
        # reshape (not a new axis of stride 0) keeps numpy's reductions over the filter axis fast
        V = np.broadcast_to(v, (*batch, self.m)).reshape(*batch, 1, self.m)
        W = np.broadcast_to(w, (*batch, self.n)).reshape(*batch, 1, self.n)
        return V, W

    def from_committee(self, x: np.ndarray) -> np.ndarray:
        return x[..., 0, :]

    @overflow_checked
    def theta(self, w: ArrayLike) -> np.ndarray:
        r""":math:`\theta(w, w^*) \in [0, \pi]`, shape (...) for ``w`` of shape (..., n)."""
        w = as_vector_batch(w, "w", self.n)
        check_nonzero_rows(w, "w", "the angle to the teacher is undefined at w = 0")
        return finite(plane_of_arrays(w, self.w_star).theta)
