"""popgrad.symbolic and the ``symbolic`` engine.

* the sympy derivations of the pairwise kernels (differentiation back, the documented formulas, quadrature
  of the definition);
* agreement with the float64 closed forms for every kind of piecewise-constant STE and K, K* in {1, 2, 3};
* the ends of [0, pi] (exact, and the limits of the interior), degenerate committees;
* the evaluator's contract (precision, validation) and the engine's (refusals, Quantity fields);
* independence: no import of the closed forms' modules.
"""

from __future__ import annotations

import ast
import math
from pathlib import Path

import mpmath
import numpy as np
import pytest
import sympy as sp

import popgrad as pg
from popgrad import symbolic
from popgrad.symbolic import committee as sym_committee
from popgrad.symbolic import kernels as kern
from popgrad.symbolic.paper import THETA, phi

TEACHER = (np.array([1.0, -0.5, 2.0]), np.array([0.3, -1.2, 0.8]))
V = np.array([0.4, 1.1, -0.9])
W = np.array([-0.7, 0.2, 1.5])
STES = symbolic.STES
ROOT = Path(__file__).resolve().parent.parent
STAIRCASE = pg.Model([1.0], [1.0, 0.0], activation=pg.activation.uniform(2, 0.5))


def random_piecewise(rng: np.random.Generator) -> pg.ste.STE:
    """3-5 breakpoints, values of both signs (some negative), possibly 0 on some intervals."""
    k = int(rng.integers(3, 6))
    breaks = np.sort(rng.choice([-1.0, 1.0], k) * 10 ** rng.uniform(-1.5, 0.7, k))
    values = rng.normal(size=k + 1)
    values[rng.random(k + 1) < 0.2] = 0.0
    values[int(rng.integers(k + 1))] = -abs(values[0]) - 0.1  # at least one negative value
    return pg.ste.piecewise_constant(breaks, values, name="random")


def ste_kinds(rng: np.random.Generator) -> list[pg.ste.STE]:
    """Every kind of piecewise-constant STE (named, families, general), with random parameters."""
    return [
        pg.ste.relu,
        pg.ste.identity,
        pg.ste.clipped_relu(),
        pg.ste.clipped_relu(float(10 ** rng.uniform(-1, 1))),
        pg.ste.leaky_relu(float(rng.uniform(-1, 2))),
        pg.ste.hard_tanh(),
        random_piecewise(rng),
    ]


def floats(x: object) -> np.ndarray:
    return np.vectorize(float, otypes=[np.float64])(np.asarray(x, dtype=object))


# -- the kernels: what sympy derived -------------------------------------------------------------------


def _circle(expr: sp.Expr) -> sp.Expr:
    return sp.simplify(sp.powsimp(sp.expand(expr)).subs(kern.COS**2, 1 - kern.SIN**2))


def _as_erf(expr: sp.Expr) -> sp.Expr:
    return expr.replace(kern.Ncdf, lambda x: (1 + sp.erf(x / sp.sqrt(2))) / 2)


def test_antiderivatives_differentiate_back_to_the_integrands():
    t = sp.Symbol("t", real=True)
    p, q = kern.row_factors("interior")
    anti = kern.antiderivatives("interior")
    c, s = kern.COS, kern.SIN
    integrands = {
        "alpha": kern.X * phi(kern.X),
        "c_w": kern.X * phi(kern.X) * p - c / s * phi(kern.X) * q,  # (a_hat, u) -> (a_hat, b_hat)
        "c_star": phi(kern.X) * q / s,
    }
    for name, integrand in integrands.items():
        diff = sp.diff(_as_erf(anti[name]).subs(kern.T, t), t) - integrand.subs(kern.X, t)
        assert _circle(diff) == 0, name
    for region, sign in (("parallel", 1), ("antiparallel", -1)):
        anti = kern.antiderivatives(region)
        assert anti["c_star"] == 0
        for t_ in (sp.Symbol("tp", positive=True), sp.Symbol("tn", negative=True)):
            inside = bool((sign * t_).is_positive)
            diff = sp.diff(anti["c_w"].subs(kern.T, t_), t_) - (t_ * phi(t_) if inside else 0)
            assert sp.simplify(diff) == 0, (region, t_)


