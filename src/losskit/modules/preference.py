"""Modules of the preference family; each ``forward`` is one call to :mod:`losskit.functional.preference`."""

from __future__ import annotations

from torch import Tensor

from .. import _validation as V
from ..functional import preference as PF
from ._base import Loss

__all__ = ["CPOLoss", "DPOLoss", "IPOLoss", "KTOLoss", "ORPOLoss", "SimPOLoss"]


class DPOLoss(Loss):
    """Direct Preference Optimization, with cDPO label smoothing and robust DPO; see
    :func:`losskit.functional.dpo_loss`.

    Example:
        >>> import torch, losskit as lk
        >>> pc, pr, rc, rr = (torch.tensor([v]) for v in (-10.0, -14.0, -12.0, -12.0))
        >>> print(round(float(lk.DPOLoss(beta=0.5)(pc, pr, rc, rr)), 4))
        0.1269
    """

    family = "preference"
    functional = staticmethod(PF.dpo_loss)

    def __init__(
        self,
        *,
        beta: float = 0.1,
        label_smoothing: float = 0.0,
        loss_type: str = "sigmoid",
        reference_free: bool = False,
        reduction: str = "mean",
    ) -> None:
        super().__init__(reduction=reduction)
        name = type(self).__name__
        self.beta = PF._check_beta(name, beta)
        self.loss_type = V.check_choice(name, "loss_type", loss_type, PF.DPO_LOSS_TYPES)
        self.label_smoothing = PF._check_smoothing(name, label_smoothing, robust=loss_type == "robust")
        if not isinstance(reference_free, bool):
            raise V.LossOptionError(f"{name}: reference_free must be True or False, but got {reference_free!r}")
        self.reference_free = reference_free

    def forward(
        self,
        policy_chosen_logps: Tensor,
        policy_rejected_logps: Tensor,
        reference_chosen_logps: Tensor | None = None,
        reference_rejected_logps: Tensor | None = None,
    ) -> Tensor:
        return PF.dpo_loss(
            policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps,
            beta=self.beta, label_smoothing=self.label_smoothing, loss_type=self.loss_type,
            reference_free=self.reference_free, reduction=self.reduction,
        )


