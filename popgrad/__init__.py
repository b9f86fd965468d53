"""popgrad: the theory of the straight-through estimator, computable and checkable.

Yin, Lyu, Zhang, Osher, Qi, Xin, *Understanding Straight-Through Estimator in Training
Activation Quantized Neural Nets*, ICLR 2019 (arXiv:1903.05662).
"""

from . import ste
from .geometry import angle
from .model import Correlation, Model
from .montecarlo import Estimate, monte_carlo

__all__ = ["Correlation", "Estimate", "Model", "angle", "monte_carlo", "ste"]
__version__ = "0.1.0"
