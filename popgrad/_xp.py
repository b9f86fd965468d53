r"""Array namespaces: which library a closed form computes with, and the few operations the Array API lacks.

The closed forms (:mod:`popgrad.geometry`, :mod:`popgrad.gaussian`, :mod:`popgrad.kernels`,
:mod:`popgrad.assembly`, :mod:`popgrad.models`) are written once against the Python Array API standard through
``array-api-compat``: a model's methods compute with the arrays they are given -- numpy, JAX, PyTorch, CuPy,
``array-api-strict`` -- and return arrays of that namespace on that device.

* :func:`namespace` -- the namespace of a call: the one of its non-numpy arrays, numpy's when there are none
  (lists, floats and numpy arrays are then converted into it);
* :func:`readable` -- whether values can be read (for the value checks): not for traced JAX arrays (under
  ``jit``/``grad``/``vmap``), PyTorch tensors under ``torch.func`` transforms or on the ``meta`` device, nor other
  lazy arrays (``array_api_compat.is_lazy_array``);
* :func:`einsum` -- the namespace's own ``einsum`` where it has one (numpy's keeps its results bit for bit), a
  broadcast product and sum otherwise;
* :func:`exponent`, :func:`ldexp` -- exact scaling by powers of two; numpy's ``frexp``/``ldexp``, on JAX read from
  and assembled from the bits (XLA flushes subnormal numbers to zero, and its ``frexp``/``ldexp`` are wrong there),
  elsewhere ``floor(log2)`` and ``pow(2, k)`` within the normal range;
* :func:`safe_sqrt`, :func:`safe_divide` -- ``sqrt`` and ``/`` whose derivatives stay finite where the value is
  taken as a limit (``sqrt(0)``, ``x/0``): under automatic differentiation the branch :func:`where` discards
  must not produce ``0 * inf = NaN``.  On numpy they are the plain operations.
* :func:`rounded` -- a product kept rounded: on JAX the identity in a form XLA cannot contract with the sum
  it feeds into a fused multiply-add (the error-free transformations of :mod:`popgrad._compensated`
  need the rounded value);
* :func:`constant`, :func:`into` -- numbers and numpy arrays as float64 arrays of a namespace (copies: PyTorch
  would share a numpy array's memory), arrays of the namespace left as they are; :func:`to_float` reads a 0-d
  array;
* :func:`numpy_only` -- the clear refusal where a special function has no Array API form;
* :func:`jax_rows` -- JAX's version of "compute on the masked rows only": under ``jit`` shapes cannot depend on
  values, so the masked rows are gathered into blocks of static size (the first 64 always; more under
  ``lax.switch``, in a block of a sixteenth of the rows or by computing every row).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from types import ModuleType
from typing import Any, TypeAlias

import array_api_compat
import numpy as np

__all__ = [
    "NUMPY",
    "Array",
    "constant",
    "device_of",
    "einsum",
    "exponent",
    "into",
    "is_jax",
    "is_numpy",
    "jax_rows",
    "ldexp",
    "namespace",
    "numpy_only",
    "readable",
    "rounded",
    "safe_divide",
    "safe_sqrt",
    "to_float",
]

Array: TypeAlias = Any
"""An array of any Array API namespace (numpy, JAX, PyTorch, CuPy, ``array-api-strict``); typed as ``Any``."""

NUMPY: ModuleType = array_api_compat.array_namespace(np.empty(0))
"""numpy's Array API namespace (``array_api_compat.numpy``: numpy's own functions, a few wrapped)."""


_NOT_FOREIGN = (np.ndarray, np.generic, float, int, list, tuple, str, type(None))


def _foreign(x: object) -> bool:
    """An array of a namespace other than numpy's."""
    if isinstance(x, _NOT_FOREIGN):  # the common case, decided without array_api_compat's longer checks
        return False
    return array_api_compat.is_array_api_obj(x) and not array_api_compat.is_numpy_array(x)


