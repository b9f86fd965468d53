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

import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ._validate import as_float_array, as_vector_batch, real_number

__all__ = [
    "STE",
    "ArraySTE",
    "CustomSTE",
    "clipped_relu",
    "custom",
    "hard_tanh",
    "identity",
    "leaky_relu",
    "piecewise_constant",
    "relu",
    "resolve",
    "resolve_many",
]

Piece = tuple[float, float, float]


@dataclass(frozen=True)
class STE:
    r"""A straight-through estimator.

    Attributes
    ----------
    name : str
    mu_prime : callable
        ``mu_prime(x)`` -> array of :math:`\mu'(x)`, elementwise, same shape as ``x``.
    pieces : tuple of (lo, hi, value) or None
        Piecewise-constant description (non-overlapping, increasing, non-zero values), or
        ``None`` when :math:`\mu'` is not piecewise constant (then no closed form exists).

    The constructor checks what it is given: ``pieces`` must be ordered, non-overlapping intervals
    ``lo < hi`` with finite non-zero values, and ``mu_prime`` must equal the function they describe at
    every point of a dense grid around the breakpoints and far out (``ValueError`` otherwise).  The
    constructors :func:`piecewise_constant` and :func:`custom` build consistent STEs from one description.
    """

    name: str
    mu_prime: Callable[[np.ndarray], np.ndarray] = field(compare=False, repr=False)
    pieces: tuple[Piece, ...] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"name must be a non-empty string, got {self.name!r}")
        if not callable(self.mu_prime):
            raise TypeError(f"mu_prime must be a callable mu_prime(x) -> array, got {type(self.mu_prime).__name__}")
        if self.pieces is not None:
            pieces = _checked_pieces(self.pieces)
            object.__setattr__(self, "pieces", pieces)
            _check_agrees(self.mu_prime, pieces)

    def __call__(self, x: ArrayLike) -> np.ndarray:
        return self.mu_prime(np.asarray(x))


def _checked_pieces(pieces: Iterable[Iterable[float]]) -> tuple[Piece, ...]:
    """Pieces as float triples, validated (see :class:`STE`) and normalised (:func:`_normalise`)."""
    try:
        rows = [tuple(p) for p in pieces]
    except TypeError:
        raise TypeError(f"pieces must be a sequence of (lo, hi, value) triples, got {pieces!r}") from None
    out = []
    for p in rows:
        if len(p) != 3:
            raise ValueError(f"pieces: each piece is (lo, hi, value), got {p!r}")
        lo, hi, value = (real_number(x, "pieces") for x in p)
        if not lo < hi:  # also rejects NaN
            raise ValueError(f"pieces: a piece needs lo < hi, got ({lo}, {hi})")
        if not math.isfinite(value):
            raise ValueError(f"pieces: values must be finite, got {value}")
        out.append((lo, hi, value))
    for (_, hi, _), (lo, _, _) in itertools.pairwise(out):
        if lo < hi:
            raise ValueError(f"pieces must be ordered and must not overlap, got {rows}")
    return _normalise(out)


def _pieces_value(pieces: tuple[Piece, ...], x: np.ndarray) -> np.ndarray:
    out = np.zeros(x.shape)
    for lo, hi, value in pieces:
        out = np.where((x > lo) & (x < hi), value, out)
    return out


def _check_agrees(mu_prime: Callable[[np.ndarray], np.ndarray], pieces: tuple[Piece, ...]) -> None:
    """``mu_prime`` equals the pieces' function on a dense grid (breakpoints themselves excluded)."""
    ends = sorted({x for lo, hi, _ in pieces for x in (lo, hi) if math.isfinite(x)})
    lo, hi = (ends[0], ends[-1]) if ends else (0.0, 0.0)
    span = max(hi - lo, 1.0)
    x = np.concatenate([np.linspace(lo - span, hi + span, 4097), [-1e8, -1e3, 1e3, 1e8]])
    x = x[~np.isin(x, ends)]
    got = _call(mu_prime, x)
    want = _pieces_value(pieces, x)
    bad = np.flatnonzero(got != want)
    if bad.size:
        k = bad[0]
        raise ValueError(
            f"mu_prime disagrees with pieces at x = {x[k]:.6g}: pieces give {want[k]:g}, mu_prime gives {got[k]:g}; "
            "build STEs with pg.ste.piecewise_constant (mu_prime from the pieces) or pg.ste.custom (mu_prime only)"
        )


