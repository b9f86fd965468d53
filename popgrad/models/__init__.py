"""Model families: the paper's one-filter :class:`Model` and the K-filter :class:`MultiFilterModel`.

Both are committees of units assembled from the same pairwise kernels (:mod:`popgrad.assembly`); each
engine of :mod:`popgrad.engines` computes them through :meth:`ModelFamily.committee`.
"""

from .base import Correlation, ModelFamily
from .multi_filter import MultiFilterModel
from .paper import Model

__all__ = ["Correlation", "Model", "ModelFamily", "MultiFilterModel"]
