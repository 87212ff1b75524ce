"""Modules of the pixel-wise, compound and distance segmentation losses; each ``forward`` is one call to
:mod:`losskit.functional.segmentation_compound` or :mod:`losskit.functional.segmentation_distance`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from torch import Tensor

from ..functional import _segmentation as S
from ..functional import segmentation_compound as CF
from ..functional import segmentation_distance as DF
from ._base import Loss

__all__ = ["DiceCELoss", "DiceFocalLoss", "HausdorffERLoss", "SegmentationFocalLoss"]


class SegmentationFocalLoss(Loss):
    """Focal loss with segmentation modes (smp's FocalLoss); see :func:`losskit.functional.segmentation_focal_loss`.

    Example:
        >>> import torch, losskit as lk
        >>> logits = torch.tensor([[[2.0, -1.0, 0.5, -3.0]]])
        >>> mask = torch.tensor([[[1.0, 0.0, 0.0, 1.0]]])
        >>> print(round(float(lk.SegmentationFocalLoss(mode="binary")(logits, mask)), 4))
        0.792
    """

    family = "segmentation"
    functional = staticmethod(CF.segmentation_focal_loss)

    def __init__(
        self,
        class_weights: Tensor | None = None,
        *,
        mode: str,
        alpha: float | None = None,
        gamma: float = 2.0,
        ignore_index: int | None = None,
        normalized: bool = False,
        reduced_threshold: float | None = None,
        classes: Sequence[int] | None = None,
        include_background: bool = True,
        reduction: str = "mean",
    ) -> None:
        super().__init__(reduction=reduction)
        name = type(self).__name__
        S.check_options(name, mode=mode, class_weights=class_weights)
        CF.check_focal_options(name, alpha=alpha, gamma=gamma, reduced_threshold=reduced_threshold,
                               normalized=normalized)
        S.check_classes(name, mode=mode, classes=classes, include_background=include_background)
        self.mode = mode
        self.alpha = alpha
        self.gamma = gamma
        self.ignore_index = ignore_index
        self.normalized = normalized
        self.reduced_threshold = reduced_threshold
        self.classes = classes
        self.include_background = include_background
        self._buffer("class_weights", class_weights)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return CF.segmentation_focal_loss(
            input, target, self.class_weights, mode=self.mode, alpha=self.alpha, gamma=self.gamma,
            ignore_index=self.ignore_index, normalized=self.normalized, reduced_threshold=self.reduced_threshold,
            classes=self.classes, include_background=self.include_background, reduction=self.reduction,
        )


class _DiceCompound(Loss):
    """The Dice options shared by Dice + CE and Dice + focal."""

    family = "segmentation"
    reductions: ClassVar[tuple[str, ...]] = CF.COMPOUND_REDUCTIONS

    def _store_dice(
        self, class_weights: Tensor | None, *, mode: str, smooth: float, smooth_nr: float | None,
        smooth_dr: float | None, eps: float, ignore_index: int | None, per_image: bool,
        classes: Sequence[int] | None, include_background: bool, squared_pred: bool, empty_class: str,
    ) -> None:
        name = type(self).__name__
        S.check_options(name, mode=mode, eps=eps, smooth=smooth, per_image=per_image, class_weights=class_weights)
        S.check_smoothing(name, smooth, smooth_nr, smooth_dr)
        S.check_classes(name, mode=mode, classes=classes, include_background=include_background)
        S.V.check_choice(name, "empty_class", empty_class, S.EMPTY_CLASS)
        self.mode = mode
        self.smooth = smooth
        self.smooth_nr = smooth_nr
        self.smooth_dr = smooth_dr
        self.eps = eps
        self.ignore_index = ignore_index
        self.per_image = per_image
        self.classes = classes
        self.include_background = include_background
        self.squared_pred = squared_pred
        self.empty_class = empty_class
        self._buffer("class_weights", class_weights)

    def _dice_options(self) -> dict:
        return dict(
            mode=self.mode, smooth=self.smooth, smooth_nr=self.smooth_nr, smooth_dr=self.smooth_dr, eps=self.eps,
            ignore_index=self.ignore_index, per_image=self.per_image, classes=self.classes,
            include_background=self.include_background, squared_pred=self.squared_pred,
            empty_class=self.empty_class, reduction=self.reduction,
        )


class DiceCELoss(_DiceCompound):
    """Dice plus cross-entropy (MONAI's DiceCELoss); see :func:`losskit.functional.dice_ce_loss`.

    Example:
        >>> import torch, losskit as lk
        >>> logits = torch.tensor([[[2.0, -1.0, 0.5], [0.0, 1.0, 0.5]]])
        >>> print(round(float(lk.DiceCELoss(mode="multiclass")(logits, torch.tensor([[0, 1, 1]]))), 4))
        0.5688
    """

    functional = staticmethod(CF.dice_ce_loss)

    def __init__(
        self,
        class_weights: Tensor | None = None,
        *,
        mode: str,
        lambda_dice: float = 1.0,
        lambda_ce: float = 1.0,
        smooth: float = 0.0,
        smooth_nr: float | None = None,
        smooth_dr: float | None = None,
        eps: float = 1e-7,
        ignore_index: int | None = None,
        per_image: bool = False,
        classes: Sequence[int] | None = None,
        include_background: bool = True,
        squared_pred: bool = False,
        empty_class: str = "zero",
        reduction: str = "mean",
    ) -> None:
        super().__init__(reduction=reduction)
        CF.check_lambdas(type(self).__name__, lambda_dice=lambda_dice, lambda_ce=lambda_ce)
        self._store_dice(
            class_weights, mode=mode, smooth=smooth, smooth_nr=smooth_nr, smooth_dr=smooth_dr, eps=eps,
            ignore_index=ignore_index, per_image=per_image, classes=classes, include_background=include_background,
            squared_pred=squared_pred, empty_class=empty_class,
        )
        self.lambda_dice = lambda_dice
        self.lambda_ce = lambda_ce

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return CF.dice_ce_loss(
            input, target, self.class_weights, lambda_dice=self.lambda_dice, lambda_ce=self.lambda_ce,
            **self._dice_options(),
        )


class DiceFocalLoss(_DiceCompound):
    """Dice plus focal loss (MONAI's DiceFocalLoss); see :func:`losskit.functional.dice_focal_loss`.

    Example:
        >>> import torch, losskit as lk
        >>> logits = torch.tensor([[[2.0, -1.0, 0.5], [0.0, 1.0, 0.5]]])
        >>> print(round(float(lk.DiceFocalLoss(mode="multiclass")(logits, torch.tensor([[0, 1, 1]]))), 4))
        0.3641
    """

    functional = staticmethod(CF.dice_focal_loss)

    def __init__(
        self,
        class_weights: Tensor | None = None,
        *,
        mode: str,
        lambda_dice: float = 1.0,
        lambda_focal: float = 1.0,
        gamma: float = 2.0,
        alpha: float | None = None,
        smooth: float = 0.0,
        smooth_nr: float | None = None,
        smooth_dr: float | None = None,
        eps: float = 1e-7,
        ignore_index: int | None = None,
        per_image: bool = False,
        classes: Sequence[int] | None = None,
        include_background: bool = True,
        squared_pred: bool = False,
        empty_class: str = "zero",
        reduction: str = "mean",
    ) -> None:
        super().__init__(reduction=reduction)
        name = type(self).__name__
        CF.check_lambdas(name, lambda_dice=lambda_dice, lambda_focal=lambda_focal)
        CF.check_focal_options(name, alpha=alpha, gamma=gamma, reduced_threshold=None, normalized=False)
        self._store_dice(
            class_weights, mode=mode, smooth=smooth, smooth_nr=smooth_nr, smooth_dr=smooth_dr, eps=eps,
            ignore_index=ignore_index, per_image=per_image, classes=classes, include_background=include_background,
            squared_pred=squared_pred, empty_class=empty_class,
        )
        self.lambda_dice = lambda_dice
        self.lambda_focal = lambda_focal
        self.gamma = gamma
        self.alpha = alpha

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return CF.dice_focal_loss(
            input, target, self.class_weights, lambda_dice=self.lambda_dice, lambda_focal=self.lambda_focal,
            gamma=self.gamma, alpha=self.alpha, **self._dice_options(),
        )


class HausdorffERLoss(Loss):
    """Hausdorff distance loss by morphological erosion (kornia's HausdorffERLoss); see
    :func:`losskit.functional.hausdorff_er_loss`.

    Example:
        >>> import torch, losskit as lk
        >>> probs = torch.zeros(1, 1, 5, 5)
        >>> probs[..., 1:4, 1:4] = 1.0
        >>> loss = lk.HausdorffERLoss(mode="binary", from_logits=False, k=2)
        >>> print(round(float(loss(probs, torch.zeros(1, 1, 5, 5))), 4))
        0.328
    """

    family = "segmentation"
    functional = staticmethod(DF.hausdorff_er_loss)

    def __init__(
        self, *, mode: str, alpha: float = 2.0, k: int = 10, from_logits: bool = True, reduction: str = "mean"
    ) -> None:
        super().__init__(reduction=reduction)
        name = type(self).__name__
        S.check_options(name, mode=mode)
        DF.check_hausdorff_options(name, alpha=alpha, k=k)
        self.mode = mode
        self.alpha = alpha
        self.k = k
        self.from_logits = from_logits

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return DF.hausdorff_er_loss(
            input, target, mode=self.mode, alpha=self.alpha, k=self.k, from_logits=self.from_logits,
            reduction=self.reduction,
        )
