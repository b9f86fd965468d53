r"""The quadrature engine's row integrals: one filter (1-D) and a pair of filters in their plane (2-D).

A row :math:`z \sim N(0, I_n)` enters through :math:`x = z^\top\hat a` and, for a pair, :math:`y = z^\top u`
(:mod:`popgrad._quad_geometry`), independent standard normals.  With the scaled thresholds
:math:`\tau_k = t_k/\|a\|`, :math:`\tau^b_l = t_l/\|b\|`, :math:`\sigma(z^\top a) = \sum_k J_k 1\{x > \tau_k\}` and
:math:`\sigma(z^\top b) = \sum_l J_l 1\{c x + s y > \tau^b_l\}`.

One filter (:func:`filter_rows`): :math:`E\sigma`, :math:`E\sigma^2`, and per STE :math:`\alpha = E[x\mu'(z^\top a)]`,
:math:`\beta = E[x\mu'(z^\top a)\sigma(z^\top a)]` -- integrals over :math:`x`, split at the :math:`\tau_k` and at
:math:`\mu'`'s breakpoints.

A pair (:func:`pair_rows`), with the inner integrals :math:`I_q(x) = E_y[y^q\sigma(z^\top b)]`
(for :math:`s > 0`, :math:`\sum_l J_l\,U_q((\tau^b_l - c x)/s)`, :class:`popgrad._quad_rule.GaussianTail`;
for :math:`s = 0`, :math:`I_0 = \sigma` at :math:`c x` and :math:`I_1 = 0`):

* :math:`\kappa = E\sigma(z^\top a)\sigma(z^\top b) = \int\sigma_a(x) I_0(x)\varphi(x)\,dx`;
* per STE, :math:`E[z\mu'(z^\top a)\sigma(z^\top b)] = g_x\hat a + g_y u` with
  :math:`g_x = \int\mu'\,x I_0\varphi`, :math:`g_y = \int\mu' I_1\varphi`;
* the boundary values :math:`M_k = I_0(\tau_k)`, :math:`N_k = I_1(\tau_k)` of the true gradient (at :math:`s = 0`,
  :math:`\sigma(z^\top b)` at :math:`c\tau_k`, the midpoint of its jump at an exact tie).

The outer integrals are split at the unit grid of :math:`x`, at the :math:`\tau_k`, at :math:`\mu'`'s breakpoints
and, where :math:`|c| > s`, where the edges :math:`c x + s y = \tau^b_l` cross the unit grid lines :math:`y = g` (so
that no panel sees :math:`y` move by more than one unit: the layer of width :math:`s/|c|` of a near-parallel pair
is resolved).  A custom
:math:`\mu'` is split at the jumps :func:`popgrad._scan.find_jumps` locates on :math:`[-L\|a\|, L\|a\|]` and at its
declared ``points``; its size (the truncation bound outside :math:`[-L, L]`, and the natural size of its
integrals) is its largest value on a grid of :math:`|x| \le 4L`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ._quad_geometry import FilterGeometry, PairGeometry
from ._quad_rule import Backend, GaussianTail, Integrals, integrate
from ._scan import find_jumps
from .activation import Activation
from .ste import STE

__all__ = ["FilterRows", "PairRows", "Weight", "filter_rows", "pair_rows", "ste_weight"]


@dataclass(frozen=True)
class Weight:
    r""":math:`\mu'(\|a\| x)` of one STE along one filter's axis: its breakpoints in :math:`x`, the function at
    nodes (working numbers, any shape) and a bound on :math:`|\mu'|` (for the truncation)."""

    name: str
    breaks: list
    fn: Callable[[np.ndarray], np.ndarray]
    bound: float


def ste_weight(bk: Backend, ste: STE, geo: FilterGeometry) -> Weight:
    """:class:`Weight` of ``ste`` on the filter ``geo`` (module docstring)."""
    if ste.pieces is not None:
        pieces = [(geo.scaled(bk, lo), geo.scaled(bk, hi), bk.num(nu)) for lo, hi, nu in ste.pieces]
        zero = bk.num(0)

        def fn(x: np.ndarray) -> np.ndarray:
            out = np.full(x.shape, zero, dtype=x.dtype)
            for lo, hi, nu in pieces:
                out = np.where((x > lo) & (x < hi), nu, out)
            return out

        breaks = [p for lo, hi, _ in pieces for p in (lo, hi) if abs(float(p)) < float("inf")]
        return Weight(ste.name, breaks, fn, max(abs(nu) for _, _, nu in ste.pieces))
    if bk.is_mp:
        raise ValueError(f"ste {ste.name!r} is a float64 function; the mpmath backend cannot evaluate it")
    r = float(geo.r)
    reach = min(bk.L * r, 1e307)
    with np.errstate(all="ignore"):
        jumps = {*find_jumps(ste.mu_prime, -reach, reach).tolist(), *getattr(ste, "points", ())}
        breaks = [p / r for p in sorted(jumps)]
        # the size of mu' where the integrals see it, and on the tails L <= |x| <= 4L (the truncation bound)
        probe = np.linspace(-4 * bk.L, 4 * bk.L, 8 * 1024 + 1) * r
        bound = float(np.max(np.abs(np.asarray(ste.mu_prime(probe), dtype=np.float64))))

    def custom_fn(x: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):  # a non-finite value is reported by the result's finiteness check
            return np.asarray(ste.mu_prime(r * x), dtype=np.float64).reshape(x.shape)

    return Weight(ste.name, breaks, custom_fn, bound)


def _sigma(bk: Backend, act: Activation, tau: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    levels = bk.array(act.levels)

    def sigma(x: np.ndarray) -> np.ndarray:
        return levels[np.searchsorted(tau, x)]

    return sigma


def _phi(x: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * x * x) / np.sqrt(2.0 * np.pi)


def _moved(yf: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Bound on the change of U_0, U_1 when y (|y| = yf) moves by at most ``shift`` (float64)."""
    with np.errstate(all="ignore"):
        near = np.maximum(0.0, yf - shift)
        out = shift * np.maximum(1.0, yf + shift) * _phi(near)
    return np.where(np.isfinite(out), np.minimum(1.0, out), 1.0)


