"""Worst relative error (to the natural scale) of the float64 closed forms over thousands of points.

The points and the error measure are those of tests/test_accuracy.py (see its docstring for the
natural scale); the test runs a CI-sized sample, this script a large one, once, and reports the
worst case per result with the point where it occurs.

    python benchmarks/accuracy_worst_case.py [n_points]      (default 3000)
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hypothesis import HealthCheck, given, settings  # noqa: E402

from tests.test_accuracy import TOL, points, relative_errors  # noqa: E402


def main(n: int) -> None:
    worst: dict[str, tuple[float, dict]] = {}
    count = 0

    @settings(max_examples=n, database=None, derandomize=True, deadline=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(points())
    def sweep(pt: dict) -> None:
        nonlocal count
        count += 1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            errors = relative_errors(pt)
        for k, e in errors.items():
            if k not in worst or e > worst[k][0]:
                worst[k] = (e, {name: x.tolist() for name, x in pt.items()})

    start = time.perf_counter()
    sweep()
    elapsed = time.perf_counter() - start
    print(f"{count} points in {elapsed:.0f} s; tolerance {TOL:g} of the natural scale")
    for k, (e, pt) in sorted(worst.items(), key=lambda kv: -kv[1][0]):
        print(f"{k:22s} worst {e:.2e}  ({'ok' if e <= TOL else 'ABOVE TOLERANCE'})  at {pt}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3000)
