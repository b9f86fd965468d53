r"""The battery: teachers and points at which :mod:`popgrad.claims` checks the paper.

Deterministic for a given ``seed`` (one :class:`numpy.random.SeedSequence` spawns a generator per
teacher).  Each teacher is a :class:`Case` with a batch of student points ``v (P, m)``,
``w (P, n)`` covering the edge regions: angles near 0 and :math:`\pi` (down to :math:`10^{-8}`),
tiny and huge :math:`\|w\|` (:math:`10^{-6}`, :math:`10^{6}`), ``m = 1``, ``n = 1`` and ``2``, and
teachers on both sides of Proposition 1's condition :math:`(1^\top v^*)^2 < \tfrac{m+1}{2}\|v^*\|^2`
(including :math:`1^\top v^* = 0`, and the fixed teacher :math:`v^* = (1, -1, 0.5, -0.5)`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..critical import random_orthogonal_directions, w_at_angle
from ..models import Model

__all__ = ["Battery", "Case", "case_points", "make_battery", "random_points", "random_teacher"]


@dataclass(frozen=True)
class Case:
    """One teacher and the student points ``v (P, m)``, ``w (P, n)`` checked against it."""

    label: str
    model: Model
    v: np.ndarray
    w: np.ndarray
    seed: np.random.SeedSequence

    def rng(self, purpose: int) -> np.random.Generator:
        """A generator for one use (``purpose`` distinguishes uses), reproducible and independent."""
        ss = np.random.SeedSequence(self.seed.entropy, spawn_key=(*self.seed.spawn_key, purpose))
        return np.random.default_rng(ss)


@dataclass(frozen=True)
class Battery:
    """Teachers with points, and the sizes of the costlier checks."""

    seed: int
    thorough: bool
    cases: tuple[Case, ...]
    n_inits: int  # random initialisations per teacher and STE (convergence)
    n_quad: int  # points per teacher compared with the quadrature transcription of Lemma 7
    n_perturb: int  # random perturbations per radius (local-minimum check)
    mc_options: dict = field(default_factory=dict)  # passed to every Monte Carlo run (e.g. workers, executor)


def random_teacher(rng: np.random.Generator, m: int, n: int, kind: str = "mixed") -> Model:
    r"""A teacher with ``m`` patches, filter dimension ``n``.

    ``kind``: ``"mixed"`` Gaussian :math:`v^*` satisfying Prop. 1's condition (redrawn until it
    does, so saddles and spurious minimizers exist when ``m >= 2``); ``"positive"`` entries in
    [0.5, 1.5] (condition fails for ``m >= 2``); ``"balanced"`` :math:`1^\top v^* = 0` exactly;
    ``"gaussian"`` plain draw; ``"sum_zero"`` the fixed :math:`v^* = (1, -1, 0.5, -0.5, \dots)` (pairs
    :math:`\pm a_k`, ``m`` even, :math:`1^\top v^* = 0` exactly, not rescaled) -- where Prop. 1's
    "spurious" minimizers are global ones.  Except for ``"positive"`` and ``"sum_zero"``,
    :math:`v^*` is then rescaled to :math:`\|v^*\| = \sqrt m\,U(0.7, 1.4)`.
    """
    if kind == "sum_zero":
        if m % 2:
            raise ValueError(f"kind='sum_zero' needs an even m, got m={m}")
        v_star = np.repeat(np.linspace(1.0, 0.5, m // 2), 2) * np.tile([1.0, -1.0], m // 2)
    elif kind == "positive":
        v_star = rng.uniform(0.5, 1.5, m)
    elif kind == "balanced":
        v_star = rng.standard_normal(m)
        v_star[-1] = -v_star[:-1].sum()
    else:
        while True:
            v_star = rng.standard_normal(m)
            if kind == "gaussian" or m == 1 or v_star.sum() ** 2 < 0.5 * (m + 1) * (v_star @ v_star):
                break
    if kind not in ("positive", "sum_zero"):
        # the scale of v* is free (Prop. 1's condition is scale-invariant) but sets the time scale of
        # the dynamics (~1/|v*|^2 steps at a fixed eta): fix it to |v*| = sqrt(m) U(0.7, 1.4)
        v_star *= np.sqrt(m) * rng.uniform(0.7, 1.4) / np.linalg.norm(v_star)
    w_star = rng.standard_normal(n) * rng.uniform(0.5, 2.0)
    return Model(v_star, w_star)


def random_points(rng: np.random.Generator, model: Model, size: int) -> tuple[np.ndarray, np.ndarray]:
    r"""``size`` student points ``(v (size, m), w (size, n))`` over the regions of interest.

    Angles: 60% uniform on :math:`(0, \pi)`, 15% :math:`10^{-U(1, 8)}`, 15% :math:`\pi - 10^{-U(1,8)}`,
    10% exactly 0 or :math:`\pi` (all of them 0 or :math:`\pi` when ``n = 1``).  Norms: 70%
    :math:`10^{U(-1, 1)}`, 15% :math:`10^{U(-6, -3)}`, 15% :math:`10^{U(3, 6)}`.
    ``v = c v^* + \|v^*\| g/\sqrt m`` with :math:`c \sim U(-1.5, 1.5)`, :math:`g \sim N(0, I)`.
    """
    m, n = model.m, model.n
    u = rng.uniform(size=size)
    theta = rng.uniform(0.0, np.pi, size)
    near = 10.0 ** -rng.uniform(1.0, 8.0, size)
    theta = np.where(u < 0.75, theta, np.where(u < 0.825, near, np.pi - near))
    theta = np.where(u >= 0.9, np.where(u < 0.95, 0.0, np.pi), theta)
    if n == 1:
        theta = np.where(rng.uniform(size=size) < 0.5, 0.0, np.pi)
    k = rng.uniform(size=size)
    r = np.where(
        k < 0.7,
        10.0 ** rng.uniform(-1, 1, size),
        np.where(k < 0.85, 10.0 ** rng.uniform(-6, -3, size), 10.0 ** rng.uniform(3, 6, size)),
    )
    direction = random_orthogonal_directions(rng, model.w_star, size) if n > 1 else None
    w = w_at_angle(model.w_star, theta, r, direction)
    scale = np.linalg.norm(model.v_star)
    v = rng.uniform(-1.5, 1.5, (size, 1)) * model.v_star + scale * rng.standard_normal((size, m)) / np.sqrt(m)
    return v, w


_DEFAULT = (
    (2, 2, "mixed"),
    (3, 4, "mixed"),
    (5, 3, "mixed"),
    (8, 2, "mixed"),
    (4, 3, "balanced"),
    (4, 3, "positive"),
    (1, 3, "gaussian"),
    (3, 1, "mixed"),
    (4, 3, "sum_zero"),
)
_THOROUGH = (
    *_DEFAULT[:-1],
    (2, 10, "mixed"),
    (6, 6, "mixed"),
    (12, 4, "mixed"),
    (20, 3, "mixed"),
    (7, 2, "gaussian"),
    (10, 5, "gaussian"),
    (3, 2, "positive"),
    (1, 1, "gaussian"),
    (2, 1, "positive"),
    (4, 3, "sum_zero"),
)


def case_points(cases: list[Case] | tuple[Case, ...], masks: list[np.ndarray] | None = None) -> dict[str, list]:
    """The points a claim checked, per teacher: labels, teachers and (masked) student points.

    Lists with one entry per case (shapes differ between teachers), for :attr:`ClaimResult.points`.
    """
    masks = masks if masks is not None else [np.ones(c.v.shape[0], dtype=bool) for c in cases]
    return {
        "teacher": [c.label for c in cases],
        "v_star": [c.model.v_star for c in cases],
        "w_star": [c.model.w_star for c in cases],
        "v": [c.v[k] for c, k in zip(cases, masks, strict=True)],
        "w": [c.w[k] for c, k in zip(cases, masks, strict=True)],
    }


def make_battery(seed: int = 0, thorough: bool = False, mc_options: dict | None = None) -> Battery:
    """The default battery (9 teachers x 48 points) or the thorough one (18 teachers x 400 points).

    ``mc_options``: options of every Monte Carlo run of the claims, e.g. ``{"workers": 2}`` or
    ``{"executor": client.get_executor()}`` (a Dask cluster); results do not depend on them (Monte Carlo is
    bitwise the same for any workers and executor).
    """
    root = np.random.SeedSequence(seed)
    shapes = _THOROUGH if thorough else _DEFAULT
    size = 400 if thorough else 48
    cases = []
    for (m, n, kind), ss in zip(shapes, root.spawn(len(shapes)), strict=True):
        teacher_ss, points_ss, rest = ss.spawn(3)
        model = random_teacher(np.random.default_rng(teacher_ss), m, n, kind)
        v, w = random_points(np.random.default_rng(points_ss), model, size)
        cases.append(Case(f"m={m} n={n} {kind}", model, v, w, rest))
    return Battery(
        seed=seed,
        thorough=thorough,
        cases=tuple(cases),
        n_inits=64 if thorough else 8,
        n_quad=60 if thorough else 8,
        n_perturb=400 if thorough else 64,
        mc_options=_mc_options(mc_options),
    )


#: Monte Carlo options a caller may set for the claims' runs (how to run, not what: the claims choose the rest)
MC_OPTIONS = ("workers", "executor", "chunk_size", "progress")


def _mc_options(options: dict | None) -> dict:
    """``options`` checked: a dict with keys among :data:`MC_OPTIONS` (ValueError/TypeError naming them)."""
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise TypeError(f"mc_options must be a dict of Monte Carlo options, got {type(options).__name__}")
    other = sorted(set(options) - set(MC_OPTIONS))
    if other:
        raise ValueError(
            f"mc_options may set only {list(MC_OPTIONS)} (the claims choose seeds, sizes and samplers), got {other}"
        )
    return dict(options)
