"""Power of the claims of ``popgrad verify`` (issue 15): each registered claim, given a deliberately wrong model,
has the status FAIL; the same claim on the same battery without the error PASSes (or is REFUTED, as registered).

Perturbations (``tests/_wrong.py``): where a claim is exact, a relative error just above its tolerance --
1e-8 where it compares with quadrature at 1e-9, 1e-12 where its bound is 64 ulps of a dot product or
1e3 eps (a few where the bound's scale is generous: 1e-11, stated) -- so that loosening a tolerance 100x
makes these tests fail; elsewhere a sign flip (the expected coarse gradient's component along
:math:`\\partial f/\\partial w` -- the u-component -- so that the correlation turns negative; the teacher's
:math:`w^*` in the closed forms; the sampled gradient).  Each test runs on a small part of the seed-0
battery (the teachers at the given indices), chosen so that the unperturbed claim PASSes on it.

The batteries' teachers (seed 0): 0 ``m=2 n=2 mixed``, 1 ``m=3 n=4 mixed``, 2 ``m=5 n=3 mixed``,
3 ``m=8 n=2 mixed``, 4 ``m=4 n=3 balanced``, 5 ``m=4 n=3 positive``, 6 ``m=1 n=3 gaussian``,
7 ``m=3 n=1 mixed``, 8 ``m=4 n=3 sum_zero``.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from typing import NamedTuple

import pytest

import popgrad as pg
from popgrad.claims import REGISTRY, beyond, make_battery
from popgrad.engines import Expectations
from tests._wrong import failing, misfit, only_for, rewire, scaled, sub_battery, u_flip, with_models

CLAIMS = {spec.key: spec.check for spec in REGISTRY}


class Power(NamedTuple):
    """A claim, the part of the seed-0 battery it runs on, a wrong model, and the checks that must catch it."""

    claim: str
    perturbation: str
    make: Callable[[pg.Model], pg.Model]
    cases: tuple[int, ...] | None = None  # teacher indices (None: the whole battery)
    catches: tuple[str, ...] = ()  # prefixes of names of checks that must fail
    run: Callable | None = None  # how to run the claim on a battery (default: the registered check)


def _v_star_times(factor: float) -> Callable[[pg.Model], pg.Model]:
    return lambda model: misfit(model, v_star=model.v_star * factor)


def _w_star_flipped(model: pg.Model) -> pg.Model:
    return misfit(model, w_star=-model.w_star)


def _loss_offset(rel: float) -> Callable[[pg.Model], pg.Model]:
    """The loss plus ``rel`` |v*|^2 (the loss's natural unit)."""
    return lambda model: rewire(model, loss=lambda real, v, w: real(v, w) + rel * float(model.v_star @ model.v_star))


def _coarse(ste: str, factor: float) -> Callable[[pg.Model], pg.Model]:
    return lambda model: rewire(model, coarse_grad=only_for(ste, scaled(factor, part=1)))


def _grad_w_flipped(model: pg.Model) -> pg.Model:
    return rewire(model, grad=scaled(-1.0, part=1))


def _convergence(battery):
    # 2 runs per teacher and STE; teacher 0 converges within 453 steps (seed 0), so 500 suffice
    return CLAIMS["convergence"](dataclasses.replace(battery, n_inits=2), max_iter=500)


ONE_E8 = 1.0 + 1e-8
POWER = [
    # formulas: closed forms vs quadrature at 1e-9 relative -> 1e-8; vs Monte Carlo -> the u-flip
    Power("formulas", "loss x (1 + 1e-8)", lambda m: rewire(m, loss=scaled(ONE_E8)), (0,), ("max relative error",)),
    Power("formulas", "df/dv x (1 + 1e-8)", lambda m: rewire(m, grad=scaled(ONE_E8, 0)), (0,), ("max relative",)),
    Power("formulas", "df/dw x (1 + 1e-8)", lambda m: rewire(m, grad=scaled(ONE_E8, 1)), (0,), ("max relative",)),
    *(
        Power("formulas", f"E g_{ste} x (1 + 1e-8)", _coarse(ste, ONE_E8), (0,), ("max relative",))
        for ste in ("relu", "clipped_relu", "identity")
    ),
    Power("formulas", "u-flip", u_flip, (0,), ("max |z| of projected", "max |z| of full", "max relative")),
    # prop1_n1 (refuted): the counterexample must stop being one
    Power("prop1_n1", "w* flipped in the closed forms", _w_star_flipped, (7,), ("min f/|v*|^2",)),
    Power("prop1_n1", "loss x (-1)", lambda m: rewire(m, loss=scaled(-1.0)), (7,), ("min [f(x+delta)", "min f")),
    # critical_points: |grad f| <= 1e3 eps of its scale at the formula's critical points
    Power(
        "critical_points",
        "v* x (1 + 1e-12) in the closed forms",
        _v_star_times(1 + 1e-12),
        (0, 1, 2),
        ("max |grad f| at the formula's saddles", "max |df/dv| at theta = pi"),
    ),
    Power(
        "critical_points",
        "w* flipped in the closed forms",
        _w_star_flipped,
        (0, 1, 2),
        ("max |theta_saddle", "max |v(formula) - v(found)|"),
    ),
    # prop1_sum_zero (refuted): f = 0 <= 1e3 eps |v*|^2 at its points
    Power("prop1_sum_zero", "loss + 1e-12 |v*|^2", _loss_offset(1e-12), (8,), ("max f/|v*|^2",)),
    Power("prop1_sum_zero", "w* flipped in the closed forms", _w_star_flipped, (8,), ("max f/|v*|^2",)),
    # prop1_spurious: f(theta = pi, v0) = (1'v*)^2 / (2(m + 1)) to 1e3 eps |v*|^2
    Power("prop1_spurious", "loss x (1 + 1e-12)", lambda m: rewire(m, loss=scaled(1 + 1e-12)), (0, 5), ("max |f",)),
    Power("prop1_spurious", "w* flipped in the closed forms", _w_star_flipped, (0, 5), ("max |f",)),
    # correlation: <E g, df/dw> to 64 ulps of a dot product
    Power(
        "correlation",
        "E g x (1 + 1e-12), every STE",
        lambda m: rewire(m, coarse_grad=scaled(1 + 1e-12, part=1)),
        (0, 1, 2),
        ("relu: max |<E g, df/dw> - paper's", "relu: max |<E g, df/dw> - Model.correlation"),
    ),
    Power(
        "correlation",
        "Model.correlation x (1 + 1e-12)",
        lambda m: rewire(m, correlation=lambda real, v, w, ste="relu": _scaled_correlation(real(v, w, ste), 1e-12)),
        (0, 1, 2),
        ("relu: max |<E g, df/dw> - Model.correlation",),
    ),
    Power("correlation", "u-flip", u_flip, (0, 1, 2), ("relu: max -<E g, df/dw>", "relu: min full inner")),
    # descent: small steps along -E g descend
    Power("descent", "u-flip", u_flip, None, ("relu: points where small steps do not descend",)),
    # vanishing: |E g| <= 1e3 eps of a generous scale (~8x the quantity) at critical points -> 1e-11
    Power(
        "vanishing",
        "v* x (1 + 1e-11) in the closed forms",
        _v_star_times(1 + 1e-11),
        None,
        ("max |E g_relu|", "max |E g_crelu|", "max | |E g_id| - Lemma 9 |"),
    ),
    # convergence: Algorithm 1 with E g descends and converges
    Power(
        "convergence",
        "u-flip",
        u_flip,
        (0,),
        ("runs (||w|| >= c_w) where f rises", "Thm 2 runs leaving", "Thm 2 runs not reaching"),
        _convergence,
    ),
    # remark2: t rows by Monte Carlo vs the closed forms (z)
    Power("remark2", "u-flip", u_flip, (0,), ("max |z| of E g_relu^t", "max |z| of E g_id^t", "max |z| of E g_crelu")),
    Power("remark2", "df/dw x (-1)", _grad_w_flipped, (0,), ("min z of <E g^t, df/dw>",)),
    # beyond the paper: the leaky ReLU STE by Monte Carlo (z)
    Power("leaky_relu", "u-flip", u_flip, (0,), ("max |z| of full",)),
]


def _scaled_correlation(c, rel: float):
    return dataclasses.replace(c, inner_w=c.inner_w * (1 + rel), inner=c.inner + c.inner_w * rel)


@pytest.fixture(scope="module")
def battery():
    return make_battery(0)


@pytest.fixture(scope="module")
def unperturbed(battery):
    """The status of each claim on each part of the battery used below, computed once."""
    cache: dict = {}

    def status(p: Power) -> str:
        key = (p.claim, p.cases, p.run)
        if key not in cache:
            run = p.run or CLAIMS[p.claim]
            cache[key] = run(sub_battery(battery, p.cases)).status
        return cache[key]

    return status


def _expected(claim: str) -> str:
    return "REFUTED" if claim in ("prop1_n1", "prop1_sum_zero") else "PASS"


@pytest.mark.parametrize("p", POWER, ids=[f"{p.claim}: {p.perturbation}" for p in POWER])
def test_a_wrong_model_fails_the_claim(p, battery, unperturbed):
    assert unperturbed(p) == _expected(p.claim)
    run = p.run or CLAIMS[p.claim]
    result = run(with_models(sub_battery(battery, p.cases), p.make))
    assert result.status == "FAIL"
    bad = failing(result)
    for prefix in p.catches:
        assert any(name.startswith(prefix) for name in bad), (prefix, bad)


def test_every_registered_claim_is_tested_for_power():
    tested = {p.claim for p in POWER} | {"finite_samples", "staircase"}  # the last two: tests below
    assert tested == set(CLAIMS)


def test_relative_errors_just_above_the_tolerance_are_reported_as_such(battery):
    # the 1e-8 perturbation is reported as a relative error of 1e-8 (10x the bound), not diluted by a scale
    part = sub_battery(battery, (0,))
    r = CLAIMS["formulas"](with_models(part, lambda m: rewire(m, grad=scaled(ONE_E8, 1))))
    assert r.values["max_quad_rel_err_grad_w"] == pytest.approx(1e-8, rel=1e-3)
    # the 1e-12 perturbation of the loss at the 1'v* = 0 points is 1e-12 |v*|^2 exactly there
    r = CLAIMS["prop1_sum_zero"](with_models(sub_battery(battery, (8,)), _loss_offset(1e-12)))
    assert r.checks[1].value == pytest.approx(1e-12, rel=1e-3)


# --- finite_samples: the sampled coarse gradient with the wrong sign ---------------------------------


def test_finite_samples_fails_when_the_sampled_gradient_ascends(monkeypatch, battery, seed0):
    # the whole battery is needed for the unperturbed claim to PASS (its z-tests pool every teacher's curves)
    assert seed0["finite_samples"].status == "PASS"
    fs = importlib.import_module("popgrad.claims.finite_samples")  # the module; the package exports the function
    real = fs.per_sample

    def ascending(*args, **kwargs):
        ps = real(*args, **kwargs)
        return dataclasses.replace(ps, grad_v=-ps.grad_v, coarse_grad_w={k: -g for k, g in ps.coarse_grad_w.items()})

    monkeypatch.setattr(fs, "per_sample", ascending)
    result = fs.finite_samples(battery)
    assert result.status == "FAIL"
    assert "mean upward share at N = 10000" in failing(result)
    assert result.values["mean_upward_share_N=10000"] == 1.0  # every curve rises


# --- staircase: Monte Carlo of the literal staircase model -----------------------------------------------------


def _staircase_closed_forms(activation) -> Callable[[pg.Model], pg.Model]:
    """The staircase model, with closed forms computed for ``activation`` instead."""
    return lambda model: rewire(beyond._staircase_model(model), closed=pg.Model(model.v_star, model.w_star, activation))


def test_staircase_row_passes_and_fails_with_wrong_closed_forms(battery):
    """The row samples the staircase model literally (the Monte Carlo engine) and compares with the closed forms."""
    part = sub_battery(battery, (0, 1))
    right = beyond.staircase(part)
    assert right.status == "PASS" and right.n_points == 4, right.checks
    assert {"max_z_relu", "max_z_clipped_relu(1.5)", "max_z_loss", "max_z_grad_v"} <= set(right.values)
    # the uniform quantizer's thresholds off by one in the closed forms: alpha, .., 3 alpha instead of 0, .., 2 alpha
    off_by_one = pg.activation.staircase([0.5, 1.0, 1.5], [0.5, 0.5, 0.5])
    wrong = beyond.staircase(part, model_for=_staircase_closed_forms(off_by_one))
    assert wrong.status == "FAIL" and wrong.worst.value > 20
    wrong = beyond.staircase(part, model_for=lambda m: u_flip(beyond._staircase_model(m)))
    assert wrong.status == "FAIL"


# --- the formulas row uses the engine's standard errors ------------------------------------------------


def _halved_errors(real: Callable) -> Callable:
    """``pg.expectations`` whose Monte Carlo standard errors (``Quantity.error``) are half the true ones; the
    covariance is left as it is (a row recomputing the errors from it would not notice)."""

    def halve(e: Expectations) -> Expectations:
        fields = {k: dataclasses.replace(q, error=q.error / 2) for k, q in e.fields.items() if q is not None}
        return dataclasses.replace(e, **fields)

    def expectations(*args, **kwargs):
        out = real(*args, **kwargs)
        if kwargs.get("engine") != "monte_carlo":
            return out
        return {k: halve(e) for k, e in out.items()} if isinstance(out, dict) else halve(out)

    return expectations


def test_formulas_fails_with_halved_standard_errors(monkeypatch, battery, seed0):
    formulas_module = importlib.import_module("popgrad.claims.formulas")
    monkeypatch.setattr(formulas_module, "expectations", _halved_errors(formulas_module.expectations))
    result = formulas_module.formulas(battery)
    assert result.status == "FAIL" and failing(result)[0].startswith("max |z| of projected")
    # every z doubles, exactly: the row divides by the reported errors
    assert result.checks[0].value == pytest.approx(2 * seed0["formulas"].checks[0].value, rel=1e-12)
    assert result.checks[1].value == pytest.approx(2 * seed0["formulas"].checks[1].value, rel=1e-12)