def test_row_factors_and_pair_probability():
    p, q = kern.row_factors("interior")
    x = kern.X
    kappa = kern.COS / kern.SIN
    assert sp.simplify(p - (1 + sp.erf(kappa * x / sp.sqrt(2))) / 2) == 0
    assert _circle(q - phi(kappa * x)) == 0
    assert kern.row_factors("parallel")[1] == 0 and kern.row_factors("antiparallel")[1] == 0
    assert sp.simplify(kern.pair_probability() - (sp.pi - THETA) / (2 * sp.pi)) == 0
    assert kern.pair_probability("parallel") == sp.Rational(1, 2)
    assert kern.pair_probability("antiparallel") == 0
    assert kern.mean_sigma() == sp.Rational(1, 2)


def _documented(lo: str, hi: str) -> dict[str, sp.Expr]:
    """The formulas of derivations/piecewise_ste.md for one piece, in the bounds' symbols (interior)."""
    lo_, hi_ = kern.bound(lo, "l"), kern.bound(hi, "h")
    c, s = kern.COS, kern.SIN

    def ph(t: sp.Expr) -> sp.Expr:
        return sp.Integer(0) if t.is_infinite else phi(t)

    def cdf(t: sp.Expr) -> sp.Expr:
        return (1 + sp.erf(t / sp.sqrt(2))) / 2

    def ph_cdf(t: sp.Expr) -> sp.Expr:  # phi(t) Phi(t cot theta), 0 at infinite t
        return sp.Integer(0) if t.is_infinite else phi(t) * cdf(t * c / s)

    def cdf_s(t: sp.Expr) -> sp.Expr:
        return sp.Integer(1 if t is sp.oo else 0) if t.is_infinite else cdf(t / s)

    pos = {"-inf": sp.Integer(0), "neg": sp.Integer(0), "zero": sp.Integer(0), "pos": None, "+inf": sp.oo}
    lo_pos = lo_ if pos[lo] is None else pos[lo]
    hi_pos = hi_ if pos[hi] is None else pos[hi]
    return {
        "alpha": ph(lo_) - ph(hi_),
        "beta": ph(lo_pos) - ph(hi_pos),
        "c_w": ph_cdf(lo_) - ph_cdf(hi_),
        "c_star": phi(0) * (cdf_s(hi_) - cdf_s(lo_)),
    }


PIECE_KINDS = [
    (lo, hi)
    for i, lo in enumerate(kern.BOUND_KINDS[:4])
    for hi in kern.BOUND_KINDS[max(i, 1) :]
    if (lo, hi) != ("zero", "zero")
]


@pytest.mark.parametrize(("lo", "hi"), PIECE_KINDS)
def test_piece_kernels_are_the_documented_formulas(lo, hi):
    """alpha = phi(l) - phi(h), beta = phi(l+) - phi(h+), c_w = phi(l)Phi(l cot) - phi(h)Phi(h cot),
    c* = phi(0)[Phi(h/sin) - Phi(l/sin)]: the sympy-derived expressions simplify to them exactly."""
    derived = kern.piece_kernels_expr(lo, hi, "interior")
    for name, expr in _documented(lo, hi).items():
        assert _circle(_as_erf(derived[name]) - expr) == 0, name


def test_invalid_piece_kinds_are_rejected():
    for lo, hi in (("pos", "neg"), ("zero", "zero"), ("+inf", "+inf"), ("-inf", "-inf"), ("x", "pos")):
        with pytest.raises(ValueError, match="kind"):
            kern.piece_kernels_expr(lo, hi, "interior")


