r"""Orthonormal bases of spans of filters from exact arithmetic, for the verification engines.

Float64 inputs are exact rationals, so every invariant of a set of filters can be computed exactly and
each derived float64 number rounded once (or twice: a correctly rounded ratio, then its square root).

* :func:`exact_plane` -- two vectors ``(w, w*)`` (the one-filter model), with :class:`fractions.Fraction`:

  .. math::
      W = \|w\|^2,\quad S = \|w^*\|^2,\quad D = w^\top w^*,\quad G = WS - D^2 \;(\ge 0),\quad
      p = W w^* - D w \;(= W\,P_w w^*),

  :math:`\sin^2\theta = G/(WS)`, :math:`\cos\theta = D/\sqrt{WS}`, ``u = p/‖p‖`` with :math:`\|p\|^2 = WG`;
  the plane degenerates to a line exactly when :math:`G = 0`.

* :func:`exact_span` -- any number F of vectors (a committee's K student and K* teacher filters): the
  fraction-free (integral) Gram--Schmidt process (Cohen, *A Course in Computational Algebraic Number
  Theory*, Alg. 2.6.7) on the vectors scaled to integers by one common power of two.  With
  :math:`d_p` the Gram determinant of the first p kept vectors (:math:`d_0 = 1`) and
  :math:`\lambda_{a,p} = d_p\,\langle f_a, p_p\rangle/\|p_p\|^2` (integers), the orthogonal vectors have
  :math:`\|p_p\|^2 = d_p/d_{p-1}` and :math:`P_p = d_{p-1}p_p \in \mathbb Z^n`, so

  .. math::
      q_p = \frac{P_p}{\sqrt{d_{p-1}d_p}},\qquad
      \langle f_a, q_p\rangle = \frac{\lambda_{a,p}}{\sqrt{d_{p-1}d_p}},

  each rounded once from an exact ratio.  A vector in the span of the earlier ones has residual
  determinant exactly 0 and adds no basis vector, so the dimension ``d`` is exact.  For two vectors this
  is :func:`exact_plane`'s basis bit for bit (``q = (ŵ, u)``).

Accurate to a few ulps at any angle (two filters :math:`10^{-300}` apart included) and any norm whose
square is not representable (``‖w‖`` from :math:`10^{-300}` to :math:`10^{300}`: nothing is squared in
float64).  Independent of :mod:`popgrad.geometry`, whose plane geometry the engines check.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

__all__ = ["ExactPlane", "ExactSpan", "exact_plane", "exact_span"]


# ---------------------------------------------------------------------------------------------
# Correctly rounded square roots of exact ratios


def _ldexp(x: float, e: int) -> float:
    """``x * 2**e`` (inf on overflow, a subnormal or 0 on underflow)."""
    try:
        return math.ldexp(x, e)
    except OverflowError:
        return math.copysign(math.inf, x)


def _ratio(num: int, den: int) -> float:
    """``num / den`` correctly rounded (Python's integer true division); +-inf when it overflows."""
    try:
        return num / den
    except OverflowError:
        return math.inf if (num > 0) == (den > 0) else -math.inf


def _sqrt_ratio(num: int, den: int, exp2: int = 0) -> float:
    r""":math:`\sqrt{num/den}\,2^{exp2}` for integers ``num >= 0``, ``den > 0``.

    The ratio is scaled by an even power of two into [1/4, 4] first, so that neither the ratio nor the root
    under- or overflows; scaling by :math:`4^k` commutes with correct rounding and with the square root, so
    the result is :math:`\sqrt{\mathrm{fl}(num/den)}` rounded, times :math:`2^{exp2}`, whatever the magnitudes.
    """
    if num == 0:
        return 0.0
    k = (num.bit_length() - den.bit_length()) // 2
    q = num / (den << (2 * k)) if k >= 0 else (num << (-2 * k)) / den
    return _ldexp(math.sqrt(q), k + exp2)


def _signed_root(x: int, den: int, exp2: int = 0) -> float:
    r""":math:`x/\sqrt{den}\cdot 2^{exp2}`, from the correctly rounded :math:`x^2/den`."""
    root = _sqrt_ratio(x * x, den, exp2)
    return -root if x < 0 else root


def _sqrt_fraction(x: Fraction) -> float:
    r""":math:`\sqrt{x}` for an exact ``x >= 0``."""
    return _sqrt_ratio(x.numerator, x.denominator)


def _signed_sqrt_ratio(x: Fraction, y: Fraction) -> float:
    """x / sqrt(y) in float64 (y > 0) via the correctly rounded x^2 / y."""
    root = _sqrt_fraction(x * x / y)
    return -root if x < 0 else root


# ---------------------------------------------------------------------------------------------
# Two vectors: the plane span{w, w*}


@dataclass(frozen=True)
class ExactPlane:
    """Exact invariants of (w, w*); see the module docstring."""

    w: tuple[Fraction, ...]
    W: Fraction
    S: Fraction
    D: Fraction
    G: Fraction
    p: tuple[Fraction, ...]

    @property
    def parallel(self) -> bool:
        return self.G == 0

    def floats(self) -> tuple[float, np.ndarray, np.ndarray, float, float]:
        """(r, w_hat (n,), u (n,), cos, sin) rounded to float64; u = 0, sin = 0 if parallel."""
        r = _sqrt_fraction(self.W)
        w_hat = np.array([_signed_sqrt_ratio(x, self.W) for x in self.w])
        ws = self.W * self.S
        cos = _signed_sqrt_ratio(self.D, ws)
        if self.parallel:
            return r, w_hat, np.zeros_like(w_hat), cos, 0.0
        sin = _sqrt_fraction(self.G / ws)
        pp = self.W * self.G
        u = np.array([_signed_sqrt_ratio(x, pp) for x in self.p])
        return r, w_hat, u, cos, sin


def exact_plane(w: np.ndarray, w_star: np.ndarray) -> ExactPlane:
    """:class:`ExactPlane` of non-zero float vectors ``w (n,)`` and ``w_star (n,)``."""
    wf = tuple(Fraction(float(x)) for x in w)
    sf = tuple(Fraction(float(x)) for x in w_star)
    W = sum((x * x for x in wf), Fraction(0))
    S = sum((x * x for x in sf), Fraction(0))
    D = sum((x * y for x, y in zip(wf, sf, strict=True)), Fraction(0))
    p = tuple(W * y - D * x for x, y in zip(wf, sf, strict=True))
    return ExactPlane(wf, W, S, D, W * S - D * D, p)


# ---------------------------------------------------------------------------------------------
# Any number of vectors: the span of a committee's filters


@dataclass(frozen=True)
class ExactSpan:
    r"""An orthonormal basis of the span of F non-zero vectors :math:`f_a \in \mathbb R^n`, and the
    vectors' coordinates in it, each entry rounded from exact values (module docstring).

    Attributes
    ----------
    basis : ndarray (n, d)
        Orthonormal columns :math:`q_1..q_d` (Gram--Schmidt order of the vectors), d = rank <= F.
    coords : ndarray (F, d)
        :math:`\langle f_a, q_p\rangle\,2^{-s_a}`: coordinates, scaled to norm in [1/2, 1] per vector.
    exponents : ndarray (F,) of int
        :math:`s_a`; ``ldexp(x @ coords[a], exponents[a])`` is :math:`x^\top(\text{coordinates of } f_a)`
        without under- or overflow of the intermediate sums.
    norms : ndarray (F,)
        :math:`\|f_a\|` (inf if it overflows float64, which needs entries near the largest float).
    units : ndarray (F, n)
        :math:`\hat f_a = f_a/\|f_a\|`.
    unit_coords : ndarray (F, d)
        Coordinates of :math:`\hat f_a` in the basis.
    along : ndarray (F, F)
        :math:`\langle f_a, f_b\rangle / \|f_a\|^2 = \hat f_a^\top f_b/\|f_a\|`: moving :math:`x` by
        :math:`\delta\hat f_a/\|f_a\|` changes :math:`x^\top f_b` by :math:`\delta\cdot` ``along[a, b]``.
    perp : ndarray (P, F, d)
        Coordinates of :math:`P_{f_k} f_a = f_a - \text{along}[k, a]\,f_k` for the first P vectors k (argument
        ``perp_of``), times :math:`2^{-s_a}`: small where :math:`f_a` is nearly parallel to :math:`f_k`, yet
        accurate to a few ulps (one rounding of an exact value, not a difference of rounded numbers), and
        exactly 0 where they are parallel.
    sin2 : ndarray (P, F)
        :math:`\sin^2\angle(f_k, f_a) = 1 - \langle f_k, f_a\rangle^2/(\|f_k\|^2\|f_a\|^2)` for the same k,
        rounded once from the exact ratio.
    """

    basis: np.ndarray
    coords: np.ndarray
    exponents: np.ndarray
    norms: np.ndarray
    units: np.ndarray
    unit_coords: np.ndarray
    along: np.ndarray
    perp: np.ndarray
    sin2: np.ndarray

    @property
    def dim(self) -> int:
        return self.basis.shape[1]


def _integers(vectors: np.ndarray) -> tuple[list[list[int]], int]:
    """The vectors as integers times one common power of two: ``(rows of ints, E)``, exactly."""
    parts = [[math.frexp(float(x)) for x in row] for row in vectors]
    exps = [e - 53 for row in parts for m, e in row if m != 0.0]
    if not exps:
        return [[0] * len(row) for row in parts], 0
    E = min(exps)
    return [[int(m * 2**53) << (e - 53 - E) if m != 0.0 else 0 for m, e in row] for row in parts], E


def _dot(a: list[int], b: list[int]) -> int:
    return sum(x * y for x, y in zip(a, b, strict=True))


def _exact_div(a: int, b: int) -> int:
    q, rem = divmod(a, b)
    if rem:  # pragma: no cover - the integral Gram-Schmidt divisions are exact (Cohen, Prop. 2.6.6)
        raise ArithmeticError("inexact division in the integral Gram-Schmidt process")
    return q


def exact_span(vectors: np.ndarray, perp_of: int = 0) -> ExactSpan:
    """:class:`ExactSpan` of the rows of ``vectors`` (F, n), all non-zero and finite; ``perp`` for the first
    ``perp_of`` of them."""
    vectors = np.asarray(vectors, dtype=np.float64)
    F, n = vectors.shape
    N, E = _integers(vectors)
    gram = [[_dot(N[a], N[b]) if b <= a else 0 for b in range(F)] for a in range(F)]
    for a in range(F):
        if gram[a][a] == 0:
            raise ValueError(f"vector {a} is zero: its direction is undefined")
        for b in range(a + 1, F):
            gram[a][b] = gram[b][a]

    kept: list[int] = []  # indices of the vectors that add a basis vector, in order
    d = [1]  # Gram determinants d_0 = 1, d_1, ..., of the kept vectors
    lam: list[list[int]] = []  # lam[a][p-1] = lambda_{a,p}; a kept vector's own entry is d_p
    P: list[list[int]] = []  # P_p = d_{p-1} p_p, integer vectors
    for a in range(F):
        row: list[int] = []
        for p, b in enumerate(kept, start=1):
            u = gram[a][b]
            for ell in range(1, p):
                u = _exact_div(d[ell] * u - row[ell - 1] * lam[b][ell - 1], d[ell - 1])
            row.append(u)
        u = gram[a][a]
        for ell in range(1, len(kept) + 1):
            u = _exact_div(d[ell] * u - row[ell - 1] ** 2, d[ell - 1])
        if u != 0:
            p = len(kept) + 1
            coef = [Fraction(row[ell - 1] * d[p - 1], d[ell] * d[ell - 1]) for ell in range(1, p)]
            den = math.lcm(*(c.denominator for c in coef)) if coef else 1
            sub = [0] * n
            for c, Pl in zip(coef, P, strict=True):
                k = c.numerator * (den // c.denominator)
                sub = [s + k * x for s, x in zip(sub, Pl, strict=True)]
            P.append([d[p - 1] * x - _exact_div(s, den) for x, s in zip(N[a], sub, strict=True)])
            kept.append(a)
            d.append(u)
            row.append(u)
        lam.append(row)

    dim = len(kept)
    basis = np.array([[_signed_root(x, d[p - 1] * d[p]) for x in P[p - 1]] for p in range(1, dim + 1)]).T
    coords = np.zeros((F, dim))
    unit_coords = np.zeros((F, dim))
    exponents = np.zeros(F, dtype=np.int64)
    for a in range(F):
        g = gram[a][a]
        exponents[a] = s = (g.bit_length() + 1) // 2 + E  # |f_a| 2^-s in [1/2, 1]
        for p, x in enumerate(lam[a], start=1):
            coords[a, p - 1] = _signed_root(x, d[p - 1] * d[p], E - s)
            unit_coords[a, p - 1] = _signed_root(x, d[p - 1] * d[p] * g)
    norms = np.array([_sqrt_ratio(gram[a][a], 1, E) for a in range(F)])
    units = np.array([[_signed_root(x, gram[a][a]) for x in N[a]] for a in range(F)])
    along = np.array([[_ratio(gram[a][b], gram[a][a]) for b in range(F)] for a in range(F)])
    perp = np.zeros((perp_of, F, dim))
    sin2 = np.zeros((perp_of, F))
    for k in range(perp_of):
        gk = gram[k][k]
        for a in range(F):
            sin2[k, a] = _ratio(gk * gram[a][a] - gram[a][k] ** 2, gk * gram[a][a])
            for p in range(1, dim + 1):
                la = lam[a][p - 1] if p <= len(lam[a]) else 0
                lk = lam[k][p - 1] if p <= len(lam[k]) else 0
                num = la * gk - gram[a][k] * lk  # (lambda_a - along[k, a] lambda_k) G_kk, exactly
                perp[k, a, p - 1] = _signed_root(num, gk * gk * d[p - 1] * d[p], E - int(exponents[a]))
    return ExactSpan(basis.reshape(n, dim), coords, exponents, norms, units, unit_coords, along, perp, sin2)
