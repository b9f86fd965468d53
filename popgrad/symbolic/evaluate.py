r"""Numbers at any precision: the committee assembly (:mod:`~popgrad.symbolic.committee`) and the piecewise
kernels (:mod:`~popgrad.symbolic.kernels`) evaluated by mpmath from exact rational invariants
(:mod:`~popgrad.symbolic.exact`), at a working precision raised until the result is stable.

Independent of :mod:`popgrad.assembly`, :mod:`popgrad.kernels`, :mod:`popgrad.geometry` and the model classes'
closed forms: a model is used only through its public ``committee``, ``teacher``, ``activation`` and
``from_committee``; shared on purpose are :mod:`popgrad._validate` (argument checks) and :mod:`popgrad.ste`
(the STEs' pieces).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import mpmath
import numpy as np
from numpy.typing import ArrayLike

from .._validate import as_float_array, as_vector_batch, check_nonzero_rows, positive_int
from ..ste import STE, resolve_many
from .committee import Committee, committee, pair_index
from .exact import Geometry, fractions, mpf
from .kernels import kernel_values
from .paper import STES

if TYPE_CHECKING:
    from ..engines.pointwise import ModelContract

__all__ = ["STES", "Evaluation", "evaluate", "evaluate_committee"]

_W_ZERO = "f is discontinuous at w = 0 and the angles are undefined; use w != 0"


@dataclass(frozen=True)
class Evaluation:
    r"""Loss, gradients and expected coarse gradients at one point, as mpmath numbers to ``dps`` digits.

    Shapes are the model's: for :class:`popgrad.Model` (or a teacher pair of vectors) ``grad_v`` ``(m,)``,
    ``grad_w`` and each ``coarse_grad_w[name]`` ``(n,)`` and ``theta`` a number; for a committee
    (:class:`popgrad.MultiFilterModel`, or a teacher pair of matrices) ``(K, m)``, ``(K, n)`` and ``theta``
    ``(K, K + K*)`` (each student filter against the students, then the teachers).  Arrays hold ``mpf``.

    Attributes
    ----------
    dps : int
        Decimal digits requested.
    theta : mpf or ndarray
        :math:`\theta(w, w^*)`; for a committee every student-filter angle.
    loss : mpf
        :math:`f` (Lemma 1 for one filter).
    grad_v : ndarray
        :math:`\partial f/\partial v`, which is also :math:`E\,\partial\ell/\partial v` (Lemma 4).
    grad_w : ndarray
        :math:`\partial f/\partial w` (Lemma 2); a pair at :math:`\theta \in \{0, \pi\}` contributes 0 (the
        minimum-norm Clarke element).
    coarse_grad_w : dict str -> ndarray
        :math:`E g_\mu` per STE name.
    inner_w : dict str -> mpf
        :math:`\sum_k\langle E g_k, \partial f/\partial w_k\rangle` per STE name (Lemmas 5, 7, 10).
    spread : dict
        The same structure as the values (keys ``"theta"``, ``"loss"``, ``"grad_v"``, ``"grad_w"``,
        ``"coarse_grad_w"``, ``"inner_w"``): :math:`|x_p - x_{p/2}|` between the last two working precisions, an
        estimate of the error of the less precise one (so an overestimate for the returned values).
    prec : int
        Bits of the last working precision.
    """

    dps: int
    theta: object
    loss: mpmath.mpf
    grad_v: np.ndarray
    grad_w: np.ndarray
    coarse_grad_w: dict
    inner_w: dict
    spread: dict
    prec: int


# -- one evaluation at the current working precision ----------------------------------------------------


def _combine(coefs: list, vectors: list) -> list:
    """sum_j coefs[j] * vectors[j], componentwise."""
    return [mpmath.fsum(c * v[i] for c, v in zip(coefs, vectors, strict=True)) for i in range(len(vectors[0]))]


def _dot(a: list, b: list) -> mpmath.mpf:
    return mpmath.fsum(x * y for x, y in zip(a, b, strict=True))


def _compute(geo: Geometry, V: list, V_star: list, stes: tuple[STE, ...], comm: Committee) -> dict:
    """Every output at the current working precision (committee shapes, nested lists of mpf)."""
    K, F = comm.K, comm.F
    v_flat = [mpf(x) for row in V for x in row]
    vs_flat = [mpf(x) for row in V_star for x in row]
    pairs = sorted(comm.theta)
    theta = {p: geo.theta(*p) for p in pairs}
    out = comm.loss_function(v_flat, vs_flat, [theta[p] for p in pairs])
    km = K * comm.m
    loss, grad_v, d_theta = out[0], out[1 : 1 + km], out[1 + km :]
    r = [geo.norm(k) for k in range(K)]
    units = [geo.unit(a) for a in range(F)]
    others = [comm.others(k) for k in range(K)]
    grad_w = []
    for k in range(K):
        d = d_theta[k * (F - 1) : (k + 1) * (F - 1)]
        grad_w.append(_combine([-x / r[k] for x in d], [geo.u(k, b) for b in others[k]]))
    geometry = {(k, b): (geo.region(k, b), *geo.cos_sin(k, b)) for k in range(K) for b in others[k]}
    coarse, inner = {}, {}
    for s in stes:
        assert s.pieces is not None  # piecewise_stes
        pair = {(k, b): kernel_values(s.pieces, r[k], *geometry[k, b]) for k in range(K) for b in others[k]}
        own = [pair[k, others[k][0]][:2] for k in range(K)]  # alpha, beta: of filter k alone
        cross = [pair[k, b][2:] for k in range(K) for b in others[k]]
        coefs = comm.coarse_function(
            v_flat, vs_flat, [a for a, _ in own], [b for _, b in own], [c for c, _ in cross], [c for _, c in cross]
        )
        g = []
        for k in range(K):
            row = coefs[k * F : (k + 1) * F]
            g.append(_combine(row, [units[a] for a in (k, *others[k])]))
        coarse[s.name] = g
        inner[s.name] = mpmath.fsum(
            x * y for gk, wk in zip(g, grad_w, strict=True) for x, y in zip(gk, wk, strict=True)
        )
    angles = [[theta[pair_index(k, a)] if a != k else mpmath.mpf(0) for a in range(F)] for k in range(K)]
    return {
        "theta": angles,
        "loss": loss,
        "grad_v": [grad_v[k * comm.m : (k + 1) * comm.m] for k in range(K)],
        "grad_w": grad_w,
        "coarse_grad_w": coarse,
        "inner_w": inner,
    }


# -- the precision loop -----------------------------------------------------------------------------------


def _leaves(x: object) -> list:
    if isinstance(x, dict):
        return [y for k in x for y in _leaves(x[k])]
    if isinstance(x, (list, tuple)):
        return [y for e in x for y in _leaves(e)]
    return [x]


def _map(fn: Callable, *xs: Any) -> Any:
    """Apply ``fn`` leafwise to structures of the same shape; lists become object arrays."""
    first = xs[0]
    if isinstance(first, dict):
        return {k: _map(fn, *(x[k] for x in xs)) for k in first}
    if isinstance(first, list):
        out = np.empty(np.shape(np.array(first, dtype=object)), dtype=object)
        for idx in np.ndindex(out.shape):
            out[idx] = fn(*(_item(x, idx) for x in xs))
        return out
    return fn(*xs)


def _item(x: Any, idx: tuple) -> Any:
    for i in idx:
        x = x[i]
    return x


def _agree(a: list, b: list, bits: int) -> bool:
    tol = mpmath.ldexp(1, -bits)
    return all(x == y or abs(x - y) <= tol * abs(y) for x, y in zip(a, b, strict=True))


def evaluate_committee(
    v_star: np.ndarray, w_star: np.ndarray, V: np.ndarray, W: np.ndarray, stes: tuple[STE, ...], dps: int
) -> Evaluation:
    r"""The committee at one point, ``dps`` digits, in committee shapes (inputs already validated).

    ``v_star (K*, m)``, ``w_star (K*, n)``, ``V (K, m)``, ``W (K, n)`` float64 with non-zero filters; ``stes``
    piecewise constant.  Method: the exact invariants (:class:`~popgrad.symbolic.exact.Geometry`), then the
    lambdified expressions at a working precision that starts at ``dps`` + 10 digits and doubles until two
    successive evaluations agree to ``dps`` + 3 digits in every output (cancellation costs time, not accuracy),
    up to 32 times ``dps``; a quantity that is exactly 0 may then come back as a number below
    :math:`10^{-16\,\mathrm{dps}}` times its terms (its ``spread`` says so).  The global mpmath precision is
    left unchanged.
    """
    comm = committee(V.shape[0], v_star.shape[0], V.shape[1])
    geo = Geometry.of(fractions(np.concatenate([W, w_star])))
    Vq, Vsq = fractions(V), fractions(v_star)
    target = mpmath.libmp.dps_to_prec(dps)
    prec = mpmath.libmp.dps_to_prec(dps + 10)
    with mpmath.workprec(prec):
        prev = _compute(geo, Vq, Vsq, stes, comm)
    while True:
        prec *= 2
        with mpmath.workprec(prec):
            cur = _compute(geo, Vq, Vsq, stes, comm)
            done = _agree(_leaves(prev), _leaves(cur), target + 10)
        if done or prec > 32 * target:
            break
        prev = cur
    with mpmath.workprec(target):
        values = _map(lambda x: +x, cur)
        spread = _map(lambda x, y: +abs(x - y), cur, prev)
    return Evaluation(dps, values["theta"], values["loss"], values["grad_v"], values["grad_w"],
                      values["coarse_grad_w"], values["inner_w"], spread, prec)  # fmt: skip


# -- the public entry point -------------------------------------------------------------------------------


def _from_model(model: ModelContract, v: ArrayLike, w: ArrayLike) -> tuple:
    if not model.activation.is_binary:
        raise NotImplementedError(
            f"popgrad.symbolic computes the binary activation only, not {model.activation.name} "
            "(use engine='quadrature' or 'monte_carlo' for a staircase)"
        )
    V, W = model.committee(v, w)
    if V.ndim != 2:
        raise ValueError(
            f"popgrad.symbolic.evaluate computes one point; v, w have batch shape {V.shape[:-2]} "
            "(use pg.expectations(..., engine='symbolic') for batches)"
        )
    v_star, w_star = model.teacher
    return v_star, w_star, np.asarray(V), np.asarray(W), model.from_committee


def _from_pair(teacher: tuple | list, v: ArrayLike, w: ArrayLike) -> tuple:
    v_star, w_star = (as_float_array(x, name) for x, name in zip(teacher, ("v_star", "w_star"), strict=True))
    if v_star.ndim == 1 and w_star.ndim == 1:
        v_star = as_vector_batch(v_star, "v_star", batch=False)
        w_star = as_vector_batch(w_star, "w_star", batch=False)
        v = as_vector_batch(v, "v", v_star.size, batch=False)
        w = as_vector_batch(w, "w", w_star.size, batch=False)
        return v_star[None], w_star[None], v[None], w[None], lambda x: x[..., 0, :]
    if v_star.ndim != 2 or w_star.ndim != 2 or v_star.shape[0] != w_star.shape[0] or 0 in v_star.shape + w_star.shape:
        raise ValueError(
            "teacher (v_star, w_star) must be two vectors (m,), (n,) or two matrices (K*, m), (K*, n) with the same "
            f"number of rows; got shapes {v_star.shape}, {w_star.shape}"
        )
    V, W = as_float_array(v, "v"), as_float_array(w, "w")
    m, n = v_star.shape[1], w_star.shape[1]
    if V.ndim != 2 or W.ndim != 2 or V.shape[0] != W.shape[0] or V.shape[1] != m or W.shape[1] != n or not len(V):
        raise ValueError(f"v and w must have shapes (K, {m}) and (K, {n}) with K >= 1; got {V.shape}, {W.shape}")
    return v_star, w_star, V, W, lambda x: x


def _teacher_parts(teacher: object, v: ArrayLike, w: ArrayLike) -> tuple:
    if all(hasattr(teacher, a) for a in ("committee", "teacher", "activation", "from_committee")):
        return _from_model(cast("ModelContract", teacher), v, w)  # duck-typed: any object with these four
    if isinstance(teacher, (tuple, list)) and len(teacher) == 2:
        return _from_pair(teacher, v, w)
    raise TypeError(
        "teacher must be a popgrad.Model, a popgrad.MultiFilterModel or a pair (v_star, w_star), "
        f"got {type(teacher).__name__}"
    )


def piecewise_stes(ste: str | STE | Sequence[str | STE]) -> tuple[STE, ...]:
    """The STEs of ``ste`` (names, STEs or a sequence), each with a piecewise-constant :math:`\\mu'`."""
    stes, _ = resolve_many(ste)
    for s in stes:
        if s.pieces is None:
            raise NotImplementedError(
                f"popgrad.symbolic needs a piecewise-constant mu' (STE.pieces); {s.name!r} is a custom STE "
                "with no symbolic form (use engine='quadrature' or 'monte_carlo')"
            )
    return stes


def evaluate(
    teacher: ModelContract | tuple | list,
    v: ArrayLike,
    w: ArrayLike,
    dps: int = 50,
    *,
    ste: str | STE | Sequence[str | STE] = STES,
) -> Evaluation:
    r"""Loss, true gradient and expected coarse gradients at one point, to ``dps`` significant digits.

    Parameters
    ----------
    teacher : popgrad.Model, popgrad.MultiFilterModel, or (v_star, w_star)
        A pair of vectors ``(m,)``, ``(n,)`` is the one-filter model; a pair of matrices ``(K*, m)``,
        ``(K*, n)`` a committee.  Binary activation only.
    v, w : array_like
        One point in the model's shapes: ``(m,)``, ``(n,)``, or ``(K, m)``, ``(K, n)``; non-zero filters.
    dps : int
        Decimal digits of every returned number.
    ste : str, popgrad.ste.STE or a sequence of them
        STEs with a piecewise-constant :math:`\mu'` (default: the paper's ``identity``, ``relu``,
        ``clipped_relu``); results are keyed by ``ste.name``.

    Returns
    -------
    Evaluation

    Raises
    ------
    NotImplementedError
        A staircase activation or a custom STE (no symbolic form).

    Method: :func:`evaluate_committee`.

    Examples
    --------
    >>> import mpmath
    >>> from popgrad import symbolic
    >>> res = symbolic.evaluate(([1.0, 1.0], [1.0, 0.0]), [1.0, 1.0], [0.0, 1.0], dps=30)
    >>> res.loss   # theta = pi/2: f = (4 theta/pi) v.v*/8 = 1/2
    mpf('0.5')
    >>> mpmath.nstr(res.coarse_grad_w["identity"][1], 30)   # Lemma 9: (|v|^2 w_hat - v.v* w*_hat)/sqrt(2 pi)
    '0.797884560802865355879892119869'
    >>> res = symbolic.evaluate(([1.0], [1.0, 0.0]), [0.5], [1.0, 1e-30], dps=40)
    >>> mpmath.nstr(res.theta, 15)   # the float 1e-30 is 1.00000000000000008e-30
    '1.0e-30'
    >>> mpmath.nstr(res.grad_v[0], 40)   # m = 1: (v - v*)/2 + theta v*/(2 pi)
    '-0.2499999999999999999999999999998408450569'
    """
    v_star, w_star, V, W, shape = _teacher_parts(teacher, v, w)
    check_nonzero_rows(w_star, "w_star", "a teacher filter's direction is undefined; give non-zero rows")
    check_nonzero_rows(W, "w", _W_ZERO)
    dps = positive_int(dps, "dps")
    stes = piecewise_stes(ste)
    ev = evaluate_committee(v_star, w_star, V, W, stes, dps)
    one_filter = shape(np.zeros((1, 1))).ndim == 1
    if not one_filter:
        return ev

    def field(key: str, x: Any) -> Any:
        if key in ("loss", "inner_w"):
            return x
        if key == "theta":
            return x[0, 1]  # the student against the teacher
        if key == "coarse_grad_w":
            return {name: shape(y) for name, y in x.items()}
        return shape(x)

    values = {k: field(k, getattr(ev, k)) for k in ev.spread}
    spread = {k: field(k, x) for k, x in ev.spread.items()}
    return Evaluation(ev.dps, spread=spread, prec=ev.prec, **values)