def namespace(*objects: object) -> ModuleType:
    """The namespace of the non-numpy arrays among ``objects``; numpy's if there are none.

    Raises
    ------
    TypeError
        If arrays of two different non-numpy namespaces are mixed.
    """
    found: ModuleType | None = None
    for x in objects:
        if _foreign(x):
            xp = array_api_compat.array_namespace(x)
            if found is not None and xp is not found:
                raise TypeError(
                    f"arrays of two namespaces were mixed ({found.__name__} and {xp.__name__}); give the arrays of "
                    "one library (numpy arrays, lists and floats are converted into it)"
                )
            found = xp
    return NUMPY if found is None else found


def is_numpy(xp: ModuleType) -> bool:
    """Whether ``xp`` is numpy's namespace (the reference path: data-dependent shortcuts allowed)."""
    return xp is NUMPY


def is_jax(xp: ModuleType) -> bool:
    """Whether ``xp`` is JAX's namespace."""
    return array_api_compat.is_jax_namespace(xp)


def readable(x: object) -> bool:
    """Whether the values of ``x`` (and of what is computed from it) can be read to check them: JAX arrays outside a
    trace (``jit``, ``grad``, ``vmap``) yes, traced ones and any inside ``jit`` no; PyTorch tensors yes, except
    under ``torch.func`` transforms and on the ``meta`` device; other lazy arrays
    (``array_api_compat.is_lazy_array``) no."""
    if array_api_compat.is_jax_array(x):
        import jax

        # inside jit even the operations on a concrete array are traced: a fresh array tells
        return not isinstance(x, jax.core.Tracer) and not isinstance(jax.numpy.zeros(()), jax.core.Tracer)
    if array_api_compat.is_torch_array(x):
        return _torch_readable(x)
    return not array_api_compat.is_lazy_array(x)


def _torch_readable(x: Any) -> bool:
    """A PyTorch tensor's values can be read, as JAX arrays outside a trace, except under the ``torch.func``
    transforms (``grad``, ``vmap``, ``jacrev``, ...: a wrapped tensor, and under ``vmap`` ``bool`` raises
    "data-dependent control flow") and on the ``meta`` device (shapes only).  Plain autograd
    (``requires_grad=True``) reads them.  ``array_api_compat.is_lazy_array`` calls every tensor eager."""
    import torch

    if x.device.type == "meta":
        return False
    wrapped = getattr(getattr(torch._C, "_functorch", None), "is_functorch_wrapped_tensor", None)
    return not (wrapped is not None and wrapped(x))


def numpy_only(xp: ModuleType, what: str) -> None:
    """Raise ``NotImplementedError`` for a non-numpy namespace: ``what`` needs a function with no Array API form."""
    if not is_numpy(xp):
        raise NotImplementedError(
            f"{what} has no Array API form, so it is computed for numpy arrays only (got arrays of {xp.__name__}); "
            "pass numpy arrays, or use the binary activation with a piecewise-constant STE"
        )


_SUBSCRIPT = re.compile(r"^(\.\.\.)?([a-z]*)$")


def einsum(xp: ModuleType, spec: str, *operands: Array) -> Array:
    """``einsum`` with explicit output, the letters of each operand optionally after a leading ``...``.

    The namespace's own ``einsum`` where it has one (numpy, JAX, PyTorch, CuPy); otherwise every operand is laid
    out on the union of the letters (broadcasting ``...``), multiplied, and summed over the letters not in the
    output (a temporary of the full product's size: the callers contract small axes only).
    """
    if hasattr(xp, "einsum"):
        return xp.einsum(spec, *operands)
    ins, out = spec.replace(" ", "").split("->")
    terms = ins.split(",")
    letters = "".join(dict.fromkeys("".join(t.replace("...", "") for t in terms)))
    out_letters = out.replace("...", "")
    contracted = [c for c in letters if c not in out_letters]
    order = out_letters + "".join(contracted)  # layout of the product: ..., output letters, contracted letters
    product = None
    for term, x in zip(terms, operands, strict=True):
        match = _SUBSCRIPT.match(term)
        if match is None:
            raise ValueError(f"einsum: unsupported subscripts {term!r}")
        own = match.group(2)
        lead = x.ndim - len(own)
        perm = [*range(lead), *(lead + own.index(c) for c in order if c in own)]
        y = xp.permute_dims(x, tuple(perm))
        shape = list(y.shape[:lead])
        it = iter(y.shape[lead:])
        shape += [next(it) if c in own else 1 for c in order]
        y = xp.reshape(y, tuple(shape))
        product = y if product is None else product * y
    k = len(contracted)
    if k:
        product = xp.sum(product, axis=tuple(range(-k, 0)))
    return product


