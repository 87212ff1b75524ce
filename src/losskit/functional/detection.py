"""Bounding-box regression losses: generalized, distance and complete IoU."""

from __future__ import annotations

__all__: list[str] = []
