"""Batches for the engines that compute one point at a time (symbolic, quadrature, Monte Carlo).

:func:`pointwise` validates ``(v, w)`` through the model (the same rules and messages as the closed forms),
calls the engine once per batch point with the point as a committee ``V (K, m)``, ``W (K, n)``, and stacks the
per-point :class:`~popgrad.engines.result.Quantity` values back into the model's shapes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

import numpy as np
import numpy.typing as npt
from numpy.typing import ArrayLike

from ..activation import Activation
from ..ste import STE
from .result import Expectations, Quantity

__all__ = ["FIELDS", "ModelContract", "pointwise"]


class ModelContract(Protocol):
    """What the engines read of a model: :class:`popgrad.Model` and :class:`popgrad.MultiFilterModel` (any
    :class:`popgrad.models.ModelFamily`) have it.  A protocol, so that the symbolic engine and
    :mod:`popgrad.symbolic` name it without importing :mod:`popgrad.models` (they stay independent of the closed
    forms)."""

    @property
    def teacher(self) -> tuple[np.ndarray, np.ndarray]: ...

    @property
    def activation(self) -> Activation: ...

    def evaluation_point(self, v: ArrayLike, w: ArrayLike, *, gradients: bool) -> object: ...

    def committee(self, v: ArrayLike, w: ArrayLike) -> tuple[np.ndarray, np.ndarray]: ...

    def from_committee(self, x: np.ndarray) -> np.ndarray: ...


FIELDS = ("loss", "grad_v", "grad_w", "coarse_grad_w")

PointResult = Mapping[str, Mapping[str, Quantity | None]]
"""Per STE name, the fields of :data:`FIELDS` at one point, in committee shapes: ``()``, ``(K, m)``, ``(K, n)``."""


def _stack(maybe: list[Quantity | None], batch: tuple[int, ...]) -> Quantity | None:
    items = [q for q in maybe if q is not None]
    if len(items) < len(maybe):
        return None
    first = items[0]
    if not batch:
        return first
    shape = np.shape(first.value)

    def arr(get: Callable[[Quantity], object], dtype: npt.DTypeLike = np.float64) -> np.ndarray:
        return np.array([get(q) for q in items], dtype=dtype).reshape(*batch, *shape)

    mp = arr(lambda q: q.mp, object) if first.mp is not None else None
    return Quantity(arr(lambda q: q.value), arr(lambda q: q.error), first.n, None, mp)


def _shaped(q: Quantity | None, shape: Callable[[np.ndarray], np.ndarray]) -> Quantity | None:
    if q is None:
        return None
    mp = None if q.mp is None else shape(q.mp)
    return Quantity(shape(np.asarray(q.value)), shape(np.asarray(q.error)), q.n, q.cov, mp)


def _present(fields: dict[str, Quantity | None], key: str, engine: str) -> Quantity:
    """``fields[key]``, which only ``grad_w`` may leave None (Monte Carlo without Gaussian rows)."""
    q = fields[key]
    if q is None:
        raise RuntimeError(f"engine {engine!r} computed no {key}: a defect of the engine")
    return q


def pointwise(
    engine: str,
    model: ModelContract,
    v: ArrayLike,
    w: ArrayLike,
    stes: tuple[STE, ...],
    options: dict,
    point: Callable[[np.ndarray, np.ndarray, int | None, int], tuple[PointResult, dict]],
) -> dict[str, Expectations]:
    """Evaluate ``point(V, W, index, count) -> (results, info)`` at every batch point and assemble.

    ``index`` is None for an unbatched input, else the flat index of the point among ``count`` points.
    """
    model.evaluation_point(v, w, gradients=True)  # the closed forms' validation and w = 0 rule, for the same messages
    V, W = model.committee(v, w)
    batch = V.shape[:-2]
    count = int(np.prod(batch, dtype=int))
    per_point = []
    infos = []
    for j, idx in enumerate(np.ndindex(batch)):
        res, info = point(np.asarray(V[idx]), np.asarray(W[idx]), j if batch else None, count)
        per_point.append(res)
        infos.append(info)
    out = {}
    for s in stes:
        fields: dict[str, Quantity | None] = {}
        for key in FIELDS:
            stacked = _stack([r[s.name][key] for r in per_point], batch)
            if key == "loss":
                fields[key] = stacked
            else:
                fields[key] = _shaped(stacked, model.from_committee)
        grad_v = _present(fields, "grad_v", engine)
        out[s.name] = Expectations(
            loss=_present(fields, "loss", engine),
            grad_v=grad_v,
            grad_w=fields["grad_w"],
            coarse_grad_v=grad_v,
            coarse_grad_w=_present(fields, "coarse_grad_w", engine),
            ste=s.name,
            engine=engine,
            options=dict(options),
            info=infos[0] if not batch else {"points": infos},
        )
    return out
