r"""The battery of the multi-filter study: teachers, and student points of four kinds.

A *configuration* is ``(K, K*, m, n)``.  Its teacher has :math:`V^* \sim N(0, 1)` entries and filters
:math:`W^*` with i.i.d. :math:`N(0, 1)` entries (directions uniform on the sphere; the binary :math:`\sigma` makes
the norms irrelevant).  Its student points come in four kinds, in equal numbers:

* ``random`` -- :math:`V \sim N(0, 1)`, each filter a uniform direction with norm log-uniform in [0.1, 10];
* ``collision`` -- as ``random``, then one filter :math:`k` is moved to within an angle
  :math:`\varepsilon` (log-uniform in :math:`[10^{-6}, 10^{-0.5}]`) of another filter (a student filter or a
  teacher filter, chosen uniformly), parallel or antiparallel with equal probability;
* ``random, V optimal`` and ``collision, V optimal`` -- the same filters, with :math:`V` the minimiser of
  :math:`f(\cdot, W)` (:func:`optimal_v`), where :math:`\partial f/\partial V = 0` and descent along the coarse
  gradient rests on :math:`E g_\mu` alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..models import MultiFilterModel

__all__ = ["KINDS", "Config", "Points", "configs", "optimal_v", "points", "teacher"]

KINDS = ("random", "collision", "random, V optimal", "collision, V optimal")
PAIRS = tuple((k, ks) for k in (1, 2, 3, 4) for ks in (1, 2, 3, 4))
PATCHES = (1, 2, 4, 8)
DIMS = tuple(range(2, 21))


@dataclass(frozen=True)
class Config:
    """One configuration: ``k`` student filters, ``k_star`` teacher filters, ``m`` patches of dimension ``n``."""

    k: int
    k_star: int
    m: int
    n: int

    @property
    def label(self) -> str:
        return f"K={self.k} K*={self.k_star} m={self.m} n={self.n}"


@dataclass(frozen=True)
class Points:
    """Student points of one configuration.

    Attributes
    ----------
    config, model : the configuration and its teacher
    v : (P, K, m), w : (P, K, n)
    kind : (P,) str, one of :data:`KINDS`
    """

    config: Config
    model: MultiFilterModel
    v: np.ndarray
    w: np.ndarray
    kind: np.ndarray


def configs(rng: np.random.Generator, thorough: bool = False) -> list[Config]:
    """Every ``(K, K*)`` in {1..4}^2 and ``m`` in {1, 2, 4, 8}; ``n`` one uniform draw from 2..20 per pair
    ``((K, K*), m)``, or every ``n`` in 2..20 when ``thorough`` (1216 configurations instead of 64)."""
    out: list[Config] = []
    for k, ks in PAIRS:
        for m in PATCHES:
            dims = DIMS if thorough else (int(rng.integers(DIMS[0], DIMS[-1] + 1)),)
            out.extend(Config(k, ks, m, n) for n in dims)
    return out


def teacher(rng: np.random.Generator, k_star: int, m: int, n: int) -> MultiFilterModel:
    """A random teacher (module docstring), binary :math:`\\sigma`."""
    return MultiFilterModel(rng.standard_normal((k_star, m)), rng.standard_normal((k_star, n)))


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _random_filters(rng: np.random.Generator, p: int, k: int, n: int) -> np.ndarray:
    norms = np.exp(rng.uniform(np.log(0.1), np.log(10.0), size=(p, k, 1)))
    return _unit(rng.standard_normal((p, k, n))) * norms


def _collide(rng: np.random.Generator, w: np.ndarray, w_star: np.ndarray) -> np.ndarray:
    """Move one filter of each point next to another filter (module docstring)."""
    p, k, n = w.shape
    out = w.copy()
    rows = np.arange(p)
    moved = rng.integers(0, k, size=p)
    partner = rng.integers(0, k - 1 + len(w_star), size=p)  # students other than `moved`, then teachers
    others = np.concatenate([w, np.broadcast_to(w_star, (p, *w_star.shape))], axis=1)
    partner = np.where(partner >= moved, partner + 1, partner)  # skip the moved filter itself
    d = _unit(others[rows, partner])
    e = rng.standard_normal((p, n))
    e = _unit(e - np.sum(e * d, axis=-1, keepdims=True) * d)
    eps = 10.0 ** rng.uniform(-6.0, -0.5, size=(p, 1))
    sign = rng.choice([-1.0, 1.0], size=(p, 1))
    r = np.linalg.norm(w[rows, moved], axis=-1, keepdims=True)
    out[rows, moved] = sign * r * (np.cos(eps) * d + np.sin(eps) * e)
    return out


def optimal_v(model: MultiFilterModel, w: np.ndarray) -> np.ndarray:
    r"""The minimiser of the quadratic :math:`V \mapsto f(V, W)`, ``(P, K, m)`` for ``w (P, K, n)``.

    :math:`\partial f/\partial V = A\,\mathrm{vec}(V) + b` is affine: ``b`` and the columns of ``A`` are read off
    ``model.grad`` at :math:`V = 0` and at the unit matrices (one batched call), and
    :math:`V = -A^+ b` (pseudo-inverse: ``A`` is singular when two filters are parallel), refined once with the
    residual :math:`\partial f/\partial V` evaluated at the solution.

    >>> import popgrad as pg
    >>> model = pg.MultiFilterModel([[1.0, 2.0]], [[1.0, 0.0]])
    >>> optimal_v(model, np.array([[[3.0, 0.0]]])).round(12).tolist()   # the teacher's filter: V = V*
    [[[1.0, 2.0]]]
    """
    p, k, _ = w.shape
    d = k * model.m
    basis = np.concatenate([np.zeros((1, d)), np.eye(d)]).reshape(1, d + 1, k, model.m)
    gv, _ = model.grad(basis, w[:, None])
    gv = gv.reshape(p, d + 1, d)
    b = gv[:, 0]
    a = gv[:, 1:] - b[:, None]  # a[p, j] = A e_j: rows of A^T = A
    a_inv = np.linalg.pinv(a, rcond=1e-12, hermitian=True)
    x = -np.einsum("pij,pj->pi", a_inv, b)
    # one step of iterative refinement on the exact residual: near-parallel filters make A ill-conditioned
    residual, _ = model.grad(x.reshape(p, k, model.m), w)
    x = x - np.einsum("pij,pj->pi", a_inv, residual.reshape(p, d))
    return x.reshape(p, k, model.m)


def points(rng: np.random.Generator, config: Config, per_kind: int) -> Points:
    """``per_kind`` points of each of the four kinds (module docstring) for a new random teacher."""
    model = teacher(rng, config.k_star, config.m, config.n)
    k, m, n = config.k, config.m, config.n
    w_random = _random_filters(rng, per_kind, k, n)
    w_collide = _collide(rng, _random_filters(rng, per_kind, k, n), model.w_star)
    vs = [rng.standard_normal((per_kind, k, m)) for _ in range(2)]
    w = np.concatenate([w_random, w_collide, w_random, w_collide])
    v = np.concatenate([*vs, optimal_v(model, w_random), optimal_v(model, w_collide)])
    kind = np.repeat(np.array(KINDS), per_kind)
    return Points(config, model, v, w, kind)
