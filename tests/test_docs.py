"""The documentation site (docs/README.md): built with warnings as errors from the notebooks' single
execution, complete (every public name, notebook, derivation and gallery figure), no broken internal
link or anchor, and rendered in a real headless Chromium: math typeset, images loaded, nothing failing.
"""

from __future__ import annotations

import html as html_module
import importlib
import inspect
import os
import pkgutil
import re
from pathlib import Path

import pytest

import popgrad
from tests._docs import build, inventory
from tests._site import crawl, serve

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("POPGRAD_CHROMIUM", "/usr/bin/chromium")  # Debian's; .ci/run installs it
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def html(docs_site) -> Path:
    root, result = docs_site
    assert result.returncode == 0, "the site did not build (see test_site_builds_without_warnings)"
    return root


def test_site_builds_without_warnings(docs_site) -> None:
    root, result = docs_site
    assert result.returncode == 0, f"sphinx-build -W failed:\n{result.stderr[-20000:]}"
    assert (root / "index.html").is_file()


def _public_names():
    """``(module, name)`` for every name of every public module's ``__all__``: the package and its
    submodules without a ``_`` in their dotted path (the rule docs/apigen.py documents)."""
    modules = [popgrad] + [
        importlib.import_module(info.name)
        for info in pkgutil.walk_packages(popgrad.__path__, "popgrad.")
        if not any(part.startswith("_") for part in info.name.split("."))
    ]
    return [(module, name) for module in modules for name in module.__all__]


def _roles(obj: object) -> set[str]:
    if inspect.ismodule(obj):
        return {"py:module"}
    if inspect.isclass(obj):
        return {"py:class", "py:exception"}
    if inspect.isroutine(obj):
        return {"py:function"}
    return {"py:data"}


def test_every_public_name_is_in_the_reference(html: Path) -> None:
    """Each name is documented under its own dotted name or, for a re-exported class or function,
    under another public name of the same object (``popgrad.Model`` as ``popgrad.models.paper.Model``)."""
    objects = inventory(html / "objects.inv")
    names = _public_names()
    assert len(names) > 100 and (popgrad, "Model") in names
    missing = []
    for module, name in names:
        obj = getattr(module, name)
        roles = _roles(obj)
        if inspect.ismodule(obj):
            candidates = {obj.__name__}
        elif inspect.isclass(obj) or inspect.isroutine(obj):
            candidates = {f"{m.__name__}.{n}" for m, n in names if getattr(m, n) is obj}
        else:
            candidates = {f"{module.__name__}.{name}"}
        if not any(c in objects and objects[c][0] in roles for c in candidates):
            missing.append(f"{module.__name__}.{name}")
    assert not missing, f"public names missing from the API reference: {missing}"
    for name, (_role, uri) in objects.items():
        if name.startswith("popgrad"):
            assert (html / uri.split("#")[0]).is_file(), (name, uri)


def test_notebooks_derivations_and_gallery_are_on_the_site(html: Path, executed_notebooks) -> None:
    for path in build.NOTEBOOKS:
        page = (html / "notebooks" / f"{path.stem}.html").read_text(encoding="utf-8")
        outputs = [o for c in executed_notebooks.get(path).cells if c.cell_type == "code" for o in c.outputs]
        figures = sum("image/png" in o.get("data", {}) for o in outputs)
        assert page.count("<img") >= figures, f"{path.name}: {figures} figures executed, fewer shown"
        text = _words(_page_text(page))
        for output in outputs:
            if output.get("name") == "stdout":  # the numbers the notebook prints (and asserts) are on its page
                for line in output["text"].splitlines():
                    assert _words(line) in text, f"{path.name}: printed {line!r} not on its page"
    for md in sorted((ROOT / "derivations").glob("*.md")):
        assert (html / "derivations" / f"{md.stem}.html").is_file(), f"no page for derivations/{md.name}"
    index = (html / "index.html").read_text(encoding="utf-8")
    figures = re.findall(r"\]\((docs/figures/[^)]+\.png)\)", (ROOT / "README.md").read_text(encoding="utf-8"))
    assert len(figures) >= 8
    for figure in figures:
        assert f'src="_images/{Path(figure).name}"' in index, f"gallery figure {figure} not on the index page"


def _page_text(page: str) -> str:
    return html_module.unescape(re.sub(r"<[^>]+>", "", page))


def _words(text: str) -> str:
    return " ".join(text.split())


