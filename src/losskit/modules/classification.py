"""Modules of the classification family; each ``forward`` is one call to :mod:`losskit.functional.classification`."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from torch import Tensor, nn

from .. import _validation as V
from ..functional import classification as CF
from ._base import Loss

if TYPE_CHECKING:
    from torch.nn import LinearCrossEntropyOptions

__all__ = ["BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss", "LinearCrossEntropyLoss", "NLLLoss"]


def _check_floating_option(owner: str, arg: str, t: Tensor | None) -> None:
    """A tensor option of a constructor (weights) is a floating tensor; its shape is checked at the call."""
    if t is not None:
        V.check_tensor(owner, arg, t)
        V.check_floating(owner, arg, t, role="weights")


def _check_class_weight(owner: str, weight: Tensor | None) -> None:
    """Class weights given to a constructor: a floating 1-D tensor (its length is checked against the input)."""
    if weight is None:
        return
    _check_floating_option(owner, "weight", weight)
    if weight.dim() != 1:
        raise V.LossShapeError(
            f"{owner}: weight must be a 1-D tensor of one weight per class, but got shape {V.shape_str(weight)}; "
            "pass a tensor of shape (C,)"
        )


class CrossEntropyLoss(Loss):
    """Cross-entropy of logits against class indices or probabilities; see :func:`losskit.functional.cross_entropy`.

    Example:
        >>> import torch, losskit as lk
        >>> loss = lk.CrossEntropyLoss(label_smoothing=0.1)
        >>> print(round(float(loss(torch.tensor([[2.0, 0.5, -1.0]]), torch.tensor([0]))), 4))
        0.3913
    """

    family = "classification"
    functional = staticmethod(CF.cross_entropy)
    weight: Tensor | None  # a buffer

    def __init__(
        self,
        weight: Tensor | None = None,
        *,
        ignore_index: int = -100,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(reduction=reduction)
        _check_class_weight(type(self).__name__, weight)
        V.check_ignore_index(type(self).__name__, ignore_index)
        self.ignore_index = ignore_index
        self.label_smoothing = V.check_unit_interval(type(self).__name__, "label_smoothing", label_smoothing)
        self._buffer("weight", weight)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return CF.cross_entropy(
            input, target, self.weight, ignore_index=self.ignore_index, reduction=self.reduction,
            label_smoothing=self.label_smoothing,
        )


class NLLLoss(Loss):
    """Negative log-likelihood of class indices under log-probabilities; see :func:`losskit.functional.nll_loss`.

    Example:
        >>> import torch, losskit as lk
        >>> logp = torch.tensor([[2.0, 0.5, -1.0]]).log_softmax(1)
        >>> print(round(float(lk.NLLLoss()(logp, torch.tensor([0]))), 4))
        0.2413
    """

    family = "classification"
    functional = staticmethod(CF.nll_loss)
    weight: Tensor | None  # a buffer

    def __init__(self, weight: Tensor | None = None, *, ignore_index: int = -100, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        _check_class_weight(type(self).__name__, weight)
        V.check_ignore_index(type(self).__name__, ignore_index)
        self.ignore_index = ignore_index
        self._buffer("weight", weight)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return CF.nll_loss(input, target, self.weight, ignore_index=self.ignore_index, reduction=self.reduction)


class BCELoss(Loss):
    """Binary cross-entropy of probabilities and 0/1 targets; see :func:`losskit.functional.binary_cross_entropy`.

    Example:
        >>> import torch, losskit as lk
        >>> print(round(float(lk.BCELoss()(torch.tensor([0.9, 0.2]), torch.tensor([1.0, 0.0]))), 4))
        0.1643
    """

    family = "classification"
    functional = staticmethod(CF.binary_cross_entropy)
    weight: Tensor | None  # a buffer

    def __init__(self, weight: Tensor | None = None, *, reduction: str = "mean", label_smoothing: float = 0.0) -> None:
        super().__init__(reduction=reduction)
        self.label_smoothing = V.check_unit_interval(type(self).__name__, "label_smoothing", label_smoothing)
        _check_floating_option(type(self).__name__, "weight", weight)
        self._buffer("weight", weight)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return CF.binary_cross_entropy(
            input, target, self.weight, reduction=self.reduction, label_smoothing=self.label_smoothing
        )


class BCEWithLogitsLoss(Loss):
    """Binary cross-entropy on logits; see :func:`losskit.functional.binary_cross_entropy_with_logits`.

    Example:
        >>> import torch, losskit as lk
        >>> loss = lk.BCEWithLogitsLoss(pos_weight=torch.tensor([3.0]))
        >>> print(round(float(loss(torch.tensor([[2.0], [-1.0]]), torch.tensor([[1.0], [0.0]]))), 4))
        0.347
    """

    family = "classification"
    functional = staticmethod(CF.binary_cross_entropy_with_logits)
    weight: Tensor | None  # a buffer
    pos_weight: Tensor | None

    def __init__(
        self,
        weight: Tensor | None = None,
        *,
        pos_weight: Tensor | None = None,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
        ignore_index: float | None = None,
    ) -> None:
        super().__init__(reduction=reduction)
        self.label_smoothing = V.check_unit_interval(type(self).__name__, "label_smoothing", label_smoothing)
        if ignore_index is not None and not V.is_number(ignore_index):
            raise V.LossTypeError(
                f"{type(self).__name__}: ignore_index must be a number or None, but got {ignore_index!r}; "
                "pass e.g. ignore_index=255"
            )
        self.ignore_index = ignore_index
        _check_floating_option(type(self).__name__, "weight", weight)
        _check_floating_option(type(self).__name__, "pos_weight", pos_weight)
        self._buffer("weight", weight)
        self._buffer("pos_weight", pos_weight)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return CF.binary_cross_entropy_with_logits(
            input, target, self.weight, pos_weight=self.pos_weight, reduction=self.reduction,
            label_smoothing=self.label_smoothing, ignore_index=self.ignore_index,
        )


class LinearCrossEntropyLoss(Loss):
    """A linear classifier head and its cross-entropy in one; see :func:`losskit.functional.linear_cross_entropy`.

    The Module owns the head's weight (and bias).

    Mirrors ``torch.nn.LinearCrossEntropyLoss`` of torch 2.13: the head is ``self.linear``, an
    ``nn.Linear(in_features, num_classes * prod(out_features), bias=bias)`` initialised as ``nn.Linear`` does,
    so a torch ``state_dict`` loads as it is. ``ignore_index`` defaults to -100 (torch: ``None``, the same for
    class indices; ``None`` is accepted).

    Example:
        >>> import torch, losskit as lk
        >>> _ = torch.manual_seed(0)
        >>> head = lk.LinearCrossEntropyLoss(4, 3)
        >>> tuple(head.linear.weight.shape)
        (3, 4)
        >>> loss = head(torch.randn(5, 4), torch.tensor([0, 2, 1, 1, 0]))
        >>> print(loss.dim(), bool(loss > 0))
        0 True
    """

    family = "classification"
    functional = staticmethod(CF.linear_cross_entropy)
    weight: Tensor | None  # a buffer
    _repr_skip = frozenset({"device", "dtype"})  # the head's, shown by its own repr

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        *,
        out_features: tuple[int, ...] = (),
        bias: bool = False,
        device=None,
        dtype=None,
        reduction: str = "mean",
        weight: Tensor | None = None,
        ignore_index: int | None = -100,
        label_smoothing: float = 0.0,
        options: LinearCrossEntropyOptions | None = None,
    ) -> None:
        super().__init__(reduction=reduction)
        owner = type(self).__name__
        V.check_vector(owner, "weight", weight, num_classes)
        ignore_index = -100 if ignore_index is None else ignore_index
        V.check_ignore_index(owner, ignore_index)
        self.num_classes = num_classes
        self.out_features = tuple(out_features)
        self.ignore_index = ignore_index
        self.label_smoothing = V.check_unit_interval(owner, "label_smoothing", label_smoothing)
        self.options = options
        self.linear = nn.Linear(
            in_features, math.prod(self.out_features, start=num_classes), bias=bias, device=device, dtype=dtype
        )
        self._buffer("weight", weight)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        shape = (self.num_classes, *self.out_features)
        bias = self.linear.bias
        return CF.linear_cross_entropy(
            input,
            self.linear.weight.view(*shape, self.linear.in_features),
            target,
            linear_bias=None if bias is None else bias.view(shape),
            weight=self.weight,
            reduction=self.reduction,
            ignore_index=self.ignore_index,
            label_smoothing=self.label_smoothing,
            options=self.options,
        )

    def _option_value(self, name: str) -> object:
        if name == "in_features":
            return self.linear.in_features
        if name == "bias":
            return self.linear.bias is not None
        return super()._option_value(name)
