"""The one result type of every engine: :class:`Expectations`, made of :class:`Quantity` fields."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Expectations", "Quantity"]


@dataclass(frozen=True)
class Quantity:
    r"""One computed expectation and its error.

    Attributes
    ----------
    value : ndarray (float64)
        The number(s), in the model's shape (e.g. ``()`` for the loss, ``(..., m)`` for :math:`\partial f/\partial v`
        of :class:`popgrad.Model`).
    error : ndarray, same shape
        Monte Carlo: the standard error of each component.  Quadrature: a bound on the absolute error derived
        from the integrators' checked error estimates.  Closed form: a bound on the rounding error (a small
        multiple of the unit roundoff times an a-priori bound on the terms).  Symbolic: the rounding of the
        high-precision number to float64 (half an ulp).
    n : int or None
        Number of samples (Monte Carlo), else None.
    cov : ndarray (k, k) or None
        Monte Carlo only (single points): the estimated covariance of the flattened ``value``, for joint tests.
    mp : ndarray of mpmath.mpf, or None
        The high-precision value (symbolic engine, mpmath quadrature), same shape as ``value``.

    Examples
    --------
    >>> q = Quantity(np.float64(1.0), np.float64(0.5), n=100)
    >>> float(q.z(0.0))
    2.0
    """

    value: np.ndarray
    error: np.ndarray
    n: int | None = None
    cov: np.ndarray | None = field(default=None, repr=False)
    mp: np.ndarray | None = field(default=None, repr=False)

    def z(self, reference: object) -> np.ndarray:
        r""":math:`(\text{value} - \text{reference})/\text{error}` per component.

        Where ``error == 0`` the score is 0 if the value equals the reference and :math:`\pm\infty` otherwise.
        """
        diff = np.asarray(self.value, dtype=np.float64) - np.asarray(reference, dtype=np.float64)
        err = np.broadcast_to(np.asarray(self.error, dtype=np.float64), diff.shape)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(err > 0, diff / np.where(err > 0, err, 1.0), np.where(diff == 0, 0.0, np.sign(diff) * np.inf))
        return z[()]


@dataclass(frozen=True)
class Expectations:
    r"""The population loss, true gradient and expected coarse gradient at ``(v, w)`` for one STE.

    Every engine returns this type with the same fields and shapes (the model's: for :class:`popgrad.Model`,
    ``loss (...)``, ``grad_v (..., m)``, ``grad_w (..., n)``; for :class:`popgrad.MultiFilterModel`,
    ``(..., K, m)`` and ``(..., K, n)``).

    Attributes
    ----------
    loss : Quantity
        :math:`f = E\ell`.
    grad_v, grad_w : Quantity
        :math:`\partial f/\partial v`, :math:`\partial f/\partial w` (Lemma 2 for the paper's model).  ``grad_w``
        is None only for Monte Carlo with non-Gaussian rows (no unbiased estimator exists there).
    coarse_grad_v, coarse_grad_w : Quantity
        :math:`E\,\partial\ell/\partial v` and :math:`E\,g_\mu` (Lemmas 4, 7, 9).
    ste : str
        The STE's name.
    engine : str
        ``"closed_form"``, ``"symbolic"``, ``"quadrature"`` or ``"monte_carlo"``.
    options : dict
        The engine's options as used (defaults filled in).
    info : dict
        Engine-specific diagnostics (e.g. Monte Carlo's plane basis, quadrature's largest error estimate).
    """

    loss: Quantity
    grad_v: Quantity
    grad_w: Quantity | None
    coarse_grad_v: Quantity
    coarse_grad_w: Quantity
    ste: str
    engine: str
    options: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict, repr=False)

    @property
    def fields(self) -> dict[str, Quantity | None]:
        """The five quantities by name, in a fixed order."""
        return {k: getattr(self, k) for k in ("loss", "grad_v", "grad_w", "coarse_grad_v", "coarse_grad_w")}
