"""Modules of the margin family; each ``forward`` is one call to :mod:`losskit.functional.margin`."""

from __future__ import annotations

__all__: list[str] = []
