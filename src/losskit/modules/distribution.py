"""Modules of the distribution family; each ``forward`` is one call to :mod:`losskit.functional.distribution`."""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor

from .. import _validation as V
from ..functional import distribution as DF
from ._base import Loss

__all__ = ["GaussianNLLLoss", "KLDivLoss", "PoissonNLLLoss"]


class KLDivLoss(Loss):
    """Kullback-Leibler divergence from log-probabilities (use "batchmean"); see :func:`losskit.functional.kl_div`.

    The default ``reduction="mean"`` is torch's and warns when it differs from ``"batchmean"``.

    Example:
        >>> import torch, losskit as lk
        >>> loss = lk.KLDivLoss(reduction="batchmean")
        >>> print(round(float(loss(torch.tensor([[0.5, 0.5]]).log(), torch.tensor([[0.9, 0.1]]))), 4))
        0.3681
    """

    family = "distribution"
    functional = staticmethod(DF.kl_div)
    reductions: ClassVar[tuple[str, ...]] = DF.KL_REDUCTIONS

    def __init__(self, *, reduction: str = "mean", log_target: bool = False) -> None:
        super().__init__(reduction=reduction)
        self.log_target = DF._check_flag(type(self).__name__, "log_target", log_target)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return DF.kl_div(input, target, reduction=self.reduction, log_target=self.log_target)


class PoissonNLLLoss(Loss):
    """Poisson negative log-likelihood of counts; see :func:`losskit.functional.poisson_nll_loss`.

    Example:
        >>> import torch, losskit as lk
        >>> loss = lk.PoissonNLLLoss(log_input=False)
        >>> print(round(float(loss(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 3.0]))), 4))
        0.4603
    """

    family = "distribution"
    functional = staticmethod(DF.poisson_nll_loss)

    def __init__(
        self, *, log_input: bool = True, full: bool = False, eps: float = 1e-8, reduction: str = "mean"
    ) -> None:
        super().__init__(reduction=reduction)
        name = type(self).__name__
        self.log_input = DF._check_flag(name, "log_input", log_input)
        self.full = DF._check_flag(name, "full", full)
        self.eps = V.check_positive(name, "eps", eps, allow_zero=True)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return DF.poisson_nll_loss(
            input, target, log_input=self.log_input, full=self.full, eps=self.eps, reduction=self.reduction
        )


class GaussianNLLLoss(Loss):
    """Gaussian negative log-likelihood of a mean and variance; see :func:`losskit.functional.gaussian_nll_loss`.

    Example:
        >>> import torch, losskit as lk
        >>> x, y = torch.tensor([0.0, 1.0]), torch.tensor([1.0, 1.0])
        >>> print(round(float(lk.GaussianNLLLoss()(x, y, torch.tensor([1.0, 4.0]))), 4))
        0.5966
    """

    family = "distribution"
    functional = staticmethod(DF.gaussian_nll_loss)

    def __init__(self, *, full: bool = False, eps: float = 1e-6, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        name = type(self).__name__
        self.full = DF._check_flag(name, "full", full)
        self.eps = V.check_positive(name, "eps", eps, allow_zero=True)

    def forward(self, input: Tensor, target: Tensor, var: Tensor | float) -> Tensor:
        return DF.gaussian_nll_loss(input, target, var, full=self.full, eps=self.eps, reduction=self.reduction)
