"""Engines declare what they compute; anything else is refused before any number is produced."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, ClassVar

from numpy.typing import ArrayLike

from ..activation import Activation
from ..ste import STE

if TYPE_CHECKING:
    from ..models.base import ModelFamily
    from .result import Expectations

__all__ = [
    "ACTIVATION_KINDS",
    "MODEL_KINDS",
    "STE_KINDS",
    "Engine",
    "activation_kind",
    "capability_table",
    "check_supported",
    "model_kind",
    "ste_kind",
]

MODEL_KINDS = ("Model", "MultiFilterModel")
ACTIVATION_KINDS = ("binary", "staircase")
STE_KINDS = ("piecewise_constant", "custom")


def model_kind(model: object) -> str:
    """``"Model"`` or ``"MultiFilterModel"``; ``TypeError`` for anything else."""
    from ..models import ModelFamily

    if not isinstance(model, ModelFamily):
        raise TypeError(f"model must be a popgrad.Model or popgrad.MultiFilterModel, got {type(model).__name__}")
    return type(model).__name__


def activation_kind(activation: Activation) -> str:
    """``"binary"`` for the paper's step, ``"staircase"`` for any other activation."""
    return "binary" if activation.is_binary else "staircase"


def ste_kind(ste: STE) -> str:
    """``"piecewise_constant"`` for an STE with ``pieces`` (the named ones included), else ``"custom"``."""
    return "custom" if ste.pieces is None else "piecewise_constant"


class Engine:
    """An engine: its name, option defaults, what it supports and how it computes.

    Subclasses set :attr:`name`, :attr:`defaults` and :attr:`variants` (option sets shown separately in the
    capability table, e.g. the quadrature backends) and implement :meth:`refusal` and :meth:`compute`.
    """

    name: str = ""
    defaults: ClassVar[dict] = {}
    variants: ClassVar[tuple[dict, ...]] = ({},)

    def options(self, given: dict) -> dict:
        """``given`` with defaults filled in; unknown names raise ``TypeError``."""
        unknown = sorted(set(given) - set(self.defaults))
        if unknown:
            raise TypeError(f"engine {self.name!r} takes the options {sorted(self.defaults)}, not {unknown}")
        return {**self.defaults, **given}

    def refusal(self, model: str, activation: str, ste: str, options: dict) -> str | None:
        """None if the engine computes this combination with these options, else the reason it does not."""
        raise NotImplementedError

    def compute(
        self, model: ModelFamily, v: ArrayLike, w: ArrayLike, stes: tuple[STE, ...], options: dict
    ) -> dict[str, Expectations]:
        """``{ste.name: Expectations}`` at the point(s) ``(v, w)``."""
        raise NotImplementedError

    def supported(self, options: dict) -> list[str]:
        """The combinations ``model/activation/ste kind`` supported with these options."""
        return [
            f"{m}/{a}/{s}"
            for m in MODEL_KINDS
            for a in ACTIVATION_KINDS
            for s in STE_KINDS
            if self.refusal(m, a, s, options) is None
        ]


def check_supported(engine: Engine, model: ModelFamily, ste: STE, options: dict) -> None:
    """Raise ``NotImplementedError`` (naming engine, model, activation, STE and what is supported) if refused."""
    kinds = (model_kind(model), activation_kind(model.activation), ste_kind(ste))
    reason = engine.refusal(*kinds, options)
    if reason is not None:
        shown = {k: options[k] for v in engine.variants for k in v}
        opts = f" with {shown}" if shown else ""
        raise NotImplementedError(
            f"engine {engine.name!r}{opts} cannot compute {kinds[0]} with activation {model.activation.name} "
            f"and STE {ste.name!r} ({kinds[2]}): {reason}. It supports (model/activation/STE kind): "
            f"{', '.join(engine.supported(options)) or 'nothing with these options'}"
        )


def capability_table(engines: Iterable[Engine]) -> list[dict[str, str]]:
    """Every (engine, variant, model, activation, STE kind) with ``"supported"`` or the refusal reason."""
    rows = []
    for eng in engines:
        for variant in eng.variants:
            opts = {**eng.defaults, **variant}
            for m in MODEL_KINDS:
                for a in ACTIVATION_KINDS:
                    for s in STE_KINDS:
                        reason = eng.refusal(m, a, s, opts)
                        rows.append(
                            {
                                "engine": eng.name,
                                "options": ", ".join(f"{k}={v}" for k, v in variant.items()),
                                "model": m,
                                "activation": a,
                                "ste": s,
                                "status": "supported" if reason is None else reason,
                            }
                        )
    return rows
