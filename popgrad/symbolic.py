r"""Closed forms as sympy expressions in the scalar invariants, evaluated at any precision.

Every result of Yin et al. (2019) is a few scalar coefficients times basis vectors.  The
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
derived from the Gaussian integrals, and checked, by a script in ``derivations/``.

Numbers at any precision: :func:`evaluate` computes the invariants itself, in exact rational
arithmetic from the float64 inputs, and evaluates the expressions (lambdified to mpmath once,
then cached) at a working precision raised until the result is stable.  It shares no code with
:mod:`popgrad.closed_form` or :mod:`popgrad.geometry`: it is the independent reference for them.

Examples
--------
>>> import mpmath
>>> from popgrad import symbolic
>>> symbolic.GRAD_W
{'w_hat': 0, 'u': -vvs/(2*pi*r)}
>>> res = symbolic.evaluate(([1.0, 1.0], [1.0, 0.0]), [1.0, 1.0], [0.0, 1.0], dps=30)
>>> res.loss   # theta = pi/2: f = (4 theta/pi) v.v*/8 = 1/2
mpf('0.5')
>>> mpmath.nstr(res.coarse_grad_w["identity"][1], 30)   # Lemma 9: (|v|^2 w_hat - v.v* w*_hat)/sqrt(2 pi)
'0.797884560802865355879892119869'
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import mpmath
import numpy as np
import sympy as sp

from ._validate import as_vector_batch, check_nonzero_rows, positive_int

__all__ = [
    "CLIP",
    "COARSE_W",
    "GRAD_V",
    "GRAD_W",
    "LOSS",
    "LOSS_AT_ZERO",
    "SS",
    "STES",
    "SV",
    "THETA",
    "VSS",
    "VV",
    "VVS",
    "Evaluation",
    "H",
    "M",
    "Phi",
    "R",
    "coarse_w",
    "evaluate",
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


# -- numeric evaluation ---------------------------------------------------------------------------

_SCALAR_NAMES = ("loss", "gv_v", "gv_ones", "gv_v_star", "gw_u", *(f"{s}_{b}" for s in STES for b in ("w_hat", "u")))


@functools.cache
def _lambdified(end: int | None):
    """One mpmath function returning every scalar coefficient; built once per end case."""
    exprs = [LOSS, GRAD_V["v"], GRAD_V["ones"], GRAD_V["v_star"], GRAD_W["u"] if end is None else sp.Integer(0)]
    for ste in STES:
        coef = coarse_w(ste, end)
        exprs += [coef["w_hat"], coef["u"]]
    return sp.lambdify(_ARGS, exprs, modules="mpmath")


@dataclass(frozen=True)
class Evaluation:
    r"""All closed forms at one point, as mpmath numbers correct to ``dps`` significant digits.

    Attributes
    ----------
    dps : int
        Decimal digits requested.
    theta : mpf
        :math:`\theta(w, w^*) \in [0, \pi]`.
    loss : mpf
        :math:`f(v, w)` (Lemma 1).
    grad_v : list of mpf, length m
        :math:`\partial f/\partial v` (Lemma 2), which is also :math:`E\,\partial\ell/\partial v` (Lemma 4).
    grad_w : list of mpf, length n
        :math:`\partial f/\partial w` (Lemma 2); zeros at :math:`\theta \in \{0, \pi\}`.
    coarse_grad_w : dict str -> list of mpf, length n
        :math:`E g_\mu` for ``"identity"``, ``"relu"``, ``"clipped_relu"`` (Lemmas 9, 4, 7).
    coefficients : dict str -> mpf
        The scalar coefficients behind the vectors (names as in :data:`GRAD_V`, :data:`GRAD_W`,
        :data:`COARSE_W`, e.g. ``"relu_w_hat"``, ``"relu_u"``, ``"gw_u"``, ``"gv_ones"``).
    inner_w : dict str -> mpf
        :math:`\langle E g_\mu, \partial f/\partial w\rangle` (Lemmas 5, 7, 10).
    """

    dps: int
    theta: mpmath.mpf
    loss: mpmath.mpf
    grad_v: list
    grad_w: list
    coarse_grad_w: dict
    coefficients: dict
    inner_w: dict


@dataclass(frozen=True)
class _Exact:
    """Exact rational invariants of the float64 inputs (floats are dyadic rationals)."""

    v: tuple[Fraction, ...]
    v_star: tuple[Fraction, ...]
    w: tuple[Fraction, ...]
    w_star: tuple[Fraction, ...]
    ww: Fraction  # |w|^2
    wsws: Fraction  # |w*|^2
    dot: Fraction  # w . w*
    wedge2: Fraction  # |w|^2 |w*|^2 - (w . w*)^2 = |w|^2 |w*|^2 sin^2(theta)  (Lagrange, exact)
    perp: tuple[Fraction, ...]  # |w|^2 w* - (w . w*) w, length |w| sqrt(wedge2)
    inv: tuple[Fraction, ...]  # vv, sv, ss, vvs, vss


def _fractions(x: np.ndarray) -> tuple[Fraction, ...]:
    return tuple(Fraction(float(t)) for t in x)


def _dot(a: Sequence[Fraction], b: Sequence[Fraction]) -> Fraction:
    return sum((x * y for x, y in zip(a, b, strict=True)), Fraction(0))


def _exact(v: np.ndarray, v_star: np.ndarray, w: np.ndarray, w_star: np.ndarray) -> _Exact:
    fv, fvs, fw, fws = _fractions(v), _fractions(v_star), _fractions(w), _fractions(w_star)
    ww, wsws, dot = _dot(fw, fw), _dot(fws, fws), _dot(fw, fws)
    inv = (_dot(fv, fv), sum(fv, Fraction(0)), sum(fvs, Fraction(0)), _dot(fv, fvs), _dot(fvs, fvs))
    perp = tuple(ww * b - dot * a for a, b in zip(fw, fws, strict=True))
    return _Exact(fv, fvs, fw, fws, ww, wsws, dot, ww * wsws - dot * dot, perp, inv)


def _mpf(x: Fraction) -> mpmath.mpf:
    """Round an exact rational once, at the working precision."""
    return mpmath.mpf(x.numerator) / x.denominator


def _compute(e: _Exact, clip: Fraction) -> tuple[list, dict]:
    """Every output at the current working precision; returns (flat list, structured pieces)."""
    r = mpmath.sqrt(_mpf(e.ww))
    theta = mpmath.atan2(mpmath.sqrt(_mpf(e.wedge2)), _mpf(e.dot))
    if e.wedge2 == 0:
        end = 0 if e.dot > 0 else 1
        theta = mpmath.mpf(0) if end == 0 else +mpmath.pi
        u = [mpmath.mpf(0)] * len(e.w)
    else:
        end = None
        perp_norm = r * mpmath.sqrt(_mpf(e.wedge2))
        u = [_mpf(p) / perp_norm for p in e.perp]
    w_hat = [_mpf(x) / r for x in e.w]
    vals = _lambdified(end)(theta, r, *(_mpf(x) for x in e.inv), _mpf(clip))
    coef = dict(zip(_SCALAR_NAMES, vals, strict=True))
    v = [_mpf(x) for x in e.v]
    v_star = [_mpf(x) for x in e.v_star]
    grad_v = [coef["gv_v"] * a + coef["gv_ones"] + coef["gv_v_star"] * b for a, b in zip(v, v_star, strict=True)]
    grad_w = [coef["gw_u"] * x for x in u]
    coarse = {s: [coef[f"{s}_w_hat"] * a + coef[f"{s}_u"] * b for a, b in zip(w_hat, u, strict=True)] for s in STES}
    inner = {s: coef[f"{s}_u"] * coef["gw_u"] for s in STES}  # w_hat is orthogonal to u, |u| = 1
    flat = [theta, *vals, *grad_v, *grad_w, *(x for s in STES for x in coarse[s]), *inner.values()]
    parts = {"theta": theta, "coef": coef, "grad_v": grad_v, "grad_w": grad_w, "coarse": coarse, "inner": inner}
    return flat, parts


def _agree(a: list, b: list, bits: int) -> bool:
    tol = mpmath.ldexp(1, -bits)
    return all(x == y or abs(x - y) <= tol * abs(y) for x, y in zip(a, b, strict=True))


def _teacher(teacher: object) -> tuple[object, object]:
    if hasattr(teacher, "v_star") and hasattr(teacher, "w_star"):
        return teacher.v_star, teacher.w_star
    if isinstance(teacher, (tuple, list)) and len(teacher) == 2:
        return teacher[0], teacher[1]
    raise TypeError(f"teacher must be a popgrad.Model or a pair (v_star, w_star), got {type(teacher).__name__}")


def evaluate(teacher: object, v: object, w: object, dps: int = 50, *, clip: float = 1.0) -> Evaluation:
    r"""Every closed form of the paper at one point, to ``dps`` significant digits.

    Parameters
    ----------
    teacher : popgrad.Model or (v_star, w_star)
        ``v_star`` shape (m,), ``w_star`` shape (n,), non-zero.
    v : array_like, shape (m,)
    w : array_like, shape (n,), non-zero
    dps : int
        Decimal digits of every returned number.
    clip : float
        Clipping level :math:`c` of the clipped ReLU STE, :math:`\mu'(x) = 1\{0 < x < c\}` (default 1).

    Returns
    -------
    Evaluation
        ``.theta``, ``.loss``, ``.grad_v`` (m), ``.grad_w`` (n), ``.coarse_grad_w[ste]`` (n),
        ``.inner_w[ste]``, ``.coefficients``.

    Method.  The inputs are float64, i.e. exact dyadic rationals; :math:`\|w\|^2`,
    :math:`w^\top w^*`, :math:`\|w\|^2\|w^*\|^2\sin^2\theta = \|w\|^2\|w^*\|^2 - (w^\top w^*)^2`
    (Lagrange's identity), :math:`\|w\|^2 w^* - (w^\top w^*)w` and the v-invariants are computed
    exactly, then :math:`\theta = \operatorname{atan2}(\|w\|\|w^*\|\sin\theta, w^\top w^*)`,
    :math:`\hat w`, :math:`u` and the expressions above in mpmath.  The working precision starts
    at ``dps`` + 10 digits and doubles until two successive evaluations agree to ``dps`` + 3
    digits in every output (so cancellation, e.g. in :math:`p(\theta, w)` near :math:`\theta = \pi`,
    costs time, not accuracy), up to 32 times ``dps``; a quantity that is exactly 0 in exact
    arithmetic may then come back as a number below :math:`10^{-16\,\mathrm{dps}}` times its terms.
    The global mpmath precision is left unchanged.

    Examples
    --------
    >>> import mpmath
    >>> from popgrad import symbolic
    >>> res = symbolic.evaluate(([1.0], [1.0, 0.0]), [0.5], [1.0, 1e-30], dps=40)
    >>> mpmath.nstr(res.theta, 15)   # the float 1e-30 is 1.00000000000000008e-30
    '1.0e-30'
    >>> mpmath.nstr(res.grad_v[0], 40)   # m = 1: (v - v*)/2 + theta v*/(2 pi)
    '-0.2499999999999999999999999999998408450569'
    """
    v_star, w_star = _teacher(teacher)
    v_star = as_vector_batch(v_star, "v_star", batch=False)
    w_star = as_vector_batch(w_star, "w_star", batch=False)
    check_nonzero_rows(w_star, "w_star", "the teacher's direction is undefined; give w_star != 0")
    v = as_vector_batch(v, "v", v_star.size, batch=False)
    w = as_vector_batch(w, "w", w_star.size, batch=False)
    check_nonzero_rows(w, "w", "f is discontinuous at w = 0 and theta undefined; use w != 0")
    dps = positive_int(dps, "dps")
    if isinstance(clip, bool) or not isinstance(clip, numbers.Real) or not (0 < clip < math.inf):
        raise ValueError(f"clip must be a positive finite number (the clipping level c), got {clip!r}")
    e = _exact(v, v_star, w, w_star)
    c = Fraction(float(clip))
    target = mpmath.libmp.dps_to_prec(dps)
    prec = mpmath.libmp.dps_to_prec(dps + 10)
    with mpmath.workprec(prec):
        prev, parts = _compute(e, c)
    while True:
        prec *= 2
        with mpmath.workprec(prec):
            cur, parts = _compute(e, c)
        if _agree(prev, cur, target + 10) or prec > 32 * target:
            break
        prev = cur
    with mpmath.workprec(target):
        rnd = lambda x: +x  # noqa: E731  (round to the requested precision)
        return Evaluation(
            dps=dps,
            theta=rnd(parts["theta"]),
            loss=rnd(parts["coef"]["loss"]),
            grad_v=[rnd(x) for x in parts["grad_v"]],
            grad_w=[rnd(x) for x in parts["grad_w"]],
            coarse_grad_w={s: [rnd(x) for x in xs] for s, xs in parts["coarse"].items()},
            coefficients={k: rnd(x) for k, x in parts["coef"].items()},
            inner_w={s: rnd(x) for s, x in parts["inner"].items()},
        )