def _max_level(act: Activation) -> float:
    return float(np.max(np.abs(act.levels)))


def _finite(bk: Backend, values: np.ndarray) -> list:
    return [t for t in values if abs(float(t)) < float("inf")]


# ---------------------------------------------------------------------------------------------------------
# One filter


@dataclass(frozen=True)
class FilterRows:
    r""":math:`E\sigma`, :math:`E\sigma^2` and, per STE name, :math:`\alpha`, :math:`\beta` (module docstring): each a
    pair ``(value, error)`` (working number, float)."""

    mean: tuple
    second: tuple
    alpha: dict
    beta: dict


def _pairs(res: Integrals) -> list[tuple]:
    return [(res.value[i], float(res.error[i])) for i in range(len(res.value))]


def filter_rows(bk: Backend, act: Activation, geo: FilterGeometry, weights: list[Weight]) -> FilterRows:
    """The one-filter row integrals of ``geo`` (``weights``: the STEs on its axis; may be empty)."""
    sigma = _sigma(bk, act, geo.tau)
    lmax = _max_level(act)

    def f(x: np.ndarray) -> tuple[np.ndarray, float]:
        ph = bk.phi(x)
        sg = sigma(x) * ph
        rows = [sg, sigma(x) * sg]
        for wt in weights:
            mx = wt.fn(x) * x * ph
            rows += [mx, mx * sigma(x)]
        return np.stack(rows), 0.0

    names = ["E sigma", "E sigma^2"] + [f"{q} for {wt.name}" for wt in weights for q in ("alpha", "beta")]
    bounds = [lmax, lmax**2] + [b for wt in weights for b in (wt.bound, wt.bound * lmax)]
    breaks = _finite(bk, geo.tau) + [p for wt in weights for p in wt.breaks]
    out = _pairs(integrate(bk, breaks, f, names, np.array(bounds)))
    alpha = {wt.name: out[2 + 2 * i] for i, wt in enumerate(weights)}
    beta = {wt.name: out[3 + 2 * i] for i, wt in enumerate(weights)}
    return FilterRows(out[0], out[1], alpha, beta)


# ---------------------------------------------------------------------------------------------------------
# A pair of filters


@dataclass(frozen=True)
class PairRows:
    r"""Row integrals of the pair (a, b) in a's frame (module docstring); ``(value, error)`` pairs.

    ``kappa`` (or None if not asked for), ``g`` per STE name ``(g_x, g_y)``, ``M`` and ``N`` lists over a's
    thresholds (``None`` where :math:`\varphi(\tau_k) = 0`, or when boundary values were not asked for).
    """

    kappa: tuple | None
    g: dict
    M: list
    N: list


