"""The reliability battery, as tests: silently wrong numbers, bounded memory, extreme but legal values.

Each test names the defect it guards against (all failed on the code before the engine contract): a wrong
number returned without an error is the worst outcome for a verifier, so every case here either computes the
model it was given -- checked against an independent way -- or raises a clear error naming the argument.
"""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import popgrad as pg
from popgrad import ste

V_STAR = np.array([1.0, -0.5, 2.0])
W_STAR = np.array([1.0, 0.0, 0.0])
V = np.array([0.3, 1.0, -0.7])
W = np.array([0.2, 1.0, -0.4])


# -- a custom STE with jumps it does not declare -----------------------------------------------------


@pytest.mark.parametrize(("lo", "hi"), [(0.3, 0.5), (0.3, 0.31), (0.3, 0.35), (2.0, 2.05), (-1.2, -1.19)])
def test_custom_window_equals_the_piecewise_closed_form(lo: float, hi: float) -> None:
    """mu'(x) = 1{lo < x < hi} given as a bare lambda: its jumps are located, not integrated over as if smooth.

    Before: E g = [0.0038, 0.0191, -0.0076] for (.3, .5) against [0.0438, -0.0014, 0.0005], and exactly 0 for
    the narrow windows.  Reference: the closed form of the same window as a piecewise-constant STE (a different
    computing way: Gaussian integrals in closed form, no quadrature).
    """
    model = pg.Model(V_STAR, W_STAR)
    window = ste.custom(lambda x: ((x > lo) & (x < hi)) * 1.0, name=f"window({lo}, {hi})")
    closed = ste.piecewise_constant([lo, hi], [0.0, 1.0, 0.0])
    got = pg.expectations(model, V, W, window)
    ref = pg.expectations(model, V, W, closed)
    diff = np.abs(got.coarse_grad_w.value - ref.coarse_grad_w.value)
    assert np.all(diff <= got.coarse_grad_w.error + ref.coarse_grad_w.error), (diff, got.coarse_grad_w.error)
    assert np.max(np.abs(ref.coarse_grad_w.value)) > 1e-4  # a real signal, not two zeros agreeing


def test_custom_window_agrees_with_literal_monte_carlo() -> None:
    """The same window against the literal model (|z| < 5 per component; false alarm ~6e-7 each, fixed seed)."""
    model = pg.Model(V_STAR, W_STAR)
    window = ste.custom(lambda x: ((x > 0.3) & (x < 0.5)) * 1.0, name="window")
    mc = pg.monte_carlo(model, V, W, window, n_samples=400_000, seed=5, method="full")
    assert np.all(np.abs(mc.coarse_grad_w.z(model.coarse_grad(V, W, window)[1])) < 5)


def test_custom_jump_narrower_than_the_scan_must_be_declared() -> None:
    """A window narrower than the scan grid can escape it; declared as points it is integrated exactly."""
    model = pg.Model(V_STAR, W_STAR)
    lo, hi = 0.3, 0.3 + 1e-4
    declared = ste.custom(lambda x: ((x > lo) & (x < hi)) * 1.0, points=[lo, hi])
    closed = ste.piecewise_constant([lo, hi], [0.0, 1.0, 0.0])
    np.testing.assert_allclose(
        model.coarse_grad(V, W, declared)[1], model.coarse_grad(V, W, closed)[1], rtol=1e-7, atol=1e-15
    )


# -- the teacher's arrays ----------------------------------------------------------------------------


@pytest.mark.parametrize("family", ["Model", "MultiFilterModel"])
def test_model_copies_the_teacher_and_leaves_the_callers_arrays_alone(family: str) -> None:
    """Before: the model kept the caller's arrays (and made them read-only); mutating them changed
    ``model.v_star`` but not the cached invariants (loss and Monte Carlo then disagreed, z ~ -50)."""
    v_star, w_star = V_STAR.copy(), W_STAR.copy()
    make = pg.Model if family == "Model" else (lambda a, b: pg.MultiFilterModel(a[None], b[None]))
    model = make(v_star, w_star)
    v, w = (V, W) if family == "Model" else (V[None], W[None])
    before = model.loss(v, w)
    v_star[0], w_star[1] = 7.0, 3.0  # the caller's arrays stay writable
    assert model.loss(v, w) == before
    np.testing.assert_array_equal(np.ravel(model.v_star), V_STAR)
    np.testing.assert_array_equal(np.ravel(model.w_star), W_STAR)
    with pytest.raises(ValueError, match="read-only"):
        model.v_star[..., 0] = 1.0


