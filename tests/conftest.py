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
