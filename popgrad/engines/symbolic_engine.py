"""The ``symbolic`` engine: :func:`popgrad.symbolic.evaluate` behind the common contract."""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from ..ste import STE
from .capability import Engine
from .pointwise import pointwise
from .result import Expectations, Quantity

__all__ = ["ENGINE"]


def _which(ste: STE) -> tuple[str, float] | None:
    """The symbolic closed form of a piecewise-constant STE and its clip level, if popgrad has one."""
    if ste.pieces == ((-math.inf, math.inf, 1.0),):
        return "identity", 1.0
    if ste.pieces == ((0.0, math.inf, 1.0),):
        return "relu", 1.0
    if len(ste.pieces) == 1 and ste.pieces[0][0] == 0.0 and ste.pieces[0][2] == 1.0:
        return "clipped_relu", ste.pieces[0][1]
    return None


class SymbolicEngine(Engine):
    """sympy closed forms evaluated by mpmath at ``dps`` significant digits."""

    name = "symbolic"
    defaults: ClassVar[dict] = {"dps": 50}

    def refusal(self, model: str, activation: str, ste: str, options: dict) -> str | None:
        if model != "Model":
            return "its expressions are written for one filter"
        if activation != "binary":
            return "its expressions are those of the binary step"
        if ste == "custom":
            return "a custom mu' has no symbolic expression"
        return None

    def compute(self, model, v, w, stes: tuple[STE, ...], options: dict) -> dict[str, Expectations]:
        from .. import symbolic as sym  # sympy / mpmath set-up: loaded on first use

        kinds = {}
        for s in stes:
            kinds[s.name] = _which(s)
            if kinds[s.name] is None:
                raise NotImplementedError(
                    "engine 'symbolic' has expressions for the identity, ReLU and clipped-ReLU STEs only, "
                    f"not {s.name!r}"
                )
        v_star, w_star = model.teacher

        def point(V: np.ndarray, W: np.ndarray, index: int | None, count: int):
            def q(x: object, shape: tuple[int, ...]) -> Quantity:
                mp = np.reshape(np.array(x, dtype=object), shape)
                value = np.reshape(np.array([float(t) for t in np.ravel(mp)]), shape)
                return Quantity(value, 0.5 * np.spacing(np.abs(value)), None, None, mp)

            m, n = V.shape[-1], W.shape[-1]
            out = {}
            for s in stes:
                name, clip = kinds[s.name]
                ev = sym.evaluate((v_star[0], w_star[0]), V[0], W[0], options["dps"], clip=clip)
                out[s.name] = {
                    "loss": q(ev.loss, ()),
                    "grad_v": q(ev.grad_v, (1, m)),
                    "grad_w": q(ev.grad_w, (1, n)),
                    "coarse_grad_w": q(ev.coarse_grad_w[name], (1, n)),
                }
            return out, {"dps": options["dps"]}

        return pointwise(self.name, model, v, w, stes, options, point)


ENGINE = SymbolicEngine()