class _Inner:
    r""":math:`I_0, I_1` of b's activation along the line :math:`x` in the pair's frame (module docstring).

    The error bound of each value includes the rounding of :math:`y = (\tau^b - c x)/s`: a shift
    :math:`|\delta y| \le \epsilon(2|c x| + 2|\tau^b|)/s + 3\epsilon|y|` moves :math:`U_q` by at most
    :math:`|\delta y|\max(1, |y| + |\delta y|)\,\varphi(\max(0, |y| - |\delta y|))` (capped at 1) -- large
    pointwise inside a near-parallel pair's layer, small once integrated over it.
    """

    def __init__(self, bk: Backend, tail: GaussianTail, act: Activation, tau_b: np.ndarray, pg: PairGeometry):
        self.bk, self.tail, self.pg = bk, tail, pg
        self.tau_b = tau_b
        self.J = bk.array(act.jumps)
        self.abs_j = np.abs(np.asarray(act.jumps, dtype=np.float64))

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        bk, pg = self.bk, self.pg
        shape = (len(self.tau_b),) + (1,) * x.ndim
        tau = self.tau_b.reshape(shape)
        if pg.parallel:
            i0 = (np.where(pg.c * x[None] > tau, self.J.reshape(shape), bk.num(0))).sum(axis=0)
            return i0, np.zeros_like(i0), np.zeros(x.shape)
        with np.errstate(all="ignore"):  # a threshold beyond the float range, or s ~ 1e-300: y clipped to [-L, L]
            y = (tau - pg.c * x[None]) / pg.s
            yf = np.abs(bk.floats(y))
            shift = bk.eps * (2 * np.abs(bk.floats(pg.c * x[None])) + 2 * np.abs(bk.floats(tau))) / float(pg.s)
            shift = shift + 3 * bk.eps * yf
        return self.at(y, _moved(yf, shift))

    def at(self, y: np.ndarray, moved: np.ndarray | float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """I_0, I_1 and their bounds from the edges' y (T_b, ...) and a bound on U's error from y's rounding."""
        u0, u1, err = self.tail(y)
        J = self.J.reshape((len(self.tau_b),) + (1,) * (y.ndim - 1))
        abs_j = self.abs_j.reshape(J.shape)
        return (J * u0).sum(axis=0), (J * u1).sum(axis=0), (abs_j * (err + moved)).sum(axis=0)

    def crossings(self) -> list:
        """Where the edges cross the grid lines y = g (|c| > s: on a unit x-panel y would move by more than one
        unit), or where sigma(c x) jumps (s = 0)."""
        bk, pg = self.bk, self.pg
        taus = _finite(bk, self.tau_b)
        if pg.parallel:
            return [t / pg.c for t in taus]
        if not abs(pg.c) > pg.s:
            return []
        return [(t - pg.s * bk.num(g)) / pg.c for t in taus for g in range(-bk.L, bk.L + 1)]


def pair_rows(
    bk: Backend,
    tail: GaussianTail,
    act: Activation,
    geo_a: FilterGeometry,
    geo_b: FilterGeometry,
    pg: PairGeometry,
    weights: list[Weight],
    *,
    kappa: bool,
    boundary: bool,
) -> PairRows:
    """The pair's row integrals (module docstring): ``kappa`` and the boundary values only if asked for."""
    inner = _Inner(bk, tail, act, geo_b.tau, pg)
    sigma = _sigma(bk, act, geo_a.tau)
    lmax = _max_level(act)

    def f(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        i0, i1, err = inner(x)
        ph = bk.phi(x)
        ph_f, x_f = bk.floats(ph), np.abs(bk.floats(x))
        rows, spread = [], []
        if kappa:
            s = sigma(x)
            rows.append(s * i0 * ph)
            spread.append(np.abs(bk.floats(s)) * err * ph_f)
        for wt in weights:
            m = wt.fn(x) * ph
            rows += [m * x * i0, m * i1]
            m_f = np.abs(bk.floats(m))
            spread += [m_f * x_f * err, m_f * err]
        return np.stack(rows), np.stack(spread)

    names = (["kappa"] if kappa else []) + [f"g_{q} for {wt.name}" for wt in weights for q in ("x", "y")]
    bounds = ([lmax * lmax] if kappa else []) + [wt.bound * lmax for wt in weights for _ in (0, 1)]
    breaks = _finite(bk, geo_a.tau) + [p for wt in weights for p in wt.breaks] + inner.crossings()
    out = _pairs(integrate(bk, breaks, f, names, np.array(bounds))) if names else []
    kap = out.pop(0) if kappa else None
    g = {wt.name: (out[2 * i], out[2 * i + 1]) for i, wt in enumerate(weights)}
    M: list = []
    N: list = []
    if boundary:
        M, N = _boundary(bk, act, geo_a, pg, inner)
    return PairRows(kap, g, M, N)


def _boundary(
    bk: Backend, act: Activation, geo_a: FilterGeometry, pg: PairGeometry, inner: _Inner
) -> tuple[list, list]:
    """M_k = I_0(tau_k), N_k = I_1(tau_k) where phi(tau_k) > 0 (module docstring)."""
    live = [k for k, p in enumerate(geo_a.phi_tau) if p != 0]
    M: list = [None] * len(geo_a.tau)
    N: list = [None] * len(geo_a.tau)
    if not live:
        return M, N
    if pg.parallel:  # sigma(z.b) at c tau_k exactly; the midpoint of its jump at a tie
        half = bk.num(1) / 2
        for k in live:
            total = bk.num(0)
            for t_b, j in zip(act.thresholds, act.jumps, strict=True):
                side = pg.side(act.thresholds[k], t_b)
                total = total + bk.num(j) * (1 if side > 0 else (half if side == 0 else 0))
            M[k], N[k] = (total, 0.0), (bk.num(0), 0.0)
        return M, N
    # the edges' y at x = tau_k from the exact invariants (no cancellation in tau^b - c tau_k)
    y = bk.array([[pg.edge(bk, act.thresholds[k], t_b) for k in live] for t_b in act.thresholds])
    yf = np.abs(bk.floats(y))
    i0, i1, err = inner.at(y, _moved(yf, 2 * bk.eps * yf))
    for j, k in enumerate(live):
        M[k], N[k] = (i0[j], float(err[j])), (i1[j], float(err[j]))
    return M, N