class IPOLoss(Loss):
    """Identity Preference Optimization, a squared loss on the log-ratio margin; see
    :func:`losskit.functional.ipo_loss`.

    Example:
        >>> import torch, losskit as lk
        >>> pc, pr, rc, rr = (torch.tensor([v]) for v in (-1.0, -1.5, -1.2, -1.2))
        >>> print(round(float(lk.IPOLoss(beta=0.5)(pc, pr, rc, rr)), 4))
        0.25
    """

    family = "preference"
    functional = staticmethod(PF.ipo_loss)

    def __init__(self, *, beta: float = 0.1, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        self.beta = PF._check_beta(type(self).__name__, beta)

    def forward(
        self,
        policy_chosen_logps: Tensor,
        policy_rejected_logps: Tensor,
        reference_chosen_logps: Tensor,
        reference_rejected_logps: Tensor,
    ) -> Tensor:
        return PF.ipo_loss(
            policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps,
            beta=self.beta, reduction=self.reduction,
        )


class ORPOLoss(Loss):
    """Odds Ratio Preference Optimization, chosen NLL plus a log-odds-ratio term; see
    :func:`losskit.functional.orpo_loss`.

    Example:
        >>> import torch, losskit as lk
        >>> print(round(float(lk.ORPOLoss(beta=1.0)(torch.tensor([-0.5]), torch.tensor([-1.0]))), 4))
        0.8203
    """

    family = "preference"
    functional = staticmethod(PF.orpo_loss)

    def __init__(self, *, beta: float = 0.1, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        self.beta = PF._check_beta(type(self).__name__, beta)

    def forward(self, policy_chosen_logps: Tensor, policy_rejected_logps: Tensor) -> Tensor:
        return PF.orpo_loss(policy_chosen_logps, policy_rejected_logps, beta=self.beta, reduction=self.reduction)


class SimPOLoss(Loss):
    """Simple Preference Optimization, reference-free on length-normalised log-probabilities; see
    :func:`losskit.functional.simpo_loss`.

    Example:
        >>> import torch, losskit as lk
        >>> print(round(float(lk.SimPOLoss()(torch.tensor([-1.0]), torch.tensor([-2.0]))), 4))
        0.3133
    """

    family = "preference"
    functional = staticmethod(PF.simpo_loss)

    def __init__(
        self, *, beta: float = 2.0, gamma: float = 1.0, label_smoothing: float = 0.0, reduction: str = "mean"
    ) -> None:
        super().__init__(reduction=reduction)
        name = type(self).__name__
        self.beta = PF._check_beta(name, beta)
        self.gamma = V.check_positive(name, "gamma", gamma, allow_zero=True)
        self.label_smoothing = PF._check_smoothing(name, label_smoothing)

    def forward(self, policy_chosen_logps: Tensor, policy_rejected_logps: Tensor) -> Tensor:
        return PF.simpo_loss(
            policy_chosen_logps, policy_rejected_logps, beta=self.beta, gamma=self.gamma,
            label_smoothing=self.label_smoothing, reduction=self.reduction,
        )


class CPOLoss(Loss):
    """Contrastive Preference Optimization, a reference-free logistic loss plus the chosen NLL; see
    :func:`losskit.functional.cpo_loss`.

    Example:
        >>> import torch, losskit as lk
        >>> pc, pr, n = torch.tensor([-20.0]), torch.tensor([-30.0]), torch.tensor([10])
        >>> print(round(float(lk.CPOLoss()(pc, pr, n)), 4))
        2.3133
    """

    family = "preference"
    functional = staticmethod(PF.cpo_loss)

    def __init__(
        self, *, beta: float = 0.1, cpo_alpha: float = 1.0, label_smoothing: float = 0.0, reduction: str = "mean"
    ) -> None:
        super().__init__(reduction=reduction)
        name = type(self).__name__
        self.beta = PF._check_beta(name, beta)
        self.cpo_alpha = V.check_positive(name, "cpo_alpha", cpo_alpha, allow_zero=True)
        self.label_smoothing = PF._check_smoothing(name, label_smoothing)

    def forward(
        self, policy_chosen_logps: Tensor, policy_rejected_logps: Tensor, chosen_lengths: Tensor | None = None
    ) -> Tensor:
        return PF.cpo_loss(
            policy_chosen_logps, policy_rejected_logps, chosen_lengths, beta=self.beta, cpo_alpha=self.cpo_alpha,
            label_smoothing=self.label_smoothing, reduction=self.reduction,
        )


class KTOLoss(Loss):
    """Kahneman-Tversky Optimization on unpaired desirable and undesirable responses; see
    :func:`losskit.functional.kto_loss`.

    Example:
        >>> import torch, losskit as lk
        >>> pc, pr, rc, rr = (torch.tensor([v]) for v in (-10.0, -15.0, -12.0, -13.0))
        >>> print(round(float(lk.KTOLoss(beta=1.0)(pc, pr, rc, rr, torch.tensor(0.0))), 4))
        0.1192
    """

    family = "preference"
    functional = staticmethod(PF.kto_loss)

    def __init__(
        self,
        *,
        beta: float = 0.1,
        desirable_weight: float = 1.0,
        undesirable_weight: float = 1.0,
        reduction: str = "mean",
    ) -> None:
        super().__init__(reduction=reduction)
        name = type(self).__name__
        self.beta = PF._check_beta(name, beta)
        self.desirable_weight = V.check_positive(name, "desirable_weight", desirable_weight, allow_zero=True)
        self.undesirable_weight = V.check_positive(name, "undesirable_weight", undesirable_weight, allow_zero=True)

    def forward(
        self,
        policy_chosen_logps: Tensor,
        policy_rejected_logps: Tensor,
        reference_chosen_logps: Tensor,
        reference_rejected_logps: Tensor,
        kl: Tensor,
    ) -> Tensor:
        return PF.kto_loss(
            policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps, kl,
            beta=self.beta, desirable_weight=self.desirable_weight, undesirable_weight=self.undesirable_weight,
            reduction=self.reduction,
        )
