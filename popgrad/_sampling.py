r"""Per-sample quantities of the model, computed from their definitions (Yin et al. 2019, Sec. 2).

Two samplers share nothing but the definitions:

* :func:`literal_terms` -- the full input :math:`Z \in \mathbb{R}^{N \times m \times n}`:

  .. math::
      s = \sigma(Zw),\ t = \sigma(Zw^*),\ e = v^\top s - v^{*\top} t,\quad
      \ell = \tfrac12 e^2,\quad \frac{\partial\ell}{\partial v} = s\,e,\quad
      g_\mu = Z^\top(\mu'(Zw) \odot v)\,e.

* :func:`projected_terms` -- only the plane coordinates :math:`x_i = z_i^\top\hat w`,
  :math:`y_i = z_i^\top u` of each row, i.i.d. N(0, 1) (``derivations/projection.md``); then
  :math:`z_i^\top w = r x_i`, :math:`z_i^\top \hat w^* = x_i\cos\theta + y_i\sin\theta` and
  :math:`E[g_\mu \mid x, y] = \sum_i (x_i \hat w + y_i u)\mu'(r x_i) v_i e`.

and two unbiased estimators of the true gradient :math:`\partial f/\partial w`, which has no
sample-wise form (``derivations/score_function.md``):

* ``"boundary"`` (conditional Monte Carlo on the switching surface :math:`z_i^\top w = 0`):

  .. math:: \frac{\partial f}{\partial w} = \frac{\varphi(0)}{\|w\|}
            \sum_i E\big[\Delta_i\, P_w z_i \,\big|\, z_i^\top w = 0\big],\quad
            \Delta_i = v_i(e_{-i} + v_i/2),

  :math:`e_{-i}` the residual with row i's student term removed and its teacher term evaluated at
  :math:`z_i^\top w = 0`.  Bounded variance for every :math:`\theta`.

* ``"score"`` (likelihood ratio on each row's pair :math:`(z_i^\top\hat w, z_i^\top\hat w^*)`):

  .. math:: \frac{\partial f}{\partial w} = -\frac{u}{\|w\|}
            E\Big[\sum_i a_i(e - a_i/2)\big(\cot\theta\,(y_i^2 - 1) - x_i y_i\big)\Big],
            \quad a_i = v_i s_i - v^*_i t_i.

  Variance grows like :math:`\cot^2\theta` near :math:`\theta \in \{0, \pi\}`.

Shapes: ``Z (N, m, n)``, ``v (m,)``, ``w (n,)``; per-sample outputs have a leading axis N.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ._exact_plane import exact_plane
from .ste import STE

__all__ = [
    "GaussianRows",
    "PlaneBasis",
    "RowDistribution",
    "StudentTRows",
    "boundary_grad_w_full",
    "literal_terms",
    "plane_basis",
    "projected_terms",
    "score_grad_w_full",
]

PHI0 = 1.0 / math.sqrt(2.0 * math.pi)  # the standard normal density at 0


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
# The plane span{w, w*}


@dataclass(frozen=True)
class PlaneBasis:
    r"""Orthonormal basis :math:`(\hat w, u)` of span{w, w*} with :math:`\hat w^* = c\,\hat w + s\,u`.

    ``u = 0`` and ``s = 0`` exactly when w and w* are parallel (then only the line matters).
    Computed with exact rational arithmetic (:mod:`popgrad._exact_plane`), independently of
    :mod:`popgrad.geometry`, to a few ulps at any angle.
    """

    r: float
    w_hat: np.ndarray
    u: np.ndarray
    cos: float
    sin: float

    @property
    def matrix(self) -> np.ndarray:
        """(n, 2): columns :math:`\\hat w` and ``u``."""
        return np.column_stack([self.w_hat, self.u])

    @property
    def cot(self) -> float:
        return self.cos / self.sin


def plane_basis(w: np.ndarray, w_star: np.ndarray) -> PlaneBasis:
    """:class:`PlaneBasis` of non-zero ``w (n,)`` and ``w_star (n,)``, from exact arithmetic."""
    r, w_hat, u, cos, sin = exact_plane(w, w_star).floats()
    return PlaneBasis(r, w_hat, u, cos, sin)


# ---------------------------------------------------------------------------------------------
# Full sampler: the literal definitions


def literal_terms(
    Z: np.ndarray, v: np.ndarray, w: np.ndarray, v_star: np.ndarray, w_star: np.ndarray, stes: Sequence[STE]
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray], tuple[np.ndarray, ...]]:
    r"""Per-sample :math:`\ell`, :math:`\partial\ell/\partial v` and :math:`g_\mu` for each STE.

    Returns ``(loss (N,), grad_v (N, m), [g_mu (N, n) per STE], (s, t, e))`` where the last
    tuple (student and teacher activations (N, m) and residual (N,)) serves the true-gradient
    estimators.
    """
    pre = Z @ w
    s = pre > 0
    t = (Z @ w_star) > 0
    e = s @ v - t @ v_star
    loss = 0.5 * e * e
    grad_v = s * e[:, None]
    ve = v * e[:, None]
    coarse = [np.einsum("bin,bi->bn", Z, np.asarray(ste.mu_prime(pre), dtype=np.float64) * ve) for ste in stes]
    return loss, grad_v, coarse, (s, t, e)


def _delta_boundary(
    v: np.ndarray, v_star: np.ndarray, s: np.ndarray, t: np.ndarray, e: np.ndarray, t0: np.ndarray
) -> np.ndarray:
    r""":math:`\Delta_i = \ell(s_i{=}1) - \ell(s_i{=}0)` with row i's teacher term :math:`t_i \to t^0_i`, (N, m)."""
    rest = e[:, None] - v * s + v_star * t - v_star * t0  # e_{-i}
    return v * (rest + 0.5 * v)