def test_no_broken_internal_link(html: Path) -> None:
    """Every internal link and resource of every page reachable from the index exists, with its anchor;
    every page with TeX in its text (the sidebar's titles have some) loads MathJax."""
    report = crawl(html)
    assert not report.problems, "\n".join(report.problems)
    assert report.pages_with_tex > 20
    reached = {p.relative_to(html.resolve()).as_posix() for p in report.pages}
    expected = ["api/index.html", "api/popgrad.models.paper.html", "CHANGELOG.html", "docs/README.html"]
    for page in [*expected, "derivations/README.html"]:
        assert page in reached
    assert {f"notebooks/{p.stem}.html" for p in build.NOTEBOOKS} <= reached
    assert report.links_checked > 1000


# what the browser reports about one page: math, images, failures
_INSPECT = """
async () => {
  if (window.MathJax && MathJax.startup) { await MathJax.startup.promise; }
  const math = [...document.querySelectorAll('.math')];
  const images = await Promise.all([...document.images].map(async (img) => {
    img.loading = 'eager';
    try { await img.decode(); } catch (e) { /* a broken image: naturalWidth stays 0 */ }
    return {src: img.getAttribute('src').slice(0, 80), width: img.naturalWidth};
  }));
  const text = document.body.cloneNode(true);
  text.querySelectorAll('pre, code, script, style, textarea, mjx-container').forEach((e) => e.remove());
  return {
    math: math.length,
    unrendered: math.filter((m) => !m.querySelector('mjx-container')).map((m) => m.textContent.slice(0, 80)),
    // a TeX error, or an undefined macro (MathJax's noundefined package shows it in red)
    texErrors: [...document.querySelectorAll('mjx-assistive-mml merror, mjx-assistive-mml [mathcolor="red"]')]
      .map((e) => e.textContent.slice(0, 80)),
    rawDelimiters: ['\\\\(', '\\\\)', '\\\\[', '\\\\]', '$$'].filter((d) => text.textContent.includes(d)),
    images: images,
  };
}
"""


def test_pages_render_in_a_browser(html: Path, tmp_path: Path) -> None:
    """The index (README with the gallery), API, derivation and notebook pages and one page whose content
    has no math (the changelog: math only in the sidebar) in headless Chromium."""
    if not Path(CHROMIUM).is_file():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} missing: .ci/run installs Debian's chromium")
        pytest.skip(f"no Chromium at {CHROMIUM}: `apt-get install -y chromium`, or set POPGRAD_CHROMIUM")
    from playwright.sync_api import sync_playwright

    pages = ["index.html", "api/index.html", "api/popgrad.models.paper.html", "derivations/clipped_relu.html"]
    pages += [f"notebooks/{build.NOTEBOOKS[1].stem}.html", "CHANGELOG.html"]
    problems: list[str] = []
    seen = {}
    with serve(html) as base, sync_playwright() as pw:
        browser = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS
        )
        try:
            page = browser.new_page()

            def on_response(response) -> None:
                if response.status >= 400:
                    problems.append(f"{page.url}: {response.status} {response.url}")

            def on_console(message) -> None:
                source = message.location.get("url", "")
                if message.type == "error" and not source.endswith("/favicon.ico"):  # the browser's own request
                    problems.append(f"{page.url}: console {message.text} {source}")

            page.on("requestfailed", lambda request: problems.append(f"{page.url}: request failed {request.url}"))
            page.on("response", on_response)
            page.on("pageerror", lambda error: problems.append(f"{page.url}: script error {error}"))
            page.on("console", on_console)
            for name in pages:
                response = page.goto(base + name, wait_until="load", timeout=60_000)
                assert response is not None and response.ok, (name, response and response.status)
                seen[name] = found = page.evaluate(_INSPECT)
                problems += [f"{name}: math not typeset: {m!r}" for m in found["unrendered"]]
                problems += [f"{name}: TeX error {e!r}" for e in found["texErrors"]]
                problems += [f"{name}: raw math delimiter {d!r} in the text" for d in found["rawDelimiters"]]
                problems += [f"{name}: image not loaded {i['src']!r}" for i in found["images"] if i["width"] <= 0]
        finally:
            browser.close()
    assert not problems, "\n".join(problems)
    assert seen["api/popgrad.models.paper.html"]["math"] > 10 and seen["derivations/clipped_relu.html"]["math"] > 10
    assert len(seen["index.html"]["images"]) >= 8  # the gallery
    assert seen[pages[-2]]["images"], "a notebook page shows no figure"
