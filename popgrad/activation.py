r"""Quantized activations :math:`\sigma`: the paper's binary step and multi-bit staircases.

A staircase is :math:`\sigma(x) = \sum_k J_k\,1\{x > t_k\}` with thresholds :math:`t_k` (strictly
increasing after normalisation) and non-zero jumps :math:`J_k`, in units of the pre-activation
:math:`x = z^\top w`.  So :math:`\sigma(0^-) = 0` below every threshold, and the levels are the
partial sums :math:`L_k = J_1 + \dots + J_k`.

* :data:`binary` -- :math:`\sigma(x) = 1\{x > 0\}`, the activation of Yin et al. (2019); the default of
  :class:`popgrad.Model`, computed by the core formulas (Lemmas 1--10).
* :func:`staircase` -- any thresholds and jumps; :mod:`popgrad.staircase` has its closed forms.
* :func:`uniform` -- the uniform ``bits``-bit quantized ReLU of the paper's experiments, levels
  :math:`0, \alpha, \dots, (2^b - 1)\alpha`:
  :math:`\sigma(x) = \alpha\min(\lceil x/\alpha\rceil^+, 2^b - 1)`, i.e. thresholds
  :math:`0, \alpha, \dots, (2^b-2)\alpha` each with jump :math:`\alpha` (``uniform(1, 1.0)`` is
  :data:`binary`).

Examples
--------
>>> from popgrad import activation
>>> a = activation.uniform(2, 0.5)
>>> a.thresholds, a.jumps
((0.0, 0.5, 1.0), (0.5, 0.5, 0.5))
>>> a([-1.0, 0.2, 0.7, 9.0]).tolist()
[0.0, 0.5, 1.0, 1.5]
>>> activation.uniform(1, 1.0) == activation.binary
True
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._validate import as_vector_batch, positive_int, real_number

__all__ = ["Activation", "binary", "resolve", "staircase", "uniform"]


@dataclass(frozen=True)
class Activation:
    """A staircase activation :math:`\\sigma(x) = \\sum_k J_k 1\\{x > t_k\\}`.

    Attributes
    ----------
    name : str
    thresholds : tuple of float, strictly increasing (pre-activation units)
    jumps : tuple of float, non-zero, same length
    """

    name: str = field(compare=False)
    thresholds: tuple[float, ...]
    jumps: tuple[float, ...]

    def __repr__(self) -> str:
        k = len(self.thresholds)
        if k <= 8:
            return f"Activation({self.name!r}, thresholds={self.thresholds}, jumps={self.jumps})"
        return f"Activation({self.name!r}, {k} thresholds in [{self.thresholds[0]:g}, {self.thresholds[-1]:g}])"

    @property
    def is_binary(self) -> bool:
        """True for :math:`1\\{x > 0\\}`, which :class:`popgrad.Model` computes with the core formulas."""
        return self.thresholds == (0.0,) and self.jumps == (1.0,)

    def scaled(self, factor: float) -> Activation:
        """:math:`\\text{factor}\\cdot\\sigma` (the jumps scaled; the same thresholds)."""
        if factor == 1.0:
            return self
        return Activation(f"{factor:g} * {self.name}", self.thresholds, tuple(j * factor for j in self.jumps))

    @property
    def levels(self) -> tuple[float, ...]:
        """Values of :math:`\\sigma`: 0 and the partial sums of the jumps."""
        return (0.0, *np.cumsum(self.jumps).tolist())

    def __call__(self, x: object) -> np.ndarray:
        """:math:`\\sigma(x)` elementwise (float64, same shape as ``x``)."""
        x = np.asarray(x, dtype=np.float64)
        t = np.asarray(self.thresholds)
        cum = np.concatenate([[0.0], np.cumsum(self.jumps)])
        return cum[np.searchsorted(t, x, side="left")]


def staircase(thresholds: object, jumps: object, name: str | None = None) -> Activation:
    r""":math:`\sigma(x) = \sum_k \text{jumps}[k]\,1\{x > \text{thresholds}[k]\}`.

    Parameters
    ----------
    thresholds : array_like, shape (K,)
        Finite thresholds, any order; equal thresholds are merged (their jumps added).
    jumps : array_like, shape (K,)
        Finite jumps; zero jumps are dropped.  At least one non-zero jump must remain.
    """
    t = as_vector_batch(thresholds, "thresholds", batch=False)
    j = as_vector_batch(jumps, "jumps", t.size, batch=False)
    order = np.argsort(t, kind="stable")
    merged: dict[float, float] = {}
    for tk, jk in zip(t[order].tolist(), j[order].tolist(), strict=True):
        merged[tk] = merged.get(tk, 0.0) + jk
    items = [(tk, jk) for tk, jk in merged.items() if jk != 0.0]
    if not items:
        raise ValueError("jumps are all zero (after merging equal thresholds): sigma would be identically 0")
    ts, js = zip(*items, strict=True)
    label = name or f"staircase({list(ts)}, {list(js)})"
    return Activation(label, tuple(float(x) for x in ts), tuple(float(x) for x in js))


binary = Activation("binary", (0.0,), (1.0,))


def uniform(bits: int, step: float) -> Activation:
    r"""Uniform ``bits``-bit quantized ReLU, levels :math:`0, \alpha, \dots, (2^b - 1)\alpha` (``step`` = α).

    :math:`\sigma(x) = 0` for :math:`x \le 0`, :math:`k\alpha` for :math:`(k-1)\alpha < x \le k\alpha`
    (:math:`k < 2^b - 1`) and :math:`(2^b - 1)\alpha` above :math:`(2^b - 2)\alpha`: thresholds
    :math:`k\alpha`, :math:`k = 0, \dots, 2^b - 2`, jumps :math:`\alpha`.  The natural clipped-ReLU STE
    for it clips at the top level, ``popgrad.ste.clipped_relu((2**bits - 1) * step)``.
    """
    bits = positive_int(bits, "bits")
    if bits > 16:
        raise ValueError(f"bits must be <= 16 (2**bits - 1 thresholds), got {bits}")
    step = real_number(step, "step")
    if not (np.isfinite(step) and step > 0):
        raise ValueError(f"step must be a finite number > 0 (the resolution alpha), got {step}")
    k = 2**bits - 1
    if bits == 1 and step == 1.0:
        return binary
    return Activation(f"uniform({bits}, {step:g})", tuple(float(i * step) for i in range(k)), (step,) * k)


def resolve(activation: object) -> Activation:
    """``None`` or ``"binary"`` -> :data:`binary`; an :class:`Activation` -> itself."""
    if activation is None or (isinstance(activation, str) and activation == "binary"):
        return binary
    if isinstance(activation, Activation):
        return activation
    raise TypeError(
        "activation must be None, 'binary' or a popgrad.activation.Activation "
        f"(staircase(...), uniform(...)), got {activation!r}"
    )