def _call(mu_prime: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> np.ndarray:
    """``mu_prime(x)`` checked: real, finite, of the input's shape."""
    try:
        with np.errstate(all="ignore"):  # NaN/inf are reported below, by name
            out = np.asarray(mu_prime(x))
    except Exception as exc:
        raise TypeError(f"mu_prime must accept a float64 array and return an array: {exc}") from None
    if out.dtype.kind not in "biuf":
        raise TypeError(f"mu_prime must return real numbers, got dtype {out.dtype}")
    if out.shape != x.shape:
        raise ValueError(
            f"mu_prime must be vectorised (return the shape of its input): for shape {x.shape} it gave {out.shape}"
        )
    out = out.astype(np.float64)
    if not np.all(np.isfinite(out)):
        raise ValueError(
            f"mu_prime returned NaN or infinite values on [{x.min():.3g}, {x.max():.3g}]; it must be finite"
        )
    return out


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
    b = as_float_array(breakpoints, "breakpoints")
    if b.ndim != 1:
        raise ValueError(f"breakpoints must be one-dimensional (a list of numbers), got shape {b.shape}")
    vals = as_vector_batch(values, "values", b.size + 1, batch=False)
    if b.size > 1 and not np.all(np.diff(b) > 0):
        raise ValueError(f"breakpoints must be strictly increasing, got {b.tolist()}")
    edges = np.concatenate([[-np.inf], b, [np.inf]])
    pieces = _normalise([(edges[k], edges[k + 1], vals[k]) for k in range(vals.size)])
    label = name or f"piecewise_constant({b.tolist()}, {vals.tolist()})"
    return STE(label, partial(_piecewise, breakpoints=b, values=vals), pieces)


identity = STE("identity", _ones, ((-np.inf, np.inf, 1.0),))
relu = STE("relu", partial(_window, lo=0.0, hi=np.inf), ((0.0, np.inf, 1.0),))


@dataclass(frozen=True)
class ArraySTE(STE):
    r"""A piecewise-constant STE whose ends or values are 0-d arrays of one Array API namespace (e.g. a JAX
    tracer), built by :func:`clipped_relu` or :func:`leaky_relu` from an array parameter.

    It is for the closed forms (``model.coarse_grad``, ``model.correlation``), which then compute in that namespace
    and can be differentiated in the parameter (``jax.grad`` with respect to the clipping level).  Its values
    cannot always be read (traced under ``jax.jit``), so its pieces are checked for structure only, by their
    constructor where readable; ``mu_prime`` computes in that namespace.  The engines (numpy) refuse it.
    """

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"name must be a non-empty string, got {self.name!r}")


def _array_parameter(x: object, name: str) -> Any:
    """A 0-d float64 array of a non-numpy namespace, checked where readable (finite); None for anything else."""
    from . import _xp
    from ._validate import as_array

    if _xp.namespace(x) is _xp.NUMPY:
        return None
    arr = as_array(x, name, (x,))
    if arr.ndim != 0:
        raise ValueError(f"{name} must be a scalar (a 0-d array), got shape {tuple(arr.shape)}")
    return arr


def _array_label(family: str, x: Any) -> str:
    from ._xp import readable, to_float

    return f"{family}({to_float(x):g})" if readable(x) else f"{family}(traced)"


def _array_pieces_value(x: Any, pieces: tuple[Piece, ...]) -> Any:
    from ._xp import device_of, into, namespace

    arrays = [p for piece in pieces for p in piece if not isinstance(p, (int, float))]
    xp = namespace(*arrays)
    x = into(xp, x, device_of(*arrays))
    out = xp.zeros_like(x * arrays[0])
    for lo, hi, value in pieces:
        out = xp.where((x > lo) & (x < hi), value, out)
    return out


def _array_ste(name: str, pieces: tuple[Piece, ...]) -> ArraySTE:
    return ArraySTE(name, partial(_array_pieces_value, pieces=pieces), pieces)


