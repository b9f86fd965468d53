"""Shared by tests/test_array_api.py and tests/test_jax.py: random problems, the closed forms as a flat dict of
arrays, and the comparison of two namespaces' results relative to each quantity's scale of terms."""

from __future__ import annotations

import numpy as np

import popgrad as pg

STES = ("relu", "clipped_relu", "identity", pg.ste.leaky_relu(0.3), pg.ste.hard_tanh(), pg.ste.clipped_relu(2.5))


def ste_name(ste: object) -> str:
    return pg.ste.resolve(ste).name


def problem(rng: np.random.Generator, points: int, m: int, n: int, k: int | None = None, k_star: int = 1):
    """A model and ``points`` random points (``k`` filters: a MultiFilterModel; None: the paper's Model)."""
    if k is None:
        model = pg.Model(rng.normal(size=m), rng.normal(size=n))
        return model, rng.normal(size=(points, m)), rng.normal(size=(points, n))
    model = pg.MultiFilterModel(rng.normal(size=(k_star, m)), rng.normal(size=(k_star, n)))
    return model, rng.normal(size=(points, k, m)), rng.normal(size=(points, k, n))


def closed_forms(model, v, w, stes=STES) -> dict[str, object]:
    """Every closed form at ``(v, w)``, in the namespace of the inputs."""
    gv, gw = model.grad(v, w)
    out = {"loss": model.loss(v, w), "grad_v": gv, "grad_w": gw, "theta": model.theta(w)}
    for ste in stes:
        name = ste_name(ste)
        out[f"coarse {name}"] = model.coarse_grad(v, w, ste)[1]
        corr = model.correlation(v, w, ste)
        out[f"inner_w {name}"], out[f"cos_w {name}"] = corr.inner_w, corr.cos_w
    return out


def term_scale(model, v: np.ndarray, w: np.ndarray, key: str) -> np.ndarray:
    r"""Per point, a bound on the magnitude of the terms of quantity ``key`` (binary sigma): :math:`S =
    (\|V\|_1 + \|V^*\|_1)^2` (``popgrad.claims.formulas.natural_scale``), over :math:`\|w\|` for
    :math:`\partial f/\partial w`, squared over :math:`\|w\|` for the inner product; 1 for angles and cosines."""
    batch = v.shape[: v.ndim - (1 if isinstance(model, pg.Model) else 2)]
    axes = tuple(range(len(batch), v.ndim))
    s = (np.sum(np.abs(v), axis=axes) + np.sum(np.abs(model.v_star))) ** 2
    r = np.sqrt(np.sum(w * w, axis=tuple(range(len(batch), w.ndim))))
    if key in ("theta",) or key.startswith("cos_w"):
        return np.ones(batch)
    if key == "grad_w":
        return s / r
    if key.startswith("inner_w"):
        return s * s / r
    return s


def worst_difference(model, v: np.ndarray, w: np.ndarray, got: dict, ref: dict) -> dict[str, tuple[float, float]]:
    """Per quantity: (largest normwise relative difference, largest difference relative to the term scale)."""
    out = {}
    for key, r in ref.items():
        g = np.asarray(got[key])
        r = np.asarray(r)
        lead = v.ndim - (1 if isinstance(model, pg.Model) else 2)
        axes = tuple(range(lead, r.ndim))
        diff = np.sqrt(np.sum((g - r) ** 2, axis=axes))
        size = np.sqrt(np.sum(r * r, axis=axes))
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.where(diff == 0, 0.0, diff / size)
        out[key] = (float(np.max(rel)), float(np.max(diff / term_scale(model, v, w, key.split(" ")[0]))))
    return out
