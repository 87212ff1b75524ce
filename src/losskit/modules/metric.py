"""Modules of the metric family; each ``forward`` is one call to :mod:`losskit.functional.metric`."""

from __future__ import annotations

__all__: list[str] = []
