"""Vectors for the command line: ``1,-0.5,2`` or ``@file`` (``.json``, ``.npz``, ``.npy``), read safely.

A file must be a regular file (not a directory, device, FIFO or socket, which are refused before
they are read) of at most :data:`MAX_FILE_BYTES`; a ``.npy`` array (alone or inside a ``.npz``)
must fit its declared shape in the bytes present, and is loaded with ``allow_pickle=False``.  The
values then obey the Python API's rule (:func:`popgrad._validate.as_vector_batch`): real numbers
(no strings, booleans, complex numbers or nulls), finite, one axis.  Every failure raises
:class:`UsageError` (or the API's ``TypeError``/``ValueError``) naming the flag.
"""

from __future__ import annotations

import io
import json
import os
import stat
import zipfile
import zlib

import numpy as np

from ._validate import as_vector_batch

__all__ = ["MAX_FILE_BYTES", "UsageError", "flag_of", "parse_vector"]

MAX_FILE_BYTES = 32 * 2**20  # a float64 vector of 4 million entries in .npy; far more than any use needs


class UsageError(Exception):
    """Bad command-line input: reported on stderr with exit code 2."""


def flag_of(name: str) -> str:
    """``"v_star"`` -> ``"--v-star"``."""
    return "--" + name.replace("_", "-")


def parse_vector(text: str, name: str) -> np.ndarray:
    """A float64 vector, shape (n,), from ``"1,2,3"`` or ``"@path"`` given for the flag of ``name``."""
    flag = flag_of(name)
    if text.startswith("@"):
        path = text[1:]
        return as_vector_batch(_load(path, name, flag), f"{flag} (file {path!r})", batch=False)
    return as_vector_batch(_split_numbers(text, flag), flag, batch=False)


def _split_numbers(text: str, flag: str) -> list[float]:
    parts = text.replace(" ", "").split(",")
    if "" in parts[:-1] or (len(parts) > 1 and parts[-1] == ""):
        raise UsageError(f"{flag}: empty entry in {text!r}; give every component")
    try:
        values = [float(x) for x in parts if x != ""]
    except ValueError:
        raise UsageError(f"{flag}: expected comma-separated numbers or @file, got {text!r}") from None
    if not values:
        raise UsageError(f"{flag}: empty vector")
    return values


def _load(path: str, name: str, flag: str) -> object:
    raw = _read_regular_file(path, flag)
    suffix = os.path.splitext(path)[1].lower()
    if suffix == ".npz":
        return _npy_array(_npz_member(raw, path, name, flag), f"{path!r} (array {name!r})", flag)
    if suffix == ".npy":
        return _npy_array(raw, repr(path), flag)
    return _json_vector(raw, path, name, flag)


_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
)


def _refuse_special(mode: int, path: str, flag: str) -> None:
    if not stat.S_ISREG(mode):
        kind = next((k for test, k in _KINDS if test(mode)), "not a regular file")
        raise UsageError(f"{flag}: {path!r} is {kind}; give a regular .json, .npz or .npy file")


def _too_large(size: int, path: str, flag: str) -> UsageError:
    return UsageError(f"{flag}: {path!r} is larger than {MAX_FILE_BYTES // 2**20} MiB ({size} bytes); not read")


def _read_regular_file(path: str, flag: str) -> bytes:
    """The bytes of ``path``; special files are refused unopened and at most MAX_FILE_BYTES are read."""
    try:
        _refuse_special(os.stat(path).st_mode, path, flag)
        # O_NONBLOCK: should the path have become a FIFO since the stat, opening it cannot hang
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        with os.fdopen(fd, "rb") as fh:
            st = os.fstat(fh.fileno())
            _refuse_special(st.st_mode, path, flag)
            if st.st_size > MAX_FILE_BYTES:
                raise _too_large(st.st_size, path, flag)
            raw = fh.read(MAX_FILE_BYTES + 1)  # /proc files report size 0: the read is capped too
    except OSError as exc:
        raise UsageError(f"{flag}: cannot read {path!r}: {exc.strerror or exc}") from None
    except ValueError as exc:  # e.g. an embedded NUL byte in the path
        raise UsageError(f"{flag}: cannot read {path!r}: {exc}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise _too_large(len(raw), path, flag)
    return raw


def _json_vector(raw: bytes, path: str, name: str, flag: str) -> object:
    try:
        doc = json.loads(raw)
    except RecursionError:
        raise UsageError(f"{flag}: {path!r} is JSON nested too deeply; give a flat list of numbers") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, an integer of > 4300 digits
        raise UsageError(f"{flag}: {path!r} is not valid JSON: {exc}") from None
    if isinstance(doc, dict):
        if name not in doc:
            keys = list(doc)[:10]
            raise UsageError(f"{flag}: {path!r} has no key {name!r} (keys: {keys}{'...' if len(doc) > 10 else ''})")
        doc = doc[name]
    return doc


_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError, EOFError, zlib.error)


def _npz_member(raw: bytes, path: str, name: str, flag: str) -> bytes:
    """The bytes of the array ``name`` in the .npz archive ``raw``, at most MAX_FILE_BYTES uncompressed."""
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            names = archive.namelist()
            member = next((m for m in (f"{name}.npy", name) if m in names), None)
            if member is None:
                arrays = [m.removesuffix(".npy") for m in names[:10]]
                raise UsageError(f"{flag}: {path!r} has no array named {name!r} (has {arrays})")
            info = archive.getinfo(member)
            if info.file_size > MAX_FILE_BYTES:
                raise _too_large(info.file_size, f"{path}:{member}", flag)
            return archive.read(member)  # stops at the declared size; a CRC mismatch raises
    except (*_ZIP_ERRORS, OSError, ValueError) as exc:
        raise UsageError(f"{flag}: {path!r} is not a readable .npz archive: {exc}") from None


def _npy_array(raw: bytes, where: str, flag: str) -> np.ndarray:
    """The array stored in the .npy bytes ``raw``, without pickle; its header is checked against the bytes first."""
    fh = io.BytesIO(raw)
    try:
        version = np.lib.format.read_magic(fh)
        if version not in ((1, 0), (2, 0)):
            raise UsageError(f"{flag}: {where}: .npy format version {version} is not supported (1.0 or 2.0)")
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = read_header(fh)
        if dtype.hasobject:
            raise UsageError(f"{flag}: {where} holds Python objects (dtype {dtype}), which need pickle; not loaded")
        count = int(np.prod(shape, dtype=object))
        if dtype.itemsize == 0 or count * dtype.itemsize > len(raw) - fh.tell():
            raise UsageError(
                f"{flag}: {where}: the header declares {count} entries of dtype {dtype}, "
                f"which the {len(raw)} bytes of the file do not hold"
            )
        fh.seek(0)
        return np.lib.format.read_array(fh, allow_pickle=False)
    except (ValueError, EOFError, OSError) as exc:  # bad magic or header, pickled objects, truncated data
        raise UsageError(f"{flag}: cannot load {where} as a .npy array: {exc}") from None
