"""Property-based fuzzing of the command line: whatever the input, ``popgrad`` exits 0 with output, or
exits 2 with one line on stderr naming the argument -- never a traceback, never exit 1 for bad input.

In-process (``cli.main``): vector texts, JSON documents (nested, huge integers, strings, booleans,
nulls, objects, deep nesting, raw bytes), .npz/.npy files of arbitrary dtypes and shapes (also
truncated, pickled or under another name), integer and float options, and argument soups.
In a subprocess under an address-space limit (a regression cannot take the machine down) and a
timeout (nor hang the suite): special files (/dev/zero, a 10 GB sparse file, /dev/null, a FIFO, a
directory, ...) for every vector flag, output to /dev/full and to a closed pipe; and a few real
``python -m popgrad`` runs.  Hypothesis is derandomized in CI (profile "ci" in conftest.py).
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import subprocess
import sys
import textwrap
import warnings
import zipfile
from pathlib import Path

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import HealthCheck, currently_in_test_context, event, given, settings
from hypothesis import strategies as st

from tests._cli import MEMORY_LIMIT, POINT, TEACHER, assert_clear_error, run, run_process

FAST = settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
FLAGS = {"--v": ("v",), "--w": ("w",), "--v-star": ("v_star", "v"), "--w-star": ("w_star", "w")}
VALUES = dict(zip(POINT[::2], POINT[1::2], strict=True))  # a valid eval point, flag -> value


def _finite_json(doc: object, key: str = "") -> None:
    """No NaN anywhere; infinities only as z-scores (documented: stderr 0 and mean != closed form)."""
    if isinstance(doc, dict):
        for k, x in doc.items():
            _finite_json(x, k)
    elif isinstance(doc, list):
        for x in doc:
            _finite_json(x, key)
    elif isinstance(doc, float):
        assert math.isfinite(doc) or (key in ("z", "max_abs_z") and math.isinf(doc)), (key, doc)


_NON_FINITE = re.compile(r"(?<![\w-])[-+]?(nan|inf)(?![\w-])")


def check(code: int, out: str, err: str, *names: str) -> None:
    """Exit 0 with finite output and a quiet stderr, or a clear error naming one of ``names``."""
    if code == 0:
        assert out and err == "", (out, err)
        if out.startswith(("{", "[")):
            _finite_json(json.loads(out))
        else:  # a table (or --help); in the table of `mc` the last column, z, may be infinite
            mc = out.startswith("Monte Carlo")
            assert not any(_NON_FINITE.search(line.rsplit(None, 1)[0] if mc else line) for line in out.splitlines())
    else:
        assert_clear_error(code, out, err, *names)
    if currently_in_test_context():
        event(f"exit {code}")


def eval_with(flag: str, value: str, command: str = "eval", *extra: str) -> tuple[int, str, str]:
    """``command`` at the valid point with ``flag`` set to ``value``."""
    argv = [command]
    for f, v in VALUES.items():
        argv += [f, value if f == flag else v]
    return run(*argv, *extra)


# -- vector texts -----------------------------------------------------------------------------

_NUMBER_TEXTS = st.one_of(
    st.floats().map(repr),
    st.integers(-(10**400), 10**400).map(str),
    st.sampled_from(["nan", "-inf", "1e999", "-0", "", " ", "1_0", "0x10", "--", "٣", "1e-400", "+.5", "5."]),
)
VECTOR_TEXTS = st.one_of(
    st.text(max_size=30).filter(lambda t: not t.startswith("@")),  # files are fuzzed below
    st.lists(_NUMBER_TEXTS, min_size=1, max_size=5).map(",".join),
    st.lists(st.floats(-10, 10), min_size=3, max_size=3).map(lambda xs: ",".join(map(repr, xs))),
)


@FAST
@given(flag=st.sampled_from(sorted(FLAGS)), text=VECTOR_TEXTS, command=st.sampled_from(["eval", "mc", "descend"]))
def test_vector_texts(flag: str, text: str, command: str) -> None:
    extra = {"eval": [], "mc": ["--n-samples", "50", "--json"], "descend": ["--max-iter", "3", "--json"]}[command]
    check(*eval_with(flag, text, command, *extra), flag, *FLAGS[flag])


# -- JSON documents ---------------------------------------------------------------------------

_NUMBERS_3 = st.lists(st.integers(-100, 100) | st.floats(-10, 10), min_size=3, max_size=3)  # usually valid
_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**400), 10**400) | st.floats() | st.text(max_size=4) | _NUMBERS_3,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(["v", "w", "x", ""]) | st.text(max_size=3), children, max_size=3)
    ),
    max_leaves=12,
)
JSON_DOCUMENTS = st.one_of(
    _JSON_VALUES.map(lambda doc: ("value", doc)),
    _NUMBERS_3.map(lambda doc: ("value", doc)),
    st.integers(1, 100_000).map(lambda depth: ("raw", ("[" * depth + "]" * depth).encode())),
    st.integers(1, 3000).map(lambda depth: ("raw", ('{"v": ' * depth + "[1, 2, 3]" + "}" * depth).encode())),
    st.binary(max_size=40).map(lambda b: ("raw", b)),
    st.text(max_size=40).map(lambda t: ("raw", t.encode("utf-8", "surrogatepass"))),
)


@FAST
@given(
    flag=st.sampled_from(sorted(FLAGS)),
    document=JSON_DOCUMENTS,
    keyed=st.booleans(),
    suffix=st.sampled_from([".json", ".txt", ""]),
)
def test_json_documents(
    tmp_path_factory: pytest.TempPathFactory, flag: str, document: tuple[str, object], keyed: bool, suffix: str
) -> None:
    """JSON values (bare, or under the flag's key) and raw bytes."""
    kind, doc = document
    if kind == "value":
        doc = json.dumps({FLAGS[flag][0]: doc} if keyed else doc).encode()
    path = tmp_path_factory.mktemp("json") / f"{flag.strip('-')}{suffix}"
    path.write_bytes(doc)
    check(*eval_with(flag, f"@{path}"), flag, *FLAGS[flag])


# -- .npz / .npy files of any dtype and shape -------------------------------------------------

_DTYPES = st.one_of(
    hnp.scalar_dtypes(),
    hnp.floating_dtypes(sizes=(16, 32, 64)),
    st.just(np.dtype(np.longdouble)),
    hnp.array_dtypes(max_size=2),
    hnp.nested_dtypes(max_itemsize=64),
)
ARRAYS = st.one_of(
    hnp.arrays(_DTYPES, st.one_of(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4), st.just((3,)))),
    hnp.arrays(np.float64, st.just((3,)), elements=st.floats(-10, 10)),  # usually valid
)


