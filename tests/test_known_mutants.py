"""The known mutants of ``tools/known_mutants.py`` still apply to the code (issue 15).

Running them is slow and happens outside CI (``python tools/mutation.py known``, ``docs/mutation.md``); this
checks in milliseconds that each one's text occurs exactly once in its module and that its subset of tests and
its expected killer exist, so that an edit of the code cannot silently turn a known mutant into a no-op.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


KNOWN = _load("known_mutants").KNOWN


def test_twelve_distinct_mutants_in_distinct_places():
    assert len(KNOWN) == 12
    assert len({k.name for k in KNOWN}) == 12
    assert len({(k.module, k.old) for k in KNOWN}) == 12


@pytest.mark.parametrize("k", KNOWN, ids=[k.name for k in KNOWN])
def test_known_mutant_applies_to_the_source(k):
    source = (ROOT / k.module).read_text()
    assert source.count(k.old) == 1, f"{k.name}: its text must occur exactly once in {k.module}; recreate it"
    assert k.new != k.old
    mutated = _load("mutation").apply_known(source, k.old, k.new)
    assert mutated != source
    compile(mutated, k.module, "exec")  # still Python: the bug is a wrong value, not a syntax error


@pytest.mark.parametrize("k", KNOWN, ids=[k.name for k in KNOWN])
def test_known_mutant_tests_exist(k):
    paths = [t.split("::")[0] for t in k.tests if t.startswith("tests/")]
    assert paths and all((ROOT / p).is_file() for p in paths), k.tests
    killer_file, _, killer_name = k.killer.partition("::")
    assert (ROOT / killer_file).is_file() and killer_file in paths
    name = killer_name.split("[")[0]
    if name:  # a named test, or the start of the names of some parametrized tests
        assert f"def {name}" in (ROOT / killer_file).read_text(), k.killer
