"""Modules of the embedding family; each ``forward`` is one call to :mod:`losskit.functional.embedding`."""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

from .. import _validation as V
from ..functional import embedding as EF
from ._base import Loss

__all__ = ["TripletMarginLoss", "TripletMarginWithDistanceLoss"]


class TripletMarginLoss(Loss):
    """Triplet margin loss with the p-norm distance; see :func:`losskit.functional.triplet_margin_loss`.

    Example:
        >>> import torch, losskit as lk
        >>> a, p, n = torch.tensor([[0.0, 0.0]]), torch.tensor([[3.0, 4.0]]), torch.tensor([[0.0, 5.5]])
        >>> print(round(float(lk.TripletMarginLoss(margin=2.0, eps=0.0)(a, p, n)), 4))
        1.5
    """

    family = "embedding"
    functional = staticmethod(EF.triplet_margin_loss)

    def __init__(
        self,
        *,
        margin: float = 1.0,
        p: float = 2.0,
        eps: float = 1e-6,
        swap: bool = False,
        reduction: str = "mean",
    ) -> None:
        super().__init__(reduction=reduction)
        name = type(self).__name__
        self.margin = EF._check_margin(name, margin)
        self.p = V.check_positive(name, "p", p)
        self.eps = V.check_positive(name, "eps", eps, allow_zero=True)
        self.swap = EF._check_swap(name, swap)

    def forward(self, anchor: Tensor, positive: Tensor, negative: Tensor) -> Tensor:
        return EF.triplet_margin_loss(
            anchor, positive, negative,
            margin=self.margin, p=self.p, eps=self.eps, swap=self.swap, reduction=self.reduction,
        )


class TripletMarginWithDistanceLoss(Loss):
    """Triplet loss with any distance function; see :func:`losskit.functional.triplet_margin_with_distance_loss`.

    A ``distance_function`` that is an :class:`torch.nn.Module` is registered as a submodule (its parameters
    train with the model that owns this loss, as in torch).

    Example:
        >>> import torch, losskit as lk
        >>> a, p, n = torch.tensor([[0.0, 0.0]]), torch.tensor([[3.0, 4.0]]), torch.tensor([[0.0, 5.5]])
        >>> loss = lk.TripletMarginWithDistanceLoss(distance_function=lambda x, y: (x - y).abs().sum(-1))
        >>> print(round(float(loss(a, p, n)), 4))
        2.5
    """

    family = "embedding"
    functional = staticmethod(EF.triplet_margin_with_distance_loss)

    def __init__(
        self,
        *,
        distance_function: Callable[[Tensor, Tensor], Tensor] | None = None,
        margin: float = 1.0,
        swap: bool = False,
        reduction: str = "mean",
    ) -> None:
        super().__init__(reduction=reduction)
        name = type(self).__name__
        if distance_function is not None and not callable(distance_function):
            raise V.LossOptionError(
                f"{name}: distance_function must be a callable d(x, y) or None, but got "
                f"{type(distance_function).__name__}; pass e.g. distance_function=torch.pairwise_distance"
            )
        self.distance_function = distance_function
        self.margin = EF._check_margin(name, margin)
        self.swap = EF._check_swap(name, swap)

    def forward(self, anchor: Tensor, positive: Tensor, negative: Tensor) -> Tensor:
        return EF.triplet_margin_with_distance_loss(
            anchor, positive, negative,
            distance_function=self.distance_function, margin=self.margin, swap=self.swap, reduction=self.reduction,
        )
