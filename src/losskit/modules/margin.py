"""Modules of the margin family; each ``forward`` is one call to :mod:`losskit.functional.margin`."""

from __future__ import annotations

from torch import Tensor

from ..functional import margin as MF
from ._base import Loss

__all__ = [
    "CosineEmbeddingLoss",
    "HingeEmbeddingLoss",
    "MarginRankingLoss",
    "MultiLabelMarginLoss",
    "MultiLabelSoftMarginLoss",
    "MultiMarginLoss",
    "SoftMarginLoss",
]


class SoftMarginLoss(Loss):
    """Two-class logistic loss on scores with -1/1 targets; see :func:`losskit.functional.soft_margin_loss`.

    Example:
        >>> import torch, losskit as lk
        >>> print(round(float(lk.SoftMarginLoss()(torch.tensor([2.0, -1.0]), torch.tensor([1.0, 1.0]))), 4))
        0.7201
    """

    family = "margin"
    functional = staticmethod(MF.soft_margin_loss)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return MF.soft_margin_loss(input, target, reduction=self.reduction)


class MultiLabelSoftMarginLoss(Loss):
    """Multi-label one-versus-all logistic loss; see :func:`losskit.functional.multilabel_soft_margin_loss`.

    Example:
        >>> import torch, losskit as lk
        >>> loss = lk.MultiLabelSoftMarginLoss(torch.tensor([3.0, 1.0]))
        >>> print(round(float(loss(torch.tensor([[2.0, -1.0]]), torch.tensor([[1, 0]]))), 4))
        0.1735
    """

    family = "margin"
    functional = staticmethod(MF.multilabel_soft_margin_loss)
    weight: Tensor | None  # a buffer

    def __init__(self, weight: Tensor | None = None, *, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        self._buffer("weight", weight)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return MF.multilabel_soft_margin_loss(input, target, self.weight, reduction=self.reduction)


class MultiMarginLoss(Loss):
    """Multi-class hinge loss (Weston–Watkins); see :func:`losskit.functional.multi_margin_loss`.

    Example:
        >>> import torch, losskit as lk
        >>> loss = lk.MultiMarginLoss(margin=0.5)
        >>> print(round(float(loss(torch.tensor([[0.1, 0.2, 0.4, 0.8]]), torch.tensor([3]))), 4))
        0.025
    """

    family = "margin"
    functional = staticmethod(MF.multi_margin_loss)
    weight: Tensor | None  # a buffer

    def __init__(
        self, weight: Tensor | None = None, *, p: int = 1, margin: float = 1.0, reduction: str = "mean"
    ) -> None:
        super().__init__(reduction=reduction)
        self.p = MF._check_p(type(self).__name__, p)
        self.margin = MF._check_margin(type(self).__name__, margin)
        self._buffer("weight", weight)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return MF.multi_margin_loss(
            input, target, self.weight, p=self.p, margin=self.margin, reduction=self.reduction
        )


class MultiLabelMarginLoss(Loss):
    """Multi-label hinge loss on -1-padded class indices; see :func:`losskit.functional.multilabel_margin_loss`.

    Example:
        >>> import torch, losskit as lk
        >>> x, y = torch.tensor([[0.1, 0.2, 0.4, 0.8]]), torch.tensor([[3, 0, -1, 1]])
        >>> print(round(float(lk.MultiLabelMarginLoss()(x, y)), 4))
        0.85
    """

    family = "margin"
    functional = staticmethod(MF.multilabel_margin_loss)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return MF.multilabel_margin_loss(input, target, reduction=self.reduction)


class HingeEmbeddingLoss(Loss):
    """Hinge loss on distances of similar and dissimilar pairs; see :func:`losskit.functional.hinge_embedding_loss`.

    Example:
        >>> import torch, losskit as lk
        >>> loss = lk.HingeEmbeddingLoss(margin=0.5)
        >>> print(round(float(loss(torch.tensor([0.3, 0.4]), torch.tensor([1, -1]))), 4))
        0.2
    """

    family = "margin"
    functional = staticmethod(MF.hinge_embedding_loss)

    def __init__(self, *, margin: float = 1.0, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        self.margin = MF._check_margin(type(self).__name__, margin)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return MF.hinge_embedding_loss(input, target, margin=self.margin, reduction=self.reduction)


class MarginRankingLoss(Loss):
    """Pairwise ranking hinge on two scores and a -1/1 order; see :func:`losskit.functional.margin_ranking_loss`.

    Example:
        >>> import torch, losskit as lk
        >>> a, b, y = torch.tensor([0.9, 0.2]), torch.tensor([0.1, 0.5]), torch.tensor([1, 1])
        >>> print(round(float(lk.MarginRankingLoss(margin=0.1)(a, b, y)), 4))
        0.2
    """

    family = "margin"
    functional = staticmethod(MF.margin_ranking_loss)

    def __init__(self, *, margin: float = 0.0, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        self.margin = MF._check_margin(type(self).__name__, margin)

    def forward(self, input1: Tensor, input2: Tensor, target: Tensor) -> Tensor:
        return MF.margin_ranking_loss(input1, input2, target, margin=self.margin, reduction=self.reduction)


class CosineEmbeddingLoss(Loss):
    """Cosine-similarity loss on pairs of embeddings; see :func:`losskit.functional.cosine_embedding_loss`.

    Example:
        >>> import torch, losskit as lk
        >>> a, b = torch.tensor([[1.0, 0.0], [1.0, 1.0]]), torch.tensor([[0.0, 1.0], [1.0, 1.0]])
        >>> print(round(float(lk.CosineEmbeddingLoss(margin=0.5)(a, b, torch.tensor([1, -1]))), 4))
        0.75
    """

    family = "margin"
    functional = staticmethod(MF.cosine_embedding_loss)

    def __init__(self, *, margin: float = 0.0, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        self.margin = MF._check_margin(type(self).__name__, margin)

    def forward(self, input1: Tensor, input2: Tensor, target: Tensor) -> Tensor:
        return MF.cosine_embedding_loss(input1, input2, target, margin=self.margin, reduction=self.reduction)
