"""Sphinx configuration of the documentation site.

Used by ``docs/build.py`` (``sphinx-build -c docs``) on the source tree that it lays out; see
docs/README.md.  The API pages are written at every build from the package's ``__all__`` lists.
"""

from __future__ import annotations

import sys
import warnings
from inspect import cleandoc
from pathlib import Path

from sphinx.util import logging

import popgrad

sys.path.insert(0, str(Path(__file__).resolve().parent))
import apigen

project = "popgrad"
author = "the popgrad authors"
copyright = "the popgrad authors"
release = version = popgrad.__version__

extensions = [
    "sphinx.ext.autodoc",
    "numpydoc",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "myst_nb",
    "sphinx-mathjax-offline",  # MathJax 3 copied into _static: the site renders math offline
]

# the layout docs/build.py makes: README.md is included by index.md
exclude_patterns = ["README.md", "**/.ipynb_checkpoints"]

# MyST: $...$ and $$...$$ math (the derivations, the notebooks), amsmath environments, heading anchors
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3
# the notebooks arrive executed (tests/test_notebooks.py or docs/build.py ran each once): never again
nb_execution_mode = "off"
nb_merge_streams = True

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
# array inputs are annotated numpy.typing.ArrayLike: shown by that name, not as the union it stands for
autodoc_type_aliases = {"ArrayLike": "numpy.typing.ArrayLike"}
numpydoc_show_class_members = False  # autodoc's :members: lists them
numpydoc_class_members_toctree = False

html_theme = "furo"
html_title = f"popgrad {release}"
html_static_path: list[str] = []


def _drop_inherited_docstrings(app, what, name, obj, options, lines) -> None:
    """Data without a docstring of its own would show its type's (``tuple``, ``float``, sympy's)."""
    own = type(obj).__doc__
    own = own if isinstance(own, str) else None  # a class attribute named __doc__ may shadow it
    if what in ("data", "attribute") and lines and own:
        text = "\n".join(lines).strip()
        if text in own or text in cleandoc(own):  # autodoc dedents what it shows
            lines.clear()


_show_warning = warnings.showwarning


_PACKAGE_DIR = str(Path(popgrad.__file__).resolve().parent)


def _docstring_warnings_fail_the_build(message, category, filename, lineno, file=None, line=None) -> None:
    """numpydoc reports a malformed docstring (e.g. an unknown section, whose content it then drops)
    with ``warnings.warn``; for popgrad's docstrings, make it a Sphinx warning, which ``-W`` turns into
    an error.  Those about other libraries' docstrings (sympy's ``Symbol``, the type of documented
    constants; not shown, see above) are dropped."""
    if "numpydoc" not in str(filename):
        _show_warning(message, category, filename, lineno, file, line)
    elif _PACKAGE_DIR in str(message):
        logging.getLogger("numpydoc").warning("%s", message)


warnings.showwarning = _docstring_warnings_fail_the_build


def _write_api_pages(app) -> None:
    apigen.write_pages("popgrad", Path(app.srcdir) / "api")


def setup(app) -> None:
    # MathJax on every page: the sidebar's page titles carry math on pages whose content has none
    app.set_html_assets_policy("always")
    app.connect("builder-inited", _write_api_pages)
    app.connect("autodoc-process-docstring", _drop_inherited_docstrings, priority=100)  # before numpydoc
