"""Quadrature against the closed forms (relative error <= 1e-9 on the battery) and its own checks.

Relative error of a vector quantity is normwise: max|q - c| / max|c| (a component that is 0 in
exact arithmetic has no relative error of its own).
"""

from __future__ import annotations

import ast
import inspect

import mpmath
import numpy as np
import pytest

import popgrad as pg
from popgrad import quadrature
from popgrad.quadrature import QuadratureError
from tests._battery import BATTERY, IDS, STES

RTOL = 1e-9


def expectations(model, v, w, ste="relu", **options):
    """The quadrature engine through the common entry point."""
    return pg.expectations(model, v, w, ste, engine="quadrature", **options)


def _rel(q: object, c: object) -> float:
    q, c = np.asarray(q, dtype=np.float64), np.asarray(c, dtype=np.float64)
    scale = np.max(np.abs(c))
    return float(np.max(np.abs(q - c)) / scale) if scale > 0 else float(np.max(np.abs(q)))


@pytest.mark.parametrize("point", BATTERY, ids=IDS)
def test_quadrature_matches_closed_form(point):
    model, v, w = point.model, point.v, point.w
    q = expectations(model, v, w, ste=STES)
    first = q[STES[0]]
    gv, gw = model.grad(v, w)
    errors = {
        "loss": _rel(first.loss.value, model.loss(v, w)),
        "grad_v": _rel(first.grad_v.value, gv),
        "grad_w": _rel(first.grad_w.value, gw),
    }
    for name in STES:
        errors[name] = _rel(q[name].coarse_grad_w.value, model.coarse_grad(v, w, name)[1])
    assert max(errors.values()) <= RTOL, errors
    assert first.info["max_error"] < 1e-11


def test_mpmath_backend_agrees_and_restores_precision():
    """mpmath at 20 digits: agrees with the closed form to float64 accuracy."""
    p = BATTERY[9]
    before = mpmath.mp.dps
    q = expectations(p.model, p.v, p.w, ste="clipped_relu", backend="mpmath", dps=20)
    assert mpmath.mp.dps == before
    assert isinstance(q.loss.mp[()], mpmath.mpf) and q.info["max_error"] < 1e-18
    c = p.model.coarse_grad(p.v, p.w, "clipped_relu")[1]
    assert _rel(q.coarse_grad_w.value, c) <= 1e-13
    assert _rel(q.loss.value, p.model.loss(p.v, p.w)) <= 1e-14


def test_exact_toy_values():
    """m = 1, theta = pi/2, |w| = 1: f = P(s != t)/2 = 1/4; df/dv = (E s - E st) v-ish by hand."""
    model = pg.Model([1.0], [0.0, 1.0])
    q = expectations(model, [1.0], [1.0, 0.0], ste="identity")
    assert abs(q.loss.value - 0.25) < 1e-14
    # E[s e] = E[s(s - t)] = 1/2 - 1/4
    assert abs(q.grad_v.value[0] - 0.25) < 1e-14
    # identity: E[z (s - t)] = (E z s - E z t) = (w_hat - w*_hat)/sqrt(2 pi)
    assert np.allclose(q.coarse_grad_w.value, [1 / np.sqrt(2 * np.pi), -1 / np.sqrt(2 * np.pi)], rtol=0, atol=1e-14)


def test_ste_without_pieces_is_integrated_with_checked_error():
    """A custom mu' with undeclared jumps: scipy integrates it (error-checked) and gets the piecewise
    answer; mpmath refuses (a float64 function cannot be evaluated at its working precision)."""
    p = BATTERY[3]
    hidden = pg.ste.custom(pg.ste.clipped_relu().mu_prime, name="hidden_crelu")
    try:
        q = expectations(p.model, p.v, p.w, ste=hidden)
    except QuadratureError as exc:  # acceptable outcome: the check caught an inaccurate integral
        assert "error estimate" in str(exc) or "quad" in str(exc)
    else:
        assert _rel(q.coarse_grad_w.value, p.model.coarse_grad(p.v, p.w, "clipped_relu")[1]) <= 1e-8
    with pytest.raises(NotImplementedError, match="mpmath"):
        expectations(p.model, p.v, p.w, ste=hidden, backend="mpmath", dps=20)


def test_missed_tolerance_raises(monkeypatch):
    """A result whose error estimate misses the tolerance raises instead of being returned."""
    p = BATTERY[3]
    monkeypatch.setattr(quadrature._Scipy, "quad", lambda self, f, a, b: (1.0, 1e-3))
    with pytest.raises(QuadratureError, match="error estimate"):
        expectations(p.model, p.v, p.w)


def test_does_not_import_closed_form():
    tree = ast.parse(inspect.getsource(quadrature))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            names.add(node.module or "")
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    assert not any(n.split(".")[-1] in {"assembly", "kernels", "models", "geometry"} for n in names), names


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"backend": "quadpy"}, ValueError, "backend"),
        ({"backend": "mpmath", "dps": 10}, ValueError, "dps"),
        ({"w": [0.0, 0.0, 0.0]}, ValueError, "w"),
        ({"ste": "sigmoid"}, ValueError, "ste"),
    ],
)
def test_bad_input(kwargs, exc, match):
    model = pg.Model([1.0, 2.0], [1.0, 0.0, 0.0])
    args = {"v": [1.0, 1.0], "w": [0.0, 1.0, 0.0], **kwargs}
    v, w = args.pop("v"), args.pop("w")
    with pytest.raises(exc, match=match):
        expectations(model, v, w, **args)
