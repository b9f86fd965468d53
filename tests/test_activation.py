"""sigma of every activation against its definition, written here from the definitions (not from the code).

* binary: sigma(x) = 1{x > 0} (Yin et al. 2019);
* staircase: sigma(x) = sum_k J_k 1{x > t_k}, for thresholds in any order, with ties (equal thresholds add their
  jumps);
* uniform(bits, alpha), the paper's uniform quantizer (Sec. 4): sigma(x) = 0 for x <= 0, k alpha for
  (k - 1) alpha < x <= k alpha (k = 1, ..., 2^b - 1), (2^b - 1) alpha for x > (2^b - 1) alpha.

The engines (closed forms, quadrature, Monte Carlo) all evaluate the same ``Activation`` object, so a wrong sigma
agrees with itself across engines (issue 15: uniform's thresholds off by one passed every other test); only a
comparison with the definition catches it.  Every value is checked at the thresholds, one ulp below and one ulp
above them (``np.nextafter``), and between and beyond them.  Both sides of ``1{x > t}`` make sigma
*left*-continuous: sigma(t_k) is the limit from below, and sigma jumps by J_k just above t_k.
"""

from __future__ import annotations

import itertools
import math
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from popgrad import activation
from popgrad.activation import binary, staircase, uniform

BELOW, ABOVE = -math.inf, math.inf


def _below(x: float) -> float:
    return float(np.nextafter(x, BELOW))


def _above(x: float) -> float:
    return float(np.nextafter(x, ABOVE))


def _probes(thresholds) -> list[float]:
    """Every threshold, one ulp below and above it, midpoints between them, and far outside."""
    ts = sorted(set(float(t) for t in thresholds))
    xs = [ts[0] - 1.0, ts[-1] + 1.0, -1e300, 1e300, -math.inf, math.inf, 0.0, -0.0]
    for t in ts:
        xs += [t, _below(t), _above(t)]
    xs += [(a + b) / 2 for a, b in itertools.pairwise(ts)]
    return xs


def staircase_by_definition(thresholds, jumps, x: float) -> float:
    """sum_k J_k 1{x > t_k}, term by term, in the order given (no sorting, no merging)."""
    return sum(j for t, j in zip(thresholds, jumps, strict=True) if x > t)


def uniform_by_definition(bits: int, alpha: float, x: float) -> float:
    """The paper's uniform quantizer, its cases in order."""
    top = 2**bits - 1
    if x <= 0:
        return 0.0
    for k in range(1, top + 1):
        if (k - 1) * alpha < x <= k * alpha:
            return k * alpha
    return top * alpha  # x > (2^b - 1) alpha


# --- binary ----------------------------------------------------------------------------------------------------


def test_binary_is_the_indicator_of_x_positive():
    tiny = 5e-324  # the smallest positive float
    xs = [0.0, -0.0, tiny, -tiny, 1.0, -1.0, 1e300, -1e300, math.inf, -math.inf]
    expected = [0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0]
    assert binary(xs).tolist() == expected
    assert binary.thresholds == (0.0,) and binary.jumps == (1.0,) and binary.levels == (0.0, 1.0)
    assert binary.is_binary and activation.resolve(None) is binary and activation.resolve("binary") is binary


def test_sigma_keeps_shape_and_dtype():
    x = np.linspace(-2.0, 2.0, 24).reshape(2, 3, 4)
    for act in (binary, uniform(2, 0.5), staircase([1.0, -1.0], [2.0, -0.5])):
        y = act(x)
        assert y.shape == x.shape and y.dtype == np.float64
        assert act(0.25).shape == ()


# --- staircase: explicit cases -----------------------------------------------------------------------------------

CASES = [  # (thresholds, jumps): dyadic numbers, so every partial sum is exact and values compare with ==
    ([0.0], [1.0]),
    ([0.5], [-2.0]),
    ([-1.0, 0.0, 2.5], [0.25, 0.5, 1.0]),
    ([2.5, -1.0, 0.0], [1.0, 0.25, 0.5]),  # any order
    ([1.0, 1.0, -0.5], [0.75, 0.5, 1.0]),  # a tie: 1{x > 1} with jump 1.25
    ([0.0, 1.0, 0.0, 1.0], [1.0, -2.0, 0.5, 2.0]),  # two ties; the jump at 1 sums to 0: no jump there
    ([-3.0, -2.0, -1.0], [1.0, -1.0, 4.0]),  # mixed signs: not monotone
]


@pytest.mark.parametrize(("thresholds", "jumps"), CASES)
def test_staircase_at_below_and_above_every_threshold(thresholds, jumps):
    act = staircase(thresholds, jumps)
    for x in _probes(thresholds):
        assert float(act(x)) == staircase_by_definition(thresholds, jumps, x), x
    # batched evaluation agrees with the scalar one
    xs = np.array(_probes(thresholds))
    assert act(xs).tolist() == [staircase_by_definition(thresholds, jumps, x) for x in xs]


