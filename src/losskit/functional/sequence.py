"""Sequence losses: connectionist temporal classification (CTC)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import _validation as V
from .._precision import mixed_precision
from .._reduction import reduce_loss

__all__ = ["ctc_loss"]

Lengths = Tensor | Sequence[int] | int


def _check_blank(name: str, blank: int, num_classes: int | None = None) -> int:
    ok = isinstance(blank, int) and not isinstance(blank, bool) and blank >= 0
    if ok and num_classes is not None:
        ok = blank < num_classes
    if not ok:
        where = f"[0, {num_classes})" if num_classes is not None else "an integer >= 0"
        raise V.LossOptionError(
            f"{name}: blank must be a class index in {where}, but got {blank!r}; pass the index of the blank "
            "symbol in the class dimension of log_probs (usually blank=0)"
        )
    return blank


def _check_flag(name: str, arg: str, value: bool) -> bool:
    if not isinstance(value, bool):
        raise V.LossOptionError(f"{name}: {arg} must be True or False, but got {value!r}; pass {arg}=True or False")
    return value


def _as_lengths(name: str, arg: str, value: Lengths, batch: int | None, device: torch.device) -> Tensor:
    """Lengths as an int64 tensor of shape ``(N,)`` (batched) or ``()`` (unbatched), with the checks of its form."""
    if isinstance(value, Tensor):
        if value.is_floating_point() or value.is_complex() or value.dtype == torch.bool:
            raise V.LossTypeError(
                f"{name}: {arg} must hold integer lengths, but got dtype {value.dtype}; use {arg}.long()"
            )
        lengths = value.to(device=device, dtype=torch.int64)
    elif isinstance(value, int) and not isinstance(value, bool):
        lengths = torch.tensor(value, dtype=torch.int64, device=device)
    elif isinstance(value, (tuple, list)) and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        lengths = torch.tensor(list(value), dtype=torch.int64, device=device)
    else:
        raise V.LossTypeError(
            f"{name}: {arg} must be a tensor, a tuple of ints or an int, but got {type(value).__name__}; "
            f"pass e.g. torch.tensor([...]) with one length per sequence"
        )
    if batch is None:
        if lengths.numel() != 1 or lengths.dim() > 1:
            raise V.LossShapeError(
                f"{name}: {arg} must be one length for unbatched log_probs (T, C), but got shape "
                f"{V.shape_str(lengths)}; pass an int or a 0-dim tensor"
            )
        return lengths.reshape(())
    if lengths.shape != (batch,):
        raise V.LossShapeError(
            f"{name}: {arg} must have one length per sequence, shape ({batch},), but got shape "
            f"{V.shape_str(lengths)}; pass a tensor or tuple of {batch} lengths"
        )
    return lengths


def _repeats(targets: Tensor, valid: Tensor, sample: Tensor, count: int) -> Tensor:
    """Per sample, the number of adjacent equal labels (each one needs a blank between them)."""
    same = (targets[..., 1:] == targets[..., :-1]) & valid[..., 1:] & valid[..., :-1]
    same = same & (sample[..., 1:] == sample[..., :-1])
    out = torch.zeros(count, dtype=torch.int64, device=targets.device)
    return out.scatter_add_(0, sample[..., 1:].reshape(-1), same.reshape(-1).to(torch.int64))


def _check_no_blank(name: str, targets: Tensor, target_lengths: Tensor, blank: int) -> None:
    """The labels (the first ``target_lengths[i]`` of each padded row, or all of concatenated targets) never hold
    the blank index: torch would silently compute the loss of a different label sequence."""
    if targets.numel() == 0 or target_lengths.numel() == 0:
        return
    if targets.dim() == 1:
        hits = targets == blank
    else:
        rows = targets.reshape(target_lengths.numel(), -1)
        hits = (rows == blank) & (torch.arange(rows.shape[1], device=rows.device) < target_lengths.reshape(-1, 1))
    count = int(hits.sum())
    if count:
        fix = "labels look 0-based with blank=0: use targets + 1 and C + 1 classes" if blank == 0 else (
            "use another blank index or remap the labels")
        raise V.LossValueError(
            f"{name}: targets must not contain the blank index {blank}, but got it {count} time(s) in the labels; "
            f"{fix}"
        )


def _check_values(
    name: str,
    log_probs: Tensor,
    targets: Tensor,
    input_lengths: Tensor,
    target_lengths: Tensor,
    *,
    blank: int,
    zero_infinity: bool,
) -> None:
    """The value checks of :func:`ctc_loss` (lengths, label range, blank in targets, feasibility)."""
    V.check_finite(name, "log_probs", log_probs, allow_neg_inf=True)
    V.warn_if_logprob_positive(
        name, "log_probs", log_probs,
        fix="apply log_softmax over the classes (dim=-1) to the model's scores before the loss",
    )
    steps, num_classes = log_probs.shape[0], log_probs.shape[-1]
    il, tl = input_lengths.reshape(-1), target_lengths.reshape(-1)
    if il.numel() == 0:
        return
    for arg, lengths in (("input_lengths", il), ("target_lengths", tl)):
        if int(lengths.min()) < 0:
            raise V.LossValueError(
                f"{name}: {arg} must be >= 0, but got {int(lengths.min())}; pass the true sequence lengths"
            )
    if int(il.max()) > steps:
        raise V.LossValueError(
            f"{name}: input_lengths must be <= T = {steps} (the time steps of log_probs {V.shape_str(log_probs)}), "
            f"but got {int(il.max())}; pass the lengths after any downsampling, and log_probs as (T, N, C) "
            "(use log_probs.transpose(0, 1) if it is batch-first)"
        )
    batch = il.numel()
    if targets.dim() == 1:  # concatenated label sequences (batched), or the one sequence (unbatched)
        if int(tl.sum()) != targets.numel():
            fix = (
                "concatenate exactly the first target_lengths[i] labels of each sequence, or pass padded targets "
                "of shape (N, S)" if log_probs.dim() == 3 else "pass targets[:target_length] (no padding here)"
            )
            raise V.LossValueError(
                f"{name}: 1-D targets must hold sum(target_lengths) = {int(tl.sum())} labels, but got "
                f"{targets.numel()}; {fix}"
            )
        rows = targets.reshape(1, -1)
        sample = torch.repeat_interleave(torch.arange(batch, device=tl.device), tl).reshape(1, -1)
        valid = torch.ones_like(rows, dtype=torch.bool)
    else:
        rows = targets.reshape(batch, -1)
        width = rows.shape[1]
        if int(tl.max()) > width:
            raise V.LossValueError(
                f"{name}: target_lengths must be <= S = {width} (the length of padded targets "
                f"{V.shape_str(targets)}), but got {int(tl.max())}; pass the true label counts"
            )
        positions = torch.arange(width, device=rows.device)
        valid = positions.unsqueeze(0) < tl.unsqueeze(1)
        sample = torch.arange(batch, device=rows.device).unsqueeze(1).expand_as(rows)
    labels = rows[valid]
    if labels.numel():
        lo, hi = int(labels.min()), int(labels.max())
        if lo < 0 or hi >= num_classes:
            raise V.LossValueError(
                f"{name}: targets must be class indices in [0, {num_classes}) (C of log_probs), but got "
                f"{lo if lo < 0 else hi} (range [{lo}, {hi}]); check the labels and the padding lengths"
            )
        if bool((labels == blank).any()):
            fix = "labels look 0-based with blank=0: use targets + 1 and C + 1 classes" if blank == 0 else (
                "use another blank index or remap the labels")
            raise V.LossValueError(
                f"{name}: targets must not contain the blank index {blank}, but got it "
                f"{int((labels == blank).sum())} time(s) in the labels; {fix}"
            )
    if zero_infinity:
        return
    needed = tl + _repeats(rows, valid, sample, batch)
    short = (il < needed).nonzero().reshape(-1)
    if short.numel():
        i = int(short[0])
        V.warn(
            f"{name}: input_lengths must be at least target_lengths plus the repeated adjacent labels, but sequence "
            f"{i} has input length {int(il[i])} for {int(tl[i])} labels needing {int(needed[i])} steps "
            f"({short.numel()} infeasible sequence(s)): their loss is inf; pass zero_infinity=True to zero them, "
            "or shorten the targets / downsample the input less"
        )


@mixed_precision
def ctc_loss(
    log_probs: Tensor,
    targets: Tensor,
    input_lengths: Lengths,
    target_lengths: Lengths,
    *,
    blank: int = 0,
    reduction: str = "mean",
    zero_infinity: bool = False,
) -> Tensor:
    r"""Connectionist temporal classification loss: :math:`-\log p(y \mid x)` summed over all alignments.

    With :math:`\mathcal{B}^{-1}(y)` the alignments of length :math:`T_n` that reduce to the target
    :math:`y` once repeated labels are merged and blanks removed:

    .. math::
        \ell_n = -\log \sum_{\pi \in \mathcal{B}^{-1}(y_n)} \prod_{t=1}^{T_n} p_t(\pi_t), \qquad
        \text{"mean"} = \frac{1}{N} \sum_n \frac{\ell_n}{\max(1, |y_n|)}

    ``"mean"`` divides each loss by its target length, then averages over the batch (torch's definition;
    an empty batch gives 0). ``"sum"`` adds the :math:`\ell_n`, ``"none"`` returns them. An infeasible
    sequence (fewer steps than labels plus repeats) has :math:`\ell_n = \infty`; ``zero_infinity=True`` makes
    it 0 with a zero gradient.

    Computed by torch's CTC kernel, so values and gradients are torch's. The gradient with respect to
    ``log_probs`` is torch's too: it is the right gradient once chained through ``log_softmax`` (how CTC is
    used), not the partial derivative of the formula for a free ``log_probs`` leaf (pytorch/pytorch#52241).
    Under :func:`torch.compile` the kernel has a data-dependent shape: the graph breaks at this loss (so
    ``fullgraph=True`` fails), as with torch's own ``ctc_loss``.

    Args:
        log_probs: log-probabilities over ``C`` classes (blank included), :math:`(T, N, C)` or unbatched
            :math:`(T, C)`, e.g. ``logits.log_softmax(-1)``.
        targets: label indices in ``[0, C)`` without the blank: padded :math:`(N, S)` (the first
            ``target_lengths[n]`` of row ``n`` count), or all targets concatenated :math:`(\sum_n |y_n|,)`;
            unbatched the one label sequence :math:`(S,)` with :math:`S` = ``target_lengths`` (as torch). Any
            integer dtype.
        input_lengths: the valid time steps per sequence (<= T): a tensor or tuple of ``N`` ints; unbatched
            an int or a 0-dim tensor.
        target_lengths: the number of labels per sequence, same forms.
        blank: the blank class index (default 0).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.
        zero_infinity: zero infinite losses and their gradients (default ``False``).

    Shape:
        As in Args. Output: scalar, or :math:`(N,)` (``()`` unbatched) for ``"none"``.

    Raises:
        LossOptionError: ``blank`` outside ``[0, C)``.
        LossShapeError: ``log_probs`` not 2-D/3-D or empty in T or C, targets of another layout, lengths not
            one per sequence.
        LossTypeError: floating ``log_probs`` expected; integer targets and lengths expected.
        LossValueError: input lengths > T or < 0, target lengths > S or not summing to the concatenated
            targets, labels outside ``[0, C)``, labels equal to ``blank`` (value checks).
        NonFiniteError: NaN or ``+inf`` in ``log_probs`` (value check; ``-inf`` is a log-probability of 0).
        SuspiciousInputWarning: positive ``log_probs`` (not log_softmax output); a sequence too short for
            its target (its loss is inf) unless ``zero_infinity``.

    References:
        Graves, A., Fernández, S., Gomez, F., Schmidhuber, J. "Connectionist Temporal Classification:
        Labelling Unsegmented Sequence Data with Recurrent Neural Networks", 2006.

    Example:
        >>> import torch, losskit.functional as LF
        >>> log_probs = torch.full((2, 1, 2), 0.5).log()  # T=2 steps, N=1, classes {blank, a}, p = 1/2
        >>> # "a" has 3 alignments (a a, a -, - a) of probability 1/4 each: -log(3/4)
        >>> print(round(float(LF.ctc_loss(log_probs, torch.tensor([[1]]), (2,), (1,))), 4))
        0.2877
    """
    name = "ctc_loss"
    V.check_reduction(name, reduction)
    zero_infinity = _check_flag(name, "zero_infinity", zero_infinity)
    _check_blank(name, blank)
    if V.enabled():
        V.check_tensor(name, "log_probs", log_probs)
        V.check_tensor(name, "targets", targets)
        V.check_floating(name, "log_probs", log_probs, role="log-probabilities")
        if log_probs.dim() not in (2, 3) or log_probs.shape[0] == 0 or log_probs.shape[-1] == 0:
            raise V.LossShapeError(
                f"{name}: log_probs must have shape (T, N, C) or (T, C) with T, C >= 1, but got "
                f"{V.shape_str(log_probs)}; put time first (log_probs.transpose(0, 1) for batch-first outputs)"
            )
        _check_blank(name, blank, log_probs.shape[-1])
        if targets.is_floating_point() or targets.is_complex() or targets.dtype == torch.bool:
            raise V.LossTypeError(
                f"{name}: targets must hold label indices of an integer dtype, but got dtype {targets.dtype}; "
                "use targets.long()"
            )
        batched = log_probs.dim() == 3
        if batched and not (targets.dim() == 1 or (targets.dim() == 2 and targets.shape[0] == log_probs.shape[1])):
            raise V.LossShapeError(
                f"{name}: targets must be padded ({log_probs.shape[1]}, S) or concatenated (sum(target_lengths),) "
                f"for log_probs {V.shape_str(log_probs)}, but got {V.shape_str(targets)}; pass one row of labels "
                "per sequence"
            )
        if not batched and targets.dim() != 1:
            raise V.LossShapeError(
                f"{name}: targets must have shape (S,) for unbatched log_probs {V.shape_str(log_probs)}, but got "
                f"{V.shape_str(targets)}; pass the label sequence of the one input"
            )
        V.check_same_device(name, log_probs=log_probs, targets=targets)
    batch = log_probs.shape[1] if log_probs.dim() == 3 else None
    il = _as_lengths(name, "input_lengths", input_lengths, batch, log_probs.device)
    tl = _as_lengths(name, "target_lengths", target_lengths, batch, log_probs.device)
    if V.values_due(name, log_probs, targets, il, tl):
        _check_values(name, log_probs, targets, il, tl, blank=blank, zero_infinity=zero_infinity)
    elif V.every_call_due(targets, tl):  # cheap enough for every call (README, the guard layer)
        _check_no_blank(name, targets, tl, blank)
    if batch and reduction != "none" and V.eager_readable(log_probs, targets):
        # torch's kernel and reduction: its "mean" divides each loss (zeroed first if infinite and zero_infinity)
        # by its target length clamped to 1, then averages over the batch, as below, in one call (eager CPU only:
        # its "mean" reads the lengths, which vmap and meta tensors do not allow)
        return torch.ctc_loss(log_probs, targets, il, tl, blank, 1 if reduction == "mean" else 2, zero_infinity)
    if batch == 0:
        # torch's kernel rejects an empty batch; the loss of no sequence is an empty tensor (mean 0, zero gradient)
        terms = log_probs.sum((0, 2))
        terms = terms * 0
    else:
        if isinstance(input_lengths, int):
            input_lengths = il
        if isinstance(target_lengths, int):
            target_lengths = tl
        terms = F.ctc_loss(  # torch's stub says Tensor lengths; the function takes sequences of ints too
            log_probs, targets, cast(Tensor, input_lengths), cast(Tensor, target_lengths),
            blank=blank, reduction="none", zero_infinity=zero_infinity,
        )
    if reduction == "mean":
        terms = terms / tl.clamp_min(1).to(terms.dtype)
    return reduce_loss(terms, reduction)
