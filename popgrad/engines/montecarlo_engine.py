"""The ``monte_carlo`` engine: :mod:`popgrad.montecarlo` behind the common contract.

It computes every model (:class:`popgrad.Model`, :class:`popgrad.MultiFilterModel`), activation (binary,
staircase) and STE (piecewise constant, custom: only ``mu_prime`` is used), with both methods.  Two documented
limits, neither a refusal of a model: with ``rows`` other than ``"gaussian"`` only ``method="full"`` runs
(``ValueError`` otherwise) and ``grad_w`` is None (no unbiased estimator of it is implemented there); and
``grad_w_estimator="score"`` is derived for the one-filter binary model only (refused elsewhere; the default
``"boundary"`` estimator covers every model).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import numpy as np
from numpy.typing import ArrayLike

from .. import montecarlo as mc
from ..ste import STE
from .capability import Engine
from .pointwise import PointResult, pointwise
from .result import Expectations, Quantity

if TYPE_CHECKING:
    from ..models.base import ModelFamily

__all__ = ["ENGINE"]


def _point_seed(ss: np.random.SeedSequence, index: int | None) -> np.random.SeedSequence:
    """The seed of batch point ``index``: ``ss`` itself for an unbatched call, else its ``index``-th child."""
    if index is None:
        return ss
    return np.random.SeedSequence(ss.entropy, spawn_key=(*ss.spawn_key, index), pool_size=ss.pool_size)


def _quantity(est: mc.Estimate | None, shape: tuple[int, ...]) -> Quantity | None:
    if est is None:
        return None
    return Quantity(np.reshape(est.mean, shape), np.reshape(est.stderr, shape), est.n, est.cov)


class MonteCarloEngine(Engine):
    """Sample means from the literal model (``method="full"``) or the projected rows (``"projected"``)."""

    name = "monte_carlo"
    defaults: ClassVar[dict] = {
        "n_samples": 10**6,
        "seed": 0,
        "method": "full",
        "rows": "gaussian",
        "grad_w_estimator": "boundary",
        "covariance": True,
        "workers": 1,
        "executor": None,
        "chunk_size": None,
        "progress": None,
    }
    variants: ClassVar[tuple[dict, ...]] = ({"method": "full"}, {"method": "projected"})

    def refusal(self, model: str, activation: str, ste: str, options: dict) -> str | None:
        if options.get("grad_w_estimator") == "score" and (model != "Model" or activation != "binary"):
            return (
                "grad_w_estimator='score' (the likelihood-ratio estimator of df/dw) is derived for the one-filter "
                "binary model only; use grad_w_estimator='boundary' (every model) or None"
            )
        return None

    def compute(
        self, model: ModelFamily, v: ArrayLike, w: ArrayLike, stes: tuple[STE, ...], options: dict
    ) -> dict[str, Expectations]:
        ss = mc.seed_sequence(options["seed"])
        opts = {k: val for k, val in options.items() if k != "seed"}

        def point(V: np.ndarray, W: np.ndarray, index: int | None, count: int) -> tuple[PointResult, dict]:
            res = mc.sample_point(model, V, W, stes, _point_seed(ss, index), **opts)
            base = {
                "loss": _quantity(res.loss, ()),
                "grad_v": _quantity(res.grad_v, V.shape),
                "grad_w": _quantity(res.grad_w, W.shape),
            }
            out = {s.name: {**base, "coarse_grad_w": _quantity(res.coarse[s.name], W.shape)} for s in stes}
            # "plane": the same basis, under the name the one-filter callers know (span{w, w*})
            info = {"n_samples": res.n, "method": res.method, "rows": res.rows, "basis": res.basis, "plane": res.basis}
            return out, info

        return pointwise(self.name, model, v, w, stes, options, point)


ENGINE = MonteCarloEngine()
