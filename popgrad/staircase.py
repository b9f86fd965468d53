r"""Closed forms for staircase (multi-bit) activations :math:`\sigma(x) = \sum_k J_k 1\{x > t_k\}`.

Derivation: ``derivations/staircase.md``.  Notation: :math:`r = \|w\|`, :math:`r_* = \|w^*\|`,
:math:`\tau_k = t_k/r`, :math:`\tau^*_l = t_l/r_*` (thresholds in units of :math:`x = z^\top\hat w`),
:math:`c = \cos\theta`, :math:`s = \sin\theta`, :math:`\varphi, \Phi` the standard normal pdf and cdf.
Teacher and student share :math:`\sigma`.  Because the thresholds are not at 0, everything depends
on :math:`\|w\|` and :math:`\|w^*\|` (not only on directions, unlike the binary case).

Row moments (one row :math:`z`):

.. math::
    m_w = E\sigma(z^\top w) = \sum_k J_k\Phi(-\tau_k), \quad
    s_{ww} = E\sigma(z^\top w)^2 = \sum_k (L_k^2 - L_{k-1}^2)\Phi(-\tau_k), \quad
    s_{w*} = E\sigma(z^\top w)\sigma(z^\top w^*) = \sum_{k,l} J_k J_l\, \bar\Phi_2(\tau_k, \tau^*_l; c),

with :math:`L_k` the partial sums of the jumps and :math:`\bar\Phi_2(a, b; \rho) = P(X > a, Y > b)` for
standard normals with correlation :math:`\rho` (Owen's T).  Rows are independent, so

.. math::
    f = \tfrac12\big[\|v\|^2(s_{ww} - m_w^2) + (1^\top v)^2 m_w^2 - 2v^\top v^*(s_{w*} - m_w m_*)
        - 2(1^\top v)(1^\top v^*) m_w m_* + \|v^*\|^2(s_{**} - m_*^2) + (1^\top v^*)^2 m_*^2\big].

Binary :math:`\sigma` (:math:`m = s = 1/2`, :math:`s_{w*} = (\pi - \theta)/2\pi`) gives Lemma 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special

from .activation import Activation
from .closed_form import CoarseCoefficients, TeacherInvariants, _phi_diff
from .geometry import Plane
from .ste import Piece

__all__ = [
    "StaircaseTeacher",
    "coarse_grad",
    "grad",
    "loss",
    "row_moments",
    "upper_orthant",
]

_PHI0 = 1.0 / math.sqrt(2.0 * math.pi)
_CLIP = 40.0


def _phi(x: np.ndarray) -> np.ndarray:
    return _PHI0 * np.exp(-0.5 * x * x)


def _ratio(num: np.ndarray, s: np.ndarray) -> np.ndarray:
    """num / s for s >= 0, with the limits used at s = 0: sign(num) * inf, and 0 where num = 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = num / s
    return np.where(s > 0, out, np.where(num == 0, 0.0, np.copysign(np.inf, num)))


def _sq_jumps(act: Activation) -> np.ndarray:
    """Jumps of sigma^2 at the thresholds: L_k^2 - L_{k-1}^2."""
    lev = np.asarray(act.levels)
    return lev[1:] ** 2 - lev[:-1] ** 2


