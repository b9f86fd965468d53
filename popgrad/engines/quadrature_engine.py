"""The ``quadrature`` engine: :mod:`popgrad.quadrature` behind the common contract."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import numpy as np
from numpy.typing import ArrayLike

from ..ste import STE
from .capability import Engine
from .pointwise import PointResult, pointwise
from .result import Expectations, Quantity

if TYPE_CHECKING:
    from ..models.base import ModelFamily

__all__ = ["ENGINE"]


class QuadratureEngine(Engine):
    """Deterministic quadrature of the row integrals in each pair's plane, error bounds from checked estimates."""

    name = "quadrature"
    defaults: ClassVar[dict] = {"backend": "scipy", "dps": 30}
    variants: ClassVar[tuple[dict, ...]] = ({"backend": "scipy"}, {"backend": "mpmath"})

    def refusal(self, model: str, activation: str, ste: str, options: dict) -> str | None:
        if ste == "custom" and options["backend"] == "mpmath":
            return "a custom mu' is a float64 function, which mpmath cannot evaluate at its working precision"
        return None

    def compute(
        self, model: ModelFamily, v: ArrayLike, w: ArrayLike, stes: tuple[STE, ...], options: dict
    ) -> dict[str, Expectations]:
        from .. import quadrature as qd  # mpmath set-up: loaded on first use

        v_star, w_star = model.teacher

        def point(V: np.ndarray, W: np.ndarray, index: int | None, count: int) -> tuple[PointResult, dict]:
            res = qd.integrate_committee(v_star, w_star, model.activation, V, W, stes, **options)

            def q(e: qd.Estimate) -> Quantity:
                return Quantity(e.value, e.error, None, None, e.mp)

            base = {"loss": q(res.loss), "grad_v": q(res.grad_v), "grad_w": q(res.grad_w)}
            out = {s.name: {**base, "coarse_grad_w": q(res.coarse[s.name])} for s in stes}
            return out, {"max_error": res.max_error, "backend": res.backend}

        return pointwise(self.name, model, v, w, stes, options, point)


ENGINE = QuadratureEngine()
