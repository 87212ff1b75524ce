"""Modules of the segmentation family; each ``forward`` is one call to :mod:`losskit.functional.segmentation`."""

from __future__ import annotations

from torch import Tensor

from .. import _validation as V
from ..functional import segmentation as SF
from ._base import Loss

__all__ = ["DiceLoss", "JaccardLoss", "LovaszLoss", "TverskyLoss"]


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
        reduction: str = "mean",
    ) -> None:
        super().__init__(reduction=reduction)
        SF.check_options(
            type(self).__name__, mode=mode, eps=eps, smooth=smooth, per_image=per_image,
            global_batch=global_batch, class_weights=class_weights,
        )
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
            global_batch=self.global_batch, reduction=self.reduction,
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

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return SF.dice_loss(input, target, self.class_weights, **self._options())


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

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return SF.jaccard_loss(input, target, self.class_weights, **self._options())


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
        reduction: str = "mean",
    ) -> None:
        super().__init__(
            class_weights, mode=mode, from_logits=from_logits, smooth=smooth, eps=eps, ignore_index=ignore_index,
            log_loss=log_loss, per_image=per_image, global_batch=global_batch, reduction=reduction,
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
        reduction: str = "mean",
    ) -> None:
        super().__init__(reduction=reduction)
        name = type(self).__name__
        SF.check_options(name, mode=mode, per_image=per_image, class_weights=class_weights)
        SF.check_lovasz_options(name, mode=mode, from_logits=from_logits)
        self.mode = mode
        self.from_logits = from_logits
        self.ignore_index = ignore_index
        self.per_image = per_image
        self._buffer("class_weights", class_weights)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return SF.lovasz_loss(
            input, target, self.class_weights, mode=self.mode, from_logits=self.from_logits,
            ignore_index=self.ignore_index, per_image=self.per_image, reduction=self.reduction,
        )
