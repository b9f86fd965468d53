r"""Deterministic quadrature of every expectation of a committee, from the definitions, with error bounds.

The engine behind ``pg.expectations(..., engine="quadrature")``.  It trusts the definition of the model, the
independence and rotation invariance of the rows of :math:`Z`, and nothing of the closed forms: it does not
import :mod:`popgrad.assembly`, :mod:`popgrad.kernels`, :mod:`popgrad.models` or :mod:`popgrad.geometry`
(shared on purpose: :mod:`popgrad.activation` for :math:`\sigma`'s thresholds and jumps, :mod:`popgrad.ste` for
:math:`\mu'` and its pieces, :mod:`popgrad._scan` to locate a custom :math:`\mu'`'s jumps,
:mod:`popgrad._exact_plane` for the exact invariants of a pair of filters).

Model.  Filters :math:`a = 1..F` (the :math:`K` student filters, then the :math:`K^*` teacher ones) with signed
output weights :math:`C = [V; -V^*]` (:math:`F \times m`); unit :math:`(a, i)` outputs
:math:`\sigma(z_i^\top w_a)`; :math:`e = \sum_{a,i} C_{ai}\sigma_{ai}`, :math:`\ell = \tfrac12 e^2`,
:math:`g_k = \sum_i z_i\mu'(z_i^\top w_k)V_{ki}e`.

Row integrals (:mod:`popgrad._quad_rows`, collected by :mod:`popgrad._quad_committee`), each in the plane of
the filters it involves, :math:`x = z^\top\hat w_k`, :math:`y = z^\top u_{kb}` independent N(0, 1):
:math:`\mu_a = E\sigma_a`, :math:`\kappa_{ab} = E\sigma_a\sigma_b` (:math:`\kappa_{aa} = E\sigma_a^2`),
:math:`\alpha_k = E[x\mu'_k]` and :math:`\beta_k = E[x\mu'_k\sigma_k]` along :math:`\hat w_k`,
:math:`G_{kb} = E[z\mu'(z^\top w_k)\sigma(z^\top w_b)] = g^x_{kb}\hat w_k + g^y_{kb}u_{kb}`, and the boundary values
:math:`M_{kbl} = E[\sigma_b \mid x = \tau_{kl}]`, :math:`N_{kbl} = E[y\,\sigma_b \mid x = \tau_{kl}]`.

Rule (:mod:`popgrad._quad_rule`).  Composite Gauss--Legendre: on every panel two rules of :math:`n` and
:math:`2n` nodes, the larger one's sum the value, their difference the error estimate; ``"scipy"`` backend 8 and
16 nodes (``scipy.special.roots_legendre``, float64), ``"mpmath"`` backend mpmath's own Gauss--Legendre nodes
(12 and 24 up to 30 digits, doubled per doubling of ``dps``).  Neither ``scipy.integrate.quad`` nor
``mpmath.quad`` (nor tanh-sinh) is used.  The 2-D integrals are iterated: :math:`x` outside on
:math:`[-L, L]`, split at the unit grid, at the scaled thresholds :math:`\tau = t/\|w\|`, at :math:`\mu'`'s
breakpoints and where the edges of :math:`\sigma(z^\top w_b)` cross the grid lines of :math:`y`; :math:`y` inside,
:math:`\int_{y_0}^{L}y^q\varphi` from a table of unit panels plus the rule on the partial panel.  Panels whose
estimate is too large are bisected.

Assembly (the raw form; rows independent, so :math:`E e_ie_j = Ee_i\,Ee_j` for :math:`i \ne j`).  With
:math:`S = C1`, :math:`H = CC^\top`, :math:`\bar e_i = \sum_a C_{ai}\mu_a`, :math:`Ee = \sum_i\bar e_i`,
:math:`\mathrm{Cov}_{ab} = \kappa_{ab} - \mu_a\mu_b` and :math:`Q_k = S_kEe - (H\mu)_k`:

.. math::
    f &= \tfrac12\Big[(Ee)^2 + \textstyle\sum_i\operatorname{Var}(e_i)\Big]
       = \tfrac12\Big[(Ee)^2 + \textstyle\sum_{a,b}H_{ab}\,\mathrm{Cov}_{ab}\Big], \\
    \partial f/\partial V_{ki} &= E[\sigma_{ki}e] = \mu_k Ee + \textstyle\sum_b C_{bi}\,\mathrm{Cov}_{kb}, \\
    E g_k &= \big(H_{kk}\beta_k + \textstyle\sum_{b\ne k}H_{kb}g^x_{kb} + \alpha_kQ_k\big)\hat w_k
            + \textstyle\sum_{b\ne k}H_{kb}g^y_{kb}u_{kb}, \\
    \partial f/\partial w_k &= \textstyle\sum_l \frac{J_l\varphi(\tau_{kl})}{\|w_k\|}\Big[\tau_{kl}\Big(Q_k
            + H_{kk}\bar L_l + \textstyle\sum_{b\ne k}H_{kb}M_{kbl}\Big)\hat w_k
            + \textstyle\sum_{b\ne k}H_{kb}N_{kbl}u_{kb}\Big],

:math:`\bar L_l = (L_{l-1} + L_l)/2` the midpoint of :math:`\sigma`'s jump :math:`J_l` at its threshold :math:`t_l`,
:math:`\tau_{kl} = t_l/\|w_k\|` -- the boundary representation of the true gradient, each threshold of each
unit a switching surface (``derivations/staircase_boundary.md``).  Where a pair is parallel and a threshold
of one unit meets one of the other exactly, :math:`f` is not differentiable; :math:`M` then takes the midpoint
of the jump (the closed forms' convention), and :math:`N = 0` (the angular term of a parallel pair is 0).

Errors (``Quantity.error``).  Every row integral comes with a bound: the sum of its panels' estimates
:math:`|Q_{2n} - Q_n|` (each integral checked against ``rtol`` times the larger of :math:`\int|f|` and the
integrand's natural size; a miss raises :class:`QuadratureError`), plus the inner integrals' bounds (their
estimates, and the rounding of the edge :math:`y = (\tau^b - c x)/s`) integrated, the truncation to
:math:`|x|, |y| \le L`, and the rounding of the sums, :math:`(P + 32)\epsilon\int|f|` for :math:`P` panels.  These
are propagated to first order through the formulas above, :math:`\sum_j|\partial\,\text{result}/\partial I_j|\,
\text{err}_j`, and the rounding of the assembly is added: :math:`(2m + 2F^2 + 16)\,\epsilon` times the same
formulas evaluated with absolute values, plus :math:`4\epsilon` of it for the rounding of the basis vectors
:math:`\hat w_k, u_{kb}`, :math:`\epsilon` the working unit roundoff (:math:`2^{-53}` for scipy); the mpmath
backend's float64 values add half an ulp.  The rule's estimates are trusted as bounds -- every integrand is
smooth on every panel, the panels are at most one unit of the Gaussian's scale long, and the estimate is the
error of the *smaller* rule -- so the bound is as honest as those estimates; in the tests it covers the
difference to the closed forms and to the mpmath backend at every point.

Backends: ``"scipy"`` (float64 throughout, rtol :math:`10^{-11}`) and ``"mpmath"`` (``dps + 5`` working digits,
rtol :math:`10^{-\text{dps}+5}`, ``dps`` in [15, 300], results also as ``mpf`` in ``Quantity.mp``; custom STEs
refused: a float64 :math:`\mu'` cannot be evaluated at that precision).  Geometry from exact rational
arithmetic (:mod:`popgrad._quad_geometry`): :math:`\|w\|` from :math:`10^{-300}` to :math:`10^{300}` is as
accurate as :math:`\|w\| = 1`.
"""

