"""Modules of the augmentation family; each ``forward`` is one call to :mod:`losskit.functional.augmentation`.

At their defaults they give the numbers of timm's losses of the same purpose (``SoftTargetCrossEntropy``,
``BinaryCrossEntropy``, ``JsdCrossEntropy``).
"""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor

from ..functional import augmentation as AF
from ._base import Loss

__all__ = ["JsdCrossEntropy", "SoftTargetBinaryCrossEntropy", "SoftTargetCrossEntropy"]


class SoftTargetCrossEntropy(Loss):
    """Cross-entropy against mixup/CutMix target distributions; see
    :func:`losskit.functional.soft_target_cross_entropy`.

    Example:
        >>> import torch, losskit as lk
        >>> x = torch.tensor([[2.0, 0.5, -1.0]])
        >>> print(round(float(lk.SoftTargetCrossEntropy()(x, torch.tensor([[0.7, 0.3, 0.0]]))), 4))
        0.6913
    """

    family = "augmentation"
    functional = staticmethod(AF.soft_target_cross_entropy)

    def __init__(self, *, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return AF.soft_target_cross_entropy(input, target, reduction=self.reduction)


class SoftTargetBinaryCrossEntropy(Loss):
    """Binary cross-entropy per class for class-index or mixup/CutMix targets (timm's BinaryCrossEntropy); see
    :func:`losskit.functional.soft_target_binary_cross_entropy`.

    ``weight`` and ``pos_weight`` are buffers. timm's ``sum_classes=True`` is ``reduction="batchmean"``.

    Example:
        >>> import torch, losskit as lk
        >>> x = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
        >>> print(round(float(lk.SoftTargetBinaryCrossEntropy()(x, torch.tensor([0, 2]))), 4))
        0.5576
    """

    family = "augmentation"
    functional = staticmethod(AF.soft_target_binary_cross_entropy)
    reductions: ClassVar[tuple[str, ...]] = AF.BATCH_REDUCTIONS
    weight: Tensor | None
    pos_weight: Tensor | None

    def __init__(
        self,
        weight: Tensor | None = None,
        *,
        label_smoothing: float = 0.1,
        target_threshold: float | None = None,
        smooth_dense: bool = False,
        pos_weight: Tensor | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(reduction=reduction)
        AF._soft_bce_options(type(self).__name__, label_smoothing, target_threshold, smooth_dense)
        self._buffer("weight", weight)
        self._buffer("pos_weight", pos_weight)
        self.label_smoothing = label_smoothing
        self.target_threshold = target_threshold
        self.smooth_dense = smooth_dense

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return AF.soft_target_binary_cross_entropy(
            input, target, self.weight, label_smoothing=self.label_smoothing,
            target_threshold=self.target_threshold, smooth_dense=self.smooth_dense, pos_weight=self.pos_weight,
            reduction=self.reduction,
        )


class JsdCrossEntropy(Loss):
    """AugMix's loss, cross-entropy on clean images plus Jensen-Shannon consistency across views; see
    :func:`losskit.functional.jsd_cross_entropy`.

    Example:
        >>> import torch, losskit as lk
        >>> x = torch.tensor([[2.0, 0.5, -1.0], [1.0, 1.0, -1.0], [2.5, 0.0, 0.0]])  # clean, aug1, aug2
        >>> print(round(float(lk.JsdCrossEntropy()(x, torch.tensor([0]))), 4))
        1.3822
    """

    family = "augmentation"
    functional = staticmethod(AF.jsd_cross_entropy)

    def __init__(
        self, *, num_splits: int = 3, alpha: float = 12.0, label_smoothing: float = 0.1, reduction: str = "mean"
    ) -> None:
        super().__init__(reduction=reduction)
        AF._jsd_options(type(self).__name__, num_splits, alpha, label_smoothing)
        self.num_splits = num_splits
        self.alpha = alpha
        self.label_smoothing = label_smoothing

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return AF.jsd_cross_entropy(
            input, target, num_splits=self.num_splits, alpha=self.alpha, label_smoothing=self.label_smoothing,
            reduction=self.reduction,
        )
