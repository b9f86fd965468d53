"""Shared test configuration: the hypothesis profile, isolation of mpmath's global precision, and the claims of
``popgrad verify`` at seed 0 computed once.

Hypothesis runs *derandomized* everywhere (locally and in CI): every run tries the same examples, so a
counterexample it finds is found again on every run and can never vanish -- until it is fixed, and then it
is kept as an explicit ``@example``.  Search for new counterexamples with the opt-in profile ``explore``
(``HYPOTHESIS_PROFILE=explore``: random examples, failing ones saved in ``.hypothesis/`` and replayed first);
every counterexample it finds must become an ``@example`` of its test before it is fixed.
"""

from __future__ import annotations

import os

import mpmath
import pytest
from hypothesis import settings

settings.register_profile("popgrad", derandomize=True, database=None, deadline=None, print_blob=True)
settings.register_profile("explore", derandomize=False, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "popgrad"))


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


@pytest.fixture(scope="session")
def seed0():
    """Every registered claim on the default battery at seed 0 (what ``popgrad verify`` prints), by key."""
    from popgrad.verify import verify

    return {r.key: r for r in verify(seed=0).results}