def exponent(xp: ModuleType, x: Array) -> Array:
    """``e`` with ``x / 2**e`` in ``[0.5, 1)`` for ``x > 0`` (0 at ``x = 0``); numpy's ``frexp``.

    JAX: read from the bits of ``x`` (XLA flushes subnormal numbers to zero: they give 0), a float array
    without derivative.  Elsewhere ``floor(log2(x)) + 1`` (a float array): a rounded ``log2`` can leave
    ``x / 2**e`` in ``[0.25, 1]``, which is all the callers need (the scaling by ``2**-e`` is exact either way).
    """
    if is_numpy(xp):
        return np.frexp(x)[1]
    if is_jax(xp):
        import jax

        bits = jax.lax.bitcast_convert_type(jax.lax.stop_gradient(x), xp.int64)
        biased = (bits >> 52) & 0x7FF
        return xp.where(biased > 0, biased - 1022, 0).astype(xp.float64)
    positive = x > 0
    return xp.where(positive, xp.floor(xp.log2(xp.where(positive, x, 1.0))) + 1.0, 0.0)


def _pow2(xp: ModuleType, k: Array) -> Array:
    """``2**k`` for integer-valued floats ``k`` in [-1022, 1023], exactly (JAX: assembled from its bits)."""
    if is_jax(xp):
        import jax

        return jax.lax.bitcast_convert_type((k.astype(xp.int64) + 1023) << 52, xp.float64)
    return xp.pow(2.0, k)


def ldexp(xp: ModuleType, x: Array, e: Array) -> Array:
    """``x * 2**e``, exactly (barring underflow and overflow of the result); ``e`` from :func:`exponent`.

    Elsewhere than numpy: two factors ``2**k`` with ``k`` in the normal range, each exact.
    """
    if is_numpy(xp):
        return np.ldexp(x, e)
    half = xp.floor(e * 0.5)
    return (x * _pow2(xp, half)) * _pow2(xp, e - half)


def rounded(xp: ModuleType, x: Array) -> Array:
    """``x`` as computed, never contracted with the operations that use it; on numpy ``x`` itself.

    XLA on the CPU contracts a product and the sum it feeds into one fused multiply-add whenever both land in
    one kernel (it always allows that fusion, and ``lax.optimization_barrier`` is gone by then).  On JAX the
    value passes through ``where(isnan(x), nan, x)``, the identity, which the compiler keeps and which separates
    the product from the sum (``tests/test_jax.py`` measures it: no contracted element in 10^5).
    """
    if is_jax(xp):
        return xp.where(xp.isnan(x), xp.nan, x)
    return x


def safe_sqrt(xp: ModuleType, x: Array) -> Array:
    r""":math:`\sqrt{x}` for :math:`x \ge 0`; elsewhere than numpy with derivative 0 (not inf) at 0."""
    if is_numpy(xp):
        return xp.sqrt(x)
    positive = x > 0
    return xp.where(positive, xp.sqrt(xp.where(positive, x, 1.0)), 0.0)


def safe_divide(xp: ModuleType, num: Array, den: Array, where: Array, fill: float | Array = 0.0) -> Array:
    """``num / den`` where ``where`` holds, ``fill`` elsewhere (no division by the discarded denominators)."""
    return xp.where(where, num / xp.where(where, den, 1.0), fill)


def device_of(*objects: object) -> Any:
    """The device of the first non-numpy array among ``objects`` (None if there is none, or the library says none)."""
    for x in objects:
        if _foreign(x):
            return array_api_compat.device(x)
    return None


def constant(xp: ModuleType, value: object, device: object = None) -> Array:
    """A float64 constant (a Python number or numpy array) as an array of ``xp`` on ``device`` (numpy: as is;
    elsewhere a copy, never sharing memory with ``value``)."""
    if is_numpy(xp):
        return np.asarray(value, dtype=np.float64)
    # a copy: PyTorch shares the memory of a numpy array (and warns, once per process, when it is read-only, as the
    # model's teacher arrays are); the other libraries copy anyway
    return xp.asarray(np.array(value, dtype=np.float64), device=device)


