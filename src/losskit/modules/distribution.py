"""Modules of the distribution family; each ``forward`` is one call to :mod:`losskit.functional.distribution`."""

from __future__ import annotations

__all__: list[str] = []
