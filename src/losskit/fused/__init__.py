"""Fast paths of losskit's losses: the gradient computed in the forward pass, chunk by chunk.

Each ``fused_<loss>`` function takes the public loss's signature plus ``inplace: bool = False`` and gives its
documented numbers; each ``supports_<loss>`` predicate says which calls it takes (dtype, device, options, size)
from metadata alone. The public functions in :mod:`losskit.functional` dispatch to them; call them directly to
use ``inplace=True``. The shared pattern and the backward step are described in :mod:`losskit.fused._common`.
"""

from __future__ import annotations

from .cross_entropy import fused_cross_entropy, supports_cross_entropy

__all__ = ["fused_cross_entropy", "supports_cross_entropy"]
