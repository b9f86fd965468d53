r"""The K-filter binary committee assembled by sympy from its definition, rows independent.

Student :math:`V (K\times m)`, :math:`W (K\times n)`, teacher :math:`V^* (K^*\times m)`, :math:`W^*`; units
:math:`a = 0, \dots, F-1` (:math:`F = K + K^*`: the students, then the teachers) with output weights
:math:`C_a = V_a` (student) or :math:`-V^*_{a-K}` (teacher), so that :math:`e = y - y^* = \sum_{a,i}C_{ai}\sigma_{ai}`,
:math:`\sigma_{ai} = \sigma(z_i^\top w_a)`.  The rows :math:`z_i` are independent, hence

.. math:: E[\sigma_{ai}\sigma_{bj}] = P_{ab}\ (i = j), \qquad E\sigma_a\,E\sigma_b\ (i \ne j),

with :math:`P_{aa} = E\sigma` (:math:`\sigma^2 = \sigma`) and :math:`P_{ab}` the pair probability of
:mod:`popgrad.symbolic.kernels` at the pair's angle :math:`\theta_{ab}`, and sympy expands

.. math:: f = \tfrac12 E e^2 = \tfrac12\sum_{a,i}\sum_{b,j} C_{ai}C_{bj}\,E[\sigma_{ai}\sigma_{bj}]

literally (no variogram, no patch sums: an assembly independent of :mod:`popgrad.assembly`), differentiates it
for :math:`\partial f/\partial V` and :math:`\partial f/\partial\theta_{kb}` (then
:math:`\partial f/\partial w_k = \sum_{b\ne k}\partial f/\partial\theta_{kb}\cdot(-u_{kb}/\|w_k\|)`), and expands
the coarse gradient :math:`E g_k = \sum_i V_{ki}\sum_{a,j}C_{aj}E[z_i\mu'(z_i^\top w_k)\sigma_{aj}]` with

.. math:: E[z_i\mu'_{ik}\sigma_{aj}] = \alpha_k\hat w_k E\sigma\ (j \ne i), \quad \beta_k\hat w_k\ (j = i, a = k),
          \quad c^w_{ka}\hat w_k + c^*_{ka}\hat w_a\ (j = i, a \ne k),

the direction vectors :math:`\hat w_a` being placeholder symbols whose coefficients sympy collects.  Everything
is lambdified to mpmath once per structure :math:`(K, K^*, m)` and cached.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from dataclasses import dataclass

import sympy as sp

from .kernels import mean_sigma, pair_probability
from .paper import THETA

__all__ = ["Committee", "committee", "pair_index"]


def pair_index(a: int, b: int) -> tuple[int, int]:
    """The unordered pair ``(min, max)`` of two distinct units."""
    if a == b:
        raise ValueError("a pair needs two distinct units")
    return (a, b) if a < b else (b, a)


@dataclass(frozen=True)
class Committee:
    r"""The sympy assembly of one structure, and its lambdified evaluators.

    Attributes
    ----------
    K, K_star, m : int
    V, V_star : sympy Matrix (K, m), (K*, m) of symbols
    theta : dict (a, b) -> Symbol, for every pair a < b of the F units
    alpha, beta : tuple of K symbols; c_w, c_star : dict (k, a) -> Symbol for student k and unit a != k
    loss : sympy expression :math:`f`
    grad_v : sympy Matrix (K, m) :math:`\partial f/\partial V`
    d_theta : dict (k, b) -> :math:`\partial f/\partial\theta_{kb}` for student k, unit b != k
    coarse : dict (k, a) -> coefficient of :math:`\hat w_a` in :math:`E g_k` (a = k included)
    """

    K: int
    K_star: int
    m: int
    V: sp.Matrix
    V_star: sp.Matrix
    theta: dict
    alpha: tuple
    beta: tuple
    c_w: dict
    c_star: dict
    loss: sp.Expr
    grad_v: sp.Matrix
    d_theta: dict
    coarse: dict

    @property
    def F(self) -> int:
        return self.K + self.K_star

    def others(self, k: int) -> list[int]:
        """The units b != k, in the order of the evaluators' ``d_theta``, ``c_w``, ``c_star`` and ``coarse``."""
        return [b for b in range(self.F) if b != k]

    @functools.cached_property
    def loss_function(self) -> Callable:
        """``(V (K*m), V* (K**m), theta (pairs a < b)) -> [f, df/dV (K*m), df/dtheta_kb (K*(F-1))]``, mpmath."""
        out = [self.loss, *self.grad_v, *(self.d_theta[k, b] for k in range(self.K) for b in self.others(k))]
        return sp.lambdify(self._loss_args, out, modules="mpmath", cse=True)

    @functools.cached_property
    def coarse_function(self) -> Callable:
        """``(V, V*, alpha (K), beta (K), c_w (K*(F-1)), c_star (K*(F-1))) -> [coef of w_hat_a in E g_k]``.

        Output order: for each student ``k``, first its own direction ``a = k``, then :meth:`others`.
        """
        out = [self.coarse[k, a] for k in range(self.K) for a in (k, *self.others(k))]
        return sp.lambdify(self._coarse_args, out, modules="mpmath", cse=True)

    @property
    def _loss_args(self) -> list:
        return [list(self.V), list(self.V_star), [self.theta[p] for p in sorted(self.theta)]]

    @property
    def _coarse_args(self) -> list:
        pairs = [(k, b) for k in range(self.K) for b in self.others(k)]
        return [
            list(self.V),
            list(self.V_star),
            list(self.alpha),
            list(self.beta),
            [self.c_w[p] for p in pairs],
            [self.c_star[p] for p in pairs],
        ]


