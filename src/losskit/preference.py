r"""Helpers of the preference losses (:mod:`losskit.functional.preference`): per-sequence log-probabilities
from logits, and the implicit rewards TRL logs.

**The supervised (SFT) term.** ORPO, CPO and SFT itself add the negative log-likelihood of the chosen response,
which TRL computes as a token-level cross-entropy averaged over every non-ignored token of the batch (a "global
token mean", not a mean of per-sequence means). That is :func:`losskit.functional.cross_entropy` with
``ignore_index``, whose ``"mean"`` divides by the number of tokens not ignored (0 when there are none)::

    LF.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100)

with the same shift as below; from hidden states without the logits, :func:`losskit.fused.fused_linear_cross_entropy`
gives the same number. ``tests/test_preference.py`` checks both against the token mean written out.

**The shift is the caller's.** A causal language model's logits at position :math:`t` predict token
:math:`t + 1`: for labels that are the input ids (prompt tokens set to ``-100``), pass ``logits[:, :-1]`` and
``labels[:, 1:]``, as TRL's ``get_batch_logps`` does internally. The helpers here never shift, so that inputs
already aligned (encoder-decoder models, or precomputed) go in as they are.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from . import _validation as V
from ._reduction import safe_divide

__all__ = ["PreferenceRewards", "preference_rewards", "sequence_log_probs"]


def sequence_log_probs(
    logits: Tensor,
    labels: Tensor,
    *,
    mask: Tensor | None = None,
    ignore_index: int = -100,
    average: bool = False,
) -> Tensor:
    r"""Per-sequence log-probability of ``labels`` under ``logits``: summed (or averaged) token log-probabilities.

    .. math::
        \log \pi(y_b) = \sum_{t \in M_b} \big(z_{b,t,y_{b,t}} - \log\textstyle\sum_v e^{z_{b,t,v}}\big),

    over the positions :math:`M_b` whose label is not ``ignore_index`` (and where ``mask`` is true);
    ``average=True`` divides by :math:`|M_b|` (0 for a sequence with no token). No shift is applied (module
    docstring). float16/bfloat16 logits are computed and returned in float32.

    Args:
        logits: :math:`(B, T, V)` unnormalised scores, floating.
        labels: :math:`(B, T)` token ids (integer); ``ignore_index`` marks positions that do not count.
        mask: optional :math:`(B, T)` bool or 0/1 tensor; positions where it is false do not count either
            (default ``None``).
        ignore_index: the label of positions to skip (default -100, TRL's and torch's).
        average: divide each sum by its number of tokens (default False).

    Returns:
        :math:`(B,)` in the logits' dtype (float32 for half logits); differentiable w.r.t. ``logits``.

    Raises:
        LossShapeError: ``logits`` not 3-D, ``labels`` or ``mask`` not ``logits.shape[:2]``.
        LossTypeError: non-floating ``logits``, non-integer ``labels``, ``ignore_index`` not an int.

    Example:
        >>> import torch
        >>> from losskit.preference import sequence_log_probs
        >>> logits = torch.zeros(1, 3, 4)  # uniform over 4 tokens
        >>> labels = torch.tensor([[2, -100, 1]])
        >>> total, mean = sequence_log_probs(logits, labels), sequence_log_probs(logits, labels, average=True)
        >>> print(round(float(total), 4), round(float(mean), 4))  # 2 log(1/4), log(1/4)
        -2.7726 -1.3863
    """
    name = "sequence_log_probs"
    V.check_ignore_index(name, ignore_index)
    V.check_tensor(name, "logits", logits)
    V.check_tensor(name, "labels", labels)
    V.check_floating(name, "logits", logits, role="logits")
    if logits.dim() != 3:
        raise V.LossShapeError(
            f"{name}: logits must have shape (B, T, V), but got {V.shape_str(logits)}; add the missing dims, e.g. "
            "logits.unsqueeze(0) for one sequence"
        )
    if labels.is_floating_point() or labels.dtype == torch.bool:
        raise V.LossTypeError(f"{name}: labels must hold token ids (an integer dtype), but got {labels.dtype}; "
                              "convert them with labels.long()")
    for arg, t in (("labels", labels), ("mask", mask)):
        if t is not None and tuple(t.shape) != tuple(logits.shape[:2]):
            raise V.LossShapeError(
                f"{name}: {arg} must have shape {V.shape_str(logits.shape[:2])} (logits without the vocabulary "
                f"dim), but got {V.shape_str(t)}; for a causal LM pass logits[:, :-1] with labels[:, 1:]"
            )
    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()
    valid = labels != ignore_index
    if mask is not None:
        valid = valid & mask.bool()
    safe = torch.where(valid, labels, torch.zeros_like(labels)).long()
    picked = logits.gather(-1, safe.unsqueeze(-1)).squeeze(-1)
    token = torch.where(valid, picked - torch.logsumexp(logits, -1), torch.zeros_like(picked))
    total = token.sum(-1)
    return safe_divide(total, valid.sum(-1)) if average else total


class PreferenceRewards(NamedTuple):
    r"""The implicit rewards of a batch (detached: for logging), as TRL logs them.

    ``chosen`` and ``rejected`` are :math:`\beta(\pi - \rho)` per response; :attr:`margins` and
    :attr:`accuracies` are TRL's ``rewards/margins`` and ``rewards/accuracies`` (their means are what TRL logs).
    """

    chosen: Tensor
    rejected: Tensor

    @property
    def margins(self) -> Tensor:
        """``chosen - rejected`` per pair."""
        return self.chosen - self.rejected

    @property
    def accuracies(self) -> Tensor:
        """1.0 where the chosen response has the higher reward, else 0.0 (TRL's strict ``>``)."""
        return (self.chosen > self.rejected).to(self.chosen.dtype)


def preference_rewards(
    policy_chosen_logps: Tensor,
    policy_rejected_logps: Tensor,
    reference_chosen_logps: Tensor | None = None,
    reference_rejected_logps: Tensor | None = None,
    *,
    beta: float = 0.1,
) -> PreferenceRewards:
    r"""The implicit rewards :math:`\beta(\pi - \rho)` of the chosen and rejected responses, detached.

    One function for every loss of :mod:`losskit.functional.preference`, given the inputs that loss took:
    DPO, IPO and KTO with the reference log-probabilities (TRL's rewards of ``DPOTrainer`` and ``KTOTrainer``);
    ORPO, SimPO and CPO without them, :math:`\beta\pi` (TRL's ``ORPOTrainer``/``CPOTrainer`` rewards, on the
    averaged log-probabilities for ORPO and SimPO). KTO's chosen and rejected may differ in length (then
    :attr:`~PreferenceRewards.margins` does not apply).

    Example:
        >>> import torch
        >>> from losskit.preference import preference_rewards
        >>> r = preference_rewards(torch.tensor([-10.0]), torch.tensor([-14.0]), torch.tensor([-12.0]),
        ...                        torch.tensor([-12.0]), beta=0.5)
        >>> r.chosen.tolist(), r.rejected.tolist(), r.margins.tolist(), r.accuracies.tolist()
        ([1.0], [-1.0], [2.0], [1.0])
    """
    name = "preference_rewards"
    beta = V.check_positive(name, "beta", beta)
    if (reference_chosen_logps is None) != (reference_rejected_logps is None):
        raise V.LossOptionError(
            f"{name}: pass both reference_chosen_logps and reference_rejected_logps, or neither; got only one"
        )
    chosen = policy_chosen_logps.detach()
    rejected = policy_rejected_logps.detach()
    if reference_chosen_logps is not None and reference_rejected_logps is not None:
        chosen = chosen - reference_chosen_logps.detach()
        rejected = rejected - reference_rejected_logps.detach()
    return PreferenceRewards(beta * chosen, beta * rejected)
