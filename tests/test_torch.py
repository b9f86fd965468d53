"""The closed forms on PyTorch tensors (CPU, float64): tensors in, tensors out, through the same Array API code as
JAX, equal to the numpy path; autograd and ``torch.func`` against the closed-form gradients.

Every comparison is with the numpy closed forms (the reference) or with exact arithmetic (``fractions``).  PyTorch
is in no extra of ``pyproject.toml`` (PyPI's Linux wheel brings CUDA, gigabytes): the README's test command and
``.ci/run`` install ``torch==2.13.0`` (a CPU build lies on this project's machines), and under ``CI=true`` a missing
torch fails here; elsewhere these tests are skipped without it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest

import popgrad as pg
from popgrad._compensated import dot2, two_prod
from popgrad._validate import as_array
from popgrad._xp import constant, namespace
from tests._accurate_rows import assert_rows_close, assert_same, batch, fields, tiny_angle_problem
from tests._namespaces import closed_forms, problem, worst_difference

if os.environ.get("CI", "").lower() == "true":
    import torch  # CI installs it (.ci/run): never skipped there
else:
    torch = pytest.importorskip("torch")

POINTS = 1000
EQUAL = 1e-13  # normwise relative difference torch vs numpy per point and quantity (the bound used for JAX)
AUTODIFF = 1e-12  # normwise relative difference of autograd's gradient from model.grad (as for JAX)


def _problem(kind: str):
    rng = np.random.default_rng(14)
    return problem(rng, POINTS, 4, 5) if kind == "paper" else problem(rng, POINTS, 3, 4, k=2, k_star=2)


def _tensor(x: np.ndarray, requires_grad: bool = False):
    return torch.tensor(x, dtype=torch.float64, requires_grad=requires_grad)


def _numpy(x) -> np.ndarray:
    return x.detach().numpy()


def _relative(a: np.ndarray, b: np.ndarray, axes: tuple[int, ...]) -> float:
    return float(np.max(np.linalg.norm(a - b, axis=axes) / np.linalg.norm(b, axis=axes)))


@pytest.mark.parametrize("requires_grad", [False, True], ids=["plain", "requires_grad"])
@pytest.mark.parametrize("kind", ["paper", "committee"])
def test_tensors_in_tensors_out(kind: str, requires_grad: bool) -> None:
    model, v, w = _problem(kind)
    got = closed_forms(model, _tensor(v, requires_grad), _tensor(w, requires_grad))
    for key, x in got.items():
        assert isinstance(x, torch.Tensor) and x.dtype == torch.float64, key
    worst = worst_difference(model, v, w, {k: _numpy(x) for k, x in got.items()}, closed_forms(model, v, w))
    bad = {k: rel for k, (rel, _) in worst.items() if not rel <= EQUAL}
    assert not bad, bad


def test_float32_refused() -> None:
    model, v, w = _problem("paper")
    with pytest.raises(TypeError, match=r"w has dtype torch.float32.*torch.float64"):
        model.loss(_tensor(v[0]), torch.tensor(w[0], dtype=torch.float32))


def test_numpy_arrays_are_copied_into_tensors() -> None:
    """PyTorch shares the memory of a numpy array it is given (and warns, once per process, if the array is read-only,
    as a model's teacher arrays are): the teacher's constants and numpy arguments mixed with tensors are copied."""
    a = np.array([0.3, 1.0, -0.7])
    a.setflags(write=False)
    xp = namespace(_tensor(a))
    assert not np.shares_memory(_numpy(constant(xp, a)), a)
    assert not np.shares_memory(_numpy(as_array(a, "v", like=(_tensor(a),))), a)
    # the warning is emitted once per process: a fresh one, with warnings as errors
    code = (
        "import numpy as np, torch, popgrad as pg\n"
        "a = np.array([0.3, 1.0, -0.7]); a.setflags(write=False)\n"
        "w = torch.tensor([0.2, 1.0, -0.4, 0.1], dtype=torch.float64)\n"
        "pg.Model([1.0, -0.5, 2.0], [1.0, 0.0, 0.0, 0.0]).loss(a, w)\n"
    )
    done = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.parametrize("kind", ["paper", "committee"])
def test_autograd_of_loss_is_the_closed_form_gradient(kind: str) -> None:
    """``backward`` through Lemma 1's implementation against Lemma 2's (``model.grad``) at 1000 random points."""
    model, v, w = _problem(kind)
    vt, wt = _tensor(v, True), _tensor(w, True)
    torch.sum(model.loss(vt, wt)).backward()
    axes = (-1,) if kind == "paper" else (-2, -1)
    for got, ref in zip((vt.grad, wt.grad), model.grad(v, w), strict=True):
        assert _relative(_numpy(got), ref, axes) <= AUTODIFF


def test_clip_level_is_differentiable() -> None:
    """d E g_crelu(c) / dc by autograd against a central difference of the numpy closed forms in c."""
    model, v, w = _problem("paper")
    v, w = v[:20], w[:20]
    d = np.random.default_rng(1).normal(size=w.shape)
    c, h = 1.7, 1e-5
    ct = torch.tensor(c, dtype=torch.float64, requires_grad=True)
    torch.sum(model.coarse_grad(_tensor(v), _tensor(w), pg.ste.clipped_relu(ct))[1] * _tensor(d)).backward()
    fd = [np.sum(model.coarse_grad(v, w, pg.ste.clipped_relu(x))[1] * d) for x in (c + h, c - h)]
    assert float(ct.grad) == pytest.approx((fd[0] - fd[1]) / (2 * h), rel=1e-7)


def _per_point(got, ref) -> float:
    """Largest normwise relative difference over the points (axis 0) of two batches."""
    got, ref = _numpy(got), np.asarray(ref.detach() if isinstance(ref, torch.Tensor) else ref)
    return _relative(got.reshape(len(got), -1), ref.reshape(len(ref), -1), (-1,))


COLUMNS = (*range(1, 13), 31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 256, 257, 300)


def test_compensated_products_exact() -> None:
    """No product contracted with the sum it feeds into a fused multiply-add (``popgrad._xp.rounded`` guards JAX
    only): ``two_prod`` equals numpy's bit for bit, and ``dot2`` is within its bound of the exact dot product at
    1..8 rows x 1..300 columns.  (``dot2``'s low part is not numpy's bit for bit: the plain float64 sum of the
    error terms runs in another order; a contracted product would be off by u * sum|x_i y_i|, not u^2.)"""
    rng = np.random.default_rng(2)
    for rows in range(1, 9):
        for cols in COLUMNS:
            x, y = rng.normal(size=(2, rows, cols)) * np.exp(5 * rng.normal(size=(2, rows, cols)))
            for got, ref in zip(two_prod(_tensor(x), _tensor(y)), two_prod(x, y), strict=True):
                np.testing.assert_array_equal(_numpy(got), ref)
            hi, lo = (_numpy(z) for z in dot2(_tensor(x), _tensor(y)))
            bound = (np.ceil(np.log2(cols)) + 2) ** 2 * Fraction(2.0**-106)
            for i in range(rows):
                products = [Fraction(a) * Fraction(b) for a, b in zip(x[i], y[i], strict=True)]
                error = abs(Fraction(hi[i]) + Fraction(lo[i]) - sum(products))
                assert error <= bound * sum(abs(p) for p in products), (rows, cols, i)


@pytest.mark.parametrize(("total", "special"), [(40, 40), (1000, 30), (4000, 200), (1000, 500)])
def test_accurate_rows_equal_numpy(total: int, special: int) -> None:
    """PyTorch takes the generic route of ``popgrad.geometry._replace_rows``: every row computed on the accurate
    paths, ``where`` selecting (``tests/test_jax_geometry.py`` for the rows)."""
    w, w_star, _ = batch(total, special)
    assert_same(tuple(_numpy(x) for x in fields(_tensor(w), _tensor(w_star))), fields(w, w_star))


def test_tiny_angles_survive_end_to_end() -> None:
    model, v, w = tiny_angle_problem()
    assert_rows_close(_numpy(model.grad(_tensor(v), _tensor(w))[1]), model.grad(v, w)[1])


def test_autograd_through_accurate_rows() -> None:
    """The rows computed on the accurate paths and dropped by ``where`` must not poison the gradient (0 * inf):
    finite everywhere, and the closed form's gradient wherever the loss is differentiable (sin theta > 1e-6)."""
    model, v, w = tiny_angle_problem()
    wt = _tensor(w, True)
    torch.sum(model.loss(_tensor(v), wt)).backward()
    got = _numpy(wt.grad)
    assert np.all(np.isfinite(got))
    keep = np.sin(model.theta(w)) > 1e-6
    ref = model.grad(v[keep], w[keep])[1]
    scale = np.max(np.abs(ref), axis=-1, keepdims=True)  # |df/dw| ~ 1/|w| reaches 1e200: its square overflows
    assert _relative(got[keep] / scale, ref / scale, (-1,)) <= AUTODIFF


def test_torch_func_transforms() -> None:
    """Under ``torch.func`` values are not read (``vmap`` raises on data-dependent control flow): ``vmap`` equals the
    batch, ``vmap(grad)`` the closed-form gradient; a zero filter, which cannot be refused there, gives NaN."""
    from torch.func import grad, vmap

    model, v, w = _problem("paper")
    vt, wt = _tensor(v[:50]), _tensor(w[:50])
    for method in (model.loss, lambda a, b: model.grad(a, b)[1], lambda a, b: model.coarse_grad(a, b, "relu")[1]):
        assert _per_point(vmap(method)(vt, wt), method(vt, wt)) <= EQUAL  # batched kernels round otherwise
    got = _numpy(vmap(grad(model.loss, argnums=1))(vt, wt))
    assert _relative(got, model.grad(v[:50], w[:50])[1], (-1,)) <= AUTODIFF
    committee, V, W = _problem("committee")
    assert _per_point(vmap(committee.loss)(_tensor(V[:50]), _tensor(W[:50])), committee.loss(V[:50], W[:50])) <= EQUAL
    zero = _numpy(vmap(lambda a, b: model.grad(a, b)[1])(vt[:2], torch.zeros((2, 5), dtype=torch.float64)))
    assert np.all(np.isnan(zero))
    with pytest.raises(ValueError, match="zero vector"):  # outside torch.func the values are read
        model.grad(vt[:2], torch.zeros((2, 5), dtype=torch.float64))


def test_meta_device_shapes() -> None:
    """On the ``meta`` device (shapes only) nothing is read: the shapes of the results."""
    model, _, _ = _problem("paper")
    v, w = (torch.empty((7, k), dtype=torch.float64, device="meta") for k in (4, 5))
    assert model.loss(v, w).shape == (7,) and model.coarse_grad(v, w, "relu")[1].shape == (7, 5)
