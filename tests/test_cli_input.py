"""Every bad input to the command line exits 2 with a one-line message naming the argument, never a
traceback: special and oversized files, JSON the parser or numpy chokes on, values the Python API
rejects, .npz/.npy arrays of the wrong kind, unwritable outputs.  Cases that could exhaust memory
or hang run in a subprocess under an address-space limit and a timeout."""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

from popgrad import _cli_input
from tests._cli import POINT, TEACHER, assert_clear_error, run, run_process

STUDENT_W = ["--w", "0.2,1,-0.4"]


def _eval_with_v(source: str) -> tuple[int, str, str]:
    return run("eval", *TEACHER, "--v", source, *STUDENT_W)


# -- special and oversized files -------------------------------------------------------------


def _fifo(tmp_path: Path) -> str:
    path = tmp_path / "fifo.json"
    os.mkfifo(path)
    return str(path)


def _sparse_10_gb(tmp_path: Path) -> str:
    path = tmp_path / "huge.json"
    with open(path, "wb") as fh:
        fh.truncate(10 * 2**30)  # a hole: no disk used; reading it would yield 10 GB of NUL bytes
    return str(path)


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda _: "/dev/zero", "character device"),  # read without limit before: OOM-killed at 23 GB
        (lambda _: "/dev/null", "character device"),
        (_fifo, "FIFO"),  # opened for reading before: blocks until a writer comes
        (lambda tmp: str(tmp), "directory"),
        (_sparse_10_gb, "larger than 32 MiB"),
    ],
    ids=["dev-zero", "dev-null", "fifo", "directory", "sparse-10GB"],
)
def test_special_and_huge_files_are_refused_unread(tmp_path: Path, make, says: str) -> None:
    proc = run_process(["eval", *TEACHER, "--v", "@" + make(tmp_path), *STUDENT_W], timeout=30)
    err = proc.stderr.decode()
    assert_clear_error(proc.returncode, proc.stdout.decode(), err, "--v")
    assert says in err


