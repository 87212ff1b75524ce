"""Modules of the detection family; each ``forward`` is one call to :mod:`losskit.functional.detection`."""

from __future__ import annotations

__all__: list[str] = []
