"""Modules of the embedding family; each ``forward`` is one call to :mod:`losskit.functional.embedding`."""

from __future__ import annotations

__all__: list[str] = []
