"""The notebooks' single execution per test session, and the documentation site built from it.

``docs/build.py`` (a script, not a package) is loaded by path.  :class:`ExecutedNotebooks` executes
each notebook at most once per session, on first request: ``tests/test_notebooks.py`` asserts on
that execution and ``tests/test_docs.py`` builds the site from the same executed copies.
"""

from __future__ import annotations

import importlib.util
import re
import sys
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _load_build_script():
    spec = importlib.util.spec_from_file_location("popgrad_docs_build", ROOT / "docs" / "build.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


build = _load_build_script()


class ExecutedNotebooks:
    """Executed copies of the notebooks in ``directory``, each executed once, when first asked for."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._errors: dict[str, BaseException | None] = {}

    def get(self, path: Path):
        """The executed notebook (an ``nbformat.NotebookNode``); re-raises its execution error."""
        import nbformat

        if path.name not in self._errors:
            try:
                build.execute_notebook(path, self.directory)
                self._errors[path.name] = None
            except Exception as exc:  # kept and re-raised to every test that asks for this notebook
                self._errors[path.name] = exc
        error = self._errors[path.name]
        if error is not None:
            raise error
        return nbformat.read(self.directory / path.name, as_version=4)

    def failures(self) -> list[str]:
        """Execute every notebook not yet executed; the names of those that failed."""
        failed = []
        for path in build.NOTEBOOKS:
            try:
                self.get(path)
            except Exception:
                failed.append(path.name)
        return failed


_INVENTORY_LINE = re.compile(r"^(?P<name>\S+)\s+(?P<domain>[^:\s]+):(?P<role>\S+)\s+-?\d+\s+(?P<uri>\S*)\s+.*$")


def inventory(objects_inv: Path) -> dict[str, tuple[str, str]]:
    """``name -> (domain:role, page URI with anchor)`` from a Sphinx ``objects.inv`` (version 2)."""
    data = objects_inv.read_bytes()
    header = data.split(b"\n", 4)
    assert header[0] == b"# Sphinx inventory version 2", header[0]
    entries = {}
    for line in zlib.decompress(header[4]).decode("utf-8").splitlines():
        match = _INVENTORY_LINE.match(line)
        if match:
            uri = match["uri"]
            if uri.endswith("$"):
                uri = uri[:-1] + match["name"]
            entries[match["name"]] = (f"{match['domain']}:{match['role']}", uri)
    return entries
