r"""Monte Carlo from the definition of the model: the ground truth the closed forms must match.

:func:`monte_carlo` estimates, at one point ``(v, w)``,

* the loss :math:`f = E\,\ell`, with :math:`\ell = \tfrac12(v^\top\sigma(Zw) - v^{*\top}\sigma(Zw^*))^2`;
* :math:`\partial f/\partial v = E\,\partial\ell/\partial v` (Lemma 2; :math:`\partial\ell/\partial v = \sigma(Zw)\,e`);
* :math:`E\,g_\mu` for each requested STE, :math:`g_\mu = Z^\top(\mu'(Zw)\odot v)\,e` (Lemmas 4, 7, 9);
* :math:`\partial f/\partial w` (Lemma 2) with an unbiased estimator (``derivations/score_function.md``),
  since the sample-wise :math:`\partial\ell/\partial w` is 0 almost everywhere.

Methods: ``"full"`` samples :math:`Z \in \mathbb{R}^{m\times n}` (rows i.i.d. N(0, I), or any
:class:`RowDistribution`) and applies the definitions literally; ``"projected"`` samples only each
row's two coordinates in span{w, w*}, whose cost per sample does not grow with n
(``derivations/projection.md``).

Reproducibility: sample k belongs to block ``k // block_size``, and block j draws from
``SeedSequence(seed).spawn(...)[j]``.  Blocks are merged along a fixed dyadic tree
(:mod:`popgrad._moments`), so the numbers are bitwise the same for any ``chunk_size``, any
``workers`` and any executor.  The block size depends only on ``method``, m and n (it bounds
the memory: at most ~2**20 entries of Z per block, ~10 MB, whatever ``n_samples``).

For sampled training (Remark 1, stochastic coarse gradient descent) use :func:`draw_inputs` and
:func:`per_sample`, which expose the same literal per-sample code.
"""

from __future__ import annotations

import math
import numbers
import os
import sys
import time
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from . import _sampling as smp
from ._moments import Estimate, Moments, TreeMerger, estimate_of, moments_of
from ._sampling import GaussianRows, RowDistribution, StudentTRows
from ._validate import as_vector_batch, check_nonzero_rows, positive_int
from .ste import STE, resolve, resolve_many

if TYPE_CHECKING:
    from .engines import Expectations

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
    """``seed`` as a ``numpy.random.SeedSequence`` (a non-negative integer, or a SeedSequence as is)."""
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(
            f"seed must be a non-negative integer or a numpy.random.SeedSequence, got {type(seed).__name__} {seed!r}"
        )
    if int(seed) < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    return np.random.SeedSequence(int(seed))


def _point(model: object, v: object, w: object) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    try:
        v_star, w_star = np.asarray(model.v_star, dtype=np.float64), np.asarray(model.w_star, dtype=np.float64)
    except AttributeError:
        raise TypeError(f"model must be a popgrad.Model (with v_star and w_star), got {type(model).__name__}") from None
    v = as_vector_batch(v, "v", v_star.size, batch=False)
    w = as_vector_batch(w, "w", w_star.size, batch=False)
    return v, w, v_star, w_star