def _check_pair_probability_at_the_ends() -> sp.Expr:
    """The interior P(theta) is a line that takes the end values of P: one expression on [0, pi]."""
    line = pair_probability("interior")
    for end, region in ((0, "parallel"), (sp.pi, "antiparallel")):
        if sp.simplify(line.subs(THETA, end) - pair_probability(region)) != 0:
            raise AssertionError(f"P(theta) at theta = {end} is not the {region} value")
    return line


@functools.cache
def committee(K: int, K_star: int, m: int) -> Committee:
    """The assembly of the structure ``(K, K*, m)`` (module docstring); built once per structure."""
    for name, val in (("K", K), ("K_star", K_star), ("m", m)):
        if not (isinstance(val, int) and val >= 1):
            raise ValueError(f"{name} must be a positive integer, got {val!r}")
    F = K + K_star
    V = sp.Matrix(K, m, lambda k, i: sp.Symbol(f"V_{k}_{i}", real=True))
    V_star = sp.Matrix(K_star, m, lambda k, i: sp.Symbol(f"Vs_{k}_{i}", real=True))
    C = V.col_join(-V_star)  # (F, m): e = sum_{a,i} C[a, i] sigma(z_i . w_a)
    theta = {(a, b): sp.Symbol(f"theta_{a}_{b}", nonnegative=True) for a, b in itertools.combinations(range(F), 2)}

    mean = mean_sigma()
    line = _check_pair_probability_at_the_ends()

    def moment(a: int, i: int, b: int, j: int) -> sp.Expr:
        if i != j:
            return mean * mean
        return mean if a == b else line.subs(THETA, theta[pair_index(a, b)])

    units = [(a, i) for a in range(F) for i in range(m)]
    loss = sp.Rational(1, 2) * sp.Add(*(C[a, i] * C[b, j] * moment(a, i, b, j) for a, i in units for b, j in units))
    grad_v = V.applyfunc(lambda x: sp.diff(loss, x))
    d_theta = {(k, b): sp.diff(loss, theta[pair_index(k, b)]) for k in range(K) for b in range(F) if b != k}

    alpha = tuple(sp.Symbol(f"alpha_{k}", real=True) for k in range(K))
    beta = tuple(sp.Symbol(f"beta_{k}", real=True) for k in range(K))
    c_w = {(k, a): sp.Symbol(f"cw_{k}_{a}", real=True) for k in range(K) for a in range(F) if a != k}
    c_star = {(k, a): sp.Symbol(f"cs_{k}_{a}", real=True) for k in range(K) for a in range(F) if a != k}
    direction = [sp.Symbol(f"what_{a}") for a in range(F)]  # placeholders for the unit vectors w_hat_a

    def row_expectation(k: int, i: int, a: int, j: int) -> sp.Expr:
        """E[z_i mu'(z_i . w_k) sigma(z_j . w_a)] on the placeholder directions."""
        if i != j:
            return alpha[k] * direction[k] * mean
        if a == k:
            return beta[k] * direction[k]
        return c_w[k, a] * direction[k] + c_star[k, a] * direction[a]

    coarse = {}
    for k in range(K):
        g = sp.expand(sp.Add(*(V[k, i] * C[a, j] * row_expectation(k, i, a, j) for i in range(m) for a, j in units)))
        leftover = g - sp.Add(*(g.coeff(d) * d for d in direction))
        if sp.expand(leftover) != 0 or any(g.coeff(d).has(*direction) for d in direction):
            raise AssertionError("E g_k is not linear in the directions")
        coarse.update({(k, a): g.coeff(direction[a]) for a in range(F)})
    return Committee(K, K_star, m, V, V_star, theta, alpha, beta, c_w, c_star, loss, grad_v, d_theta, coarse)
