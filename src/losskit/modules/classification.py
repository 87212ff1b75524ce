"""Modules of the classification family; each ``forward`` is one call to :mod:`losskit.functional.classification`."""

from __future__ import annotations

__all__: list[str] = []
