"""Fast paths of losskit's losses: the gradient computed in the forward pass, chunk by chunk.

Each ``fused_<loss>`` function takes the public loss's signature plus ``inplace: bool = False`` and gives its
documented numbers; each ``supports_<loss>`` predicate says which calls it takes (dtype, device, options, size)
from metadata alone. The public functions in :mod:`losskit.functional` dispatch to them; call them directly to
use ``inplace=True``. The shared pattern and the backward step are described in :mod:`losskit.fused._common`; the
large gradient buffers are huge-page mappings kept for reuse between steps (:func:`empty_cache` releases the idle
ones, :func:`cache_info` reports them; see :mod:`losskit.fused._buffers`).

The fused Functions are differentiable once (like torch 2.13's chunked ``linear_cross_entropy``): code that
differentiates through a loss's gradient (``create_graph=True``) turns the dispatch off with
``losskit.fused.set_enabled(False)`` or ``with losskit.fused.use_fused(False):``; ``torch.compile`` and
:mod:`torch.func` transforms always get the reference path.
"""

from __future__ import annotations

from ._buffers import cache_info, empty_cache
from ._common import enabled, set_enabled, use_fused
from .cross_entropy import fused_cross_entropy, supports_cross_entropy
from .dice import fused_dice_loss, supports_dice_loss
from .focal import fused_focal_loss, fused_sigmoid_focal_loss, supports_focal_loss, supports_sigmoid_focal_loss
from .linear_cross_entropy import (
    LinearCrossEntropyResult,
    fused_linear_cross_entropy,
    fused_linear_cross_entropy_with_lse,
    supports_linear_cross_entropy,
)
from .pointwise import (
    fused_binary_cross_entropy_with_logits,
    fused_huber_loss,
    fused_l1_loss,
    fused_mse_loss,
    fused_smooth_l1_loss,
    supports_binary_cross_entropy_with_logits,
    supports_huber_loss,
    supports_l1_loss,
    supports_mse_loss,
    supports_smooth_l1_loss,
)
from .preference import PREFERENCE_LOSS_TYPES, fused_linear_preference_loss

__all__ = [
    "PREFERENCE_LOSS_TYPES",
    "LinearCrossEntropyResult",
    "cache_info",
    "empty_cache",
    "enabled",
    "fused_binary_cross_entropy_with_logits",
    "fused_cross_entropy",
    "fused_dice_loss",
    "fused_focal_loss",
    "fused_huber_loss",
    "fused_l1_loss",
    "fused_linear_cross_entropy",
    "fused_linear_cross_entropy_with_lse",
    "fused_linear_preference_loss",
    "fused_mse_loss",
    "fused_sigmoid_focal_loss",
    "fused_smooth_l1_loss",
    "set_enabled",
    "supports_binary_cross_entropy_with_logits",
    "supports_cross_entropy",
    "supports_dice_loss",
    "supports_focal_loss",
    "supports_huber_loss",
    "supports_l1_loss",
    "supports_linear_cross_entropy",
    "supports_mse_loss",
    "supports_sigmoid_focal_loss",
    "supports_smooth_l1_loss",
    "use_fused",
]
