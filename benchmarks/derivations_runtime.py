"""Wall time of every derivation script, one after the other and all together (2 at a time).

python benchmarks/derivations_runtime.py
"""

from __future__ import annotations

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = sorted(p for p in (ROOT / "derivations").glob("*.py") if not p.name.startswith("_"))


def run(script: Path) -> tuple[str, float, int]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, cwd=ROOT)
    return script.name, time.perf_counter() - start, proc.returncode


def main() -> None:
    start = time.perf_counter()
    for name, seconds, code in map(run, SCRIPTS):
        print(f"{name:24s} {seconds:6.1f} s  {'ok' if code == 0 else 'FAILED'}")
    serial = time.perf_counter() - start
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=2) as pool:
        codes = [code for _, _, code in pool.map(run, SCRIPTS)]
    parallel = time.perf_counter() - start
    print(
        f"all {len(SCRIPTS)} scripts: {serial:.1f} s one after the other, {parallel:.1f} s two at a time"
        f" ({'all ok' if not any(codes) else 'FAILURES'})"
    )


if __name__ == "__main__":
    main()
