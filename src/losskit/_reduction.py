"""The one reduction helper every losskit loss uses, and the one meaning of a weighted mean.

``reduction="none"`` returns the per-element losses, ``"sum"`` their sum and ``"mean"`` their
average. Two rules hold for every loss in losskit:

**A mean over nothing is 0.** An empty batch, or a batch whose targets all equal ``ignore_index`` (or
whose weights are all 0), gives ``0.`` with a zero gradient, where torch gives ``nan``.

**A weighted mean is a weighted average.** When a loss takes weights, whether per class (selected by
each element's target, as in ``cross_entropy``) or per element (as in ``mse_loss``'s ``weight``),
``reduction="mean"`` returns

.. math::
    \\ell = \\frac{\\sum_i w_i \\, \\ell_i}{\\sum_i w_i},

the average in which element ``i`` counts ``w_i`` times; ``"sum"`` returns the numerator and
``"none"`` the terms ``w_i \\ell_i``. Ignored elements have ``w_i = 0``. A mask passed as a weight
therefore gives the mean over the unmasked elements. torch uses this rule for ``cross_entropy``,
``nll_loss``, ``l1_loss`` and ``mse_loss`` but divides by the element count instead in
``binary_cross_entropy(_with_logits)``, ``huber_loss``, ``multi_margin_loss`` and
``multilabel_soft_margin_loss``; losskit applies the weighted average there too (the README lists
these differences). ``pos_weight`` is not a weight in this sense: it scales the positive term inside
the per-element loss, exactly as in torch.

**Precision.** Sums and means run in the dtype the loss computes in: float32 for float16/bfloat16 inputs and
under autocast, the input's own dtype otherwise (the rule of :mod:`losskit._precision`, applied by every public
loss); a weight of another floating dtype is cast to the terms' dtype here.

Example:
    >>> import torch
    >>> from losskit._reduction import reduce_loss
    >>> terms = torch.tensor([1.0, 2.0, 3.0])
    >>> float(reduce_loss(terms, "mean", weight=torch.tensor([1.0, 1.0, 0.0])))
    1.5
    >>> float(reduce_loss(torch.zeros(0), "mean"))
    0.0
"""

from __future__ import annotations

from typing import cast

import torch
from torch import Tensor

__all__ = ["NN_REDUCTION_ENUM", "REDUCTION_ENUM", "class_weight_total", "reduce_loss", "safe_divide"]

REDUCTION_ENUM: dict[str, int] = {"none": 0, "mean": 1, "sum": 2}
"""torch's int code of each reduction (``torch.nn._reduction.get_enum``), which its ATen loss functions take."""

NN_REDUCTION_ENUM = cast(dict[str, str], REDUCTION_ENUM)
"""The same codes, typed as the stubs of ``torch._C._nn.*`` (and ``torch.ctc_loss``) declare them (``str``)."""


def safe_divide(total: Tensor, count: Tensor | float | int) -> Tensor:
    """``total / count``, and ``total`` itself (which is then 0) where ``count`` is 0.

    No device sync, no data-dependent branch: safe under :func:`torch.compile`.
    """
    if isinstance(count, Tensor):
        count = count.to(total.dtype)
        return total / torch.where(count == 0, torch.ones_like(count), count)
    return total / count if count else total


def class_weight_total(valid: Tensor, safe_target: Tensor, weight: Tensor | None) -> Tensor:
    """The denominator of a class-weighted mean: the number of ``valid`` (non-ignored) targets, or the sum of
    their class weights. ``safe_target`` is the target with ignored entries replaced by a valid class index.

    Ignored entries contribute exactly 0 (selected away, never multiplied), as in torch's ``nll_loss``.
    """
    if weight is None:
        return valid.sum()
    return torch.where(valid, weight[safe_target], torch.zeros((), dtype=weight.dtype, device=weight.device)).sum()


def reduce_loss(
    loss: Tensor,
    reduction: str,
    *,
    weight: Tensor | None = None,
    denominator: Tensor | float | int | None = None,
) -> Tensor:
    """Reduce per-element losses.

    Args:
        loss: the per-element losses (ignored elements already 0).
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.
        weight: optional per-element weights, broadcastable to ``loss``; the terms become ``weight * loss``
            and the mean becomes the weighted average (module docstring).
        denominator: the count to divide the sum by for ``"mean"`` instead of ``loss.numel()``
            (or ``weight.sum()``), e.g. the number of non-ignored targets.

    Returns:
        ``loss`` (weighted) for ``"none"``, else a 0-dim tensor.
    """
    if weight is not None:
        loss = loss * (weight if weight.dtype == loss.dtype else weight.to(loss.dtype))
    if reduction == "none":
        return loss
    total = loss.sum()
    if reduction == "sum":
        return total
    if denominator is None:
        if weight is not None:
            denominator = torch.broadcast_to(weight, loss.shape).sum()
        else:
            denominator = loss.numel()
    return safe_divide(total, denominator)
