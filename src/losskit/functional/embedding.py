"""Triplet losses of torch.nn on anchor, positive and negative embeddings."""

from __future__ import annotations

__all__: list[str] = []
