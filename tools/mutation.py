"""Mutation testing of popgrad's computational modules with mutmut 3, one group of modules at a time.

Slow (minutes to an hour per group), so it is a tool, not part of the test suite or CI.  Each group is
mutated against the subset of tests that guards it (``GROUPS`` below), in a scratch copy of the working
tree (``build/mutation/<group>/``), so runs never touch the checkout and groups never share results::

    nice -n 10 python tools/mutation.py run ste                 # mutate popgrad/ste.py, report
    nice -n 10 python tools/mutation.py run ste --only 'popgrad.ste.x__normalise*'   # some mutants again
    python tools/mutation.py report ste                         # the last run's report again
    python tools/mutation.py summary                            # every group's last run, as a markdown table
    nice -n 10 python tools/mutation.py known                   # the twelve known bugs, each against its tests

``docs/mutation.md`` says what the numbers mean and lists the survivors judged equivalent; the machine-readable
list is ``tools/mutation_equivalents.toml`` (matched by module, function and changed lines, so it survives edits
elsewhere in the file).  Needs ``pip install -e ".[mutation]"`` (mutmut).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRATCH = ROOT / "build" / "mutation"
EQUIVALENTS = ROOT / "tools" / "mutation_equivalents.toml"


@dataclass(frozen=True)
class Group:
    """Modules mutated together and the tests that guard them (doctests of the modules included)."""

    mutate: tuple[str, ...]
    tests: tuple[str, ...]


def _with_doctests(mutate: tuple[str, ...], tests: tuple[str, ...]) -> Group:
    return Group(mutate, tests + tuple(m for m in mutate if "*" not in m))


_CLOSED_FORMS = (
    "tests/test_core_exact.py",
    "tests/test_core_edges.py",
    "tests/test_core_properties.py",
    "tests/test_accuracy.py",
    "tests/test_staircase.py",
)

GROUPS: dict[str, Group] = {
    "kernels": _with_doctests(
        ("popgrad/kernels/binary.py", "popgrad/kernels/coarse.py", "popgrad/gaussian.py"),
        (*_CLOSED_FORMS, "tests/test_gaussian.py", "tests/test_ste.py", "tests/test_paper_integrals.py"),
    ),
    "geometry": _with_doctests(("popgrad/geometry.py",), ("tests/test_geometry.py", *_CLOSED_FORMS)),
    "activation": _with_doctests(
        ("popgrad/activation.py",), ("tests/test_activation.py", "tests/test_staircase.py", "tests/test_core_edges.py")
    ),
    "ste": _with_doctests(
        ("popgrad/ste.py",),
        (
            "tests/test_ste.py",
            "tests/test_reliability.py",
            "tests/test_core_edges.py",
            "tests/test_families.py",
            "tests/test_fuzz_api.py",
        ),
    ),
}


# -- running mutmut in the scratch copy -------------------------------------------------------------


def _tracked_files() -> list[Path]:
    """The working tree's files that git knows or would add (uncommitted edits and new tests included)."""
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.decode()
    return [Path(p) for p in out.split("\0") if p and (ROOT / p).is_file()]


def _scratch_copy(name: str) -> Path:
    """A fresh copy of the working tree for one group (mutmut writes its ``mutants/`` there)."""
    dest = SCRATCH / name
    if dest.exists():
        shutil.rmtree(dest)
    for rel in _tracked_files():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, target)
    return dest


def _mutmut_main(group: str, mutmut_args: list[str]) -> None:
    """Run mutmut's command line in this process with the group's files and tests (cwd: the scratch copy).

    mutmut reads ``[tool.mutmut]`` of pyproject.toml for the settings every group shares; the group's own
    ``only_mutate`` and test selection are set here, before mutmut's modules read the configuration.
    """
    from mutmut import configuration

    spec = GROUPS[group]
    base = configuration._load_config()  # the shared settings, from pyproject.toml
    configuration._config = dataclasses.replace(
        base, only_mutate=list(spec.mutate), pytest_add_cli_args_test_selection=list(spec.tests)
    )
    from mutmut.__main__ import cli

    cli(mutmut_args)


def run(group: str, only: list[str], max_children: int) -> int:
    dest = _scratch_copy(group)
    log = dest / "mutmut.log"
    cmd = [sys.executable, str(Path(__file__).resolve()), "_mutmut", group, "--", "run", "--max-children"]
    cmd += [str(max_children), *only]
    print(f"{group}: mutmut on {', '.join(GROUPS[group].mutate)} in {dest.relative_to(ROOT)} (log: mutmut.log)")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    with log.open("w") as fh:
        rc = subprocess.run(cmd, cwd=dest, stdout=fh, stderr=subprocess.STDOUT, env=env, check=False).returncode
    if rc != 0:
        print(f"mutmut exited with {rc}; the end of {log}:")
        print(_tail(log))
        return rc
    return report(group)


