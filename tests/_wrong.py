"""Deliberately wrong models and estimators, to show that the claims of ``popgrad verify`` can FAIL.

A wrong model is a fresh :class:`popgrad.Model` with the teacher and activation of the original (so the
engines of :mod:`popgrad.engines`, which see a model only through its committee, teacher and activation,
sample or integrate the *true* model) whose closed-form methods -- ``loss``, ``grad``, ``coarse_grad``,
``correlation`` -- are replaced on the instance: by the methods of another model (:func:`misfit`: the closed
forms of a slightly different teacher) or by wrapped ones (:func:`rewire`).  No class or module attribute is
patched, and the type stays ``popgrad.Model`` (the engines dispatch on the class name).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

import popgrad as pg
from popgrad.claims import Battery

CLOSED_FORMS = ("loss", "grad", "coarse_grad", "correlation")


def rewire(model: pg.Model, closed: pg.Model | None = None, **wrappers: Callable) -> pg.Model:
    """``model``'s teacher and activation; closed forms from ``closed`` (default: the same teacher), each
    method named in ``wrappers`` replaced by ``wrapper(real_method, *args, **kwargs)``."""
    out = pg.Model(model.v_star, model.w_star, model.activation)
    closed = closed if closed is not None else pg.Model(model.v_star, model.w_star, model.activation)
    unknown = set(wrappers) - set(CLOSED_FORMS)
    if unknown:
        raise ValueError(f"can only rewire {CLOSED_FORMS}, got {sorted(unknown)}")
    for name in CLOSED_FORMS:
        real = getattr(closed, name)
        if name in wrappers:
            wrapper = wrappers[name]

            def method(*args, _real=real, _wrapper=wrapper, **kwargs):
                return _wrapper(_real, *args, **kwargs)

            setattr(out, name, method)
        else:
            setattr(out, name, real)
    return out


def misfit(model: pg.Model, v_star: np.ndarray | None = None, w_star: np.ndarray | None = None) -> pg.Model:
    """``model``, with closed forms computed for the teacher ``(v_star, w_star)`` instead of its own."""
    vs = model.v_star if v_star is None else v_star
    ws = model.w_star if w_star is None else w_star
    return rewire(model, closed=pg.Model(vs, ws, model.activation))


def scaled(factor: float, part: int | None = None) -> Callable:
    """A wrapper multiplying a method's result (or its element ``part`` of a pair) by ``factor``."""

    def wrapper(real, *args, **kwargs):
        out = real(*args, **kwargs)
        if part is None:
            return out * factor
        out = list(out)
        out[part] = out[part] * factor
        return tuple(out)

    return wrapper


def only_for(ste_name: str, wrapper: Callable) -> Callable:
    """Apply a ``coarse_grad`` wrapper only for the STE named ``ste_name``."""

    def choose(real, v, w, ste="relu"):
        name = ste if isinstance(ste, str) else ste.name
        return wrapper(real, v, w, ste=ste) if name == ste_name else real(v, w, ste=ste)

    return choose


def u_direction(w_star: np.ndarray, w: np.ndarray) -> np.ndarray:
    r"""The unit vector of span{w, w*} orthogonal to ``w`` and pointing towards :math:`w^*` (along which
    :math:`\partial f/\partial w` lies); 0 where :math:`\sin\theta = 0`.  Shape of ``w``."""
    w = np.asarray(w, float)
    w_hat = w / np.linalg.norm(w, axis=-1, keepdims=True)
    ws = w_star / np.linalg.norm(w_star)
    d = ws - (w_hat @ ws)[..., None] * w_hat
    nd = np.linalg.norm(d, axis=-1, keepdims=True)
    return np.divide(d, nd, out=np.zeros_like(d), where=nd > 0)


def u_flip(model: pg.Model) -> pg.Model:
    """``model`` with the sign of its expected coarse gradient's u-component flipped: then
    :math:`\\langle E g, \\partial f/\\partial w\\rangle` has the wrong sign (the correlation turns negative)."""

    def coarse_grad(real, v, w, ste="relu"):
        gv, g = real(v, w, ste=ste)
        u = u_direction(model.w_star, np.broadcast_to(w, g.shape))
        return gv, g - 2 * np.sum(g * u, axis=-1, keepdims=True) * u

    return rewire(model, coarse_grad=coarse_grad)


def sub_battery(battery: Battery, cases: tuple[int, ...] | None = None, **sizes: int) -> Battery:
    """The battery restricted to the teachers at the indices ``cases`` (all if None), with other sizes
    (``n_inits``, ``n_quad``, ``n_perturb``) if given."""
    chosen = battery.cases if cases is None else tuple(battery.cases[i] for i in cases)
    return dataclasses.replace(battery, cases=chosen, **sizes)


def with_models(battery: Battery, make: Callable[[pg.Model], pg.Model]) -> Battery:
    """The battery with every teacher's model replaced by ``make(model)`` (same points and seeds)."""
    return dataclasses.replace(battery, cases=tuple(dataclasses.replace(c, model=make(c.model)) for c in battery.cases))


def failing(result) -> list[str]:
    """Names of the checks of a ClaimResult that do not hold."""
    return [c.name for c in result.checks if not c.holds]
