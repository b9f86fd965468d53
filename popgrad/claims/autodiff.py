r"""Automatic differentiation as an independent check of Lemma 2: ``jax.grad`` of ``model.loss`` against ``model.grad``.

The closed forms run on JAX arrays (:mod:`popgrad._xp`), so JAX can differentiate the implementation of Lemma 1's
loss itself; the derivative it finds shares no formula with Lemma 2's gradient (``model.grad``), only the geometry
of the plane.  At every battery point with :math:`\sin\theta > 10^{-6}` (at :math:`\theta \in \{0, \pi\}` the loss
is not differentiable in ``w`` and ``model.grad`` returns the Clarke convention), the normwise relative difference
of :math:`(\partial f/\partial v, \partial f/\partial w)` must be at most ``BOUND`` :math:`= 10^{-12}` of the larger of
the gradient's norm and :math:`10^{-3}` of its natural scale (the size of its terms, as for the quadrature check of
:mod:`popgrad.claims.formulas`): a gradient that is nearly zero (at the global minimum) is the cancellation of terms
of that size, and float64 promises an error relative to them, not to the result.

JAX is an optional extra (``pip install "popgrad[jax]"``); without it :func:`autodiff_gap` returns ``None`` and the
formulas claim leaves its autodiff check out (its values say why).  Compiling the differentiated loss takes seconds
per shape ``(m, n)``: the default run checks the first ``DEFAULT_TEACHERS`` teachers, ``--thorough`` every one.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ..models import Model

__all__ = ["BOUND", "DEFAULT_TEACHERS", "FLOOR", "MIN_SIN", "autodiff_gap", "available"]

BOUND = 1e-12
FLOOR = 1e-3  # relative to the natural scale: the gradient's terms
DEFAULT_TEACHERS = 2
MIN_SIN = 1e-6  # points closer to theta in {0, pi} are left out (f is not differentiable in w there)


def available() -> bool:
    """Whether JAX is installed."""
    return importlib.util.find_spec("jax") is not None


def _scales(model: Model, v: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""Per point the natural scales of ``df/dv`` and ``df/dw``:
    :math:`S = (\|v\|_1 + \|v^*\|_1)^2`, :math:`S/\|w\|`."""
    s = (np.abs(v).sum(axis=-1) + np.abs(model.v_star).sum()) ** 2
    return s, s / np.linalg.norm(w, axis=-1)


def autodiff_gap(model: Model, v: np.ndarray, w: np.ndarray) -> tuple[float, int] | None:
    """Largest relative difference of ``jax.grad(model.loss)`` from ``model.grad`` over points ``v (P, m)``,
    ``w (P, n)`` with :math:`\\sin\\theta > 10^{-6}`, and the number of such points; ``None`` without JAX.

    The difference per point and block (``v``, ``w``) is :math:`\\|a - b\\| / \\max(\\|b\\|, 10^{-3} S)`.
    """
    if not available():
        return None
    import jax
    import jax.numpy as jnp

    keep = np.sin(model.theta(w)) > MIN_SIN
    v, w = v[keep], w[keep]
    if not len(v):
        return 0.0, 0
    gv, gw = model.grad(v, w)
    with jax.enable_x64(True):
        # the points are independent: the gradient of the summed loss is every point's gradient (one compilation)
        total = jax.jit(jax.grad(lambda a, b: jnp.sum(model.loss(a, b)), argnums=(0, 1)))
        av, aw = (np.asarray(x) for x in total(jnp.asarray(v), jnp.asarray(w)))
    worst = 0.0
    for a, b, s in zip((av, aw), (gv, gw), _scales(model, v, w), strict=True):
        den = np.maximum(np.linalg.norm(b, axis=-1), FLOOR * s)
        worst = max(worst, float(np.max(np.linalg.norm(a - b, axis=-1) / den)))
    return worst, len(v)