from __future__ import annotations

from dataclasses import dataclass

import mpmath
import numpy as np

from ._quad_committee import CommitteeRows, committee_rows
from ._quad_rule import QuadratureError
from .activation import Activation
from .ste import STE

__all__ = ["CommitteeResult", "Estimate", "QuadratureError", "integrate_committee"]

OVERFLOW = (
    "the result overflows float64 at these inputs (magnitudes of v, v_star near 1e154 or more, "
    "or |w| near the smallest float for gradients); rescale v and v_star (f scales as |v|^2)"
)


@dataclass(frozen=True)
class Estimate:
    """A result and its error bound (float64 arrays), and the working-precision value (mpmath backend)."""

    value: np.ndarray
    error: np.ndarray
    mp: np.ndarray | None = None


@dataclass(frozen=True)
class CommitteeResult:
    r"""Expectations of a committee by quadrature.

    Attributes
    ----------
    loss : Estimate, shape ()
    grad_v : Estimate, (K, m)      :math:`\partial f/\partial V`
    grad_w : Estimate, (K, n)      :math:`\partial f/\partial W`
    coarse : dict[str, Estimate]   :math:`E g_k` per STE name, (K, n)
    max_error : float              the largest error bound of a row integral
    backend : str
    """

    loss: Estimate
    grad_v: Estimate
    grad_w: Estimate
    coarse: dict
    max_error: float
    backend: str


