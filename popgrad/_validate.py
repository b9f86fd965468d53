"""Argument checks shared by every public entry point.

Every check raises at the boundary with a message that names the argument, says what was
expected and what was received, so that no bad input reaches numpy (no silent NaN, no
traceback from deep inside an ufunc).

Arrays of other Array API namespaces (JAX, PyTorch, CuPy, ``array-api-strict``; :mod:`popgrad._xp`) are
checked as far as their values can be read.  Always (shapes and dtypes are static, even under ``jax.jit``):
the shape, and the dtype -- real floating float64, integers converted; float32 is refused, since the compensated
arithmetic of the closed forms assumes float64 (for JAX: ``jax.config.update("jax_enable_x64", True)``).
Values (finite entries, non-zero filters) where they can be read (``array_api_compat.is_lazy_array`` is False:
numpy, PyTorch, CuPy, ``array-api-strict``), with the same errors as numpy; not for JAX arrays, traced under
``jit``/``grad`` or living on an accelerator: there a NaN or infinite input propagates into the results, as JAX
users expect, and the closed forms document what a zero filter gives.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from ._xp import NUMPY, constant, device_of, is_numpy, namespace, readable

__all__ = [
    "as_array",
    "as_float_array",
    "as_vector_batch",
    "broadcast_leading",
    "check_nonzero_rows",
    "first_zero_row",
    "positive_int",
    "real_number",
    "teacher_copy",
]


def _holds_bool(x: list | tuple) -> bool:
    """Whether a (nested) list holds a bool, which numpy would silently turn into 0 or 1 next to numbers."""
    try:
        flat = np.asarray(x, dtype=object).ravel()
    except ValueError:  # ragged: numpy made no numeric array of it either
        return False
    return any(isinstance(t, (bool, np.bool_)) for t in flat)


def as_float_array(x: object, name: str) -> np.ndarray:
    """Convert ``x`` to a float64 array, rejecting non-numeric, complex and boolean input."""
    if isinstance(x, (str, bytes)):
        raise TypeError(f"{name} must be an array of real numbers, got a string {x!r}")
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged nested lists and the like
        raise TypeError(f"{name} must be an array of real numbers: {exc}") from None
    if arr.dtype == object:
        bad = [x for x in arr.flat if isinstance(x, bool) or not isinstance(x, numbers.Real)]
        if bad:
            raise TypeError(f"{name} must be an array of real numbers, got an element {bad[0]!r}")
        try:
            arr = arr.astype(np.float64)
        except OverflowError:
            raise ValueError(f"{name} has an entry too large for float64") from None
    if arr.dtype.kind == "b" or (arr.dtype.kind in "iuf" and isinstance(x, (list, tuple)) and _holds_bool(x)):
        raise TypeError(f"{name} must be an array of real numbers, got booleans")
    if arr.dtype.kind == "c":
        raise TypeError(f"{name} must be real; got complex values")
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be an array of real numbers, got dtype {arr.dtype}")
    try:
        with np.errstate(over="raise"):  # e.g. a longdouble 1e4000
            arr = arr.astype(np.float64, copy=False)
    except (OverflowError, FloatingPointError):
        raise ValueError(f"{name} has an entry too large for float64") from None
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} {_NON_FINITE}")
    return arr


_NON_FINITE = "contains NaN or infinite entries; all entries must be finite"


def as_array(x: Any, name: str, like: tuple = ()) -> Any:
    """``x`` as a float64 array of the namespace of the non-numpy arrays among ``like`` (numpy's if none).

    numpy: :func:`as_float_array`.  Another namespace: its arrays are checked for dtype (real floating float64;
    integers converted) and, where readable, for finite values; numbers, lists and numpy arrays are checked by
    :func:`as_float_array` and converted to it, on the device of the first of its arrays in ``like``.
    """
    xp = namespace(x, *like)
    if is_numpy(xp):
        return as_float_array(x, name)
    if namespace(x) is NUMPY:
        return constant(xp, as_float_array(x, name), device_of(*like))
    dtype = x.dtype
    if dtype == xp.bool:
        raise TypeError(f"{name} must be an array of real numbers, got booleans")
    if xp.isdtype(dtype, "complex floating"):
        raise TypeError(f"{name} must be real; got complex values")
    if xp.isdtype(dtype, "integral"):
        x = xp.astype(x, xp.float64)
    elif not xp.isdtype(dtype, "real floating"):
        raise TypeError(f"{name} must be an array of real numbers, got dtype {dtype}")
    if x.dtype != xp.float64:
        raise TypeError(
            f"{name} has dtype {x.dtype}: popgrad's closed forms compute in float64 (their compensated arithmetic "
            "assumes it); pass float64 arrays (JAX: jax.config.update('jax_enable_x64', True) first; PyTorch: "
            "dtype=torch.float64 or x.double())"
        )
    if readable(x) and not bool(xp.all(xp.isfinite(x))):
        raise ValueError(f"{name} {_NON_FINITE}")
    return x


def as_vector_batch(
    x: object, name: str, size: int | None = None, *, batch: bool = True, like: tuple = ()
) -> np.ndarray:
    """Return ``x`` as a float64 array of shape ``(..., size)`` (of the namespace of ``like``: :func:`as_array`).

    ``batch=False`` demands exactly one axis (a teacher vector).  ``size=None`` accepts any
    length >= 1.
    """
    arr = as_array(x, name, like)
    if arr.ndim == 0:
        raise ValueError(f"{name} must be a vector of shape (..., {size if size else 'k'}), got a scalar")
    if not batch and arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.shape[-1] == 0:
        raise ValueError(f"{name} must have at least one entry on its last axis, got shape {arr.shape}")
    if size is not None and arr.shape[-1] != size:
        raise ValueError(f"{name} must have last axis of length {size} to match the teacher, got shape {arr.shape}")
    return arr


def broadcast_leading(v: np.ndarray, w: np.ndarray) -> tuple[int, ...]:
    """Broadcast shape of the leading (batch) axes of ``v (..., m)`` and ``w (..., n)``."""
    try:
        return np.broadcast_shapes(v.shape[:-1], w.shape[:-1])
    except ValueError:
        raise ValueError(
            f"the leading (batch) axes of v {v.shape} and w {w.shape} do not broadcast; "
            "v has shape (..., m) and w shape (..., n) with broadcastable '...'"
        ) from None


def check_nonzero_rows(w: np.ndarray, name: str, why: str) -> None:
    """Raise ``ValueError`` if any vector along the last axis of ``w`` is exactly zero (if its values are readable)."""
    first = first_zero_row(w)
    if first is not None:
        raise ValueError(f"{name} is the zero vector (at batch index {first}): {why}")


def first_zero_row(w: np.ndarray) -> tuple[int, ...] | None:
    """The batch index of the first zero vector along the last axis of ``w``; None if there is none, or if the
    values cannot be read (JAX)."""
    xp = namespace(w)
    if not readable(w):
        return None
    zero = ~xp.any(w != 0, axis=-1)
    if not bool(xp.any(zero)):
        return None
    flat = int(xp.argmax(xp.astype(xp.reshape(zero, (-1,)), xp.int8)))
    return tuple(int(i) for i in np.unravel_index(flat, zero.shape)) if zero.ndim else ()


def positive_int(x: object, name: str, minimum: int = 1) -> int:
    """Return ``x`` as a Python int >= ``minimum``; reject floats, bools and strings."""
    if isinstance(x, bool) or not isinstance(x, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(x).__name__} {x!r}")
    if int(x) < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {x}")
    return int(x)


def real_number(x: object, name: str) -> float:
    """Return ``x`` as a float; reject strings, bools and other non-real types, naming ``name``."""
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(x).__name__} {x!r}")
    return float(x)


def teacher_copy(x: object, name: str, ndim: int = 1) -> np.ndarray:
    """A private read-only float64 copy of a teacher array with ``ndim`` axes (the caller's array is untouched)."""
    arr = as_float_array(x, name)
    if arr.ndim != ndim:
        what = "one-dimensional" if ndim == 1 else f"{ndim}-dimensional"
        raise ValueError(f"{name} must be {what}, got shape {arr.shape}")
    if 0 in arr.shape:
        raise ValueError(f"{name} must have at least one entry on each axis, got shape {arr.shape}")
    out = np.array(arr, dtype=np.float64, copy=True)
    out.setflags(write=False)
    return out
