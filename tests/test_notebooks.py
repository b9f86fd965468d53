"""The notebooks are part of the test suite: each is executed top to bottom (its own asserts check the
numbers it shows), and each is stored with its outputs stripped so that the repository holds code,
not stale results.  Each is executed once per session; the documentation site shows that execution."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
EXPECTED = {
    "1_tour",
    "2_landscape",
    "3_dynamics",
    "4_finite_samples",
    "5_verification",
    "6_ste_families",
    "7_multibit",
    "8_multi_filter",
}


def test_the_notebooks_are_all_there() -> None:
    assert {p.stem for p in NOTEBOOKS} == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stored_stripped(path: Path) -> None:
    nb = json.loads(path.read_text(encoding="utf-8"))
    assert nb["nbformat"] == 4
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code, "a notebook without code"
    for cell in code:
        assert cell["outputs"] == [], f"{path.name}: outputs not stripped"
        assert cell["execution_count"] is None, f"{path.name}: execution count not stripped"
    assert set(nb["metadata"]) <= {"kernelspec", "language_info"}, nb["metadata"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes(path: Path, executed_notebooks) -> None:
    """Executed once per session (tests/_docs.py, kernel in the repository root, matplotlib headless);
    the documentation site is built from the same executed copy (tests/test_docs.py)."""
    nb = executed_notebooks.get(path)  # raises CellExecutionError, with the cell and traceback, if a cell fails
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    if "popgrad import plot" in path.read_text(encoding="utf-8"):
        # a figure left as a cell's value is displayed as an image (see popgrad.plot._show_in_ipython)
        assert any("image/png" in o.get("data", {}) for o in outputs), f"{path.name} displays no figure"
