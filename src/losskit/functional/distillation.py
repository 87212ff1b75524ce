"""Distribution matching and knowledge distillation: Jensen-Shannon divergence, distillation loss."""

from __future__ import annotations

__all__: list[str] = []