def _quadrature(pieces: tuple, r: mpmath.mpf, theta: mpmath.mpf) -> list:
    """E[z mu'(z.a)] . (a_hat), E[.. 1{x>0}], E[z mu' 1{z.b > 0}] on (a_hat, u): quadrature of the definition.

    (x, y) = (z.a_hat, z.u); z.b > 0 iff y > -x cot(theta); the y-integrals are the textbook
    int_t^oo phi = Phi(-t), int_t^oo y phi = phi(t); the x-integrals are mpmath quadrature.
    """
    cot = mpmath.cot(theta)
    a = b = cx = cy = mpmath.mpf(0)
    for lo, hi, nu in pieces:
        lo_x = mpmath.mpf(lo) / r if math.isfinite(lo) else mpmath.mpf(lo)
        hi_x = mpmath.mpf(hi) / r if math.isfinite(hi) else mpmath.mpf(hi)
        cuts = [lo_x, *([0] if lo_x < 0 < hi_x else []), hi_x]
        pos = [max(t, 0) for t in cuts]
        a += nu * mpmath.quad(lambda x: x * mpmath.npdf(x), cuts)
        b += nu * mpmath.quad(lambda x: x * mpmath.npdf(x), pos) if pos[-1] > pos[0] else 0
        cx += nu * mpmath.quad(lambda x: x * mpmath.npdf(x) * mpmath.ncdf(cot * x), cuts)
        cy += nu * mpmath.quad(lambda x: mpmath.npdf(x) * mpmath.npdf(cot * x), cuts)
    return [a, b, cx, cy]


@pytest.mark.parametrize("seed", range(6))
def test_kernels_match_quadrature_of_the_definition(seed):
    rng = np.random.default_rng(seed)
    with mpmath.workdps(30):
        for s in ste_kinds(rng):
            theta = mpmath.mpf(rng.uniform(0.05, math.pi - 0.05))
            r = mpmath.mpf(10 ** rng.uniform(-1, 1))
            cos, sin = mpmath.cos(theta), mpmath.sin(theta)
            alpha, beta, c_w, c_star = kern.kernel_values(s.pieces, r, "interior", cos, sin)
            a, b, cx, cy = _quadrature(s.pieces, r, theta)
            # c_w a_hat + c_star b_hat with b_hat = cos a_hat + sin u
            got = [alpha, beta, c_w + c_star * cos, c_star * sin]
            scale = max(abs(x) for x in (a, b, cx, cy)) + mpmath.mpf(10) ** -20
            assert all(abs(g - e) <= 1e-20 * scale for g, e in zip(got, [a, b, cx, cy], strict=True)), s.name


def test_far_tails_keep_their_relative_accuracy():
    """A window (30, 31) at r = 1, theta = pi - asin(0.8): every kernel is below 1e-190.  At 40 digits they keep
    30 digits relative to the documented formulas evaluated with erf at 600 digits (where 1 - 1 is harmless)."""
    pieces = ((30.0, 31.0, 1.0),)
    with mpmath.workdps(40):
        theta = mpmath.pi - mpmath.asin(mpmath.mpf("0.8"))
        got = kern.kernel_values(pieces, mpmath.mpf(1), "interior", mpmath.cos(theta), mpmath.sin(theta))
    with mpmath.workdps(600):
        theta = mpmath.pi - mpmath.asin(mpmath.mpf("0.8"))
        cot, sin = mpmath.cot(theta), mpmath.sin(theta)

        def cdf(x: mpmath.mpf) -> mpmath.mpf:
            return (1 + mpmath.erf(x / mpmath.sqrt(2))) / 2

        ph = mpmath.npdf
        ref = [ph(30) - ph(31), ph(30) - ph(31), ph(30) * cdf(30 * cot) - ph(31) * cdf(31 * cot),
               ph(0) * (cdf(31 / sin) - cdf(30 / sin))]  # fmt: skip
        assert all(0 < abs(x) < 1e-190 for x in ref)
        assert all(abs(g / x - 1) < 1e-30 for g, x in zip(got, ref, strict=True))


# -- agreement with the float64 closed forms -----------------------------------------------------------


def _teacher_and_point(rng: np.random.Generator, K: int, K_star: int) -> tuple:
    m, n = int(rng.integers(1, 4)), int(rng.integers(2, 4))
    v_star, w_star = rng.normal(size=(K_star, m)), rng.normal(size=(K_star, n))
    v = rng.normal(size=(K, m))
    w = rng.normal(size=(K, n)) * 10 ** rng.uniform(-1.5, 1.5, size=(K, 1))
    case = rng.integers(6)
    if case == 1:  # a student filter exactly (anti)parallel to a teacher filter
        w[0] = rng.choice([-1.0, 1.0]) * 10 ** rng.uniform(-1, 1) * w_star[int(rng.integers(K_star))]
    elif case == 2 and K > 1:  # two student filters exactly parallel
        w[1] = 2.0 * w[0]
    elif case == 3:  # nearly parallel to a teacher filter
        w[0] = w_star[0] + 1e-7 * rng.normal(size=n)
    return pg.MultiFilterModel(v_star, w_star), v, w


