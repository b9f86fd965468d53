"""Running the command line in tests: in-process (``cli.main``) and as a real, memory-limited subprocess."""

from __future__ import annotations

import contextlib
import io
import os
import re
import resource
import subprocess
import sys
from collections.abc import Sequence
from typing import IO

from popgrad import cli

TEACHER = ["--v-star", "1,-0.5,2", "--w-star", "1,0,0"]
POINT = [*TEACHER, "--v", "0.3,1,-0.7", "--w", "0.2,1,-0.4"]
MEMORY_LIMIT = 2 * 2**30  # address space of a subprocess run: ~0.3 GiB used, a runaway read fails fast


def run(*argv: str) -> tuple[int, str, str]:
    """``cli.main(argv)`` with stdout and stderr captured: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(list(argv))
        except SystemExit as exc:  # main returns its status; an escaping SystemExit still counts
            code = exc.code
    return code, out.getvalue(), err.getvalue()


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def run_process(
    argv: Sequence[str], *, stdout: int | IO[bytes] = subprocess.PIPE, timeout: float = 60
) -> subprocess.CompletedProcess[bytes]:
    """``python -m popgrad argv`` under an address-space limit of MEMORY_LIMIT (one BLAS thread)."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return subprocess.run(
        [sys.executable, "-m", "popgrad", *argv],
        stdout=stdout,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=env,
        timeout=timeout,
        preexec_fn=_limit_memory,
        check=False,
    )


def assert_clear_error(code: int, out: str, err: str, *names: str) -> None:
    """Exit 2, nothing on stdout, one line on stderr (no traceback) naming one of ``names``.

    A name matches as a whole token: ``--v`` does not match inside ``--v-star``.
    """
    assert code == 2, (code, err)
    assert out == "", out
    assert "Traceback" not in err, err
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert err.startswith("popgrad"), err
    assert any(re.search(rf"(?<![\w-]){re.escape(n)}(?![\w-])", err) for n in names), (names, err)
