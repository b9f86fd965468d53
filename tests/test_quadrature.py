"""The quadrature engine against the closed forms, against itself (finite differences, mpmath), and its errors.

Relative error of a quantity: ``||q - c|| / max(||c||, natural scale)`` (normwise), the natural scale being
the bound on its terms, :math:`S = (L(\\|V\\|_1 + \\|V^*\\|_1))^2` with :math:`L = \\max|\\sigma|` (times
:math:`\\max|\\mu'|` for a coarse gradient, over the smallest :math:`\\|w_k\\|` for :math:`\\partial f/\\partial w`):
near a zero of a result float64 can only promise an error of a few ulps of S.  The closed forms are taken from
``pg.expectations(engine="closed_form")``, whose values are ``model.loss/grad/coarse_grad`` (the same
assembly) and whose errors are its rounding bounds.
"""

from __future__ import annotations

import ast
import inspect

import mpmath
import numpy as np
import pytest

import popgrad as pg
from popgrad import _quad_committee, _quad_geometry, _quad_rows, _quad_rule, quadrature
from popgrad import ste as ste_mod
from popgrad.quadrature import QuadratureError
from tests._battery import BATTERY, IDS, STES
from tests._committees import ACTIVATIONS, CUSTOM, NAMED, random_committee

RTOL = 1e-9
FIELDS = ("loss", "grad_v", "grad_w", "coarse_grad_w")


def expectations(model, v, w, ste="relu", **options):
    """The quadrature engine through the common entry point."""
    return pg.expectations(model, v, w, ste, engine="quadrature", **options)


def _mu_max(s: object) -> float:
    s = ste_mod.resolve(s)
    return float(np.max(np.abs(s.mu_prime(np.linspace(-10.0, 10.0, 4001)))))


def _scales(model, V: np.ndarray, W: np.ndarray) -> dict[str, float]:
    v_star, _ = model.teacher
    lmax = float(np.max(np.abs(model.activation.levels)))
    s = (lmax * (np.abs(V).sum() + np.abs(v_star).sum())) ** 2
    rows = np.asarray(W, dtype=float).reshape(-1, np.shape(W)[-1])
    top = np.max(np.abs(rows), axis=-1)
    r = (top * np.linalg.norm(rows / top[:, None], axis=-1)).min()  # no overflow of the squares at |w| ~ 1e300
    return {"loss": s, "grad_v": s, "grad_w": s / r, "coarse_grad_w": s}


def _compare(model, V, W, stes) -> tuple[dict[str, float], list[str]]:
    """Worst relative error per field at one point, and the violations of |q - c| <= q.error + c.error."""
    q = expectations(model, V, W, list(stes))
    c = pg.expectations(model, V, W, list(stes))
    scales = _scales(model, V, W)
    worst: dict[str, float] = {}
    bad = []
    for s in q:
        mu = _mu_max(next(x for x in stes if ste_mod.resolve(x).name == s))
        for f in FIELDS:
            a, b = getattr(q[s], f), getattr(c[s], f)
            diff = np.abs(np.asarray(a.value) - np.asarray(b.value))
            scale = scales[f] * (mu if f == "coarse_grad_w" else 1.0)
            rel = float(np.linalg.norm(diff) / max(float(np.linalg.norm(b.value)), scale))
            key = f if f != "coarse_grad_w" else f"coarse[{s}]"
            worst[key] = max(worst.get(key, 0.0), rel)
            if not np.all(diff <= np.asarray(a.error) + np.asarray(b.error)):
                bad.append(f"{s} {f}: |q - c| = {diff.max():.3g} > {np.max(a.error):.3g} + {np.max(b.error):.3g}")
    return worst, bad


# ---------------------------------------------------------------------------------------------------------
# The battery (pg.Model, binary)


@pytest.mark.parametrize("point", BATTERY, ids=IDS)
def test_battery_matches_closed_form_within_both_error_bounds(point):
    worst, bad = _compare(point.model, point.v, point.w, STES)
    assert max(worst.values()) <= RTOL, worst
    assert not bad, bad


# ---------------------------------------------------------------------------------------------------------
# Random committees


SWEEP = 100