def _pair_moment(theta: mpmath.mpf) -> mpmath.mpf:
    return (mpmath.pi - theta) / (2 * mpmath.pi)


def natural_scales(model: pg.MultiFilterModel, v: np.ndarray, w: np.ndarray, kernels: dict) -> dict:
    r"""The magnitude of the terms of the raw definition of each result (what float64 cannot beat).

    With :math:`C = [V; -V^*]`, :math:`E_{ai,bj} = E[\sigma_{ai}\sigma_{bj}]` (:math:`P_{ab}` on one row, 1/4
    across rows):  loss :math:`\tfrac12\sum|C_{ai}C_{bj}|E_{ai,bj}`; :math:`\partial f/\partial V_{ki}`:
    :math:`\sum_{bj}|C_{bj}|E_{ki,bj}`; :math:`\partial f/\partial w_k`:
    :math:`\sum_{b\ne k}\sum_i|C_{ki}C_{bi}|/(2\pi r_k)`;
    :math:`E g_k`: :math:`\sum_i|V_{ki}|\sum_{aj}|C_{aj}|\,\|E[z_i\mu'_{ik}\sigma_{aj}]\|` with the kernels'
    magnitudes :math:`|\alpha|/2`, :math:`|\beta|`, :math:`|c_w| + |c_*|`.  Vectors in the 2-norm.
    """
    v_star, w_star = model.teacher
    C = np.concatenate([v, -v_star])
    ws = np.concatenate([w, w_star])
    F, m = C.shape
    K = v.shape[0]
    theta = [[mpmath.acos(max(-1, min(1, mpmath.mpf(float(ws[a] @ ws[b])) / mpmath.mpf(
        float(np.linalg.norm(ws[a]) * np.linalg.norm(ws[b])))))) for b in range(F)] for a in range(F)]  # fmt: skip

    def moment(a: int, i: int, b: int, j: int) -> mpmath.mpf:
        if i != j:
            return mpmath.mpf(1) / 4
        return mpmath.mpf(1) / 2 if a == b else _pair_moment(theta[a][b])

    units = [(a, i) for a in range(F) for i in range(m)]
    loss = sum(abs(C[a, i] * C[b, j]) * moment(a, i, b, j) for a, i in units for b, j in units) / 2
    gv = [sum(abs(C[b, j]) * moment(k, i, b, j) for b, j in units) for k in range(K) for i in range(m)]
    r = np.linalg.norm(w, axis=1)
    gw = [sum(abs(C[k, i] * C[b, i]) for b in range(F) if b != k for i in range(m)) / (2 * np.pi * r[k])
          for k in range(K)]  # fmt: skip
    out = {"loss": loss, "grad_v": mpmath.norm(gv), "grad_w": mpmath.norm(gw)}
    for name, (own, cross) in kernels.items():
        rows = []
        for k in range(K):
            total = 0
            for i in range(m):
                for a, j in units:
                    if i != j:
                        size = abs(own[k][0]) / 2
                    elif a == k:
                        size = abs(own[k][1])
                    else:
                        size = abs(cross[k][a][0]) + abs(cross[k][a][1])
                    total += abs(v[k, i]) * abs(C[a, j]) * size
            rows.append(total)
        out[name] = mpmath.norm(rows)
    return out


def _kernels_for_scale(model: pg.MultiFilterModel, w: np.ndarray, s: pg.ste.STE) -> tuple:
    ws = np.concatenate([w, model.teacher[1]])
    K, F = w.shape[0], ws.shape[0]
    own, cross = [], []
    for k in range(K):
        r = mpmath.mpf(float(np.linalg.norm(w[k])))
        own.append(kern.kernel_values(s.pieces, r, "parallel", 0, 0)[:2])
        row = {}
        for a in range(F):
            if a != k:
                cos = float(ws[k] @ ws[a] / (np.linalg.norm(ws[k]) * np.linalg.norm(ws[a])))
                cos = max(-1.0, min(1.0, cos))
                sin = math.sqrt(1 - cos * cos)
                region = "interior" if sin > 0 else ("parallel" if cos > 0 else "antiparallel")
                row[a] = kern.kernel_values(s.pieces, r, region, mpmath.mpf(cos), mpmath.mpf(sin))[2:]
        cross.append(row)
    return own, cross


