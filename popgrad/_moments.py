r"""Streaming sample moments with a merge order that does not depend on how work was split.

A Monte Carlo run is cut into fixed-size *blocks* (one random stream each).  Each block gives a
:class:`Moments` node (count, mean, centred second moments); nodes are merged with Chan's
pairwise update

.. math::
    n = n_a + n_b,\quad \bar x = \bar x_a + \delta\,n_b/n,\quad
    M_2 = M_{2,a} + M_{2,b} + \delta\delta^\top n_a n_b / n,\qquad \delta = \bar x_b - \bar x_a,

along the *dyadic tree* over block indices (leaf ``k`` is block ``k``; node ``[j 2^l, (j+1) 2^l)``
merges its two halves; a node with an empty half is its other half, unchanged).  Any split of
the blocks into aligned power-of-two chunks computes sub-trees of that same tree, so the floating
point result is bitwise the same for every chunk size, worker count and executor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Estimate", "Moments", "TreeMerger", "estimate_of", "merge", "moments_of", "tree_reduce"]


@dataclass(frozen=True)
class Moments:
    """Count, mean and centred second moments of a batch of vector samples.

    ``mean`` has shape (k,); ``m2`` is (k, k) (``full=True``) or (k,) (diagonal only).
    """

    n: int
    mean: np.ndarray
    m2: np.ndarray


def moments_of(values: np.ndarray, full: bool = True) -> Moments:
    """:class:`Moments` of ``values`` of shape (N, k), N >= 1."""
    mean = np.ones(values.shape[0]) @ values / values.shape[0]
    c = values - mean
    m2 = c.T @ c if full else np.einsum("ij,ij->j", c, c)
    return Moments(values.shape[0], mean, m2)


def merge(a: Moments | None, b: Moments | None) -> Moments | None:
    """Chan et al.'s pairwise merge; ``None`` is the empty batch (identity, returned unchanged)."""
    if a is None:
        return b
    if b is None:
        return a
    n = a.n + b.n
    delta = b.mean - a.mean
    mean = a.mean + delta * (b.n / n)
    weight = a.n * b.n / n
    cross = np.outer(delta, delta) if a.m2.ndim == 2 else delta * delta
    return Moments(n, mean, a.m2 + b.m2 + cross * weight)


def tree_reduce(nodes: list) -> object:
    """Merge a list of equal-level sibling nodes up the dyadic tree (dicts of :class:`Moments`)."""
    if not nodes:
        return None
    while len(nodes) > 1:
        nodes = [
            _merge_dicts(nodes[i], nodes[i + 1]) if i + 1 < len(nodes) else nodes[i] for i in range(0, len(nodes), 2)
        ]
    return nodes[0]


def _merge_dicts(a: dict, b: dict) -> dict:
    return {k: merge(a[k], b[k]) for k in a}


class TreeMerger:
    """Merge nodes of equal size arriving in block order, holding O(log count) nodes.

    A binary counter: pushing node ``j`` merges it with its left sibling whenever that is on top
    of the stack; :meth:`result` folds the remainder from the right, which is exactly the
    truncated dyadic tree of :func:`tree_reduce`.
    """

    def __init__(self) -> None:
        self._stack: list[tuple[int, dict]] = []  # (level, node)

    def push(self, node: dict) -> None:
        level = 0
        while self._stack and self._stack[-1][0] == level:
            _, left = self._stack.pop()
            node = _merge_dicts(left, node)
            level += 1
        self._stack.append((level, node))

    def result(self) -> dict:
        node = self._stack[-1][1]
        for _, left in reversed(self._stack[:-1]):
            node = _merge_dicts(left, node)
        return node


@dataclass(frozen=True)
class Estimate:
    r"""A Monte Carlo estimate of :math:`E[X]` from ``n`` i.i.d. samples of :math:`X`.

    Attributes
    ----------
    mean : float or ndarray, shape () or (k,)
        The sample mean :math:`\bar X`.
    stderr : same shape as ``mean``
        :math:`\sqrt{s^2/n}` per component, :math:`s^2` the unbiased sample variance.
    n : int
        Number of samples.
    cov : ndarray, shape (k, k), or None
        Estimated covariance of ``mean`` itself, :math:`S/n` with :math:`S` the unbiased sample
        covariance of :math:`X` (``None`` when not computed); use it for joint (chi-square) tests.

    Examples
    --------
    >>> e = Estimate(mean=1.0, stderr=0.5, n=100)
    >>> float(e.z(0.0))
    2.0
    """

    mean: float | np.ndarray
    stderr: float | np.ndarray
    n: int
    cov: np.ndarray | None = None

    def z(self, reference: object) -> float | np.ndarray:
        r"""z-scores :math:`(\bar X - \text{reference}) / \text{stderr}`, per component.

        Where ``stderr == 0`` (a component the estimator knows exactly, e.g. the out-of-plane part
        of a projected estimate) the z-score is 0 if the mean equals the reference and
        :math:`\pm\infty` otherwise.
        """
        diff = np.asarray(self.mean, dtype=np.float64) - np.asarray(reference, dtype=np.float64)
        se = np.broadcast_to(np.asarray(self.stderr, dtype=np.float64), diff.shape)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(se > 0, diff / np.where(se > 0, se, 1.0), np.where(diff == 0, 0.0, np.sign(diff) * np.inf))
        return z[()] if z.ndim == 0 else z


def _scaled_cov(cov: np.ndarray, scale: np.ndarray) -> np.ndarray | None:
    """``cov * outer(scale, scale)``, or None where that leaves float64 (inf, or a non-zero entry lost to underflow)."""
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        out = cov * np.outer(scale, scale)
    lost = (cov != 0) & (np.abs(out) < np.finfo(np.float64).tiny)
    return out if np.all(np.isfinite(out)) and not np.any(lost) else None


def estimate_of(
    mom: Moments, basis: np.ndarray | None = None, scalar: bool = False, scale: np.ndarray | None = None
) -> Estimate:
    """:class:`Estimate` from merged moments; ``basis`` (n, k) maps coordinates to R^n, then each component is
    multiplied by ``scale`` (n,) (samples accumulated in units that keep their squares inside float64).

    With ``scale``, ``cov`` is None when it is not representable (e.g. the covariance of df/dw at |w| = 1e-300,
    of order 1e600); ``mean`` and ``stderr`` are then still given.
    """
    n = mom.n
    full = mom.m2.ndim == 2
    var = mom.m2 / (n - 1)
    mean = mom.mean
    if basis is not None:
        mean = basis @ mean
        var = basis @ (var if full else np.diag(var)) @ basis.T
        full = True
    if full:
        cov = var / n
        stderr = np.sqrt(np.maximum(np.diag(cov), 0.0))
    else:
        cov = None
        stderr = np.sqrt(var / n)
    if scale is not None:
        with np.errstate(over="ignore", under="ignore"):
            mean, stderr = mean * scale, stderr * np.abs(scale)
        cov = None if cov is None else _scaled_cov(cov, scale)
    if scalar:
        return Estimate(float(mean[0]), float(stderr[0]), n, cov)
    return Estimate(mean, stderr, n, cov)
