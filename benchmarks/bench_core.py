"""Speed of the batched closed forms against bare numpy arithmetic of the same formulas.

Run: ``python benchmarks/bench_core.py [--points 1000000]``.  Prints the ratio
(popgrad time / bare numpy time) for loss + grad + coarse_grad(relu) at m = n = 8, measured in one
run (best of ``--repeat``).  The bare version shares the angle between the three formulas and
does no validation, no accurate-angle refinement and no degenerate-case handling: it is the floor.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import popgrad as pg


def bare(v_star: np.ndarray, w_star: np.ndarray, v: np.ndarray, w: np.ndarray):
    """Lemmas 1, 2, 4 in plain numpy: what one would write by hand, no checks."""
    r = np.linalg.norm(w, axis=-1)
    wh = w / r[:, None]
    wsh = w_star / np.linalg.norm(w_star)
    cos = wh @ wsh
    theta = np.arccos(np.clip(cos, -1, 1))
    vv = v @ v_star
    d = v - v_star
    loss = 0.125 * ((d * d).sum(-1) + d.sum(-1) ** 2 + 4 / np.pi * theta * vv)
    gv = 0.25 * (d + d.sum(-1, keepdims=True) + 2 / np.pi * theta[:, None] * v_star)
    perp = wsh - cos[:, None] * wh
    u = perp / np.linalg.norm(perp, axis=-1, keepdims=True)
    gw = -(vv / (2 * np.pi * r))[:, None] * u
    s = v.sum(-1)
    h = (v * v).sum(-1) + s * s - s * v_star.sum() + vv
    c = 1 / (2 * np.sqrt(2 * np.pi))
    g = (c * (h - vv))[:, None] * wh - (c * vv)[:, None] * wsh
    return loss, gv, gw, g


def ours(model: pg.Model, v: np.ndarray, w: np.ndarray):
    loss = model.loss(v, w)
    gv, gw = model.grad(v, w)
    _, g = model.coarse_grad(v, w, "relu")
    return loss, gv, gw, g


def best_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=10**6)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    m = n = 8
    v_star, w_star = rng.normal(size=m), rng.normal(size=n)
    v, w = rng.normal(size=(args.points, m)), rng.normal(size=(args.points, n))
    model = pg.Model(v_star, w_star)
    for a, b in zip(ours(model, v, w), bare(v_star, w_star, v, w), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-10)  # same numbers (arccos is the bare one's loss)
    t_ours = best_time(lambda: ours(model, v, w), args.repeat)
    t_bare = best_time(lambda: bare(v_star, w_star, v, w), args.repeat)
    ratio = t_ours / t_bare
    print(f"points={args.points} m=n={m}: popgrad {t_ours:.3f} s, bare numpy {t_bare:.3f} s, ratio {ratio:.2f}")


if __name__ == "__main__":
    main()