def integrate_committee(
    v_star: np.ndarray,
    w_star: np.ndarray,
    activation: Activation,
    V: np.ndarray,
    W: np.ndarray,
    stes: tuple[STE, ...],
    *,
    backend: str = "scipy",
    dps: int = 30,
) -> CommitteeResult:
    r"""Loss, true gradient and expected coarse gradients of one committee by quadrature (module docstring).

    Parameters
    ----------
    v_star, w_star : ndarray (K*, m), (K*, n)
        Teacher (``w_star`` rows non-zero).
    activation : popgrad.activation.Activation
    V, W : ndarray (K, m), (K, n)
        Student (validated float64, ``W`` rows non-zero).
    stes : tuple of popgrad.ste.STE
    backend : ``"scipy"`` or ``"mpmath"``
    dps : int in [15, 300] (mpmath only)

    Raises
    ------
    QuadratureError
        An integral's error estimate misses its tolerance.
    ValueError
        Unknown backend, bad ``dps``, a custom STE with the mpmath backend, or a result beyond float64.
    """
    if backend == "scipy":
        return _assemble(("scipy", 0), v_star, w_star, activation, V, W, stes)
    if backend == "mpmath":
        if isinstance(dps, bool) or not isinstance(dps, int) or not 15 <= dps <= 300:
            raise ValueError(f"dps must be an integer in [15, 300], got {dps!r}")
        with mpmath.workdps(dps + 5):
            return _assemble(("mpmath", dps), v_star, w_star, activation, V, W, stes)
    raise ValueError(f"unknown backend {backend!r}; expected 'scipy' or 'mpmath'")


def _assemble(
    key: tuple[str, int],
    v_star: np.ndarray,
    w_star: np.ndarray,
    activation: Activation,
    V: np.ndarray,
    W: np.ndarray,
    stes: tuple[STE, ...],
) -> CommitteeResult:
    # an overflow (|v| ~ 1e200, |w| subnormal) surfaces as the ValueError of Estimate's finiteness check
    with np.errstate(over="ignore", invalid="ignore"):
        rows = committee_rows(key, activation, W, w_star, stes)
        return _Assembly(key[0] == "mpmath", rows, np.concatenate([V, -v_star], axis=0), activation).result(stes)


def _f(x: object) -> np.ndarray:
    """Working numbers as float64 magnitudes."""
    return np.abs(np.asarray(x, dtype=object).astype(np.float64))