def _block_size(method: str, m: int, n: int) -> int:
    """Power of two; depends only on (method, m, n), so it is part of the random stream's definition."""
    per_sample = m * n if method == "full" else 2 * m
    return int(max(16, min(_MAX_BLOCK, 2 ** math.floor(math.log2(max(1, 2**20 // per_sample))))))


# ---------------------------------------------------------------------------------------------
# One block of samples -> moments (runs in worker processes: module-level, picklable arguments)


@dataclass(frozen=True)
class _Spec:
    method: str
    v: np.ndarray
    w: np.ndarray
    v_star: np.ndarray
    w_star: np.ndarray
    stes: tuple
    rows: RowDistribution
    grad_w: str | None
    basis: smp.PlaneBasis | None
    n_samples: int
    block: int
    entropy: object
    spawn_key: tuple
    pool_size: int
    covariance: bool

    def rng(self, j: int) -> np.random.Generator:
        ss = np.random.SeedSequence(self.entropy, spawn_key=(*self.spawn_key, j), pool_size=self.pool_size)
        return np.random.Generator(np.random.PCG64(ss))


class _PortableSTE:
    """Pickles a built-in STE by name (their ``mu_prime`` are lambdas), any other STE as itself."""

    def __init__(self, ste: STE) -> None:
        self.ste = ste

    def __reduce__(self) -> tuple:
        try:
            named = resolve(self.ste.name)
        except ValueError:
            named = None
        if named is not None and named == self.ste and named.pieces is not None:
            return (_named_ste, (self.ste.name,))
        return (_PortableSTE, (self.ste,))


def _named_ste(name: str) -> _PortableSTE:
    return _PortableSTE(resolve(name))


def _values(spec: _Spec, j: int) -> dict[str, np.ndarray]:
    size = min(spec.block, spec.n_samples - j * spec.block)
    rng = spec.rng(j)
    stes = [p.ste for p in spec.stes]
    if spec.method == "projected":
        loss, gv, gw, coarse = smp.projected_terms(rng, size, spec.v, spec.v_star, spec.basis, stes, spec.grad_w)
    else:
        Z = spec.rows.sample(rng, (size, spec.v.size, spec.w.size))
        loss, gv, coarse, (s, t, e) = smp.literal_terms(Z, spec.v, spec.w, spec.v_star, spec.w_star, stes)
        gw = None
        if spec.grad_w == "boundary":
            gw = smp.boundary_grad_w_full(Z, spec.v, spec.v_star, spec.basis, s, t, e)
        elif spec.grad_w == "score":
            gw = smp.score_grad_w_full(Z, spec.v, spec.v_star, spec.basis, s, t, e)
    out = {"loss": loss[:, None], "grad_v": gv}
    if gw is not None:
        out["grad_w"] = gw
    for k, g in enumerate(coarse):
        out[f"coarse{k}"] = g
    return out


def _block_moments(spec: _Spec, j: int) -> dict[str, Moments]:
    return {k: moments_of(x, spec.covariance) for k, x in _values(spec, j).items()}


def _run_chunk(spec: _Spec, first: int, stop: int) -> dict[str, Moments]:
    """Moments of blocks ``first .. stop-1`` (an aligned power-of-two range, or the tail)."""
    merger = TreeMerger()
    for j in range(first, stop):
        merger.push(_block_moments(spec, j))
    return merger.result()


# ---------------------------------------------------------------------------------------------
# Scheduling


class _Progress:
    """One status line on stderr, only when stderr is a terminal and CI is unset (or forced)."""

    def __init__(self, total: int, enabled: bool | None) -> None:
        if enabled is None:
            enabled = sys.stderr.isatty() and "CI" not in os.environ
        self.enabled = bool(enabled)
        self.total = total
        self.start = self.last = time.monotonic()
        self.shown = False

    def update(self, done: int) -> None:
        now = time.monotonic()
        if not self.enabled or (now - self.last < 0.5 and done < self.total) or now - self.start < 1.0:
            return
        self.last = now
        self.shown = True
        sys.stderr.write(f"\rpopgrad monte_carlo: {done:.3g}/{self.total:.3g} samples ({100 * done / self.total:.0f}%)")
        sys.stderr.flush()

    def close(self) -> None:
        if self.shown:
            sys.stderr.write("\n")
            sys.stderr.flush()


def _chunks(n_blocks: int, chunk_blocks: int) -> list[tuple[int, int]]:
    return [(a, min(a + chunk_blocks, n_blocks)) for a in range(0, n_blocks, chunk_blocks)]


def _chunk_blocks(chunk_size: object, block: int, n_blocks: int, parallel: int) -> int:
    """Blocks per task, a power of two (alignment keeps the merge tree fixed)."""
    if chunk_size is None:
        target = max(1, n_blocks // (4 * parallel)) if parallel > 1 else 16
        blocks = min(64, target)
    else:
        blocks = max(1, positive_int(chunk_size, "chunk_size") // block)
    return 2 ** math.floor(math.log2(blocks))


def _gather(spec: _Spec, chunks: list, executor: Executor | None, window: int, progress: _Progress) -> dict:
    merger = TreeMerger()
    done = 0
    if executor is None:
        for a, b in chunks:
            merger.push(_run_chunk(spec, a, b))
            done = min(spec.n_samples, b * spec.block)
            progress.update(done)
        return merger.result()
    pending = []
    it = iter(chunks)
    for a, b in it:
        pending.append((b, executor.submit(_run_chunk, spec, a, b)))
        if len(pending) >= window:
            break
    while pending:
        b, fut = pending.pop(0)
        merger.push(fut.result())
        progress.update(min(spec.n_samples, b * spec.block))
        nxt = next(it, None)
        if nxt is not None:
            pending.append((nxt[1], executor.submit(_run_chunk, spec, *nxt)))
    return merger.result()


# ---------------------------------------------------------------------------------------------
# Public API


@dataclass(frozen=True)
class MonteCarloResult:
    r"""Estimates at one point ``(v, w)``.

    Attributes
    ----------
    loss : Estimate
        :math:`f(v, w)`, scalar.
    grad_v : Estimate
        :math:`\partial f/\partial v = E\,\partial\ell/\partial v`, shape (m,).
    grad_w : Estimate or None
        :math:`\partial f/\partial w`, shape (n,), from the unbiased estimator named in
        ``grad_w_estimator``; ``None`` if not requested or not available (w = 0, non-Gaussian rows).
    coarse : dict[str, Estimate]
        :math:`E\,g_\mu`, shape (n,), keyed by STE name, for every requested STE (same samples).
    n, method, rows :
        Number of samples, ``"full"``/``"projected"``, the row distribution's name.
    plane : ndarray (n, 2) or None
        Orthonormal basis :math:`(\hat w, u)` of span{w, w*} (None at w = 0): a projected estimate
        lies in it, with exactly 0 (and stderr 0) orthogonal to it.
    """

    loss: Estimate
    grad_v: Estimate
    grad_w: Estimate | None
    coarse: dict[str, Estimate]
    n: int
    method: str
    rows: str
    plane: np.ndarray | None = field(repr=False, default=None)


def sample_point(
    model: object,
    v: np.ndarray,
    w: np.ndarray,
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
    r"""Monte Carlo estimates at one point of the one-filter binary model (the engine behind :func:`monte_carlo`)."""
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
    ss = seed
    rows_dist = _resolve_rows(rows)
    v, w, v_star, w_star = _point(model, v, w)
    m, n = v.size, w.size

    w_zero = not np.any(w != 0)
    if w_zero and method == "projected":
        raise ValueError("w = 0 has no plane span{w, w*}; use method='full' at w = 0")
    if not rows_dist.gaussian and method == "projected":
        raise ValueError("method='projected' samples Gaussian plane coordinates; use method='full' for other rows")
    grad_w = grad_w_estimator if (rows_dist.gaussian and not w_zero) else None
    basis = None if w_zero else smp.plane_basis(w, w_star)
    if grad_w == "score" and basis.sin == 0:
        raise ValueError(
            "grad_w_estimator='score' needs 0 < theta < pi (its variance grows like cot(theta)^2); "
            "w is parallel to w_star here: use grad_w_estimator='boundary'"
        )
    check_nonzero_rows(w_star, "model.w_star", "the teacher's direction is undefined")

    block = _block_size(method, m, n)
    n_blocks = -(-n_samples // block)
    parallel = 1 if executor is None and workers == 1 else max(workers, 2)
    chunks = _chunks(n_blocks, _chunk_blocks(chunk_size, block, n_blocks, parallel))
    spec = _Spec(
        method=method,
        v=v,
        w=w,
        v_star=v_star,
        w_star=w_star,
        stes=tuple(_PortableSTE(s) for s in stes),
        rows=rows_dist,
        grad_w=grad_w,
        basis=basis,
        n_samples=n_samples,
        block=block,
        entropy=ss.entropy,
        spawn_key=tuple(ss.spawn_key),
        pool_size=ss.pool_size,
        covariance=covariance,
    )
    bar = _Progress(n_samples, progress)
    try:
        if executor is not None:
            node = _gather(spec, chunks, executor, 4 * max(workers, 2), bar)
        elif workers > 1 and len(chunks) > 1:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                node = _gather(spec, chunks, pool, 2 * workers, bar)
        else:
            node = _gather(spec, chunks, None, 1, bar)
    finally:
        bar.close()

    plane = None if basis is None else basis.matrix
    vec_basis = plane if method == "projected" else None
    return MonteCarloResult(
        loss=estimate_of(node["loss"], scalar=True),
        grad_v=estimate_of(node["grad_v"]),
        grad_w=estimate_of(node["grad_w"], vec_basis) if "grad_w" in node else None,
        coarse={s.name: estimate_of(node[f"coarse{k}"], vec_basis) for k, s in enumerate(stes)},
        n=n_samples,
        method=method,
        rows=rows_dist.name,
        plane=plane,
    )


def monte_carlo(
    model: object,
    v: object,
    w: object,
    ste: object = "relu",
    n_samples: int = 10**6,
    seed: object = 0,
    method: str = "full",
    **options: object,
) -> Expectations | dict[str, Expectations]:
    r"""Monte Carlo estimates of :math:`f`, :math:`\partial f/\partial v`, :math:`\partial f/\partial w`
    and :math:`E\,g_\mu` at ``(v, w)``, each with its standard error.

    The same as ``pg.expectations(model, v, w, ste, engine="monte_carlo", n_samples=..., seed=..., method=...,
    **options)``: an :class:`~popgrad.engines.Expectations` (a ``dict`` of them by STE name for a sequence of
    STEs, all from the same samples) whose fields' ``.error`` are standard errors and ``.cov`` covariances.

    Parameters
    ----------
    model : popgrad.Model
    v : array_like, shape (m,) (or a batch (..., m); point j draws from ``SeedSequence(seed).spawn(N)[j]``)
    w : array_like, shape (n,), non-zero
    ste : str, STE, or sequence of them
        STE(s) whose coarse gradient to estimate, all on the same samples.
    n_samples : int >= 2
    seed : int >= 0 or numpy.random.SeedSequence
    method : ``"full"`` (literal Z) or ``"projected"`` (the rows' plane coordinates)
    **options
        ``rows`` (``"gaussian"`` or a :class:`RowDistribution` such as :func:`student_t`; full method only),
        ``grad_w_estimator`` (``"boundary"`` (default, bounded variance), ``"score"``, or None to skip),
        ``covariance`` (accumulate each quantity's covariance, ``Quantity.cov``), ``workers`` (processes),
        ``executor`` (any ``concurrent.futures.Executor``: process pool, dask, ...; results do not depend on it),
        ``chunk_size`` (samples per task), ``progress`` (status on stderr; default only on a terminal).

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
    r"""Per-sample quantities for a batch ``Z`` of shape (N, m, n).

    Attributes
    ----------
    loss : (N,)            :math:`\ell(v, w; Z_k)`
    grad_v : (N, m)        :math:`\partial\ell/\partial v = \sigma(Z_k w)\,e_k`
    coarse_grad_w : dict[str, (N, n)]   :math:`g_\mu(v, w; Z_k)` per STE name
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


def per_sample(model: object, v: object, w: object, Z: object, ste: object = "relu") -> PerSample:
    r"""Per-sample loss, :math:`\partial\ell/\partial v` and coarse gradients on the batch ``Z``.

    The literal definitions (the code behind ``monte_carlo(..., method="full")``):
    :math:`e = v^\top\sigma(Zw) - v^{*\top}\sigma(Zw^*)`, :math:`\ell = e^2/2`,
    :math:`\partial\ell/\partial v = \sigma(Zw)e`, :math:`g_\mu = Z^\top(\mu'(Zw)\odot v)e`.
    The empirical loss of Remark 1 is ``per_sample(...).loss.mean()`` and a sampled coarse
    gradient step uses ``.grad_v.mean(0)`` and ``.coarse_grad_w[name].mean(0)``.

    Parameters
    ----------
    model : popgrad.Model
    v : (m,), w : (n,)
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
    v, w, v_star, w_star = _point(model, v, w)
    Z = np.asarray(Z)
    if Z.ndim == 2:
        Z = Z[None]
    if Z.ndim != 3 or Z.shape[1:] != (v.size, w.size):
        raise ValueError(f"Z must have shape (N, m, n) = (N, {v.size}, {w.size}), got {Z.shape}")
    Z = as_vector_batch(Z, "Z", w.size)
    stes, _ = resolve_many(ste)
    loss, gv, coarse, _ = smp.literal_terms(Z, v, w, v_star, w_star, stes)
    return PerSample(loss, gv, {s.name: g for s, g in zip(stes, coarse, strict=True)})
