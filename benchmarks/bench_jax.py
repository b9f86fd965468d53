r"""JAX and the Array API: speed of the jitted closed forms, and the numpy path against a previous version.

Run: ``python benchmarks/bench_jax.py [--points 1000000] [--reference DIR]``.  Both ratios are measured in one
run (best of ``--repeat``, 7 by default), for loss + grad + coarse_grad(relu) at m = n = 8:

* **JAX**: numpy popgrad time / jitted JAX popgrad time (float64, compiled once before timing), and the largest
  difference between the two per point and quantity, relative to the quantity's norm and to the size of its terms
  :math:`(\|v\|_1 + \|v^*\|_1)^2` (over :math:`\|w\|` for :math:`\partial f/\partial w`): where :math:`v^\top v^*`
  nearly cancels, :math:`\partial f/\partial w \propto v^\top v^*` differs in its last digits with the summation order;
* **numpy before/after** (with ``--reference DIR``, a checkout of the previous code, e.g.
  ``git worktree add /tmp/popgrad-main main``): this tree's numpy time / the reference's, each timed in its own
  subprocess (``PYTHONPATH``; best of 3 there), ``--repeat`` subprocesses each, alternating, on the same points,
  by the wall clock and by CPU time (less
  sensitive to other load on a shared machine); their results must be bit for bit identical.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
M = N = 8


def problem(points: int):
    rng = np.random.default_rng(0)
    v_star, w_star = rng.normal(size=M), rng.normal(size=N)
    return v_star, w_star, rng.normal(size=(points, M)), rng.normal(size=(points, N))


def ours(model, v, w):
    loss = model.loss(v, w)
    gv, gw = model.grad(v, w)
    _, g = model.coarse_grad(v, w, "relu")
    return loss, gv, gw, g


def best_time(fn, repeat: int, clock=time.perf_counter) -> float:
    times = []
    for _ in range(repeat):
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return min(times)


def child(points: int, repeat: int, out: str) -> None:
    """Time this interpreter's popgrad (numpy) and save its results: prints the time."""
    import popgrad as pg

    v_star, w_star, v, w = problem(points)
    model = pg.Model(v_star, w_star)
    res = ours(model, v, w)
    np.savez(out, *res)
    wall = best_time(lambda: ours(model, v, w), repeat)
    cpu = best_time(lambda: ours(model, v, w), repeat, time.process_time)
    print(wall, cpu, pg.__file__)


def run_child(tree: Path, points: int, repeat: int, out: str) -> tuple[float, float]:
    env = dict(os.environ, PYTHONPATH=str(tree))
    cmd = [sys.executable, __file__, "--child", "--points", str(points), "--repeat", str(repeat), "--out", out]
    text = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout.split()
    if not Path(text[2]).resolve().is_relative_to(tree.resolve()):
        raise RuntimeError(f"the subprocess imported {text[2]}, not popgrad from {tree}")
    return float(text[0]), float(text[1])


def numpy_before_after(reference: Path, points: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        after, before = [], []
        for _ in range(repeat):  # alternating, so that both see the same load
            after.append(run_child(ROOT, points, 3, f"{tmp}/after.npz"))
            before.append(run_child(reference, points, 3, f"{tmp}/before.npz"))
        a, b = np.load(f"{tmp}/after.npz"), np.load(f"{tmp}/before.npz")
        same = all(np.array_equal(a[k], b[k]) for k in a.files)
    (wall_a, cpu_a), (wall_b, cpu_b) = (tuple(min(t) for t in zip(*times, strict=True)) for times in (after, before))
    print(
        f"numpy popgrad, this tree {wall_a:.3f} s, reference {wall_b:.3f} s: ratio {wall_a / wall_b:.3f} "
        f"(CPU time {cpu_a:.3f} s / {cpu_b:.3f} s = {cpu_a / cpu_b:.3f}); results bit for bit identical: {same}"
    )


def jax_vs_numpy(points: int, repeat: int) -> None:
    import jax
    import jax.numpy as jnp

    import popgrad as pg

    jax.config.update("jax_enable_x64", True)
    v_star, w_star, v, w = problem(points)
    model = pg.Model(v_star, w_star)
    jitted = jax.jit(lambda a, b: ours(model, a, b))
    vj, wj = jnp.asarray(v), jnp.asarray(w)
    got = jax.block_until_ready(jitted(vj, wj))  # compiled here, not timed
    ref = ours(model, v, w)
    worst = worst_terms = 0.0
    terms = (np.abs(v).sum(axis=-1) + np.abs(v_star).sum()) ** 2  # the size of each quantity's terms
    scales = (terms, terms, terms / np.linalg.norm(w, axis=-1), terms)
    for g, r, scale in zip(got, ref, scales, strict=True):
        g, r = np.asarray(g).reshape(points, -1), r.reshape(points, -1)
        diff = np.linalg.norm(g - r, axis=-1)
        worst = max(worst, float(np.max(diff / np.linalg.norm(r, axis=-1))))
        worst_terms = max(worst_terms, float(np.max(diff / scale)))
    t_jax = best_time(lambda: jax.block_until_ready(jitted(vj, wj)), repeat)
    t_np = best_time(lambda: ours(model, v, w), repeat)
    print(
        f"points={points} m=n={M}: numpy popgrad {t_np:.3f} s, jitted JAX {t_jax:.3f} s ({jax.device_count()} "
        f"device(s)), speed-up {t_np / t_jax:.2f}x; max relative difference {worst:.2e} ({worst_terms:.2e} of the "
        "terms' size)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=10**6)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--reference", type=Path, help="a checkout of the previous popgrad (numpy before/after)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.points, args.repeat, args.out)
        return
    jax_vs_numpy(args.points, args.repeat)
    if args.reference is not None:
        numpy_before_after(args.reference, args.points, args.repeat)


if __name__ == "__main__":
    main()
