"""The baselines losskit is measured against: the implementations people use when they do not use losskit.

For torch's own losses the baseline is torch itself (``torch.nn.functional``). For the others it is the textbook
code found in tutorials and peer libraries, written here once from its published formula and shared by the
benchmarks and the fused-path tests (so the speed-up is measured against the same numbers the tests check):

* :func:`tutorial_focal_loss`: the ``FocalLoss`` of the usual tutorials,
  ``ce = cross_entropy(reduction="none"); pt = exp(-ce); (alpha * (1 - pt) ** gamma * ce).mean()``;
* :func:`torchvision_sigmoid_focal_loss`: the formula of torchvision's ``ops.sigmoid_focal_loss``
  (Lin et al., 2017), as it is documented there;
* :func:`soft_dice_loss`: the usual binary soft Dice over the whole batch,
  ``1 - (2 sum(p t) + s) / (sum(p) + sum(t) + s)`` with ``p = sigmoid(x)``;
* :func:`naive_linear_cross_entropy`: ``cross_entropy(h @ W.T + b, target)``, which materialises the logits.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "naive_linear_cross_entropy",
    "soft_dice_loss",
    "torchvision_sigmoid_focal_loss",
    "tutorial_focal_loss",
]


def tutorial_focal_loss(input: Tensor, target: Tensor, *, alpha: float = 1.0, gamma: float = 2.0) -> Tensor:
    """The tutorial ``FocalLoss``: focal term from ``pt = exp(-ce)``, mean over the rows."""
    ce = F.cross_entropy(input, target, reduction="none")
    pt = torch.exp(-ce)
    return (alpha * (1 - pt) ** gamma * ce).mean()


def torchvision_sigmoid_focal_loss(
    input: Tensor, target: Tensor, *, alpha: float = 0.25, gamma: float = 2.0, reduction: str = "mean"
) -> Tensor:
    """torchvision's ``sigmoid_focal_loss`` formula: ``alpha_t * (1 - p_t) ** gamma * bce``; ``alpha < 0`` turns
    the class balance off."""
    p = torch.sigmoid(input)
    ce = F.binary_cross_entropy_with_logits(input, target, reduction="none")
    p_t = p * target + (1 - p) * (1 - target)
    loss = ce * ((1 - p_t) ** gamma)
    if alpha >= 0:
        loss = (alpha * target + (1 - alpha) * (1 - target)) * loss
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def soft_dice_loss(input: Tensor, target: Tensor, *, smooth: float = 1.0) -> Tensor:
    """The usual binary soft Dice loss on logits, statistics over the whole batch."""
    p = torch.sigmoid(input)
    intersection = (p * target).sum()
    cardinality = p.sum() + target.sum()
    return 1 - (2 * intersection + smooth) / (cardinality + smooth)


def naive_linear_cross_entropy(
    input: Tensor, linear_weight: Tensor, target: Tensor, *, linear_bias: Tensor | None = None, **options
) -> Tensor:
    """``cross_entropy(linear(input), target)``: the whole ``(N, V)`` logits tensor in memory."""
    return F.cross_entropy(F.linear(input, linear_weight, linear_bias), target, **options)
