"""What every model family shares: the closed forms of :mod:`popgrad.assembly` behind one public face.

A family maps its own weights to a *committee* -- student ``V (..., K, m)``, ``W (..., K, n)`` and teacher
``V* (K*, m)``, ``W* (K*, n)`` -- and the results back to its own shapes.  Everything else (validation of the
results, overflow, the correlation of coarse and true gradients, the w = 0 rule) lives here once.  The
engines of :mod:`popgrad.engines` see a model only through :meth:`ModelFamily.committee` and
:meth:`ModelFamily.from_committee`.

Array namespaces (:mod:`popgrad._xp`).  The closed forms compute with the arrays they are given: numpy (the
default, and the only input of the engines), or JAX, PyTorch, CuPy, ``array-api-strict`` arrays, and return
arrays of that namespace on that device -- under ``jax.jit``, ``jax.grad``, ``jax.vmap`` and ``jax.hessian``
too -- for the binary activation and every piecewise-constant STE (including STEs whose parameters are arrays,
:func:`popgrad.ste.clipped_relu`); staircases and custom STEs raise ``NotImplementedError`` there.  Values are
checked where they can be read (:mod:`popgrad._validate`): numpy, PyTorch (outside ``torch.func`` transforms;
float64 tensors, ``tests/test_torch.py``), CuPy and ``array-api-strict`` raise the same errors as numpy.  JAX arrays
are not read (traced under ``jit``/``grad``; on an accelerator): a NaN or infinite input propagates, an overflowing
result is ``inf``, and the gradient methods return NaN at the points where a student filter is zero (where numpy
raises ``ValueError``); the loss is defined there.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ParamSpec, TypeVar

import numpy as np
from numpy.typing import ArrayLike

from .._validate import first_zero_row
from .._xp import einsum, is_numpy, namespace, readable, safe_sqrt
from ..activation import Activation
from ..activation import resolve as resolve_activation
from ..assembly import Assembly
from ..ste import STE
from ..ste import resolve as resolve_ste

if TYPE_CHECKING:
    from ..assembly import _Point  # the assembly's point type, for annotations only

_P = ParamSpec("_P")
_R = TypeVar("_R")

__all__ = ["Correlation", "ModelFamily"]

W_ZERO = (
    "the student outputs a constant there and f is discontinuous at w = 0 for the binary sigma; "
    "popgrad defines no gradient at w = 0: use w != 0"
)


_OVERFLOW = (
    "the result overflows float64 at these inputs (magnitudes of v, v_star near 1e154 or more, "
    "or |w| near the smallest float for gradients); rescale v and v_star (f scales as |v|^2)"
)


def finite(x: np.ndarray) -> np.ndarray:
    """Return 0-d arrays as numpy scalars, other arrays unchanged; refuse results outside float64.

    Inputs are finite, so a non-finite result means an overflow (e.g. |v| ~ 1e200 squared, or
    ``df/dw ~ 1/|w|`` at |w| ~ 1e-320): raise rather than hand back a silent inf or NaN.  Arrays of another
    namespace are returned as they are (0-d arrays too), checked where their values can be read.
    """
    xp = namespace(x)
    if not is_numpy(xp):
        if readable(x) and not bool(xp.all(xp.isfinite(x))):
            raise ValueError(_OVERFLOW)
        return x
    x = np.asarray(x)
    if not np.all(np.isfinite(x)):
        raise ValueError(_OVERFLOW)
    return x[()]


def overflow_checked(method: Callable[_P, _R]) -> Callable[_P, _R]:
    """Compute without floating-point warnings; :func:`finite` turns any overflow into a ValueError."""

    @functools.wraps(method)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with np.errstate(all="ignore"):
            return method(*args, **kwargs)

    return wrapper


def _safe_cos(inner: np.ndarray, a_sq: np.ndarray, b_sq: np.ndarray) -> np.ndarray:
    """inner / (|a| |b|) from squared norms, defined as 0 where either vector is zero (the angle is undefined)."""
    xp = namespace(inner, a_sq, b_sq)
    den = safe_sqrt(xp, a_sq) * safe_sqrt(xp, b_sq)
    den, inner = xp.broadcast_arrays(den, inner)
    return xp.where(den > 0, inner / xp.where(den > 0, den, 1.0), 0.0)


def _sq(x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    return namespace(x).sum(x * x, axis=axes)


def _ste_arrays(ste: STE) -> tuple:
    """The array parameters of a piecewise-constant STE (e.g. a traced clipping level); they set the namespace."""
    return tuple(x for piece in ste.pieces or () for x in piece if not isinstance(x, (int, float)))


@dataclass(frozen=True)
class Correlation:
    r"""How the expected coarse gradient lines up with the true gradient (Lemmas 5, 7, 10).

    Every attribute has the batch shape (the ``_filters`` ones one more axis, K).  A cosine is defined as 0
    where one of its vectors is 0 (e.g. :math:`\partial f/\partial w = 0` at :math:`\theta \in \{0, \pi\}`),
    where the angle is undefined.

    Attributes
    ----------
    inner_w : :math:`\langle E g_\mu, \partial f/\partial w\rangle` (from the closed forms' coefficients)
    cos_w : cosine of the angle between :math:`E g_\mu` and :math:`\partial f/\partial w`
    inner : the inner product of the full (v, w) vectors,
            :math:`\langle (\partial f/\partial v, E g_\mu), (\partial f/\partial v, \partial f/\partial w)\rangle
            = \|\partial f/\partial v\|^2 + \text{inner\_w}`
    cos : cosine of the angle between those full (v, w) vectors
    inner_w_filters, cos_w_filters : per filter, shape ``(..., K)`` (:class:`popgrad.MultiFilterModel`);
            ``None`` for the one-filter :class:`popgrad.Model`
    """

    inner_w: np.ndarray
    cos_w: np.ndarray
    inner: np.ndarray
    cos: np.ndarray
    inner_w_filters: np.ndarray | None = None
    cos_w_filters: np.ndarray | None = None


class ModelFamily:
    """Base of :class:`popgrad.Model` and :class:`popgrad.MultiFilterModel` (module docstring).

    Subclasses set ``self._asm`` (an :class:`~popgrad.assembly.Assembly`) in ``__init__`` and implement
    :meth:`committee`, :meth:`from_committee` and :meth:`_validated`.
    """

    _asm: Assembly
    per_filter: bool = False  # does the correlation report per-filter numbers

    # -- the contract with the engines --------------------------------------------------------------

    def committee(self, v: ArrayLike, w: ArrayLike, *, like: tuple = ()) -> tuple[np.ndarray, np.ndarray]:
        """Validated student weights as a committee: ``V (..., K, m)``, ``W (..., K, n)`` (batch broadcast).

        Arrays of the namespace of ``v``, ``w`` and ``like`` (:func:`popgrad._xp.namespace`; numpy's by default).
        """
        raise NotImplementedError

    def from_committee(self, x: np.ndarray) -> np.ndarray:
        """A per-filter result ``(..., K, d)`` in this family's shape (``(..., d)`` for one filter)."""
        raise NotImplementedError

    @property
    def teacher(self) -> tuple[np.ndarray, np.ndarray]:
        """The teacher as a committee: ``V* (K*, m)``, ``W* (K*, n)`` (read-only copies)."""
        return self._asm.v_star, self._asm.w_star

    @property
    def activation(self) -> Activation:
        r"""The activation :math:`\sigma` of student and teacher (:class:`popgrad.activation.Activation`)."""
        return self._asm.activation

    @staticmethod
    def _activation(activation: object) -> Activation:
        return resolve_activation(activation)

    # -- validation ----------------------------------------------------------------------------------

    @property
    def assembly(self) -> Assembly:
        """The closed forms of this model (:class:`popgrad.assembly.Assembly`)."""
        return self._asm

    def evaluation_point(self, v: ArrayLike, w: ArrayLike, *, gradients: bool, like: tuple = ()) -> _Point:
        """``(v, w)`` validated and prepared for the closed forms (an assembly point).

        ``gradients=True`` also applies the rule of every gradient: a zero filter raises ``ValueError`` naming it
        (where the values can be read; :meth:`_out` makes those points NaN where they cannot).
        The engines validate through this, so that every engine gives the same messages.  The arrays of ``like``
        (e.g. an STE's array parameters) take part in choosing the namespace (:func:`popgrad._xp.namespace`).
        """
        V, W = self.committee(v, w, like=like)
        pt = self._asm.point(V, W)
        if gradients and pt.has_zero:
            where = first_zero_row(W)
            if where is not None:
                filt = f", filter {where[-1]}" if pt.K > 1 else ""
                raise ValueError(f"w is the zero vector (at batch index {tuple(where[:-1])}{filt}): {W_ZERO}")
        return pt

    @staticmethod
    def _out(pt: _Point, x: np.ndarray, trailing: int = 0) -> np.ndarray:
        """A gradient result ``x`` (batch axes, then ``trailing`` axes) checked by :func:`finite`; where a zero
        filter could not be refused (values not readable, e.g. under ``jax.jit``) its points are NaN."""
        xp = pt.xp
        if not is_numpy(xp) and not readable(pt.W):
            bad = xp.any(pt.zero, axis=-1)
            x = xp.where(xp.reshape(bad, bad.shape + (1,) * trailing), xp.nan, x)
        return finite(x)

    # -- public closed forms -------------------------------------------------------------------------

    @overflow_checked
    def loss(self, v: ArrayLike, w: ArrayLike) -> np.ndarray:
        """Population loss :math:`f(v, w)`; shape ``(...)``.  See the family's class docstring."""
        return finite(self._asm.loss(self.evaluation_point(v, w, gradients=False)))

    @overflow_checked
    def grad(self, v: ArrayLike, w: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        r"""True gradient :math:`(\partial f/\partial v, \partial f/\partial w)`.  See the family's class docstring."""
        pt = self.evaluation_point(v, w, gradients=True)
        gv, gw = self.from_committee(self._asm.grad_v(pt)), self.from_committee(self._asm.grad_w(pt).vector)
        trailing = gv.ndim - pt.zero.ndim + 1
        return self._out(pt, gv, trailing), self._out(pt, gw, trailing)

    @overflow_checked
    def coarse_grad(self, v: ArrayLike, w: ArrayLike, ste: str | STE = "relu") -> tuple[np.ndarray, np.ndarray]:
        r"""Expected coarse gradient :math:`(E\,\partial\ell/\partial v, E\,g_\mu)`; see the class docstring."""
        s = resolve_ste(ste)
        pt = self.evaluation_point(v, w, gradients=True, like=_ste_arrays(s))
        gv = self.from_committee(self._asm.grad_v(pt))
        g = self.from_committee(self._asm.coarse_w(pt, s).vector)
        trailing = gv.ndim - pt.zero.ndim + 1
        return self._out(pt, gv, trailing), self._out(pt, g, trailing)

    @overflow_checked
    def correlation(self, v: ArrayLike, w: ArrayLike, ste: str | STE = "relu") -> Correlation:
        r"""Inner products and cosines between expected coarse and true gradients (:class:`Correlation`).

        .. math:: \langle E g_\mu, \partial f/\partial w\rangle = \frac{(v^\top v^*)^2}{2\pi\|w\|}\sin\theta\; c^*_\mu

        for one filter and the binary :math:`\sigma`: :math:`c^*_{relu} = \tfrac{1}{2\sqrt{2\pi}}` (Lemma 5),
        :math:`c^*_{id} = \tfrac{1}{\sqrt{2\pi}}` (Lemma 10), :math:`\sin\theta\,c^*_{crelu} = q(\theta, w)` (Lemma 7).
        With one student and one teacher filter it is computed from the coefficients of both vectors in the plane of
        :math:`w, w^*` (no cancellation: the formula above, exactly); with several filters as the dot product of the
        two vectors, which keeps every cosine in :math:`[-1, 1]` (coefficients of several pairs can cancel where a
        gradient is tiny).
        """
        s = resolve_ste(ste)
        pt = self.evaluation_point(v, w, gradients=True, like=_ste_arrays(s))
        asm, xp = self._asm, pt.xp
        gv = asm.grad_v(pt)
        g, gw = asm.coarse_w(pt, s), asm.grad_w(pt)
        if pt.K == 1 and asm.w_star.shape[0] == 1:  # one pair: products of coefficients (Lemmas 5, 7, 10 exactly)
            per = asm.inner_one_pair(pt, g, gw)
        else:  # pairs of pairs: cross terms of large coefficients can cancel; the vectors' dot is consistent
            per = einsum(xp, "...kn,...kn->...k", g.vector, gw.vector)
        g_sq, gw_sq = _sq(g.vector, (-1,)), _sq(gw.vector, (-1,))
        inner_w = xp.sum(per, axis=-1)
        gv_sq = _sq(gv, (-2, -1))
        inner = gv_sq + inner_w
        g_all, gw_all = xp.sum(g_sq, axis=-1), xp.sum(gw_sq, axis=-1)
        extra = {}
        if self.per_filter:
            extra = {
                "inner_w_filters": self._out(pt, per, 1),
                "cos_w_filters": self._out(pt, _safe_cos(per, g_sq, gw_sq), 1),
            }
        return Correlation(
            inner_w=self._out(pt, inner_w),
            cos_w=self._out(pt, _safe_cos(inner_w, g_all, gw_all)),
            inner=self._out(pt, inner),
            cos=self._out(pt, _safe_cos(inner, gv_sq + g_all, gv_sq + gw_all)),
            **extra,
        )