def _relative_errors(model, v, w, stes, dps=30) -> dict:
    res = symbolic.evaluate(model, v, w, dps=dps, ste=stes)
    with mpmath.workdps(30):
        kernels = {s.name: _kernels_for_scale(model, w, s) for s in stes}
        scales = natural_scales(model, v, w, kernels)
        gv, gw = model.grad(v, w)

        def dist(x: np.ndarray, ref: np.ndarray) -> mpmath.mpf:
            return mpmath.norm([mpmath.mpf(float(a)) - b for a, b in zip(np.ravel(x), np.ravel(ref), strict=True)])

        err = {"loss": abs(mpmath.mpf(float(model.loss(v, w))) - res.loss), "grad_v": dist(gv, res.grad_v),
               "grad_w": dist(gw, res.grad_w)}  # fmt: skip
        for s in stes:
            err[s.name] = dist(model.coarse_grad(v, w, s)[1], res.coarse_grad_w[s.name])
        return {k: float(e / scales[k]) for k, e in err.items()}


@pytest.mark.parametrize("k_star", [1, 2, 3])
@pytest.mark.parametrize("k", [1, 2, 3])
def test_symbolic_matches_the_float64_closed_forms(k, k_star):
    """12 points per (K, K*) (108 in all), every STE kind: relative error <= 1e-12 of the natural scale."""
    rng = np.random.default_rng(100 * k + k_star)
    worst = {}
    for _ in range(12):
        model, v, w = _teacher_and_point(rng, k, k_star)
        stes = ste_kinds(rng)
        names = {s.name: f"ste{j}" for j, s in enumerate(stes)}
        for key, e in _relative_errors(model, v, w, stes).items():
            key = names.get(key, key)
            worst[key] = max(worst.get(key, 0.0), e)
    bad = {key: e for key, e in worst.items() if not e <= 1e-12}
    assert not bad, f"relative error above 1e-12: {bad} (worst of all: {worst})"


# -- ends of [0, pi], degenerate committees ----------------------------------------------------------


def _all_stes() -> list[pg.ste.STE]:
    return ste_kinds(np.random.default_rng(7))


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_exact_ends_are_the_limits_and_match_the_closed_form(sign):
    """A student filter exactly (anti)parallel to a teacher filter and to another student filter, against the same
    committee moved by 1e-30: loss and coarse gradients are continuous there (agree to 1e-27); the true gradient
    drops the degenerate pairs (minimum-norm Clarke element) like the closed form."""
    model = pg.MultiFilterModel([[1.0, -0.5], [0.3, 0.8]], [[0.0, 2.0, 0.0], [1.0, 0.5, -1.0]])
    v = np.array([[0.7, 0.2], [-0.4, 1.1]])
    exact = np.array([[0.0, sign * 3.0, 0.0], [0.0, sign * 0.5, 0.0]])
    near = exact + np.array([[0.0, 0.0, 3e-30], [1e-30, 0.0, 0.0]])
    stes = _all_stes()
    a = symbolic.evaluate(model, v, exact, dps=40, ste=stes)
    b = symbolic.evaluate(model, v, near, dps=40, ste=stes)
    with mpmath.workdps(40):
        assert a.theta[0, 1] == 0 and a.theta[0, 2] == (0 if sign > 0 else +mpmath.pi)  # exactly, as rounded
    assert abs(a.loss - b.loss) < 1e-27
    for s in stes:
        assert all(abs(x - y) < 1e-27 for x, y in zip(*(x.coarse_grad_w[s.name].flat for x in (a, b)), strict=True)), s
        ref = model.coarse_grad(v, exact, s)[1]
        assert np.allclose(floats(a.coarse_grad_w[s.name]), ref, rtol=1e-13, atol=1e-15), s.name
    gv, gw = model.grad(v, exact)
    assert np.allclose(floats(a.grad_w), gw, rtol=1e-13, atol=1e-16)
    assert np.allclose(floats(a.grad_v), gv, rtol=1e-13, atol=1e-16)
    assert floats(a.grad_w)[:, 1].tolist() == [0.0, 0.0]  # only the interior pairs (to w*_2) contribute


