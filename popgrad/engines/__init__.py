r"""One entry point for every way popgrad computes an expectation: :func:`expectations`.

* ``closed_form`` -- the assembled closed forms in float64, batched (:mod:`popgrad.assembly`); trusts the
  derivations;
* ``symbolic`` -- sympy expressions evaluated by mpmath at ``dps`` digits; trusts the derivations, checked by sympy;
* ``quadrature`` -- the row expectations by 2-D quadrature in each pair's plane; trusts the definition of the
  expectations and the plane reduction;
* ``monte_carlo`` -- sample means from the literal model (``method="full"``) or from the rows projected on the
  filters' span (``method="projected"``); trusts the definition of the model (and the projection argument).

Every engine computes the model it is given -- its activation, its number of filters, the STE -- or raises
``NotImplementedError`` naming the engine, the model, the activation and the STE and listing what it supports
(:func:`capabilities`).  None returns a number for a different model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, overload

from numpy.typing import ArrayLike

from ..ste import STE, resolve_many
from . import closed_form, montecarlo_engine, quadrature_engine, symbolic_engine
from .capability import ACTIVATION_KINDS, MODEL_KINDS, STE_KINDS, Engine, capability_table, check_supported
from .result import Expectations, Quantity

if TYPE_CHECKING:
    from ..models.base import ModelFamily

__all__ = ["ENGINES", "Expectations", "Quantity", "capabilities", "expectations"]

ENGINES: dict[str, Engine] = {
    e.name: e for e in (closed_form.ENGINE, symbolic_engine.ENGINE, quadrature_engine.ENGINE, montecarlo_engine.ENGINE)
}
"""The engines by name."""


def _engine(engine: object) -> Engine:
    if not isinstance(engine, str):
        raise TypeError(f"engine must be a name, one of {sorted(ENGINES)}; got {type(engine).__name__}")
    try:
        return ENGINES[engine]
    except KeyError:
        raise ValueError(f"unknown engine {engine!r}; expected one of {sorted(ENGINES)}") from None


# A str is also a Sequence[str]: the first overload wins for it (as at run time), which mypy calls an unsafe
# overlap; the overloads spare every caller an isinstance check on the result, which is worth the ignore.
@overload
def expectations(  # type: ignore[overload-overlap]
    model: ModelFamily, v: ArrayLike, w: ArrayLike, ste: str | STE = ..., engine: str = ..., **options: object
) -> Expectations: ...


@overload
def expectations(
    model: ModelFamily,
    v: ArrayLike,
    w: ArrayLike,
    ste: Sequence[str | STE],
    engine: str = ...,
    **options: object,
) -> dict[str, Expectations]: ...


def expectations(
    model: ModelFamily,
    v: ArrayLike,
    w: ArrayLike,
    ste: str | STE | Sequence[str | STE] = "relu",
    engine: str = "closed_form",
    **options: object,
) -> Expectations | dict[str, Expectations]:
    r"""Loss, true gradient and expected coarse gradient of ``model`` at ``(v, w)``, by the chosen engine.

    Parameters
    ----------
    model : popgrad.Model or popgrad.MultiFilterModel
        The teacher (and activation).
    v, w : array_like
        Student weights in the model's shapes: ``(..., m)`` and ``(..., n)`` for :class:`popgrad.Model`,
        ``(..., K, m)`` and ``(..., K, n)`` for :class:`popgrad.MultiFilterModel`; leading axes broadcast.
        ``w`` must be non-zero (f has no gradient at ``w = 0``; ``model.loss`` is defined there).
    ste : str, popgrad.ste.STE, or a sequence of them
        One STE: an :class:`Expectations` is returned.  A sequence: a ``dict`` from each STE's name to the
        :class:`Expectations` that STE alone would give -- for every engine the same; Monte Carlo computes them
        from the same samples, so their loss and gradient fields are identical.
    engine : str
        ``"closed_form"`` (default), ``"symbolic"``, ``"quadrature"`` or ``"monte_carlo"``.
    **options
        Engine options: symbolic ``dps`` (50); quadrature ``backend="scipy"|"mpmath"``, ``dps`` (30);
        Monte Carlo ``n_samples``, ``seed``, ``method="full"|"projected"``, ``workers``, ``executor``,
        ``chunk_size``, ``rows``, ``grad_w_estimator``, ``covariance``, ``progress``
        (:func:`popgrad.monte_carlo`).  Unknown options raise ``TypeError``.

    Returns
    -------
    Expectations, or dict[str, Expectations]
        Every :class:`Quantity` has ``.value`` (float64, the model's shape) and ``.error``.  Engines other than
        ``closed_form`` evaluate batched inputs point by point (Monte Carlo: point ``j`` of a batch draws from
        ``SeedSequence(seed).spawn(N)[j]``; a single point draws from ``SeedSequence(seed)``).

    Raises
    ------
    NotImplementedError
        The engine cannot compute this model / activation / STE (message lists what it supports).

    Examples
    --------
    >>> import popgrad as pg
    >>> model = pg.Model([1.0, -0.5, 2.0], [1.0, 0.0, 0.0])
    >>> v, w = [0.3, 1.0, -0.7], [0.2, 1.0, -0.4]
    >>> exact = pg.expectations(model, v, w, "relu")
    >>> mc = pg.expectations(model, v, w, "relu", engine="monte_carlo", n_samples=20_000, seed=3)
    >>> bool(abs(mc.loss.z(exact.loss.value)) < 5)
    True
    >>> sorted(pg.expectations(model, v, w, ["relu", "identity"]))
    ['identity', 'relu']
    """
    eng = _engine(engine)
    opts = eng.options(options)
    stes, single = resolve_many(ste)
    for s in stes:
        check_supported(eng, model, s, opts)
    out = eng.compute(model, v, w, stes, opts)
    return out[stes[0].name] if single else out


def capabilities() -> list[dict[str, str]]:
    """What each engine computes: one row per (engine, option variant, model, activation, STE kind), with
    ``"supported"`` or the reason it refuses."""
    return capability_table(ENGINES.values())


__all__ += ["ACTIVATION_KINDS", "MODEL_KINDS", "STE_KINDS"]
