"""What users' tools expect: one version (popgrad.__version__) that the installed metadata reports, a
wheel with ``py.typed``, a valid CITATION.cff citing the paper, a changelog in Keep a Changelog style."""

from __future__ import annotations

import copy
import importlib.metadata
import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import jsonschema
import pytest
import yaml

import popgrad

if sys.version_info >= (3, 11):
    import tomllib
else:  # the test extra installs tomli there
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
# The Citation File Format 1.2.0 schema (https://citation-file-format.github.io/1.2.0/schema.json,
# CC-BY-4.0), as shipped in cffconvert 2.0.0 on PyPI; cffconvert itself pins jsonschema < 4.
CFF_SCHEMA = ROOT / "tests" / "data" / "cff-1.2.0.schema.json"
PAPER_TITLE = "Understanding Straight-Through Estimator in Training Activation Quantized Neural Nets"


def test_version_has_one_source() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "popgrad.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", popgrad.__version__)
    assert importlib.metadata.version("popgrad") == popgrad.__version__, "reinstall: pip install -e ."


def test_wheel_has_py_typed_and_the_version(tmp_path: Path) -> None:
    """Build the wheel from a copy of the sources (the checkout stays clean) through the PEP 517 backend."""
    src = tmp_path / "src"
    shutil.copytree(ROOT / "popgrad", src / "popgrad", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    backend = tomllib.loads((src / "pyproject.toml").read_text(encoding="utf-8"))["build-system"]["build-backend"]
    code = f"import sys, {backend} as b; print(b.build_wheel(sys.argv[1]))"
    cmd = [sys.executable, "-W", "error", "-c", code, str(tmp_path / "dist")]
    result = subprocess.run(cmd, cwd=src, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    (wheel,) = (tmp_path / "dist").glob("popgrad-*.whl")
    assert wheel.name.startswith(f"popgrad-{popgrad.__version__}-")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        metadata = zf.read(f"popgrad-{popgrad.__version__}.dist-info/METADATA").decode()
    assert "popgrad/py.typed" in names
    assert f"\nVersion: {popgrad.__version__}\n" in metadata


def _citation() -> dict:
    return yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))


def _cff_errors(data: dict) -> list[str]:
    schema = json.loads(CFF_SCHEMA.read_text(encoding="utf-8"))
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(data)]


def test_citation_cff_is_valid() -> None:
    data = _citation()
    assert not _cff_errors(data)
    assert data["cff-version"] == "1.2.0" and data["type"] == "software"
    assert "version" not in data, "the version lives in popgrad/__init__.py only"


@pytest.mark.parametrize(
    "break_it",
    [
        lambda d: d.pop("message"),
        lambda d: d["preferred-citation"]["identifiers"][1].update(value="arXiv.1903.05662"),
        lambda d: d["preferred-citation"].update(type="paper"),
        lambda d: d["authors"].append({"nmae": "typo"}),
    ],
    ids=["no message", "malformed DOI", "unknown type", "bad author"],
)
def test_the_schema_check_rejects_a_broken_citation(break_it) -> None:
    data = copy.deepcopy(_citation())
    break_it(data)
    assert _cff_errors(data)


def test_citation_cites_the_paper() -> None:
    """The paper as README's BibTeX has it: the preferred citation, and the reference popgrad builds on."""
    data = _citation()
    paper = data["preferred-citation"]
    assert data["references"] == [paper]
    assert paper["type"] == "conference-paper" and paper["year"] == 2019
    assert paper["title"] == PAPER_TITLE
    assert [a["family-names"] for a in paper["authors"]] == ["Yin", "Lyu", "Zhang", "Osher", "Qi", "Xin"]
    assert "ICLR" in paper["collection-title"]
    assert {i["value"] for i in paper["identifiers"]} >= {"arXiv:1903.05662", "10.48550/arXiv.1903.05662"}
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"title     = {{{PAPER_TITLE}}}" in readme and "1903.05662" in readme


def test_changelog_keeps_a_changelog() -> None:
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    versions = re.findall(r"^## \[([^\]]+)\](?: - (\d{4}-\d{2}-\d{2}))?$", text, re.M)
    assert versions[0] == ("Unreleased", ""), versions
    assert ("0.1.0", "2026-11-23") in versions
    assert popgrad.__version__ in [v for v, _ in versions[1:]], "a released version has its section"
    for section in re.findall(r"^### (.+)$", text, re.M):
        assert section in {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}, section


def _mypy(*args: str, cache: Path) -> subprocess.CompletedProcess[str]:
    """``python -m mypy`` of this environment, from the repository root (so with pyproject.toml's [tool.mypy])."""
    cmd = [sys.executable, "-m", "mypy", "--cache-dir", str(cache), *args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)


def test_mypy_clean() -> None:
    """popgrad/ type-checks (py.typed promises it): every def annotated, no error, with [tool.mypy].

    Cost: about 12 s of CPU without a cache; under 1 s with the cache of a previous run (.mypy_cache, which
    git ignores and a manual ``mypy`` shares)."""
    result = _mypy(cache=ROOT / ".mypy_cache")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_mypy_settings_refuse_untyped_and_wrong_code(tmp_path: Path) -> None:
    """The check above can fail: the same settings reject a def without annotations and a wrong return type."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f(x):\n    return x\n\n\ndef g() -> int:\n    return 'one'\n", encoding="utf-8")
    result = _mypy(str(bad), cache=tmp_path / "cache")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "[no-untyped-def]" in result.stdout and "[return-value]" in result.stdout, result.stdout
