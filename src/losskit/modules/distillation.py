"""Modules of the distillation family; each ``forward`` is one call to :mod:`losskit.functional.distillation`."""

from __future__ import annotations

__all__: list[str] = []
