"""Modules of the segmentation family; each ``forward`` is one call to :mod:`losskit.functional.segmentation`."""

from __future__ import annotations

__all__: list[str] = []
