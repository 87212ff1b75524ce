"""The base of every losskit Module: it stores options, registers tensor options as buffers, and its
``forward`` is one call to the loss's functional (the functional is the canonical documentation)."""

from __future__ import annotations

import re
from typing import ClassVar

from torch import Tensor, nn

from .. import _validation as V

__all__ = ["Loss"]


class Loss(nn.Module):
    """Base class of the losskit Modules.

    Subclasses set ``family`` (one of the catalog's families) and ``functional`` (the function their
    ``forward`` calls), store their options in ``__init__`` and keep ``forward`` to one call.
    """

    family: ClassVar[str] = ""
    functional: ClassVar[object] = None
    reductions: ClassVar[tuple[str, ...]] = V.REDUCTIONS

    def __init__(self, *, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = V.check_reduction(type(self).__name__, reduction, self.reductions)

    def _buffer(self, name: str, value: Tensor | None) -> None:
        """Register an optional tensor option as a buffer (moves with ``.to()``, saved in ``state_dict``)."""
        if value is not None:
            V.check_tensor(type(self).__name__, name, value)
        self.register_buffer(name, value)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"

    @classmethod
    def summary(cls) -> str:
        """The first line of the class docstring."""
        first = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        return re.split(r";\s*see\b", first)[0].rstrip(". ") + "."
