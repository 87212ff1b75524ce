"""Modules of the segmentation family (overlap and Lovász losses); each ``forward`` is one call to
:mod:`losskit.functional.segmentation`. The pixel-wise and compound ones are in ``segmentation_compound.py``."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from .. import _validation as V
from ..functional import _segmentation as S
from ..functional import segmentation as SF
from ._base import Loss

__all__ = ["DiceLoss", "GeneralizedDiceLoss", "JaccardLoss", "LovaszLoss", "TverskyLoss"]


class _OverlapLoss(Loss):
    """Shared constructor of Dice, Jaccard and Tversky: options stored, ``class_weights`` a buffer."""

    family = "segmentation"
    class_weights: Tensor | None  # a buffer

    def __init__(
        self,
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
        soft_label: bool = False,
        empty_class: str = "zero",
        reduction: str = "mean",
    ) -> None:
        super().__init__(reduction=reduction)
        name = type(self).__name__
        S.check_options(
            name, mode=mode, eps=eps, smooth=smooth, per_image=per_image, global_batch=global_batch,
            class_weights=class_weights,
        )
        SF.check_overlap_options(
            name, mode=mode, smooth=smooth, smooth_nr=smooth_nr, smooth_dr=smooth_dr, classes=classes,
            include_background=include_background, empty_class=empty_class,
        )
        self.classes = classes
        self.include_background = include_background
        self.smooth_nr = smooth_nr
        self.smooth_dr = smooth_dr
        self.soft_label = soft_label
        self.empty_class = empty_class
        self.mode = mode
        self.from_logits = from_logits
        self.smooth = smooth
        self.eps = eps
        self.ignore_index = ignore_index
        self.log_loss = log_loss
        self.per_image = per_image
        self.global_batch = global_batch
        self._buffer("class_weights", class_weights)

    def _options(self) -> dict:
        return dict(
            mode=self.mode, from_logits=self.from_logits, smooth=self.smooth, eps=self.eps,
            ignore_index=self.ignore_index, log_loss=self.log_loss, per_image=self.per_image,
            global_batch=self.global_batch, classes=self.classes, include_background=self.include_background,
            smooth_nr=self.smooth_nr, smooth_dr=self.smooth_dr, soft_label=self.soft_label,
            empty_class=self.empty_class, reduction=self.reduction,
        )


class DiceLoss(_OverlapLoss):
    """Soft Dice loss for segmentation (binary, multiclass, multilabel); see :func:`losskit.functional.dice_loss`.

    Example:
        >>> import torch, losskit as lk
        >>> logits = torch.tensor([[[2.0, -1.0], [0.0, 1.0]], [[0.0, 1.0], [2.0, -1.0]]]).unsqueeze(0)
        >>> labels = torch.tensor([[[0, 1], [1, 0]]])  # every true class gets softmax 0.8808 = Dice of each class
        >>> print(round(float(lk.DiceLoss(mode="multiclass")(logits, labels)), 4))
        0.1192
    """

    functional = staticmethod(SF.dice_loss)

    def __init__(
        self,
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
        soft_label: bool = False,
        empty_class: str = "zero",
        squared_pred: bool = False,
        average: str = "macro",
        reduction: str = "mean",
    ) -> None:
        super().__init__(
            class_weights, mode=mode, from_logits=from_logits, smooth=smooth, eps=eps, ignore_index=ignore_index,
            log_loss=log_loss, per_image=per_image, global_batch=global_batch, classes=classes,
            include_background=include_background, smooth_nr=smooth_nr, smooth_dr=smooth_dr, soft_label=soft_label,
            empty_class=empty_class, reduction=reduction,
        )
        V.check_choice(type(self).__name__, "average", average, S.AVERAGES)
        self.squared_pred = squared_pred
        self.average = average

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return SF.dice_loss(
            input, target, self.class_weights, squared_pred=self.squared_pred, average=self.average,
            **self._options(),
        )


class JaccardLoss(_OverlapLoss):
    """Soft Jaccard (IoU) loss for segmentation; see :func:`losskit.functional.jaccard_loss`.

    Example:
        >>> import torch, losskit as lk
        >>> probs = torch.tensor([[[0.9, 0.2, 0.7, 0.1]]])
        >>> mask = torch.tensor([[[1.0, 0.0, 1.0, 1.0]]])
        >>> print(round(float(lk.JaccardLoss(mode="binary", from_logits=False)(probs, mask)), 4))
        0.4688
    """

    functional = staticmethod(SF.jaccard_loss)

    def __init__(
        self,
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
        soft_label: bool = False,
        empty_class: str = "zero",
        squared_pred: bool = False,
        reduction: str = "mean",
    ) -> None:
        super().__init__(
            class_weights, mode=mode, from_logits=from_logits, smooth=smooth, eps=eps, ignore_index=ignore_index,
            log_loss=log_loss, per_image=per_image, global_batch=global_batch, classes=classes,
            include_background=include_background, smooth_nr=smooth_nr, smooth_dr=smooth_dr, soft_label=soft_label,
            empty_class=empty_class, reduction=reduction,
        )
        self.squared_pred = squared_pred

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return SF.jaccard_loss(input, target, self.class_weights, squared_pred=self.squared_pred, **self._options())


class TverskyLoss(_OverlapLoss):
    """Tversky and focal Tversky loss for segmentation; see :func:`losskit.functional.tversky_loss`.

    Example:
        >>> import torch, losskit as lk
        >>> probs = torch.tensor([[[0.9, 0.2, 0.7, 0.1]]])
        >>> mask = torch.tensor([[[1.0, 0.0, 1.0, 1.0]]])
        >>> loss = lk.TverskyLoss(mode="binary", alpha=0.3, beta=0.7, gamma=2.0, from_logits=False)
        >>> print(round(float(loss(probs, mask)), 4))
        0.132
    """

    functional = staticmethod(SF.tversky_loss)

    def __init__(
        self,
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
    ) -> None:
        super().__init__(
            class_weights, mode=mode, from_logits=from_logits, smooth=smooth, eps=eps, ignore_index=ignore_index,
            log_loss=log_loss, per_image=per_image, global_batch=global_batch, classes=classes,
            include_background=include_background, smooth_nr=smooth_nr, smooth_dr=smooth_dr, soft_label=soft_label,
            empty_class=empty_class, reduction=reduction,
        )
        name = type(self).__name__
        self.alpha = V.check_positive(name, "alpha", alpha, allow_zero=True)
        self.beta = V.check_positive(name, "beta", beta, allow_zero=True)
        self.gamma = V.check_positive(name, "gamma", gamma)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return SF.tversky_loss(
            input, target, self.class_weights, alpha=self.alpha, beta=self.beta, gamma=self.gamma,
            **self._options(),
        )


class LovaszLoss(Loss):
    """Lovász hinge / Lovász-Softmax loss, a convex surrogate of the IoU; see :func:`losskit.functional.lovasz_loss`.

    Example:
        >>> import torch, losskit as lk
        >>> logits = torch.tensor([[[2.0, -1.0, 0.5, -3.0]]])
        >>> mask = torch.tensor([[[1.0, 0.0, 0.0, 1.0]]])
        >>> print(round(float(lk.LovaszLoss(mode="binary")(logits, mask)), 4))
        2.25
    """

    family = "segmentation"
    functional = staticmethod(SF.lovasz_loss)
    class_weights: Tensor | None  # a buffer

    def __init__(
        self,
        class_weights: Tensor | None = None,
        *,
        mode: str,
        from_logits: bool = True,
        ignore_index: int | None = None,
        per_image: bool = False,
        classes: Sequence[int] | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(reduction=reduction)
        name = type(self).__name__
        S.check_options(name, mode=mode, per_image=per_image, class_weights=class_weights)
        S.check_lovasz_options(name, mode=mode, from_logits=from_logits)
        S.check_classes(name, mode=mode, classes=classes, include_background=True)
        self.classes = classes
        self.mode = mode
        self.from_logits = from_logits
        self.ignore_index = ignore_index
        self.per_image = per_image
        self._buffer("class_weights", class_weights)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return SF.lovasz_loss(
            input, target, self.class_weights, mode=self.mode, from_logits=self.from_logits,
            ignore_index=self.ignore_index, per_image=self.per_image, classes=self.classes, reduction=self.reduction,
        )


class GeneralizedDiceLoss(Loss):
    """Generalized Dice loss, classes weighted by inverse target volume; see
    :func:`losskit.functional.generalized_dice_loss`.

    Example:
        >>> import torch, losskit as lk
        >>> probs = torch.tensor([[[0.9, 0.2, 0.7, 0.1], [0.1, 0.8, 0.3, 0.9]]])
        >>> labels = torch.tensor([[0, 1, 0, 0]])
        >>> print(round(float(lk.GeneralizedDiceLoss(mode="multiclass", from_logits=False)(probs, labels)), 4))
        0.4573
    """

    family = "segmentation"
    functional = staticmethod(SF.generalized_dice_loss)

    def __init__(
        self,
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
    ) -> None:
        super().__init__(reduction=reduction)
        name = type(self).__name__
        S.check_options(name, mode=mode, eps=eps, smooth=smooth, per_image=per_image, global_batch=global_batch)
        SF.check_generalized_options(name, weight_type)
        SF.check_overlap_options(
            name, mode=mode, smooth=smooth, smooth_nr=smooth_nr, smooth_dr=smooth_dr, classes=classes,
            include_background=include_background,
        )
        self.mode = mode
        self.weight_type = weight_type
        self.from_logits = from_logits
        self.smooth = smooth
        self.smooth_nr = smooth_nr
        self.smooth_dr = smooth_dr
        self.eps = eps
        self.ignore_index = ignore_index
        self.per_image = per_image
        self.global_batch = global_batch
        self.classes = classes
        self.include_background = include_background
        self.soft_label = soft_label

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return SF.generalized_dice_loss(
            input, target, mode=self.mode, weight_type=self.weight_type, from_logits=self.from_logits,
            smooth=self.smooth, smooth_nr=self.smooth_nr, smooth_dr=self.smooth_dr, eps=self.eps,
            ignore_index=self.ignore_index, per_image=self.per_image, global_batch=self.global_batch,
            classes=self.classes, include_background=self.include_background, soft_label=self.soft_label,
            reduction=self.reduction,
        )