def _sum_b(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """sum_b x[k, b] y[k, b, :] for object or float arrays."""
    return (x[..., None] * y).sum(axis=1)


class _Assembly:
    """The module docstring's formulas and their first-order error propagation, at one committee."""

    def __init__(self, is_mp: bool, rows: CommitteeRows, C: np.ndarray, activation: Activation) -> None:
        self.is_mp, self.r = is_mp, rows
        self.C = np.vectorize(mpmath.mpf, otypes=[object])(C) if is_mp else C
        self.K = rows.w_hat.shape[0]
        F, m = C.shape
        self.eps = float(mpmath.mpf(2) ** (-mpmath.mp.prec)) if is_mp else 2.0**-53
        self.gamma = (2 * m + 2 * F * F + 16) * self.eps  # rounding of the assembly, per unit of magnitude
        self.act = activation
        mu = rows.mu
        self.S = self.C.sum(axis=1)
        self.H = self.C @ self.C.T
        self.Ee = (self.C.T @ mu).sum()
        self.Q = self.S * self.Ee - self.H @ mu  # Q_a; the students' Q_k
        self.dQ = _f(np.outer(self.S, self.S) - self.H)  # |dQ_k / d mu_a|

    def result(self, stes: tuple[STE, ...]) -> CommitteeResult:
        est = self._estimate
        K, m = self.K, self.C.shape[1]
        n = self.r.w_hat.shape[1]
        loss = est(*self.loss(), ())
        grad_v = est(*self.grad_v(), (K, m))
        grad_w = est(*self.grad_w(), (K, n))
        coarse = {s.name: est(*self.coarse(s.name), (K, n)) for s in stes}
        return CommitteeResult(loss, grad_v, grad_w, coarse, self.r.max_error, "mpmath" if self.is_mp else "scipy")

    def _estimate(self, value: object, err: np.ndarray, shape: tuple) -> Estimate:
        arr = np.reshape(np.asarray(value, dtype=object if self.is_mp else np.float64), shape)
        f = arr.astype(np.float64)
        err = np.reshape(np.asarray(err, dtype=np.float64), shape)
        if not (np.all(np.isfinite(f)) and np.all(np.isfinite(err))):
            raise ValueError(OVERFLOW)
        if self.is_mp:
            err = err + 0.5 * np.spacing(np.abs(f))
        return Estimate(f[()], err[()], arr if self.is_mp else None)

    # -- the formulas --------------------------------------------------------------------------------------

    def loss(self) -> tuple[object, np.ndarray]:
        r, H = self.r, self.H
        cov = r.kappa - np.outer(r.mu, r.mu)
        value = (self.Ee * self.Ee + (H * cov).sum()) / 2
        Hf, muf = _f(H), _f(r.mu)
        err = _f(self.Q) @ r.e_mu + 0.5 * (Hf * r.e_kappa).sum()
        mag = 0.5 * ((_f(self.S) @ muf) ** 2 + (Hf * (_f(r.kappa) + np.outer(muf, muf))).sum())
        return value, err + self.gamma * mag

    def grad_v(self) -> tuple[np.ndarray, np.ndarray]:
        r, C, K = self.r, self.C, self.K
        cov = r.kappa[:K] - np.outer(r.mu[:K], r.mu)
        value = r.mu[:K, None] * self.Ee + cov @ C
        muf, Cf = _f(r.mu), _f(C)
        ebar = (C * r.mu[:, None]).sum(axis=0)  # E e_i
        # d/d mu_a: delta_ak (Ee - ebar_i) + mu_k (S_a - C_ai); d/d kappa_kb: C_bi
        err = (
            r.e_mu[:K, None] * _f(self.Ee - ebar)[None, :]
            + muf[:K, None] * (r.e_mu @ _f(self.S[:, None] - C))[None, :]
            + r.e_kappa[:K] @ Cf
        )
        mag = muf[:K, None] * float(_f(self.S) @ muf) + (_f(r.kappa[:K]) + np.outer(muf[:K], muf)) @ Cf
        return value, err + self.gamma * mag

    def _vectors(
        self, own: np.ndarray, on: np.ndarray, e_own: np.ndarray, e_on: np.ndarray, mag: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """own_k w_hat_k + sum_b on_kb u_kb (K, n), with the componentwise error bound."""
        r = self.r
        value = own[:, None] * r.w_hat + _sum_b(on, r.u)
        err = e_own[:, None] * _f(r.w_hat) + (e_on[..., None] * _f(r.u)).sum(axis=1)
        return value, err + (self.gamma + 4 * self.eps) * mag[:, None]

    def coarse(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        r, H, K = self.r, self.H, self.K
        Hk, Hf = H[:K], _f(H[:K])
        hkk = np.diagonal(Hk)
        alpha, beta, gx, gy = r.alpha[name], r.beta[name], r.gx[name], r.gy[name]
        own = hkk * beta + (Hk * gx).sum(axis=1) + alpha * self.Q[:K]
        on = Hk * gy
        e_own = (
            np.diagonal(Hf) * r.e_beta[name]
            + (Hf * r.e_gx[name]).sum(axis=1)
            + _f(self.Q[:K]) * r.e_alpha[name]
            + _f(alpha) * (self.dQ[:K] @ r.e_mu)
        )
        e_on = Hf * r.e_gy[name]
        mag = np.diagonal(Hf) * _f(beta) + (Hf * (_f(gx) + _f(gy))).sum(axis=1) + _f(alpha) * (self.dQ[:K] @ _f(r.mu))
        return self._vectors(own, on, e_own, e_on, mag)

    def grad_w(self) -> tuple[np.ndarray, np.ndarray]:
        r, H, K = self.r, self.H, self.K
        Hk, Hf = H[:K], _f(H[:K])
        levels = np.asarray(self.act.levels, dtype=np.float64)
        mids = (levels[:-1] + levels[1:]) / 2  # the midpoint of each jump
        jumps = np.asarray(self.act.jumps, dtype=np.float64)
        if self.is_mp:
            mids, jumps = (np.vectorize(mpmath.mpf, otypes=[object])(x) for x in (mids, jumps))
        live = _f(r.phi_tau) > 0
        d = jumps[None, :] * r.phi_tau * r.inv_r[:, None]  # (K, T): J_l phi(tau_kl) / |w_k|
        c = np.where(live, d * np.where(live, r.tau, 0), 0)  # ... times tau_kl (0 where phi = 0)
        hkk = np.diagonal(Hk)
        inner = self.Q[:K, None] + hkk[:, None] * mids[None, :] + (Hk[:, :, None] * r.M).sum(axis=1)  # (K, T)
        radial = (c * inner).sum(axis=1)
        on = Hk * (d[:, None, :] * r.N).sum(axis=2)  # (K, F)
        cf, df = _f(c), _f(d)
        e_inner = (self.dQ[:K] @ r.e_mu)[:, None] + (Hf[:, :, None] * r.e_M).sum(axis=1)
        e_rad = (cf * e_inner).sum(axis=1)
        e_on = Hf * (df[:, None, :] * r.e_N).sum(axis=2)
        m_inner = (self.dQ[:K] @ _f(r.mu))[:, None] + _f(hkk)[:, None] * _f(mids)[None, :]
        m_inner = m_inner + (Hf[:, :, None] * _f(r.M)).sum(axis=1)
        mag = (cf * m_inner).sum(axis=1) + (Hf * (df[:, None, :] * _f(r.N)).sum(axis=2)).sum(axis=1)
        return self._vectors(radial, on, e_rad, e_on, mag)
