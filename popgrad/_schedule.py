r"""Running a Monte Carlo estimate in chunks: serially, on a process pool, or on any executor.

The samples are cut into *blocks* of a fixed size (one random stream each) and the blocks into *chunks* of
an aligned power-of-two number of blocks (one task each); :mod:`popgrad._moments` merges the chunks' moments
along a fixed dyadic tree, so the result does not depend on the chunking, the pool or the executor.

* Chunks are generated lazily: memory is bounded by the tasks in flight, whatever the number of samples.
* A pool started here has at most as many processes as there are chunks.
* Arguments are checked to pickle before a process pool sees them, so an unpicklable custom STE (a
  lambda) is reported by name with what to do, instead of a pickling traceback from a worker.
* Progress: a :mod:`tqdm` bar (``tqdm.auto``: a widget in Jupyter), by default only when stderr is a
  terminal, the environment variable ``CI`` is unset and the run takes more than a second; ``progress=True``
  shows it always, ``False`` never.
"""

from __future__ import annotations

import math
import pickle
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor

from ._moments import TreeMerger
from ._progress import enabled as progress_enabled
from ._validate import positive_int

__all__ = ["Plan", "plan", "run"]

UNPICKLABLE = (
    "{what} cannot be sent to worker processes: it does not pickle ({error}). Define it (mu' of a custom STE: "
    "def mu_prime(x): ...; pg.ste.custom(mu_prime)) at module level, or run in threads (executor=concurrent."
    "futures.ThreadPoolExecutor(k)), or use an executor that pickles with cloudpickle, such as Dask's "
    "(executor=distributed.Client(...).get_executor())"
)


class Plan:
    """Blocks and chunks of one run: ``n_blocks`` blocks of ``block`` samples, ``chunk_blocks`` per task."""

    def __init__(self, n_samples: int, block: int, chunk_blocks: int) -> None:
        self.n_samples, self.block, self.chunk_blocks = n_samples, block, chunk_blocks
        self.n_blocks = -(-n_samples // block)
        self.n_chunks = -(-self.n_blocks // chunk_blocks)

    def chunks(self) -> Iterator[tuple[int, int]]:
        """``(first, stop)`` block ranges, generated one at a time."""
        for a in range(0, self.n_blocks, self.chunk_blocks):
            yield a, min(a + self.chunk_blocks, self.n_blocks)

    def samples_before(self, stop: int) -> int:
        return min(self.n_samples, stop * self.block)


def plan(n_samples: int, block: int, chunk_size: object, parallel: int) -> Plan:
    """Blocks per task: ``chunk_size // block`` rounded down to a power of two (alignment keeps the merge tree
    fixed), or by default about four tasks per parallel slot, at most 64 blocks."""
    n_blocks = -(-n_samples // block)
    if chunk_size is None:
        target = max(1, n_blocks // (4 * parallel)) if parallel > 1 else 16
        blocks = min(64, target)
    else:
        blocks = max(1, positive_int(chunk_size, "chunk_size") // block)
    return Plan(n_samples, block, 2 ** math.floor(math.log2(blocks)))


def _pickle_error(obj: object) -> Exception | None:
    try:
        pickle.dumps(obj)
    except Exception as exc:  # PicklingError, AttributeError (local objects), TypeError, ...
        return exc
    return None


def check_picklable(task: object, parts: dict[str, object]) -> None:
    """``TypeError`` naming the first of ``parts`` (description -> object) that does not pickle, and the remedies,
    if ``task`` does not pickle."""
    error = _pickle_error(task)
    if error is None:
        return
    what, culprit = "an argument of the Monte Carlo task", error
    for name, obj in parts.items():
        exc = _pickle_error(obj)
        if exc is not None:
            what, culprit = name, exc
            break
    raise TypeError(UNPICKLABLE.format(what=what, error=culprit))


class _Progress:
    """A tqdm bar over samples, or nothing."""

    def __init__(self, total: int, enabled: bool | None) -> None:
        show, delay = progress_enabled(enabled)  # automatic: on a terminal outside CI, after a second
        self.bar = None
        if show:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, unit="sample", unit_scale=True, desc="popgrad monte_carlo", delay=delay)
        self.done = 0

    def to(self, done: int) -> None:
        if self.bar is not None:
            self.bar.update(done - self.done)
        self.done = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _gather(task: Callable, p: Plan, executor: Executor | None, window: int, bar: _Progress) -> dict:
    merger = TreeMerger()
    chunks = p.chunks()
    if executor is None:
        for a, b in chunks:
            merger.push(task(a, b))
            bar.to(p.samples_before(b))
        return merger.result()
    pending: deque = deque()
    for a, b in chunks:
        pending.append((b, executor.submit(task, a, b)))
        if len(pending) >= window:
            break
    while pending:
        b, fut = pending.popleft()
        merger.push(fut.result())
        bar.to(p.samples_before(b))
        nxt = next(chunks, None)
        if nxt is not None:
            pending.append((nxt[1], executor.submit(task, *nxt)))
    return merger.result()


def run(
    task: Callable, p: Plan, *, workers: int, executor: Executor | None, progress: bool | None, parts: dict
) -> dict:
    """Merged moments of ``task(first, stop)`` over the plan's chunks.

    ``task`` must be picklable (a :func:`functools.partial` of a module-level function) to run in processes;
    ``parts`` (description -> object, e.g. ``{"custom STE 'mine'": ste}``) are the user-supplied pieces of it that
    the error names when it is not.
    """
    bar = _Progress(p.n_samples, progress)
    try:
        if executor is not None:
            if isinstance(executor, ProcessPoolExecutor):
                check_picklable(task, parts)
            return _gather(task, p, executor, 4 * max(workers, 2), bar)
        if workers > 1 and p.n_chunks > 1:
            check_picklable(task, parts)
            with ProcessPoolExecutor(max_workers=min(workers, p.n_chunks)) as pool:
                return _gather(task, p, pool, 2 * workers, bar)
        return _gather(task, p, None, 1, bar)
    finally:
        bar.close()
