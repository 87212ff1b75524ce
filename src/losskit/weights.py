"""Weights for imbalanced data, computed from the training labels: the class weights of ``cross_entropy`` and
``focal_loss``, the ``pos_weight`` of ``binary_cross_entropy_with_logits`` and ``sigmoid_focal_loss``, and the
per-sample weights of :class:`torch.utils.data.WeightedRandomSampler`.

These helpers read tensor values once, before training; they are not meant for the training step.

Example:
    >>> import torch
    >>> from losskit.weights import class_weights
    >>> print(class_weights(torch.tensor([0, 0, 0, 1])))
    tensor([0.5000, 1.5000])
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Sequence

import torch
from torch import Tensor

from . import _validation as V

__all__ = ["class_weights", "drw_weights", "pos_weight", "sample_weights"]

METHODS = ("inverse", "inverse_sqrt", "effective_number")
"""The methods of :func:`class_weights`."""


def _as_tensor(name: str, targets: object) -> Tensor:
    """A tensor of the labels; lists and NumPy arrays (``dataset.targets``) are converted."""
    if isinstance(targets, Tensor):
        return targets
    try:
        return torch.as_tensor(targets)
    except (TypeError, ValueError, RuntimeError):
        raise V.LossTypeError(
            f"{name}: targets must be a tensor or an array-like of labels, but got {type(targets).__name__}; "
            "pass torch.as_tensor(labels)"
        ) from None


def _class_counts(name: str, targets: object, num_classes: int | None) -> Tensor:
    """Checked class-index labels (any shape, flattened) -> counts per class, shape ``(num_classes,)``."""
    t = _as_tensor(name, targets)
    if t.is_floating_point() or t.is_complex():
        raise V.LossTypeError(
            f"{name}: targets must hold class indices of an integer dtype, but got dtype {t.dtype}; use "
            "targets.long() (for multi-hot (N, C) labels use pos_weight instead)"
        )
    if t.numel() == 0:
        raise V.LossValueError(
            f"{name}: targets must hold at least one label, but got an empty tensor of shape {V.shape_str(t)}; "
            "pass the labels of the training set"
        )
    flat = t.reshape(-1).long()
    lo, hi = int(flat.min()), int(flat.max())
    if lo < 0:
        raise V.LossValueError(
            f"{name}: targets must be class indices >= 0, but got {lo}; drop ignored labels first, "
            f"e.g. targets[targets != {lo}]"
        )
    if num_classes is None:
        num_classes = hi + 1
    elif isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise V.LossOptionError(
            f"{name}: num_classes must be a positive int or None, but got {num_classes!r}; pass the number of "
            "classes of the model, or None to use the largest label + 1"
        )
    elif hi >= num_classes:
        one_based = " (labels look 1-based: use targets - 1)" if lo >= 1 and hi == num_classes else ""
        raise V.LossValueError(
            f"{name}: num_classes must exceed every label, but got num_classes={num_classes} and a label "
            f"{hi}; pass num_classes={hi + 1} or more{one_based}"
        )
    return torch.bincount(flat, minlength=num_classes)


def _weights_from_counts(name: str, counts: Tensor, method: str, beta: float) -> Tensor:
    if method not in METHODS:
        close = difflib.get_close_matches(str(method), METHODS, n=1)
        hint = f"did you mean {close[0]!r}?" if close else "pass method='inverse'"
        raise V.LossOptionError(
            f"{name}: method must be one of {', '.join(map(repr, METHODS))}, but got {method!r}; {hint}"
        )
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not 0 <= beta < 1:
        raise V.LossOptionError(
            f"{name}: beta must be a float in [0, 1), but got {beta!r}; pass e.g. beta=0.999 (Cui et al. use "
            "0.9 to 0.9999; closer to 1 is closer to method='inverse')"
        )
    n = counts.double()
    present = n > 0
    safe = torch.where(present, n, torch.ones_like(n))
    if method == "inverse":
        raw = 1.0 / safe
    elif method == "inverse_sqrt":
        raw = safe.rsqrt()
    elif beta == 0:  # effective number of samples (1 - beta^n) / (1 - beta) = 1 for every class present
        raw = torch.ones_like(n)
    else:  # 1 / effective number = (1 - beta) / (1 - beta^n), with 1 - beta^n = -expm1(n log beta)
        raw = (1.0 - beta) / -torch.expm1(safe * math.log(beta))
    raw = torch.where(present, raw, torch.zeros_like(raw))
    return raw * (present.sum() / raw.sum())


def class_weights(
    targets: Tensor | Sequence[int],
    num_classes: int | None = None,
    *,
    method: str = "inverse",
    beta: float = 0.999,
) -> Tensor:
    r"""Per-class weights from the class frequencies of ``targets``, for ``weight=`` of ``cross_entropy``,
    ``focal_loss``, ``poly_loss`` and the like.

    With :math:`n_c` the number of labels of class :math:`c`:

    ============================ ===========================================================================
    ``method``                   raw weight
    ============================ ===========================================================================
    ``"inverse"`` (default)      :math:`1 / n_c`
    ``"inverse_sqrt"``           :math:`1 / \sqrt{n_c}`
    ``"effective_number"``       :math:`(1 - \beta) / (1 - \beta^{n_c})`, the inverse of the effective number of
                                 samples (Cui et al., 2019); :math:`\beta = 0` gives equal weights and
                                 :math:`\beta \to 1` approaches ``"inverse"``
    ============================ ===========================================================================

    The weights are then scaled so that they **average to 1 over the classes present** in ``targets`` (Cui et al.
    normalise them to sum to the number of classes; with every class present this is the same). The scale does
    not change a weighted *mean* (losskit's is :math:`\sum w_y \ell / \sum w_y`), only ``"sum"`` reductions.

    **Classes absent from** ``targets`` (possible when ``num_classes`` exceeds the largest label + 1) get weight
    0, and a :class:`~losskit.SuspiciousInputWarning` names them: their loss terms would be ignored, which is
    rarely what is wanted (check the split, or give them a weight yourself).

    Args:
        targets: class indices, an integer tensor of any shape (flattened; e.g. ``(N,)`` labels or
            ``(N, H, W)`` masks) or an array-like such as ``dataset.targets``.
        num_classes: the number of classes ``C`` (default ``None``: the largest label + 1).
        method: ``"inverse"``, ``"inverse_sqrt"`` or ``"effective_number"``.
        beta: :math:`\beta \in [0, 1)` of ``"effective_number"`` (default 0.999; ignored by the other methods).

    Returns:
        A tensor of shape ``(C,)``, of the default floating dtype (use ``.to(input.dtype)`` for float64 models),
        on the device of ``targets``.

    Raises:
        LossTypeError: float (or complex) labels.
        LossValueError: empty ``targets``, negative labels, ``num_classes`` not above the largest label.
        LossOptionError: unknown ``method``, ``beta`` outside ``[0, 1)``, ``num_classes < 1``.

    References:
        Cui, Y., Jia, M., Lin, T.-Y., Song, Y., Belongie, S. "Class-Balanced Loss Based on Effective Number of
        Samples", 2019.

    Example:
        >>> import torch
        >>> from losskit.weights import class_weights
        >>> labels = torch.tensor([0, 0, 0, 0, 0, 0, 1, 1, 2])
        >>> print(class_weights(labels))
        tensor([0.3000, 0.9000, 1.8000])
        >>> print(class_weights(labels, method="effective_number", beta=0.9))
        tensor([0.3680, 0.9076, 1.7244])
    """
    return _class_weights("class_weights", targets, num_classes, method, beta, warn_absent=True)


def _class_weights(
    name: str, targets: object, num_classes: int | None, method: str, beta: float, *, warn_absent: bool
) -> Tensor:
    counts = _class_counts(name, targets, num_classes)
    weights = _weights_from_counts(name, counts, method, beta)
    absent = (counts == 0).nonzero().flatten().tolist()
    if warn_absent and absent:
        shown = ", ".join(map(str, absent[:10])) + (", ..." if len(absent) > 10 else "")
        V.warn(
            f"{name}: every class should occur in targets, but {len(absent)} of {counts.numel()} classes do not "
            f"([{shown}]), so they get weight 0 and their loss terms will be ignored; check the labels or the "
            "split, or set their weights by hand"
        )
    return weights.to(torch.get_default_dtype())


def drw_weights(
    class_counts: Tensor | Sequence[int], epoch: int, *, start_epoch: int = 160, beta: float = 0.9999
) -> Tensor:
    r"""Deferred re-weighting (DRW, Cao et al., 2019): the class weights of epoch ``epoch``, for ``weight=`` of
    :func:`losskit.functional.ldam_loss` (or any class-weighted loss).

    Before ``start_epoch`` every class weighs 1; from ``start_epoch`` on (epochs counted from 0), the inverse
    effective numbers :math:`(1 - \beta) / (1 - \beta^{n_c})`, normalised to average 1 over the classes with
    :math:`n_c > 0` (:func:`class_weights` with ``method="effective_number"``; classes without samples get 0).
    The authors' schedule for CIFAR (200 epochs) is ``start_epoch=160, beta=0.9999``, the defaults.

    Args:
        class_counts: ``(C,)`` non-negative counts of each class in the training set, e.g.
            ``torch.bincount(train_labels, minlength=C)``.
        epoch: the current epoch, >= 0.
        start_epoch: the first re-weighted epoch (default 160).
        beta: :math:`\beta \in [0, 1)` (default 0.9999).

    Returns:
        A tensor of shape ``(C,)``, of the default floating dtype, on the device of ``class_counts``.

    Raises:
        LossShapeError: ``class_counts`` not 1-D.
        LossValueError: negative counts, or none positive.
        LossOptionError: a negative ``epoch`` or ``start_epoch``, ``beta`` outside ``[0, 1)``.

    References:
        Cao, K., Wei, C., Gaidon, A., Arechiga, N., Ma, T. "Learning Imbalanced Datasets with Label-Distribution-
        Aware Margin Loss", 2019.

    Example:
        >>> import torch
        >>> from losskit.weights import drw_weights
        >>> counts = torch.tensor([5000, 500, 50])
        >>> print(drw_weights(counts, 10), drw_weights(counts, 160))
        tensor([1., 1., 1.]) tensor([0.0341, 0.2752, 2.6907])
    """
    name = "drw_weights"
    for arg, value in (("epoch", epoch), ("start_epoch", start_epoch)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise V.LossOptionError(f"{name}: {arg} must be an int >= 0, but got {value!r}; pass e.g. {arg}=160")
    counts = _as_tensor(name, class_counts)
    if counts.dim() != 1 or counts.is_complex() or counts.dtype == torch.bool:
        raise V.LossShapeError(
            f"{name}: class_counts must be a 1-D tensor of counts (C,), but got shape {V.shape_str(counts)} and "
            f"dtype {counts.dtype}; pass torch.bincount(train_labels, minlength=C)"
        )
    if counts.numel() == 0 or float(counts.min()) < 0 or float(counts.max()) <= 0:
        raise V.LossValueError(
            f"{name}: class_counts must be >= 0 with at least one positive count, but got {counts.tolist()}; "
            "pass the number of training samples of each class"
        )
    _weights_from_counts(name, torch.ones(1), "effective_number", beta)  # checks beta at every epoch
    weights = _weights_from_counts(name, counts, "effective_number", beta if epoch >= start_epoch else 0.0)
    return weights.to(torch.get_default_dtype())


def pos_weight(targets: Tensor | Sequence) -> Tensor:
    r"""``pos_weight`` for ``binary_cross_entropy_with_logits`` / ``sigmoid_focal_loss``: negatives over
    positives per label.

    .. math::
        \mathrm{pos\_weight}_c = \frac{\sum_i (1 - t_{ic})}{\sum_i t_{ic}}

    so that the positives of each label weigh as much in total as its negatives (soft labels in ``[0, 1]`` count
    fractionally). A label that is never positive or never negative in ``targets`` has no such ratio: it gets
    1.0 (no reweighting) and a :class:`~losskit.SuspiciousInputWarning` names it.

    Args:
        targets: multi-hot labels ``(N, C)`` or binary labels ``(N,)`` with values in ``[0, 1]``, any
            dtype (bool, integer or floating).

    Returns:
        A tensor of shape ``(C,)`` (``(1,)`` for ``(N,)`` targets), of the targets' floating dtype (else the
        default one), on their device.

    Raises:
        LossShapeError: ``targets`` that are not 1-D or 2-D.
        LossValueError: empty ``targets``; values outside ``[0, 1]`` (e.g. class indices: one-hot them first).

    Example:
        >>> import torch
        >>> from losskit.weights import pos_weight
        >>> print(pos_weight(torch.tensor([[1, 0], [0, 0], [0, 1], [0, 1], [0, 1]])))
        tensor([4.0000, 0.6667])
    """
    name = "pos_weight"
    t = _as_tensor(name, targets)
    if t.dim() not in (1, 2):
        raise V.LossShapeError(
            f"{name}: targets must be multi-hot labels (N, C) or binary labels (N,), but got shape "
            f"{V.shape_str(t)}; flatten the extra dims, e.g. targets.reshape(-1, targets.shape[-1])"
        )
    if t.shape[0] == 0:
        raise V.LossValueError(
            f"{name}: targets must hold at least one sample, but got shape {V.shape_str(t)}; pass the labels of "
            "the training set"
        )
    dtype = t.dtype if t.is_floating_point() else torch.get_default_dtype()
    values = t.double()
    lo, hi = (float(v) for v in torch.aminmax(values))
    if lo < 0 or hi > 1:
        raise V.LossValueError(
            f"{name}: targets must hold 0/1 labels (or probabilities in [0, 1]), but got values in [{lo:g}, {hi:g}]; "
            "for class indices use F.one_hot(targets, num_classes), for a {0, 255} mask use targets / 255"
        )
    if values.dim() == 1:
        values = values.unsqueeze(1)
    positives = values.sum(0)
    negatives = (1.0 - values).sum(0)
    degenerate = (positives == 0) | (negatives == 0)
    ratio = torch.where(degenerate, torch.ones_like(positives), negatives / positives.clamp_min(1e-300))
    if bool(degenerate.any()):
        labels = degenerate.nonzero().flatten().tolist()
        shown = ", ".join(map(str, labels[:10])) + (", ..." if len(labels) > 10 else "")
        V.warn(
            f"{name}: every label should have positives and negatives, but labels [{shown}] are always 0 or "
            "always 1 in targets, so they get pos_weight 1.0; check the labels or the split"
        )
    return ratio.to(dtype)


def sample_weights(
    targets: Tensor | Sequence[int],
    num_classes: int | None = None,
    *,
    method: str = "inverse",
    beta: float = 0.999,
) -> Tensor:
    r"""One weight per sample for :class:`torch.utils.data.WeightedRandomSampler`: the :func:`class_weights` of
    each sample's class.

    With ``method="inverse"`` every class gets the same total sampling mass, so the sampler draws classes
    uniformly. The options are those of :func:`class_weights`; classes absent from ``targets`` do not matter here
    (no sample has them) and raise no warning.

    Args:
        targets: one class index per sample, ``(N,)``, integer tensor or array-like (``dataset.targets``).
        num_classes, method, beta: as :func:`class_weights`.

    Returns:
        A tensor of shape ``(N,)``, of the default floating dtype.

    Raises:
        LossShapeError: ``targets`` not 1-D.
        LossTypeError, LossValueError, LossOptionError: as :func:`class_weights`.

    Example:
        >>> import torch
        >>> from torch.utils.data import WeightedRandomSampler
        >>> from losskit.weights import sample_weights
        >>> w = sample_weights(torch.tensor([0, 0, 0, 1]))
        >>> print(w)
        tensor([0.5000, 0.5000, 0.5000, 1.5000])
        >>> sampler = WeightedRandomSampler(w, num_samples=4, replacement=True)
    """
    name = "sample_weights"
    t = _as_tensor(name, targets)
    if t.dim() != 1:
        raise V.LossShapeError(
            f"{name}: targets must be 1-D (N,), one class index per sample, but got shape {V.shape_str(t)}; "
            "pass the label of each sample (targets.squeeze(-1) for (N, 1))"
        )
    weights = _class_weights(name, t, num_classes, method, beta, warn_absent=False)
    return weights[t.long()]
