"""Modules of the imbalance family; each ``forward`` is one call to :mod:`losskit.functional.imbalance`."""

from __future__ import annotations

__all__: list[str] = []
