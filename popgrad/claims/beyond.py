r"""Beyond the paper: popgrad's own closed forms for a leaky ReLU STE and a staircase activation, by Monte Carlo.

These rows check no statement of Yin et al. (2019): the paper's activation is the binary step and its STEs
are the identity, the ReLU and the clipped ReLU.  popgrad's closed forms go further (any piecewise-constant
STE, multi-bit staircases), and these rows check two of them against Monte Carlo from the literal model
(``pg.expectations(..., engine="monte_carlo", method="full")``), which does not use them:

* :func:`leaky_relu` -- the paper's binary model with the leaky ReLU STE
  :math:`\mu'(x) = 1\{x > 0\} + \tfrac{1}{10}1\{x \le 0\}` (:func:`popgrad.ste.leaky_relu`);
* :func:`staircase` -- the uniform 2-bit quantized ReLU :math:`\sigma` = ``uniform(2, 0.5)`` (levels 0, 0.5, 1,
  1.5 above the thresholds 0, 0.5, 1 of :math:`z^\top w`) for student and teacher, with the ReLU STE and the
  clipped ReLU at the top level, :math:`\mu'(x) = 1\{0 < x < 1.5\}`.

At the first ``POINTS`` battery points per teacher with :math:`0.1 \le \|w\| \le 10` (the first ``TEACHERS``
teachers; every teacher and 6 points with ``--thorough``), the loss, :math:`\partial f/\partial v`,
:math:`\partial f/\partial w` and :math:`E g_\mu` of the model's closed forms are compared with the engine's
estimates per component, :math:`|z| < 5` with the standard errors the engine reports
(:func:`popgrad.claims.formulas.max_abs_z`): false-alarm rate :math:`5.7\cdot10^{-7}` per component, fixed
seeds.  Where the Monte Carlo engine refuses the model (``NotImplementedError``) the row checks nothing: its
status is ``n/a`` and its note gives the engine's reason.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..activation import uniform
from ..models import Model
from ..ste import clipped_relu
from ..ste import leaky_relu as leaky_relu_ste
from .battery import Battery
from .formulas import Z_BOUND, mc_z
from .result import Check, ClaimResult

__all__ = ["LEAKY", "STAIRCASE", "STAIRCASE_STES", "leaky_relu", "staircase"]

LEAKY = leaky_relu_ste(0.1)
STAIRCASE = uniform(2, 0.5)
STAIRCASE_STES = ("relu", clipped_relu(1.5))
TEACHERS, POINTS, SAMPLES = 4, 2, 100_000
REFERENCE = "beyond the paper"
METHOD = "Monte Carlo (z) vs closed form"


def _points(w: np.ndarray, k: int) -> np.ndarray:
    r = np.linalg.norm(w, axis=1)
    return np.flatnonzero((r >= 0.1) & (r <= 10))[:k]


def _mc_row(
    key: str, title: str, battery: Battery, model_for: Callable[[Model], Model], stes: tuple, purpose: int
) -> ClaimResult:
    thorough = battery.thorough
    cases = battery.cases if thorough else battery.cases[:TEACHERS]
    per_teacher, n_samples = (6, 400_000) if thorough else (POINTS, SAMPLES)
    worst: dict[str, float] = {}
    n_points = n_comp = 0
    for case in cases:
        model = model_for(case.model)
        seeds = case.rng(purpose).integers(0, 2**63, size=per_teacher)
        for i, seed in zip(_points(case.w, per_teacher), seeds, strict=False):
            try:
                zs = mc_z(model, case.v[i], case.w[i], n_samples, int(seed), "full", stes, battery.mc_options)
            except NotImplementedError as exc:
                refused = Check("points the Monte Carlo engine computes", 0, ">", 0, note=str(exc))
                return ClaimResult(key, title, REFERENCE, METHOD, (refused,), 0, values={"refused": 1.0})
            for k, z in zs.items():
                worst[k] = max(worst.get(k, 0.0), z)
            n_points += 1
            n_comp += 1 + model.m + (len(zs) - 2) * model.n
    checks = (
        Check(
            "max |z| of full (literal) Monte Carlo vs closed forms",
            max(worst.values(), default=np.nan),
            "<",
            Z_BOUND,
            note=f"{n_comp} components; false-alarm rate 5.7e-7 per component",
        ),
    )
    values = {f"max_z_{k}": v for k, v in worst.items()}
    values.update({"mc_samples_per_point": n_samples, "mc_components": n_comp})
    return ClaimResult(key, title, REFERENCE, METHOD, checks, n_points, values=values)


def leaky_relu(battery: Battery) -> ClaimResult:
    """The binary model's closed forms with the leaky ReLU STE (slope 0.1) against Monte Carlo; see the module
    docstring."""
    title = "Closed forms with the leaky ReLU STE (slope 0.1), binary activation"
    return _mc_row("leaky_relu", title, battery, lambda model: model, (LEAKY,), 91)


def _staircase_model(model: Model) -> Model:
    return Model(model.v_star, model.w_star, STAIRCASE)


def staircase(battery: Battery, model_for: Callable[[Model], Model] = _staircase_model) -> ClaimResult:
    """The uniform 2-bit staircase's closed forms against Monte Carlo; see the module docstring.

    ``model_for`` maps a battery teacher to the model checked (default: the same teacher with
    :data:`STAIRCASE` as :math:`\\sigma`); the tests give it a model whose closed forms are wrong.
    """
    title = "Closed forms of the uniform 2-bit staircase (step 0.5), ReLU and clipped-ReLU(1.5) STEs"
    return _mc_row("staircase", title, battery, model_for, STAIRCASE_STES, 92)
