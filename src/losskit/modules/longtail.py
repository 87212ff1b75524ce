"""Modules of the long-tail family; each ``forward`` is one call to :mod:`losskit.functional.longtail`
(:class:`EqualizationLossV2` then adds the batch to its gradient statistics, :class:`LDAMLoss` can switch its
class weights by epoch)."""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.distributed as dist
from torch import Tensor

from .. import _validation as V
from ..functional import longtail as TF
from ..weights import drw_weights
from ._base import Loss

__all__ = ["BalancedSoftmaxLoss", "ClassBalancedFocalLoss", "EqualizationLossV2", "LDAMLoss", "LogitAdjustmentLoss"]


class LogitAdjustmentLoss(Loss):
    """Logit-adjusted cross-entropy, logits shifted by tau log(prior); see
    :func:`losskit.functional.logit_adjustment_loss`.

    ``class_priors`` is a buffer.

    Example:
        >>> import torch, losskit as lk
        >>> loss = lk.LogitAdjustmentLoss(torch.tensor([100, 10, 1]))
        >>> print(round(float(loss(torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]]), torch.tensor([0, 1]))), 4))
        1.2408
    """

    family = "longtail"
    functional = staticmethod(TF.logit_adjustment_loss)
    class_priors: Tensor

    def __init__(
        self, class_priors: Tensor, *, tau: float = 1.0, ignore_index: int = -100, reduction: str = "mean"
    ) -> None:
        super().__init__(reduction=reduction)
        TF._la_options(type(self).__name__, tau)
        self._buffer("class_priors", class_priors)
        self.tau = tau
        self.ignore_index = ignore_index

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return TF.logit_adjustment_loss(
            input, target, self.class_priors, tau=self.tau, ignore_index=self.ignore_index, reduction=self.reduction
        )


