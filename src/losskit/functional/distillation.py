"""Distribution matching and knowledge distillation: Jensen-Shannon divergence, distillation loss.

Both follow :func:`losskit.functional.kl_div`'s reading of their inputs: the prediction is given as
log-probabilities (``log_softmax`` output) or logits, never as probabilities, and a probability of exactly 0
contributes 0 (the convention :math:`0 \\log 0 = 0`) with a finite gradient.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import _validation as V
from .._precision import mixed_precision
from .._reduction import reduce_loss

__all__ = ["distillation_loss", "js_div"]

JS_REDUCTIONS = ("none", "mean", "sum", "batchmean")


def _check_log_target(name: str, log_target: object) -> bool:
    if not isinstance(log_target, bool):
        raise V.LossOptionError(
            f"{name}: log_target must be True or False, but got {log_target!r}; pass log_target=True if target "
            "holds log-probabilities"
        )
    return log_target


def _check_probabilities(name: str, target: Tensor) -> None:
    """Value check of a probability target: >= 0, with a hint when it looks like log-probabilities."""
    if target.numel() == 0:
        return
    lo, hi = (float(v) for v in torch.aminmax(target.detach()))
    if lo >= 0:
        return
    if hi <= 0:
        raise V.LossValueError(
            f"{name}: target must hold probabilities (>= 0) with log_target=False, but got values in "
            f"[{lo:g}, {hi:g}], all <= 0, so it looks like log-probabilities; pass log_target=True"
        )
    raise V.LossValueError(
        f"{name}: target must hold probabilities (>= 0) with log_target=False, but got a minimum of {lo:g}; "
        "pass probabilities (e.g. softmax output), or log-probabilities with log_target=True"
    )


@mixed_precision
def js_div(input: Tensor, target: Tensor, *, log_target: bool = False, reduction: str = "mean") -> Tensor:
    r"""Jensen-Shannon divergence between the distributions ``target`` (P) and ``exp(input)`` (Q).

    With :math:`M = \tfrac12 (P + Q)`, per sample (summed over every dimension but the batch dim 0):

    .. math::
        \mathrm{JS}(P \,\|\, Q) = \tfrac12 \sum_c p_c \log \frac{p_c}{m_c} + \tfrac12 \sum_c q_c \log \frac{q_c}{m_c}

    in nats, symmetric in P and Q, between 0 and :math:`\log 2`. The arguments read as in
    :func:`~losskit.functional.kl_div`: ``input`` holds log-probabilities, ``target`` probabilities (or
    log-probabilities with ``log_target=True``), both of the same shape.

    Reductions differ from ``kl_div``'s on purpose: the terms of JS are per **sample**, so ``"none"`` returns
    one divergence per sample, ``"mean"`` (the default) their average (the number ``kl_div`` calls
    ``"batchmean"``: ``"batchmean"`` is accepted here as a synonym) and ``"sum"`` their total. A 1-D input is one
    distribution. A probability of exactly 0 (``input`` of ``-inf``, ``target`` of 0) contributes 0 and the
    gradient stays finite: logarithms of probabilities and of :math:`M` are taken of values floored at the
    smallest normal number.

    Args:
        input: log-probabilities :math:`\log q` (e.g. ``log_softmax`` output), floating dtype; ``-inf`` allowed.
        target: probabilities :math:`p`, or :math:`\log p` with ``log_target=True``; same shape.
        log_target: whether ``target`` holds log-probabilities (default False).
        reduction: ``"mean"`` (default; also ``"batchmean"``), ``"sum"`` or ``"none"``.

    Shape:
        ``input``, ``target``: :math:`(N, *)` with the distribution over :math:`*`, or :math:`(C)` for one
        distribution. Output: scalar, or :math:`(N)` for ``"none"``.

    Raises:
        LossShapeError: ``target`` shape differs from ``input``; 0-dim ``input``.
        LossTypeError: integer ``input`` or ``target``.
        LossValueError: a negative probability ``target`` (suggesting ``log_target=True`` when all are <= 0).
        NonFiniteError: NaN or ``+inf`` in ``input``; NaN or Inf in a probability ``target`` (value checks).
        SuspiciousInputWarning: positive values in ``input`` or in a log-probability ``target``.

    References:
        Lin, J. "Divergence Measures Based on the Shannon Entropy", 1991.

    Example:
        >>> import torch, losskit.functional as LF
        >>> q = torch.tensor([[0.5, 0.5]]).log()
        >>> p = torch.tensor([[1.0, 0.0]])
        >>> print(round(float(LF.js_div(q, p)), 4))
        0.2158
    """
    name = "js_div"
    V.check_reduction(name, reduction, JS_REDUCTIONS)
    log_target = _check_log_target(name, log_target)
    if V.enabled():
        V.check_tensor(name, "input", input)
        V.check_tensor(name, "target", target)
        V.check_floating(name, "input", input, role="log-probabilities")
        V.check_floating(name, "target", target, role="log-probabilities" if log_target else "probabilities")
        if input.dim() == 0:
            raise V.LossShapeError(
                f"{name}: input must have at least one dimension (the distribution), but got shape (); "
                "pass the log-probabilities of every outcome, e.g. input.unsqueeze(0)"
            )
        V.check_same_shape(name, input, target)
        V.check_same_device(name, input=input, target=target)
    if V.values_due(name, input, target):
        V.check_finite(name, "input", input, allow_neg_inf=True)
        V.warn_if_logprob_positive(name, "input", input, fix="apply log_softmax (not softmax) to get them")
        if log_target:
            V.check_finite(name, "target", target, allow_neg_inf=True)
            V.warn_if_logprob_positive(
                name, "target", target, fix="pass log_softmax output, or probabilities with log_target=False"
            )
        else:
            V.check_finite(name, "target", target)
            _check_probabilities(name, target)
    tiny = torch.finfo(input.dtype).tiny
    log_tiny = math.log(tiny)
    q, log_q = input.exp(), input.clamp_min(log_tiny)
    if log_target:
        p, log_p = target.exp(), target.clamp_min(log_tiny)
    else:
        p, log_p = target, target.clamp_min(tiny).log()
    log_m = (0.5 * (p + q)).clamp_min(tiny).log()
    terms = 0.5 * (p * (log_p - log_m) + q * (log_q - log_m))
    per_sample = terms.sum() if terms.dim() == 1 else terms.flatten(1).sum(dim=1)
    return reduce_loss(per_sample, "mean" if reduction == "batchmean" else reduction)


@mixed_precision
def distillation_loss(
    student_logits: Tensor,
    teacher_logits: Tensor,
    target: Tensor,
    *,
    temperature: float = 4.0,
    alpha: float = 0.9,
    reduction: str = "mean",
) -> Tensor:
    r"""Knowledge distillation (Hinton et al.): softened teacher-student KL plus cross-entropy on the labels.

    With :math:`p^T = \mathrm{softmax}(z_t / T)` and :math:`\log q^T = \mathrm{log\_softmax}(z_s / T)` over the
    classes (dim 1, or dim 0 for an unbatched ``(C,)`` input):

    .. math::
        \ell_i = \alpha\, T^2\, \mathrm{KL}(p^T_i \,\|\, q^T_i) + (1 - \alpha)\, \mathrm{CE}(z_{s,i}, y_i),
        \qquad \mathrm{KL}(p \,\|\, q) = \sum_c p_c (\log p_c - \log q_c)

    The KL runs from the teacher to the student (the teacher's softened distribution is the target), is summed
    over the classes and averaged over the samples (``kl_div``'s ``"batchmean"``); the :math:`T^2` factor keeps the
    soft term's gradient scale independent of :math:`T`. ``"mean"`` averages :math:`\ell_i` over the samples (and
    positions of a K-dimensional input), ``"none"`` returns them. The teacher's logits are used as given, not
    detached: compute them under ``torch.no_grad()`` (or pass ``teacher_logits.detach()``) to keep the teacher
    fixed. A teacher probability that underflows to 0 contributes 0 to the KL.

    Args:
        student_logits: ``(N, C)`` or ``(N, C, d1, ...)`` (or ``(C,)``) student scores, floating dtype.
        teacher_logits: teacher scores of the same shape.
        target: class indices, ``(N,)`` or ``(N, d1, ...)`` (or ``()``), for the hard cross-entropy term.
        temperature: the softening temperature :math:`T` > 0 (default 4.0).
        alpha: the weight of the soft term, in ``[0, 1]`` (default 0.9; 0 gives plain cross-entropy).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Shape:
        ``student_logits``, ``teacher_logits``: :math:`(N, C, *)`; ``target``: :math:`(N, *)`. Output: scalar, or
        :math:`(N, *)` for ``"none"``.

    Raises:
        LossShapeError: ``teacher_logits`` shape differs from ``student_logits``; ``target`` of a wrong shape
            (e.g. ``(N, 1)``, one-hot).
        LossTypeError: integer logits; floating ``target``.
        LossValueError: ``target`` outside ``[0, C)`` (value check).
        LossOptionError: ``temperature <= 0``, ``alpha`` outside ``[0, 1]``, unknown ``reduction``.
        NonFiniteError: NaN or Inf in either logits (value check).
        SuspiciousInputWarning: logits that look like probabilities (rows in [0, 1] summing to 1).

    References:
        Hinton, G., Vinyals, O., Dean, J. "Distilling the Knowledge in a Neural Network", 2015.

    Example:
        >>> import torch, losskit.functional as LF
        >>> student, teacher = torch.tensor([[0.0, 0.0]]), torch.tensor([[4.0, 0.0]])
        >>> print(round(float(LF.distillation_loss(student, teacher, torch.tensor([0]), temperature=2.0)), 4))
        1.2494
    """
    name = "distillation_loss"
    V.check_reduction(name, reduction)
    temperature = V.check_positive(name, "temperature", temperature)
    alpha = V.check_unit_interval(name, "alpha", alpha)
    if V.enabled():
        V.check_tensor(name, "student_logits", student_logits)
        V.check_tensor(name, "teacher_logits", teacher_logits)
        V.check_tensor(name, "target", target)
        V.check_floating(name, "student_logits", student_logits, role="logits")
        V.check_floating(name, "teacher_logits", teacher_logits, role="logits")
        V.check_same_shape(
            name, student_logits, teacher_logits, "student_logits", "teacher_logits",
            fix="the teacher must score the same classes for the same samples",
        )
        V.check_class_target(name, student_logits, target)
        V.check_same_device(name, student_logits=student_logits, teacher_logits=teacher_logits, target=target)
    class_dim = 1 if student_logits.dim() > 1 else 0
    if V.values_due(name, student_logits, teacher_logits, target):
        V.check_finite(name, "student_logits", student_logits)
        V.check_finite(name, "teacher_logits", teacher_logits)
        V.check_class_range(name, target, student_logits.shape[class_dim], None)
        V.warn_if_probabilities(name, student_logits, class_dim=class_dim)
    log_student = F.log_softmax(student_logits / temperature, dim=class_dim)
    log_teacher = F.log_softmax(teacher_logits / temperature, dim=class_dim)
    kl = (log_teacher.exp() * (log_teacher - log_student)).sum(dim=class_dim)
    ce = F.cross_entropy(student_logits, target, reduction="none")
    return reduce_loss(alpha * temperature**2 * kl + (1.0 - alpha) * ce, reduction)
