"""Segmentation losses on masks: Dice, Jaccard, Tversky, Lovasz."""

from __future__ import annotations

__all__: list[str] = []