def _array_file(path: Path, array: np.ndarray, how: str, cut: int | None) -> None:
    if how == "npy":
        np.save(path, array, allow_pickle=False)
    else:
        key = path.stem if how != "npz-other-key" else "other"
        (np.savez_compressed if how == "npz-compressed" else np.savez)(path, **{key: array})
    if cut is not None:  # a truncated file
        path.write_bytes(path.read_bytes()[:cut])


@FAST
@given(
    flag=st.sampled_from(sorted(FLAGS)),
    array=ARRAYS,
    how=st.sampled_from(["npy", "npz", "npz-compressed", "npz-other-key"]),
    cut=st.none() | st.integers(0, 300),
)
def test_array_files(
    tmp_path_factory: pytest.TempPathFactory, flag: str, array: np.ndarray, how: str, cut: int | None
) -> None:
    name = flag.strip("-").replace("-", "_")
    path = tmp_path_factory.mktemp("arr") / f"{name}.{how[:3]}"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "Stored array in format 3.0" (unicode field names)
            _array_file(path, array, how, cut)
    except ValueError:  # np.save cannot write some exotic dtypes (e.g. empty structured ones)
        event("unwritable dtype")
        return
    check(*eval_with(flag, f"@{path}"), flag, *FLAGS[flag])


def test_pickled_and_bomb_arrays(tmp_path: Path) -> None:
    np.save(tmp_path / "v.npy", np.array([1.0, {"a": 1}, None], dtype=object), allow_pickle=True)
    with zipfile.ZipFile(tmp_path / "v.npz", "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("v.npy", "w", force_zip64=True) as member:  # 64 MiB of zeros in 64 KiB
            buf = io.BytesIO()
            np.lib.format.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False, "shape": (2**23,)})
            member.write(buf.getvalue())
            for _ in range(64):
                member.write(bytes(2**20))
    for name in ("v.npy", "v.npz"):
        check(*eval_with("--v", f"@{tmp_path / name}"), "--v")


