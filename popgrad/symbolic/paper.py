r"""The paper's one-filter closed forms (Lemmas 1, 2, 4, 7, 9) as sympy expressions in scalar invariants.

Every result of Yin et al. (2019) for one filter is a few scalar coefficients times basis vectors.  The
coefficients are sympy expressions in the invariants

=========  ============================================  ==========
symbol     meaning                                       sympy name
=========  ============================================  ==========
``THETA``  :math:`\theta = \angle(w, w^*)`               theta
``R``      :math:`r = \|w\|`                             r
``VV``     :math:`\|v\|^2`                               vv
``SV``     :math:`1^\top v`                              sv
``SS``     :math:`1^\top v^*`                            ss
``VVS``    :math:`v^\top v^*`                            vvs
``VSS``    :math:`\|v^*\|^2`                             vss
``M``      :math:`m`, the length of ``v``                m
``CLIP``   clipping level :math:`c` of the clipped ReLU  c
=========  ============================================  ==========

and the basis vectors are :math:`v, 1, v^*` on the v-side and :math:`\hat w, u` on the w-side,
:math:`u` the unit vector of :math:`\hat w^* - (\hat w^{*\top}\hat w)\hat w`, so that
:math:`\hat w^* = \cos\theta\,\hat w + \sin\theta\,u`.  Each ``dict`` below maps a basis name
(``"v"``, ``"ones"``, ``"v_star"``, ``"w_hat"``, ``"u"``) to its coefficient.  Every expression is
derived from the Gaussian integrals, and checked, by a script in ``derivations/``; the committee assembly
(:mod:`popgrad.symbolic.committee`, which the numbers of :func:`popgrad.symbolic.evaluate` come from) reduces
to them for one filter (``derivations/assembly.py``).

Examples
--------
>>> from popgrad import symbolic
>>> symbolic.GRAD_W
{'w_hat': 0, 'u': -vvs/(2*pi*r)}
"""

from __future__ import annotations

import sympy as sp

__all__ = [
    "CLIP",
    "COARSE_W",
    "GRAD_V",
    "GRAD_W",
    "LOSS",
    "LOSS_AT_ZERO",
    "P0_CLIP",
    "PHI0",
    "SS",
    "STES",
    "SV",
    "THETA",
    "VSS",
    "VV",
    "VVS",
    "H",
    "M",
    "Phi",
    "R",
    "coarse_w",
    "p_clip",
    "phi",
    "q_clip",
]

# -- symbols ------------------------------------------------------------------------------------

THETA = sp.Symbol("theta", positive=True)
R = sp.Symbol("r", positive=True)
VV = sp.Symbol("vv", nonnegative=True)
SV = sp.Symbol("sv", real=True)
SS = sp.Symbol("ss", real=True)
VVS = sp.Symbol("vvs", real=True)
VSS = sp.Symbol("vss", positive=True)
M = sp.Symbol("m", positive=True, integer=True)
CLIP = sp.Symbol("c", positive=True)

_ARGS = (THETA, R, VV, SV, SS, VVS, VSS, CLIP)

#: :math:`\varphi(0) = 1/\sqrt{2\pi}` as a sympy expression.
PHI0 = 1 / sp.sqrt(2 * sp.pi)


def phi(x: sp.Expr) -> sp.Expr:
    r"""Standard normal density :math:`\varphi(x) = e^{-x^2/2}/\sqrt{2\pi}`."""
    return sp.exp(-(x**2) / 2) / sp.sqrt(2 * sp.pi)


def Phi(x: sp.Expr) -> sp.Expr:
    r"""Standard normal cdf :math:`\Phi(x) = (1 + \operatorname{erf}(x/\sqrt2))/2`."""
    return (1 + sp.erf(x / sp.sqrt(2))) / 2


# -- Lemma 1, Lemma 2 ---------------------------------------------------------------------------

#: Lemma 1, :math:`w \ne 0`: :math:`f = \tfrac18[v^\top(I+11^\top)v - 2v^\top((1-2\theta/\pi)I + 11^\top)v^*
#: + v^{*\top}(I+11^\top)v^*]` in the invariants.
LOSS = (VV + SV**2 - 2 * SV * SS - 2 * (1 - 2 * THETA / sp.pi) * VVS + VSS + SS**2) / 8

#: Lemma 1, :math:`w = 0`: :math:`f = \tfrac18 v^{*\top}(I + 11^\top)v^*`.
LOSS_AT_ZERO = (VSS + SS**2) / 8

#: Lemma 2: :math:`\partial f/\partial v = \tfrac14(I+11^\top)v - \tfrac14((1-2\theta/\pi)I+11^\top)v^*`.
GRAD_V = {"v": sp.Rational(1, 4), "ones": (SV - SS) / 4, "v_star": -(1 - 2 * THETA / sp.pi) / 4}

#: Lemma 2: :math:`\partial f/\partial w = -\frac{v^\top v^*}{2\pi\|w\|}u` for :math:`\theta\in(0,\pi)`
#: (0 at :math:`\theta \in \{0, \pi\}`: the minimum-norm Clarke element).
GRAD_W = {"w_hat": sp.Integer(0), "u": -VVS / (2 * sp.pi * R)}

