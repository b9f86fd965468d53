r"""Claim 1: the closed forms of Lemmas 1, 2, 4, 7, 9 agree with Monte Carlo and with quadrature.

At a subset of the battery's points (evenly spaced indices, so tiny/huge :math:`\|w\|` and angles
near 0, :math:`\pi` are among them), ``Model.loss``, ``Model.grad`` (:math:`\partial f/\partial v`,
:math:`\partial f/\partial w`) and ``Model.coarse_grad`` for the ReLU, clipped-ReLU and identity STEs
are compared with

* **Monte Carlo** (``pg.expectations(..., engine="monte_carlo")``): the projected sampler at every chosen
  point and the full sampler (literal :math:`Z \in \mathbb{R}^{m\times n}`) at the first point of some
  teachers.  Per component :math:`z = (\bar X - \text{closed form})/\text{error}`, with the standard error
  the engine reports (``Quantity.error``), in the model's coordinates (a projected estimate lies in the
  plane span{w, w*}: a coordinate orthogonal to it is 0 with error 0, and there the closed form must be 0
  up to :math:`10^{-12}` of its scale).  The clipped ReLU's :math:`g` is non-zero only when
  some :math:`0 < z_i^\top w < 1`, probability :math:`\approx 1/(\sqrt{2\pi}\|w\|)` per row: where
  fewer than ``MIN_HITS`` = 30 such rows are expected among the samples (:math:`\|w\| \gtrsim 10^3`)
  Monte Carlo cannot resolve it and that STE is left to quadrature at that point (counted in
  ``values``; those points are added to the quadrature check).  Bound :math:`|z| < 5` per component, fixed seeds:
  false-alarm rate :math:`5.7\cdot10^{-7}` per component (Gaussian tail), so below :math:`10^{-3}`
  for the few hundred components of the default run.
* **automatic differentiation** (when JAX is installed): ``jax.grad`` of ``model.loss`` against Lemma 2's
  ``model.grad``, :math:`\le 10^{-12}` relative, away from :math:`\theta \in \{0, \pi\}`
  (:mod:`popgrad.claims.autodiff`); without JAX the check is left out (``values["autodiff_points"]`` is 0).
* **quadrature** (``pg.expectations(..., engine="quadrature")``, scipy backend): normwise relative error
  :math:`\|x_{quad} - x_{cf}\| / \max(\|x_{quad}\|, \tau S)`, bound :math:`10^{-9}`, where ``S`` is the
  quantity's natural scale (the size of its terms, :func:`quad_rel_err`) and :math:`\tau = 10^3\varepsilon/10^{-9}
  \approx 2.2\cdot10^{-4}`: an absolute error of up to :math:`10^3\varepsilon S` (float64 rounding of the
  terms) always passes, e.g. where the result is exactly 0, and above that the error must be
  :math:`10^{-9}` of the result.  (With :math:`\tau = 1` a closed form of :math:`\partial f/\partial w`
  or :math:`E g_{crelu}` wrong by :math:`10^{-8}` of its value passed: ``S`` is 10--100 times the value at
  typical points; ``tests/test_claims_power.py``.)

Neither check path imports :mod:`popgrad.closed_form`.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from ..engines import Quantity, expectations
from ..models import Model
from ..ste import resolve
from . import autodiff
from ._common import EPS
from .battery import Battery, Case
from .result import Check, ClaimResult

__all__ = ["STES", "formulas", "max_abs_z", "mc_z", "natural_scale", "quad_rel_err"]

STES = ("relu", "clipped_relu", "identity")
Z_BOUND = 5.0
QUAD_BOUND = 1e-9
QUAD_FLOOR = 1e3 * EPS / QUAD_BOUND  # tau: errors up to 1e3 eps S (rounding of the terms) always pass
MIN_HITS = 30.0


def closed_forms(model: Model, v: np.ndarray, w: np.ndarray, stes: tuple = STES) -> dict[str, np.ndarray]:
    """The model's closed forms at one point: ``loss (1,)``, ``grad_v (m,)``, ``grad_w (n,)`` and, keyed by
    each STE's name, ``E g (n,)``."""
    gv, gw = model.grad(v, w)
    out = {"loss": np.atleast_1d(model.loss(v, w)), "grad_v": gv, "grad_w": gw}
    for ste in stes:
        out[resolve(ste).name] = model.coarse_grad(v, w, ste=ste)[1]
    return out


def clip_hits(model: Model, w: np.ndarray, n_samples: int) -> float:
    r"""Expected number of rows with :math:`0 < z^\top w < 1` among ``n_samples`` Gaussian inputs:
    :math:`N m (\Phi(1/\|w\|) - 1/2)`."""
    return n_samples * model.m * 0.5 * float(special.erf(1.0 / (np.sqrt(2.0) * np.linalg.norm(w))))


