"""Pairwise Gaussian expectations: the closed-form pieces every model is assembled from.

* :func:`for_activation` -- the activation family's moments and variogram
  (:class:`~popgrad.kernels.binary.BinaryKernels`, :class:`~popgrad.kernels.staircase.StaircaseKernels`);
* :func:`coarse_self`, :func:`coarse_cross` -- the STE's expectations against that activation: closed form
  for a piecewise-constant :math:`\\mu'` (:mod:`popgrad.kernels.coarse`), checked quadrature for any other
  (:mod:`popgrad.kernels.custom`).

See :mod:`popgrad.kernels.base` for what each returns, and :mod:`popgrad.assembly` for how a model is built
from them.

Namespaces (:mod:`popgrad._xp`): the binary kernels and the closed forms of piecewise-constant STEs compute with
arrays of any Array API namespace; the staircase kernels (Owen's T) and custom STEs (``scipy.integrate.quad``)
need functions with no Array API form and raise ``NotImplementedError`` for arrays other than numpy's.
"""

from __future__ import annotations

import numpy as np

from .._xp import namespace, numpy_only
from ..activation import Activation
from ..geometry import Plane
from ..ste import STE
from . import coarse, custom
from .base import UnitMoments, Variogram
from .binary import BinaryKernels
from .coarse import CoarseCross, CoarseSelf
from .staircase import StaircaseKernels

__all__ = [
    "BinaryKernels",
    "CoarseCross",
    "CoarseSelf",
    "StaircaseKernels",
    "UnitMoments",
    "Variogram",
    "coarse_cross",
    "coarse_self",
    "for_activation",
]


def for_activation(activation: Activation) -> BinaryKernels | StaircaseKernels:
    """The kernels of an activation family: the binary step, or a staircase."""
    return BinaryKernels() if activation.is_binary else StaircaseKernels(activation)


def coarse_self(ste: STE, activation: Activation, r: np.ndarray) -> CoarseSelf:
    r""":math:`E[z\mu'(z^\top a)] = \alpha\hat a` and :math:`E[z\mu'(z^\top a)\sigma(z^\top a)] = \beta\hat a`.

    ``r = ‖a‖``, shape ``(...)``.
    """
    if ste.pieces is None:
        numpy_only(namespace(r), f"the custom STE {ste.name!r} (its coefficients by scipy.integrate.quad)")
        return custom.self_terms(ste, activation.thresholds, activation.jumps, r)
    return coarse.self_terms(ste.pieces, activation.thresholds, activation.jumps, r)


def coarse_cross(ste: STE, activation: Activation, p: Plane) -> CoarseCross:
    r""":math:`E[z\mu'(z^\top a)\sigma(z^\top b)] = c_w\hat a + c_*\hat b` for the plane's pairs (a = w, b = w_star)."""
    if ste.pieces is None:
        numpy_only(namespace(p.r), f"the custom STE {ste.name!r} (its coefficients by scipy.integrate.quad)")
        return custom.cross(ste, activation.thresholds, activation.jumps, p)
    return coarse.cross(ste.pieces, activation.thresholds, activation.jumps, p)
