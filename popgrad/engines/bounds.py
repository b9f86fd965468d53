r"""A-priori bounds on the magnitude of the terms of each expectation, for the engines' error estimates.

With :math:`L = \max|\sigma|`, :math:`J = \sum_k|J_k|` (the total variation of :math:`\sigma`) and
:math:`A = L(\sum|V| + \sum|V^*|)`, the residual obeys :math:`|e| \le A` for every input, so every term of

* the loss is at most :math:`\tfrac12 A^2`; of :math:`\partial f/\partial V_{ki}`, :math:`LA`;
* :math:`E g_k` (per unit of :math:`\max|\mu'|`), :math:`\|V_k\|_1 A`;
* :math:`\partial f/\partial w_k` (a sum of boundary terms of density at most :math:`\varphi(0)/\|w_k\|` and jump
  at most :math:`J` each), :math:`2\varphi(0)J\|V_k\|_1 A/\|w_k\|`.

Shapes follow the committee: ``loss (...)``, ``grad_v (..., K, m)``, ``grad_w`` and ``coarse`` ``(..., K, n)``.
"""

from __future__ import annotations

import numpy as np

from ..activation import Activation
from ..gaussian import PHI0

__all__ = ["term_bounds"]


def term_bounds(activation: Activation, v_star: np.ndarray, V: np.ndarray, W: np.ndarray) -> dict[str, np.ndarray]:
    """The bounds of the module docstring for a committee ``V (..., K, m)``, ``W (..., K, n)`` (``W`` rows non-zero)."""
    L = float(np.max(np.abs(np.asarray(activation.levels))))
    J = float(np.sum(np.abs(activation.jumps)))
    v1 = np.sum(np.abs(V), axis=-1)  # (..., K)
    A = L * (v1.sum(axis=-1) + np.sum(np.abs(v_star)))  # (...)
    r = np.sqrt(np.einsum("...kn,...kn->...k", W, W))
    ones_w = np.ones(W.shape)
    return {
        "loss": 0.5 * A**2,
        "grad_v": L * A[..., None, None] * np.ones(V.shape),
        "grad_w": (2.0 * PHI0 * J * v1 * A[..., None] / r)[..., None] * ones_w,
        "coarse": (v1 * A[..., None])[..., None] * ones_w,
    }
