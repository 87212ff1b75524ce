"""Modules of the distillation family; each ``forward`` is one call to :mod:`losskit.functional.distillation`."""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor

from .. import _validation as V
from ..functional import distillation as DF
from ._base import Loss

__all__ = ["DistillationLoss", "JSDivLoss"]


class JSDivLoss(Loss):
    """Jensen-Shannon divergence between two distributions; see :func:`losskit.functional.js_div`.

    Example:
        >>> import torch, losskit as lk
        >>> q = torch.tensor([[0.5, 0.5], [0.9, 0.1]]).log()
        >>> p = torch.tensor([[1.0, 0.0], [0.9, 0.1]])
        >>> print(round(float(lk.JSDivLoss(reduction="sum")(q, p)), 4))
        0.2158
    """

    family = "distillation"
    functional = staticmethod(DF.js_div)
    reductions: ClassVar[tuple[str, ...]] = DF.JS_REDUCTIONS

    def __init__(self, *, log_target: bool = False, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        self.log_target = DF._check_log_target(type(self).__name__, log_target)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return DF.js_div(input, target, log_target=self.log_target, reduction=self.reduction)


class DistillationLoss(Loss):
    """Knowledge distillation: soft teacher KL plus hard CE; see :func:`losskit.functional.distillation_loss`.

    Example:
        >>> import torch, losskit as lk
        >>> student, teacher = torch.tensor([[0.0, 0.0]]), torch.tensor([[4.0, 0.0]])
        >>> print(round(float(lk.DistillationLoss(alpha=0.0)(student, teacher, torch.tensor([0]))), 4))
        0.6931
    """

    family = "distillation"
    functional = staticmethod(DF.distillation_loss)

    def __init__(self, *, temperature: float = 4.0, alpha: float = 0.9, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        name = type(self).__name__
        self.temperature = V.check_positive(name, "temperature", temperature)
        self.alpha = V.check_unit_interval(name, "alpha", alpha)

    def forward(self, student_logits: Tensor, teacher_logits: Tensor, target: Tensor) -> Tensor:
        return DF.distillation_loss(
            student_logits,
            teacher_logits,
            target,
            temperature=self.temperature,
            alpha=self.alpha,
            reduction=self.reduction,
        )
