"""Modules of the sequence family; each ``forward`` is one call to :mod:`losskit.functional.sequence`."""

from __future__ import annotations

__all__: list[str] = []
