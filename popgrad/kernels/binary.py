r"""Kernels of the paper's binary activation :math:`\sigma(x) = 1\{x > 0\}`.

For one row :math:`z \sim N(0, I_n)` and non-zero filters :math:`a, b` at angle :math:`\theta`:

.. math::
    E\sigma(z^\top a) = \tfrac12,\quad \operatorname{Var}\sigma(z^\top a) = \tfrac14,\quad
    \Gamma(a, b) = \operatorname{Var}\big(\sigma(z^\top a) - \sigma(z^\top b)\big)
                 = P\big(\sigma(z^\top a) \ne \sigma(z^\top b)\big) = \frac{\theta}{\pi}

(the two half-spaces disagree on a wedge of angle :math:`2\theta`; Lemma 11 of the paper:
:math:`E\sigma(z^\top a)\sigma(z^\top b) = (\pi - \theta)/2\pi`).  With :math:`\nabla_a\theta = -u/\|a\|`
(:math:`u` the unit vector of :math:`\hat b - (\hat b^\top\hat a)\hat a`),
:math:`\nabla_a\Gamma = -u/(\pi\|a\|)`; at :math:`\theta \in \{0, \pi\}` it is taken as 0, the
minimum-norm element of the Clarke subdifferential (``u = 0`` there).
"""

from __future__ import annotations

import math

import numpy as np

from .._xp import namespace
from ..activation import Activation, binary
from ..geometry import Plane
from .base import UnitMoments, Variogram

__all__ = ["BinaryKernels"]


class BinaryKernels:
    """The binary activation's moments and variogram (module docstring)."""

    activation: Activation = binary
    value_at_zero: float = 0.0  # sigma(0) = 1{0 > 0}

    def moments(self, r: np.ndarray) -> UnitMoments:
        r"""Constants :math:`\mu = 1/2`, :math:`v = 1/4`, derivatives 0; shape of ``r`` (an array)."""
        xp = namespace(r)
        zero = xp.zeros_like(r)
        return UnitMoments(xp.full_like(r, 0.5), xp.full_like(r, 0.25), zero, zero)

    def variogram(self, p: Plane) -> Variogram:
        r""":math:`\Gamma = \theta/\pi`, :math:`\nabla_a\Gamma = -u/(\pi\|a\|)` (coefficients on :math:`\hat a`, u)."""
        xp = namespace(p.theta, p.r)
        value = p.theta / math.pi
        return Variogram(value, xp.zeros_like(value), xp.broadcast_to(-1.0 / (math.pi * p.r), value.shape))