def test_one_dimensional_filters_every_pair_at_an_end():
    model = pg.MultiFilterModel([[1.0, 2.0], [-0.5, 0.5]], [[2.0], [-1.0]])
    v, w = np.array([[0.3, -0.2], [1.0, 0.4], [0.1, 0.1]]), np.array([[1.5], [-0.2], [3.0]])
    res = symbolic.evaluate(model, v, w, dps=30, ste=_all_stes())
    assert all(x == 0 for x in res.grad_w.flat)
    assert abs(float(res.loss) - model.loss(v, w)) < 1e-14
    for s in _all_stes():
        assert np.allclose(floats(res.coarse_grad_w[s.name]), model.coarse_grad(v, w, s)[1], rtol=1e-13, atol=1e-15)


def test_global_minimum_of_a_committee():
    """Student = teacher up to the filters' norms: f = 0, every gradient and every E g_k = 0 (e = 0 a.s.)."""
    v_star, w_star = np.array([[1.0, -0.5, 0.25], [0.5, 2.0, -1.0]]), np.array([[1.0, 2.0], [-0.5, 0.75]])
    model = pg.MultiFilterModel(v_star, w_star)
    res = symbolic.evaluate(model, v_star, w_star * np.array([[4.0], [0.125]]), dps=30, ste=_all_stes())
    tiny = mpmath.mpf(10) ** -200
    assert abs(res.loss) < tiny
    assert all(abs(x) < tiny for x in [*res.grad_v.flat, *res.grad_w.flat])
    for s in _all_stes():
        assert all(abs(x) < tiny for x in res.coarse_grad_w[s.name].flat), s.name


def test_cancellation_near_pi_costs_time_not_accuracy():
    """Near theta = pi, p(theta, w) = O((pi - theta)^2) is a difference of O(1) terms.

    v = (-1/2, 1/2), v* = (1, 0) makes h = 0, so E g_crelu = -(v.v*)(p w_hat + q u) has w_hat-component p/2.
    """
    teacher, v, w = ([1.0, 0.0], [1.0, 0.0]), [-0.5, 0.5], [-1.0, 1e-40]  # theta = pi - eps, eps ~ 1e-40
    low = symbolic.evaluate(teacher, v, w, dps=30)
    high = symbolic.evaluate(teacher, v, w, dps=200)
    with mpmath.workdps(100):
        w_hat = [mpmath.mpf(x) / mpmath.sqrt(1 + mpmath.mpf(1e-40) ** 2) for x in w]
        coef = sum(a * b for a, b in zip(low.coarse_grad_w["clipped_relu"], w_hat, strict=True))
        eps = mpmath.pi - high.theta
        # p(pi - eps) = phi(0)(1 - cos eps)/2 - (exponentially small) = phi(0) eps^2/4 (1 + O(eps^2))
        expected = eps**2 / (4 * mpmath.sqrt(2 * mpmath.pi)) / 2
        assert abs(coef / expected - 1) < 1e-28


def test_clipping_at_infinity_is_relu():
    res = symbolic.evaluate(TEACHER, V, W, dps=40, ste=[pg.ste.clipped_relu(1e300), pg.ste.relu])
    far, relu = res.coarse_grad_w["clipped_relu(1e+300)"], res.coarse_grad_w["relu"]
    assert all(abs(a - b) < 1e-38 for a, b in zip(far, relu, strict=True))


# -- the evaluator's contract ---------------------------------------------------------------------------


def _values(res: symbolic.Evaluation) -> list:
    return [*np.ravel(res.theta), res.loss, *res.grad_v.flat, *res.grad_w.flat,
            *(x for g in res.coarse_grad_w.values() for x in g.flat), *res.inner_w.values()]  # fmt: skip


def test_global_precision_untouched():
    mpmath.mp.dps = 20
    symbolic.evaluate(TEACHER, V, W, dps=60)
    assert mpmath.mp.dps == 20


