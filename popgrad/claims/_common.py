"""Small numerical helpers shared by the claim modules."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np

from ..model import Model

EPS = float(np.finfo(np.float64).eps)


def norm(x: np.ndarray) -> np.ndarray:
    """Euclidean norm along the last axis."""
    return np.sqrt(np.einsum("...i,...i->...", x, x))


def dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.einsum("...i,...i->...", a, b)


def v_scale(model: Model) -> float:
    r"""Natural size of :math:`\partial f/\partial v`: :math:`\tfrac14(\|v^*\| + \sqrt m |1^\top v^*|)`."""
    return 0.25 * (float(np.linalg.norm(model.v_star)) + np.sqrt(model.m) * abs(float(model.v_star.sum())))


@contextlib.contextmanager
def quiet_overflow() -> Iterator[None]:
    """Silence numpy's overflow/invalid flags inside ``Model`` calls for the clipped ReLU at tiny ‖w‖.

    ``closed_form._phi_diff`` evaluates both branches of an ``np.where``; at ``‖w‖ < 1/40`` the
    discarded branch overflows (``expm1(800)``) and numpy warns although the returned value is
    finite and correct (checked against the quadrature transcription of Lemma 7).  Reported to
    the lead; this context manager keeps the warning out of the claims until that is fixed.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        yield


def theta_direction(model: Model, w: np.ndarray) -> np.ndarray:
    r""":math:`\partial w/\partial\theta` for rotations in span{w, w*} at fixed norm: :math:`-\|w\|u`
    (rotating *away* from :math:`w^*` increases :math:`\theta`), ``u`` the unit vector of
    :math:`\hat w^* - (\hat w^{*\top}\hat w)\hat w`.  Zero where :math:`\sin\theta = 0`."""
    w_hat = w / norm(w)[..., None]
    ws = model.w_star / np.linalg.norm(model.w_star)
    d = ws - dot(w_hat, ws)[..., None] * w_hat
    nd = norm(d)[..., None]
    u = np.divide(d, nd, out=np.zeros_like(d), where=nd > 0)
    return -norm(w)[..., None] * u
