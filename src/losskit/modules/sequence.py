"""Modules of the sequence family; each ``forward`` is one call to :mod:`losskit.functional.sequence`."""

from __future__ import annotations

from torch import Tensor

from ..functional import sequence as SF
from ._base import Loss

__all__ = ["CTCLoss"]


class CTCLoss(Loss):
    """Connectionist temporal classification loss for unsegmented sequences; see :func:`losskit.functional.ctc_loss`.

    Example:
        >>> import torch, losskit as lk
        >>> log_probs = torch.full((2, 1, 2), 0.5).log()
        >>> print(round(float(lk.CTCLoss(reduction="sum")(log_probs, torch.tensor([[1]]), (2,), (1,))), 4))
        0.2877
    """

    family = "sequence"
    functional = staticmethod(SF.ctc_loss)

    def __init__(self, *, blank: int = 0, reduction: str = "mean", zero_infinity: bool = False) -> None:
        super().__init__(reduction=reduction)
        name = type(self).__name__
        self.blank = SF._check_blank(name, blank)
        self.zero_infinity = SF._check_flag(name, "zero_infinity", zero_infinity)

    def forward(
        self, log_probs: Tensor, targets: Tensor, input_lengths: SF.Lengths, target_lengths: SF.Lengths
    ) -> Tensor:
        return SF.ctc_loss(
            log_probs, targets, input_lengths, target_lengths,
            blank=self.blank, reduction=self.reduction, zero_infinity=self.zero_infinity,
        )