# -- STE objects are consistent or refused -----------------------------------------------------------


@pytest.mark.parametrize(
    ("pieces", "mu", "match"),
    [
        (((1.0, 0.0, 1.0),), np.ones_like, "lo < hi"),  # reversed
        (((0.0, 1.0, 1.0), (0.5, 2.0, 1.0)), np.ones_like, "overlap"),
        (((0.0, math.nan, 1.0),), np.ones_like, "lo < hi"),
        (((0.0, 1.0, math.nan),), np.ones_like, "finite"),
        (((0.0, 1.0),), np.ones_like, r"\(lo, hi, value\)"),
        (((0.0, 1.0, 1.0),), ste.relu.mu_prime, "disagrees"),  # mu_prime is the ReLU's, pieces a window
        (((-math.inf, math.inf, 1.0),), ste.relu.mu_prime, "disagrees"),
    ],
)
def test_ste_constructor_validates(pieces, mu, match: str) -> None:
    """Before: STE(name, mu_prime, pieces) validated nothing (closed form vs Monte Carlo z ~ 50)."""
    with pytest.raises(ValueError, match=match):
        ste.STE("bad", mu, pieces)


def test_ste_constructor_accepts_consistent_pieces() -> None:
    s = ste.STE("window", lambda x: ((np.asarray(x) > 0.0) & (np.asarray(x) < 2.0)) * 1.0, ((0.0, 2.0, 1.0),))
    assert s.pieces == ste.clipped_relu(2.0).pieces


@pytest.mark.parametrize(
    ("make", "exc", "match"),
    [
        (lambda: ste.piecewise_constant("0", [0, 1]), TypeError, "breakpoints"),
        (lambda: ste.piecewise_constant([True], [0, 1]), TypeError, "breakpoints"),
        (lambda: ste.piecewise_constant([1j], [0, 1]), TypeError, "breakpoints"),
        (lambda: ste.piecewise_constant([[0.0, 1.0]], [0, 1, 2]), ValueError, "breakpoints must be one-dimensional"),
        (lambda: ste.piecewise_constant([0.0, 0.0], [0, 1, 2]), ValueError, "strictly increasing"),
        (lambda: ste.custom(lambda x: (x > 0) + 5j), TypeError, "real numbers"),
        (lambda: ste.custom(np.ones_like, points=[[0.0], [1.0]]), ValueError, "points"),
        (lambda: ste.custom(np.ones_like, points=["a"]), TypeError, "points"),
        (lambda: pg.activation.uniform(2, "0.5"), TypeError, "step"),
        (lambda: pg.activation.uniform(1, True), TypeError, "step"),
        (lambda: pg.activation.uniform(True, 1.0), TypeError, "bits"),
    ],
)
def test_parameters_are_checked_by_name(make, exc, match: str) -> None:
    """Before: strings, booleans and complex numbers were silently converted (or truncated)."""
    with pytest.raises(exc, match=match):
        make()


# -- cost bounded by the work ------------------------------------------------------------------------


def test_too_many_staircase_levels_are_refused_up_front() -> None:
    """Before: uniform(16, 1e-3) asked for a 32 GiB array; now the closed forms refuse it when the model is built."""
    with pytest.raises(ValueError, match=r"65535 thresholds.*Monte Carlo"):
        pg.Model(V_STAR, W_STAR, activation=pg.activation.uniform(16, 1e-3))
    assert len(repr(pg.activation.uniform(16, 1e-3))) < 100  # and its repr does not print 65535 numbers