def clipped_relu(c: float = 1.0) -> STE:
    r"""Clipped ReLU :math:`\mu(x) = \min(\max(x, 0), c)`, :math:`\mu'(x) = 1\{0 < x < c\}`.

    ``c = inf`` gives the ReLU STE exactly.  ``c`` may be a 0-d float64 array of an Array API namespace other than
    numpy's (e.g. a JAX array, traced under ``jax.grad``): an :class:`ArraySTE` then, whose closed forms compute in
    that namespace and are differentiable in ``c`` (``c > 0`` is checked where its value can be read).
    """
    arr = _array_parameter(c, "c")
    if arr is not None:
        from ._xp import readable, to_float

        if readable(arr) and not bool(arr > 0):
            raise ValueError(f"c must be > 0 (the clipping level), got {to_float(arr)}")
        return _array_ste(_array_label("clipped_relu", arr), ((0.0, arr, 1.0),))
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

    ``alpha = 0`` is the ReLU STE and ``alpha = 1`` the identity STE, exactly.  ``alpha`` may be a 0-d float64
    array of another Array API namespace (an :class:`ArraySTE`, as for :func:`clipped_relu`).
    """
    arr = _array_parameter(alpha, "alpha")
    if arr is not None:
        return _array_ste(_array_label("leaky_relu", arr), ((-np.inf, 0.0, arr), (0.0, np.inf, 1.0)))
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
        Declared discontinuities and kinks of :math:`\\mu'` (pre-activation units), sorted; the
        quadrature of :mod:`popgrad.kernels.custom` splits its integrals there (and at the jumps it
        locates itself, :mod:`popgrad._scan`).
    """

    points: tuple[float, ...] = ()


def custom(mu_prime: Callable[[np.ndarray], np.ndarray], name: str | None = None, points: object = ()) -> CustomSTE:
    r"""STE with any :math:`\mu'`, given as a vectorised Python function.

    The expected coarse gradient is then computed by one-dimensional quadrature over
    :math:`x = z^\top\hat w` (:mod:`popgrad.kernels.custom`, ``derivations/custom_ste.md``), whose error
    estimate is checked (``ValueError`` if it misses the tolerance).  The quadrature splits its integrals
    at every jump of :math:`\mu'` it locates by a dense scan and bisection (:mod:`popgrad._scan`) and at the
    declared ``points`` (pre-activation units).  A jump narrower than the scan's grid (about
    :math:`2.4\cdot10^{-3}\|w\|`) can escape the scan: declare such jumps (and kinks) in ``points``.
    ``mu_prime`` must return real, finite values (complex values are refused, not truncated).

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
    pts = as_float_array(points, "points")
    if pts.ndim > 1:
        raise ValueError(f"points must be one-dimensional (a list of numbers), got shape {pts.shape}")
    _call(mu_prime, np.linspace(-3.0, 3.0, 7))

    label = name or str(getattr(mu_prime, "__name__", "custom"))
    return CustomSTE(label, partial(_as_float_call, fn=mu_prime), None, tuple(sorted(set(pts.tolist()))))


def _as_float_call(x: object, fn: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``fn`` on a float64 array, result checked and as float64 (picklable whenever ``fn`` is)."""
    return _call(fn, np.asarray(x, dtype=np.float64))


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


def resolve_many(ste: object) -> tuple[tuple[STE, ...], bool]:
    """``(STEs, single?)`` from a name / STE or a sequence of them (distinct names: results are keyed by name)."""
    if isinstance(ste, (str, STE)):
        return (resolve(ste),), True
    if isinstance(ste, Sequence) and not isinstance(ste, (bytes, bytearray)):
        stes = tuple(resolve(s) for s in ste)
        if not stes:
            raise ValueError("ste: give at least one STE (a name, a popgrad.ste.STE, or a sequence of them)")
        names = [s.name for s in stes]
        if len(set(names)) != len(names):
            raise ValueError(f"ste: the STE names must be distinct (results are keyed by name), got {names}")
        return stes, False
    raise TypeError(f"ste must be a name, a popgrad.ste.STE or a sequence of them, got {type(ste).__name__}")
