"""Shared test configuration: hypothesis profiles and isolation of mpmath's global precision."""

from __future__ import annotations

import os

import mpmath
import pytest
from hypothesis import settings

# "ci": deterministic (same examples every run), no per-example deadline, reproduction blobs printed.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


MPMATH_DEFAULT_PREC = 53  # mpmath's own default (15 digits)


@pytest.fixture(autouse=True)
def _reset_mpmath_precision():
    """Run every test at mpmath's default precision and restore it afterwards: nothing leaks."""
    mpmath.mp.prec = MPMATH_DEFAULT_PREC
    try:
        yield
    finally:
        mpmath.mp.prec = MPMATH_DEFAULT_PREC


@pytest.fixture(scope="session")
def executed_notebooks(tmp_path_factory):
    """Every notebook executed at most once per session (tests/_docs.py): the notebook tests assert on
    that execution and the documentation site is built from the same executed copies."""
    from tests._docs import ExecutedNotebooks

    return ExecutedNotebooks(tmp_path_factory.mktemp("executed_notebooks"))


@pytest.fixture(scope="session")
def docs_site(executed_notebooks, tmp_path_factory):
    """The documentation site built once per session from the executed notebooks:
    ``(html directory, the finished sphinx-build process)``."""
    from tests._docs import build

    failed = executed_notebooks.failures()
    if failed:
        pytest.fail(f"notebooks {failed} failed to execute (tests/test_notebooks.py shows why): no site built")
    out = tmp_path_factory.mktemp("docs")
    build.stage(out / "src", executed_notebooks.directory)
    return out / "html", build.sphinx_build(out / "src", out / "html")