def upper_orthant(a: np.ndarray, b: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    r""":math:`P(X > a, Y > b)`, standard normals with correlation :math:`\rho = \cos\theta` (:math:`\sin\theta \ge 0`).

    Owen (1956): with :math:`h = -a`, :math:`k = -b`, :math:`\Phi_2(h, k; \rho) = \tfrac12\Phi(h) + \tfrac12\Phi(k)
    - T(h, \frac{k - \rho h}{h s}) - T(k, \frac{h - \rho k}{k s}) - \delta`,
    :math:`\delta = \tfrac12` if :math:`hk < 0` or (:math:`hk = 0` and :math:`h + k < 0`), else 0
    (``scipy.special.owens_t``).  Special cases: :math:`a = b = 0` gives :math:`(\pi - \theta)/2\pi`;
    :math:`s = 0` gives :math:`\bar\Phi(\max(a, b))` (:math:`\rho = 1`) and
    :math:`\max(0, \Phi(-b) - \Phi(a))` (:math:`\rho = -1`).  Broadcasts.  Absolute error a few
    1e-16, up to ~2e-15 near :math:`\rho = \pm 1` (measured against mpmath in the tests).
    """
    a, b, cos, sin = np.broadcast_arrays(*(np.asarray(x, dtype=np.float64) for x in (a, b, cos, sin)))
    h, k = -a, -b
    theta = np.arctan2(sin, cos)
    with np.errstate(divide="ignore", invalid="ignore"):
        ah = (k - cos * h) / (h * sin)
        ak = (h - cos * k) / (k * sin)
        ah = np.where(h == 0, np.copysign(np.inf, k - cos * h), ah)
        ak = np.where(k == 0, np.copysign(np.inf, h - cos * k), ak)
        delta = np.where((h * k < 0) | ((h * k == 0) & (h + k < 0)), 0.5, 0.0)
        general = (
            0.5 * special.ndtr(h) + 0.5 * special.ndtr(k) - special.owens_t(h, ah) - special.owens_t(k, ak) - delta
        )
    zero = (h == 0) & (k == 0)
    general = np.where(zero, (np.pi - theta) / (2.0 * np.pi), general)
    same = special.ndtr(-np.maximum(a, b))
    opposite = np.maximum(0.0, special.ndtr(-b) - special.ndtr(a))
    out = np.where(sin > 0, general, np.where(cos > 0, same, opposite))
    return np.clip(out, 0.0, 1.0)


def row_moments(act: Activation, r: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    r""":math:`(m, s, dm/dr, ds/dr)`: :math:`m = E\sigma(z^\top w)`, :math:`s = E\sigma(z^\top w)^2`, :math:`r = \|w\|`.

    :math:`dm/dr = \sum_k J_k\varphi(\tau_k)\tau_k/r`, the same with :math:`L_k^2 - L_{k-1}^2` for s.
    Shapes: ``r (...)`` -> each ``(...)``.
    """
    r = np.asarray(r, dtype=np.float64)[..., None]
    tau = np.asarray(act.thresholds) / r
    jumps, sq = np.asarray(act.jumps), _sq_jumps(act)
    tail, dens = special.ndtr(-tau), _phi(tau) * tau / r
    return tail @ jumps, tail @ sq, dens @ jumps, dens @ sq


@dataclass(frozen=True)
class StaircaseTeacher:
    """Teacher invariants for a staircase activation (``w_star`` norm matters)."""

    act: Activation
    t: TeacherInvariants
    r_star: float
    m_star: float
    s_star: float

    @classmethod
    def of(cls, act: Activation, v_star: np.ndarray, w_star: np.ndarray) -> StaircaseTeacher:
        r_star = float(np.linalg.norm(w_star))
        m, s, _, _ = row_moments(act, np.asarray(r_star))
        return cls(act, TeacherInvariants.of(v_star), r_star, float(m), float(s))


def _cross(st: StaircaseTeacher, p: Plane) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """s_w*, and its derivatives along w_hat (d/dr) and along u (times r, per unit angle)."""
    act = st.act
    tk = np.asarray(act.thresholds)
    jk = np.asarray(act.jumps)
    r = np.asarray(p.r, dtype=np.float64)[..., None, None]
    cos = np.asarray(p.cos_theta)[..., None, None]
    sin = np.asarray(p.sin_theta)[..., None, None]
    a = tk[:, None] / r  # student thresholds (k, 1)
    b = (tk / st.r_star)[None, :]  # teacher thresholds (1, l)
    weight = jk[:, None] * jk[None, :]
    prob = upper_orthant(a, b, cos, sin)
    # d/dr: dF/da * da/dr = phi(a) Phi((rho a - b)/s) * a / r
    d_r = _phi(a) * special.ndtr(_ratio(cos * a - b, sin)) * a / r
    # d/d(rho) * d(rho)/d(theta-direction): phi_2(a, b; rho) * s = exp(-Q/2)/(2 pi), Q stable in rho
    with np.errstate(divide="ignore", invalid="ignore"):
        q_pos = _ratio((a - b) ** 2, sin**2) + 2 * a * b / (1 + cos)
        q_neg = _ratio((a + b) ** 2, sin**2) - 2 * a * b / (1 - cos)
        quad = np.where(cos >= 0, q_pos, q_neg)
        dens_s = np.where(sin > 0, np.exp(-0.5 * quad) / (2 * np.pi), 0.0)
    s_cross = np.einsum("...kl,kl->...", prob, weight)
    ds_dr = np.einsum("...kl,kl->...", d_r, weight)
    ds_du = np.einsum("...kl,kl->...", dens_s, weight) / np.asarray(p.r)  # coefficient of u in grad_w s_w*
    return s_cross, ds_dr, ds_du


def _v_terms(v: np.ndarray, t: TeacherInvariants) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(||v||^2, 1'v, v'v*)."""
    return np.einsum("...i,...i->...", v, v), v.sum(axis=-1), v @ t.v_star


def loss(v: np.ndarray, st: StaircaseTeacher, p: Plane) -> np.ndarray:
    """Population loss (module docstring); ``v (..., m)``, plane batch ``(...)`` -> broadcast ``(...)``."""
    m_w, s_w, _, _ = row_moments(st.act, p.r)
    s_x, _, _ = _cross(st, p)
    return _loss_from(v, st, m_w, s_w, s_x)


def _loss_from(v, st, m_w, s_w, s_x):
    t = st.t
    sq, one, vv = _v_terms(v, t)
    ms = st.m_star
    return 0.5 * (
        sq * (s_w - m_w**2)
        + one**2 * m_w**2
        - 2 * vv * (s_x - m_w * ms)
        - 2 * one * t.sum * m_w * ms
        + t.sq_norm * (st.s_star - ms**2)
        + t.sum**2 * ms**2
    )


def loss_at_zero(v: np.ndarray, st: StaircaseTeacher) -> np.ndarray:
    """f at ``w = 0``: every student unit outputs sigma(0) (= sum of jumps with t_k < 0)."""
    s0 = float(st.act(0.0))
    return _loss_from(v, st, s0, s0 * s0, s0 * st.m_star)


def _grad_v(v, st, m_w, s_w, s_x):
    t = st.t
    one = v.sum(axis=-1, keepdims=True)
    m_w, s_w, s_x = (np.asarray(x)[..., None] for x in (m_w, s_w, s_x))
    ms = st.m_star
    return (s_w - m_w**2) * v + m_w**2 * one - (s_x - m_w * ms) * t.v_star - m_w * ms * t.sum


def grad(v: np.ndarray, st: StaircaseTeacher, p: Plane) -> tuple[np.ndarray, np.ndarray]:
    r"""True gradient :math:`(\partial f/\partial v, \partial f/\partial w)`, differentiated in closed form.

    .. math::
        \partial f/\partial v &= (s_{ww} - m_w^2)v + m_w^2(1^\top v)1 - (s_{w*} - m_w m_*)v^* - m_w m_*(1^\top v^*)1,\\
        \partial f/\partial w &= \Big[\big(m_w((1^\top v)^2 - \|v\|^2) + m_*(v^\top v^* - (1^\top v)(1^\top v^*))\big)
            \frac{dm_w}{dr} + \frac{\|v\|^2}{2}\frac{ds_{ww}}{dr}\Big]\hat w - v^\top v^*\,\nabla_w s_{w*},\\
        \nabla_w s_{w*} &= \sum_{k,l} J_kJ_l\Big[\varphi(\tau_k)\Phi\Big(\frac{c\tau_k - \tau^*_l}{s}\Big)
            \frac{\tau_k}{r}\hat w + \frac{s}{r}\varphi_2(\tau_k, \tau^*_l; c)\,u\Big].

    At :math:`\sin\theta = 0` the u-term is 0 (u = 0), as in the core.  Returns ``((..., m), (..., n))``.
    """
    m_w, s_w, dm, ds = row_moments(st.act, p.r)
    s_x, dx_r, dx_u = _cross(st, p)
    sq, one, vv = _v_terms(v, st.t)
    gv = _grad_v(v, st, m_w, s_w, s_x)
    df_dm = m_w * (one**2 - sq) + st.m_star * (vv - one * st.t.sum)
    coef_w = df_dm * dm + 0.5 * sq * ds - vv * dx_r
    coef_u = -vv * dx_u
    gw = np.asarray(coef_w)[..., None] * p.w_hat + np.asarray(coef_u)[..., None] * p.u
    return gv, gw + 0.0


def coarse_coefficients(pieces: tuple[Piece, ...], st: StaircaseTeacher, p: Plane) -> CoarseCoefficients:
    r"""For :math:`\mu' = \sum \nu 1\{lo < x < hi\}`: :math:`a` and :math:`b = E[z\mu'\sigma(z^\top w)]` on
    :math:`\hat w`, and :math:`C = E[z\mu'(z^\top w)\sigma(z^\top w^*)] = c_w\hat w + c_*\hat w^*`.

    With :math:`l = lo/r`, :math:`h = hi/r` (clipped to :math:`\pm 40`):

    .. math::
        a &= \textstyle\sum \nu[\varphi(l) - \varphi(h)], \qquad
        b = \textstyle\sum_k J_k \sum \nu[\varphi(\max(l, \tau_k)) - \varphi(\max(h, \tau_k))],\\
        c_w &= \textstyle\sum_l J_l \sum \nu\big[\varphi(l)\Phi(\tfrac{l c - \tau^*_l}{s})
              - \varphi(h)\Phi(\tfrac{h c - \tau^*_l}{s})\big],\quad
        c_* = \textstyle\sum_l J_l\,\varphi(\tau^*_l) \sum \nu\big[\Phi(\tfrac{h - \tau^*_l c}{s})
              - \Phi(\tfrac{l - \tau^*_l c}{s})\big].
    """
    act = st.act
    r = np.asarray(p.r, dtype=np.float64)[..., None]
    cos = np.asarray(p.cos_theta)[..., None]
    sin = np.asarray(p.sin_theta)[..., None]
    tau = np.asarray(act.thresholds) / r  # (..., K)
    tau_star = np.asarray(act.thresholds) / st.r_star  # (K,)
    jumps = np.asarray(act.jumps)
    a = b = c_w = c_star = 0.0
    for lo, hi, nu in pieces:
        x_lo = np.clip(lo / r, -_CLIP, _CLIP)
        x_hi = np.clip(hi / r, -_CLIP, _CLIP)
        a = a + nu * _phi_diff(x_lo, x_hi)[..., 0]
        b = b + nu * (_phi_diff(np.maximum(x_lo, tau), np.maximum(x_hi, tau)) @ jumps)
        cw = _phi(x_lo) * special.ndtr(_ratio(x_lo * cos - tau_star, sin)) - _phi(x_hi) * special.ndtr(
            _ratio(x_hi * cos - tau_star, sin)
        )
        cs = _phi(tau_star) * (
            special.ndtr(_ratio(x_hi - tau_star * cos, sin)) - special.ndtr(_ratio(x_lo - tau_star * cos, sin))
        )
        c_w = c_w + nu * (cw @ jumps)
        c_star = c_star + nu * (cs @ jumps)
    return CoarseCoefficients(a=a, b=b, c_w=c_w, c_star=c_star)


def coarse_grad(v: np.ndarray, st: StaircaseTeacher, p: Plane, cc: CoarseCoefficients) -> np.ndarray:
    r""":math:`E g_\mu = \|v\|^2(b - m_w a)\hat w + ((1^\top v)^2 m_w - (1^\top v)(1^\top v^*) m_*)a\hat w
    - v^\top v^*(C - m_* a\hat w)`; ``v (..., m)`` -> ``(..., n)``.

    (Rows independent: :math:`E[z_i\mu'_i\,\sigma_j] = a\,m_w` for :math:`i \ne j`.)
    """
    m_w, _, _, _ = row_moments(st.act, p.r)
    sq, one, vv = _v_terms(v, st.t)
    ms = st.m_star
    coef_w = sq * (cc.b - m_w * cc.a) + (one**2 * m_w - one * st.t.sum * ms) * cc.a - vv * (cc.c_w - ms * cc.a)
    coef_star = -vv * cc.c_star
    return np.asarray(coef_w)[..., None] * p.w_hat + np.asarray(coef_star)[..., None] * p.w_star_hat
