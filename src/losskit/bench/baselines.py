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
* :func:`naive_linear_cross_entropy`: ``cross_entropy(h @ W.T + b, target)``, which materialises the logits;
* :func:`naive_linear_preference_loss`: ``h @ W.T + b`` for the chosen and the rejected sequences, then
  :func:`losskit.preference.sequence_log_probs` and the preference loss (the ``(B, T, V)`` logits in memory).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "naive_linear_cross_entropy",
    "naive_linear_preference_loss",
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


def naive_linear_preference_loss(
    hidden_chosen: Tensor,
    hidden_rejected: Tensor,
    weight: Tensor,
    labels_chosen: Tensor,
    labels_rejected: Tensor,
    *,
    loss_type: str = "dpo",
    ref_logps_chosen: Tensor | None = None,
    ref_logps_rejected: Tensor | None = None,
    kl: Tensor | None = None,
    bias: Tensor | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    **options,
) -> Tensor:
    """The LM head, then the per-sequence log-probabilities, then the loss: the form
    :func:`losskit.fused.fused_linear_preference_loss` computes without the logits (same arguments; ``options``
    are the loss's own, e.g. ``beta``). IPO, ORPO and SimPO get per-token averages (IPO's references, given as
    sums, divided by the same counts), CPO the chosen token counts."""
    import losskit.functional as LF
    from losskit.preference import sequence_log_probs

    def logps(h: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        total = sequence_log_probs(F.linear(h, weight, bias), y, ignore_index=ignore_index)
        return total, (y != ignore_index).sum(1)

    (pc, nc), (pr, nr) = logps(hidden_chosen, labels_chosen), logps(hidden_rejected, labels_rejected)
    rc, rr = ref_logps_chosen, ref_logps_rejected
    if loss_type in ("dpo", "robust"):
        kind = "sigmoid" if loss_type == "dpo" else "robust"
        return LF.dpo_loss(pc, pr, rc, rr, loss_type=kind, reference_free=rc is None, reduction=reduction, **options)
    if loss_type == "cpo":
        return LF.cpo_loss(pc, pr, nc, reduction=reduction, **options)
    if loss_type == "kto":
        assert rc is not None and rr is not None and kl is not None
        return LF.kto_loss(pc, pr, rc, rr, kl, reduction=reduction, **options)
    ac, ar = pc / nc.clamp_min(1), pr / nr.clamp_min(1)
    if loss_type == "ipo":
        assert rc is not None and rr is not None
        return LF.ipo_loss(ac, ar, rc / nc.clamp_min(1), rr / nr.clamp_min(1), reduction=reduction, **options)
    fn = LF.orpo_loss if loss_type == "orpo" else LF.simpo_loss
    return fn(ac, ar, reduction=reduction, **options)