def boundary_grad_w_full(
    Z: np.ndarray, v: np.ndarray, v_star: np.ndarray, basis: PlaneBasis, s: np.ndarray, t: np.ndarray, e: np.ndarray
) -> np.ndarray:
    r"""Per-sample boundary estimator of :math:`\partial f/\partial w`, (N, n).

    :math:`\frac{\varphi(0)}{\|w\|} P_w Z^\top \Delta`, where row i's teacher term is taken at
    :math:`z_i^\top w = 0`: :math:`t^0_i = 1\{z_i^\top P_w w^* > 0\} = 1\{\sin\theta\, z_i^\top u > 0\}`.
    """
    t0 = (Z @ basis.u) * basis.sin > 0
    delta = _delta_boundary(v, v_star, s, t, e, t0)
    zd = np.einsum("bin,bi->bn", Z, delta)
    return (PHI0 / basis.r) * (zd - np.outer(zd @ basis.w_hat, basis.w_hat))


def _score_weight(
    v: np.ndarray,
    v_star: np.ndarray,
    s: np.ndarray,
    t: np.ndarray,
    e: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    cot: float,
) -> np.ndarray:
    r""":math:`\sum_i a_i(e - a_i/2)(\cot\theta(y_i^2 - 1) - x_i y_i)`, (N,)."""
    a = v * s - v_star * t
    dl = a * (e[:, None] - 0.5 * a)  # l - l^{(-i)}: the part of l that depends on row i
    return np.einsum("bi,bi->b", dl, cot * (y * y - 1.0) - x * y)


def score_grad_w_full(
    Z: np.ndarray, v: np.ndarray, v_star: np.ndarray, basis: PlaneBasis, s: np.ndarray, t: np.ndarray, e: np.ndarray
) -> np.ndarray:
    r"""Per-sample score-function estimator of :math:`\partial f/\partial w`, (N, n); needs :math:`\sin\theta > 0`."""
    x, y = Z @ basis.w_hat, Z @ basis.u
    weight = _score_weight(v, v_star, s, t, e, x, y, basis.cot)
    return np.outer(-weight / basis.r, basis.u)


# ---------------------------------------------------------------------------------------------
# Projected sampler: two coordinates per row


_WORK = threading.local()  # per-thread buffers: no allocation churn (page faults) per block


def _buffers(size: int, m: int) -> dict[str, np.ndarray]:
    key = (size, m)
    cache = getattr(_WORK, "cache", None)
    if cache is None or cache[0] != key:
        names = ("x", "y", "s", "t", "t0", "tmp")
        _WORK.cache = cache = (key, {k: np.empty((size, m)) for k in names} | {"xy": np.empty((2, size, m))})
    return cache[1]


def projected_terms(
    rng: np.random.Generator,
    size: int,
    v: np.ndarray,
    v_star: np.ndarray,
    basis: PlaneBasis,
    stes: Sequence[STE],
    grad_w: str | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, list[np.ndarray]]:
    r"""Per-sample in-plane quantities from ``size`` draws of the rows' plane coordinates.

    Returns ``(loss (N,), grad_v (N, m), grad_w (N, 2) or None, [g_mu (N, 2) per STE])``; the
    2-vectors are coordinates on :math:`(\hat w, u)`.  The out-of-plane parts are 0: they are the
    conditional expectations given the plane coordinates (``derivations/projection.md``).
    """
    m = v.size
    b = _buffers(size, m)
    xy = rng.standard_normal(out=b["xy"])
    x, y, s, t, tmp = xy[0], xy[1], b["s"], b["t"], b["tmp"]
    # float 0/1 arrays so that the row sums are BLAS matrix-vector products; in place throughout
    np.greater(x, 0, out=s)
    np.multiply(x, basis.cos, out=tmp)
    tmp += basis.sin * y
    np.greater(tmp, 0, out=t)
    e = s @ v - t @ v_star
    loss = 0.5 * e * e
    grad_v = s * e[:, None]
    coarse = []
    pre = basis.r * x if stes else None  # a fresh array: a custom mu_prime may return a view of it
    for ste in stes:
        mu = np.asarray(ste.mu_prime(pre), dtype=np.float64)
        g = np.empty((size, 2))
        np.multiply(x, mu, out=tmp)
        g[:, 0] = (tmp @ v) * e  # sum_i x_i mu_i v_i e
        np.multiply(y, mu, out=tmp)
        g[:, 1] = (tmp @ v) * e
        coarse.append(g)
    gw = None
    if grad_w == "boundary":
        # sum_i Delta_i y_i with Delta_i = v_i(e - v_i s_i + v*_i (t_i - t0_i) + v_i/2), t0_i = 1{sin y_i > 0}
        t0 = b["t0"]
        np.greater(y, 0, out=t0) if basis.sin > 0 else t0.fill(0.0)
        np.subtract(t, t0, out=tmp)
        tmp *= y
        total = e * (y @ v) + tmp @ (v * v_star)
        np.subtract(0.5, s, out=tmp)
        tmp *= y
        total += tmp @ (v * v)
        gw = np.zeros((size, 2))
        gw[:, 1] = (PHI0 / basis.r) * total
    elif grad_w == "score":
        gw = np.zeros((size, 2))
        gw[:, 1] = -_score_weight(v, v_star, s, t, e, x, y, basis.cot) / basis.r
    return loss, grad_v, gw, coarse