def _sweep(activation_name: str, stes_of, seed: int) -> tuple[dict[str, float], list[str]]:
    rng = np.random.default_rng(seed)
    worst: dict[str, float] = {}
    bad = []
    for i in range(SWEEP):
        model, V, W = random_committee(rng, ACTIVATIONS[activation_name])
        w_, b_ = _compare(model, V, W, stes_of(i))
        for key, val in w_.items():
            worst[key] = max(worst.get(key, 0.0), val)
        bad += [f"point {i}: {x}" for x in b_]
        assert max(w_.values()) <= RTOL, (i, w_, V, W, model)
    return worst, bad


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_committees_with_piecewise_constant_stes_match_closed_form(name):
    """100 random committees per activation, all six piecewise-constant STEs at each."""
    worst, bad = _sweep(name, lambda i: NAMED, seed=1000 + list(ACTIVATIONS).index(name))
    assert max(worst.values()) <= RTOL, worst
    assert not bad, bad


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_committees_with_custom_stes_match_closed_form(name):
    """100 random committees per activation; custom STEs (a window with jumps, a smooth bump) alternate."""
    worst, bad = _sweep(name, lambda i: (CUSTOM[i % 2],), seed=2000 + list(ACTIVATIONS).index(name))
    assert max(worst.values()) <= RTOL, worst
    assert not bad, bad


# ---------------------------------------------------------------------------------------------------------
# The true gradient: the boundary representation against finite differences of the quadrature's own loss


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_grad_w_is_the_derivative_of_the_quadrature_loss(name):
    """Richardson-extrapolated central differences of the quadrature loss along a random direction of W.

    With h = 4e-3 the extrapolation's truncation is ~1e-12 and the loss errors (~1e-14) contribute
    ~3 err/h ~ 1e-11; the bound 1e-9 of the natural scale leaves a margin of 100, while a wrong
    boundary term (a missing threshold, the radial part, a factor) is off by 1e-2 or more.
    """
    rng = np.random.default_rng(7)
    model = pg.MultiFilterModel(rng.standard_normal((2, 3)), rng.standard_normal((2, 4)), activation=ACTIVATIONS[name])
    V, W = rng.standard_normal((2, 3)), rng.standard_normal((2, 4))
    d = rng.standard_normal((2, 4))
    d /= np.linalg.norm(d)
    slope = float(np.sum(expectations(model, V, W).grad_w.value * d))

    def f(t: float) -> float:
        return float(expectations(model, V, W + t * d).loss.value)

    def central(h: float) -> float:
        return (f(h) - f(-h)) / (2 * h)

    h = 4e-3
    richardson = (4 * central(h / 2) - central(h)) / 3
    assert abs(richardson - slope) <= RTOL * _scales(model, V, W)["grad_w"], (richardson, slope)
    assert abs(slope) > 1e-3  # the check is not vacuous


# ---------------------------------------------------------------------------------------------------------
# Extreme norms and degenerate geometry


@pytest.mark.parametrize("name", list(ACTIVATIONS))
@pytest.mark.parametrize("scale", [1e-300, 1e300])
def test_extreme_norms(name, scale):
    """|w| = 1e+-300 (float64 norms would under/overflow).  Reference: the closed form at |w| = 1e+-100, where
    the scaled thresholds t/|w| are already beyond float64's resolution of the limit (binary: f is exactly
    scale-invariant); df/dw compared after multiplying by |w| (it scales as 1/|w| in both limits)."""
    rng = np.random.default_rng(11)
    model = pg.MultiFilterModel(rng.standard_normal((1, 3)), rng.standard_normal((1, 4)), activation=ACTIVATIONS[name])
    V, W0 = rng.standard_normal((2, 3)), rng.standard_normal((2, 4))
    ref_scale = 1e-100 if scale < 1 else 1e100
    stes = ["relu", "clipped_relu", "identity"]
    q = expectations(model, V, W0 * scale, stes)
    c = pg.expectations(model, V, W0 * ref_scale, stes)
    scales = _scales(model, V, W0)
    for s in stes:
        for f in FIELDS:
            a, b = np.asarray(getattr(q[s], f).value), np.asarray(getattr(c[s], f).value)
            if f == "grad_w":
                a, b = a * scale, b * ref_scale
            rel = np.linalg.norm(a - b) / max(np.linalg.norm(b), scales[f])
            assert rel <= RTOL, (s, f, a, b)
    assert np.all(np.isfinite(q["relu"].grad_w.error))


