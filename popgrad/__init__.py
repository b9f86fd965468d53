"""popgrad: the theory of the straight-through estimator, computable and checkable.

Yin, Lyu, Zhang, Osher, Qi, Xin, *Understanding Straight-Through Estimator in Training
Activation Quantized Neural Nets*, ICLR 2019 (arXiv:1903.05662).
"""

from . import activation, paper_integrals, ste
from .geometry import angle
from .model import Correlation, Model
from .montecarlo import Estimate, monte_carlo

__all__ = [
    "Correlation",
    "Estimate",
    "Model",
    "activation",
    "angle",
    "monte_carlo",
    "paper_integrals",
    "ste",
]
__version__ = "0.1.0"