def into(xp: ModuleType, x: object, device: object = None) -> Array:
    """``x`` as an array of ``xp``: an array of another namespace than numpy's unchanged if it is of ``xp`` (never
    ``asarray`` on a tensor that requires grad: PyTorch warns), else a float64 :func:`constant` on ``device``."""
    if is_numpy(xp) or namespace(x) is not xp:
        return constant(xp, x, device)
    return x


def to_float(x: Any) -> float:
    """The value of a 0-d array (readable: :func:`readable`) as a Python float; PyTorch's detached first (``float`` of
    a tensor that requires grad warns)."""
    return float(x.detach() if array_api_compat.is_torch_array(x) else x)


_JAX_ROWS_FEW = 64  # the block of rows computed for a rare accurate path whatever the mask (no control flow)
_JAX_ROWS_SHARE = 16  # the next block, under lax.switch: at most 1/16 of the rows


def jax_rows(mask: Array, current: tuple, compute: Callable[..., tuple], inputs: tuple) -> tuple:
    """``current`` (JAX arrays, rows on axis 0) with the rows in ``mask`` replaced by ``compute(*inputs)``'s.

    ``compute`` maps rows to rows (each output row depends on the same input rows only); an input with one row is
    shared by every row (passed as it is; ``compute`` broadcasts it).  Under a trace (``jit``, ``grad``,
    ``vmap``) shapes cannot depend on the mask, so the masked rows are gathered into blocks of static size
    (padded with copies of the last row, whose results are dropped), computed, and scattered back:

    * the first :data:`_JAX_ROWS_FEW` masked rows always (the common case: the accurate paths are for rare rows;
      no control flow, which would keep XLA from fusing the arrays around it);
    * if there are more, under ``lax.switch``: up to ``max(64, k // 16)`` masked rows as one block, or else every
      row computed and ``where`` selecting.

    Every route gives the same numbers (under ``vmap`` every branch of the ``switch`` runs).  ``compute`` also sees
    rows it is not meant for (the padding, every row of a small batch): its values and derivatives must stay finite
    there, or ``grad`` gives ``0 * inf = NaN``.  Outside a trace
    (eager JAX) the mask is known and exactly its rows are computed.  With at most :data:`_JAX_ROWS_FEW` rows in
    all, every row is computed.
    """
    import jax
    import jax.numpy as jnp

    k = mask.shape[0]

    def gather(idx: Array) -> tuple:
        return compute(*(x if x.shape[0] == 1 else x[jnp.minimum(idx, k - 1)] for x in inputs))

    def block(size: int) -> Callable[[tuple, tuple], tuple]:
        def replace(current: tuple, inputs: tuple) -> tuple:
            idx = jnp.nonzero(mask, size=size, fill_value=k)[0]  # k: a padding row, dropped by the scatter
            return tuple(c.at[idx].set(v, mode="drop") for c, v in zip(current, gather(idx), strict=True))

        return replace

    def every(current: tuple, inputs: tuple) -> tuple:
        out = []
        for c, v in zip(current, compute(*inputs), strict=True):
            out.append(jnp.where(jnp.reshape(mask, mask.shape + (1,) * (c.ndim - mask.ndim)), v, c))
        return tuple(out)

    if not isinstance(mask, jax.core.Tracer):  # eager: the rows are known, gathered exactly (as on numpy)
        idx = jnp.nonzero(mask)[0]
        if not idx.shape[0]:
            return tuple(current)
        return tuple(c.at[idx].set(v) for c, v in zip(current, gather(idx), strict=True))
    if k <= _JAX_ROWS_FEW:
        return every(tuple(current), tuple(inputs))
    current = block(_JAX_ROWS_FEW)(tuple(current), tuple(inputs))
    count = jnp.sum(mask)
    share = max(_JAX_ROWS_FEW, k // _JAX_ROWS_SHARE)

    # 0: no row left; 1: the rest in one block of k // 16; 2: every row
    branch = (count > _JAX_ROWS_FEW).astype(jnp.int32) + (count > share).astype(jnp.int32)
    return jax.lax.switch(branch, [lambda c, i: c, block(share), every], current, tuple(inputs))
