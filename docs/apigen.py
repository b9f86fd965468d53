"""The API reference, generated from the package's ``__all__`` lists (run by ``conf.py`` at every build).

Public modules are the package and every submodule with no ``_`` in its dotted path; each must define
``__all__``.  Every name in an ``__all__`` is documented from its docstring by autodoc, once: a class or
function exported by several modules is documented at its *home* -- the module that defines it if that
module is public and exports it, else the package if it exports it, else the first module listing it --
and the others list it with a link there (so ``popgrad.Model`` is documented as ``popgrad.models.paper.Model``;
one home per defining module also keeps viewcode's links back from the source pages right).  A new
public name or module appears without any edit here.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from dataclasses import dataclass, is_dataclass
from pathlib import Path
from types import ModuleType

__all__ = ["Entry", "entries", "public_modules", "write_pages"]

MAX_VALUE_REPR = 60  # longer values (sympy expressions, big tables) are shown by name only


@dataclass(frozen=True)
class Entry:
    """One name of one module's ``__all__`` and where it is documented.

    ``kind`` is ``"module"``, ``"class"``, ``"exception"``, ``"function"`` or ``"data"``; ``home`` is the
    dotted name under which the object is documented (equal to ``f"{module}.{name}"`` when it is
    documented here; for a module, the module's own name).
    """

    module: str
    name: str
    kind: str
    home: str

    @property
    def here(self) -> bool:
        return self.kind != "module" and self.home == f"{self.module}.{self.name}"


def public_modules(package: str) -> list[ModuleType]:
    """The package and its public submodules (no ``_`` component), sorted by name.

    Raises
    ------
    ValueError
        If a public module has no ``__all__``: its public names would be undefined.
    """
    root = importlib.import_module(package)
    modules = [root]
    for info in pkgutil.walk_packages(root.__path__, f"{package}."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            modules.append(importlib.import_module(info.name))
    missing = [m.__name__ for m in modules if not isinstance(getattr(m, "__all__", None), (list, tuple))]
    if missing:
        raise ValueError(f"public modules without __all__ (define it, or make the module private): {missing}")
    return sorted(modules, key=lambda m: m.__name__)


def _kind(obj: object) -> str:
    if inspect.ismodule(obj):
        return "module"
    if inspect.isclass(obj):
        return "exception" if issubclass(obj, BaseException) else "class"
    if inspect.isroutine(obj):
        return "function"
    return "data"


def _own_docstring(obj: object) -> str:
    """``obj``'s docstring, without the one ``dataclass`` writes (the signature) or one inherited."""
    doc = obj.__dict__.get("__doc__") if inspect.isclass(obj) else obj.__doc__
    if not doc or (is_dataclass(obj) and doc.startswith(f"{obj.__name__}(")):
        return ""
    return doc


def entries(modules: list[ModuleType]) -> list[Entry]:
    """Every ``(module, name)`` of the modules' ``__all__`` lists, with the place it is documented.

    Raises
    ------
    ValueError
        If a name is missing from its module, a listed module is not public, or a class or function
        has no docstring.
    """
    public = {m.__name__ for m in modules}
    listed: dict[int, list[tuple[str, str]]] = {}  # id(obj) -> every (module, name) exporting it
    raw = []
    for module in modules:
        for name in module.__all__:
            if not hasattr(module, name):
                raise ValueError(f"{module.__name__}.__all__ lists {name!r}, which the module does not define")
            obj = getattr(module, name)
            kind = _kind(obj)
            if kind == "module" and obj.__name__ not in public:
                raise ValueError(f"{module.__name__}.__all__ lists {name!r}, a module that is not public")
            if kind in ("class", "exception", "function"):
                if not _own_docstring(obj):
                    raise ValueError(f"{module.__name__}.{name} has no docstring; the reference shows the docstring")
                listed.setdefault(id(obj), []).append((module.__name__, name))
            raw.append((module.__name__, name, kind, obj))
    root = modules[0].__name__
    result = []
    for modname, name, kind, obj in raw:
        if kind == "module":
            home = obj.__name__
        elif kind == "data":
            home = f"{modname}.{name}"
        else:
            places = listed[id(obj)]
            at_root = [p for p in places if p[0] == root]
            defining = [p for p in places if p[0] == obj.__module__]
            home = ".".join((defining or at_root or places)[0])
        result.append(Entry(modname, name, kind, home))
    return result


_DIRECTIVE = {"class": "autoclass", "exception": "autoexception", "function": "autofunction", "data": "autodata"}
_ROLE = {"class": "class", "exception": "exc", "function": "func", "data": "data", "module": "mod"}


def _value_is_short(dotted: str) -> bool:
    modname, name = dotted.rsplit(".", 1)
    return len(repr(getattr(importlib.import_module(modname), name))) <= MAX_VALUE_REPR


def _summary(entry: Entry) -> str:
    """`` -- `` and the first paragraph of the entry's docstring on one line; data has none of its own."""
    if entry.kind == "data":
        return ""
    modname, name = entry.module, entry.name
    obj = getattr(importlib.import_module(modname), name)
    return " -- " + " ".join((inspect.getdoc(obj) or "").split("\n\n", 1)[0].split())


def _documentation(entry: Entry) -> list[str]:
    """The autodoc directive of an entry documented on its module's page."""
    lines = [f".. {_DIRECTIVE[entry.kind]}:: {entry.home}"]
    if entry.kind in ("class", "exception"):
        lines += ["   :members:", "   :show-inheritance:"]
    if entry.kind == "data" and not _value_is_short(entry.home):
        lines.append("   :no-value:")
    return [*lines, ""]


def _page(title: str, module: ModuleType, mine: list[Entry], children: list[str]) -> str:
    """A module's page: its docstring, a summary of its ``__all__`` (links), the names documented here."""
    lines = [title, "=" * len(title), "", f".. automodule:: {module.__name__}", "   :no-members:", ""]
    if mine:
        lines += [".. rubric:: Summary", ""]
        lines += [f"* :{_ROLE[e.kind]}:`{e.name} <{e.home}>`" + _summary(e) for e in mine]
        lines.append("")
    for entry in mine:
        if entry.here:
            lines += _documentation(entry)
    if children:
        lines += [".. toctree::", "   :maxdepth: 1", "", *(f"   {child}" for child in children), ""]
    return "\n".join(lines)


def write_pages(package: str, out_dir: Path) -> list[Path]:
    """Write one reStructuredText page per public module into ``out_dir``; return the paths.

    The package's page is ``index.rst``; it lists the other pages in a toctree.
    """
    modules = public_modules(package)
    all_entries = entries(modules)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for module in modules:
        mine = [e for e in all_entries if e.module == module.__name__]
        children = [m.__name__ for m in modules[1:]] if module is modules[0] else []
        root = module is modules[0]
        path = out_dir / ("index.rst" if root else f"{module.__name__}.rst")
        path.write_text(_page("API reference" if root else module.__name__, module, mine, children), encoding="utf-8")
        written.append(path)
    return written
