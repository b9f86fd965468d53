r"""Symbolic engine: sympy derives the expectations, mpmath evaluates them at any precision.

* :mod:`~popgrad.symbolic.paper` -- the paper's one-filter closed forms in scalar invariants (Lemmas 1, 2, 4,
  7, 9);
* :mod:`~popgrad.symbolic.kernels` -- pairwise Gaussian kernels of one row derived by sympy (regions,
  integrals);
* :mod:`~popgrad.symbolic.committee` -- the K-filter committee assembled by sympy from its definition;
* :mod:`~popgrad.symbolic.exact` -- exact rational geometry of the filters;
* :mod:`~popgrad.symbolic.evaluate` -- :func:`evaluate`: all of it in mpmath at ``dps`` digits.

:func:`evaluate` is the high-precision reference of the float64 closed forms (``tests/test_accuracy.py``) and
the ``symbolic`` engine of :func:`popgrad.expectations`: the binary activation with any piecewise-constant STE,
for :class:`popgrad.Model` and :class:`popgrad.MultiFilterModel`.  It imports nothing of the closed forms
(:mod:`popgrad.assembly`, :mod:`popgrad.kernels`, :mod:`popgrad.geometry`, :mod:`popgrad.models`).

Examples
--------
>>> import numpy as np, popgrad as pg
>>> from popgrad import symbolic
>>> model = pg.MultiFilterModel([[1.0, 0.5]], [[1.0, 0.0]])
>>> res = symbolic.evaluate(model, [[0.5, 1.0], [-0.5, 0.25]], [[0.0, 1.0], [1.0, 1.0]], dps=30,
...                         ste=pg.ste.leaky_relu(0.1))
>>> g = model.coarse_grad([[0.5, 1.0], [-0.5, 0.25]], [[0.0, 1.0], [1.0, 1.0]], pg.ste.leaky_relu(0.1))[1]
>>> bool(np.allclose(np.array(res.coarse_grad_w["leaky_relu(0.1)"], dtype=float), g, rtol=1e-13, atol=0))
True
"""

from . import paper
from .evaluate import Evaluation, evaluate
from .paper import *  # noqa: F403  (the paper's expressions, used by derivations/)

__all__ = [*paper.__all__, "Evaluation", "evaluate"]
