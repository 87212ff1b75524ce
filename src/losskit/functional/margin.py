"""Margin losses of torch.nn: soft margin, multi-label soft margin, multi-class and multi-label margin, hinge
embedding, margin ranking, cosine embedding.
"""

from __future__ import annotations

__all__: list[str] = []
