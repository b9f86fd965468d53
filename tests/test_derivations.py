"""Run every derivation script in derivations/; each must exit 0 (all of its sympy checks pass).

The scripts run as subprocesses, a few at a time, started once per module so that the slow ones
overlap; each test then waits for its own script.
"""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = sorted(p for p in (ROOT / "derivations").glob("*.py") if not p.name.startswith("_"))


def _run(script: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=ROOT, timeout=600)


@pytest.fixture(scope="module")
def runs() -> dict[str, Future]:
    # slowest first, so the pool stays busy
    order = sorted(SCRIPTS, key=lambda p: p.name != "clipped_relu.py")
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {p.name: pool.submit(_run, p) for p in order}
        yield futures


DOCUMENTS = sorted(p for p in (ROOT / "derivations").glob("*.md") if p.name != "README.md")
NO_SCRIPT = "**No script:**"


def test_every_result_has_a_script_and_a_document():
    names = {p.stem for p in SCRIPTS}
    assert {"loss", "gradient", "gaussian_helpers", "coarse_gradient", "clipped_relu", "inner_products",
            "proposition1", "critical_points", "identities"} <= names  # fmt: skip
    index = (ROOT / "derivations" / "README.md").read_text()
    for p in SCRIPTS:
        assert p.with_suffix(".md").exists(), f"{p.name} has no Markdown document"
        assert f"]({p.name})" in index, f"{p.name} missing from the README index"


@pytest.mark.parametrize("document", [p.name for p in DOCUMENTS])
def test_every_document_has_a_script_or_says_why_not(document):
    """A document either has its script, or a line "**No script:** <why>" and no script in the index."""
    path = ROOT / "derivations" / document
    text = path.read_text()
    assert f"]({document})" in (ROOT / "derivations" / "README.md").read_text(), f"{document} not in the README index"
    if path.with_suffix(".py").exists():
        assert NO_SCRIPT not in text, f"{document} has a script but says it has none"
    else:
        reasons = [line for line in text.splitlines() if line.startswith(NO_SCRIPT)]
        assert reasons, f"{document} has no script and no line starting {NO_SCRIPT!r} saying why"
        assert len(reasons[0]) > len(NO_SCRIPT) + 20, f"{document}: {NO_SCRIPT} without a reason"


@pytest.mark.parametrize("document", [p.name for p in DOCUMENTS] + ["README.md"])
def test_documents_stand_alone(document):
    """No working notes: the documents do not refer to branches, people or files outside the repository."""
    text = (ROOT / "derivations" / document).read_text().lower()
    for phrase in ("the lead", "on main", "the brief", "../"):  # "../": a path leaving the repository
        assert phrase not in text, f"{document} mentions {phrase!r}"


@pytest.mark.parametrize("script", [p.name for p in SCRIPTS])
def test_derivation_script_passes(runs, script):
    proc = runs[script].result()
    assert proc.returncode == 0, f"{script} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    assert "FAIL" not in proc.stdout
    assert " checks passed in " in proc.stdout  # the summary line: the script really ran its checks
