"""Monte Carlo speed, as ratios measured in one run (no timing assertions anywhere in the tests).

    python benchmarks/bench_montecarlo.py [--quick]

Ratios (with the targets we hold them to):

1. projected / full sampler, samples per second at m = 8, n = 100            (target >= 20)
2. projected sampler / drawing its normal variates alone with numpy          (target >= 0.4)
3. workers=2 / workers=1 wall-clock speed-up on a 2-core machine             (target >= 1.6)
4. projected / full for a committee, K = K* = 8 (binary), m = 8, n = 100: the projected rows have
   d = K + K* = 16 coordinates; with and without covariances (the full sampler's df/dW and E g have
   K n = 800 components, whose 800 x 800 covariance dominates its cost)

Each timing is the best of a few repeats (the machine may be shared).  Settings: ``ste="relu"``,
the boundary estimator of df/dw, covariances on -- the defaults of ``popgrad.monte_carlo``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import popgrad as pg
from popgrad import montecarlo as mcm


def _best(f, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs (noisier ratios)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    scale = 0.25 if args.quick else 1.0
    rng = np.random.default_rng(0)
    m, n = 8, 100
    model = pg.Model(rng.standard_normal(m), rng.standard_normal(n))
    v, w = rng.standard_normal(m), rng.standard_normal(n)

    n_full, n_proj = int(40_000 * scale), int(2_000_000 * scale)
    t_full = _best(lambda: pg.monte_carlo(model, v, w, n_samples=n_full, seed=1, method="full"), 3)
    t_proj = _best(lambda: pg.monte_carlo(model, v, w, n_samples=n_proj, seed=1, method="projected"), 3)
    full_rate, proj_rate = n_full / t_full, n_proj / t_proj

    block = mcm._block_size("projected", m, 2)  # d = 2: the plane span{w, w*}

    def draw_only() -> None:
        for j in range(-(-n_proj // block)):
            g = np.random.Generator(np.random.PCG64(np.random.SeedSequence(1, spawn_key=(j,))))
            g.standard_normal((2, min(block, n_proj - j * block), m))

    draw_rate = n_proj / _best(draw_only, 3)

    K = 8
    committee = pg.MultiFilterModel(rng.standard_normal((K, m)), rng.standard_normal((K, n)))
    V, W = rng.standard_normal((K, m)), rng.standard_normal((K, n))
    n_cf, n_cp = int(16_000 * scale), int(160_000 * scale)
    committee_rates = {}
    for cov in (True, False):
        kw = {"n_samples": n_cf, "seed": 3, "method": "full", "covariance": cov}
        t_f = _best(lambda kw=kw: pg.monte_carlo(committee, V, W, **kw), 2)
        kw = {**kw, "n_samples": n_cp, "method": "projected"}
        t_p = _best(lambda kw=kw: pg.monte_carlo(committee, V, W, **kw), 2)
        committee_rates[cov] = (n_cf / t_f, n_cp / t_p)

    n_par = int(8_000_000 * scale)
    load_before = os.getloadavg()[0]
    c0 = os.times()
    t1 = _best(lambda: pg.monte_carlo(model, v, w, n_samples=n_par, seed=2, method="projected", workers=1), 2)
    c1 = os.times()
    t2 = _best(lambda: pg.monte_carlo(model, v, w, n_samples=n_par, seed=2, method="projected", workers=2), 2)
    c2 = os.times()
    cpu1 = (c1.user + c1.system - c0.user - c0.system) / 2  # per run
    cpu2 = (c2.children_user + c2.children_system - c1.children_user - c1.children_system) / 2

    out = {
        "cpu_count": os.cpu_count(),
        "full_samples_per_s": full_rate,
        "projected_samples_per_s": proj_rate,
        "draw_only_samples_per_s": draw_rate,
        "ratio_projected_vs_full": proj_rate / full_rate,
        "ratio_projected_vs_draw_only": proj_rate / draw_rate,
        "speedup_workers_2_vs_1": t1 / t2,
        "committee_8_8_full_samples_per_s": committee_rates[True][0],
        "committee_8_8_projected_samples_per_s": committee_rates[True][1],
        "ratio_committee_8_8_projected_vs_full": committee_rates[True][1] / committee_rates[True][0],
        "ratio_committee_8_8_projected_vs_full_no_covariance": committee_rates[False][1] / committee_rates[False][0],
        "cpu_seconds_workers_1": cpu1,
        "cpu_seconds_workers_2_children": cpu2,
        "load_average_before": load_before,
    }
    if args.json:
        print(json.dumps(out, indent=2))
        return
    print(f"m = {m}, n = {n}, cpus = {out['cpu_count']}")
    print(f"full sampler        {full_rate:12.4g} samples/s")
    print(f"projected sampler   {proj_rate:12.4g} samples/s")
    print(f"normal draws only   {draw_rate:12.4g} samples/s")
    print(f"projected / full          {out['ratio_projected_vs_full']:8.1f}   (target >= 20)")
    print(f"projected / draws only    {out['ratio_projected_vs_draw_only']:8.2f}   (target >= 0.4)")
    print(f"workers=2 / workers=1     {out['speedup_workers_2_vs_1']:8.2f}   (target >= 1.6, {n_par:.0e} samples)")
    (cf, cp), (nf, np_) = committee_rates[True], committee_rates[False]
    print(f"committee K = K* = 8: full {cf:.4g}/s, projected {cp:.4g}/s; without covariances {nf:.4g}/s, {np_:.4g}/s")
    print(f"committee projected / full  {cp / cf:8.1f}   (without covariances {np_ / nf:.1f})")
    print(f"  cpu s per run: workers=1 {cpu1:.2f}, workers=2 (children) {cpu2:.2f}; load average {load_before:.2f}")
    print("  (the speed-up is only meaningful on an otherwise idle machine: compare the load average with the cores)")


if __name__ == "__main__":
    main()