#: :math:`h(v, v^*) = \|v\|^2 + (1^\top v)^2 - (1^\top v)(1^\top v^*) + v^\top v^*` (Lemma 4).
H = VV + SV**2 - SV * SS + VVS

# -- the clipped ReLU: the paper's p(theta, w), q(theta, w) in closed form ------------------------


def p_clip(theta: sp.Expr = THETA) -> sp.Expr:
    r"""The paper's :math:`p(\theta, w)` (Lemma 7) in closed form, for :math:`\theta \in (0, \pi)`.

    .. math:: p(\theta, w) = \frac{1}{2\pi}\int_{\theta-\pi/2}^{\pi/2}\cos\phi\,
              \xi\Big(\frac{c\sec\phi}{\|w\|}\Big)d\phi
              = \frac{\varphi(0)}{2} - \varphi\big(\tfrac{c}{r}\big)\Phi\big(\tfrac{c\cot\theta}{r}\big)
              + \frac{\cos\theta}{2\sqrt{2\pi}}\operatorname{erf}\Big(\frac{c}{\sqrt2\,r\sin\theta}\Big),

    :math:`\xi(x) = \int_0^x \rho^2 e^{-\rho^2/2}d\rho`, clipping level :math:`c` (the paper's is 1).
    Limits: :math:`p(0^+, w) = \varphi(0) - \varphi(c/r)`, :math:`p(\pi^-, w) = 0`
    (``derivations/clipped_relu.md``).
    """
    return (
        PHI0 / 2
        - phi(CLIP / R) * Phi(CLIP * sp.cot(theta) / R)
        + sp.cos(theta) * PHI0 / 2 * sp.erf(CLIP / (sp.sqrt(2) * R * sp.sin(theta)))
    )


def q_clip(theta: sp.Expr = THETA) -> sp.Expr:
    r"""The paper's :math:`q(\theta, w)` (Lemma 7) in closed form, for :math:`\theta \in (0, \pi)`.

    .. math:: q(\theta, w) = \frac{1}{2\pi}\int_{\theta-\pi/2}^{\pi/2}\sin\phi\,
              \xi\Big(\frac{c\sec\phi}{\|w\|}\Big)d\phi
              = \frac{\sin\theta}{2\sqrt{2\pi}}\operatorname{erf}\Big(\frac{c}{\sqrt2\,r\sin\theta}\Big);

    its limits at :math:`\theta \to 0^+, \pi^-` are 0.
    """
    return sp.sin(theta) * PHI0 / 2 * sp.erf(CLIP / (sp.sqrt(2) * R * sp.sin(theta)))


#: :math:`p(0, w) = E[z^\top\hat w\,1\{0 < z^\top w < c\}] = \varphi(0) - \varphi(c/r)`.
P0_CLIP = PHI0 - phi(CLIP / R)

# -- expected coarse gradients E g_mu (Lemmas 4, 7, 9) in the (w_hat, u) basis -------------------

#: The STE names with symbolic closed forms.
STES = ("identity", "relu", "clipped_relu")

#: Interior (:math:`\theta \in (0, \pi)`) coefficients of :math:`E g_\mu` on :math:`\hat w` and :math:`u`.
COARSE_W = {
    # Lemma 9: (|v|^2 w_hat - v.v* w*_hat)/sqrt(2 pi)
    "identity": {"w_hat": PHI0 * (VV - VVS * sp.cos(THETA)), "u": -PHI0 * VVS * sp.sin(THETA)},
    # Lemma 4: h/(2 sqrt(2 pi)) w_hat - v.v*/(2 sqrt(2 pi)) (w_hat + w*_hat)
    "relu": {"w_hat": PHI0 / 2 * (H - VVS * (1 + sp.cos(THETA))), "u": -PHI0 / 2 * VVS * sp.sin(THETA)},
    # Lemma 7: p(0,w) h/2 w_hat - v.v* (p(theta,w) w_hat + q(theta,w) u)
    "clipped_relu": {"w_hat": P0_CLIP * H / 2 - VVS * p_clip(), "u": -VVS * q_clip()},
}


def coarse_w(ste: str, end: int | None = None) -> dict[str, sp.Expr]:
    r"""Coefficients of :math:`E g_\mu` on ``"w_hat"`` and ``"u"``.

    ``end=None``: :math:`\theta \in (0, \pi)` (:data:`COARSE_W`).  ``end=0`` or ``end=1``: the limit
    at :math:`\theta = 0` or :math:`\theta = \pi` (there :math:`u` is undefined and its coefficient
    is 0; :math:`E g_\mu` is continuous on :math:`[0, \pi]`).
    """
    if ste not in COARSE_W:
        raise ValueError(f"ste must be one of {STES}, got {ste!r}")
    if end is None:
        return dict(COARSE_W[ste])
    if end not in (0, 1):
        raise ValueError(f"end must be None, 0 (theta = 0) or 1 (theta = pi), got {end!r}")
    if ste == "clipped_relu":
        p_end = P0_CLIP if end == 0 else sp.Integer(0)  # limits of p_clip, derivations/clipped_relu.py
        return {"w_hat": P0_CLIP * H / 2 - VVS * p_end, "u": sp.Integer(0)}
    return {"w_hat": COARSE_W[ste]["w_hat"].subs(THETA, end * sp.pi), "u": sp.Integer(0)}
