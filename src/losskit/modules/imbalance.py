"""Modules of the imbalance family; each ``forward`` is one call to :mod:`losskit.functional.imbalance`."""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor

from ..functional import imbalance as IF
from ._base import Loss

__all__ = [
    "AsymmetricLoss",
    "AsymmetricLossSingleLabel",
    "FocalLoss",
    "GeneralizedCrossEntropyLoss",
    "PolyLoss",
    "SigmoidFocalLoss",
]


class FocalLoss(Loss):
    """Softmax focal loss for imbalanced multi-class targets; see :func:`losskit.functional.focal_loss`.

    ``weight`` and a tensor ``alpha`` are buffers (they follow ``.to()`` and ``state_dict``); a float ``alpha``
    is a plain attribute.

    Example:
        >>> import torch, losskit as lk
        >>> x = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
        >>> print(round(float(lk.FocalLoss(gamma=2.0)(x, torch.tensor([0, 1]))), 4))
        1.3061
    """

    family = "imbalance"
    functional = staticmethod(IF.focal_loss)
    weight: Tensor | None  # a buffer
    alpha: float | Tensor | None

    def __init__(
        self,
        weight: Tensor | None = None,
        *,
        gamma: float = 2.0,
        alpha: float | Tensor | None = None,
        ignore_index: int = -100,
        label_smoothing: float = 0.0,
        reduction: str = "mean",
    ) -> None:
        super().__init__(reduction=reduction)
        IF._focal_options(type(self).__name__, gamma, alpha, label_smoothing)
        self._buffer("weight", weight)
        if isinstance(alpha, Tensor):
            self._buffer("alpha", alpha)
        else:
            self.alpha = alpha
        self.gamma = gamma
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return IF.focal_loss(
            input, target, self.weight, gamma=self.gamma, alpha=self.alpha, ignore_index=self.ignore_index,
            label_smoothing=self.label_smoothing, reduction=self.reduction,
        )


class SigmoidFocalLoss(Loss):
    """Binary / multi-label focal loss on logits (torchvision's definition); see
    :func:`losskit.functional.sigmoid_focal_loss`.

    ``weight`` and ``pos_weight`` are buffers, as in ``torch.nn.BCEWithLogitsLoss``.

    Example:
        >>> import torch, losskit as lk
        >>> x, t = torch.tensor([-18.6, 0.51, 2.94, -12.8]), torch.tensor([0.0, 1.0, 0.0, 0.0])
        >>> print(round(float(lk.SigmoidFocalLoss()(x, t)), 4))
        0.5101
    """

    family = "imbalance"
    functional = staticmethod(IF.sigmoid_focal_loss)
    weight: Tensor | None  # a buffer
    pos_weight: Tensor | None

    def __init__(
        self,
        weight: Tensor | None = None,
        *,
        alpha: float = 0.25,
        gamma: float = 2.0,
        pos_weight: Tensor | None = None,
        label_smoothing: float = 0.0,
        reduction: str = "mean",
    ) -> None:
        super().__init__(reduction=reduction)
        IF._sigmoid_focal_options(type(self).__name__, alpha, gamma, label_smoothing)
        self._buffer("weight", weight)
        self._buffer("pos_weight", pos_weight)
        self.alpha = alpha
        self.gamma = gamma
        self.label_smoothing = label_smoothing

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return IF.sigmoid_focal_loss(
            input, target, self.weight, alpha=self.alpha, gamma=self.gamma, pos_weight=self.pos_weight,
            label_smoothing=self.label_smoothing, reduction=self.reduction,
        )


class PolyLoss(Loss):
    """Poly-1 loss, cross-entropy plus epsilon (1 - p_t); see :func:`losskit.functional.poly_loss`.

    Example:
        >>> import torch, losskit as lk
        >>> x = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
        >>> print(round(float(lk.PolyLoss(epsilon=1.0)(x, torch.tensor([0, 1]))), 4))
        2.1554
    """

    family = "imbalance"
    functional = staticmethod(IF.poly_loss)
    weight: Tensor | None  # a buffer

    def __init__(
        self,
        weight: Tensor | None = None,
        *,
        epsilon: float = 1.0,
        ignore_index: int = -100,
        label_smoothing: float = 0.0,
        reduction: str = "mean",
    ) -> None:
        super().__init__(reduction=reduction)
        IF._poly_options(type(self).__name__, epsilon, label_smoothing)
        self._buffer("weight", weight)
        self.epsilon = epsilon
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return IF.poly_loss(
            input, target, self.weight, epsilon=self.epsilon, ignore_index=self.ignore_index,
            label_smoothing=self.label_smoothing, reduction=self.reduction,
        )


