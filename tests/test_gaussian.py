"""``popgrad.gaussian`` against 40-digit mpmath: differences of the normal density and distribution function
accurate *relative to the difference* where the naive formula cancels, and no floating-point warning at the
ends of the range the kernels use (arguments clipped to +-40, where a discarded branch of ``np.where``
overflows).  Every closed form of popgrad is a sum of these terms."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest

from popgrad.gaussian import CLIP, PHI0, ndtr_diff, phi, phi_diff, ratio

mp = mpmath.mp.clone()
mp.dps = 40

# pairs (lo, hi): both orders, tails, the clip ends, nearly equal arguments (cancellation), opposite signs
PAIRS = [
    (0.0, CLIP),
    (CLIP, 0.0),
    (-CLIP, CLIP),
    (0.3, CLIP),
    (-CLIP, -0.3),
    (0.5, 1.5),
    (1.5, 0.5),
    (-2.0, 0.7),
    (3.0, 3.0 + 1e-9),
    (-6.0 - 1e-7, -6.0),
    (1e-9, 2e-9),
    (-1e-9, 2e-9),
    (8.0, 9.0),
    (-9.0, -8.0),
    (2.0, 30.0),
    (-30.0, -1.2),
    (1.2, 1.0),
    (-1.0, -1.2),
]


def _phi(x: float) -> mpmath.mpf:
    return mp.npdf(mp.mpf(x))


def _cdf(x: float) -> mpmath.mpf:
    return mp.ncdf(mp.mpf(x))


def _close(got: float, want: mpmath.mpf, ulps: float) -> bool:
    return abs(mp.mpf(got) - want) <= ulps * np.finfo(float).eps * abs(want)


def test_phi_at_zero_and_a_point():
    assert PHI0 == float(1 / mp.sqrt(2 * mp.pi))
    assert _close(float(phi(np.float64(1.7))), _phi(1.7), 4)


@pytest.mark.parametrize(("lo", "hi"), PAIRS)
def test_phi_diff_relative_to_the_difference(lo, hi):
    got = phi_diff(np.array([lo]), np.array([hi]))[0]  # no warning: filterwarnings = error
    want = _phi(lo) - _phi(hi)
    assert _close(got, want, 16), (got, float(want))


def _ndtr_terms(lo: float, hi: float) -> mpmath.mpf:
    """The size of the terms ``ndtr_diff`` subtracts (its documented contract): upper tails when both
    arguments are above 1, lower tails when both are below -1, otherwise Phi - 1/2 (half an erf)."""
    a, b = min(lo, hi), max(lo, hi)
    if a >= 1:
        return 1 - _cdf(a)
    if b <= -1:
        return _cdf(b)
    return max(abs(_cdf(a) - mp.mpf(0.5)), abs(_cdf(b) - mp.mpf(0.5)))


@pytest.mark.parametrize(("lo", "hi"), PAIRS)
def test_ndtr_diff_without_cancellation(lo, hi):
    """Accurate relative to the terms it subtracts (64 ulps: scipy's erfc in the far tail), never to 1 or 1/2:
    Phi(9) - Phi(8) is 6.2e-16, far below the rounding of Phi itself."""
    got = ndtr_diff(np.array([lo]), np.array([hi]))[0]
    want = _cdf(hi) - _cdf(lo)
    assert abs(mp.mpf(got) - want) <= 64 * np.finfo(float).eps * _ndtr_terms(lo, hi), (got, float(want))
    assert got == 0 or np.sign(got) == mpmath.sign(want)


def test_equal_arguments_give_zero():
    x = np.array([-CLIP, -3.0, 0.0, 0.4, 5.0, CLIP])
    assert np.all(phi_diff(x, x) == 0) and np.all(ndtr_diff(x, x) == 0)
    assert np.all(phi_diff(x, -x) == 0)  # phi is even


def test_ratio_limits_at_zero_sine():
    num = np.array([2.0, -3.0, 0.0, 1.0])
    s = np.array([0.0, 0.0, 0.0, 4.0])
    assert ratio(num, s).tolist() == [np.inf, -np.inf, 0.0, 0.25]