@pytest.mark.parametrize(("thresholds", "jumps"), CASES)
def test_staircase_is_left_continuous_and_jumps_by_the_merged_jump(thresholds, jumps):
    act = staircase(thresholds, jumps)
    for t in set(thresholds):
        jump = sum(j for tk, j in zip(thresholds, jumps, strict=True) if tk == t)  # ties add
        assert float(act(t)) == float(act(_below(t)))  # sigma(t) is the limit from the left
        assert float(act(_above(t))) - float(act(t)) == jump


def test_staircase_normal_form():
    # sorted, ties merged, zero jumps dropped; levels are the partial sums
    act = staircase([0.0, 1.0, 0.0, 1.0], [1.0, -2.0, 0.5, 2.0])
    assert act.thresholds == (0.0,) and act.jumps == (1.5,) and act.levels == (0.0, 1.5)
    act = staircase([2.5, -1.0, 0.0], [1.0, 0.25, 0.5])
    assert act.thresholds == (-1.0, 0.0, 2.5) and act.jumps == (0.25, 0.5, 1.0)
    assert act.levels == (0.0, 0.25, 0.75, 1.75)
    with pytest.raises(ValueError, match="all zero"):
        staircase([0.0, 0.0], [1.0, -1.0])


# --- uniform: the paper's quantizer --------------------------------------------------------------------------------


@pytest.mark.parametrize("bits", [1, 2, 3, 4])
@pytest.mark.parametrize("alpha", [1.0, 0.5, 0.25, 0.1, 3.0])
def test_uniform_is_the_papers_quantizer(bits, alpha):
    act = uniform(bits, alpha)
    top = 2**bits - 1
    knots = [k * alpha for k in range(top + 1)]  # 0, alpha, ..., (2^b - 1) alpha
    xs = _probes(knots) + [(k + 0.5) * alpha for k in range(-1, top + 2)]
    # sigma's levels are partial sums of the jumps alpha, the definition's k alpha: equal for a dyadic alpha, within
    # k/2 ulps otherwise (ten times 0.1 is 1 - 1.1e-16); an interval off by one is off by alpha
    ulps = 0 if alpha in (1.0, 0.5, 0.25, 3.0) else top * np.finfo(float).eps
    for x in xs:
        ref = uniform_by_definition(bits, alpha, x)
        assert abs(float(act(x)) - ref) <= ulps * ref, (bits, alpha, x)
    assert len(act.levels) == 2**bits
    np.testing.assert_allclose(act.levels, knots, rtol=ulps, atol=0.0)


def test_uniform_two_bits_by_hand():
    # alpha = 0.5: 0 up to 0, 0.5 on (0, 0.5], 1 on (0.5, 1], 1.5 above 1
    act = uniform(2, 0.5)
    xs = [-1.0, 0.0, 1e-9, 0.25, 0.5, 0.5000001, 0.75, 1.0, 1.0000001, 1.5, 1.75, 100.0]
    assert act(xs).tolist() == [0.0, 0.0, 0.5, 0.5, 0.5, 1.0, 1.0, 1.0, 1.5, 1.5, 1.5, 1.5]


def test_uniform_one_bit():
    assert uniform(1, 1.0) == binary and uniform(1, 1.0).is_binary
    two = uniform(1, 2.0)  # 2 * 1{x > 0}
    assert two([-1.0, 0.0, 0.1, 9.0]).tolist() == [0.0, 0.0, 2.0, 2.0] and not two.is_binary


# --- properties ------------------------------------------------------------------------------------------------------

_thresholds = st.lists(st.floats(-10.0, 10.0, allow_subnormal=False), min_size=1, max_size=8)


@st.composite
def steps(draw, positive: bool = False):
    """(thresholds, jumps) with at least one non-zero jump and, with ``positive``, only positive jumps."""
    ts = draw(_thresholds)
    lo = 0.01 if positive else -5.0
    js = draw(st.lists(st.floats(lo, 5.0).filter(lambda j: j != 0.0), min_size=len(ts), max_size=len(ts)))
    if not positive and all(abs(sum(j for t2, j in zip(ts, js, strict=True) if t2 == t)) == 0.0 for t in ts):
        js[0] = 1.0  # a not identically zero sigma (zero after merging is refused)
    return ts, js


@given(steps(), st.lists(st.floats(-20.0, 20.0), min_size=1, max_size=20))
def test_staircase_equals_its_definition_anywhere(tj, xs):
    ts, js = tj
    try:
        act = staircase(ts, js)
    except ValueError:
        return  # jumps cancelling to zero everywhere: refused by design
    tol = 1e-13 * sum(abs(j) for j in js)  # the code sums merged, sorted jumps; the definition term by term
    for x in xs + _probes(ts):
        assert abs(float(act(x)) - staircase_by_definition(ts, js, x)) <= tol, x


@given(steps(positive=True), st.lists(st.floats(-20.0, 20.0), min_size=2, max_size=30))
def test_positive_jumps_make_sigma_non_decreasing(tj, xs):
    act = staircase(*tj)
    xs = np.sort(np.array(xs + _probes(tj[0])))
    assert np.all(np.diff(act(xs)) >= 0)


