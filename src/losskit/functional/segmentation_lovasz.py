"""The Lovász loss (Berman et al., 2018); conventions in :mod:`losskit.functional.segmentation`."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from .. import _validation as V
from .._precision import mixed_precision
from .._reduction import reduce_loss
from ._segmentation import (
    _check_inputs,
    _flatten,
    _probabilities,
    check_classes,
    check_lovasz_options,
    check_options,
    scored_classes,
    select,
)

__all__ = ["lovasz_loss"]


def _lovasz_extension(errors: Tensor, fg: Tensor, valid: Tensor, *, hinge: bool) -> Tensor:
    """The Lovász extension of the Jaccard loss along the last dim (Berman et al., Alg. 1), batched.

    ``errors``, ``fg`` (0/1 foreground) and ``valid`` have shape (..., P); returns (...). Invalid pixels are
    sorted last and contribute nothing, which equals removing them (the weights of the earlier positions only
    depend on the pixels before them).
    """
    key = errors.detach().masked_fill(~valid, float("-inf"))
    order = torch.argsort(key, dim=-1, descending=True)
    err = errors.gather(-1, order)
    fg_sorted = fg.gather(-1, order)
    valid_sorted = valid.gather(-1, order)
    if hinge:
        err = torch.relu(err)
    err = torch.where(valid_sorted, err, torch.zeros_like(err))
    total = fg_sorted.sum(-1, keepdim=True)
    intersection = total - fg_sorted.cumsum(-1)
    union = total + ((1 - fg_sorted) * valid_sorted).cumsum(-1)
    jaccard = 1 - intersection / union.clamp_min(1)
    weights = torch.cat((jaccard[..., :1], jaccard[..., 1:] - jaccard[..., :-1]), dim=-1)
    return (err * weights).sum(-1)


@mixed_precision
def lovasz_loss(
    input: Tensor,
    target: Tensor,
    class_weights: Tensor | None = None,
    *,
    mode: str,
    from_logits: bool = True,
    ignore_index: int | None = None,
    per_image: bool = False,
    classes: Sequence[int] | None = None,
    reduction: str = "mean",
) -> Tensor:
    r"""Lovász loss: the convex Lovász extension of the Jaccard loss, a direct surrogate for the IoU.

    For each class (and image with ``per_image``), with the errors :math:`m_i` sorted in decreasing order,

    .. math::
        \ell_c = \sum_i m_{(i)} \, g_i, \qquad
        g_i = J(\{(1)\ldots(i)\}) - J(\{(1)\ldots(i-1)\}), \qquad
        J(A) = 1 - \frac{|F \setminus A|}{|F \cup A|},

    where :math:`F` is the set of foreground pixels. Errors:

    * ``"binary"`` / ``"multilabel"`` (Lovász hinge on logits): :math:`m_i = \max(0, 1 - x_i\,(2 t_i - 1))`,
      with each multilabel channel its own binary problem. Needs ``from_logits=True`` and 0/1 masks.
    * ``"multiclass"`` (Lovász-Softmax): :math:`m_i = |t_i - p_i|` with :math:`p` the softmax (or the given
      probabilities with ``from_logits=False``).

    Which terms count (Berman et al.'s reference code): in multiclass mode only the classes present in the target of
    the batch (of the image with ``per_image``), the ``"present"`` option of the reference code; in
    binary/multilabel mode every channel and image, also one whose pixels are all ignored (its term is 0, as
    ``lovasz_hinge(per_image=True, ignore=...)`` and smp count it; earlier losskit versions left such an image out
    of the mean). Terms that do not count are 0 and have weight 0, so an all-ignored multiclass batch gives ``0.``
    with a zero gradient. ``"mean"`` is ``sum(w * l) / sum(w)`` over the counted (image, class) terms, ``w`` the
    class weight: with ``per_image=True`` and images that hold different numbers of classes this is the mean over
    all counted terms, not the reference code's mean over images of per-image means (a deliberate difference: one
    weighted-mean rule for every losskit loss; ``reduction="none"`` and a mean of each row's present terms give the
    reference's number). ``classes`` (the reference's list of classes) scores only the listed classes.

    Args:
        input: logits (or probabilities, multiclass with ``from_logits=False`` only), :math:`(N, C, *)`.
        target: masks :math:`(N, C, *)` of 0/1 (binary, multilabel) or class indices :math:`(N, *)`.
        class_weights: optional :math:`(C,)` non-negative weights of the per-class losses (not in binary mode).
        mode: ``"binary"``, ``"multiclass"`` or ``"multilabel"``; required, keyword-only.
        from_logits: whether ``input`` holds logits (default ``True``; must be ``True`` for the hinge).
        ignore_index: target value whose pixels are left out (default ``None``).
        per_image: one term per image and class instead of per class over the batch (default ``False``).
        classes: score only these classes (channels), e.g. ``[1, 2]`` (default ``None``: all; not binary).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Shape:
        ``input`` :math:`(N, C, *)`; ``target`` as above; output scalar, or for ``"none"`` :math:`(C,)`
        (:math:`(N, C)` with ``per_image=True``), uncounted terms 0, multiplied by ``class_weights``.

    Raises:
        LossOptionError: unknown ``mode``; ``from_logits=False`` with the hinge; ``class_weights`` or ``classes``
            in binary mode; ``classes`` not distinct indices >= 0.
        LossShapeError, LossTypeError: as :func:`dice_loss`.
        LossValueError: masks other than 0/1; class indices out of range (value checks).

    References:
        Berman, M., Rannen Triki, A., Blaschko, M. B. "The Lovász-Softmax loss: A tractable surrogate for the
        optimization of the intersection-over-union measure in neural networks", 2018.

    Example:
        >>> import torch, losskit.functional as LF
        >>> logits = torch.tensor([[[2.0, -1.0, 0.5, -3.0]]])
        >>> mask = torch.tensor([[[1.0, 0.0, 0.0, 1.0]]])
        >>> print(round(float(LF.lovasz_loss(logits, mask, mode="binary")), 4))
        2.25
    """
    name = "lovasz_loss"
    V.check_reduction(name, reduction)
    check_options(name, mode=mode, per_image=per_image, class_weights=class_weights)
    check_lovasz_options(name, mode=mode, from_logits=from_logits)
    chosen = check_classes(name, mode=mode, classes=classes, include_background=True)
    hinge = mode != "multiclass"
    _check_inputs(
        name, input, target, class_weights, mode=mode, from_logits=from_logits, ignore_index=ignore_index,
        hard_targets=True,
    )
    chosen = scored_classes(name, chosen, True, input.shape[1])
    x, t, valid = _flatten(input, target, mode=mode, ignore_index=ignore_index)
    n, c, s = x.shape
    if hinge:
        errors = 1 - x * (2 * t - 1)
    else:
        errors = (t - _probabilities(x, mode=mode, from_logits=from_logits)).abs()
    valid = torch.ones_like(t, dtype=torch.bool) if valid is None else valid.expand(n, c, s)
    errors, t, valid = (select(v, chosen) for v in (errors, t, valid))
    c = t.shape[1]
    if not per_image:
        errors, t, valid = (v.transpose(0, 1).reshape(1, c, n * s) for v in (errors, t, valid))
    terms = _lovasz_extension(errors, t, valid, hinge=hinge)
    counted = torch.ones_like(terms, dtype=torch.bool) if hinge else (t > 0).any(-1)
    weight = counted.to(terms.dtype)
    if class_weights is not None:
        weight = weight * select(class_weights.to(terms.dtype), chosen, 0)
    loss = reduce_loss(torch.where(counted, terms, torch.zeros_like(terms)), reduction, weight=weight)
    return loss.squeeze(0) if reduction == "none" and not per_image else loss
