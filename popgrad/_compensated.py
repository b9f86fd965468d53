r"""Error-free transformations and a compensated dot product, row-wise and vectorised.

* :func:`two_prod` (Dekker 1971): ``p + e == a * b`` exactly.
* :func:`two_sum` (Knuth): ``s + t == a + b`` exactly.
* :func:`dot2`: the dot products of the rows of two arrays as unevaluated sums ``hi + lo``
  (double-double), in the spirit of Ogita, Rump and Oishi's Dot2 (SIAM J. Sci. Comput. 2005):
  every product is split exactly by :func:`two_prod`, the leading parts are added by a
  pairwise tree of :func:`two_sum` (so every rounding error of the tree is kept exactly), and only
  the error terms, of order :math:`u` times the terms, are added in plain float64.  With
  :math:`u = 2^{-53}` and :math:`P = \sum_i |x_i y_i|`,

  .. math:: |x^\top y - (hi + lo)| \lesssim (\lceil\log_2 n\rceil + 2)^2\, u^2\, P,

  as if computed in twice the working precision.  O(n) time and memory per row.

Valid while no product or partial sum overflows and no product underflows to a subnormal
(the callers scale their inputs by exact powers of two; products that underflow are then
negligible next to the result).

Arrays of any Array API namespace (:mod:`popgrad._xp`).  The transformations need every operation rounded
once, as written: no reassociation, and no fused multiply-add contracted from a rounded product and the sum
it feeds.  XLA on the CPU always allows that contraction (``a * b + c`` under ``jax.jit`` becomes one
``fma`` in about a quarter of the elements, depending on how the operations are fused), so on JAX the rounded
products of :func:`two_prod` (``a * b`` and Veltkamp's ``(2**27 + 1) * a``) pass through
:func:`popgrad._xp.rounded`, an identity the compiler cannot contract through.  The other
products are exact (halves of at most 27 bits) and lose nothing to a contraction.  ``tests/test_jax.py``
checks :func:`dot2` under ``jit`` against numpy, at the shapes where XLA contracted.
"""

from __future__ import annotations

import numpy as np

from ._xp import namespace, rounded

__all__ = ["dot2", "two_prod", "two_sum"]

_SPLITTER = 134217729.0  # 2**27 + 1, Veltkamp's constant for float64


def two_prod(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Error-free product: ``p + e == a * b`` exactly, ``p = fl(a * b)`` (broadcasting)."""
    xp = namespace(a, b)
    p = rounded(xp, a * b)
    ca = rounded(xp, _SPLITTER * a)
    a_hi = ca - (ca - a)
    a_lo = a - a_hi
    cb = rounded(xp, _SPLITTER * b)
    b_hi = cb - (cb - b)
    b_lo = b - b_hi
    e = ((a_hi * b_hi - p) + a_hi * b_lo + a_lo * b_hi) + a_lo * b_lo
    return p, e


def two_sum(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Error-free sum: ``s + t == a + b`` exactly, ``s = fl(a + b)`` (broadcasting)."""
    s = a + b
    b_virtual = s - a
    t = (a - (s - b_virtual)) + (b - b_virtual)
    return s, t


def _tree_sum(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row sums of ``x`` (k, n) as ``hi + lo``: a pairwise two_sum tree, its errors summed in float64."""
    xp = namespace(x)
    errors = xp.zeros_like(x[:, 0])
    while x.shape[1] > 1:
        if x.shape[1] % 2:
            x = xp.concat([x, xp.zeros_like(x[:, :1])], axis=1)
        x, t = two_sum(x[:, 0::2], x[:, 1::2])
        errors = errors + xp.sum(t, axis=1)
    return x[:, 0], errors


def dot2(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise dot products of ``x`` and ``y`` (k, n) as ``hi + lo`` (k,), |lo| <= ulp(hi)/2.

    Examples
    --------
    >>> x = np.array([[1e16, 1.0, -1e16]])
    >>> float(np.sum(x)), dot2(x, np.ones((1, 3)))  # the plain sum loses the 1
    (0.0, (array([1.]), array([0.])))
    """
    p, e = two_prod(x, y)
    hi, lo = _tree_sum(p)
    return two_sum(hi, lo + namespace(e).sum(e, axis=1))