# -- options and argument soups ---------------------------------------------------------------

_INT_TEXTS = st.one_of(st.integers(-(10**30), 10**30).map(str), st.text(max_size=6))
OPTIONS = st.one_of(
    st.tuples(st.just("mc"), st.just("--seed"), _INT_TEXTS),
    st.tuples(
        st.just("mc"),
        st.just("--n-samples"),
        st.integers(-(10**30), 300).map(str) | st.integers(10**12 + 1, 10**40).map(str) | st.text(max_size=5),
    ),
    st.tuples(st.just("mc"), st.just("--workers"), st.integers(-5, 0).map(str) | st.just("1") | st.just("10**6")),
    st.tuples(st.just("mc"), st.just("--method"), st.text(max_size=8) | st.just("projected")),
    st.tuples(st.just("descend"), st.just("--max-iter"), st.integers(-(10**6), 20).map(str) | st.text(max_size=5)),
    st.tuples(st.just("descend"), st.just("--every"), _INT_TEXTS),
    st.tuples(st.just("descend"), st.just("--seed"), _INT_TEXTS),
    st.tuples(st.just("descend"), st.sampled_from(["--lr", "--gtol"]), st.floats().map(repr) | st.text(max_size=5)),
    st.tuples(st.just("descend"), st.just("--ste"), st.text(max_size=12) | st.just("identity")),
    st.tuples(st.just("eval"), st.just("--ste"), st.text(max_size=12) | st.just("relu")),
)


@FAST
@given(option=OPTIONS, as_json=st.booleans())
def test_options(option: tuple[str, str, str], as_json: bool) -> None:
    command, flag, value = option
    base = {"mc": [*POINT, "--n-samples", "300"], "descend": [*TEACHER, "--max-iter", "20"], "eval": POINT}[command]
    if flag == "--max-iter":
        base = TEACHER
    api_name = flag.strip("-").replace("-", "_")
    check(*run(command, *base, f"{flag}={value}", *(["--json"] if as_json else [])), flag, api_name)


_TOKENS = st.one_of(
    st.sampled_from([*FLAGS, "--ste", "--json", "--help", "-h", "--", "-", "--v=", "relu", "1,2,3", "@", "--w-s"]),
    st.sampled_from([*FLAGS, "--ste"]).map(lambda flag: f"{flag}=--"),
    st.text(max_size=8),
    VECTOR_TEXTS,
)


@FAST
@given(tokens=st.lists(_TOKENS, max_size=8))
def test_argument_soups(tokens: list[str]) -> None:
    """Any tokens after ``eval``: a clear error naming something, or a result (or --help)."""
    code, out, err = run("eval", *[t for t in tokens if not t.startswith("@") or t == "@"])
    if code == 0:
        assert out and err == ""
    else:
        names = (*FLAGS, "argument", "arguments", "v", "w", "v_star", "w_star", "ste", "--ste")
        assert_clear_error(code, out, err, *names)
    event(f"exit {code}")


# -- special files and outputs, in a memory-limited subprocess --------------------------------