def test_the_read_is_capped_even_when_the_size_is_not_known(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Files of /proc report size 0; what is read is capped all the same."""
    path = tmp_path / "v.json"
    path.write_text(json.dumps([0.3, 1, -0.7]) + " " * 100)
    monkeypatch.setattr(_cli_input, "MAX_FILE_BYTES", 64)
    real_fstat = os.fstat
    monkeypatch.setattr(os, "fstat", lambda fd: os.stat_result((*real_fstat(fd)[:6], 0, *real_fstat(fd)[7:])))
    code, out, err = _eval_with_v(f"@{path}")
    assert_clear_error(code, out, err, "--v")
    assert "larger than" in err


# -- JSON that raised tracebacks; values the API rejects ------------------------------------


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("[" + "9" * 400 + ", 1, 2]", "too large for float64"),  # was OverflowError
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),  # was RecursionError
        ('["0.3", "1", "-0.7"]', "real numbers"),  # strings were converted
        ("[true, false, true]", "booleans"),  # booleans were 1.0 and 0.0
        ("[0.3, true, -0.7]", "booleans"),
        ("[0.3, null, -0.7]", "real numbers"),
        ("[[0.3, 1, -0.7], [1, 2, 3]]", "one-dimensional"),  # the message named no argument
        ('{"v": {"x": 1}}', "real numbers"),
        ("[0.3, NaN, -0.7]", "NaN or infinite"),
        ("[0.3, 1e400, -0.7]", "NaN or infinite"),
        ('{"w": [1, 2, 3]}', "no key 'v'"),
        ("[0.3, 1", "not valid JSON"),
        ("3", "scalar"),
        ("[]", "at least one entry"),
        ("\udcff", "not valid JSON"),
    ],
)
def test_json_files_are_read_with_the_api_rules(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "v.json"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    code, out, err = _eval_with_v(f"@{path}")
    assert_clear_error(code, out, err, "--v")
    assert says in err


# -- .npz and .npy ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("array", "says"),
    [
        (np.array([0.3 + 1j, 1, -0.7]), "complex"),  # the imaginary part was dropped
        (np.array([True, False, True]), "booleans"),
        (np.array(["0.3", "1", "-0.7"]), "real numbers"),
        (np.zeros(3, dtype=[("a", "f8")]), "real numbers"),  # was silently zeros
        (np.array([0.3, np.nan, -0.7]), "NaN or infinite"),
        (np.array(["2020-01-01"] * 3, dtype="datetime64[D]"), "real numbers"),
        (np.ones((3, 1)), "one-dimensional"),
        (np.float64(1.0), "scalar"),
        (np.array([np.longdouble("1e4000"), 1, 1]), "too large for float64"),
    ],
    ids=["complex", "bool", "str", "structured", "nan", "datetime", "2-D", "scalar", "longdouble"],
)
@pytest.mark.parametrize("suffix", [".npz", ".npy"])
def test_arrays_are_read_with_the_api_rules(tmp_path: Path, array: np.ndarray, says: str, suffix: str) -> None:
    path = tmp_path / f"v{suffix}"
    if suffix == ".npz":
        np.savez(path, v=array)
    else:
        np.save(path, array)
    code, out, err = _eval_with_v(f"@{path}")
    assert_clear_error(code, out, err, "--v")
    assert says in err


def test_npy_files_are_read_like_the_others(tmp_path: Path) -> None:
    np.save(tmp_path / "v.npy", np.array([0.3, 1, -0.7]))
    np.save(tmp_path / "w.npy", np.array([0.2, 1, -0.4]))
    np.save(tmp_path / "v_star.npy", np.array([1, -0.5, 2]))
    np.save(tmp_path / "w_star.npy", np.array([1, 0, 0], dtype=np.int8))
    _, want, _ = run("eval", *POINT, "--json")
    files = [f"--{k.replace('_', '-')}=@{tmp_path / k}.npy" for k in ("v_star", "w_star", "v", "w")]
    code, got, err = run("eval", *files, "--json")
    assert code == 0, err
    assert json.loads(got) == json.loads(want)


def test_pickled_arrays_are_not_loaded(tmp_path: Path) -> None:
    np.save(tmp_path / "v.npy", np.array([1.0, "x", None], dtype=object), allow_pickle=True)
    code, out, err = _eval_with_v(f"@{tmp_path / 'v.npy'}")
    assert_clear_error(code, out, err, "--v")
    assert "pickle" in err


def _npy_claiming(shape: tuple[int, ...], entries: int) -> bytes:
    """A .npy file whose header declares ``shape`` (float64) followed by ``entries`` float64 zeros."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False, "shape": shape})
    return buf.getvalue() + bytes(8 * entries)


@pytest.mark.parametrize("shape", [(9,), (10**13,), (10**7, 10**7)])
def test_a_header_larger_than_its_data_allocates_nothing(tmp_path: Path, shape: tuple[int, ...]) -> None:
    """A .npy header may declare any shape; the array is allocated only if the bytes hold it."""
    (tmp_path / "v.npy").write_bytes(_npy_claiming(shape, 3))
    with zipfile.ZipFile(tmp_path / "v.npz", "w") as archive:
        archive.writestr("v.npy", _npy_claiming(shape, 3))
    for name in ("v.npy", "v.npz"):
        code, out, err = _eval_with_v(f"@{tmp_path / name}")
        assert_clear_error(code, out, err, "--v")
        assert "do not hold" in err


def test_a_compressed_member_larger_than_the_cap_is_not_inflated(tmp_path: Path) -> None:
    path = tmp_path / "v.npz"
    np.savez_compressed(path, v=np.zeros(5 * 2**20))  # 40 MiB of zeros in ~40 KiB
    assert path.stat().st_size < 2**20
    code, out, err = _eval_with_v(f"@{path}")
    assert_clear_error(code, out, err, "--v")
    assert "larger than 32 MiB" in err


@pytest.mark.parametrize(
    ("content", "says"),
    [(b"PK\x03\x04 not really a zip", "not a readable .npz"), (b"\x93NUMPY\x01", "cannot load")],
)
def test_corrupt_archives(tmp_path: Path, content: bytes, says: str) -> None:
    for suffix in (".npz", ".npy"):
        (tmp_path / f"v{suffix}").write_bytes(content)
        code, out, err = _eval_with_v(f"@{tmp_path / f'v{suffix}'}")
        assert_clear_error(code, out, err, "--v")


# -- options and outputs ----------------------------------------------------------------------


@pytest.mark.parametrize("command", ["verify", "descend", "families", "mc"])
def test_negative_seed_names_the_option(command: str) -> None:
    args = {"descend": TEACHER, "mc": POINT}.get(command, [])
    code, out, err = run(command, *args, "--seed", "-1")
    assert_clear_error(code, out, err, "--seed")


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["mc", *POINT, "--workers", "0"], "--workers"),
        (["mc", *POINT, "--workers", "100000"], "--workers"),  # would fork 100000 processes
        (["mc", *POINT, "--n-samples", str(10**30)], "--n-samples"),  # was a MemoryError listing the chunks
        (["figures", "--out", "x", "--dpi", "100000"], "--dpi"),  # would allocate a 10^11-pixel image
        (["descend", *TEACHER, "--max-iter", "-1"], "--max-iter"),
        (["descend", *TEACHER, "--every", "x"], "--every"),
    ],
)
def test_integer_options_are_bounded(args: list[str], named: str) -> None:
    assert_clear_error(*run(*args), named)


