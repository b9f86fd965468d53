"""The pairwise Gaussian expectations every model is assembled from (the kernels' common types).

A model's population loss, true gradient and expected coarse gradients are sums over pairs of units
(a filter reading a patch); rows of Z are independent, so only units on the same patch interact beyond
their means.  Every such pair lives in the plane of its two filters.  An activation family supplies

* :class:`UnitMoments` of one filter: the mean and variance of :math:`\\sigma(z^\\top a)` and their
  derivatives in :math:`\\|a\\|`;
* a :class:`Variogram` of a pair: :math:`\\Gamma(a, b) = \\operatorname{Var}(\\sigma(z^\\top a) - \\sigma(z^\\top b))`
  and its gradient in :math:`a`;

and the STE side (:mod:`popgrad.kernels.coarse`, :mod:`popgrad.kernels.custom`) the expectations
:math:`E[z\\mu'(z^\\top a)]`, :math:`E[z\\mu'(z^\\top a)\\sigma(z^\\top a)]` and
:math:`E[z\\mu'(z^\\top a)\\sigma(z^\\top b)]`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["UnitMoments", "Variogram"]


@dataclass(frozen=True)
class UnitMoments:
    r"""Per filter :math:`a`, arrays of the batch shape of :math:`r = \|a\| > 0`.

    Attributes
    ----------
    mean : :math:`\mu = E\sigma(z^\top a)`
    var : :math:`v = \operatorname{Var}\sigma(z^\top a)`
    d_mean, d_var : their derivatives in :math:`r` (the gradients in :math:`a` are these times :math:`\hat a`)
    """

    mean: np.ndarray
    var: np.ndarray
    d_mean: np.ndarray
    d_var: np.ndarray


@dataclass(frozen=True)
class Variogram:
    r"""Per pair :math:`(a, b)`, arrays of the plane's batch shape.

    Attributes
    ----------
    value : :math:`\Gamma(a, b) = \operatorname{Var}(\sigma(z^\top a) - \sigma(z^\top b))`
    d_r, d_u : :math:`\nabla_a\Gamma = d_r\,\hat a + d_u\,u`, ``u`` the plane's unit vector orthogonal to
        :math:`\hat a` (0 where :math:`\sin\theta = 0`)
    """

    value: np.ndarray
    d_r: np.ndarray
    d_u: np.ndarray
