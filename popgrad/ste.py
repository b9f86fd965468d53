r"""Straight-through estimators: the surrogate derivative :math:`\mu'` used in the backward pass.

An :class:`STE` carries two descriptions of the same :math:`\mu'`:

* ``mu_prime`` -- a vectorised function, the literal definition, used by Monte Carlo;
* ``pieces`` -- for a piecewise-constant :math:`\mu'`, a tuple of ``(lo, hi, value)`` with
  :math:`\mu'(x) = \text{value}` on :math:`(lo, hi)`, used by the closed forms.  Pieces with
  value 0 are dropped and neighbours with equal values merged, so special cases reduce *exactly*
  to the general formula (``leaky_relu(0) == relu``, ``leaky_relu(1) == identity``,
  ``clipped_relu(inf) == relu``).

The paper's three STEs (Yin et al. 2019, Sec. 2):

=================  ===========================  ==========================
name               :math:`\mu(x)`               :math:`\mu'(x)`
=================  ===========================  ==========================
``identity``       :math:`x`                    1
``relu``           :math:`\max(x, 0)`           :math:`1\{x > 0\}`
``clipped_relu``   :math:`\min(\max(x,0),1)`    :math:`1\{0 < x < 1\}`
=================  ===========================  ==========================

Examples
--------
>>> from popgrad import ste
>>> ste.leaky_relu(0.0).pieces == ste.relu.pieces
True
>>> ste.resolve("clipped_relu").mu_prime([-1.0, 0.5, 2.0]).tolist()
[0.0, 1.0, 0.0]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from ._validate import as_vector_batch, real_number

__all__ = [
    "STE",
    "CustomSTE",
    "clipped_relu",
    "custom",
    "hard_tanh",
    "identity",
    "leaky_relu",
    "piecewise_constant",
    "relu",
    "resolve",
]

Piece = tuple[float, float, float]


@dataclass(frozen=True)
class STE:
    """A straight-through estimator.

    Attributes
    ----------
    name : str
    mu_prime : callable
        ``mu_prime(x)`` -> array of :math:`\\mu'(x)`, elementwise, same shape as ``x``.
    pieces : tuple of (lo, hi, value) or None
        Piecewise-constant description (non-overlapping, increasing, non-zero values), or
        ``None`` when :math:`\\mu'` is not piecewise constant (then no closed form exists).
    """

    name: str
    mu_prime: Callable[[np.ndarray], np.ndarray] = field(compare=False, repr=False)
    pieces: tuple[Piece, ...] | None = None

    def __call__(self, x: object) -> np.ndarray:
        return self.mu_prime(x)


# The derivatives are module-level functions (bound with functools.partial), so STEs pickle and
# travel to worker processes.  Each accepts any array-like.


def _ones(x: object) -> np.ndarray:
    return np.ones_like(np.asarray(x, dtype=np.float64))


def _window(x: object, lo: float, hi: float) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return ((x > lo) & (x < hi)).astype(np.float64)


def _leaky(x: object, alpha: float) -> np.ndarray:
    return np.where(np.asarray(x, dtype=np.float64) > 0, 1.0, alpha)


def _piecewise(x: object, breakpoints: np.ndarray, values: np.ndarray) -> np.ndarray:
    return values[np.searchsorted(breakpoints, np.asarray(x, dtype=np.float64), side="left")]


def _normalise(pieces: list[Piece]) -> tuple[Piece, ...]:
    """Drop zero pieces and merge touching neighbours with equal values."""
    out: list[Piece] = []
    for lo, hi, value in pieces:
        if value == 0 or not lo < hi:
            continue
        if out and out[-1][1] == lo and out[-1][2] == value:
            out[-1] = (out[-1][0], hi, value)
        else:
            out.append((float(lo), float(hi), float(value)))
    return tuple(out)


def piecewise_constant(breakpoints: object, values: object, name: str | None = None) -> STE:
    r"""STE with a piecewise-constant :math:`\mu'`.

    :math:`\mu'(x) = \text{values}[k]` for :math:`b_{k-1} < x < b_k` with :math:`b_0 = -\infty`,
    :math:`b_{K+1} = +\infty` (the value at a breakpoint itself is irrelevant: it has measure 0).

    Parameters
    ----------
    breakpoints : array_like, shape (K,)
        Strictly increasing finite breakpoints (K >= 0).
    values : array_like, shape (K + 1,)
        Finite values on the K + 1 intervals.
    """
    b = np.asarray(breakpoints, dtype=np.float64).reshape(-1) if np.size(breakpoints) else np.empty(0)
    if b.size:
        b = as_vector_batch(b, "breakpoints", batch=False)
    vals = as_vector_batch(values, "values", b.size + 1, batch=False)
    if b.size > 1 and not np.all(np.diff(b) > 0):
        raise ValueError(f"breakpoints must be strictly increasing, got {b.tolist()}")
    edges = np.concatenate([[-np.inf], b, [np.inf]])
    pieces = _normalise([(edges[k], edges[k + 1], vals[k]) for k in range(vals.size)])
    label = name or f"piecewise_constant({b.tolist()}, {vals.tolist()})"
    return STE(label, partial(_piecewise, breakpoints=b, values=vals), pieces)


identity = STE("identity", _ones, ((-np.inf, np.inf, 1.0),))
relu = STE("relu", partial(_window, lo=0.0, hi=np.inf), ((0.0, np.inf, 1.0),))


def clipped_relu(c: float = 1.0) -> STE:
    r"""Clipped ReLU :math:`\mu(x) = \min(\max(x, 0), c)`, :math:`\mu'(x) = 1\{0 < x < c\}`.

    ``c = inf`` gives the ReLU STE exactly.
    """
    c = real_number(c, "c")
    if not c > 0:
        raise ValueError(f"c must be > 0 (the clipping level), got {c}")
    if c == np.inf:
        return STE("clipped_relu(inf)", relu.mu_prime, relu.pieces)
    return STE(
        "clipped_relu" if c == 1.0 else f"clipped_relu({c:g})",
        partial(_window, lo=0.0, hi=c),
        ((0.0, c, 1.0),),
    )


def leaky_relu(alpha: float) -> STE:
    r"""Leaky ReLU: :math:`\mu'(x) = 1` for :math:`x > 0`, :math:`\alpha` otherwise.

    ``alpha = 0`` is the ReLU STE and ``alpha = 1`` the identity STE, exactly.
    """
    alpha = real_number(alpha, "alpha")
    if not np.isfinite(alpha):
        raise ValueError(f"alpha must be finite, got {alpha}")
    return STE(
        f"leaky_relu({alpha:g})",
        partial(_leaky, alpha=alpha),
        _normalise([(-np.inf, 0.0, alpha), (0.0, np.inf, 1.0)]),
    )


def hard_tanh() -> STE:
    r"""Hard tanh :math:`\mu(x) = \max(-1, \min(x, 1))`, :math:`\mu'(x) = 1\{|x| < 1\}`."""
    return STE("hard_tanh", partial(_window, lo=-1.0, hi=1.0), ((-1.0, 1.0, 1.0),))


@dataclass(frozen=True)
class CustomSTE(STE):
    """An STE given only by a function :math:`\\mu'` (``pieces`` is None); see :func:`custom`.

    Attributes
    ----------
    points : tuple of float
        Where :math:`\\mu'` is discontinuous or kinked (pre-activation units), sorted; the
        quadrature of :mod:`popgrad.ste_quadrature` splits its integrals there.
    """

    points: tuple[float, ...] = ()


def custom(mu_prime: Callable[[np.ndarray], np.ndarray], name: str | None = None, points: object = ()) -> CustomSTE:
    r"""STE with any :math:`\mu'`, given as a vectorised Python function.

    The expected coarse gradient is then computed by one-dimensional quadrature over
    :math:`x = z^\top\hat w` (:mod:`popgrad.ste_quadrature`, ``derivations/custom_ste.md``), whose error
    estimate is checked (``ValueError`` if it misses the tolerance).  Give the discontinuities and
    kinks of :math:`\mu'` as ``points`` (pre-activation units); the quadrature splits there.

    Parameters
    ----------
    mu_prime : callable
        ``mu_prime(x)`` for a float64 array ``x`` returns finite values of the same shape.
    name : str, optional
    points : array_like, shape (K,)
        Finite breakpoints of :math:`\mu'` (any order).

    Examples
    --------
    >>> import numpy as np
    >>> from popgrad import ste
    >>> soft = ste.custom(lambda x: np.exp(-0.5 * (x - 1.0) ** 2), name="gauss(1)")
    >>> soft([1.0]).tolist()
    [1.0]
    """
    if not callable(mu_prime):
        raise TypeError(f"mu_prime must be a callable mu_prime(x) -> array, got {type(mu_prime).__name__}")
    pts = np.asarray(points, dtype=np.float64).reshape(-1) if np.size(points) else np.empty(0)
    if pts.size:
        pts = as_vector_batch(pts, "points", batch=False)
    probe = np.linspace(-3.0, 3.0, 7)
    try:
        with np.errstate(all="ignore"):  # NaN/inf are reported below, by name
            out = np.asarray(mu_prime(probe), dtype=np.float64)
    except Exception as exc:
        raise TypeError(f"mu_prime must accept a float64 array and return an array: {exc}") from None
    if out.shape != probe.shape:
        raise ValueError(
            f"mu_prime must be vectorised (return the shape of its input): for shape {probe.shape} it gave {out.shape}"
        )
    if not np.all(np.isfinite(out)):
        raise ValueError("mu_prime returned NaN or infinite values on [-3, 3]; it must be finite")

    label = name or getattr(mu_prime, "__name__", "custom")
    return CustomSTE(label, partial(_as_float_call, fn=mu_prime), None, tuple(sorted(set(pts.tolist()))))


def _as_float_call(x: object, fn: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``fn`` on a float64 array, result as float64 (picklable whenever ``fn`` is)."""
    return np.asarray(fn(np.asarray(x, dtype=np.float64)), dtype=np.float64)


_BY_NAME: dict[str, Callable[[], STE]] = {
    "identity": lambda: identity,
    "relu": lambda: relu,
    "clipped_relu": clipped_relu,
    "hard_tanh": hard_tanh,
}


def resolve(ste: object) -> STE:
    """Return the :class:`STE` for a name (``"identity"``, ``"relu"``, ``"clipped_relu"``,
    ``"hard_tanh"``) or an :class:`STE` object itself."""
    if isinstance(ste, STE):
        return ste
    if isinstance(ste, str):
        try:
            return _BY_NAME[ste]()
        except KeyError:
            raise ValueError(f"unknown ste {ste!r}; expected one of {sorted(_BY_NAME)} or a popgrad.ste.STE") from None
    raise TypeError(f"ste must be a name or a popgrad.ste.STE, got {type(ste).__name__}")
