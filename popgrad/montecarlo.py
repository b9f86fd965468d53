r"""Monte Carlo from the definition of the model: the ground truth the closed forms must match.

:func:`monte_carlo` (the ``monte_carlo`` engine of :func:`popgrad.expectations`) estimates, at one point of
any model -- :class:`popgrad.Model` or :class:`popgrad.MultiFilterModel`, binary or staircase
:math:`\sigma`, any STE --

* the loss :math:`f = E\,\ell`, :math:`\ell = \tfrac12 e^2`,
  :math:`e = \sum_k\sum_i V_{ki}\sigma(z_i^\top w_k) - \sum_\kappa\sum_i V^*_{\kappa i}\sigma(z_i^\top w^*_\kappa)`;
* :math:`\partial f/\partial V = E\,\partial\ell/\partial V`,
  :math:`\partial\ell/\partial V_{ki} = \sigma(z_i^\top w_k)e`;
* :math:`E\,g_k` for each requested STE, :math:`g_k = \sum_i z_i\,\mu'(z_i^\top w_k)V_{ki}\,e` (only
  ``ste.mu_prime`` is used);
* :math:`\partial f/\partial w_k` with an unbiased estimator (``derivations/boundary_estimator.md``), since the
  sample-wise :math:`\partial\ell/\partial w` is 0 almost everywhere.

Methods: ``"full"`` samples :math:`Z \in \mathbb{R}^{m\times n}` (rows i.i.d. N(0, I), or any
:class:`RowDistribution`) and applies the definitions literally; ``"projected"`` samples only each
row's coordinates in an orthonormal basis of the span of all :math:`K + K^*` filters (dimension
:math:`d \le K + K^*`, from exact arithmetic: :mod:`popgrad._exact_plane`), whose cost per sample does not
grow with n (``derivations/projection.md``).

Reproducibility: sample k belongs to block ``k // block_size``, and block j draws from
``SeedSequence(seed).spawn(...)[j]``.  Blocks are merged along a fixed dyadic tree
(:mod:`popgrad._moments`), so the numbers are bitwise the same for any ``chunk_size``, any
``workers`` and any executor.  The block size depends only on the method and the sizes (m, n, d).

Memory: a block holds at most :data:`BLOCK_ENTRIES` entries of Z (or of its coordinates), about 8 MB, or one
sample if a sample is larger (m n entries); with ``covariance=True`` each vector quantity also keeps its
(K n)^2 covariance.  Chunks are generated lazily, so nothing grows with ``n_samples``.

For sampled training (Remark 1, stochastic coarse gradient descent) use :func:`draw_inputs` and
:func:`per_sample`, which expose the same literal per-sample code.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, overload

import numpy as np
from numpy.typing import ArrayLike

from . import _boundary as bnd
from . import _sampling as smp
from ._exact_plane import ExactSpan, exact_plane, exact_span
from ._moments import Estimate, Moments, TreeMerger, estimate_of, moments_of
from ._sampling import GaussianRows, RowDistribution, StudentTRows
from ._schedule import plan, run
from ._validate import as_vector_batch, positive_int
from .ste import STE, resolve_many

if TYPE_CHECKING:
    from .engines import Expectations
    from .models.base import ModelFamily

__all__ = [
    "Estimate",
    "GaussianRows",
    "MonteCarloResult",
    "PerSample",
    "RowDistribution",
    "StudentTRows",
    "draw_inputs",
    "monte_carlo",
    "per_sample",
    "seed_sequence",
    "student_t",
]

METHODS = ("full", "projected")
GRAD_W_ESTIMATORS = ("boundary", "score")
BLOCK_ENTRIES = 2**20
"""Entries of Z (or of its projected coordinates) per block, unless one sample is larger."""
_MAX_BLOCK = 8192


def student_t(nu: float) -> StudentTRows:
    r"""Rows :math:`z = g/\sqrt{\chi^2_\nu/\nu}` (multivariate t, rotation invariant; Remark 2)."""
    return StudentTRows(nu)


# ---------------------------------------------------------------------------------------------
# Argument handling


def _resolve_rows(rows: object) -> RowDistribution:
    if isinstance(rows, str):
        if rows == "gaussian":
            return GaussianRows()
        raise ValueError(f"unknown rows {rows!r}; use 'gaussian' or a RowDistribution such as student_t(5)")
    if isinstance(rows, RowDistribution):
        return rows
    raise TypeError(f"rows must be 'gaussian' or a popgrad.montecarlo.RowDistribution, got {type(rows).__name__}")


def seed_sequence(seed: object) -> np.random.SeedSequence:
    """``seed`` (a non-negative int or a SeedSequence) as a :class:`numpy.random.SeedSequence`."""
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(
            f"seed must be a non-negative integer or a numpy.random.SeedSequence, got {type(seed).__name__} {seed!r}"
        )
    if int(seed) < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    return np.random.SeedSequence(int(seed))


def _block_size(method: str, m: int, dim: int) -> int:
    """Samples per block: a power of two <= 8192 holding at most BLOCK_ENTRIES row entries (or one sample).

    ``dim`` is n (full) or d (projected); the size is part of the random stream's definition."""
    per_sample = m * dim
    return int(min(_MAX_BLOCK, 2 ** math.floor(math.log2(max(1, BLOCK_ENTRIES // per_sample)))))


def _user_parts(stes: tuple[STE, ...], rows: RowDistribution) -> dict[str, object]:
    """The user-supplied pieces of a task, by description, for the error when one of them does not pickle."""
    parts: dict[str, object] = {f"custom STE {s.name!r}": s for s in stes if s.pieces is None}
    parts[f"the row distribution {rows.name!r}"] = rows
    return parts


# ---------------------------------------------------------------------------------------------
# One block of samples -> moments (runs in worker processes: module-level, picklable arguments)


@dataclass(frozen=True)
class _Spec:
    method: str
    point: smp.Point
    geometry: bnd.Geometry | None
    score: bnd.ScoreAxes | None
    stes: tuple[STE, ...]
    rows: RowDistribution
    m: int
    dim: int
    n_samples: int
    block: int
    entropy: int | Sequence[int] | None
    spawn_key: tuple
    pool_size: int
    covariance: bool

    def rng(self, j: int) -> np.random.Generator:
        ss = np.random.SeedSequence(self.entropy, spawn_key=(*self.spawn_key, j), pool_size=self.pool_size)
        return np.random.Generator(np.random.PCG64(ss))


def _values(spec: _Spec, j: int) -> dict[str, np.ndarray]:
    size = min(spec.block, spec.n_samples - j * spec.block)
    rng = spec.rng(j)
    if spec.point.coord_major:  # projected: the rows' coordinates, one contiguous array per coordinate
        X = rng.standard_normal((spec.dim, size, spec.m))
    else:
        X = spec.rows.sample(rng, (size, spec.m, spec.dim))
    t = smp.terms(X, spec.point, spec.stes)
    out = {"loss": t.loss[:, None], "grad_v": t.grad_v.reshape(size, -1)}
    if spec.geometry is not None:
        out["grad_w"] = bnd.boundary(X, spec.point, spec.geometry, t).reshape(size, -1)
    elif spec.score is not None:
        out["grad_w"] = bnd.score(X, spec.point, spec.score, t).reshape(size, -1)
    for k, g in enumerate(t.coarse):
        out[f"coarse{k}"] = g.reshape(size, -1)
    return out


def _run_chunk(spec: _Spec, first: int, stop: int) -> dict[str, Moments]:
    """Moments of blocks ``first .. stop-1`` (an aligned power-of-two range, or the tail)."""
    merger = TreeMerger()
    for j in range(first, stop):
        merger.push({k: moments_of(x, spec.covariance) for k, x in _values(spec, j).items()})
    return merger.result()


# ---------------------------------------------------------------------------------------------
# The point in the sampler's coordinates


def _geometry(span: ExactSpan, K: int, projected: bool) -> bnd.Geometry:
    units = span.unit_coords[:K] if projected else span.units[:K]
    basis = None if projected else span.basis
    return bnd.Geometry(units, span.norms[:K], span.along[:K], span.perp, span.sin2, span.exponents, basis)


def _score_axes(w: np.ndarray, w_star: np.ndarray, projected: bool) -> bnd.ScoreAxes:
    _, w_hat, u, cos, sin = exact_plane(w, w_star).floats()
    if sin == 0:
        raise ValueError(
            "grad_w_estimator='score' needs 0 < theta < pi (its variance grows like cot(theta)^2); "
            "w is parallel to w_star here: use grad_w_estimator='boundary'"
        )
    if projected:  # the span's basis of (w, w*) is (w_hat, u) bit for bit (both from the same exact values)
        return bnd.ScoreAxes(np.array([1.0, 0.0]), np.array([0.0, 1.0]), cos / sin)
    return bnd.ScoreAxes(w_hat, u, cos / sin)


def _spec(
    model: ModelFamily,
    V: np.ndarray,
    W: np.ndarray,
    stes: tuple[STE, ...],
    ss: np.random.SeedSequence,
    method: str,
    rows: RowDistribution,
    grad_w: str | None,
    n_samples: int,
    covariance: bool,
) -> tuple[_Spec, ExactSpan]:
    V_star, W_star = (np.asarray(x, dtype=np.float64) for x in model.teacher)
    K, (m, n) = V.shape[0], V.shape[1:] + W.shape[1:]
    filters = np.concatenate([W, W_star])
    span = exact_span(filters, perp_of=K if grad_w == "boundary" else 0)
    projected = method == "projected"
    if projected:
        point = smp.Point(V, V_star, model.activation, span.coords, span.exponents, coord_major=True)
        dim = span.dim
    else:
        point = smp.Point(V, V_star, model.activation, *smp.scaled_rows(filters))
        dim = n
    geometry = _geometry(span, K, projected) if grad_w == "boundary" else None
    score = _score_axes(W[0], W_star[0], projected) if grad_w == "score" else None
    spec = _Spec(
        method=method,
        point=point,
        geometry=geometry,
        score=score,
        stes=stes,
        rows=rows,
        m=m,
        dim=dim,
        n_samples=n_samples,
        block=_block_size(method, m, dim),
        entropy=ss.entropy,
        spawn_key=tuple(ss.spawn_key),
        pool_size=ss.pool_size,
        covariance=covariance,
    )
    return spec, span


# ---------------------------------------------------------------------------------------------
# Public API


@dataclass(frozen=True)
class MonteCarloResult:
    r"""Estimates at one point, in committee shapes (K student filters; K = 1 for :class:`popgrad.Model`).

    Attributes
    ----------
    loss : Estimate
        :math:`f`, scalar.
    grad_v : Estimate
        :math:`\partial f/\partial V = E\,\partial\ell/\partial V`, shape (K, m) (flattened in ``cov``).
    grad_w : Estimate or None
        :math:`\partial f/\partial W`, shape (K, n), from the unbiased estimator named in
        ``grad_w_estimator``; ``None`` if not requested or not available (non-Gaussian rows).
    coarse : dict[str, Estimate]
        :math:`E\,g_k`, shape (K, n), keyed by STE name, for every requested STE (same samples).
    n, method, rows :
        Number of samples, ``"full"``/``"projected"``, the row distribution's name.
    basis : ndarray (n, d)
        Orthonormal basis of the span of all filters (from exact arithmetic; the plane span{w, w*} for one
        filter): a projected estimate of :math:`g_k` or :math:`\partial f/\partial w_k` lies in it, with exactly 0
        (and stderr 0) orthogonal to it.
    """

    loss: Estimate
    grad_v: Estimate
    grad_w: Estimate | None
    coarse: dict[str, Estimate]
    n: int
    method: str
    rows: str
    basis: np.ndarray = field(repr=False)


def _check_options(
    n_samples: object,
    method: object,
    grad_w_estimator: object,
    covariance: object,
    workers: object,
    executor: object,
) -> tuple[int, int]:
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {list(METHODS)}")
    if isinstance(n_samples, float) and n_samples.is_integer():
        raise TypeError(f"n_samples must be an integer, got the float {n_samples!r}; write e.g. 10**6, not 1e6")
    n_samples = positive_int(n_samples, "n_samples", minimum=2)
    if grad_w_estimator is not None and grad_w_estimator not in GRAD_W_ESTIMATORS:
        raise ValueError(
            f"unknown grad_w_estimator {grad_w_estimator!r}; expected one of {list(GRAD_W_ESTIMATORS)} or None"
        )
    if not isinstance(covariance, bool):
        raise TypeError(f"covariance must be True or False, got {covariance!r}")
    workers = positive_int(workers, "workers")
    if executor is not None and not isinstance(executor, Executor):
        raise TypeError(f"executor must be a concurrent.futures.Executor, got {type(executor).__name__}")
    return n_samples, workers


def _finite(est: Estimate, what: str) -> Estimate:
    if not (np.all(np.isfinite(est.mean)) and np.all(np.isfinite(est.stderr))):
        raise ValueError(
            f"the Monte Carlo estimate of {what} is not finite: it overflows float64 at these inputs (|w| near the "
            "smallest float for gradients, or |v|, |v_star| near 1e154; rescale them), or a custom mu' returned "
            "NaN or inf"
        )
    return est


def sample_point(
    model: ModelFamily,
    V: np.ndarray,
    W: np.ndarray,
    stes: tuple[STE, ...],
    seed: np.random.SeedSequence,
    *,
    n_samples: int,
    method: str,
    rows: object,
    grad_w_estimator: str | None,
    covariance: bool,
    workers: int,
    executor: Executor | None,
    chunk_size: int | None,
    progress: bool | None,
) -> MonteCarloResult:
    r"""Monte Carlo estimates at one committee ``V (K, m)``, ``W (K, n)`` (non-zero rows) of ``model`` (the engine
    behind :func:`monte_carlo`; ``model`` is used only through ``teacher`` and ``activation``)."""
    n_samples, workers = _check_options(n_samples, method, grad_w_estimator, covariance, workers, executor)
    rows_dist = _resolve_rows(rows)
    if not rows_dist.gaussian and method == "projected":
        raise ValueError("method='projected' samples Gaussian coordinates; use method='full' for other rows")
    grad_w = grad_w_estimator if rows_dist.gaussian else None
    spec, span = _spec(model, V, W, stes, seed, method, rows_dist, grad_w, n_samples, covariance)

    parallel = 1 if executor is None and workers == 1 else max(workers, 2)
    p = plan(n_samples, spec.block, chunk_size, parallel)
    task = partial(_run_chunk, spec)
    node = run(task, p, workers=workers, executor=executor, progress=progress, parts=_user_parts(stes, rows_dist))

    K, n = W.shape
    to_rn = np.kron(np.eye(K), span.basis) if method == "projected" else None
    inv_r = np.repeat(1.0 / span.norms[:K], n)
    return MonteCarloResult(
        loss=_finite(estimate_of(node["loss"], scalar=True), "the loss"),
        grad_v=_finite(estimate_of(node["grad_v"]), "df/dv"),
        grad_w=_finite(estimate_of(node["grad_w"], to_rn, scale=inv_r), "df/dw") if "grad_w" in node else None,
        coarse={s.name: _finite(estimate_of(node[f"coarse{k}"], to_rn), f"E g[{s.name}]") for k, s in enumerate(stes)},
        n=n_samples,
        method=method,
        rows=rows_dist.name,
        basis=span.basis,
    )


# the overloads of :func:`popgrad.expectations`, for the same reason (a str is also a Sequence[str])
@overload
def monte_carlo(  # type: ignore[overload-overlap]
    model: ModelFamily,
    v: ArrayLike,
    w: ArrayLike,
    ste: str | STE = ...,
    n_samples: int = ...,
    seed: int | np.random.SeedSequence = ...,
    method: str = ...,
    **options: object,
) -> Expectations: ...


@overload
def monte_carlo(
    model: ModelFamily,
    v: ArrayLike,
    w: ArrayLike,
    ste: Sequence[str | STE],
    n_samples: int = ...,
    seed: int | np.random.SeedSequence = ...,
    method: str = ...,
    **options: object,
) -> dict[str, Expectations]: ...


def monte_carlo(
    model: ModelFamily,
    v: Any,  # array_like (the overloads say so); Any here keeps mypy's matching of the call below to one ste union
    w: Any,
    ste: str | STE | Sequence[str | STE] = "relu",
    n_samples: int = 10**6,
    seed: int | np.random.SeedSequence = 0,
    method: str = "full",
    **options: object,
) -> Expectations | dict[str, Expectations]:
    r"""Monte Carlo estimates of :math:`f`, :math:`\partial f/\partial v`, :math:`\partial f/\partial w`
    and :math:`E\,g_\mu` at ``(v, w)``, each with its standard error.

    The same as ``pg.expectations(model, v, w, ste, engine="monte_carlo", n_samples=..., seed=..., method=...,
    **options)``: an :class:`~popgrad.engines.Expectations` (a ``dict`` of them by STE name for a sequence of
    STEs, all from the same samples) whose fields' ``.error`` are standard errors and ``.cov`` covariances.
    Every model, activation and STE is computed (module docstring).

    Parameters
    ----------
    model : popgrad.Model or popgrad.MultiFilterModel
    v : array_like, the model's shape ((m,) or (K, m); a batch (..., m) draws point j from
        ``SeedSequence(seed).spawn(N)[j]``)
    w : array_like, (n,) or (K, n), non-zero rows
    ste : str, STE, or sequence of them
        STE(s) whose coarse gradient to estimate, all on the same samples (only ``mu_prime`` is used).
    n_samples : int >= 2
    seed : int >= 0 or numpy.random.SeedSequence
    method : ``"full"`` (literal Z) or ``"projected"`` (the rows' coordinates in the span of the filters)
    **options
        ``rows`` (``"gaussian"`` or a :class:`RowDistribution` such as :func:`student_t`; full method only,
        and then ``grad_w`` is None: no unbiased estimator of it is implemented for other rows),
        ``grad_w_estimator`` (``"boundary"`` (default, bounded variance), ``"score"`` (one-filter binary model
        only), or None to skip), ``covariance`` (accumulate each quantity's covariance, ``Quantity.cov``),
        ``workers`` (processes; with an ``executor``, the number of tasks it runs at once), ``executor`` (any
        ``concurrent.futures.Executor``: threads, processes, Dask's ``client.get_executor()``; results do not
        depend on it), ``chunk_size`` (samples per task), ``progress`` (a tqdm bar; default only when stderr
        is a terminal and ``CI`` is unset; ``True`` in Jupyter gives a widget).

    Examples
    --------
    >>> import popgrad as pg
    >>> model = pg.Model([1.0, -0.5], [1.0, 0.0, 0.0])
    >>> mc = pg.monte_carlo(model, [0.5, 0.5], [1.0, 1.0, 0.0], n_samples=20_000, seed=1)
    >>> bool(abs(mc.loss.z(model.loss([0.5, 0.5], [1.0, 1.0, 0.0]))) < 5)
    True
    >>> sorted(pg.monte_carlo(model, [0.5, 0.5], [1.0, 1.0, 0.0], ste=["relu", "identity"],
    ...                       n_samples=100, method="projected"))
    ['identity', 'relu']
    """
    from .engines import expectations  # the engine registry imports this module

    return expectations(
        model, v, w, ste, engine="monte_carlo", n_samples=n_samples, seed=seed, method=method, **options
    )


# ---------------------------------------------------------------------------------------------
# Per-sample access (sampled training, empirical loss)


@dataclass(frozen=True)
class PerSample:
    r"""Per-sample quantities for a batch ``Z`` of shape (N, m, n), in the model's shapes.

    Attributes
    ----------
    loss : (N,)                                     :math:`\ell(v, w; Z_k)`
    grad_v : (N, m) or (N, K, m)                    :math:`\partial\ell/\partial v`
    coarse_grad_w : dict[str, (N, n) or (N, K, n)]  :math:`g_\mu(v, w; Z_k)` per STE name
    """

    loss: np.ndarray
    grad_v: np.ndarray
    coarse_grad_w: dict[str, np.ndarray]


def draw_inputs(rng: np.random.Generator, n_samples: int, m: int, n: int, rows: object = "gaussian") -> np.ndarray:
    r"""A batch of inputs :math:`Z_1, \dots, Z_N`, shape (N, m, n), rows i.i.d. from ``rows``.

    Examples
    --------
    >>> import numpy as np
    >>> draw_inputs(np.random.default_rng(0), 4, 2, 3).shape
    (4, 2, 3)
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), got {type(rng).__name__}")
    n_samples = positive_int(n_samples, "n_samples")
    m, n = positive_int(m, "m"), positive_int(n, "n")
    return _resolve_rows(rows).sample(rng, (n_samples, m, n))


def per_sample(
    model: ModelFamily,
    v: ArrayLike,
    w: ArrayLike,
    Z: ArrayLike,
    ste: str | STE | Sequence[str | STE] = "relu",
) -> PerSample:
    r"""Per-sample loss, :math:`\partial\ell/\partial v` and coarse gradients on the batch ``Z``.

    The literal definitions (the code behind ``monte_carlo(..., method="full")``), for any model:
    :math:`e = \sum_k\sum_i V_{ki}\sigma(z_i^\top w_k) - \sum_\kappa\sum_i V^*_{\kappa i}\sigma(z_i^\top w^*_\kappa)`,
    :math:`\ell = e^2/2`, :math:`\partial\ell/\partial V_{ki} = \sigma(z_i^\top w_k)e`,
    :math:`g_k = \sum_i z_i\mu'(z_i^\top w_k)V_{ki}e`.  The empirical loss of Remark 1 is
    ``per_sample(...).loss.mean()`` and a sampled coarse gradient step uses ``.grad_v.mean(0)`` and
    ``.coarse_grad_w[name].mean(0)``.

    Parameters
    ----------
    model : popgrad.Model or popgrad.MultiFilterModel
    v, w : one point in the model's shapes ((m,), (n,) or (K, m), (K, n)); w may be 0
    Z : array_like, shape (N, m, n) (or (m, n) for one sample, treated as N = 1)
    ste : name, STE or sequence of them

    Examples
    --------
    >>> import numpy as np, popgrad as pg
    >>> model = pg.Model([1.0], [1.0, 0.0])
    >>> ps = per_sample(model, [2.0], [0.0, 1.0], [[[1.0, -1.0]]], ste="identity")
    >>> float(ps.loss[0]), ps.coarse_grad_w["identity"][0].tolist()   # e = 2*0 - 1*1 = -1
    (0.5, [-2.0, 2.0])
    """
    try:
        V, W = model.committee(v, w)
        V_star, W_star = (np.asarray(x, dtype=np.float64) for x in model.teacher)
    except AttributeError:
        raise TypeError(f"model must be a popgrad.Model or MultiFilterModel, got {type(model).__name__}") from None
    if V.ndim != 2:
        raise ValueError(f"per_sample takes one point, not a batch: v and w have batch shape {V.shape[:-2]}")
    m, n = V.shape[1], W.shape[1]
    Z = np.asarray(Z)
    if Z.ndim == 2:
        Z = Z[None]
    if Z.ndim != 3 or Z.shape[1:] != (m, n):
        raise ValueError(f"Z must have shape (N, m, n) = (N, {m}, {n}), got {Z.shape}")
    Z = as_vector_batch(Z, "Z", n)
    stes, _ = resolve_many(ste)
    point = smp.Point(V, V_star, model.activation, *smp.scaled_rows(np.concatenate([W, W_star])))
    t = smp.terms(Z, point, stes)
    shape = model.from_committee
    return PerSample(t.loss, shape(t.grad_v), {s.name: shape(g) for s, g in zip(stes, t.coarse, strict=True)})