def max_abs_z(estimate: Quantity, reference: np.ndarray, tiny: float) -> float:
    r"""Largest :math:`|z|` of a Monte Carlo estimate against ``reference``, per component, with the standard
    errors the engine reports (``estimate.error``).

    A component within ``tiny`` of the reference scores 0 (e.g. a coordinate orthogonal to the plane of a
    projected estimate, exactly 0 with error 0, against the closed form's rounding there); one farther away
    with error 0 scores ``inf``.

    >>> q = Quantity(np.array([1.0, 0.0]), np.array([0.5, 0.0]))
    >>> max_abs_z(q, np.array([0.0, 1e-20]), tiny=1e-15), max_abs_z(q, np.array([0.0, 1e-3]), tiny=1e-15)
    (2.0, inf)
    """
    diff = np.atleast_1d(np.asarray(estimate.value, float) - np.asarray(reference, float))
    err = np.broadcast_to(np.atleast_1d(np.asarray(estimate.error, float)), diff.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(np.abs(diff) <= tiny, 0.0, np.where(err > 0, diff / np.where(err > 0, err, 1.0), np.inf))
    return float(np.max(np.abs(z)))


def mc_z(
    model: Model,
    v: np.ndarray,
    w: np.ndarray,
    n_samples: int,
    seed: int | np.random.SeedSequence,
    method: str,
    stes: tuple = STES,
    options: dict | None = None,
) -> dict:
    r"""Largest :math:`|z|` per quantity (``loss``, ``grad_v``, ``grad_w``, each STE by name) at one point.

    ``options``: further options of the Monte Carlo engine (``workers``, ``executor``; not ``seed`` and sizes).

    Closed forms from the model's methods; Monte Carlo estimates and their standard errors from
    ``pg.expectations(..., engine="monte_carlo")`` (:func:`max_abs_z`), in the model's coordinates.  A
    component must agree to :math:`10^{-12}` of the larger of the closed form's norm and its natural scale
    (:func:`natural_scale`) where the engine reports error 0.  The paper's clipped ReLU is left out where its
    window is too rare to resolve (:func:`clip_hits` < ``MIN_HITS``).
    """
    cf = closed_forms(model, v, w, stes)
    resolved = tuple(s for s in stes if s != "clipped_relu" or clip_hits(model, w, n_samples) >= MIN_HITS)
    mc = expectations(
        model, v, w, resolved, engine="monte_carlo", n_samples=n_samples, seed=seed, method=method, **(options or {})
    )
    first = mc[resolve(resolved[0]).name]
    est = {"loss": first.loss, "grad_v": first.grad_v, "grad_w": first.grad_w}
    est |= {name: e.coarse_grad_w for name, e in mc.items()}
    out = {}
    for key, e in est.items():
        if e is None:
            continue
        tiny = 1e-12 * max(float(np.linalg.norm(cf[key])), natural_scale(model, v, w, key))
        out[key] = max_abs_z(e, cf[key], tiny)
    return out


def quad_rel_err(model: Model, v: np.ndarray, w: np.ndarray) -> dict[str, float]:
    r"""Normwise error of each closed form against quadrature at one point, relative to the larger of
    the result and :math:`\tau S` (``QUAD_FLOOR`` :math:`= 10^3\varepsilon/10^{-9}`), ``S`` its natural scale.

    Every quantity is a sum of terms quadratic in :math:`(v, v^*)` with coefficients of order 1
    (times :math:`1/\|w\|` for :math:`\partial f/\partial w`), so its terms are bounded by
    :math:`S = (\|v\|_1 + \|v^*\|_1)^2` (:math:`S/\|w\|`): near a zero of the result (e.g. every gradient at
    the global minimum) float64 can only promise an error of a few ulps of :math:`S`, not of the result.
    The floor lets an absolute error of :math:`10^3\varepsilon S` pass; above it the error must be
    ``QUAD_BOUND`` of the result.
    """
    cf = closed_forms(model, v, w)
    q = expectations(model, v, w, STES, engine="quadrature")
    first = q[STES[0]]
    assert first.grad_w is not None  # quadrature always gives df/dw
    ref = {"loss": np.atleast_1d(first.loss.value), "grad_v": first.grad_v.value, "grad_w": first.grad_w.value}
    ref |= {s: q[s].coarse_grad_w.value for s in STES}
    out = {}
    for key, r in ref.items():
        r = np.asarray(r, float)
        floor = QUAD_FLOOR * natural_scale(model, v, w, key)
        out[key] = float(np.linalg.norm(r - cf[key])) / max(float(np.linalg.norm(r)), floor)
    return out


def natural_scale(model: Model, v: np.ndarray, w: np.ndarray, key: str) -> float:
    r"""Bound on the terms of quantity ``key``: :math:`(\|v\|_1 + \|v^*\|_1)^2 L^2`, divided by
    :math:`\|w\|` for :math:`\partial f/\partial w`; ``L`` the activation's largest level in absolute value
    (1 for the binary step)."""
    level = max(abs(x) for x in model.activation.levels)
    scale = float((np.abs(v).sum() + np.abs(model.v_star).sum()) ** 2) * level**2
    return scale / float(np.linalg.norm(w)) if key == "grad_w" else scale


def _indices(case: Case, k: int) -> np.ndarray:
    return np.unique(np.linspace(0, case.v.shape[0] - 1, k).round().astype(int))


_AUTODIFF_CHECK = "max relative difference of jax.grad(model.loss) vs model.grad (Lemma 2)"


def _autodiff_checks(battery: Battery) -> list[Check]:
    """The autodiff check (:mod:`popgrad.claims.autodiff`) on the battery's teachers; none without JAX."""
    if not autodiff.available():
        return []
    cases = battery.cases if battery.thorough else battery.cases[: autodiff.DEFAULT_TEACHERS]
    worst, points = 0.0, 0
    for case in cases:
        result = autodiff.autodiff_gap(case.model, case.v, case.w)
        assert result is not None  # JAX is available (checked above)
        gap, n = result
        worst, points = max(worst, gap), points + n
    note = f"{points} points with sin(theta) > {autodiff.MIN_SIN:g}, {len(cases)} teachers"
    return [Check(_AUTODIFF_CHECK, worst, "<=", autodiff.BOUND, note=note)]


def _autodiff_values(checks: list[Check]) -> dict[str, float]:
    """``max_autodiff_rel_diff`` when the autodiff check ran; ``autodiff_points`` (0: JAX is not installed)."""
    found = [c for c in checks if c.name == _AUTODIFF_CHECK]
    if not found:
        return {"autodiff_points": 0}
    return {"max_autodiff_rel_diff": found[0].value, "autodiff_points": int(found[0].note.split()[0])}


def formulas(battery: Battery) -> ClaimResult:
    """Claim 1 on the battery; see the module docstring."""
    thorough = battery.thorough
    k_proj, n_proj = (12, 400_000) if thorough else (2, 100_000)
    k_quad = 8 if thorough else 1
    n_full, full_teachers = (100_000, len(battery.cases)) if thorough else (20_000, 3)
    worst_z: dict[str, float] = {}
    worst_q: dict[str, float] = {}
    worst_full = 0.0
    n_points = n_comp = unresolved = 0
    for t, case in enumerate(battery.cases):
        model = case.model
        seeds = case.rng(70).integers(0, 2**63, size=k_proj + 1)
        idx = _indices(case, k_proj)
        to_quad = set(_indices(case, k_quad).tolist())
        for j, i in enumerate(idx):
            zs = mc_z(model, case.v[i], case.w[i], n_proj, int(seeds[j]), "projected", options=battery.mc_options)
            if "clipped_relu" not in zs:
                unresolved += 1
                to_quad.add(int(i))
            for key, z in zs.items():
                worst_z[key] = max(worst_z.get(key, 0.0), z)
            n_comp += 1 + model.m + (len(zs) - 2) * model.n  # loss, grad_v; grad_w and each STE in R^n
        n_points += idx.size
        if t < full_teachers:
            zs = mc_z(model, case.v[idx[0]], case.w[idx[0]], n_full, int(seeds[-1]), "full", options=battery.mc_options)
            worst_full = max(worst_full, *zs.values())
            n_comp += 1 + model.m + (len(zs) - 2) * model.n
        for i in sorted(to_quad):
            for key, e in quad_rel_err(model, case.v[i], case.w[i]).items():
                worst_q[key] = max(worst_q.get(key, 0.0), e)
    labels = {"loss": "Lemma 1 loss", "grad_v": "Lemma 2 df/dv", "grad_w": "Lemma 2 df/dw"}
    labels.update({"relu": "Lemma 4 E g_relu", "clipped_relu": "Lemma 7 E g_crelu", "identity": "Lemma 9 E g_id"})
    checks = [
        Check(
            "max |z| of projected Monte Carlo vs closed forms (all quantities)",
            max(worst_z.values()),
            "<",
            Z_BOUND,
            note=f"{n_comp} components; false-alarm rate 5.7e-7 per component",
        ),
        Check("max |z| of full (literal) Monte Carlo vs closed forms", worst_full, "<", Z_BOUND),
        Check("max relative error of closed forms vs quadrature", max(worst_q.values()), "<=", QUAD_BOUND),
    ]
    checks += _autodiff_checks(battery)
    values = {f"max_z_{k}": v for k, v in worst_z.items()}
    values.update({f"max_quad_rel_err_{k}": v for k, v in worst_q.items()})
    values |= _autodiff_values(checks)
    values["mc_samples_per_point"] = n_proj
    values["mc_components"] = n_comp
    values["crelu_points_left_to_quadrature"] = unresolved
    return ClaimResult(
        key="formulas",
        title="Closed forms of the loss, gradient and expected coarse gradients",
        reference="Lemmas 1, 2, 4, 7, 9",
        method="Monte Carlo (z) + quadrature",
        checks=tuple(checks),
        n_points=n_points,
        values=values,
        headline=0,
    )
