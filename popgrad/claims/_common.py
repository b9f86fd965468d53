"""Small numerical helpers shared by the claim modules."""

from __future__ import annotations

import numpy as np

from ..models import Model

EPS = float(np.finfo(np.float64).eps)


def norm(x: np.ndarray) -> np.ndarray:
    """Euclidean norm along the last axis."""
    return np.sqrt(np.einsum("...i,...i->...", x, x))


def dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.einsum("...i,...i->...", a, b)


def v_scale(model: Model) -> float:
    r"""Natural size of :math:`\partial f/\partial v`: :math:`\tfrac14(\|v^*\| + \sqrt m |1^\top v^*|)`."""
    return 0.25 * (float(np.linalg.norm(model.v_star)) + np.sqrt(model.m) * abs(float(model.v_star.sum())))


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
