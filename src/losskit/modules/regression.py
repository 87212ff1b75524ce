"""Modules of the regression losses; each ``forward`` is one call to :mod:`losskit.functional.regression`."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from .. import _validation as V
from ..functional import regression as RF
from ._base import Loss

__all__ = [
    "CharbonnierLoss",
    "HuberLoss",
    "L1Loss",
    "LogCoshLoss",
    "MAPELoss",
    "MSELoss",
    "MSLELoss",
    "QuantileLoss",
    "SmoothL1Loss",
]


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
        0.625
    """

    family = "regression"
    functional = staticmethod(RF.huber_loss)

    def __init__(self, *, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction=reduction)
        self.delta = delta

    def forward(self, input: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        return RF.huber_loss(input, target, weight, reduction=self.reduction, delta=self.delta)


class SmoothL1Loss(Loss):
    """Smooth L1 loss (Huber divided by ``beta``); see :func:`losskit.functional.smooth_l1_loss`.

    Example:
        >>> import torch, losskit as lk
        >>> print(round(float(lk.SmoothL1Loss(beta=0.5)(torch.tensor([1.0, 2.0]), torch.tensor([0.0, 4.0]))), 4))
        1.25
    """

    family = "regression"
    functional = staticmethod(RF.smooth_l1_loss)

    def __init__(self, *, reduction: str = "mean", beta: float = 1.0) -> None:
        super().__init__(reduction=reduction)
        self.beta = beta

    def forward(self, input: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        return RF.smooth_l1_loss(input, target, weight, reduction=self.reduction, beta=self.beta)


class LogCoshLoss(Loss):
    """Log-cosh loss (quadratic near 0, linear far out, smooth everywhere); see
    :func:`losskit.functional.log_cosh_loss`.

    Example:
        >>> import torch, losskit as lk
        >>> print(round(float(lk.LogCoshLoss()(torch.tensor([1.0, 2.0]), torch.tensor([0.0, 4.0]))), 4))
        0.8794
    """

    family = "regression"
    functional = staticmethod(RF.log_cosh_loss)

    def forward(self, input: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        return RF.log_cosh_loss(input, target, weight, reduction=self.reduction)


class QuantileLoss(Loss):
    """Quantile (pinball) loss for one or several quantiles; see :func:`losskit.functional.quantile_loss`.

    Example:
        >>> import torch, losskit as lk
        >>> loss = lk.QuantileLoss(quantiles=(0.1, 0.5, 0.9))
        >>> print(round(float(loss(torch.tensor([[1.0, 2.0, 3.0]]), torch.tensor([2.5]))), 4))
        0.15
    """

    family = "regression"
    functional = staticmethod(RF.quantile_loss)

    def __init__(self, *, quantiles: float | Sequence[float] = 0.5, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        taus = RF._quantile_list(type(self).__name__, quantiles)
        self.quantiles: float | tuple[float, ...] = float(quantiles) if taus is None else taus  # type: ignore[arg-type]

    def forward(self, input: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        return RF.quantile_loss(input, target, weight, quantiles=self.quantiles, reduction=self.reduction)


class CharbonnierLoss(Loss):
    """Charbonnier loss, sqrt(d^2 + eps^2) (a differentiable L1); see :func:`losskit.functional.charbonnier_loss`.

    Example:
        >>> import torch, losskit as lk
        >>> print(round(float(lk.CharbonnierLoss(eps=1.0)(torch.tensor([1.0, 2.0]), torch.tensor([0.0, 4.0]))), 4))
        1.8251
    """

    family = "regression"
    functional = staticmethod(RF.charbonnier_loss)

    def __init__(self, *, eps: float = 1e-3, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        self.eps = V.check_positive(type(self).__name__, "eps", eps)

    def forward(self, input: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        return RF.charbonnier_loss(input, target, weight, eps=self.eps, reduction=self.reduction)


class MSLELoss(Loss):
    """Mean squared logarithmic error of non-negative values; see :func:`losskit.functional.msle_loss`.

    Example:
        >>> import torch, losskit as lk
        >>> print(round(float(lk.MSLELoss()(torch.tensor([3.0, 5.0]), torch.tensor([1.0, 5.0]))), 4))
        0.2402
    """

    family = "regression"
    functional = staticmethod(RF.msle_loss)

    def forward(self, input: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        return RF.msle_loss(input, target, weight, reduction=self.reduction)


class MAPELoss(Loss):
    """Mean absolute percentage error, as a fraction; see :func:`losskit.functional.mape_loss`.

    Example:
        >>> import torch, losskit as lk
        >>> print(round(float(lk.MAPELoss()(torch.tensor([110.0, 45.0]), torch.tensor([100.0, 50.0]))), 4))
        0.1
    """

    family = "regression"
    functional = staticmethod(RF.mape_loss)

    def __init__(self, *, eps: float = RF._F64_EPS, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        self.eps = V.check_positive(type(self).__name__, "eps", eps)

    def forward(self, input: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        return RF.mape_loss(input, target, weight, eps=self.eps, reduction=self.reduction)
