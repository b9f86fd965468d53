"""Conformance: the closed forms on ``array-api-strict`` (the Array API's reference namespace, which has no numpy-only
function, method or implicit conversion), equal to the numpy path; the refusals outside the Array API."""

from __future__ import annotations

import numpy as np
import pytest

import popgrad as pg
from tests._namespaces import closed_forms, problem, worst_difference

xps = pytest.importorskip("array_api_strict")

POINTS = 1000


@pytest.mark.parametrize("kind", ["paper", "committee"])
def test_strict_arrays_in_strict_arrays_out(kind: str) -> None:
    rng = np.random.default_rng(15)
    model, v, w = problem(rng, POINTS, 4, 5) if kind == "paper" else problem(rng, POINTS, 3, 4, k=2, k_star=2)
    got = closed_forms(model, xps.asarray(v), xps.asarray(w))
    for key, x in got.items():
        assert type(x) is type(xps.asarray(0.0)) and x.dtype == xps.float64, key
    worst = worst_difference(model, v, w, {k: np.asarray(x) for k, x in got.items()}, closed_forms(model, v, w))
    bad = {k: d for k, d in worst.items() if not (d[0] <= 1e-12 and d[1] <= 1e-14)}
    assert not bad, bad


def test_custom_ste_and_staircase_refused() -> None:
    model = pg.Model([1.0, -0.5], [1.0, 0.0])
    v, w = xps.asarray([0.3, 1.0]), xps.asarray([0.2, 1.0])
    with pytest.raises(NotImplementedError, match="custom STE"):
        model.coarse_grad(v, w, pg.ste.custom(lambda x: np.exp(-(x**2))))
    stair = pg.Model([1.0, -0.5], [1.0, 0.0], activation=pg.activation.uniform(2, 1.0))
    with pytest.raises(NotImplementedError, match="Owen's T"):
        stair.loss(v, w)


def test_two_namespaces_refused() -> None:
    jnp = pytest.importorskip("jax.numpy")
    model = pg.Model([1.0, -0.5], [1.0, 0.0])
    with pytest.raises(TypeError, match="two namespaces"):
        model.loss(xps.asarray([0.3, 1.0]), jnp.asarray([0.2, 1.0]))


def test_numpy_inputs_stay_numpy() -> None:
    model = pg.Model([1.0, -0.5], [1.0, 0.0])
    assert type(model.grad([0.3, 1.0], [0.2, 1.0])[1]) is np.ndarray
