r"""Segmentation losses on masks: Dice, Jaccard (IoU), Tversky (and focal Tversky), generalized Dice, Lovász,
Dice + cross-entropy, Dice + focal, a focal loss with segmentation modes and the erosion Hausdorff loss.

The overlap losses live here; :func:`lovasz_loss` in ``segmentation_lovasz.py``, :func:`segmentation_focal_loss`,
:func:`dice_ce_loss` and :func:`dice_focal_loss` in ``segmentation_compound.py``, :func:`hausdorff_er_loss` in
``segmentation_distance.py`` (all importable from here and from :mod:`losskit.functional`). The conventions of
segmentation_models_pytorch (smp), read the same way by every function:

**Modes** (``mode`` is a required keyword: guessing it wrong gives a plausible but meaningless number).

============ ========================== ================================== ==================================
mode         ``input``                  ``target``                         probabilities (``from_logits``)
============ ========================== ================================== ==================================
binary       :math:`(N, 1, *)` logits   :math:`(N, 1, *)` mask in [0, 1]   sigmoid
multilabel   :math:`(N, C, *)` logits   :math:`(N, C, *)` masks in [0, 1]  sigmoid, each channel on its own
multiclass   :math:`(N, C, *)` logits   :math:`(N, *)` class indices       softmax over dim 1 (C >= 2)
============ ========================== ================================== ==================================

``*`` is any number of spatial dimensions (none included). With ``from_logits=False`` the input already holds
probabilities. A binary or multilabel ``target`` may have any real or bool dtype.

**Statistics.** For every class ``c``, with probabilities :math:`p` and one-hot targets :math:`t`, the sums run
over the whole batch (``per_image=False``, default, as smp) or over each image (``per_image=True``):

.. math::
    TP_c = \sum p\,t, \qquad FP_c = \sum p\,(1 - t), \qquad FN_c = \sum (1 - p)\,t .

With ``global_batch=True`` these sums (and the target count) are summed over every process with
:func:`losskit.distributed.all_reduce_sum` before the score is formed, so data-parallel training sees the
statistics of the global batch (a no-op without a process group): every rank then returns the global-batch
loss, and ``backward`` plus DDP's gradient averaging give the full-batch gradient (the convention of
:mod:`losskit.distributed`). ``ignore_index`` removes pixels (a target value; for binary/multilabel it is
compared with each mask element) from every sum.

**Scored classes.** ``classes=[...]`` (smp) scores only the listed classes (channels); ``include_background=False``
(MONAI) scores every class but 0. The probabilities are still the softmax over all classes; ``class_weights``
keeps one entry per class of the input (the listed ones are used); ``reduction="none"`` returns the scored
classes only, in the order given.

**Empty masks** (smp's rule, ``empty_class="zero"``, the default). A class with no target pixel (in the batch, or
in the image with ``per_image``) contributes a loss of 0, whatever the prediction, and still counts in the mean's
denominator; so an all-empty or all-ignored batch gives ``0.`` with a zero gradient, never NaN.
``empty_class="score"`` applies the formula to such a class as well (MONAI, which has no special rule): with
``smooth_nr = smooth_dr = s > 0`` a class absent from both prediction and target then scores
:math:`s / s = 1` (loss 0), and predicting an absent class is penalised (loss near 1); with ``s = 0`` an absent
class scores 0 (loss 1). :func:`lovasz_loss` follows Berman et al. instead: see its docstring.

**Reduction.** ``reduction="none"`` returns the per-class losses, shape :math:`(C,)`, or :math:`(N, C)` with
``per_image=True``, multiplied by ``class_weights`` when given. ``"sum"`` sums them and ``"mean"`` is the
weighted average ``sum(w * l) / sum(w)`` (:mod:`losskit._reduction`), i.e. the mean over classes (and images).

**From MONAI** (``monai.losses.DiceLoss`` and friends; losskit takes class indices, so there is no
``to_onehot_y``): ``to_onehot_y=True, softmax=True`` with a target :math:`(N, 1, *)` is ``mode="multiclass"`` with
``target.squeeze(1)``; ``sigmoid=True`` with a target of the input's shape is ``mode="multilabel"`` (one channel:
``"binary"``); ``softmax=True`` with a one-hot or soft label map of the input's shape is ``mode="multilabel"``
with ``input.softmax(1)`` and ``from_logits=False``. MONAI's default ``batch=False`` is ``per_image=True``
(``batch=True`` is the default ``per_image=False``); its default ``smooth_nr = smooth_dr = 1e-5`` and absent-class
convention are ``smooth_nr=1e-5, smooth_dr=1e-5, empty_class="score"``; ``jaccard=True`` is
:func:`jaccard_loss` with ``smooth_nr = s_nr / 2, smooth_dr = s_dr / 2``; ``squared_pred`` and ``soft_label``
have MONAI's meaning; ``weight`` is ``class_weights`` (MONAI's mean divides by the number of terms, losskit's by
the sum of the weights: equal for uniform weights).

**Differences from smp** (all deliberate, each with the option that gives smp's number):

* soft targets: the intersection is :math:`\sum p\,t` (Milletari et al., Sudre et al.); smp (since PR #927,
  October 2024) uses :math:`\sum \min(p, t)`, which is ``soft_label=True`` (MONAI's soft-label formula
  :math:`(\|p\|_1 + \|t\|_1 - \|p - t\|_1) / 2`). Both agree on hard {0, 1} targets.
* ``smooth`` is added to the numerator and denominator of each score as written in its docstring; smp (since the
  same PR) computes Dice as Tversky(0.5, 0.5), so its ``DiceLoss(smooth=s)`` equals :func:`dice_loss` with
  ``smooth=2 * s`` (same numbers at the default ``smooth=0``).
* focal Tversky raises each class's loss to ``gamma`` before the mean, :math:`(1 - TI_c)^\gamma`
  (Abraham & Khan); smp raises the mean (``tversky_loss(..., reduction="mean") ** gamma`` with ``gamma=1``).
* multilabel Lovász is a binary Lovász hinge per channel (then the mean over channels); smp pools all
  channels into one binary problem (``mode="binary"`` on ``input.reshape(N, 1, -1)`` gives smp's number).
* ``class_weights`` is allowed in every mode but binary (one channel), as in smp; here it is a tensor.
* smp's ``LovaszLoss`` applies softmax in multiclass mode whatever ``from_logits`` says; here
  ``from_logits=False`` takes probabilities.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from .. import _validation as V
from .._precision import mixed_precision
from .._reduction import reduce_loss
from ..fused.dice import fused_dice_loss, supports_dice_loss
from ._segmentation import (
    AVERAGES,
    EMPTY_CLASS,
    _check_inputs,
    check_classes,
    check_options,
    check_smoothing,
    overlap_math,
    scored_classes,
    statistics,
)
from .segmentation_compound import dice_ce_loss, dice_focal_loss, segmentation_focal_loss
from .segmentation_distance import hausdorff_er_loss
from .segmentation_lovasz import lovasz_loss

__all__ = [
    "dice_ce_loss",
    "dice_focal_loss",
    "dice_loss",
    "generalized_dice_loss",
    "hausdorff_er_loss",
    "jaccard_loss",
    "lovasz_loss",
    "segmentation_focal_loss",
    "tversky_loss",
]

WEIGHT_TYPES = ("square", "simple", "uniform")


def check_overlap_options(
    name: str,
    *,
    mode: str,
    smooth: float,
    smooth_nr: float | None,
    smooth_dr: float | None,
    classes: Sequence[int] | None,
    include_background: bool,
    empty_class: str = "zero",
    average: str = "macro",
) -> tuple[float, float, tuple[int, ...] | None]:
    """The options of the second round (no tensor read): returns ``(smooth_nr, smooth_dr, classes)``."""
    nr, dr = check_smoothing(name, smooth, smooth_nr, smooth_dr)
    chosen = check_classes(name, mode=mode, classes=classes, include_background=include_background)
    V.check_choice(name, "empty_class", empty_class, EMPTY_CLASS,
                   fix="pass empty_class='zero' (smp) or 'score' (MONAI)")
    V.check_choice(name, "average", average, AVERAGES, fix="pass average='macro' (per class) or 'micro' (pooled)")
    return nr, dr, chosen


# --------------------------------------------------------------------------------------------
# the one body of Dice, Jaccard and Tversky
# --------------------------------------------------------------------------------------------
def _overlap_loss(
    name: str,
    input: Tensor,
    target: Tensor,
    class_weights: Tensor | None,
    *,
    mode: str,
    from_logits: bool,
    smooth: float,
    smooth_nr: float | None,
    smooth_dr: float | None,
    eps: float,
    ignore_index: int | None,
    log_loss: bool,
    per_image: bool,
    global_batch: bool,
    reduction: str,
    k: float,
    alpha: float,
    beta: float,
    gamma: float = 1.0,
    classes: Sequence[int] | None = None,
    include_background: bool = True,
    squared_pred: bool = False,
    soft_label: bool = False,
    empty_class: str = "zero",
    average: str = "macro",
) -> Tensor:
    """Score ``(k TP + s_nr) / ((k - alpha - beta) TP + alpha sum(p) + beta sum(t) + s_dr)``, which is
    ``(k TP + s_nr) / (k TP + alpha FP + beta FN + s_dr)``."""
    V.check_reduction(name, reduction)
    check_options(
        name, mode=mode, eps=eps, smooth=smooth, per_image=per_image, global_batch=global_batch,
        class_weights=class_weights,
    )
    nr, dr, chosen = check_overlap_options(
        name, mode=mode, smooth=smooth, smooth_nr=smooth_nr, smooth_dr=smooth_dr, classes=classes,
        include_background=include_background, empty_class=empty_class, average=average,
    )
    _check_inputs(
        name, input, target, class_weights, mode=mode, from_logits=from_logits, ignore_index=ignore_index
    )
    plain = (
        chosen is None and include_background and not squared_pred and not soft_label and nr == dr
        and empty_class == "zero" and average == "macro"
    )
    if plain and name == "dice_loss" and supports_dice_loss(
        input, target, class_weights, mode=mode, from_logits=from_logits, smooth=nr, eps=eps,
        ignore_index=ignore_index, log_loss=log_loss, per_image=per_image, global_batch=global_batch,
        reduction=reduction,
    ):
        return fused_dice_loss(
            input, target, mode=mode, from_logits=from_logits, smooth=nr, eps=eps, log_loss=log_loss,
            per_image=per_image, reduction=reduction,
        )
    chosen = scored_classes(name, chosen, include_background, input.shape[1])
    return overlap_math(
        input, target, class_weights, mode=mode, from_logits=from_logits, smooth_nr=nr, smooth_dr=dr, eps=eps,
        ignore_index=ignore_index, log_loss=log_loss, per_image=per_image, global_batch=global_batch,
        reduction=reduction, k=k, alpha=alpha, beta=beta, gamma=gamma, classes=chosen, squared_pred=squared_pred,
        soft_label=soft_label, empty_class=empty_class, average=average,
    )


# --------------------------------------------------------------------------------------------
# the losses
# --------------------------------------------------------------------------------------------
@mixed_precision
def dice_loss(
    input: Tensor,
    target: Tensor,
    class_weights: Tensor | None = None,
    *,
    mode: str,
    from_logits: bool = True,
    smooth: float = 0.0,
    eps: float = 1e-7,
    ignore_index: int | None = None,
    log_loss: bool = False,
    per_image: bool = False,
    global_batch: bool = False,
    classes: Sequence[int] | None = None,
    include_background: bool = True,
    smooth_nr: float | None = None,
    smooth_dr: float | None = None,
    squared_pred: bool = False,
    soft_label: bool = False,
    empty_class: str = "zero",
    average: str = "macro",
    reduction: str = "mean",
) -> Tensor:
    r"""Soft Dice loss, one minus the Dice coefficient (F1 score) of each class.

    .. math::
        D_c = \frac{2\,TP_c + s}{\max(2\,TP_c + FP_c + FN_c + s,\ \epsilon)}
            = \frac{2 \sum p\,t + s}{\max(\sum p + \sum t + s,\ \epsilon)}, \qquad
        \ell_c = 1 - D_c \quad (\text{or } -\log \max(D_c, \epsilon) \text{ with } \texttt{log\_loss})

    (``smooth`` :math:`s` split into :math:`s_{nr}` above and :math:`s_{dr}` below with ``smooth_nr``/``smooth_dr``)
    and :math:`\ell_c = 0` for a class without target pixels. Modes, statistics, empty masks and reductions are
    described once in :mod:`losskit.functional.segmentation`.

    Args:
        input: logits (or probabilities with ``from_logits=False``), :math:`(N, C, *)`.
        target: masks :math:`(N, C, *)` (binary, multilabel) or class indices :math:`(N, *)` (multiclass).
        class_weights: optional :math:`(C,)` non-negative weights of the per-class losses (not in binary mode).
        mode: ``"binary"``, ``"multiclass"`` or ``"multilabel"``; required, keyword-only.
        from_logits: apply sigmoid (binary, multilabel) or softmax (multiclass) first (default ``True``).
        smooth: added to numerator and denominator, >= 0 (default 0.0).
        eps: floor of the denominator (and of the score with ``log_loss``), > 0 (default 1e-7).
        ignore_index: target value whose pixels are left out (default ``None``).
        log_loss: return :math:`-\log D_c` instead of :math:`1 - D_c` (default ``False``).
        per_image: statistics per image instead of over the batch (default ``False``).
        global_batch: sum the statistics over processes (default ``False``; not with ``per_image``).
        classes: score only these classes (channels), e.g. ``[1, 2]`` (smp; default ``None``: all).
        include_background: ``False`` scores every class but 0 (MONAI; default ``True``).
        smooth_nr, smooth_dr: separate numerator and denominator terms (MONAI), >= 0, instead of ``smooth``
            (default ``None``: ``smooth``).
        squared_pred: sums of squares :math:`\sum p^2 + \sum t^2` in the denominator (MONAI, Milletari et al.;
            default ``False``).
        soft_label: intersection :math:`\sum \min(p, t)` (MONAI's ``soft_label``, smp >= 0.4), so that a soft
            target scores 1 against itself (default ``False``: :math:`\sum p\,t`; the same on hard targets).
        empty_class: ``"zero"`` (smp, default) or ``"score"`` (MONAI) for classes without target pixels.
        average: ``"macro"`` (default: one score per class, then the mean) or ``"micro"`` (kornia: the
            statistics of the scored classes pooled into one score per image or batch, ``class_weights``
            scaling each class's terms inside the sums); ``"none"`` then returns :math:`(N,)` with
            ``per_image`` or a scalar.
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Shape:
        ``input`` :math:`(N, C, *)`; ``target`` as above; output scalar, or for ``"none"`` :math:`(C,)`
        (:math:`(N, C)` with ``per_image=True``).

    Raises:
        LossOptionError: unknown ``mode``, ``empty_class`` or ``average``; ``eps <= 0``; negative smoothing;
            ``smooth`` with ``smooth_nr``/``smooth_dr``; ``per_image`` with ``global_batch``; ``class_weights``,
            ``classes`` or ``include_background=False`` with ``mode="binary"``; ``classes`` not distinct indices.
        LossShapeError: shapes that do not fit the mode (e.g. binary input with several channels, one-hot
            targets in multiclass mode); ``class_weights`` not of length C.
        LossTypeError: integer ``input``; float class indices.
        LossValueError: class indices out of range; masks outside [0, 1]; probabilities outside [0, 1] with
            ``from_logits=False``; negative ``class_weights`` (value checks); ``classes`` outside [0, C).

    References:
        Milletari, F., Navab, N., Ahmadi, S.-A. "V-Net: Fully Convolutional Neural Networks for Volumetric
        Medical Image Segmentation", 2016. Sudre, C. H. et al. "Generalised Dice overlap as a deep learning loss
        function for highly unbalanced segmentations", 2017.

    Example:
        >>> import torch, losskit.functional as LF
        >>> probs = torch.tensor([[[0.9, 0.2, 0.7, 0.1]]])  # (N=1, C=1, 4 pixels)
        >>> mask = torch.tensor([[[1.0, 0.0, 1.0, 1.0]]])
        >>> print(round(float(LF.dice_loss(probs, mask, mode="binary", from_logits=False)), 4))
        0.3061
    """
    return _overlap_loss(
        "dice_loss", input, target, class_weights, mode=mode, from_logits=from_logits, smooth=smooth, eps=eps,
        ignore_index=ignore_index, log_loss=log_loss, per_image=per_image, global_batch=global_batch,
        reduction=reduction, k=2.0, alpha=1.0, beta=1.0, classes=classes, include_background=include_background,
        smooth_nr=smooth_nr, smooth_dr=smooth_dr, squared_pred=squared_pred, soft_label=soft_label,
        empty_class=empty_class, average=average,
    )


@mixed_precision
def jaccard_loss(
    input: Tensor,
    target: Tensor,
    class_weights: Tensor | None = None,
    *,
    mode: str,
    from_logits: bool = True,
    smooth: float = 0.0,
    eps: float = 1e-7,
    ignore_index: int | None = None,
    log_loss: bool = False,
    per_image: bool = False,
    global_batch: bool = False,
    classes: Sequence[int] | None = None,
    include_background: bool = True,
    smooth_nr: float | None = None,
    smooth_dr: float | None = None,
    squared_pred: bool = False,
    soft_label: bool = False,
    empty_class: str = "zero",
    reduction: str = "mean",
) -> Tensor:
    r"""Soft Jaccard (IoU) loss, one minus the intersection over union of each class.

    .. math::
        J_c = \frac{TP_c + s}{\max(TP_c + FP_c + FN_c + s,\ \epsilon)}
            = \frac{\sum p\,t + s}{\max(\sum p + \sum t - \sum p\,t + s,\ \epsilon)}, \qquad
        \ell_c = 1 - J_c \quad (\text{or } -\log \max(J_c, \epsilon))

    and :math:`\ell_c = 0` for a class without target pixels (see :mod:`losskit.functional.segmentation`).

    Args:
        input, target, class_weights, mode, from_logits, smooth, eps, ignore_index: as :func:`dice_loss`.
        log_loss, per_image, global_batch, classes, include_background: as :func:`dice_loss`.
        smooth_nr, smooth_dr, soft_label, empty_class, reduction: as :func:`dice_loss`.
        squared_pred: as :func:`dice_loss` (the union becomes :math:`\sum p^2 + \sum t^2 - TP`).

    Shape:
        As :func:`dice_loss`.

    Raises:
        As :func:`dice_loss`.

    References:
        Rahman, M. A., Wang, Y. "Optimizing Intersection-Over-Union in Deep Neural Networks for Image
        Segmentation", 2016.

    Example:
        >>> import torch, losskit.functional as LF
        >>> probs = torch.tensor([[[0.9, 0.2, 0.7, 0.1]]])
        >>> mask = torch.tensor([[[1.0, 0.0, 1.0, 1.0]]])
        >>> print(round(float(LF.jaccard_loss(probs, mask, mode="binary", from_logits=False)), 4))
        0.4688
    """
    return _overlap_loss(
        "jaccard_loss", input, target, class_weights, mode=mode, from_logits=from_logits, smooth=smooth,
        eps=eps, ignore_index=ignore_index, log_loss=log_loss, per_image=per_image, global_batch=global_batch,
        reduction=reduction, k=1.0, alpha=1.0, beta=1.0, classes=classes,
        include_background=include_background, smooth_nr=smooth_nr, smooth_dr=smooth_dr,
        squared_pred=squared_pred, soft_label=soft_label, empty_class=empty_class,
    )


@mixed_precision
def tversky_loss(
    input: Tensor,
    target: Tensor,
    class_weights: Tensor | None = None,
    *,
    mode: str,
    alpha: float = 0.5,
    beta: float = 0.5,
    gamma: float = 1.0,
    from_logits: bool = True,
    smooth: float = 0.0,
    eps: float = 1e-7,
    ignore_index: int | None = None,
    log_loss: bool = False,
    per_image: bool = False,
    global_batch: bool = False,
    classes: Sequence[int] | None = None,
    include_background: bool = True,
    smooth_nr: float | None = None,
    smooth_dr: float | None = None,
    soft_label: bool = False,
    empty_class: str = "zero",
    reduction: str = "mean",
) -> Tensor:
    r"""Tversky loss, with the focal Tversky variant for ``gamma != 1``.

    .. math::
        TI_c = \frac{TP_c + s}{\max(TP_c + \alpha\,FP_c + \beta\,FN_c + s,\ \epsilon)}, \qquad
        \ell_c = (1 - TI_c)^{\gamma} \quad (\text{or } (-\log \max(TI_c, \epsilon))^{\gamma})

    and :math:`\ell_c = 0` for a class without target pixels (see :mod:`losskit.functional.segmentation`).
    ``alpha`` weighs false positives and ``beta`` false negatives. ``alpha = beta = 1`` is
    :func:`jaccard_loss`; ``alpha = beta = 0.5`` is :func:`dice_loss` (with ``smooth`` doubled when it is
    not 0). ``gamma`` is applied per class, before the mean (smp applies it to the mean).

    Args:
        alpha: weight of the false positives, >= 0 (default 0.5).
        beta: weight of the false negatives, >= 0 (default 0.5).
        gamma: focal exponent, > 0 (default 1.0: plain Tversky). Abraham & Khan write the exponent as
            :math:`1/\gamma'` with :math:`\gamma' = 4/3`, i.e. ``gamma=0.75`` here; with ``gamma < 1`` the
            gradient at a perfect fit is 0, not infinite.
        input, target, class_weights, mode, from_logits, smooth, eps, ignore_index: as :func:`dice_loss`.
        log_loss, per_image, global_batch, classes, include_background: as :func:`dice_loss`.
        smooth_nr, smooth_dr, soft_label, empty_class, reduction: as :func:`dice_loss`.

    Shape:
        As :func:`dice_loss`.

    Raises:
        LossOptionError: ``alpha`` or ``beta`` < 0, ``gamma <= 0``; otherwise as :func:`dice_loss`.
        LossShapeError, LossTypeError, LossValueError: as :func:`dice_loss`.

    References:
        Salehi, S. S. M., Erdogmus, D., Gholipour, A. "Tversky loss function for image segmentation using 3D
        fully convolutional deep networks", 2017. Abraham, N., Khan, N. M. "A Novel Focal Tversky loss function
        with improved Attention U-Net for lesion segmentation", 2019.

    Example:
        >>> import torch, losskit.functional as LF
        >>> probs = torch.tensor([[[0.9, 0.2, 0.7, 0.1]]])
        >>> mask = torch.tensor([[[1.0, 0.0, 1.0, 1.0]]])
        >>> loss = LF.tversky_loss(probs, mask, mode="binary", alpha=0.3, beta=0.7, from_logits=False)
        >>> print(round(float(loss), 4))
        0.3633
    """
    name = "tversky_loss"
    V.check_positive(name, "alpha", alpha, allow_zero=True)
    V.check_positive(name, "beta", beta, allow_zero=True)
    V.check_positive(name, "gamma", gamma)
    return _overlap_loss(
        name, input, target, class_weights, mode=mode, from_logits=from_logits, smooth=smooth, eps=eps,
        ignore_index=ignore_index, log_loss=log_loss, per_image=per_image, global_batch=global_batch,
        reduction=reduction, k=1.0, alpha=float(alpha), beta=float(beta), gamma=float(gamma),
        classes=classes, include_background=include_background, smooth_nr=smooth_nr, smooth_dr=smooth_dr,
        soft_label=soft_label, empty_class=empty_class,
    )


def check_generalized_options(name: str, weight_type: str) -> str:
    return V.check_choice(name, "weight_type", weight_type, WEIGHT_TYPES,
                          fix="pass weight_type='square' (Sudre et al.), 'simple' or 'uniform'")


@mixed_precision
def generalized_dice_loss(
    input: Tensor,
    target: Tensor,
    *,
    mode: str,
    weight_type: str = "square",
    from_logits: bool = True,
    smooth: float = 0.0,
    smooth_nr: float | None = None,
    smooth_dr: float | None = None,
    eps: float = 1e-7,
    ignore_index: int | None = None,
    per_image: bool = False,
    global_batch: bool = False,
    classes: Sequence[int] | None = None,
    include_background: bool = True,
    soft_label: bool = False,
    reduction: str = "mean",
) -> Tensor:
    r"""Generalized Dice loss: one Dice over all classes, each weighted by the inverse of its target volume.

    With the statistics of :mod:`losskit.functional.segmentation` per class (over the batch, or per image with
    ``per_image``) and :math:`V_c = \sum t_c` the target volume of class :math:`c`:

    .. math::
        w_c = \frac{1}{V_c^2}\ (\texttt{"square"}), \quad \frac{1}{V_c}\ (\texttt{"simple"}), \quad
        1\ (\texttt{"uniform"}), \qquad
        \ell = 1 - \frac{2 \sum_c w_c\, TP_c + s_{nr}}{\max(\sum_c w_c \left(\sum p_c + V_c\right) + s_{dr},\
        \epsilon)} .

    A class absent from the target (:math:`V_c = 0`, an infinite weight) gets the largest weight of the present
    classes of its image (batch), the rule of NiftyNet and MONAI; an image (batch) without any target pixel gives
    0 with a zero gradient (the family's empty-mask rule; MONAI's number there is :math:`1 - s_{nr}/s_{dr}`, also
    0 at its default ``smooth_nr = smooth_dr``). The weights are constants (no gradient flows through them).

    MONAI's ``GeneralizedDiceLoss(w_type=..., batch=False)`` is ``per_image=True`` with
    ``smooth_nr=1e-5, smooth_dr=1e-5`` (its ``to_onehot_y``/``softmax``/``sigmoid``: see the module docstring).

    Args:
        weight_type: ``"square"`` (default, Sudre et al.), ``"simple"`` or ``"uniform"`` (MONAI's ``w_type``).
        input, target, mode, from_logits, smooth, smooth_nr, smooth_dr, eps: as :func:`dice_loss`.
        ignore_index, per_image, global_batch, classes, include_background, soft_label: as :func:`dice_loss`.
        reduction: ``"mean"`` (default; over images with ``per_image``), ``"sum"`` or ``"none"``.

    Shape:
        ``input`` :math:`(N, C, *)`; ``target`` as :func:`dice_loss`; output scalar, or for ``"none"``
        :math:`(N,)` with ``per_image=True`` (a scalar without).

    Raises:
        LossOptionError: unknown ``weight_type``; otherwise as :func:`dice_loss`.
        LossShapeError, LossTypeError, LossValueError: as :func:`dice_loss`.

    References:
        Sudre, C. H., Li, W., Vercauteren, T., Ourselin, S., Cardoso, M. J. "Generalised Dice overlap as a deep
        learning loss function for highly unbalanced segmentations", DLMIA 2017.

    Example:
        >>> import torch, losskit.functional as LF
        >>> probs = torch.tensor([[[0.9, 0.2, 0.7, 0.1], [0.1, 0.8, 0.3, 0.9]]])  # (N=1, C=2, 4 pixels)
        >>> labels = torch.tensor([[0, 1, 0, 0]])  # volumes 3 and 1: weights 1/9 and 1
        >>> print(round(float(LF.generalized_dice_loss(probs, labels, mode="multiclass", from_logits=False)), 4))
        0.4573
    """
    name = "generalized_dice_loss"
    V.check_reduction(name, reduction)
    check_options(name, mode=mode, eps=eps, smooth=smooth, per_image=per_image, global_batch=global_batch)
    check_generalized_options(name, weight_type)
    nr, dr, chosen = check_overlap_options(
        name, mode=mode, smooth=smooth, smooth_nr=smooth_nr, smooth_dr=smooth_dr, classes=classes,
        include_background=include_background,
    )
    _check_inputs(name, input, target, None, mode=mode, from_logits=from_logits, ignore_index=ignore_index)
    chosen = scored_classes(name, chosen, include_background, input.shape[1])
    tp, psum, tsum, count = statistics(
        input, target, mode=mode, from_logits=from_logits, ignore_index=ignore_index, per_image=per_image,
        global_batch=global_batch, classes=chosen, soft_label=soft_label,
    )
    volume = tsum.detach()
    present = volume > 0
    safe = torch.where(present, volume, torch.ones_like(volume))
    if weight_type == "square":
        w = 1 / (safe * safe)
    elif weight_type == "simple":
        w = 1 / safe
    else:
        w = torch.ones_like(safe)
    w = torch.where(present, w, torch.zeros_like(w))
    w = torch.where(present, w, w.amax(-1, keepdim=True))
    numerator = 2 * (w * tp).sum(-1) + nr
    denominator = (w * (psum + tsum)).sum(-1) + dr
    loss = 1 - numerator / denominator.clamp_min(eps)
    loss = torch.where(count.sum(-1) > 0, loss, torch.zeros_like(loss))
    return reduce_loss(loss, reduction)
