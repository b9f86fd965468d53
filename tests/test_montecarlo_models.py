"""Monte Carlo on every model: committees (K student, K* teacher filters), staircases, every STE kind.

Full and projected Monte Carlo against the closed forms (``model.loss``, ``.grad``, ``.coarse_grad``), against
each other, and the boundary estimator of df/dW against central differences of the closed-form loss (which does
not use ``model.grad``).  Every comparison is a z-score per component, |z| < 5: for correct estimators
P(|z| >= 5) = 5.7e-7 per component (Gaussian tails; N >= 20,000 samples), and this file computes about 2,400
z-scores (counted by ``test_z_score_count``), so the false-alarm rate of the whole file is about 1.4e-3.  Seeds
are fixed: each test either always passes or always fails.

Where an estimator has no randomness left (m = n = 1: one row, every filter on one line, so the boundary term is
a constant) its standard error is rounding noise; every error is therefore floored at :data:`ROUND` times the
quantity's scale (its largest reference component), far below any standard error of a random estimate here.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pytest

import popgrad as pg
from popgrad import ste as ste_mod
from popgrad.activation import staircase, uniform

Z_MAX = 5.0
ROUND = 2.0**-40  # rounding floor of an error, relative to the quantity's scale
BINARY = None
TWO_BIT = uniform(2, 0.5)
ODD = staircase([0.8, -0.4, 0.1], [-0.7, 1.0, 1.5])  # a negative threshold and a negative jump


def _bump(x: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * (x - 0.5) ** 2)


STES = (
    "relu",  # named
    "identity",
    ste_mod.clipped_relu(1.5),
    ste_mod.piecewise_constant([-0.5, 0.3, 2.0], [0.0, -1.0, 2.5, 0.5]),  # piecewise constant
    ste_mod.custom(_bump, name="bump"),  # custom, smooth
    ste_mod.custom(lambda x: np.clip(1.0 - np.abs(x - 0.5), 0.0, None), name="tent", points=[-0.5, 0.5, 1.5]),
)
NAMES = [ste_mod.resolve(s).name for s in STES]


@dataclass(frozen=True)
class Case:
    label: str
    model: object
    v: np.ndarray
    w: np.ndarray


def _near(rng: np.random.Generator, base: np.ndarray, angle: float, scale: float) -> np.ndarray:
    """A vector of norm ``scale * |base|`` at ``angle`` from ``base``."""
    b = base / np.linalg.norm(base)
    e = rng.standard_normal(b.size)
    e -= (e @ b) * b
    e -= (e @ b) * b
    e /= np.linalg.norm(e)
    return scale * np.linalg.norm(base) * (np.cos(angle) * b + np.sin(angle) * e)


def _cases() -> list[Case]:
    rng = np.random.default_rng(20260301)
    specs = [  # K, K*, m, n, activation, what is special
        (2, 1, 1, 1, ODD, "n = 1: every filter on one line"),
        (2, 2, 2, 3, TWO_BIT, "student 2 at 1e-3 from teacher 1"),
        (3, 1, 3, 4, ODD, ""),
        (3, 3, 4, 6, BINARY, "students 1, 2 at 1e-4"),
        (2, 3, 4, 2, TWO_BIT, "n = 2 < K + K*"),
        (2, 1, 3, 5, ODD, "norms 0.3 and 4"),
        (3, 2, 2, 6, BINARY, "student 3 at pi - 1e-3 from teacher 2"),
        (2, 2, 1, 4, ODD, "teachers at 1e-3 from each other"),
        (1, 2, 3, 3, TWO_BIT, "K = 1 < K*"),
        (2, 2, 4, 5, BINARY, ""),
    ]
    cases = []
    for j, (K, Ks, m, n, act, note) in enumerate(specs):
        w_star = rng.standard_normal((Ks, n)) * rng.uniform(0.5, 2.0, size=(Ks, 1))
        w = rng.standard_normal((K, n)) * rng.uniform(0.5, 2.0, size=(K, 1))
        if j == 1:
            w[1] = _near(rng, w_star[0], 1e-3, 1.2)
        if j == 3:
            w[1] = _near(rng, w[0], 1e-4, 0.8)
        if j == 5:
            w[0] *= 0.3 / np.linalg.norm(w[0])
            w[1] *= 4.0 / np.linalg.norm(w[1])
        if j == 6:
            w[2] = _near(rng, -w_star[1], 1e-3, 0.9)
        if j == 7:
            w_star[1] = _near(rng, w_star[0], 1e-3, 1.5)
        model = pg.MultiFilterModel(rng.standard_normal((Ks, m)), w_star, activation=act)
        name = "binary" if act is None else act.name
        label = f"K={K},K*={Ks},m={m},n={n},{name}" + (f",{note}" if note else "")
        cases.append(Case(label, model, rng.standard_normal((K, m)), w))
    rng1 = np.random.default_rng(7)
    one = pg.Model(rng1.standard_normal(3), rng1.standard_normal(3), activation=ODD)
    cases.append(Case("Model,m=3,n=3,odd staircase", one, rng1.standard_normal(3), rng1.standard_normal(3)))
    return cases


CASES = _cases()
IDS = [c.label for c in CASES]
COUNT = {"z": 0, "max": 0.0}


def _check(diff: np.ndarray, error: np.ndarray, scale: float, what: str) -> None:
    z = np.atleast_1d(diff) / np.maximum(np.atleast_1d(error), ROUND * scale)
    COUNT["z"] += z.size
    COUNT["max"] = max(COUNT["max"], float(np.max(np.abs(z))))
    assert np.all(np.abs(z) < Z_MAX), f"{what}: z = {np.round(z, 2)}"


def _z(est: pg.Quantity, reference: object, what: str) -> None:
    ref = np.asarray(reference, dtype=np.float64)
    _check(est.value - ref, est.error, float(np.max(np.abs(ref))), what)


def _closed(case: Case) -> dict[str, np.ndarray]:
    m, v, w = case.model, case.v, case.w
    gv, gw = m.grad(v, w)
    out = {"loss": m.loss(v, w), "grad_v": gv, "grad_w": gw}
    out |= {name: m.coarse_grad(v, w, s)[1] for name, s in zip(NAMES, STES, strict=True)}
    return out


def _estimates(mc: dict) -> dict[str, pg.Quantity]:
    first = mc[NAMES[0]]
    return {"loss": first.loss, "grad_v": first.grad_v, "grad_w": first.grad_w} | {
        name: mc[name].coarse_grad_w for name in NAMES
    }


def _run(case: Case, method: str, seed: int) -> dict:
    n = 40_000 if method == "full" else 120_000
    return pg.expectations(case.model, case.v, case.w, list(STES), engine="monte_carlo", n_samples=n, seed=seed,
                           method=method)  # fmt: skip


@pytest.fixture(scope="module")
def runs() -> dict:
    return {}


def _cached(runs: dict, case: Case, method: str) -> dict:
    key = (case.label, method)
    if key not in runs:
        runs[key] = _run(case, method, seed=31 if method == "full" else 32)
    return runs[key]


@pytest.mark.parametrize("method", ["full", "projected"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_matches_closed_forms(runs, case, method):
    est = _estimates(_cached(runs, case, method))
    for key, ref in _closed(case).items():
        _z(est[key], ref, f"{method} {key}")


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_full_and_projected_agree(runs, case):
    """Two independent estimates (different samplers, different seeds): z of the difference per component."""
    a, b = _estimates(_cached(runs, case, "full")), _estimates(_cached(runs, case, "projected"))
    for key in a:
        scale = float(np.max(np.abs(a[key].value)))
        _check(a[key].value - b[key].value, np.hypot(a[key].error, b[key].error), scale, key)


def _central_difference(case: Case, h: float) -> np.ndarray:
    m, v, w = case.model, case.v, case.w
    g = np.zeros(w.shape)
    for idx in np.ndindex(w.shape):
        d = np.zeros(w.shape)
        d[idx] = h
        g[idx] = (m.loss(v, w + d) - m.loss(v, w - d)) / (2 * h)
    return g


@pytest.mark.parametrize("case", [CASES[i] for i in (0, 2, 4, 5, 8, 10)], ids=[IDS[i] for i in (0, 2, 4, 5, 8, 10)])
def test_boundary_estimator_matches_differences_of_the_closed_form_loss(runs, case):
    """df/dW by Richardson-extrapolated central differences of model.loss (never model.grad): the boundary
    estimator, both methods, agrees by z, the differences' own error (bounded by |extrapolated - step h/2|)
    added to the standard error; it is far below the standard error except where the estimator is exact."""
    h = 1e-4 * float(np.min(np.linalg.norm(np.atleast_2d(case.w), axis=-1)))
    d1, d2 = _central_difference(case, h), _central_difference(case, h / 2)
    fd = (4 * d2 - d1) / 3
    fd_err = np.abs(fd - d2)
    assert np.max(fd_err) < 1e-6 * np.max(np.abs(fd)), "the difference quotients have not converged"
    for method in ("full", "projected"):
        est = _estimates(_cached(runs, case, method))["grad_w"]
        _check(
            est.value - fd, np.hypot(est.error, fd_err), float(np.max(np.abs(fd))), f"{method} grad_w vs differences"
        )


@pytest.mark.parametrize("method", ["full", "projected"])
def test_bitwise_the_same_for_any_chunking_workers_or_executor(method):
    case = CASES[3]  # K = K* = 3, near-parallel students
    kw = {"n_samples": 5000, "seed": 5, "method": method, "engine": "monte_carlo"}

    def numbers(**extra) -> list[np.ndarray]:
        mc = pg.expectations(case.model, case.v, case.w, ["relu", STES[4]], **kw, **extra)
        out = []
        for e in mc.values():
            for q in e.fields.values():
                out += [np.asarray(q.value), np.asarray(q.error), np.asarray(q.cov)]
        return out

    ref = numbers()
    for extra in [{"chunk_size": 64}, {"chunk_size": 1000}, {"workers": 2}, {"executor": ThreadPoolExecutor(2)}]:
        for a, b in zip(ref, numbers(**extra), strict=True):
            np.testing.assert_array_equal(a, b, err_msg=str(extra))


@pytest.mark.parametrize("method", ["full", "projected"])
@pytest.mark.parametrize("norm", [1e-300, 1e300])
@pytest.mark.parametrize("activation", [BINARY, TWO_BIT], ids=["binary", "2-bit"])
def test_extreme_norms(method, norm, activation):
    """|w| = 1e+-300 (the closed forms are fine there; Monte Carlo divided by zero or overflowed on |w|^2 before).
    Scale-free STEs only: E g_crelu at |w| = 1e300 is an event of probability ~1e-300, which sampling cannot see."""
    model = pg.Model([1.0, -0.5, 2.0], [1.0, 0.3, 0.0], activation=activation)
    v, d = np.array([0.3, 1.0, -0.7]), np.array([0.2, 1.0, -0.4])
    w = norm * d / np.linalg.norm(d)
    mc = pg.monte_carlo(model, v, w, ste=["relu", "identity"], n_samples=20_000, seed=3, method=method)
    gv, gw = model.grad(v, w)
    _z(mc["relu"].loss, model.loss(v, w), "loss")
    _z(mc["relu"].grad_v, gv, "grad_v")
    _z(mc["relu"].grad_w, gw, "grad_w")
    assert mc["relu"].grad_w.cov is None  # of order |w|^-2 = 1e-+600: not a float64; value and error are
    for name in ("relu", "identity"):
        _z(mc[name].coarse_grad_w, model.coarse_grad(v, w, name)[1], name)


def test_score_estimator_is_refused_beyond_the_one_filter_binary_model():
    case = CASES[2]
    with pytest.raises(NotImplementedError, match="boundary"):
        pg.monte_carlo(case.model, case.v, case.w, n_samples=100, grad_w_estimator="score")
    staircase_one = CASES[-1]
    with pytest.raises(NotImplementedError, match="one-filter binary"):
        pg.monte_carlo(staircase_one.model, staircase_one.v, staircase_one.w, n_samples=100, grad_w_estimator="score")


def test_every_kind_is_supported():
    rows = [r for r in pg.capabilities() if r["engine"] == "monte_carlo"]
    assert len(rows) == 16 and all(r["status"] == "supported" for r in rows)


def test_z_score_count():
    """Runs last in this module: the number of z-scores the docstring's false-alarm rate is computed from."""
    assert COUNT["z"] > 1000, COUNT["z"]
    print(f"\n{COUNT['z']} z-scores, largest |z| = {COUNT['max']:.3f}")
