"""Classification under class imbalance and label noise: focal, sigmoid focal, poly, asymmetric and generalized
cross-entropy.
"""

from __future__ import annotations

__all__: list[str] = []