def test_exact_toy_values():
    """m = 1, theta = pi/2, |w| = 1: f = P(s != t)/2 = 1/4; df/dv = E[s(s - t)] = 1/4; identity STE:
    E[z (s - t)] = (w_hat - w*_hat)/sqrt(2 pi)."""
    model = pg.Model([1.0], [0.0, 1.0])
    q = expectations(model, [1.0], [1.0, 0.0], ste="identity")
    assert abs(q.loss.value - 0.25) < 1e-14
    assert abs(q.grad_v.value[0] - 0.25) < 1e-14
    assert np.allclose(q.coarse_grad_w.value, [1 / np.sqrt(2 * np.pi), -1 / np.sqrt(2 * np.pi)], rtol=0, atol=1e-14)
    # Lemma 2: df/dw = -(v v*)/(2 pi |w|) u with u = (0, 1)
    assert np.allclose(q.grad_w.value, [0.0, -1 / (2 * np.pi)], rtol=0, atol=1e-14)


# ---------------------------------------------------------------------------------------------------------
# Known disagreements of the closed forms (reported; quadrature is the reference, checked against mpmath)


def test_closed_form_staircase_near_tied_parallel_pair():
    """w = w* + 1e-12 noise, irregular staircase: quadrature (agreeing with mpmath at 20 digits to 3e-17) and the
    closed form differed by ~5e-7 in df/dw, beyond both error bounds (Owen's T of (rho a - b)/s from rounded a, b;
    now from the plane's accurate norm gap)."""
    model = pg.Model([1.0, -0.5], [0.6, -1.2, 0.3], activation=ACTIVATIONS["irregular"])
    w = model.w_star + 1e-12 * np.random.default_rng(5).standard_normal(3)
    _, bad = _compare(model, np.array([0.4, 1.1]), w, ("relu",))
    assert not bad, bad


def test_closed_form_staircase_at_huge_norm():
    """|w| ~ 1e300: the thresholds t/|w| ~ 1e-300 of two student filters made h k underflow to 0 in Owen's formula
    (the sign test then took the wrong branch: 3.96 instead of 4.10)."""
    rng = np.random.default_rng(11)
    model = pg.MultiFilterModel(
        rng.standard_normal((1, 3)), rng.standard_normal((1, 4)), activation=ACTIVATIONS["2-bit"]
    )
    V, W = rng.standard_normal((2, 3)), rng.standard_normal((2, 4)) * 1e300
    _, bad = _compare(model, V, W, ("relu",))
    assert not bad, bad


# ---------------------------------------------------------------------------------------------------------
# Backends


def test_mpmath_backend_agrees_and_restores_precision():
    """mpmath at 20 digits: agrees with the closed form to float64 accuracy; its own bound is ~1e-20."""
    p = BATTERY[9]
    before = mpmath.mp.dps
    q = expectations(p.model, p.v, p.w, ste="clipped_relu", backend="mpmath", dps=20)
    assert mpmath.mp.dps == before
    assert isinstance(q.loss.mp[()], mpmath.mpf) and q.info["max_error"] < 1e-18
    c = pg.expectations(p.model, p.v, p.w, "clipped_relu")
    worst = {}
    for f in FIELDS:
        a, b = getattr(q, f), getattr(c, f)
        worst[f] = float(np.max(np.abs(a.value - b.value)) / np.max(np.abs(b.value)))
        assert np.all(np.asarray(a.error) < 1e-15 * max(1.0, float(np.max(np.abs(a.value)))))
    assert max(worst.values()) <= 1e-13, worst


def test_mpmath_backend_on_a_staircase_matches_scipy_backend():
    """An irregular staircase at dps 15 (theta near pi/2: no crossings of the edges, the cheaper case)."""
    model = pg.Model([1.0, -0.5], [0.0, 1.0, 0.0], activation=ACTIVATIONS["irregular"])
    v, w = np.array([0.4, 1.1]), np.array([1.2, 0.3, -0.2])
    q_mp = expectations(model, v, w, "relu", backend="mpmath", dps=15)
    q = expectations(model, v, w, "relu")
    for f in FIELDS:
        a, b = getattr(q_mp, f), getattr(q, f)
        assert np.all(np.abs(a.value - b.value) <= a.error + b.error), f