_DRIVER = textwrap.dedent(
    """
    import contextlib, io, json, os, resource, signal, sys
    resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
    from popgrad import cli

    def timeout(*_):
        raise TimeoutError("the command hung")

    signal.signal(signal.SIGALRM, timeout)
    results = []
    for case in json.loads(sys.argv[1]):
        out, err = io.StringIO(), io.StringIO()
        signal.alarm(20)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = cli.main(case["argv"])
        except BaseException as exc:
            code, err = -1, io.StringIO(f"{{type(exc).__name__}}: {{exc}}")
        signal.alarm(0)
        results.append({{**case, "code": code, "out": out.getvalue(), "err": err.getvalue()}})
    for stdout in ("/dev/full", "closed pipe"):
        if stdout == "/dev/full":
            target = open("/dev/full", "w")
        else:
            read_end, write_end = os.pipe()
            os.close(read_end)
            target = os.fdopen(write_end, "w")
        err = io.StringIO()
        with contextlib.redirect_stdout(target), contextlib.redirect_stderr(err):
            code = cli.main(["eval", *{point}])
        results.append({{"flag": "stdout", "file": stdout, "argv": [], "code": code, "out": "", "err": err.getvalue()}})
    print(json.dumps(results))
    """
)


def test_special_files_and_outputs_in_a_limited_subprocess(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    sparse = tmp_path / "sparse.npy"
    with open(sparse, "wb") as fh:
        fh.truncate(10 * 2**30)
    specials = ["/dev/zero", "/dev/urandom", "/dev/null", "/dev/full", str(fifo), str(tmp_path), str(sparse)]
    specials += ["/proc/self/status", "/proc/self/mem", str(tmp_path / "missing.npz"), "/dev/null/x.json"]
    cases = []
    for path in specials:
        for flag in FLAGS:
            argv = ["eval"] + [x for f, v in VALUES.items() for x in (f, f"@{path}" if f == flag else v)]
            cases.append({"flag": flag, "file": path, "argv": argv})
        cases.append({"flag": "--w", "file": path, "argv": ["descend", *TEACHER, "--w", f"@{path}", "--max-iter", "2"]})
        mc = ["mc", *TEACHER, "--w", VALUES["--w"], "--v", f"@{path}", "--n-samples", "50"]
        cases.append({"flag": "--v", "file": path, "argv": mc})
    driver = _DRIVER.format(limit=MEMORY_LIMIT, point=json.dumps(POINT))
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, "-c", driver, json.dumps(cases)], capture_output=True, text=True, timeout=300, env=env
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(proc.stdout)
    assert len(results) == len(cases) + 2
    for r in results:
        names = ("standard output",) if r["flag"] == "stdout" else (r["flag"], *FLAGS[r["flag"]])
        if r["file"] == "closed pipe":
            assert (r["code"], r["err"]) == (0, ""), r
            continue
        assert r["code"] == 2, r
        assert_clear_error(r["code"], r["out"], r["err"], *names)


@pytest.mark.parametrize(
    ("argv", "stdout", "names"),
    [
        (["eval", *TEACHER, "--v", "@/dev/zero", "--w", "1,1,1"], subprocess.PIPE, ("--v",)),
        (["eval", *POINT, "--json"], "/dev/full", ("standard output",)),
        (["descend", *TEACHER, "--every", "-1"], subprocess.PIPE, ("--every",)),
        (["eval", *POINT], subprocess.PIPE, ()),
    ],
    ids=["dev-zero", "dev-full", "every", "valid"],
)
def test_real_runs(argv: list[str], stdout: str | int, names: tuple[str, ...]) -> None:
    if stdout == "/dev/full":
        with open("/dev/full", "wb") as full:
            proc = run_process(argv, stdout=full)
        out = ""
    else:
        proc = run_process(argv, stdout=stdout)
        out = proc.stdout.decode()
    check(proc.returncode, out, proc.stderr.decode(), *names)
    assert proc.returncode == (0 if not names else 2)
