"""The loss catalog: every losskit loss with its family, functional and one-line description."""

from __future__ import annotations

from dataclasses import dataclass

from . import modules
from .modules._base import Loss

__all__ = ["LossInfo", "list_losses"]


@dataclass(frozen=True)
class LossInfo:
    """One catalog row."""

    name: str
    """The Module's name, e.g. ``"CrossEntropyLoss"``."""
    functional: str
    """The functional's name in :mod:`losskit.functional`, e.g. ``"cross_entropy"``."""
    family: str
    """The family, e.g. ``"classification"``."""
    summary: str
    """The first line of the docstring."""


def list_losses(family: str | None = None) -> list[LossInfo]:
    """Every loss losskit exports, sorted by family and name; optionally one family only.

    Example:
        >>> import losskit as lk
        >>> [row.functional for row in lk.list_losses("distribution")]
        ['gaussian_nll_loss', 'kl_div', 'poisson_nll_loss']
    """
    rows = []
    for name in modules.__all__:
        cls = getattr(modules, name)
        if not (isinstance(cls, type) and issubclass(cls, Loss)) or not cls.family:
            continue
        fn = cls.functional
        rows.append(LossInfo(name, getattr(fn, "__name__", ""), cls.family, cls.summary()))
    rows.sort(key=lambda r: (r.family, r.name))
    return [r for r in rows if family is None or r.family == family]
