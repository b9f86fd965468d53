"""The ``symbolic`` engine: :func:`popgrad.symbolic.evaluate_committee` behind the common contract.

It computes the binary activation with any piecewise-constant STE, for one filter and for committees; its
``Quantity.mp`` holds the ``dps``-digit values, ``value`` their float64 rounding and ``error`` half an ulp of
that rounding plus the evaluation's own error (the spread between its last two working precisions and
``10**-dps`` of the value).
"""

from __future__ import annotations

from typing import ClassVar

import mpmath
import numpy as np
from numpy.typing import ArrayLike

from .._validate import positive_int
from ..ste import STE
from .capability import Engine
from .pointwise import ModelContract, PointResult, pointwise
from .result import Expectations, Quantity

__all__ = ["ENGINE"]


def _quantity(mp: np.ndarray | mpmath.mpf, spread: np.ndarray | mpmath.mpf, dps: int) -> Quantity:
    """float64 rounding of ``mp`` with its error: half an ulp + the spread + 10^-dps relative."""
    mp = np.asarray(mp, dtype=object)
    value = np.vectorize(float, otypes=[np.float64])(mp) if mp.size else np.zeros(mp.shape)
    own = np.vectorize(lambda x, s: float(abs(s) + abs(x) * mpmath.mpf(10) ** -dps), otypes=[np.float64])(mp, spread)
    return Quantity(value[()], (0.5 * np.spacing(np.abs(value)) + own)[()], None, None, mp)


class SymbolicEngine(Engine):
    """sympy-derived expressions evaluated by mpmath at ``dps`` significant digits."""

    name = "symbolic"
    defaults: ClassVar[dict] = {"dps": 50}

    def refusal(self, model: str, activation: str, ste: str, options: dict) -> str | None:
        if activation != "binary":
            return "its expressions are derived for the binary step only; a staircase has no symbolic form here"
        if ste == "custom":
            return "a custom mu' has no symbolic form (only a piecewise-constant mu' does)"
        return None

    def compute(
        self, model: ModelContract, v: ArrayLike, w: ArrayLike, stes: tuple[STE, ...], options: dict
    ) -> dict[str, Expectations]:
        from ..symbolic.evaluate import evaluate_committee  # sympy / mpmath set-up: loaded on first use

        dps = positive_int(options["dps"], "dps")
        v_star, w_star = model.teacher

        def point(V: np.ndarray, W: np.ndarray, index: int | None, count: int) -> tuple[PointResult, dict]:
            ev = evaluate_committee(v_star, w_star, V, W, stes, dps)
            sp = ev.spread
            base = {
                "loss": _quantity(ev.loss, sp["loss"], dps),
                "grad_v": _quantity(ev.grad_v, sp["grad_v"], dps),
                "grad_w": _quantity(ev.grad_w, sp["grad_w"], dps),
            }
            out = {
                s.name: {**base, "coarse_grad_w": _quantity(ev.coarse_grad_w[s.name], sp["coarse_grad_w"][s.name], dps)}
                for s in stes
            }
            return out, {"dps": dps, "prec": ev.prec}

        return pointwise(self.name, model, v, w, stes, options, point)


ENGINE = SymbolicEngine()