@pytest.mark.parametrize("committee", [False, True])
def test_results_have_the_requested_precision(committee):
    if committee:
        teacher = (np.array([[1.0, -0.5], [0.25, 2.0]]), np.array([[0.3, -1.2, 0.8], [1.0, 0.0, 0.5]]))
        v, w, stes = np.array([[0.4, 1.1], [-0.9, 0.1]]), np.array([[-0.7, 0.2, 1.5], [0.1, 0.1, 0.1]]), _all_stes()
    else:
        teacher, v, w, stes = TEACHER, V, W, STES
    low, high = symbolic.evaluate(teacher, v, w, dps=40, ste=stes), symbolic.evaluate(teacher, v, w, dps=90, ste=stes)
    tol = mpmath.mpf(10) ** -39
    assert all(abs(x - y) <= tol * abs(y) for x, y in zip(_values(low), _values(high), strict=True))
    assert low.dps == 40 and low.prec >= mpmath.libmp.dps_to_prec(40)
    spread = zip(low.spread["grad_v"].flat, low.grad_v.flat, strict=True)
    assert all(abs(s) <= tol * max(abs(x), tol) for s, x in spread)


def test_model_and_pair_give_the_same_result():
    one = symbolic.evaluate(pg.Model(*TEACHER), V, W, dps=30)
    pair = symbolic.evaluate(TEACHER, V, W, dps=30)
    committee = symbolic.evaluate(pg.MultiFilterModel(TEACHER[0][None], TEACHER[1][None]), V[None], W[None], dps=30)
    assert _values(one) == _values(pair)
    assert one.loss == committee.loss and one.theta == committee.theta[0, 1]
    assert [*one.grad_w] == [*committee.grad_w[0]]
    assert [*one.coarse_grad_w["relu"]] == [*committee.coarse_grad_w["relu"][0]]


def test_one_filter_shapes_and_inner_products():
    res = symbolic.evaluate(pg.Model(*TEACHER), V, W, dps=30)
    assert res.grad_v.shape == (3,) and res.grad_w.shape == (3,) and res.coarse_grad_w["relu"].shape == (3,)
    model = pg.Model(*TEACHER)
    for s in STES:  # Lemmas 5, 7, 10
        assert abs(float(res.inner_w[s]) - model.correlation(V, W, s).inner_w) < 1e-15


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"w": np.zeros(3)}, ValueError, "w is the zero vector"),
        ({"v": [1.0, 2.0]}, ValueError, "v must have last axis of length 3"),
        ({"v": [1.0, math.nan, 0.0]}, ValueError, "v contains NaN"),
        ({"dps": 0}, ValueError, "dps must be >= 1"),
        ({"dps": 2.5}, TypeError, "dps must be an integer"),
        ({"ste": "tanh"}, ValueError, "unknown ste"),
        ({"ste": pg.ste.custom(np.tanh)}, NotImplementedError, "custom STE"),
        ({"teacher": [1.0, 2.0, 3.0]}, TypeError, "teacher must be a popgrad.Model"),
        ({"teacher": (TEACHER[0], np.zeros(3))}, ValueError, "w_star is the zero vector"),
        ({"teacher": (np.ones((2, 3)), np.ones((3, 3)))}, ValueError, "same number of rows"),
        ({"teacher": (np.ones((2, 3)), np.ones((2, 3))), "w": np.ones((2, 2))}, ValueError, r"shapes \(K, 3\)"),
        ({"teacher": pg.Model(*TEACHER), "w": np.ones((2, 3))}, ValueError, "one point"),
        ({"teacher": STAIRCASE, "v": [1.0], "w": [1.0, 1.0]}, NotImplementedError, "binary activation only"),
    ],
)
def test_bad_input_is_rejected_with_a_clear_message(kwargs, error, match):
    args = {"teacher": TEACHER, "v": V, "w": W} | kwargs
    with pytest.raises(error, match=match):
        symbolic.evaluate(**args)


