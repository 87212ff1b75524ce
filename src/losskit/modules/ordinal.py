"""Modules of the ordinal family; each ``forward`` is one call to :mod:`losskit.functional.ordinal`."""

from __future__ import annotations

from torch import Tensor

from ..functional import ordinal as OF
from ._base import Loss

__all__ = ["CoralLoss"]


class CoralLoss(Loss):
    """Ordinal loss by extended binary classification (CORAL); see :func:`losskit.functional.coral_loss`.

    ``weight`` (the importance of each of the K - 1 thresholds) is a buffer.

    Example:
        >>> import torch, losskit as lk
        >>> x = torch.tensor([[2.0, -1.0], [0.5, 0.5]])  # 3 ordered classes: 2 thresholds
        >>> print(round(float(lk.CoralLoss()(x, torch.tensor([1, 2]))), 4))
        0.6942
    """

    family = "ordinal"
    functional = staticmethod(OF.coral_loss)

    def __init__(self, weight: Tensor | None = None, *, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        self._buffer("weight", weight)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return OF.coral_loss(input, target, self.weight, reduction=self.reduction)
