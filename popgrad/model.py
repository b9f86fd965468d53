r"""The teacher--student model of Yin et al. (2019): ``Model(v_star, w_star)``.

:math:`y(Z) = v^\top\sigma(Zw)` with :math:`\sigma(x) = 1\{x > 0\}`, rows of
:math:`Z \in \mathbb R^{m\times n}` i.i.d. :math:`N(0, I_n)`, labels
:math:`y^*(Z) = v^{*\top}\sigma(Zw^*)`, sample loss :math:`\ell = \tfrac12(y(Z) - y^*(Z))^2`,
population loss :math:`f(v, w) = E_Z\,\ell`.

Shapes: ``v`` is ``(..., m)``, ``w`` is ``(..., n)``; the leading axes broadcast against each other
and every result has the broadcast batch shape (scalars for single points).  Only the direction of
``w_star`` matters (:math:`\sigma(Zcw^*) = \sigma(Zw^*)` for :math:`c > 0`), so any non-zero norm is
accepted.

Degenerate geometry (documented behaviour, tested):

* :math:`\theta \in \{0, \pi\}` exactly (always, when ``n = 1``): :math:`f` is not differentiable in
  ``w`` unless :math:`v^\top v^* = 0`; :meth:`Model.grad` returns the minimum-norm element of the
  Clarke subdifferential, which is 0.  Coarse gradients are continuous there and take their limits.
* ``w = 0``: :meth:`Model.loss` returns Lemma 1's value :math:`\tfrac18 v^{*\top}(I+11^\top)v^*`;
  gradient methods raise ``ValueError`` (f jumps at ``w = 0``: no gradient exists).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import closed_form as cf
from . import staircase as sc
from ._validate import as_vector_batch, broadcast_leading, check_nonzero_rows
from .activation import resolve as resolve_activation
from .geometry import Plane, _plane_of_arrays
from .ste import resolve

__all__ = ["Correlation", "Model"]

_W_ZERO = "f is discontinuous at w = 0 (the student outputs 0 there), so no gradient exists; use w != 0"


def _out(x: np.ndarray) -> np.ndarray:
    """Return 0-d arrays as numpy scalars, other arrays unchanged; refuse results outside float64.

    Inputs are finite, so a non-finite result means an overflow (e.g. |v| ~ 1e200 squared, or
    ``df/dw ~ 1/|w|`` at |w| ~ 1e-320): raise rather than hand back a silent inf or NaN.
    """
    x = np.asarray(x)
    if not np.all(np.isfinite(x)):
        raise ValueError(
            "the result overflows float64 at these inputs (magnitudes of v, v_star near 1e154 or more, "
            "or |w| near the smallest float for gradients); rescale v and v_star (f scales as |v|^2)"
        )
    return x[()]


def _overflow_checked(method: Callable) -> Callable:
    """Compute without floating-point warnings; :func:`_out` turns any overflow into a ValueError."""

    @functools.wraps(method)
    def wrapper(*args: object, **kwargs: object) -> object:
        with np.errstate(all="ignore"):
            return method(*args, **kwargs)

    return wrapper


def _safe_cos(inner: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """inner / (|a| |b|), defined as 0 where either vector is zero (the angle is undefined)."""
    den = np.sqrt(np.einsum("...i,...i->...", a, a)) * np.sqrt(np.einsum("...i,...i->...", b, b))
    den, inner = np.broadcast_arrays(den, inner)
    return np.divide(inner, den, out=np.zeros(np.shape(den)), where=den > 0)


@dataclass(frozen=True)
class Correlation:
    r"""How the expected coarse gradient lines up with the true gradient (Lemmas 5, 7, 10).

    Every attribute has the batch shape.  A cosine is defined as 0 where one of its vectors is 0
    (e.g. :math:`\partial f/\partial w = 0` at :math:`\theta \in \{0, \pi\}`), where the angle is undefined.

    Attributes
    ----------
    inner_w : :math:`\langle E g_\mu, \partial f/\partial w\rangle` (closed form)
    cos_w : cosine of the angle between :math:`E g_\mu` and :math:`\partial f/\partial w`
    inner : the inner product of the full (v, w) vectors,
            :math:`\langle (\partial f/\partial v, E g_\mu), (\partial f/\partial v, \partial f/\partial w)\rangle
            = \|\partial f/\partial v\|^2 + \text{inner\_w}`
    cos : cosine of the angle between those full (v, w) vectors
    """

    inner_w: np.ndarray
    cos_w: np.ndarray
    inner: np.ndarray
    cos: np.ndarray


class Model:
    r"""Teacher :math:`(v^*, w^*)` of the two-linear-layer binary-activation network.

    Parameters
    ----------
    v_star : array_like, shape (m,)
        Teacher second layer.
    w_star : array_like, shape (n,)
        Teacher filter, any non-zero norm (only its direction matters for the binary activation).
    activation : popgrad.activation.Activation, optional
        :math:`\sigma` of student and teacher; default the paper's binary :math:`1\{x > 0\}`
        (computed by the core formulas).  A staircase (``pg.activation.staircase`` /
        ``uniform``) is computed by :mod:`popgrad.staircase`; its thresholds are in units of
        :math:`z^\top w`, so then the results depend on :math:`\|w\|` and :math:`\|w^*\|`.

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

    def __init__(self, v_star: object, w_star: object, activation: object = None) -> None:
        v_star = as_vector_batch(v_star, "v_star", batch=False)
        w_star = as_vector_batch(w_star, "w_star", batch=False)
        check_nonzero_rows(w_star, "w_star", "the teacher's direction is undefined; give w_star != 0")
        self._teacher = cf.TeacherInvariants.of(v_star)
        self._w_star = w_star
        self._w_star.setflags(write=False)
        self._teacher.v_star.setflags(write=False)
        self._activation = resolve_activation(activation)
        self._stair = None if self._activation.is_binary else sc.StaircaseTeacher.of(self._activation, v_star, w_star)

    @property
    def v_star(self) -> np.ndarray:
        """Teacher second layer, shape (m,) (read-only)."""
        return self._teacher.v_star

    @property
    def w_star(self) -> np.ndarray:
        """Teacher filter, shape (n,) (read-only), as given."""
        return self._w_star

    @property
    def m(self) -> int:
        """Number of patches (rows of Z), the length of v."""
        return self._teacher.v_star.size

    @property
    def n(self) -> int:
        """Patch dimension (columns of Z), the length of w."""
        return self._w_star.size

    @property
    def activation(self):
        """The activation :math:`\\sigma` (a :class:`popgrad.activation.Activation`)."""
        return self._activation

    def __repr__(self) -> str:
        act = "" if self._stair is None else f", activation={self._activation.name}"
        return f"Model(v_star={self.v_star.tolist()}, w_star={self.w_star.tolist()}{act})"

    # -- validation ---------------------------------------------------------------------------

    def _inputs(self, v: object, w: object) -> tuple[np.ndarray, np.ndarray]:
        v = as_vector_batch(v, "v", self.m)
        w = as_vector_batch(w, "w", self.n)
        broadcast_leading(v, w)
        return v, w

    def _plane(self, w: np.ndarray) -> Plane:
        return _plane_of_arrays(w, self._w_star)

    def _checked(self, v: object, w: object) -> tuple[np.ndarray, np.ndarray, Plane]:
        v, w = self._inputs(v, w)
        check_nonzero_rows(w, "w", _W_ZERO)
        return v, w, self._plane(w)

    # -- public API ---------------------------------------------------------------------------

    @_overflow_checked
    def theta(self, w: object) -> np.ndarray:
        r""":math:`\theta(w, w^*) \in [0, \pi]`, shape (...) for ``w`` of shape (..., n)."""
        w = as_vector_batch(w, "w", self.n)
        check_nonzero_rows(w, "w", "the angle to the teacher is undefined at w = 0")
        return _out(self._plane(w).theta)

    @_overflow_checked
    def loss(self, v: object, w: object) -> np.ndarray:
        r"""Population loss :math:`f(v, w)` (Lemma 1).

        .. math:: f = \tfrac18\big[v^\top(I+11^\top)v - 2v^\top\big((1-\tfrac{2\theta}{\pi})I
                  + 11^\top\big)v^* + v^{*\top}(I+11^\top)v^*\big],

        and :math:`f = \tfrac18 v^{*\top}(I+11^\top)v^*` where ``w = 0``.

        ``v (..., m)``, ``w (..., n)`` -> shape (...) (broadcast leading axes).
        """
        v, w = self._inputs(v, w)
        zero = ~np.any(w != 0, axis=-1)
        if np.any(zero):
            w = np.where(zero[..., None], self._w_star, w)  # any non-zero w; replaced below
        if self._stair is not None:
            f = sc.loss(v, self._stair, self._plane(w))
            if np.any(zero):
                f = np.where(zero, sc.loss_at_zero(v, self._stair), f)
            return _out(f)
        f = cf.loss(v, self._teacher, self._plane(w).theta)
        if np.any(zero):
            f = np.where(zero, cf.loss_at_zero(self._teacher), f)
        return _out(f)

    @_overflow_checked
    def grad(self, v: object, w: object) -> tuple[np.ndarray, np.ndarray]:
        r"""True gradient :math:`(\partial f/\partial v, \partial f/\partial w)` (Lemma 2).

        .. math::
            \frac{\partial f}{\partial v} = \tfrac14(I+11^\top)v - \tfrac14\big((1-\tfrac{2\theta}{\pi})I
            + 11^\top\big)v^*, \qquad
            \frac{\partial f}{\partial w} = -\frac{v^\top v^*}{2\pi\|w\|}
            \frac{P_w w^*}{\|P_w w^*\|},\ P_w = I - \hat w\hat w^\top.

        At :math:`\theta \in \{0, \pi\}` (f not differentiable in ``w`` unless :math:`v^\top v^*=0`)
        :math:`\partial f/\partial w` is the minimum-norm element of the Clarke subdifferential, 0.

        Returns ``(grad_v (..., m), grad_w (..., n))``.  Raises ``ValueError`` at ``w = 0``.
        """
        v, _, p = self._checked(v, w)
        if self._stair is not None:
            gv, gw = sc.grad(v, self._stair, p)
            return _out(gv), _out(gw)
        gv = cf.grad_v(v, self._teacher, p.theta)
        gw = cf.grad_w(v, self._teacher, p)
        return _out(gv), _out(gw)

    @_overflow_checked
    def coarse_grad(self, v: object, w: object, ste: object = "relu") -> tuple[np.ndarray, np.ndarray]:
        r"""Expected coarse gradient :math:`(E\,\partial\ell/\partial v,\ E\,g_\mu)`.

        :math:`g_\mu = Z^\top(\mu'(Zw)\odot v)(v^\top\sigma(Zw) - v^{*\top}\sigma(Zw^*))`.
        The v-part equals :math:`\partial f/\partial v` (Lemma 4).  The w-part is Lemma 4 for
        ``"relu"``, Lemma 9 for ``"identity"``, Lemma 7 for ``"clipped_relu"`` and, for any
        piecewise-constant :math:`\mu'`, the formula in :mod:`popgrad.closed_form`.  E.g. ReLU:

        .. math:: E g_{relu} = \frac{h(v,v^*)}{2\sqrt{2\pi}}\hat w - \frac{v^\top v^*}{2\sqrt{2\pi}}
                  (\hat w + \hat w^*),\quad h = \|v\|^2 + (1^\top v)^2 - (1^\top v)(1^\top v^*) + v^\top v^*.

        Continuous on :math:`\theta \in [0, \pi]` (limits taken at the ends).  ``ste``: a name or
        a :class:`popgrad.ste.STE`; one without ``pieces`` (``pg.ste.custom``) is evaluated by checked
        1-D quadrature (:mod:`popgrad.ste_quadrature`).  Returns ``((..., m), (..., n))``.
        """
        v, _, p = self._checked(v, w)
        if self._stair is not None:
            gv, g, _ = self._staircase_coarse(v, p, ste)
            return _out(gv), _out(g)
        cc = self._coefficients(ste, p)
        gv = cf.grad_v(v, self._teacher, p.theta)
        g = cf.coarse_grad_w(v, self._teacher, p, cc)
        return _out(gv), _out(g)

    @_overflow_checked
    def correlation(self, v: object, w: object, ste: object = "relu") -> Correlation:
        r"""Inner products and cosines between expected coarse and true gradients.

        Closed form of the w-part (Lemmas 5, 7, 10):

        .. math:: \langle E g_\mu, \partial f/\partial w\rangle = \frac{(v^\top v^*)^2}{2\pi\|w\|}
                  \sin\theta\; c^*_\mu,

        :math:`c^*_{relu} = \tfrac{1}{2\sqrt{2\pi}}` (Lemma 5), :math:`c^*_{id} = \tfrac{1}{\sqrt{2\pi}}`
        (Lemma 10), :math:`\sin\theta\,c^*_{crelu} = q(\theta, w)` (Lemma 7).  See :class:`Correlation`.
        """
        v, _, p = self._checked(v, w)
        if self._stair is not None:
            gv, g, gw = self._staircase_coarse(v, p, ste)
            inner_w = np.einsum("...i,...i->...", g, gw)
        else:
            cc = self._coefficients(ste, p)
            gv = cf.grad_v(v, self._teacher, p.theta)
            g = cf.coarse_grad_w(v, self._teacher, p, cc)
            gw = cf.grad_w(v, self._teacher, p)
            inner_w = cf.inner_w(v, self._teacher, p, cc)
        inner = np.einsum("...i,...i->...", gv, gv) + inner_w
        full_g = np.concatenate([gv, g], axis=-1)
        full_f = np.concatenate([gv, gw], axis=-1)
        return Correlation(
            inner_w=_out(np.broadcast_to(inner_w, gv.shape[:-1])),
            cos_w=_out(_safe_cos(inner_w, g, gw)),
            inner=_out(inner),
            cos=_out(_safe_cos(inner, full_g, full_f)),
        )

    def _staircase_coarse(self, v: np.ndarray, p: Plane, ste: object) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(df/dv, E g_mu, df/dw) for a staircase activation (:mod:`popgrad.staircase`)."""
        s = resolve(ste)
        if s.pieces is None:
            raise ValueError(
                f"ste {s.name!r} has no piecewise-constant description; with a staircase activation only "
                "piecewise-constant STEs (pg.ste.piecewise_constant and the named ones) have closed forms"
            )
        cc = sc.coarse_coefficients(s.pieces, self._stair, p)
        gv, gw = sc.grad(v, self._stair, p)
        return gv, sc.coarse_grad(v, self._stair, p, cc), gw

    @staticmethod
    def _coefficients(ste: object, p: Plane) -> cf.CoarseCoefficients:
        """Closed form for piecewise-constant STEs, checked 1-D quadrature otherwise (``ste.custom``)."""
        s = resolve(ste)
        if s.pieces is None:
            from .ste_quadrature import coarse_coefficients

            return coarse_coefficients(s, p)
        return cf.coarse_coefficients(s.pieces, p)
