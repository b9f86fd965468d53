r"""A network of binary- or staircase-activated units, assembled from pairwise Gaussian expectations.

The model (``derivations/assembly.md``): student :math:`V \in \mathbb R^{K\times m}`,
:math:`W \in \mathbb R^{K\times n}`, teacher :math:`V^*, W^*` with :math:`K^*` filters, input :math:`Z` with
i.i.d. :math:`N(0, 1)` rows :math:`z_i`,

.. math:: y(Z) = \textstyle\sum_{k,i} V_{ki}\,\sigma(z_i^\top w_k), \qquad e = y - y^*, \qquad \ell = \tfrac12 e^2,

:math:`f = E\ell`; the coarse gradient of filter :math:`k` is
:math:`g_k = \sum_i z_i\,\mu'(z_i^\top w_k)\,V_{ki}\,e`.  ``K = K* = 1`` is the paper's model.

Write every unit (filter :math:`a` of the :math:`F = K + K^*` filters on patch :math:`i`) with its signed
output weight :math:`C_{ai}` (:math:`V` for the student, :math:`-V^*` for the teacher), so
:math:`e = \sum_{a,i} C_{ai}\sigma_{ai}`.
Rows are independent, so with :math:`\mu_a, v_a` the mean and variance of :math:`\sigma(z^\top w_a)` and the
variogram :math:`\Gamma_{ab} = \operatorname{Var}(\sigma(z^\top w_a) - \sigma(z^\top w_b))`
(:mod:`popgrad.kernels`), :math:`\operatorname{Cov}(\sigma_a, \sigma_b) = \tfrac12(v_a + v_b - \Gamma_{ab})` and

.. math::
    f = \tfrac12\Big[\Big(\textstyle\sum_i u_i\Big)^2 + \textstyle\sum_i T_i\,\omega_i
        - \tfrac12\langle\Gamma, CC^\top\rangle\Big], \qquad u = \mu^\top C,\quad T = 1^\top C,\quad \omega = v^\top C,

(the patch sums :math:`u_i, T_i, \omega_i` keep the loss accurate to a few ulps of :math:`\|V - V^*\|^2` near the
global minimum, where the terms of a plain :math:`E e^2` cancel).  Differentiating,

.. math::
    \frac{\partial f}{\partial C_{ai}} &= \Big(\textstyle\sum u\Big)\mu_a + \tfrac12(v_a T_i + \omega_i)
        - \tfrac12(\Gamma C)_{ai},\\
    \frac{\partial f}{\partial w_k} &= \Big[\Big(\textstyle\sum u\Big)S_k\,\mu_k'
        + \tfrac12(C_k^\top T)\,v_k'\Big]\hat w_k
        - \tfrac12\textstyle\sum_{b \ne k} H_{kb}\,\nabla_{w_k}\Gamma_{kb},\qquad H = CC^\top,\ S = C1,

and with :math:`E[z\mu'(z^\top w_k)] = \alpha_k\hat w_k`, :math:`E[z\mu'\sigma(z^\top w_k)] = \beta_k\hat w_k`,
:math:`E[z\mu'(z^\top w_k)\sigma(z^\top w_b)] = c^w_{kb}\hat w_k + c^*_{kb}\hat w_b` (rows :math:`i \ne j` factorise),

.. math::
    E g_k = \Big[H_{kk}(\beta_k - \mu_k\alpha_k) + \textstyle\sum_{b\ne k}H_{kb}(c^w_{kb} - \mu_b\alpha_k)
            + \alpha_k S_k\textstyle\sum u\Big]\hat w_k + \textstyle\sum_{b \ne k} H_{kb}\,c^*_{kb}\,\hat w_b.

Vectors are kept as coefficients on :math:`\hat w_k`, :math:`\hat w_b` and :math:`u_{kb}` (the unit vector of
:math:`\hat w_b` orthogonal to :math:`\hat w_k`), so that :math:`\langle E g_k, \partial f/\partial w_k\rangle` is
computed from coefficients without cancellation (one pair of filters).

Scale.  :math:`f` depends on :math:`V` and :math:`\sigma` only through the products :math:`V\sigma`, so the
assembly computes with :math:`\sigma/L` and :math:`VL`, :math:`L` the power of two at the largest level of
:math:`\sigma` (exact: the same roundings), and huge or tiny levels overflow only where the results do.

A filter at 0 outputs the constant :math:`\sigma(0)`: :math:`\mu = \sigma(0)`, :math:`v = 0`,
:math:`\Gamma(0, b) = v_b`; the loss is defined there, gradients are not (the caller raises).

Namespaces (:mod:`popgrad._xp`).  The student's arrays may be of any Array API namespace; the teacher's
quantities are computed once, in numpy, and converted to the student's namespace and device.  On numpy, zero
filters are looked for and handled only when present; elsewhere (values cannot be read under ``jax.jit``)
every point is computed as if it might have one (:func:`where`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from types import ModuleType, SimpleNamespace

import numpy as np

from . import kernels
from ._xp import Array, constant, device_of, einsum, is_numpy, namespace
from .activation import Activation
from .geometry import Plane, plane_of_arrays
from .kernels.base import UnitMoments
from .ste import STE

__all__ = ["Assembly", "FilterGradients"]


@dataclass(frozen=True)
class FilterGradients:
    r"""A gradient with respect to the filters, as coefficients on basis vectors; arrays ``(..., K[, P])``.

    ``vector = own[..., None] * w_hat + sum_b (on_b * basis_b)``.  For a true gradient the ``basis`` are
    the :math:`u_{kb}`; for a coarse gradient the :math:`\hat w_b`.
    """

    own: np.ndarray  # (..., K)
    on: np.ndarray  # (..., K, P)
    w_hat: np.ndarray  # (..., K, n)
    basis: np.ndarray  # (..., K, P, n)

    @cached_property
    def vector(self) -> np.ndarray:
        """The gradient, ``(..., K, n)``."""
        xp = namespace(self.own, self.basis)
        return self.own[..., None] * self.w_hat + einsum(xp, "...kp,...kpn->...kn", self.on, self.basis)


class _Point:
    """Everything the assembly needs at one batch of student weights (computed once, on demand)."""

    def __init__(self, asm: Assembly, V: np.ndarray, W: np.ndarray) -> None:
        self.asm = asm
        self.xp = xp = namespace(V, W)
        self.V, self.W = V, W
        self.K = V.shape[-2]
        self.teacher = asm.constants(xp, device_of(V, W))
        self.zero = ~xp.any(W != 0, axis=-1)  # (..., K)
        # values cannot be read in every namespace (jax.jit): there zero filters are always allowed for
        self.has_zero = bool(np.any(self.zero)) if is_numpy(xp) else True
        # zero filters get a stand-in direction for the plane computations; their terms are overridden
        self.Wsafe = xp.where(self.zero[..., None], self.teacher.w_star[:1, :], W) if self.has_zero else W

    def eye(self, k: int) -> Array:
        """The boolean identity of size ``k`` in the point's namespace."""
        mask = np.eye(k, dtype=bool)
        return mask if is_numpy(self.xp) else self.xp.asarray(mask, device=device_of(self.V, self.W))

    # -- pair planes -----------------------------------------------------------------------------

    @cached_property
    def planes(self) -> list[Plane]:
        """Planes of (w_k, teacher filters) ``(..., K, K*)`` and, for K > 1, (w_k, w_l) ``(..., K, K)``."""
        Ws = self.Wsafe
        out = [plane_of_arrays(Ws[..., :, None, :], self.teacher.w_star)]
        if self.K > 1:
            out.append(plane_of_arrays(Ws[..., :, None, :], Ws[..., None, :, :]))
        return out

    @cached_property
    def r(self) -> np.ndarray:
        """Norms of the student filters, ``(..., K)``."""
        return self.planes[0].r[..., 0]

    @cached_property
    def w_hat(self) -> np.ndarray:
        return self.planes[0].w_hat[..., 0, :]

    @cached_property
    def moments(self) -> UnitMoments:
        mom = self.asm.kernels.moments(self.r)
        if not self.has_zero:
            return mom
        xp, z = self.xp, self.zero
        s0 = self.asm.kernels.value_at_zero
        return UnitMoments(
            xp.where(z, s0, mom.mean),
            xp.where(z, 0.0, mom.var),
            xp.where(z, 0.0, mom.d_mean),
            xp.where(z, 0.0, mom.d_var),
        )

    @cached_property
    def variograms(self) -> list:
        """Variogram of each pair block; zero filters: :math:`\\Gamma(0, b) = v_b`, :math:`\\Gamma(0, 0) = 0`."""
        xp = self.xp
        blocks = [self.asm.kernels.variogram(p) for p in self.planes]
        values = [blocks[0].value]
        if self.has_zero:
            values[0] = xp.where(self.zero[..., None], self.teacher.var, values[0])
        if self.K > 1:
            g = blocks[1].value
            if self.has_zero:
                var = self.moments.var
                zk, zl = self.zero[..., :, None], self.zero[..., None, :]
                g = xp.where(zk & zl, 0.0, xp.where(zk, var[..., None, :], xp.where(zl, var[..., :, None], g)))
            values.append(xp.where(self.eye(self.K), 0.0, g))
        return [(val, blk) for val, blk in zip(values, blocks, strict=True)]

    # -- output weights --------------------------------------------------------------------------

    @cached_property
    def H(self) -> list[np.ndarray]:
        """:math:`H_{kb} = C_k^\\top C_b` per pair block: ``-V V*^T`` (..., K, K*) and ``V V^T`` (..., K, K)."""
        V, xp = self.V, self.xp
        out = [-einsum(xp, "...km,lm->...kl", V, self.teacher.v_star)]
        if self.K > 1:
            out.append(einsum(xp, "...km,...lm->...kl", V, V))
        return out

    def off_diagonal(self, blocks: list[np.ndarray]) -> list[np.ndarray]:
        """The pair blocks with the student-student block's diagonal (a filter with itself) set to 0."""
        if self.K == 1:
            return blocks
        return [blocks[0], self.xp.where(self.eye(self.K), 0.0, blocks[1])]

    @cached_property
    def H_self(self) -> np.ndarray:
        """:math:`H_{kk} = \\|V_k\\|^2`, ``(..., K)``."""
        return einsum(self.xp, "...km,...km->...k", self.V, self.V)

    @cached_property
    def patch_sums(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        r""":math:`u = \mu^\top C`, :math:`T = 1^\top C`, :math:`\omega = v^\top C`, each ``(..., m)``."""
        V, xp, mom, t = self.V, self.xp, self.moments, self.teacher
        u = einsum(xp, "...k,...km->...m", mom.mean, V) - t.u
        T = xp.sum(V, axis=-2) - t.T
        omega = einsum(xp, "...k,...km->...m", mom.var, V) - t.omega
        return u, T, omega

    @cached_property
    def mean_error(self) -> np.ndarray:
        r""":math:`E e = \sum_i u_i`, ``(...)``."""
        return self.xp.sum(self.patch_sums[0], axis=-1)


class Assembly:
    r"""The teacher :math:`(V^*, W^*)` and activation, and the assembled closed forms (module docstring).

    Parameters
    ----------
    v_star : ndarray, shape (K*, m)
    w_star : ndarray, shape (K*, n), non-zero rows
    activation : popgrad.activation.Activation
    """

    def __init__(self, v_star: np.ndarray, w_star: np.ndarray, activation: Activation) -> None:
        self.v_star, self.w_star, self.activation = v_star, w_star, activation
        # f depends on V and sigma only through V sigma: compute with sigma / L and V L, L a power of two
        # (exact), so that huge or tiny levels do not overflow where the results do not
        _, exponent = np.frexp(np.max(np.abs(activation.levels)))
        self.level_scale = float(np.ldexp(1.0, int(exponent) - 1))  # largest level in [L, 2L): L = 1 for binary
        self.unit_activation = activation.scaled(1.0 / self.level_scale)
        with np.errstate(over="ignore", under="ignore"):
            self.scaled_v_star = v_star * self.level_scale
        v_star = self.scaled_v_star
        self.kernels = kernels.for_activation(self.unit_activation)
        with np.errstate(all="ignore"):  # an overflow here surfaces as a non-finite result, refused on use
            tt = plane_of_arrays(w_star[:, None, :], w_star[None, :, :])
            self.teacher_moments = self.kernels.moments(tt.r[:, 0])
            gamma = self.kernels.variogram(tt).value
            teacher_gamma = np.where(np.eye(len(w_star), dtype=bool), 0.0, gamma)
            # the teacher's parts of the patch sums and of <Gamma, C C^T> (teacher-teacher pairs)
            self._teacher = SimpleNamespace(
                w_star=w_star,
                v_star=v_star,
                var=self.teacher_moments.var,
                u=self.teacher_moments.mean @ v_star,
                T=v_star.sum(axis=0),
                omega=self.teacher_moments.var @ v_star,
                mean=self.teacher_moments.mean,
                gamma_h=np.sum(teacher_gamma * (v_star @ v_star.T)),
            )

    def constants(self, xp: ModuleType, device: object = None) -> SimpleNamespace:
        """The teacher's quantities (``w_star``, ``v_star`` scaled, ``var``, ``mean``, ``u``, ``T``, ``omega``,
        ``gamma_h``) as arrays of ``xp`` on ``device``; computed once, in numpy."""
        if is_numpy(xp):
            return self._teacher
        return SimpleNamespace(**{k: constant(xp, v, device) for k, v in vars(self._teacher).items()})

    def point(self, V: np.ndarray, W: np.ndarray) -> _Point:
        """The shared intermediate quantities at ``V (..., K, m)``, ``W (..., K, n)``."""
        return _Point(self, V * self.level_scale, W)

    # -- the closed forms ------------------------------------------------------------------------

    def loss(self, pt: _Point) -> np.ndarray:
        """Population loss, ``(...)``."""
        xp = pt.xp
        _, T, omega = pt.patch_sums
        # <Gamma, C C^T>: student-teacher pairs twice (both orders), student-student and teacher-teacher once
        gh = pt.teacher.gamma_h + 2.0 * xp.sum(pt.variograms[0][0] * pt.H[0], axis=(-2, -1))
        if pt.K > 1:
            gh = gh + xp.sum(pt.variograms[1][0] * pt.H[1], axis=(-2, -1))
        return 0.5 * (pt.mean_error**2 + einsum(xp, "...i,...i->...", T, omega) - 0.5 * gh)

    def grad_v(self, pt: _Point) -> np.ndarray:
        r""":math:`\partial f/\partial V`, ``(..., K, m)``."""
        xp = pt.xp
        _, T, omega = pt.patch_sums
        mom = pt.moments
        gamma_c = -einsum(xp, "...kl,lm->...km", pt.variograms[0][0], pt.teacher.v_star)
        if pt.K > 1:
            gamma_c = gamma_c + einsum(xp, "...kl,...lm->...km", pt.variograms[1][0], pt.V)
        grad = (
            pt.mean_error[..., None, None] * mom.mean[..., None]
            + 0.5 * (mom.var[..., None] * T[..., None, :] + omega[..., None, :])
            - 0.5 * gamma_c
        )
        return grad * self.level_scale  # f(V) = f~(V L): the derivative in V carries L

    def grad_w(self, pt: _Point) -> FilterGradients:
        r""":math:`\partial f/\partial W` as coefficients on :math:`\hat w_k` and :math:`u_{kb}` (module docstring)."""
        xp = pt.xp
        _, T, _ = pt.patch_sums
        mom = pt.moments
        S = xp.sum(pt.V, axis=-1)
        own = pt.mean_error[..., None] * S * mom.d_mean + 0.5 * einsum(xp, "...km,...m->...k", pt.V, T) * mom.d_var
        on = []
        for (_, vg), h in zip(pt.variograms, pt.off_diagonal(pt.H), strict=True):
            own = own - 0.5 * xp.sum(h * vg.d_r, axis=-1)
            on.append(-0.5 * h * vg.d_u)
        return FilterGradients(own, *self._stack(pt, on, "u"))

    def coarse_w(self, pt: _Point, ste: STE) -> FilterGradients:
        r""":math:`E g_k` as coefficients on :math:`\hat w_k` and :math:`\hat w_b` (module docstring)."""
        xp = pt.xp
        mom = pt.moments
        cs = kernels.coarse_self(ste, self.unit_activation, pt.r)
        own = pt.H_self * (cs.beta - mom.mean * cs.alpha) + cs.alpha * xp.sum(pt.V, axis=-1) * pt.mean_error[..., None]
        means = [pt.teacher.mean, mom.mean[..., None, :]]
        on = []
        for b, (p, h) in enumerate(zip(pt.planes, pt.off_diagonal(pt.H), strict=True)):
            cc = kernels.coarse_cross(ste, self.unit_activation, p)
            c_w = cc.c_w - means[b] * cs.alpha[..., None]
            own = own + xp.sum(h * c_w, axis=-1)
            on.append(h * cc.c_star)
        on_b, w_hat, basis = self._stack(pt, on, "w_star_hat")
        # g~ = sum z mu' (V L) e is L times the coarse gradient of V
        return FilterGradients(own / self.level_scale, on_b / self.level_scale, w_hat, basis)

    @staticmethod
    def _stack(pt: _Point, on: list[np.ndarray], basis: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Concatenate the pair blocks: coefficients ``(..., K, P)`` and their basis vectors ``(..., K, P, n)``."""
        xp = pt.xp
        vecs = [
            xp.broadcast_to(getattr(p, basis), (*o.shape, p.w_hat.shape[-1]))
            for p, o in zip(pt.planes, on, strict=True)
        ]
        if len(on) == 1:
            return on[0], pt.w_hat, vecs[0]
        return xp.concat(on, axis=-1), pt.w_hat, xp.concat(vecs, axis=-2)

    def inner_one_pair(self, pt: _Point, g: FilterGradients, gw: FilterGradients) -> np.ndarray:
        r""":math:`\langle E g, \partial f/\partial w\rangle` for one student and one teacher filter, ``(..., 1)``.

        With :math:`E g = A\hat w + B\hat w^*` and :math:`\partial f/\partial w = \rho\hat w + D u`:
        :math:`A\rho + B\rho\cos\theta + BD\sin\theta` (:math:`\hat w \perp u`, :math:`\hat w^{*\top}u = \sin\theta`),
        a sum of products of accurate coefficients (for the binary :math:`\sigma`, :math:`\rho = 0`: one product).
        """
        if g.on.shape[-1] != 1:
            raise ValueError("inner_one_pair needs one student and one teacher filter")
        p = pt.planes[0]
        return (
            g.own * gw.own
            + gw.own * g.on[..., 0] * p.cos_theta[..., 0]
            + g.on[..., 0] * gw.on[..., 0] * p.sin_theta[..., 0]
        )
