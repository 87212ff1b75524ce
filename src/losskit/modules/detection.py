"""Modules of the detection family; each ``forward`` is one call to :mod:`losskit.functional.detection`."""

from __future__ import annotations

from torch import Tensor

from .. import _validation as V
from ..functional import detection as DF
from ._base import Loss

__all__ = ["CompleteBoxIoULoss", "DistanceBoxIoULoss", "GeneralizedBoxIoULoss"]


class _BoxLoss(Loss):
    family = "detection"

    def __init__(self, *, eps: float = 1e-7, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        self.eps = V.check_positive(type(self).__name__, "eps", eps)


class GeneralizedBoxIoULoss(_BoxLoss):
    """Generalized IoU loss between matched boxes; see :func:`losskit.functional.generalized_box_iou_loss`.

    Example:
        >>> import torch, losskit as lk
        >>> pred, gt = torch.tensor([[0.0, 0.0, 1.0, 1.0]]), torch.tensor([[1.0, 1.0, 2.0, 2.0]])
        >>> print(round(float(lk.GeneralizedBoxIoULoss()(pred, gt)), 4))
        1.5
    """

    functional = staticmethod(DF.generalized_box_iou_loss)

    def forward(self, boxes1: Tensor, boxes2: Tensor) -> Tensor:
        return DF.generalized_box_iou_loss(boxes1, boxes2, eps=self.eps, reduction=self.reduction)


class DistanceBoxIoULoss(_BoxLoss):
    """Distance IoU loss between matched boxes; see :func:`losskit.functional.distance_box_iou_loss`.

    Example:
        >>> import torch, losskit as lk
        >>> pred, gt = torch.tensor([[0.0, 0.0, 1.0, 1.0]]), torch.tensor([[1.0, 1.0, 2.0, 2.0]])
        >>> print(round(float(lk.DistanceBoxIoULoss()(pred, gt)), 4))
        1.25
    """

    functional = staticmethod(DF.distance_box_iou_loss)

    def forward(self, boxes1: Tensor, boxes2: Tensor) -> Tensor:
        return DF.distance_box_iou_loss(boxes1, boxes2, eps=self.eps, reduction=self.reduction)


class CompleteBoxIoULoss(_BoxLoss):
    """Complete IoU loss between matched boxes; see :func:`losskit.functional.complete_box_iou_loss`.

    Example:
        >>> import torch, losskit as lk
        >>> pred, gt = torch.tensor([[0.0, 0.0, 2.0, 1.0]]), torch.tensor([[0.0, 0.0, 1.0, 1.0]])
        >>> print(round(float(lk.CompleteBoxIoULoss()(pred, gt)), 4))
        0.5532
    """

    functional = staticmethod(DF.complete_box_iou_loss)

    def forward(self, boxes1: Tensor, boxes2: Tensor) -> Tensor:
        return DF.complete_box_iou_loss(boxes1, boxes2, eps=self.eps, reduction=self.reduction)