@given(steps())
def test_left_continuity_and_jump_sizes(tj):
    ts, js = tj
    try:
        act = staircase(ts, js)
    except ValueError:
        return
    for t, jump in zip(act.thresholds, act.jumps, strict=True):
        assert float(act(t)) == float(act(_below(t)))
        assert float(act(_above(t))) - float(act(t)) == pytest.approx(jump, rel=1e-12, abs=1e-12 * max(map(abs, js)))


@given(steps(), st.permutations(range(8)), st.integers(0, 7))
def test_ties_merge_and_order_does_not_matter(tj, perm, dup):
    ts, js = tj
    try:
        act = staircase(ts, js)
    except ValueError:
        return
    # any order of the (t_k, J_k) pairs gives the same sigma
    order = [i for i in perm if i < len(ts)]
    assert staircase([ts[i] for i in order], [js[i] for i in order]) == act
    # splitting one jump into two at the same threshold changes nothing: equal thresholds merge
    i = dup % len(ts)
    if ts.count(ts[i]) > 1:
        return  # (a third jump at the same threshold: the merged sums may round differently)
    split = staircase([*ts, ts[i]], [*js[:i], js[i] / 2, *js[i + 1 :], js[i] / 2])
    assert split.thresholds == act.thresholds
    np.testing.assert_allclose(split.jumps, act.jumps, rtol=1e-15, atol=1e-15 * max(map(abs, js)))


# --- bad input names the argument; names and reprs say what sigma is -------------------------------------------------


@pytest.mark.parametrize(
    ("thresholds", "jumps", "match"),
    [
        ([[0.0, 1.0]], [1.0, 1.0], r"\bthresholds\b"),  # two-dimensional
        ([0.0, math.inf], [1.0, 1.0], r"\bthresholds\b"),  # not finite
        (["a"], [1.0], r"\bthresholds\b"),
        ([0.0, 1.0], [1.0], r"\bjumps\b"),  # one jump per threshold
        ([0.0], [[1.0]], r"\bjumps\b"),
        ([0.0], [math.nan], r"\bjumps\b"),
        ([0.0, 0.0], [1.0, -1.0], "^jumps are all zero"),
    ],
)
def test_staircase_bad_input_names_the_argument(thresholds, jumps, match):
    with pytest.raises((ValueError, TypeError), match=match):
        staircase(thresholds, jumps)


def test_staircase_names():
    assert staircase([1.0, 0.0], [2.0, 0.5]).name == "staircase([0.0, 1.0], [0.5, 2.0])"  # the normal form
    assert staircase([0.0], [1.0], name="mine").name == "mine"
    assert binary.scaled(2.0).name == "2 * binary" and binary.scaled(1.0) is binary


@pytest.mark.parametrize("factor", [2.0, 0.5, -3.0])
def test_scaled_is_factor_times_sigma(factor):
    act = staircase([0.5, -1.0], [1.0, 0.25])
    xs = [-2.0, -1.0, 0.0, 0.5, 0.6, 3.0]
    assert act.scaled(factor)(xs).tolist() == [factor * y for y in act(xs).tolist()]


def test_resolve_names_what_it_accepts():
    assert activation.resolve(None) is binary and activation.resolve("binary") is binary
    message = "activation must be None, 'binary' or a popgrad.activation.Activation "
    with pytest.raises(TypeError, match="^" + re.escape(message)):
        activation.resolve("relu")


@pytest.mark.parametrize(
    ("bits", "step", "match"),
    [
        (0, 1.0, "^bits"),
        (2.5, 1.0, "^bits"),
        (17, 1.0, "^bits must be <= 16"),
        (2, 0.0, "^step"),
        (2, math.inf, "^step"),
        (2, "x", "^step"),
    ],
)
def test_uniform_bad_input_names_the_argument(bits, step, match):
    with pytest.raises((ValueError, TypeError), match=match):
        uniform(bits, step)


def test_uniform_sixteen_bits_is_allowed_and_named():
    act = uniform(16, 2.0**-10)
    assert len(act.thresholds) == 2**16 - 1 and act.thresholds[-1] == (2**16 - 2) * 2.0**-10
    assert uniform(2, 0.5).name == "uniform(2, 0.5)"


def test_repr_lists_up_to_eight_thresholds_then_their_range():
    eight = staircase(list(range(8)), [1.0] * 8)
    assert repr(eight) == f"Activation({eight.name!r}, thresholds={eight.thresholds}, jumps={eight.jumps})"
    assert repr(uniform(4, 0.5)) == "Activation('uniform(4, 0.5)', 15 thresholds in [0, 7])"  # 0, 0.5, .., 14 * 0.5
    nine = staircase([-3.0, *range(8)], [1.0] * 9)
    assert repr(nine) == f"Activation({nine.name!r}, 9 thresholds in [-3, 7])"
