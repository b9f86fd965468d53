"""Build the documentation site: ``python docs/build.py`` writes ``build/docs/html/index.html``.

Three steps, each a function the tests reuse:

1. :func:`execute_notebook` runs each notebook of ``notebooks/`` once, top to bottom, and saves the
   executed copy (the test suite runs this step itself and asserts on the outputs,
   ``tests/test_notebooks.py``; the docs are then built from those very copies, never re-executed);
2. :func:`stage` lays out the site's sources: ``docs/index.md``, README.md, CHANGELOG.md, docs/README.md,
   the gallery's figures, ``derivations/`` (pages and scripts) and the executed notebooks;
3. :func:`sphinx_build` runs Sphinx on them with warnings as errors (the API pages are generated from
   the package's ``__all__`` lists by ``conf.py``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
NOTEBOOK_TIMEOUT = 300  # seconds per cell

__all__ = ["NOTEBOOKS", "build", "execute_notebook", "sphinx_build", "stage"]


def execute_notebook(path: Path, out_dir: Path) -> Path:
    """Execute the notebook ``path`` top to bottom and write the executed copy to ``out_dir / path.name``.

    The kernel runs in the repository root with ``MPLBACKEND=Agg`` and the repository on
    ``PYTHONPATH``.  Raises ``nbclient.exceptions.CellExecutionError`` (with the cell and traceback)
    if a cell fails; nothing is written then.
    """
    import nbclient
    import nbformat

    nb = nbformat.read(path, as_version=4)
    env = dict(os.environ, MPLBACKEND="Agg")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    client = nbclient.NotebookClient(
        nb, timeout=NOTEBOOK_TIMEOUT, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    )
    client.execute(env=env)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / path.name
    nbformat.write(nb, out)
    return out


def stage(src: Path, executed_notebooks: Path) -> None:
    """Lay out the site's sources in ``src`` (emptied first), with the executed notebooks' copies.

    Raises
    ------
    FileNotFoundError
        If an executed copy of a notebook of ``notebooks/`` is missing from ``executed_notebooks``.
    """
    missing = [p.name for p in NOTEBOOKS if not (executed_notebooks / p.name).is_file()]
    if missing:
        raise FileNotFoundError(f"no executed copy of {missing} in {executed_notebooks}")
    shutil.rmtree(src, ignore_errors=True)
    src.mkdir(parents=True)
    # the repository's layout, so that the links between README.md, CHANGELOG.md, docs/README.md,
    # docs/figures and derivations/ work on the site as they do on GitHub
    shutil.copy2(DOCS / "index.md", src / "index.md")  # includes README.md
    for name in ("README.md", "CHANGELOG.md"):
        shutil.copy2(ROOT / name, src / name)
    (src / "docs").mkdir()
    for page in DOCS.glob("*.md"):  # docs/README.md, the claims, the architecture, ... (index.md is the root)
        if page.name != "index.md":
            shutil.copy2(page, src / "docs" / page.name)
    shutil.copytree(DOCS / "figures", src / "docs" / "figures")
    shutil.copytree(ROOT / "derivations", src / "derivations", ignore=shutil.ignore_patterns("__pycache__"))
    (src / "notebooks").mkdir()
    for nb in NOTEBOOKS:
        shutil.copy2(executed_notebooks / nb.name, src / "notebooks" / nb.name)


def sphinx_build(src: Path, html: Path) -> subprocess.CompletedProcess[str]:
    """Run Sphinx (HTML, warnings are errors, a fresh environment) on ``src`` into ``html``.

    Returns the finished process; its ``returncode`` is non-zero on any warning, and ``stderr`` lists
    them all (``--keep-going``).
    """
    doctrees = html.parent / "doctrees"
    shutil.rmtree(html, ignore_errors=True)
    shutil.rmtree(doctrees, ignore_errors=True)
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-q", "-E"]
    cmd += ["-c", str(DOCS), "-d", str(doctrees), str(src), str(html)]
    return subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=ROOT)


def build(out: Path, executed_notebooks: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Build the site into ``out / "html"``; execute the notebooks first unless given executed copies."""
    if executed_notebooks is None:
        executed_notebooks = out / "notebooks"
        for path in NOTEBOOKS:
            print(f"executing {path.name}", flush=True)
            execute_notebook(path, executed_notebooks)
    stage(out / "src", executed_notebooks)
    return sphinx_build(out / "src", out / "html")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "docs", help="output directory")
    parser.add_argument(
        "--executed-notebooks",
        type=Path,
        default=None,
        help="a directory with executed copies of the notebooks (default: execute them into OUT/notebooks)",
    )
    args = parser.parse_args(argv)
    result = build(args.out.resolve(), args.executed_notebooks)
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    if result.returncode == 0:
        print(f"built {args.out.resolve() / 'html' / 'index.html'}")
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
