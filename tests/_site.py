"""A built static site, checked as a visitor meets it: served on loopback, every internal link followed.

:func:`crawl` starts at ``index.html`` and follows every internal link (``<a href>``) and resource
(``<img>``, ``<script>``, ``<link>``, ``<source>``) of every page it reaches, and checks that a page
with TeX in its text loads MathJax; :func:`serve` runs a local HTTP server for the browser test.
"""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

_RESOURCE_ATTRS = {"img": "src", "script": "src", "link": "href", "source": "src"}


class _Page(HTMLParser):
    """The anchors (``id``, ``<a name>``), links and resource URLs of one HTML page."""

    _LITERAL = frozenset({"pre", "code", "script", "style", "textarea"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.resources: list[str] = []
        self.tex = False  # a TeX delimiter \( or \[ in the text outside code: math for MathJax
        self._literal_depth = 0

    def handle_endtag(self, tag: str) -> None:
        if tag in self._LITERAL:
            self._literal_depth = max(0, self._literal_depth - 1)

    def handle_data(self, data: str) -> None:
        if not self._literal_depth and ("\\(" in data or "\\[" in data):
            self.tex = True

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._LITERAL:
            self._literal_depth += 1
        a = {k: v for k, v in attrs if v is not None}
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "a" and "name" in a:
            self.ids.add(a["name"])
        if tag == "a" and "href" in a:
            self.links.append(a["href"])
        elif tag in _RESOURCE_ATTRS and _RESOURCE_ATTRS[tag] in a:
            self.resources.append(a[_RESOURCE_ATTRS[tag]])


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    return page


def _target(page: Path, url: str) -> tuple[Path, str] | None:
    """The file and fragment an internal URL of ``page`` points to; None for an external URL."""
    parts = urlsplit(url)
    if parts.scheme or parts.netloc:
        return None  # http(s), mailto, data: and the like
    path = page if not parts.path else (page.parent / unquote(parts.path))
    if parts.path.endswith("/") or path.is_dir():
        path = path / "index.html"
    return path.resolve(), unquote(parts.fragment)


@dataclass
class CrawlReport:
    pages: list[Path]
    links_checked: int
    problems: list[str]
    pages_with_tex: int


def crawl(root: Path) -> CrawlReport:
    """Follow every internal link and resource from ``root/index.html``; report what is broken."""
    root = root.resolve()
    parsed: dict[Path, _Page] = {}  # every page parsed once, whether crawled or only an anchor's target
    crawled: set[Path] = set()
    queue, problems, checked, with_tex = [root / "index.html"], [], 0, 0
    while queue:
        page_path = queue.pop()
        if page_path in crawled:
            continue
        crawled.add(page_path)
        if page_path not in parsed:
            parsed[page_path] = _parse(page_path)
        page = parsed[page_path]
        where = page_path.relative_to(root)
        if page.tex:
            with_tex += 1
            if not any("mathjax" in url.lower() for url in page.resources):
                problems.append(f"{where}: TeX in the text but MathJax not loaded")
        for url, is_link in [(u, True) for u in page.links] + [(u, False) for u in page.resources]:
            target = _target(page_path, url)
            if target is None:
                continue
            checked += 1
            path, fragment = target
            if root not in path.parents:
                problems.append(f"{where}: {url!r} points outside the site")
            elif not path.is_file():
                problems.append(f"{where}: {url!r} -> missing file {path.relative_to(root)}")
            elif path.suffix == ".html":
                if is_link:
                    queue.append(path)
                if path not in parsed:
                    parsed[path] = _parse(path)
                if fragment and fragment not in parsed[path].ids:
                    problems.append(f"{where}: {url!r} -> no anchor #{fragment} in {path.relative_to(root)}")
    return CrawlReport(sorted(crawled), checked, problems, with_tex)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def serve(root: Path) -> Iterator[str]:
    """Serve ``root`` on 127.0.0.1 (a free port) while the block runs; yields the base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