def test_custom_ste_scipy_only():
    """A custom mu' with undeclared jumps: scipy locates them (find_jumps) and matches the piecewise-constant
    closed form; mpmath refuses it before computing anything."""
    p = BATTERY[3]
    hidden = ste_mod.custom(ste_mod.clipped_relu().mu_prime, name="hidden_crelu")
    q = expectations(p.model, p.v, p.w, ste=hidden)
    c = pg.expectations(p.model, p.v, p.w, "clipped_relu")
    assert np.all(np.abs(q.coarse_grad_w.value - c.coarse_grad_w.value) <= q.coarse_grad_w.error + 1e-15)
    with pytest.raises(NotImplementedError, match="mpmath"):
        expectations(p.model, p.v, p.w, ste=hidden, backend="mpmath", dps=20)


def test_capabilities():
    rows = [r for r in pg.engines.capabilities() if r["engine"] == "quadrature"]
    assert len(rows) == 16
    for r in rows:
        refused = r["options"] == "backend=mpmath" and r["ste"] == "custom"
        assert (r["status"] != "supported") == refused, r


# ---------------------------------------------------------------------------------------------------------
# Checks of the checks


def test_missed_tolerance_raises(monkeypatch):
    """A rule whose two estimates disagree by more than the tolerance everywhere: bisection cannot help and
    QuadratureError is raised instead of a number."""
    real = _quad_rule._panel_sums

    def inconsistent(bk, a, b, f, sizes=True):
        hi, lo, absint, prop = real(bk, a, b, f, sizes)
        return hi, lo + 1e-3, absint, prop

    monkeypatch.setattr(_quad_rule, "_panel_sums", inconsistent)
    monkeypatch.setattr(_quad_rule, "MAX_PANELS", 500)
    p = BATTERY[3]
    with pytest.raises(QuadratureError, match="error estimate"):
        expectations(p.model, p.v, p.w)


def test_does_not_import_closed_form():
    names = set()
    for module in (quadrature, _quad_rule, _quad_geometry, _quad_rows, _quad_committee):
        for node in ast.walk(ast.parse(inspect.getsource(module))):
            if isinstance(node, ast.ImportFrom):
                names.add(node.module or "")
                names.update(a.name for a in node.names)
            elif isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
    assert not any(n.split(".")[-1] in {"assembly", "kernels", "models", "geometry"} for n in names), names


def test_batches_are_evaluated_point_by_point():
    model = pg.MultiFilterModel([[1.0, 0.5], [-0.5, 1.0]], [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], ACTIVATIONS["2-bit"])
    rng = np.random.default_rng(0)
    V, W = rng.standard_normal((2, 3, 2)), rng.standard_normal((2, 3, 3))
    batch = expectations(model, V, W, "identity")
    assert len(batch.info["points"]) == 2
    for j in range(2):
        one = expectations(model, V[j], W[j], "identity")
        for f in FIELDS:
            assert np.array_equal(getattr(batch, f).value[j], getattr(one, f).value), f
            assert np.array_equal(getattr(batch, f).error[j], getattr(one, f).error), f


@pytest.mark.parametrize(("v", "w"), [([1e200, 1.0], [1.0, 0.0, 0.3]), ([1.0, 1.0], [5e-324, 0.0, 0.0])])
def test_overflow_is_a_value_error(v, w):
    """f ~ |v|^2 beyond float64, or df/dw ~ 1/|w| at a subnormal |w|: a ValueError, as for the closed forms."""
    with pytest.raises(ValueError, match="overflows"):
        expectations(pg.Model([1.0, 0.5], [1.0, 2.0, 0.0]), v, w)


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"backend": "quadpy"}, ValueError, "backend"),
        ({"backend": "mpmath", "dps": 10}, ValueError, "dps"),
        ({"w": [0.0, 0.0, 0.0]}, ValueError, "w"),
        ({"ste": "sigmoid"}, ValueError, "ste"),
        ({"tol": 1e-3}, TypeError, "options"),
    ],
)
def test_bad_input(kwargs, exc, match):
    model = pg.Model([1.0, 2.0], [1.0, 0.0, 0.0])
    args = {"v": [1.0, 1.0], "w": [0.0, 1.0, 0.0], **kwargs}
    v, w = args.pop("v"), args.pop("w")
    with pytest.raises(exc, match=match):
        expectations(model, v, w, **args)
