r"""The paper's integrals :math:`p(\theta, w)` and :math:`q(\theta, w)` (Lemmas 7 and 13) in closed form.

Yin et al. (2019) define, with :math:`\xi(x) = \int_0^x \rho^2 e^{-\rho^2/2}\,d\rho`,

.. math::
    p(\theta, w) = \frac{1}{2\pi}\int_{-\pi/2+\theta}^{\pi/2} \cos\phi\;\xi\Big(\frac{\sec\phi}{\|w\|}\Big)d\phi,
    \qquad
    q(\theta, w) = \frac{1}{2\pi}\int_{-\pi/2+\theta}^{\pi/2} \sin\phi\;\xi\Big(\frac{\sec\phi}{\|w\|}\Big)d\phi.

With :math:`\beta = 1/\|w\|`, :math:`s = \sin\theta`, :math:`c = \cos\theta`, :math:`\varphi, \Phi`
the standard normal pdf and cdf and :math:`\bar\Phi = 1 - \Phi` (``derivations/p_q_closed_form.md``):

.. math::
    q(\theta, w) &= \varphi(0)\, s\,\big[\Phi(\beta/s) - \tfrac12\big]
                  = \frac{\sin\theta}{2\sqrt{2\pi}}\operatorname{erf}\Big(\frac{1}{\sqrt2\,\|w\|\sin\theta}\Big),\\
    p(\theta, w) &= \varphi(0)\cos^2(\theta/2) - \varphi(\beta)\,\Phi(\beta\cot\theta)
                  - \cos\theta\;\varphi(0)\,\bar\Phi(\beta/s),

and :math:`p(0, w) = \varphi(0) - \varphi(\beta)`.  Probabilistically, for :math:`z \sim N(0, I)` and
:math:`x = z^\top\hat w`, :math:`y = z^\top u` (:math:`u` the unit vector of the component of
:math:`\hat w^*` orthogonal to :math:`\hat w`),
:math:`p = E[x\,1\{0 < x < \beta,\ z^\top w^* > 0\}]` and :math:`q = E[y\,1\{0 < x < \beta,\ z^\top w^* > 0\}]`.

Accuracy.  For :math:`\theta > \pi/2` the two subtracted terms of :math:`p` are written with the Mills
ratio :math:`R(t) = \bar\Phi(t)/\varphi(t)` (``scipy.special.erfcx``) so that their difference
:math:`\varphi(0)\varphi(\beta/s)[R(\beta|c|/s) - |c| R(\beta/s)]` is a sum of non-negative parts; the
remaining cancellation costs about :math:`(1 + \|w\|^2)` ulps relative (measured in
``tests/test_paper_integrals.py`` against mpmath at 30 digits).

Examples
--------
>>> import numpy as np
>>> from popgrad.paper_integrals import p, q
>>> float(p(0.0, 1.0)) == float((1 - np.exp(-0.5)) / np.sqrt(2 * np.pi))
True
>>> bool(p(2.0, 0.7) <= q(2.0, 0.7))   # Lemma 13, theta in [pi/2, pi]
True
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from ._validate import as_float_array

__all__ = ["p", "q"]

_PHI0 = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT_PI_2 = math.sqrt(math.pi / 2.0)
_SQRT1_2 = math.sqrt(0.5)


def _args(theta: ArrayLike, w_norm: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """The arguments of :func:`p` and :func:`q`: angles in [0, pi] and norms > 0, broadcast together."""
    theta = as_float_array(theta, "theta")
    w_norm = as_float_array(w_norm, "w_norm")
    if np.any((theta < 0) | (theta > np.pi)):
        raise ValueError("theta must lie in [0, pi] (an angle between two vectors)")
    if np.any(w_norm <= 0):
        raise ValueError("w_norm must be > 0 (the norm ||w|| of a non-zero filter)")
    try:
        theta, w_norm = np.broadcast_arrays(theta, w_norm)
    except ValueError:
        raise ValueError(f"theta {theta.shape} and w_norm {w_norm.shape} do not broadcast") from None
    return theta, w_norm


def _phi(x: np.ndarray) -> np.ndarray:
    return _PHI0 * np.exp(-0.5 * x * x)


def _mills(t: np.ndarray) -> np.ndarray:
    """R(t) = (1 - Phi(t)) / phi(t), finite for every t >= 0 (R(inf) = 0)."""
    return _SQRT_PI_2 * special.erfcx(t * _SQRT1_2)


def q(theta: ArrayLike, w_norm: ArrayLike) -> np.ndarray:
    r""":math:`q(\theta, w) = \frac{\sin\theta}{2\sqrt{2\pi}}\operatorname{erf}\big(1/(\sqrt2\|w\|\sin\theta)\big)`.

    The paper's integral of Lemma 7, in closed form; :math:`q = 0` at :math:`\theta \in \{0, \pi\}`.

    ``theta (...)`` in :math:`[0, \pi]` and ``w_norm (...)`` :math:`= \|w\| > 0` broadcast (:func:`_args`);
    returns shape ``(...)`` (a numpy scalar for scalar input).
    """
    theta, w_norm = _args(theta, w_norm)
    s = np.sin(theta)
    with np.errstate(divide="ignore"):
        arg = np.where(s > 0, _SQRT1_2 / (w_norm * s), np.inf)
    return (0.5 * _PHI0 * s * special.erf(arg))[()]


def p(theta: ArrayLike, w_norm: ArrayLike) -> np.ndarray:
    r""":math:`p(\theta, w) = \varphi(0)\cos^2\frac\theta2 - \varphi(\beta)\Phi(\beta\cot\theta)
    - \cos\theta\,\varphi(0)\bar\Phi(\beta/\sin\theta)`, :math:`\beta = 1/\|w\|`.

    The paper's integral of Lemma 7, in closed form; :math:`p(0, w) = \varphi(0) - \varphi(1/\|w\|)`
    (Lemma 13: :math:`E[z 1\{0 < z^\top w < 1\}] = p(0, w)\hat w`) and :math:`p(\pi, w) = 0`.

    ``theta (...)`` in :math:`[0, \pi]` and ``w_norm (...)`` :math:`= \|w\| > 0` broadcast (:func:`_args`);
    returns shape ``(...)`` (a numpy scalar for scalar input).
    """
    theta, w_norm = _args(theta, w_norm)
    beta = 1.0 / w_norm
    s, c = np.sin(theta), np.cos(theta)
    head = _PHI0 * np.cos(0.5 * theta) ** 2  # E[x 1{x > 0, z.w* > 0}] = phi(0)(1 + cos)/2
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(s > 0, beta / s, np.inf)  # beta / sin(theta)
        # theta <= pi/2: tail = phi(beta) Phi(beta cot) + cos phi(0) Phibar(beta/s), both >= 0
        k = np.where(s > 0, beta * c / np.where(s > 0, s, 1.0), np.copysign(np.inf, c))
        tail_acute = _phi(beta) * special.ndtr(k) + c * _PHI0 * special.ndtr(-t)
        # theta > pi/2: tail = phi(0) phi(t) [R(t|c|) - |c| R(t)]
        #             = phi(0) phi(t) [(R(t|c|) - R(t)) + (1 - |c|) R(t)], both parts >= 0
        ac = -c
        one_minus = 2.0 * np.cos(0.5 * theta) ** 2  # 1 - |c| = 1 + c for c < 0, without cancellation
        r_t = _mills(t)
        tail_obtuse = _PHI0 * _phi(t) * ((_mills(t * ac) - r_t) + one_minus * r_t)
        tail_obtuse = np.where(np.isfinite(t), tail_obtuse, 0.0)
    tail = np.where(c >= 0, tail_acute, tail_obtuse)
    return (head - tail)[()]