def test_one_assembly_per_structure():
    assert sym_committee.committee(2, 1, 3) is sym_committee.committee(2, 1, 3)
    c = sym_committee.committee(2, 1, 3)
    assert c.loss_function is c.loss_function and c.coarse_function is c.coarse_function
    assert kern.piece_kernels("zero", "pos", "interior") is kern.piece_kernels("zero", "pos", "interior")
    with pytest.raises(ValueError, match="K must be a positive integer"):
        sym_committee.committee(0, 1, 1)


# -- the engine ------------------------------------------------------------------------------------------


def test_engine_refuses_what_has_no_symbolic_form():
    rows = [r for r in pg.capabilities() if r["engine"] == "symbolic"]
    supported = {(r["model"], r["activation"], r["ste"]) for r in rows if r["status"] == "supported"}
    assert supported == {(kind, "binary", "piecewise_constant") for kind in ("Model", "MultiFilterModel")}
    assert all("no symbolic form" in r["status"] for r in rows if r["status"] != "supported")
    stair = pg.MultiFilterModel([[1.0]], [[1.0, 0.0]], activation=pg.activation.uniform(2, 0.5))
    with pytest.raises(NotImplementedError, match="staircase has no symbolic form"):
        pg.expectations(stair, [[1.0]], [[1.0, 1.0]], engine="symbolic")
    with pytest.raises(NotImplementedError, match="custom mu' has no symbolic form"):
        pg.expectations(pg.Model(*TEACHER), V, W, pg.ste.custom(np.tanh), engine="symbolic")


def test_engine_quantities_for_a_batch_of_committees():
    model = pg.MultiFilterModel([[1.0, 0.5], [0.2, -1.0]], [[1.0, 0.0, 0.3], [0.0, 1.0, -0.5]])
    rng = np.random.default_rng(3)
    v, w = rng.normal(size=(3, 2, 2)), rng.normal(size=(3, 2, 3))
    stes = [pg.ste.relu, pg.ste.leaky_relu(0.2)]
    got = pg.expectations(model, v, w, stes, engine="symbolic", dps=25)
    ref = pg.expectations(model, v, w, stes)
    for s in stes:
        e = got[s.name]
        assert e.engine == "symbolic" and e.options == {"dps": 25}
        assert e.coarse_grad_v is e.grad_v
        for key, q in e.fields.items():
            assert q.value.shape == ref[s.name].fields[key].value.shape == q.mp.shape, key
            assert np.array_equal(q.value, floats(q.mp))
            assert np.all(q.error >= 0.5 * np.spacing(np.abs(q.value)))
            assert np.all(q.error <= np.spacing(np.abs(q.value)) + 1e-300)
            scale = np.max(np.abs(q.value))
            assert np.max(np.abs(q.value - ref[s.name].fields[key].value)) <= 1e-13 * scale, key


def test_engine_options():
    model = pg.Model(*TEACHER)
    with pytest.raises(ValueError, match="dps must be >= 1"):
        pg.expectations(model, V, W, engine="symbolic", dps=0)
    with pytest.raises(TypeError, match="takes the options"):
        pg.expectations(model, V, W, engine="symbolic", backend="mpmath")
    with pytest.raises(ValueError, match="w is the zero vector"):
        pg.expectations(model, V, np.zeros(3), engine="symbolic")


# -- independence -----------------------------------------------------------------------------------------

FORBIDDEN = {"popgrad.assembly", "popgrad.kernels", "popgrad.models", "popgrad.geometry", "popgrad.closed_form"}


def _imports(path: Path, package: str) -> set[str]:
    """Absolute names of the modules imported by ``path`` (relative imports resolved against ``package``)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            names.add(module)
            names.update(f"{module}.{a.name}" for a in node.names)
    return names


def test_does_not_import_the_closed_forms():
    files = [(p, "popgrad.symbolic") for p in (ROOT / "popgrad" / "symbolic").glob("*.py")]
    files.append((ROOT / "popgrad" / "engines" / "symbolic_engine.py", "popgrad.engines"))
    assert len(files) >= 7
    for path, package in files:
        names = _imports(path, package)
        bad = {n for n in names if any(n == f or n.startswith(f + ".") for f in FORBIDDEN)}
        assert not bad, (path.name, bad)
    assert "popgrad.symbolic.kernels" in _imports(ROOT / "popgrad" / "symbolic" / "committee.py", "popgrad.symbolic")
