r"""The ``closed_form`` engine: the models' own float64 formulas (:mod:`popgrad.assembly`), batched.

Error.  Each :attr:`Quantity.error` is a bound on the rounding error: :data:`ROUNDING` times the a-priori
bound on the magnitude of the terms the result is summed from (:mod:`popgrad.engines.bounds`; for the coarse
gradient, times :math:`\max|\mu'|`).  A custom :math:`\mu'` adds its quadrature tolerance
(:data:`popgrad.kernels.custom.DEFAULT_TOL`) times that bound for each of its :math:`2F + 3` coefficients
(:math:`F` filters).  The bound holds at every point of the accuracy tests (against 50-digit evaluations); it is
loose where the result is much smaller than its terms (e.g. near the global minimum).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import numpy as np
from numpy.typing import ArrayLike

from ..kernels.custom import DEFAULT_TOL
from ..models.base import finite
from ..ste import STE
from .bounds import term_bounds
from .capability import Engine
from .result import Expectations, Quantity

if TYPE_CHECKING:
    from ..models.base import ModelFamily

__all__ = ["ENGINE", "ROUNDING"]

ROUNDING = 2.0**-44
"""Factor on the a-priori term bound (256 units of roundoff)."""


def _mu_max(ste: STE) -> float:
    return max((abs(nu) for _, _, nu in ste.pieces or ()), default=0.0)


class ClosedFormEngine(Engine):
    """See the module docstring."""

    name = "closed_form"
    defaults: ClassVar[dict] = {}

    def refusal(self, model: str, activation: str, ste: str, options: dict) -> str | None:
        return None  # every model family, activation and STE (custom STEs by checked quadrature)

    def compute(
        self, model: ModelFamily, v: ArrayLike, w: ArrayLike, stes: tuple[STE, ...], options: dict
    ) -> dict[str, Expectations]:
        with np.errstate(all="ignore"):
            pt = model.evaluation_point(v, w, gradients=True)
            asm = model.assembly
            bound = term_bounds(model.activation, model.teacher[0], *model.committee(v, w))
            shape = model.from_committee

            def q(value: np.ndarray, err: np.ndarray) -> Quantity:
                return Quantity(finite(value), finite(ROUNDING * err))

            loss = q(asm.loss(pt), bound["loss"])
            gv = q(shape(asm.grad_v(pt)), shape(bound["grad_v"]))
            gw = q(shape(asm.grad_w(pt).vector), shape(bound["grad_w"]))
            out = {}
            for s in stes:
                g = shape(asm.coarse_w(pt, s).vector)
                if s.pieces is None:  # every coefficient carries its quadrature tolerance, summed over pairs
                    pairs = pt.K + model.teacher[0].shape[0]
                    err = (ROUNDING + (2 * pairs + 3) * DEFAULT_TOL) * shape(bound["coarse"])
                else:
                    err = ROUNDING * _mu_max(s) * shape(bound["coarse"])
                out[s.name] = Expectations(
                    loss=loss,
                    grad_v=gv,
                    grad_w=gw,
                    coarse_grad_v=gv,
                    coarse_grad_w=Quantity(finite(g), finite(err)),
                    ste=s.name,
                    engine=self.name,
                    options=dict(options),
                )
        return out


ENGINE = ClosedFormEngine()