class BalancedSoftmaxLoss(Loss):
    """Balanced softmax, cross-entropy of the softmax reweighted by the class counts; see
    :func:`losskit.functional.balanced_softmax_loss`.

    ``class_counts`` is a buffer.

    Example:
        >>> import torch, losskit as lk
        >>> loss = lk.BalancedSoftmaxLoss(torch.tensor([100, 10, 1]))
        >>> print(round(float(loss(torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]]), torch.tensor([0, 1]))), 4))
        1.2408
    """

    family = "longtail"
    functional = staticmethod(TF.balanced_softmax_loss)
    class_counts: Tensor

    def __init__(self, class_counts: Tensor, *, ignore_index: int = -100, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        self._buffer("class_counts", class_counts)
        self.ignore_index = ignore_index

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return TF.balanced_softmax_loss(
            input, target, self.class_counts, ignore_index=self.ignore_index, reduction=self.reduction
        )


class LDAMLoss(Loss):
    """LDAM loss, cross-entropy with per-class margins proportional to n^(-1/4); see
    :func:`losskit.functional.ldam_loss`.

    ``class_counts`` and ``weight`` are buffers. Deferred re-weighting: with ``drw_start_epoch`` set, call
    ``set_epoch(epoch)`` at the start of every epoch; ``weight`` is then :func:`losskit.weights.drw_weights`
    (1 for every class before ``drw_start_epoch``, the effective-number weights with ``drw_beta`` from then on),
    the authors' LDAM-DRW schedule.

    Example:
        >>> import torch, losskit as lk
        >>> loss = lk.LDAMLoss(torch.tensor([100, 10, 1]), drw_start_epoch=160)
        >>> x = torch.tensor([[0.8, 0.1, -0.3], [0.1, 0.2, 0.6]])
        >>> print(round(float(loss(x, torch.tensor([0, 2]))), 4))
        1.5475
        >>> loss.set_epoch(160)
        >>> print(round(float(loss(x, torch.tensor([0, 2]))), 4))
        3.0641
    """

    family = "longtail"
    functional = staticmethod(TF.ldam_loss)
    class_counts: Tensor
    weight: Tensor | None

    def __init__(
        self,
        class_counts: Tensor,
        weight: Tensor | None = None,
        *,
        max_m: float = 0.5,
        s: float = 30.0,
        drw_start_epoch: int | None = None,
        drw_beta: float = 0.9999,
        ignore_index: int = -100,
        reduction: str = "mean",
    ) -> None:
        super().__init__(reduction=reduction)
        name = type(self).__name__
        TF._ldam_options(name, max_m, s)
        if drw_start_epoch is not None:
            if weight is not None:
                raise V.LossOptionError(
                    f"{name}: weight must be None when drw_start_epoch is set (the schedule sets the weights), but "
                    "got a tensor; pass either weight= or drw_start_epoch="
                )
            weight = drw_weights(class_counts, 0, start_epoch=drw_start_epoch, beta=drw_beta).to(class_counts.device)
        self._buffer("class_counts", class_counts)
        self._buffer("weight", weight)
        self.max_m = max_m
        self.s = s
        self.drw_start_epoch = drw_start_epoch
        self.drw_beta = drw_beta
        self.ignore_index = ignore_index

    def set_epoch(self, epoch: int) -> None:
        """Set ``weight`` to the DRW weights of ``epoch`` (requires ``drw_start_epoch``)."""
        if self.drw_start_epoch is None:
            raise V.LossOptionError(
                f"{type(self).__name__}: set_epoch needs drw_start_epoch, but got drw_start_epoch=None; construct "
                "the loss with drw_start_epoch=160 (the authors' CIFAR schedule) to use deferred re-weighting"
            )
        weights = drw_weights(self.class_counts, epoch, start_epoch=self.drw_start_epoch, beta=self.drw_beta)
        dtype = weights.dtype if self.weight is None else self.weight.dtype
        self.weight = weights.to(device=self.class_counts.device, dtype=dtype)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return TF.ldam_loss(
            input, target, self.class_counts, self.weight, max_m=self.max_m, s=self.s,
            ignore_index=self.ignore_index, reduction=self.reduction,
        )


class ClassBalancedFocalLoss(Loss):
    """Class-balanced focal loss, weighted by the inverse effective number of samples; see
    :func:`losskit.functional.class_balanced_focal_loss`.

    ``class_counts`` is a buffer.

    Example:
        >>> import torch, losskit as lk
        >>> loss = lk.ClassBalancedFocalLoss(torch.tensor([100, 10, 1]), beta=0.99)
        >>> print(round(float(loss(torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]]), torch.tensor([0, 1]))), 4))
        2.2617
    """

    family = "longtail"
    functional = staticmethod(TF.class_balanced_focal_loss)
    class_counts: Tensor

    def __init__(
        self,
        class_counts: Tensor,
        *,
        beta: float = 0.9999,
        gamma: float = 2.0,
        head: str = "softmax",
        ignore_index: int = -100,
        reduction: str = "mean",
    ) -> None:
        super().__init__(reduction=reduction)
        TF._cb_options(type(self).__name__, beta, gamma, head)
        self._buffer("class_counts", class_counts)
        self.beta = beta
        self.gamma = gamma
        self.head = head
        self.ignore_index = ignore_index

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return TF.class_balanced_focal_loss(
            input, target, self.class_counts, beta=self.beta, gamma=self.gamma, head=self.head,
            ignore_index=self.ignore_index, reduction=self.reduction,
        )


class EqualizationLossV2(Loss):
    """Equalization loss v2 for sigmoid heads, reweighted by accumulated gradient statistics; see
    :func:`losskit.functional.equalization_loss_v2`.

    A stateful loss: the buffers ``pos_grad`` and ``neg_grad`` (``(num_classes,)``, float32, zeros unless given)
    hold the accumulated gradient statistics. Each call in training mode computes the loss with the current
    statistics, then adds the batch's (:func:`losskit.functional.longtail.equalization_statistics`, summed over
    processes when ``torch.distributed`` is initialised, as the authors do). ``loss.eval()`` freezes them;
    ``reset_statistics()`` zeroes them. They are saved in ``state_dict``, so a resumed run continues with them.
    ``num_classes`` counts the classes with statistics (without the background channel).

    Example:
        >>> import torch, losskit as lk
        >>> loss = lk.EqualizationLossV2(3)
        >>> x, y = torch.tensor([[2.0, -1.0, -3.0], [-1.0, 1.5, -2.0]]), torch.tensor([0, 1])
        >>> first = loss(x, y)            # no statistics yet: weights 1 (binary cross-entropy summed over classes)
        >>> print(round(float(first), 4), loss.pos_grad)
        0.5652 tensor([0.1192, 0.1824, 0.0000])
    """

    family = "longtail"
    functional = staticmethod(TF.equalization_loss_v2)
    pos_grad: Tensor
    neg_grad: Tensor
    _repr_skip: ClassVar[frozenset[str]] = frozenset({"pos_grad", "neg_grad"})  # the state, not options

    def __init__(
        self,
        num_classes: int,
        pos_grad: Tensor | None = None,
        neg_grad: Tensor | None = None,
        *,
        gamma: float = 12.0,
        mu: float = 0.8,
        alpha: float = 4.0,
        background_channel: bool = False,
        ignore_index: int = -100,
        reduction: str = "mean",
    ) -> None:
        super().__init__(reduction=reduction)
        name = type(self).__name__
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise V.LossOptionError(
                f"{name}: num_classes must be an int >= 1, but got {num_classes!r}; pass the number of classes "
                "(without the background channel)"
            )
        TF._eql_options(name, gamma, mu, alpha, background_channel)
        for arg, value in (("pos_grad", pos_grad), ("neg_grad", neg_grad)):
            V.check_vector(name, arg, value, num_classes, what="one per class")
        self._buffer("pos_grad", torch.zeros(num_classes) if pos_grad is None else pos_grad.detach().clone())
        self._buffer("neg_grad", torch.zeros(num_classes) if neg_grad is None else neg_grad.detach().clone())
        self.num_classes = num_classes
        self.gamma = gamma
        self.mu = mu
        self.alpha = alpha
        self.background_channel = background_channel
        self.ignore_index = ignore_index


    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        loss = TF.equalization_loss_v2(
            input, target, self.pos_grad, self.neg_grad, gamma=self.gamma, mu=self.mu, alpha=self.alpha,
            background_channel=self.background_channel, ignore_index=self.ignore_index, reduction=self.reduction,
        )
        if self.training:
            self.update_statistics(input, target)
        return loss

    @torch.no_grad()
    def update_statistics(self, input: Tensor, target: Tensor) -> None:
        """Add the gradient statistics of one batch (called by ``forward`` in training mode)."""
        pos, neg = TF.equalization_statistics(
            input, target, self.pos_grad, self.neg_grad, gamma=self.gamma, mu=self.mu, alpha=self.alpha,
            background_channel=self.background_channel, ignore_index=self.ignore_index,
        )
        pos, neg = pos.to(self.pos_grad.dtype), neg.to(self.neg_grad.dtype)
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            dist.all_reduce(pos)
            dist.all_reduce(neg)
        self.pos_grad += pos
        self.neg_grad += neg

    def reset_statistics(self) -> None:
        """Zero the accumulated statistics."""
        self.pos_grad.zero_()
        self.neg_grad.zero_()
