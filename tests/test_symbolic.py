"""popgrad.symbolic: the evaluator's contract (precision, ends of [0, pi], validation) and an
independent check of its values by quadrature of the one-row Gaussian expectations."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest

import popgrad as pg
from popgrad import symbolic

TEACHER = (np.array([1.0, -0.5, 2.0]), np.array([0.3, -1.2, 0.8]))
V = np.array([0.4, 1.1, -0.9])
W = np.array([-0.7, 0.2, 1.5])
STES = symbolic.STES


def _all_values(res: symbolic.Evaluation) -> list:
    return [res.theta, res.loss, *res.grad_v, *res.grad_w, *(x for s in STES for x in res.coarse_grad_w[s]),
            *res.inner_w.values()]  # fmt: skip


def _agree(a: symbolic.Evaluation, b: symbolic.Evaluation, digits: int) -> bool:
    tol = mpmath.mpf(10) ** -digits
    return all(
        abs(x - y) <= tol * max(abs(y), mpmath.mpf(10) ** -300)
        for x, y in zip(_all_values(a), _all_values(b), strict=True)
    )


def test_global_precision_untouched():
    mpmath.mp.dps = 20
    symbolic.evaluate(TEACHER, V, W, dps=60)
    assert mpmath.mp.dps == 20


def test_results_have_the_requested_precision():
    low, high = symbolic.evaluate(TEACHER, V, W, dps=40), symbolic.evaluate(TEACHER, V, W, dps=90)
    assert _agree(low, high, 39)
    assert low.loss.context.prec >= 53  # mpf values
    assert low.dps == 40


def test_cancellation_near_pi_costs_time_not_accuracy():
    """Near theta = pi, p(theta, w) = O((pi - theta)^2) is a difference of O(1) terms.

    v = (-1/2, 1/2), v* = (1, 0) makes h = 0, so E g_crelu's w_hat coefficient is -(v.v*) p = p/2.
    """
    teacher, v, w = ([1.0, 0.0], [1.0, 0.0]), [-0.5, 0.5], [-1.0, 1e-40]  # theta = pi - eps, eps ~ 1e-40
    low = symbolic.evaluate(teacher, v, w, dps=30)
    high = symbolic.evaluate(teacher, v, w, dps=200)
    assert _agree(low, high, 29)
    with mpmath.workdps(100):
        eps = mpmath.pi - high.theta
        # p(pi - eps) = phi(0)(1 - cos eps)/2 - (exponentially small) = phi(0) eps^2/4 (1 + O(eps^2))
        expected = eps**2 / (4 * mpmath.sqrt(2 * mpmath.pi)) / 2
        assert abs(low.coefficients["clipped_relu_w_hat"] / expected - 1) < 1e-29


@pytest.mark.parametrize("end", [0, 1])
def test_ends_of_the_angle_are_the_limits(end):
    """theta exactly 0 or pi (w parallel to w*) vs theta = 1e-30 away: the results agree to ~1e-30."""
    sign = 1.0 if end == 0 else -1.0
    w_star = np.array([0.0, 2.0, 0.0])
    exact = symbolic.evaluate((V, w_star), V[::-1], sign * np.array([0.0, 3.0, 0.0]), dps=40)
    near = symbolic.evaluate((V, w_star), V[::-1], sign * np.array([0.0, 3.0, 3e-30]), dps=40)
    assert abs(exact.theta - (0 if end == 0 else mpmath.pi)) < 1e-15
    assert all(x == 0 for x in exact.grad_w)  # minimum-norm Clarke element
    for s in STES:
        assert exact.coefficients[f"{s}_u"] == 0
        assert all(abs(a - b) < 1e-28 for a, b in zip(exact.coarse_grad_w[s], near.coarse_grad_w[s], strict=True))
    assert abs(exact.loss - near.loss) < 1e-28


def test_global_minimum_is_critical():
    res = symbolic.evaluate(TEACHER, TEACHER[0], 4.0 * TEACHER[1], dps=50)  # exactly parallel
    assert res.theta == 0 and res.loss == 0
    assert all(x == 0 for x in res.grad_v + res.grad_w)
    for s in STES:  # Lemmas 6, 8 (and the identity STE too, at the global minimum)
        assert all(abs(x) < mpmath.mpf(10) ** -300 for x in res.coarse_grad_w[s]), s


def test_clip_to_infinity_is_relu():
    res = symbolic.evaluate(TEACHER, V, W, dps=40, clip=1e300)
    assert all(
        abs(a - b) < 1e-38 for a, b in zip(res.coarse_grad_w["clipped_relu"], res.coarse_grad_w["relu"], strict=True)
    )


def test_model_and_pair_give_the_same_result():
    model = pg.Model(*TEACHER)
    assert _all_values(symbolic.evaluate(model, V, W, dps=30)) == _all_values(symbolic.evaluate(TEACHER, V, W, dps=30))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"w": np.zeros(3)}, ValueError, "w is the zero vector"),
        ({"v": [1.0, 2.0]}, ValueError, "v must have last axis of length 3"),
        ({"v": [1.0, math.nan, 0.0]}, ValueError, "v contains NaN"),
        ({"dps": 0}, ValueError, "dps must be >= 1"),
        ({"dps": 2.5}, TypeError, "dps must be an integer"),
        ({"clip": -1.0}, ValueError, "clip must be a positive finite number"),
        ({"clip": math.inf}, ValueError, "clip must be a positive finite number"),
        ({"teacher": [1.0, 2.0, 3.0]}, TypeError, "teacher must be a popgrad.Model or a pair"),
        ({"teacher": (TEACHER[0], np.zeros(3))}, ValueError, "w_star is the zero vector"),
    ],
)
def test_bad_input_is_rejected_with_a_clear_message(kwargs, error, match):
    args = {"teacher": TEACHER, "v": V, "w": W} | kwargs
    with pytest.raises(error, match=match):
        symbolic.evaluate(**args)


def test_unknown_ste_and_end_are_rejected():
    with pytest.raises(ValueError, match="ste must be one of"):
        symbolic.coarse_w("tanh")
    with pytest.raises(ValueError, match="end must be None, 0"):
        symbolic.coarse_w("relu", end=2)


# -- an independent check of the values: one-row expectations by 2-D quadrature ------------------


def _row_expectations(theta: mpmath.mpf, lo: mpmath.mpf, hi: mpmath.mpf) -> dict[str, list]:
    """(x, y) components of a = E[z 1{lo < x < hi}], b = E[z 1{lo < x < hi, x > 0}] and
    c = E[z 1{lo < x < hi, z.w*_hat > 0}] for (x, y) = (z.w_hat, z.u) ~ N(0, I_2), where
    z.w*_hat = x cos(theta) + y sin(theta) > 0 iff y > -cot(theta) x.  The y-integrals are the
    textbook int_t^oo phi = Phi(-t), int_t^oo y phi(y) dy = phi(t); the x-integrals are quadrature."""
    pdf, cdf, cot = mpmath.npdf, mpmath.ncdf, mpmath.cot(theta)
    regions = {
        "a": (lo, lambda x: 1, lambda x: 0),
        "b": (max(lo, 0), lambda x: 1, lambda x: 0),
        "c": (lo, lambda x: cdf(cot * x), lambda x: pdf(cot * x)),
    }
    out = {}
    for name, (x_lo, p_y, e_y) in regions.items():
        cuts = [x_lo, 0, hi] if x_lo < 0 < hi else [x_lo, hi]
        ex = mpmath.quad(lambda x, p_y=p_y: x * pdf(x) * p_y(x), cuts)
        ey = mpmath.quad(lambda x, e_y=e_y: pdf(x) * e_y(x), cuts)
        out[name] = [ex, ey]
    return out


@pytest.mark.parametrize(("ste", "lo", "hi"), [("identity", -mpmath.inf, mpmath.inf), ("relu", 0, mpmath.inf),
                                                ("clipped_relu", 0, 1)])  # fmt: skip
def test_coarse_gradient_matches_quadrature_of_the_definition(ste, lo, hi):
    v_star = TEACHER[0]
    with mpmath.workdps(20):
        res = symbolic.evaluate(TEACHER, V, W, dps=20)
        r = mpmath.sqrt(mpmath.fsum(mpmath.mpf(x) ** 2 for x in W))
        e = _row_expectations(res.theta, lo / r, hi / r)
        # E g = sum_ij v_i [v_j E(z mu' sigma_j) - v*_j E(z mu' sigma*_j)], rows independent, E sigma = 1/2
        m = len(V)
        coef = []
        for k in range(2):
            total = 0
            for i in range(m):
                for j in range(m):
                    student = e["b"][k] if i == j else e["a"][k] / 2
                    teacher = e["c"][k] if i == j else e["a"][k] / 2
                    total += V[i] * (V[j] * student - v_star[j] * teacher)
            coef.append(total)
        assert abs(coef[0] - res.coefficients[f"{ste}_w_hat"]) < 1e-15
        assert abs(coef[1] - res.coefficients[f"{ste}_u"]) < 1e-15
