"""The ``quadrature`` engine: :mod:`popgrad.quadrature` behind the common contract."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from ..ste import STE
from .bounds import term_bounds
from .capability import Engine
from .pointwise import pointwise
from .result import Expectations, Quantity

__all__ = ["ENGINE"]


class QuadratureEngine(Engine):
    """Deterministic quadrature of the row expectations over each pair's plane, error estimates checked."""

    name = "quadrature"
    defaults: ClassVar[dict] = {"backend": "scipy", "dps": 30}
    variants: ClassVar[tuple[dict, ...]] = ({"backend": "scipy"}, {"backend": "mpmath"})

    def refusal(self, model: str, activation: str, ste: str, options: dict) -> str | None:
        if model != "Model":
            return "its row integrals are written for one filter"
        if activation != "binary":
            return "its row integrals split at the binary step only"
        if ste == "custom" and options["backend"] == "mpmath":
            return "a custom mu' is a float64 function, which mpmath cannot evaluate at its working precision"
        return None

    def compute(self, model, v, w, stes: tuple[STE, ...], options: dict) -> dict[str, Expectations]:
        from .. import quadrature as qd  # sympy / mpmath set-up: loaded on first use

        v_star, w_star = model.teacher

        def point(V: np.ndarray, W: np.ndarray, index: int | None, count: int):
            res = qd.integrate_point(v_star[0], w_star[0], V[0], W[0], stes, **options)
            bound = term_bounds(model.activation, v_star, V, W)

            def q(x: object, key: str, shape: tuple[int, ...]) -> Quantity:
                mp = np.reshape(np.array(x, dtype=object), shape) if res.backend == "mpmath" else None
                value = np.reshape(np.asarray(x, dtype=np.float64), shape)
                err = res.max_error * np.reshape(bound[key], shape) + 0.5 * np.spacing(np.abs(value))
                return Quantity(value, err, None, None, mp)

            m, n = V.shape[-1], W.shape[-1]
            base = {"loss": q(res.loss, "loss", ()), "grad_v": q(res.grad_v, "grad_v", (1, m))}
            base["grad_w"] = q(res.grad_w, "grad_w", (1, n))
            out = {s.name: {**base, "coarse_grad_w": q(res.coarse[s.name], "coarse", (1, n))} for s in stes}
            return out, {"max_error": res.max_error, "backend": res.backend}

        return pointwise(self.name, model, v, w, stes, options, point)


ENGINE = QuadratureEngine()
