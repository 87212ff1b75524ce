"""Metric-learning and self-supervised losses on embeddings: contrastive, batch-hard triplet, InfoNCE, SupCon,
ArcFace, CosFace.
"""

from __future__ import annotations

__all__: list[str] = []