def _run_limited(code: str, limit_bytes: int) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter whose address space is capped at ``limit_bytes``."""
    prog = f"import resource\nresource.setrlimit(resource.RLIMIT_AS, ({limit_bytes}, {limit_bytes}))\n" + code
    return subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True, timeout=600)


def test_many_staircase_levels_fit_in_bounded_memory() -> None:
    """1023 thresholds (uniform(10)): ~1e6 pair terms per pair of filters, computed in bounded blocks.

    The interpreter with numpy and scipy needs ~300 MB of address space; the cap leaves ~700 MB of work space,
    while one unblocked array of the pair terms would take batch x 1023^2 x 8 bytes (8 MB per point, four such
    arrays at once).
    """
    code = textwrap.dedent(
        """
        import numpy as np, popgrad as pg
        model = pg.Model([1.0, -0.5], [1.0, 0.0], activation=pg.activation.uniform(10, 1e-3))
        w = np.array([[0.6, 0.8], [0.3, -1.0], [-1.0, 0.2], [0.5, 0.5]]) * np.arange(1, 5)[:, None]
        loss = model.loss([0.3, 1.0], w)
        assert np.all(np.isfinite(loss)), loss
        print("ok")
        """
    )
    out = _run_limited(code, 1_000_000_000)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr[-2000:]


# -- extreme but legal values ------------------------------------------------------------------------


def test_huge_jumps_and_tiny_weights_give_the_representable_result() -> None:
    """Before: jumps 1e200 with v ~ 1e-240 raised OverflowError (and leaked RuntimeWarnings) though f ~ 1e-80.

    f depends on V and sigma only through V sigma: the model with jumps 1e200 and v equals the model with jumps 1
    and v * 1e200 exactly up to rounding (f and df/dw unchanged, df/dv scaled by 1e200, E g by 1e200 twice)."""
    big = pg.Model(V_STAR * 1e-240, W_STAR, activation=pg.activation.staircase([0.0, 1.0], [1e200, 1e200]))
    unit = pg.Model(V_STAR * 1e-40, W_STAR, activation=pg.activation.staircase([0.0, 1.0], [1.0, 1.0]))
    v_big, v_unit = V * 1e-240, V * 1e-40
    np.testing.assert_allclose(big.loss(v_big, W), unit.loss(v_unit, W), rtol=1e-13)
    gv_b, gw_b = big.grad(v_big, W)
    gv_u, gw_u = unit.grad(v_unit, W)
    np.testing.assert_allclose(gv_b, gv_u * 1e200, rtol=1e-13)
    np.testing.assert_allclose(gw_b, gw_u, rtol=1e-13)
    np.testing.assert_allclose(big.coarse_grad(v_big, W)[1], unit.coarse_grad(v_unit, W)[1] * 1e-200, rtol=1e-13)


@pytest.mark.parametrize("e", [-1020, -1027, -1060, 996])
def test_staircase_at_extreme_norms_is_its_limit(e: int) -> None:
    """Before: at |w| = 1e-309 a bounded loss raised 'result overflows' (it is 1.4814 at 1e-307).

    Once |w| is far below (above) every non-zero threshold, those thresholds are never (always) crossed in
    float64 (Phi(t/|w|) is exactly 0 or 1 from |t/|w|| > 40 on): the results at |w| ~ 2^-1020 ... 2^-1060
    (1e-307 ... 1e-319, subnormal) equal those at 2^-66 (1e-20), and at 2^996 (1e300) those at 2^66, where
    nothing overflows.
    """
    act = pg.activation.staircase([-0.5, 0.0, 0.5], [0.25, 1.0, 0.5])
    model = pg.Model(V_STAR, W_STAR, activation=act)
    direction = np.array([0.75, 1.0, 0.0])  # exact in binary: 2**e * direction is exact down to 2**-1070
    moderate = np.ldexp(direction, -66 if e < 0 else 66)
    w = np.ldexp(direction, e)
    np.testing.assert_allclose(model.loss(V, w), model.loss(V, moderate), rtol=1e-14)
    np.testing.assert_allclose(
        model.coarse_grad(V, w, "relu")[1], model.coarse_grad(V, moderate, "relu")[1], rtol=1e-14
    )