def _tail(path: Path, lines: int = 30) -> str:
    text = re.sub(r"[^\n]*\r", "", path.read_text(errors="replace"))  # drop spinner frames
    return "\n".join(text.splitlines()[-lines:])


# -- results --------------------------------------------------------------------------------------


@dataclass
class Mutant:
    name: str
    module: str
    function: str
    status: str
    removed: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    diff: str = ""
    equivalent: str | None = None


STATUS_BY_EXIT_CODE = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests", 34: "skipped"}
STATUS_BY_EXIT_CODE.update({36: "timeout", 24: "timeout", -24: "timeout", 152: "timeout", 255: "timeout"})
STATUS_BY_EXIT_CODE.update({None: "not checked", 37: "caught by type check", -11: "segfault", -9: "segfault"})


def _status(code: int | None) -> str:
    return STATUS_BY_EXIT_CODE.get(code, "suspicious")


def _function_of(name: str) -> str:
    """``popgrad.ste.x__normalise__mutmut_3`` -> ``_normalise``; methods as ``Class.method``."""
    tail = name.rsplit(".", 1)[1]
    key = tail.rsplit("__mutmut_", 1)[0]
    if key.startswith("xǁ"):
        return ".".join(key[2:].split("ǁ"))
    return key[2:]


def _changed_lines(diff: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    removed, added = [], []
    for line in diff.splitlines():
        if line.startswith(("---", "+++")):
            continue
        if line.startswith("-"):
            removed.append(line[1:].strip())
        elif line.startswith("+"):
            added.append(line[1:].strip())
    return tuple(removed), tuple(added)


def _load_equivalents() -> list[dict[str, str]]:
    if not EQUIVALENTS.exists():
        return []
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    return tomllib.loads(EQUIVALENTS.read_text()).get("equivalent", [])


def _matches(mutant: Mutant, eq: dict[str, str]) -> bool:
    return (
        eq["module"] == mutant.module
        and eq["function"] == mutant.function
        and tuple(eq.get("removed", "").splitlines()) == tuple(x for x in mutant.removed if x)
        and tuple(eq.get("added", "").splitlines()) == tuple(x for x in mutant.added if x)
    )


@contextmanager
def _chdir(path: Path) -> Iterator[None]:
    old = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def _still_defined(module: str, function: str) -> bool:
    """Whether the working tree's ``module`` still defines ``function`` (mutants of deleted code are not run)."""
    path = ROOT / module
    name = function.split(".")[-1]
    return path.exists() and re.search(rf"\bdef {re.escape(name)}\(", path.read_text()) is not None


def collect(group: str) -> list[Mutant]:
    """Every mutant of the group's last run with its status, and for those not killed its diff."""
    dest = SCRATCH / group
    equivalents = _load_equivalents()
    mutants: list[Mutant] = []
    with _chdir(dest):
        from mutmut.mutation.diff_apply import get_diff_for_mutant

        for meta in sorted(Path("mutants").rglob("*.py.meta")):
            module = str(meta.relative_to("mutants"))[: -len(".meta")]
            codes = json.loads(meta.read_text())["exit_code_by_key"]
            codes.update({k: v for k, v in _load_recheck(group).items() if k in codes})
            for name, code in codes.items():
                m = Mutant(name, module, _function_of(name), _status(code))
                if not _still_defined(module, m.function):
                    m.status = "removed"
                if m.status not in ("killed", "not checked"):
                    m.diff = get_diff_for_mutant(name, path=module)
                    m.removed, m.added = _changed_lines(m.diff)
                    for eq in equivalents:
                        if _matches(m, eq):
                            m.equivalent = eq["reason"]
                mutants.append(m)
    return mutants


@dataclass
class Score:
    total: int = 0
    killed: int = 0
    timeout: int = 0
    survived: int = 0
    equivalent: int = 0
    unchecked: int = 0  # not run yet (an interrupted run), or of a function since removed from the code
    other: int = 0  # no tests reached the function, suspicious, segfault: counted as not killed

    def add(self, m: Mutant) -> None:
        self.total += 1
        if m.status == "killed":
            self.killed += 1
        elif m.status == "timeout":
            self.timeout += 1
        elif m.status in ("not checked", "removed"):
            self.unchecked += 1
        elif m.equivalent is not None:
            self.equivalent += 1
        elif m.status == "survived":
            self.survived += 1
        else:
            self.other += 1

    @property
    def score(self) -> float:
        """Killed (timeouts count as killed: the mutant hung the tests) over the checked non-equivalent mutants."""
        relevant = self.total - self.equivalent - self.unchecked
        return (self.killed + self.timeout) / relevant if relevant else 1.0

    def row(self) -> str:
        return (
            f"| {self.total} | {self.killed + self.timeout} | {self.survived + self.other} | {self.equivalent} "
            f"| {self.unchecked} | {self.score:.1%} |"
        )


HEADER = "| module | mutants | killed | not killed | equivalent | not run | score |\n|---|---|---|---|---|---|---|"


def _score(mutants: list[Mutant]) -> Score:
    s = Score()
    for m in mutants:
        s.add(m)
    return s


def _by_module(mutants: list[Mutant]) -> dict[str, Score]:
    out: dict[str, Score] = {}
    for m in mutants:
        out.setdefault(m.module, Score()).add(m)
    return out


def report(group: str) -> int:
    mutants = collect(group)
    (SCRATCH / group / "report.json").write_text(json.dumps([dataclasses.asdict(m) for m in mutants], indent=1))
    for m in mutants:
        if m.status not in ("killed", "timeout", "not checked", "removed"):
            tag = f"equivalent: {m.equivalent}" if m.equivalent else m.status.upper()
            print(f"\n## {m.name} [{tag}]\n{m.diff}")
    print(f"\n{HEADER}")
    for module, s in _by_module(mutants).items():
        print(f"| {module} {s.row()}")
    s = _score(mutants)
    print(f"| **{group}** {s.row()}")
    return 0 if s.survived == 0 and s.other == 0 else 1


def summary() -> int:
    """Every group's last report (``report.json``), per module, as one markdown table."""
    total = Score()
    print(HEADER)
    for group in GROUPS:
        path = SCRATCH / group / "report.json"
        if not path.exists():
            print(f"| {group}: not run | | | | | | |")
            continue
        mutants = [Mutant(**m) for m in json.loads(path.read_text())]
        for module, s in _by_module(mutants).items():
            print(f"| {module} {s.row()}")
        for m in mutants:
            total.add(m)
    print(f"| **all** {total.row()}")
    return 0


def recheck(group: str, tests: list[str]) -> int:
    """Run the survivors of the group's last run again against the working tree's tests as they are now.

    The tests written to kill survivors are copied into the run's ``mutants/`` directory and each surviving
    mutant is switched on the way mutmut does it (``MUTANT_UNDER_TEST``); a mutant they kill is recorded in
    ``recheck.json`` and counted as killed by :func:`report` from then on.
    """
    dest = SCRATCH / group
    shutil.copytree(ROOT / "tests", dest / "mutants" / "tests", dirs_exist_ok=True)
    tests = tests or list(GROUPS[group].tests)
    done = _load_recheck(group)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    for m in collect(group):
        if m.status not in ("survived", "no tests") or m.equivalent is not None or m.name in done:
            continue
        cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
        rc = subprocess.run(
            cmd, cwd=dest / "mutants", env={**env, "MUTANT_UNDER_TEST": m.name}, capture_output=True, check=False
        ).returncode
        print(f"{'killed' if rc == 1 else 'survived' if rc == 0 else f'exit {rc}'}: {m.name}")
        if rc == 1:
            done[m.name] = rc
            (dest / "recheck.json").write_text(json.dumps(done, indent=1))
    return 0


def _load_recheck(group: str) -> dict[str, int]:
    path = SCRATCH / group / "recheck.json"
    return json.loads(path.read_text()) if path.exists() else {}


# -- the known mutants (tools/known_mutants.py) -------------------------------------------------------


def load_known() -> tuple:
    """``KNOWN`` of tools/known_mutants.py (a plain module beside this one)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("known_mutants", ROOT / "tools" / "known_mutants.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("known_mutants", module)
    spec.loader.exec_module(module)
    return module.KNOWN


def apply_known(source: str, old: str, new: str) -> str:
    """``source`` with its one occurrence of ``old`` replaced by ``new`` (ValueError if not exactly one)."""
    count = source.count(old)
    if count != 1:
        raise ValueError(f"the mutant's text occurs {count} times, not once: {old!r}")
    return source.replace(old, new)


def _pytest(dest: Path, tests: tuple[str, ...]) -> tuple[int, list[str], str]:
    """Run ``tests`` in the scratch copy ``dest`` (its popgrad first on the path): exit code, failed node ids."""
    env = {**os.environ, "PYTHONPATH": str(dest), "PYTHONDONTWRITEBYTECODE": "1"}
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-rfE", "-p", "no:cacheprovider", *tests]
    proc = subprocess.run(cmd, cwd=dest, env=env, capture_output=True, text=True, check=False)
    failed = [
        line.split(" ", 1)[1].split(" - ")[0]
        for line in proc.stdout.splitlines()
        if line.startswith(("FAILED ", "ERROR "))
    ]
    return proc.returncode, failed, proc.stdout[-3000:] + proc.stderr[-2000:]


def _checked_scratch(name: str) -> Path | None:
    """A scratch copy whose tests import its own popgrad (None, with a message, if they would not)."""
    dest = _scratch_copy(name)
    probe = subprocess.run(
        [sys.executable, "-c", "import popgrad; print(popgrad.__file__)"],
        cwd=dest,
        env={**os.environ, "PYTHONPATH": str(dest)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not Path(probe).resolve().is_relative_to(dest.resolve()):
        print(f"the scratch copy's tests would import {probe}, not the copy: refusing to run")
        return None
    return dest


def try_one(module: str, old: str, new: str, tests: list[str]) -> int:
    """Apply one ad-hoc mutant (``old`` -> ``new`` in ``module``) in a scratch copy and run ``tests`` there."""
    dest = _checked_scratch("try")
    if dest is None:
        return 2
    path = dest / module
    path.write_text(apply_known(path.read_text(), old, new))
    rc, failed, out = _pytest(dest, tuple(tests))
    print(out)
    print("killed" if rc == 1 else ("SURVIVED" if rc == 0 else f"ERROR (exit {rc})"), *failed[:1])
    return 0


def known(names: list[str], clean: bool) -> int:
    """Apply each known mutant in a scratch copy, run its subset of tests, revert; report who killed it."""
    mutants = [k for k in load_known() if not names or k.name in names]
    unknown = set(names) - {k.name for k in mutants}
    if unknown:
        print(f"unknown mutants: {sorted(unknown)}")
        return 2
    dest = _checked_scratch("known")
    if dest is None:
        return 2
    bad = 0
    if clean:
        for tests in dict.fromkeys(k.tests for k in mutants):
            rc, failed, out = _pytest(dest, tests)
            print(f"clean   {' '.join(tests)}: exit {rc}")
            if rc != 0:
                print(out)
                return 1
    for k in mutants:
        path = dest / k.module
        original = path.read_text()
        path.write_text(apply_known(original, k.old, k.new))
        try:
            rc, failed, out = _pytest(dest, k.tests)
        finally:
            path.write_text(original)
        ok = rc == 1 and bool(failed) and failed[0].startswith(k.killer)
        bad += not ok
        status = "killed" if rc == 1 else ("SURVIVED" if rc == 0 else f"ERROR (exit {rc})")
        by = f" by {failed[0]}" if failed else ""
        flag = "" if ok else f"   <-- expected a failure of {k.killer}"
        print(f"{status:<8}{k.name} ({k.module}){by}{flag}")
        if rc not in (0, 1):
            print(out)
    print(f"{len(mutants) - bad} of {len(mutants)} known mutants killed by the expected test")
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_mutmut"]:  # internal: the child process that runs mutmut (see run)
        group, rest = argv[1], argv[argv.index("--") + 1 :]
        _mutmut_main(group, rest)
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="mutate one group and report")
    p_run.add_argument("group", choices=sorted(GROUPS))
    p_run.add_argument("--only", nargs="*", default=[], help="mutant names or globs (mutmut's)")
    p_run.add_argument("--max-children", type=int, default=2, help="parallel mutants (default 2)")
    p_report = sub.add_parser("report", help="the last run's survivors and score")
    p_report.add_argument("group", choices=sorted(GROUPS))
    sub.add_parser("summary", help="every group's last run as a markdown table")
    sub.add_parser("list", help="the groups, their modules and tests")
    p_known = sub.add_parser("known", help="apply each known mutant (tools/known_mutants.py), run its tests, revert")
    p_known.add_argument("names", nargs="*", help="some of the known mutants (default: all)")
    p_known.add_argument("--no-clean", action="store_true", help="skip the run of each subset without mutants")
    p_recheck = sub.add_parser("recheck", help="the last run's survivors against the tests as they are now")
    p_recheck.add_argument("group", choices=sorted(GROUPS))
    p_recheck.add_argument("tests", nargs=argparse.REMAINDER, help="pytest arguments (default: the group's tests)")
    p_try = sub.add_parser("try", help="apply one ad-hoc mutant in a scratch copy and run some tests")
    p_try.add_argument("module", help="e.g. popgrad/gaussian.py")
    p_try.add_argument("old", help="text occurring exactly once in the module")
    p_try.add_argument("new", help="its replacement")
    p_try.add_argument("tests", nargs=argparse.REMAINDER, help="pytest arguments (after --)")
    args = parser.parse_args(argv)
    if args.command == "run":
        return run(args.group, args.only, args.max_children)
    if args.command == "report":
        return report(args.group)
    if args.command == "summary":
        return summary()
    if args.command == "recheck":
        return recheck(args.group, [t for t in args.tests if t != "--"])
    if args.command == "try":
        return try_one(args.module, args.old, args.new, [t for t in args.tests if t != "--"])
    if args.command == "known":
        return known(args.names, clean=not args.no_clean)
    for group, spec in GROUPS.items():
        print(f"{group}: {' '.join(spec.mutate)}\n    tests: {' '.join(spec.tests)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
