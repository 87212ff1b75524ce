"""Classification losses on logits, log-probabilities or probabilities: cross-entropy, NLL, binary cross-entropy,
linear cross-entropy.
"""

from __future__ import annotations

__all__: list[str] = []
