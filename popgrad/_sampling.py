r"""Per-sample quantities of a committee, computed from their definitions (Yin et al. 2019, Sec. 2).

A committee has student filters :math:`w_1..w_K` with output weights :math:`V \in \mathbb R^{K\times m}`,
teacher filters :math:`w^*_1..w^*_{K^*}` with :math:`V^*`, and one activation :math:`\sigma` (binary step or
staircase, :mod:`popgrad.activation`).  For an input with rows :math:`z_1..z_m`:

.. math::
    e = \sum_k\sum_i V_{ki}\,\sigma(z_i^\top w_k) - \sum_\kappa\sum_i V^*_{\kappa i}\,\sigma(z_i^\top w^*_\kappa),
    \quad \ell = \tfrac12 e^2,\quad \frac{\partial\ell}{\partial V_{ki}} = \sigma(z_i^\top w_k)\,e,\quad
    g_k = \sum_i z_i\,\mu'(z_i^\top w_k)\,V_{ki}\,e.

Both samplers evaluate these same definitions on rows given in some orthonormal coordinates
(:class:`Point`): the **full** sampler on the rows :math:`z_i \in \mathbb R^n` themselves (filters
:math:`w_a`), the **projected** sampler on the rows' coordinates :math:`c_i = Q^\top z_i \in \mathbb R^d` in an
orthonormal basis Q of the span of all :math:`K + K^*` filters (filters :math:`Q^\top w_a`), which is all the
model sees (``derivations/projection.md``).  Vector results come back in the same coordinates.

Pre-activations :math:`z_i^\top w_a` are computed as ``ldexp(z_i @ (w_a 2^{-s_a}), s_a)`` with each filter scaled
to norm about 1: bitwise the plain product where that neither under- nor overflows, and right for any
:math:`\|w_a\|` whose products are representable (:math:`10^{-300}` to :math:`10^{300}`).

Shapes: rows ``X (N, m, D)`` (full) or ``(D, N, m)`` (projected, :attr:`Point.coord_major`); pre-activations
``(F, N, m)``; per-sample outputs have a leading axis N.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .activation import Activation
from .ste import STE

__all__ = [
    "GaussianRows",
    "Point",
    "RowDistribution",
    "StudentTRows",
    "Terms",
    "along",
    "combine",
    "levels",
    "preactivations",
    "row_sums",
    "scaled_rows",
    "terms",
]


# ---------------------------------------------------------------------------------------------
# Row distributions


class RowDistribution:
    """A rotation-invariant distribution of the rows :math:`z_i \\in \\mathbb{R}^n` of Z.

    Subclasses implement :meth:`sample`; they must be picklable to run with ``workers > 1``.
    """

    name: str = "rows"
    gaussian: bool = False

    def sample(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        """i.i.d. rows: an array of ``shape`` whose vectors along the last axis are the rows."""
        raise NotImplementedError


@dataclass(frozen=True)
class GaussianRows(RowDistribution):
    """:math:`z \\sim N(0, I_n)`, the paper's input distribution."""

    name: str = "gaussian"
    gaussian: bool = True

    def sample(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        return rng.standard_normal(shape)


@dataclass(frozen=True)
class StudentTRows(RowDistribution):
    r"""Multivariate Student t with ``nu`` degrees of freedom: :math:`z = g/\sqrt{\chi^2_\nu/\nu}`.

    :math:`g \sim N(0, I_n)` and one independent :math:`\chi^2_\nu` per row: rotation invariant,
    heavier tails than Gaussian (Remark 2 of the paper).  ``nu > 2`` keeps the coarse gradient's
    variance finite, so that standard errors mean something.
    """

    nu: float = 5.0
    gaussian: bool = False

    def __post_init__(self) -> None:
        nu = float(self.nu)
        if not (np.isfinite(nu) and nu > 2):
            raise ValueError(f"nu must be a finite number > 2 (finite variance of z), got {self.nu!r}")
        object.__setattr__(self, "nu", nu)

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"student_t({self.nu:g})"

    def sample(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        g = rng.standard_normal(shape)
        scale = np.sqrt(rng.chisquare(self.nu, shape[:-1]) / self.nu)
        return g / scale[..., None]


# ---------------------------------------------------------------------------------------------
# The point, in the coordinates the rows are drawn in


@dataclass(frozen=True)
class Point:
    r"""A committee at one point, with its filters in the coordinates of the rows (picklable).

    Attributes
    ----------
    V : (K, m)         student output weights
    V_star : (K*, m)   teacher output weights
    activation :       :math:`\sigma`
    filters : (F, D)   rows :math:`w_1..w_K, w^*_1..w^*_{K^*}` in the rows' coordinates, each times
                       :math:`2^{-s_a}` (F = K + K*)
    exponents : (F,)   :math:`s_a`
    coord_major : bool
        How the rows are stored: ``X (N, m, D)`` (False: Z itself) or ``(D, N, m)`` (True: one contiguous
        array per coordinate, the projected sampler's layout).
    """

    V: np.ndarray
    V_star: np.ndarray
    activation: Activation
    filters: np.ndarray
    exponents: np.ndarray
    coord_major: bool = False

    @property
    def K(self) -> int:
        return self.V.shape[0]

    @property
    def weights(self) -> np.ndarray:
        """:math:`C = [V; -V^*]` (F, m): :math:`e = \\sum_{a,i} C_{ai}\\,\\sigma(z_i^\\top w_a)`."""
        return np.concatenate([self.V, -self.V_star])


def scaled_rows(filters: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(filters 2^{-s}, s)`` per row, ``s`` the binary exponent of the row's largest entry (0 for a zero row)."""
    s = np.frexp(np.max(np.abs(filters), axis=-1))[1].astype(np.int64)
    return np.ldexp(filters, -s[:, None]), s


def preactivations(X: np.ndarray, point: Point) -> np.ndarray:
    r""":math:`x_i^\top f_a` for every filter a, shape (F, N, m).

    One matrix product with the scaled filters, then the exact scaling by :math:`2^{s_a}` (a multiplication by a
    power of two is correctly rounded, as ``ldexp`` is; ``ldexp`` itself where :math:`2^{s_a}` is not a float)."""
    f = point.filters
    if point.coord_major:
        D, N, m = X.shape
        pre = f @ X.reshape(D, N * m)
    else:
        N, m, D = X.shape
        pre = f @ X.reshape(N * m, D).T
    scale = np.ldexp(1.0, point.exponents)
    if np.all(np.isfinite(scale)) and np.all(scale > 0):
        pre *= scale[:, None]
    else:
        pre = np.ldexp(pre, point.exponents[:, None])
    return pre.reshape(f.shape[0], N, m)


def combine(X: np.ndarray, coef: np.ndarray, coord_major: bool) -> np.ndarray:
    r""":math:`\sum_i x_i\,c_{k,i}` for rows ``X`` and coefficients ``coef (K, N, m)``: shape (N, K, D)."""
    if coord_major:
        if coef.shape[0] * X.shape[0] <= 16:  # a few coordinates: einsum's loop beats batched matmul
            return np.einsum("pbi,kbi->bkp", X, coef)
        X = X.transpose(1, 2, 0)
    return np.matmul(coef.transpose(1, 0, 2), X)  # (N, K, m) @ (N, m, D)


def along(X: np.ndarray, u: np.ndarray, coord_major: bool) -> np.ndarray:
    r""":math:`x_i^\top u` for every row, shape (N, m)."""
    return np.tensordot(u, X, 1) if coord_major else X @ u


def levels(activation: Activation, pre: np.ndarray) -> np.ndarray:
    r""":math:`\sigma` elementwise (the activation's own definition; one comparison for a single threshold)."""
    if len(activation.thresholds) == 1:
        out = np.empty(np.shape(pre))
        np.greater(pre, activation.thresholds[0], out=out)
        if activation.jumps[0] != 1.0:
            out *= activation.jumps[0]
        return out
    return activation(pre)


def row_sums(lev: np.ndarray, weights: np.ndarray) -> np.ndarray:
    r""":math:`\sum_a C_{ai}\,\sigma_{a,i}` per sample and row, for ``lev (F, N, m)``: shape (N, m)."""
    out = lev[0] * weights[0]
    tmp = np.empty_like(out)
    for f in range(1, lev.shape[0]):
        out += np.multiply(lev[f], weights[f], out=tmp)
    return out


# ---------------------------------------------------------------------------------------------
# The definitions


@dataclass(frozen=True)
class Terms:
    r"""Per-sample values of one batch of rows.

    Attributes
    ----------
    loss : (N,)
    grad_v : (N, K, m)            :math:`\partial\ell/\partial V`
    coarse : list of (N, K, D)    :math:`g_k` per STE, in the rows' coordinates
    pre : (F, N, m)               pre-activations of all filters
    rows : (N, m)                 each row's contribution :math:`\sum_a C_{ai}\sigma(z_i^\top w_a)` to e
    e : (N,)                      the residual
    """

    loss: np.ndarray
    grad_v: np.ndarray
    coarse: list[np.ndarray]
    pre: np.ndarray
    rows: np.ndarray
    e: np.ndarray


def terms(X: np.ndarray, point: Point, stes: Sequence[STE]) -> Terms:
    """The definitions of the module docstring for the rows ``X`` (layout: :class:`Point`)."""
    K = point.K
    pre = preactivations(X, point)
    _, N, m = pre.shape
    lev = levels(point.activation, pre)
    rows = row_sums(lev, point.weights)
    e = rows @ np.ones(m)
    grad_v = np.empty((N, K, m))
    np.multiply(np.swapaxes(lev[:K], 0, 1), e[:, None, None], out=grad_v)
    coarse = []
    if stes:
        ve = point.V[:, None, :] * e[None, :, None]  # (K, N, m)
        student = pre[:K]
        for ste in stes:
            arg = student if ste.pieces is not None else student.copy()  # a custom mu' may write to its input
            mu = np.asarray(ste.mu_prime(arg), dtype=np.float64)
            coarse.append(combine(X, mu * ve, point.coord_major))
    return Terms(0.5 * e * e, grad_v, coarse, pre, rows, e)