def test_figures_out_below_a_file_is_refused() -> None:
    code, out, err = run("figures", "--out", "/dev/null/x")  # was NotADirectoryError
    assert_clear_error(code, out, err, "--out")


def test_output_that_cannot_be_written() -> None:
    """`> /dev/full`: exit 2 and one line, instead of exit 1 and a traceback."""
    with open("/dev/full", "wb") as full:
        proc = run_process(["eval", *POINT], stdout=full)
    assert_clear_error(proc.returncode, "", proc.stderr.decode(), "standard output")
    assert "No space left on device" in proc.stderr.decode()


def test_a_reader_that_leaves_ends_the_command_quietly() -> None:
    """`| head` with the reader gone before the first byte: exit 0, nothing on stderr."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    with os.fdopen(write_end, "wb") as pipe:
        proc = run_process(["eval", *POINT, "--json"], stdout=pipe)
    assert (proc.returncode, proc.stderr) == (0, b"")


# -- found by tests/test_cli_fuzz.py ---------------------------------------------------------


def test_a_diverging_descent_names_the_step_size() -> None:
    """With lr = 1e300 the first step's loss overflows float64; the API's message spoke of rescaling v and v_star."""
    code, out, err = run("descend", *TEACHER, "--max-iter", "20", "--lr", "1e300")
    assert_clear_error(code, out, err, "--lr")


def test_monte_carlo_moments_that_overflow_are_refused() -> None:
    """|v| ~ 3e160: the sample losses ~ 1e321 overflow float64 (stderr was printed as inf); the inputs are named."""
    code, out, err = run("mc", *TEACHER, "--v", "3e160,1,-0.7", "--w", "0,0,1", "--n-samples", "50")
    assert_clear_error(code, out, err, "--v")


@pytest.mark.parametrize("w", ["0,0,1.79e-250", "1e200,0.5,0"])
@pytest.mark.parametrize("method", ["full", "projected"])
def test_monte_carlo_at_extreme_norms_of_w(w: str, method: str) -> None:
    """The sampler's plane basis took |w| = sqrt(float(|w|^2)): 0 (ZeroDivisionError) or an OverflowError; and the
    moments of df/dw ~ 1/|w| overflowed at |w| = 1.8e-250.  Both norms give a result now."""
    code, out, err = run("mc", *TEACHER, "--v", "0.3,1,-0.7", "--w", w, "--n-samples", "50", "--method", method)
    assert code == 0 and out and "nan" not in out, err  # z = inf is documented where stderr = 0


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["eval", *TEACHER, "--v=--", "--w", "1,1,1"], "--v"),  # was AttributeError: 'list' object
        (["descend", *TEACHER, "--every=--"], "--every"),  # was "'list' object cannot be interpreted..."
        (["eval", *POINT, "--ste=--"], "--ste"),  # was a table without a single STE row
    ],
)
def test_double_dash_as_the_value_of_an_option(argv: list[str], named: str) -> None:
    """Python < 3.12's argparse reads ``--opt=--`` as an empty list, past the option's type and nargs."""
    assert_clear_error(*run(*argv), named)
