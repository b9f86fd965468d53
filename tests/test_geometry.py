"""The angle and the plane basis of nearly (anti)parallel vectors: accurate to a few ulps against
50-digit mpmath, and O(n) in memory (the former wedge path built k x n x n arrays: 12 GiB at n = 20 000).

Reference: for the float64 vectors as given, ``N = |w|^2 w* - (w.w*) w`` in 50-digit arithmetic
(products of doubles are exact there, and ``N`` keeps >= 30 digits even at theta = 1e-15), then
``sin = |N| / (|w|^2 |w*|)``, ``theta = atan2(|N|, (w.w*) |w|)``, ``u = N / |N|``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import mpmath
import numpy as np
import pytest

import popgrad as pg
from popgrad.geometry import plane

ULP = 2.0**-53  # unit roundoff; "k ulps relative" below means a relative error <= k * 2**-52
# Error analysis of popgrad.geometry._perp_sin_and_u: each N_i takes ~3 roundings, |N|, |w*| and
# the quotient a few more; measured worst over 6000 pairs: theta 3.5, sin 4.1, u 1.7 ulps.
THETA_ULPS, SIN_ULPS, U_ULPS = 6, 6, 4


def _reference(w: np.ndarray, w_star: np.ndarray) -> tuple[mpmath.mpf, mpmath.mpf, list[mpmath.mpf]]:
    with mpmath.workdps(50):
        a = [mpmath.mpf(float(x)) for x in w]
        b = [mpmath.mpf(float(x)) for x in w_star]
        s = mpmath.fsum(x * x for x in a)
        c = mpmath.fsum(x * y for x, y in zip(a, b, strict=True))
        perp = [s * y - c * x for x, y in zip(a, b, strict=True)]
        norm = mpmath.sqrt(mpmath.fsum(t * t for t in perp))
        sin = norm / (s * mpmath.sqrt(mpmath.fsum(y * y for y in b)))
        return mpmath.atan2(norm, c * mpmath.sqrt(s)), sin, [t / norm for t in perp]


def _near_pair(rng: np.random.Generator, n: int, theta: float, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """w and a w* at angle ~theta from it (rounded to float64; the reference uses the rounded w*)."""
    w = rng.standard_normal(n)
    w /= np.linalg.norm(w)
    p = rng.standard_normal(n)
    p -= (p @ w) * w
    w_star = np.cos(theta) * w + np.sin(theta) * p / np.linalg.norm(p)
    return w * (scale * 10 ** rng.uniform(-3, 3)), w_star * (scale * 10 ** rng.uniform(-3, 3))


def _ulps(got: float, exact: mpmath.mpf) -> float:
    return float(abs(mpmath.mpf(got) - exact) / (abs(exact) * 2 * ULP))


def test_near_parallel_and_antiparallel_match_mpmath() -> None:
    """2000 pairs, theta log-uniform in [1e-15, 1e-2] and pi - theta, n in 2..200, |w| from 1e-250 to 1e250."""
    rng = np.random.default_rng(20240611)
    worst = {"theta": 0.0, "theta_near_pi": 0.0, "sin": 0.0, "u": 0.0}
    for k in range(2000):
        n = int(rng.choice([2, 3, 5, 10, 50, 200]))
        scale = 10 ** rng.uniform(-250, 250) if k % 4 == 0 else 1.0
        w, w_star = _near_pair(rng, n, 10 ** rng.uniform(-15, -2), scale)
        anti = k % 2 == 1
        if anti:
            w_star = -w_star
        theta, sin, u = _reference(w, w_star)
        p = plane(w, w_star)
        if anti:  # theta ~ pi: float64 holds it to ulp(pi); sin_theta carries pi - theta relatively
            err = float(abs(mpmath.mpf(float(p.theta)) - theta) / np.spacing(np.pi))
            worst["theta_near_pi"] = max(worst["theta_near_pi"], err)
        else:
            worst["theta"] = max(worst["theta"], _ulps(float(p.theta), theta))
            assert float(pg.angle(w, w_star)) == float(p.theta)
        worst["sin"] = max(worst["sin"], _ulps(float(p.sin_theta), sin))
        u_err = mpmath.sqrt(mpmath.fsum((mpmath.mpf(float(a)) - b) ** 2 for a, b in zip(p.u, u, strict=True)))
        worst["u"] = max(worst["u"], float(u_err / (2 * ULP)))
    assert worst["theta"] <= THETA_ULPS, worst
    assert worst["theta_near_pi"] <= 1.0, worst
    assert worst["sin"] <= SIN_ULPS, worst
    assert worst["u"] <= U_ULPS, worst


@pytest.mark.parametrize(
    ("w", "w_star"),
    [
        ([1.0, 0.0], [1.0, 1e-300]),
        ([1.0, 1e-200], [1.0, 2e-200]),
        ([1e-300, 3e-300], [3e-300, 9.000000000000002e-300]),
        ([1e300, 3e300], [3e300, 9.000000000000002e300]),
        ([1e-160, 1.0], [1e-160 * (1 + 2**-52), 1.0]),
        ([1.0, 2.0, 3.0], [-1.0, -2.0, -3.0 + 1e-15]),
        ([0.1, 0.7, 0.3], [0.3, 2.1, 0.9]),  # parallel on paper, not in float64: theta ~ 3e-17
    ],
)
def test_extreme_magnitudes_and_angles(w: list[float], w_star: list[float]) -> None:
    theta, sin, _ = _reference(np.array(w), np.array(w_star))
    p = plane(w, w_star)
    assert _ulps(float(p.sin_theta), sin) <= SIN_ULPS
    if theta < 1:
        assert _ulps(float(p.theta), theta) <= THETA_ULPS


@pytest.mark.parametrize(("w", "w_star"), [([1.0, 3.0], [3.0, 9.0]), ([1.0, -2.0, 3.0], [-0.5, 1.0, -1.5])])
def test_exactly_parallel_vectors_give_a_line(w: list[float], w_star: list[float]) -> None:
    p = plane(w, w_star)
    assert float(p.sin_theta) == 0.0 and not np.any(p.u)
    assert float(p.theta) in (0.0, np.pi)


def test_large_n_matches_mpmath() -> None:
    rng = np.random.default_rng(7)
    for n, theta in [(5000, 1e-14), (20000, 1e-10), (20000, 1e-15)]:
        w, w_star = _near_pair(rng, n, theta, 1.0)
        exact, sin, _ = _reference(w, w_star)
        p = plane(w, w_star)
        assert _ulps(float(p.theta), exact) <= THETA_ULPS
        assert _ulps(float(p.sin_theta), sin) <= SIN_ULPS


def test_angles_below_the_unit_roundoff_in_general_position_match_mpmath() -> None:
    """w = fl(t w*) in general position: the rounding leaves angles of 1e-16 down to 1e-20 (and near pi), where
    N's terms of an ulp of ||w||^2 w* cancel too; summed in float64 they left a relative error ulp**2 / theta
    (thousands of ulps at theta ~ 1e-20 before they were summed error-free)."""
    rng = np.random.default_rng(11)
    worst = {"theta": 0.0, "sin": 0.0, "u": 0.0}
    tiny = 0
    for k in range(3000):
        w_star = rng.standard_normal(2 + k % 2)
        w = rng.uniform(0.5, 2.0) * w_star * (-1.0) ** (k // 2)
        theta, sin, u = _reference(w, w_star)
        if sin == 0:
            continue
        tiny += sin < 1e-19
        p = plane(w, w_star)
        if theta < 1:
            worst["theta"] = max(worst["theta"], _ulps(float(p.theta), theta))
        worst["sin"] = max(worst["sin"], _ulps(float(p.sin_theta), sin))
        u_err = mpmath.sqrt(mpmath.fsum((mpmath.mpf(float(a)) - b) ** 2 for a, b in zip(p.u, u, strict=True)))
        worst["u"] = max(worst["u"], float(u_err / (2 * ULP)))
    assert tiny >= 3  # the battery reaches the angles at stake
    assert worst["theta"] <= THETA_ULPS and worst["sin"] <= SIN_ULPS and worst["u"] <= U_ULPS, worst


_MEMORY_PROBE = textwrap.dedent(
    """
    import json, resource, sys, tracemalloc
    import numpy as np
    import popgrad as pg

    with open("/proc/self/status") as fh:
        vm = int(next(line for line in fh if line.startswith("VmSize")).split()[1]) * 1024
    limit = vm + 2 * 2**30  # a regression to n x n arrays fails with MemoryError instead of swapping
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    rng = np.random.default_rng(0)
    out = {}
    for n in (1000, 5000, 20000):
        w = rng.standard_normal(n)
        p = rng.standard_normal(n)
        w_star = w + 1e-9 * (p - (p @ w) / (w @ w) * w)  # sin(theta) ~ 1e-9 < 1e-2: the near-parallel path
        tracemalloc.start()
        theta = float(pg.angle(w, w_star))
        out[n] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert 0 < theta < 1e-8
    print(json.dumps(out))
    """
)


def test_near_parallel_angle_is_linear_in_memory() -> None:
    """Peak traced memory of pg.angle at n = 1000, 5000, 20000, in a subprocess under an address-space limit.

    Measured: ~0.16 MiB per 1000 entries (about 21 float64 vectors of length n).  Bound: 100 such
    vectors.  The former k x n x n wedge took 30 MiB at n = 1000 and 12 GiB at n = 20 000.
    """
    proc = subprocess.run([sys.executable, "-c", _MEMORY_PROBE], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    peaks = {int(n): b for n, b in json.loads(proc.stdout).items()}
    for n, peak in peaks.items():
        assert peak <= 100 * 8 * n, (n, peak)
