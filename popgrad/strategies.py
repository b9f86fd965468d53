r"""Hypothesis strategies for valid popgrad problems (needs the ``test`` extra: ``hypothesis``).

Reusable in any test suite::

    from hypothesis import given
    from popgrad.strategies import problems

    @given(problems())
    def test_something(problem):
        model, v, w = problem.model, problem.v, problem.w

Every strategy draws finite float64 data only (vector entries are 0 or at least :math:`10^{-30}` in
magnitude, so that no product underflows); angles and norms cover the edge regions (angles
within :math:`10^{-10}` of 0 and :math:`\pi`, exactly 0 and :math:`\pi`, :math:`\|w\|` from
:math:`10^{-8}` to :math:`10^{8}`, ``m = 1``, ``n = 1`` and ``2``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

from .critical import w_at_angle
from .models import Model

__all__ = ["Problem", "angles", "norms", "problems", "spurious_teachers", "teachers", "unit_orthogonal"]


@dataclass(frozen=True)
class Problem:
    """A teacher and one student point ``v (m,)``, ``w (n,)`` at angle ``theta`` and norm ``r``."""

    model: Model
    v: np.ndarray
    w: np.ndarray
    theta: float
    r: float


def _entry(x: float) -> float:
    """Entries below 1e-30 in magnitude become 0: products of two of them would underflow."""
    return x if abs(x) >= 1e-30 else 0.0


def _vector(size: int, lo: float = -3.0, hi: float = 3.0) -> st.SearchStrategy[np.ndarray]:
    entries = st.floats(lo, hi, allow_nan=False, allow_infinity=False).map(_entry)
    return st.lists(entries, min_size=size, max_size=size).map(lambda x: np.array(x, dtype=np.float64))


def angles(interior: bool = False) -> st.SearchStrategy[float]:
    r"""Angles in :math:`[0, \pi]` (``interior``: in :math:`(0, \pi)`), mixing uniform draws with draws
    :math:`10^{-k}` from either end (``k`` up to 10) and, unless ``interior``, the ends themselves."""
    near = st.floats(1.0, 10.0).map(lambda k: 10.0**-k)
    parts = [
        st.floats(1e-3, np.pi - 1e-3),
        near,
        near.map(lambda d: np.pi - d),
    ]
    if not interior:
        parts.append(st.sampled_from([0.0, np.pi]))
    return st.one_of(*parts)


def norms() -> st.SearchStrategy[float]:
    r"""Filter norms :math:`10^{U(-8, 8)}`, weighted towards the ordinary range :math:`[0.1, 10]`."""
    return st.one_of(st.floats(-1.0, 1.0), st.floats(-8.0, 8.0)).map(lambda e: 10.0**e)


def teachers(
    m: st.SearchStrategy[int] | None = None, n: st.SearchStrategy[int] | None = None
) -> st.SearchStrategy[Model]:
    """Teachers with ``m`` in 1..8, ``n`` in 1..6 (or the given strategies), ``‖v*‖ >= 0.1``."""
    m = st.integers(1, 8) if m is None else m
    n = st.integers(1, 6) if n is None else n

    @st.composite
    def build(draw: st.DrawFn) -> Model:
        mm, nn = draw(m), draw(n)
        v_star = draw(_vector(mm).filter(lambda x: np.linalg.norm(x) >= 0.1))
        w_star = draw(_vector(nn).filter(lambda x: np.linalg.norm(x) >= 0.1))
        return Model(v_star, w_star)

    return build()


def spurious_teachers(n: st.SearchStrategy[int] | None = None) -> st.SearchStrategy[Model]:
    r"""Teachers with ``m >= 2``, ``n >= 2`` meeting Prop. 1's condition with a margin:
    :math:`(1^\top v^*)^2 \le 0.9\cdot\tfrac{m+1}{2}\|v^*\|^2`."""
    n = st.integers(2, 6) if n is None else n

    def ok(model: Model) -> bool:
        s, nn = model.v_star.sum(), model.v_star @ model.v_star
        return s**2 <= 0.9 * 0.5 * (model.m + 1) * nn

    return teachers(m=st.integers(2, 8), n=n).filter(ok)


@st.composite
def unit_orthogonal(draw: st.DrawFn, w_star: np.ndarray) -> np.ndarray:
    """A unit vector orthogonal to ``w_star`` (``n >= 2``)."""
    while True:
        d = draw(_vector(w_star.size, -1.0, 1.0))
        for _ in range(2):  # Gram-Schmidt twice: one pass leaves eps / |d| of w_star in d ("twice is enough")
            d = d - (d @ w_star) / (w_star @ w_star) * w_star
        if np.linalg.norm(d) > 1e-3:
            return d / np.linalg.norm(d)


@st.composite
def problems(
    draw: st.DrawFn,
    models: st.SearchStrategy[Model] | None = None,
    interior: bool = False,
) -> Problem:
    r"""A teacher and a student point with controlled angle and norm.

    ``interior=True`` keeps :math:`\theta \in (0, \pi)` (requires ``n >= 2`` teachers; ``n = 1``
    teachers are then redrawn).  With ``n = 1`` the angle is 0 or :math:`\pi`.
    """
    model = draw((teachers() if models is None else models).filter(lambda mdl: mdl.n >= 2 or not interior))
    r = draw(norms())
    if model.n == 1:
        theta = draw(st.sampled_from([0.0, np.pi]))
        direction = None
    else:
        theta = draw(angles(interior))
        direction = draw(unit_orthogonal(model.w_star))
    w = w_at_angle(model.w_star, theta, r, direction)
    scale = np.linalg.norm(model.v_star)
    v = draw(_vector(model.m, -2.0, 2.0)) * scale
    return Problem(model, v, w, float(theta), float(r))
