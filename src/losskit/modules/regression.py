"""Modules of the regression losses; each ``forward`` is one call to :mod:`losskit.functional.regression`."""

from __future__ import annotations

from torch import Tensor

from ..functional import regression as RF
from ._base import Loss

__all__ = ["HuberLoss", "L1Loss", "MSELoss", "SmoothL1Loss"]


class L1Loss(Loss):
    """Mean absolute error; see :func:`losskit.functional.l1_loss`.

    Example:
        >>> import torch, losskit as lk
        >>> print(round(float(lk.L1Loss()(torch.tensor([1.0, 2.0]), torch.tensor([0.0, 4.0]))), 4))
        1.5
    """

    family = "regression"
    functional = staticmethod(RF.l1_loss)

    def forward(self, input: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        return RF.l1_loss(input, target, weight, reduction=self.reduction)


class MSELoss(Loss):
    """Mean squared error; see :func:`losskit.functional.mse_loss`.

    Example:
        >>> import torch, losskit as lk
        >>> print(round(float(lk.MSELoss()(torch.tensor([1.0, 2.0]), torch.tensor([0.0, 4.0]))), 4))
        2.5
    """

    family = "regression"
    functional = staticmethod(RF.mse_loss)

    def forward(self, input: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        return RF.mse_loss(input, target, weight, reduction=self.reduction)


class HuberLoss(Loss):
    """Huber loss (quadratic, then linear beyond ``delta``); see :func:`losskit.functional.huber_loss`.

    Example:
        >>> import torch, losskit as lk
        >>> print(round(float(lk.HuberLoss(delta=0.5)(torch.tensor([1.0, 2.0]), torch.tensor([0.0, 4.0]))), 4))
        0.6875
    """

    family = "regression"
    functional = staticmethod(RF.huber_loss)

    def __init__(self, *, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction=reduction)
        self.delta = delta

    def forward(self, input: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        return RF.huber_loss(input, target, weight, reduction=self.reduction, delta=self.delta)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, delta={self.delta}"


class SmoothL1Loss(Loss):
    """Smooth L1 loss (Huber divided by ``beta``); see :func:`losskit.functional.smooth_l1_loss`.

    Example:
        >>> import torch, losskit as lk
        >>> print(round(float(lk.SmoothL1Loss(beta=0.5)(torch.tensor([1.0, 2.0]), torch.tensor([0.0, 4.0]))), 4))
        1.375
    """

    family = "regression"
    functional = staticmethod(RF.smooth_l1_loss)

    def __init__(self, *, reduction: str = "mean", beta: float = 1.0) -> None:
        super().__init__(reduction=reduction)
        self.beta = beta

    def forward(self, input: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        return RF.smooth_l1_loss(input, target, weight, reduction=self.reduction, beta=self.beta)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, beta={self.beta}"
