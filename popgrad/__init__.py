"""popgrad: the theory of the straight-through estimator, computable and checkable.

Yin, Lyu, Zhang, Osher, Qi, Xin, *Understanding Straight-Through Estimator in Training
Activation Quantized Neural Nets*, ICLR 2019 (arXiv:1903.05662).
"""

from . import activation, paper_integrals, ste
from .engines import Expectations, Quantity, capabilities, expectations
from .geometry import angle
from .models import Correlation, Model, MultiFilterModel
from .montecarlo import monte_carlo

__all__ = [
    "Correlation",
    "Expectations",
    "Model",
    "MultiFilterModel",
    "Quantity",
    "activation",
    "angle",
    "capabilities",
    "expectations",
    "monte_carlo",
    "paper_integrals",
    "quadrature",
    "ste",
    "symbolic",
]
__version__ = "0.1.0"

_LAZY = ("symbolic", "quadrature")  # heavy imports (sympy expression building), loaded on first use


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
