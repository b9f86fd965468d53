"""Property-based fuzzing of the public API: arbitrary arrays, dtypes, shapes and values.

Every call either raises ``ValueError``/``TypeError``/``NotImplementedError`` whose message names the offending
argument, or returns finite float64 results of the documented shape -- and then a second, independent engine
(quadrature over the plane, which shares no code with the closed forms) agrees with it.  Never a traceback from
deep inside numpy, never a silent NaN.  Runs under the project's hypothesis profile (derandomized: tests/conftest.py).
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import popgrad as pg

CLEAR = (ValueError, TypeError, NotImplementedError)

_dtypes = st.one_of(
    hnp.floating_dtypes(),
    hnp.integer_dtypes(),
    hnp.unsigned_integer_dtypes(),
    hnp.boolean_dtypes(),
    hnp.complex_number_dtypes(),
    st.just(np.dtype("U3")),
    st.just(np.dtype("O")),
)


@st.composite
def anything(draw: st.DrawFn, max_dims: int = 3, last: int = 3) -> object:
    """Arrays of any dtype and shape (sizes 0..4), Python lists of mixed scalars, odd scalars -- and half the time
    a numeric array of the right last axis ``last`` (batch axes 0..2) with any values, NaN, inf and subnormals
    included, so that a good share of calls is legal and must give a result."""
    kind = draw(st.sampled_from(["plausible"] * 5 + ["array", "array", "array", "list", "scalar"]))
    if kind == "plausible":
        dtype = draw(st.sampled_from([np.float64, np.float64, np.float32, np.int64, np.float16]))
        batch = draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=3))
        values = hnp.from_dtype(np.dtype(dtype), allow_nan=draw(st.booleans()), allow_infinity=draw(st.booleans()))
        return draw(hnp.arrays(dtype, (*batch, last), elements=values))
    if kind == "array":
        dtype = draw(_dtypes)
        shape = draw(hnp.array_shapes(min_dims=0, max_dims=max_dims, min_side=0, max_side=4))
        if dtype.kind == "O":
            elems = st.one_of(
                st.floats(allow_nan=True), st.integers(-(10**400), 10**400), st.none(), st.text(max_size=2)
            )
            return draw(hnp.arrays(dtype, shape, elements=elems))
        return draw(hnp.arrays(dtype, shape))
    if kind == "list":
        scalars = st.one_of(st.floats(), st.integers(-(10**30), 10**30), st.booleans(), st.text(max_size=2), st.none())
        return draw(st.lists(st.one_of(scalars, st.lists(scalars, max_size=3)), max_size=5))
    return draw(st.one_of(st.floats(), st.integers(), st.text(max_size=3), st.none(), st.complex_numbers()))


def _names(exc: BaseException, *names: str) -> bool:
    return any(re.search(rf"\b{re.escape(n)}\b", str(exc)) for n in names)


def _finite_float(x: object) -> bool:
    arr = np.asarray(x)
    return arr.dtype == np.float64 and bool(np.all(np.isfinite(arr)))


MODEL = pg.Model([1.0, -0.5, 2.0], [1.0, 0.0, 0.0])


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(anything(), anything(), st.sampled_from(["loss", "grad", "coarse_grad", "correlation"]))
def test_model_methods_on_arbitrary_input(v: object, w: object, method: str) -> None:
    try:
        out = getattr(MODEL, method)(v, w)
    except CLEAR as exc:
        event(type(exc).__name__)
        assert _names(exc, "v", "w"), exc
        return
    event("defined")
    parts = out if isinstance(out, tuple) else (vars(out).values() if method == "correlation" else (out,))
    assert all(p is None or _finite_float(p) for p in parts)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(anything(max_dims=2), anything(max_dims=2), st.sampled_from(["Model", "MultiFilterModel"]))
def test_teachers_on_arbitrary_input(v_star: object, w_star: object, family: str) -> None:
    make = pg.Model if family == "Model" else pg.MultiFilterModel
    try:
        model = make(v_star, w_star)
    except CLEAR as exc:
        assert _names(exc, "v_star", "w_star"), exc
        return
    assert np.all(np.isfinite(model.v_star)) and np.any(model.w_star != 0)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(anything(), anything())
def test_angle_on_arbitrary_input(a: object, b: object) -> None:
    try:
        theta = pg.angle(a, b)
    except CLEAR as exc:
        assert _names(exc, "a", "b"), exc
        return
    assert _finite_float(theta) and np.all((theta >= 0) & (theta <= np.pi))


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(anything(max_dims=2), anything(max_dims=2), st.sampled_from(["ste", "activation"]))
def test_ste_and_activation_constructors(first: object, second: object, which: str) -> None:
    try:
        if which == "ste":
            made = pg.ste.piecewise_constant(first, second)
            probe = np.linspace(-5.0, 5.0, 11)
            assert _finite_float(made.mu_prime(probe))
        else:
            made = pg.activation.staircase(first, second)
            assert _finite_float(made(np.linspace(-5.0, 5.0, 11)))
    except CLEAR as exc:
        assert _names(exc, "breakpoints", "values", "thresholds", "jumps"), exc


_finite = st.floats(-1e3, 1e3, allow_nan=False).filter(lambda x: x == 0 or abs(x) > 1e-6)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    st.lists(_finite, min_size=1, max_size=4),
    st.integers(1, 4),
    st.data(),
)
def test_defined_results_agree_with_quadrature(v_star: list[float], n: int, data: st.DataObject) -> None:
    """Whatever finite point the API accepts, the closed forms agree with the quadrature engine within the
    sum of their error bounds (the engines' own battery tests do this systematically; here on fuzzed points)."""
    m = len(v_star)
    w_star = data.draw(st.lists(_finite, min_size=n, max_size=n).filter(lambda x: any(t != 0 for t in x)))
    v = data.draw(st.lists(_finite, min_size=m, max_size=m))
    w = data.draw(st.lists(_finite, min_size=n, max_size=n).filter(lambda x: any(t != 0 for t in x)))
    model = pg.Model(v_star, w_star)
    ste = data.draw(st.sampled_from(["relu", "identity", "clipped_relu"]))
    cf = pg.expectations(model, v, w, ste)
    quad = pg.expectations(model, v, w, ste, engine="quadrature")
    for key, q in quad.fields.items():
        ref = cf.fields[key]
        assert np.all(np.abs(q.value - ref.value) <= q.error + ref.error), (key, q.value, ref.value)


def test_angle_of_vectors_near_the_largest_float() -> None:
    """Found by a random hypothesis run of test_angle_on_arbitrary_input (b = 2^1023 (1, 1, 1)): the norm
    2^1023 sqrt(3) is a float, but it was formed as (2^1023 / 0.5) * ..., which overflows.  Now by ldexp."""
    assert pg.angle(np.ones(3), np.full(3, 2.0**1023)) == 0.0
    assert pg.angle([1.0, 0.0], [2.0**1023, 2.0**1023]) == pytest.approx(np.pi / 4, rel=1e-15)