class AsymmetricLoss(Loss):
    """Asymmetric loss (ASL) for multi-label classification; see :func:`losskit.functional.asymmetric_loss`.

    ``weight`` and ``pos_weight`` are buffers. ``AsymmetricLoss(gamma_pos=1.0, soft_focusing="shared",
    reduction="batchmean")`` gives the numbers of timm's ``AsymmetricLossMultiLabel()``.

    Example:
        >>> import torch, losskit as lk
        >>> x, t = torch.tensor([[2.0, -1.0, 0.5]]), torch.tensor([[1.0, 0.0, 0.0]])
        >>> print(round(float(lk.AsymmetricLoss(reduction="sum")(x, t)), 4))
        0.2187
    """

    family = "imbalance"
    functional = staticmethod(IF.asymmetric_loss)
    weight: Tensor | None  # a buffer
    pos_weight: Tensor | None
    reductions: ClassVar[tuple[str, ...]] = IF.ASYMMETRIC_REDUCTIONS

    def __init__(
        self,
        weight: Tensor | None = None,
        *,
        gamma_pos: float = 0.0,
        gamma_neg: float = 4.0,
        clip: float = 0.05,
        eps: float = 1e-8,
        pos_weight: Tensor | None = None,
        label_smoothing: float = 0.0,
        soft_focusing: str = "mix",
        disable_torch_grad_focal_loss: bool = False,
        reduction: str = "mean",
    ) -> None:
        super().__init__(reduction=reduction)
        IF._asymmetric_options(
            type(self).__name__, gamma_pos, gamma_neg, clip, eps, label_smoothing, soft_focusing,
            disable_torch_grad_focal_loss,
        )
        self._buffer("weight", weight)
        self._buffer("pos_weight", pos_weight)
        self.gamma_pos = gamma_pos
        self.gamma_neg = gamma_neg
        self.clip = clip
        self.eps = eps
        self.label_smoothing = label_smoothing
        self.soft_focusing = soft_focusing
        self.disable_torch_grad_focal_loss = disable_torch_grad_focal_loss

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return IF.asymmetric_loss(
            input, target, self.weight, gamma_pos=self.gamma_pos, gamma_neg=self.gamma_neg, clip=self.clip,
            eps=self.eps, pos_weight=self.pos_weight, label_smoothing=self.label_smoothing,
            soft_focusing=self.soft_focusing, disable_torch_grad_focal_loss=self.disable_torch_grad_focal_loss,
            reduction=self.reduction,
        )


class AsymmetricLossSingleLabel(Loss):
    """Single-label asymmetric loss, a smoothed cross-entropy focused per class; see
    :func:`losskit.functional.asymmetric_loss_single_label`.

    At its defaults it gives the numbers of timm's ``AsymmetricLossSingleLabel()``.

    Example:
        >>> import torch, losskit as lk
        >>> x = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
        >>> print(round(float(lk.AsymmetricLossSingleLabel()(x, torch.tensor([0, 1]))), 4))
        1.3092
    """

    family = "imbalance"
    functional = staticmethod(IF.asymmetric_loss_single_label)

    def __init__(
        self,
        *,
        gamma_pos: float = 1.0,
        gamma_neg: float = 4.0,
        label_smoothing: float = 0.1,
        ignore_index: int = -100,
        reduction: str = "mean",
    ) -> None:
        super().__init__(reduction=reduction)
        IF._single_label_options(type(self).__name__, gamma_pos, gamma_neg, label_smoothing)
        self.gamma_pos = gamma_pos
        self.gamma_neg = gamma_neg
        self.label_smoothing = label_smoothing
        self.ignore_index = ignore_index

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return IF.asymmetric_loss_single_label(
            input, target, gamma_pos=self.gamma_pos, gamma_neg=self.gamma_neg,
            label_smoothing=self.label_smoothing, ignore_index=self.ignore_index, reduction=self.reduction,
        )


class GeneralizedCrossEntropyLoss(Loss):
    """Generalized cross-entropy, robust to noisy labels; see :func:`losskit.functional.generalized_cross_entropy`.

    Example:
        >>> import torch, losskit as lk
        >>> x = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
        >>> print(round(float(lk.GeneralizedCrossEntropyLoss(q=0.7)(x, torch.tensor([0, 1]))), 4))
        0.7321
    """

    family = "imbalance"
    functional = staticmethod(IF.generalized_cross_entropy)

    def __init__(self, *, q: float = 0.7, ignore_index: int = -100, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        IF._gce_options(type(self).__name__, q)
        self.q = q
        self.ignore_index = ignore_index

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return IF.generalized_cross_entropy(
            input, target, q=self.q, ignore_index=self.ignore_index, reduction=self.reduction
        )
