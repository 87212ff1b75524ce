"""Modules of the imaging losses; each ``forward`` is one call to :mod:`losskit.functional.imaging`."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from ..functional import imaging as IF
from ._base import Loss

__all__ = ["MSSSIMLoss", "PSNRLoss", "SSIMLoss", "TotalVariationLoss"]


class SSIMLoss(Loss):
    """Structural dissimilarity (1 - SSIM) / 2 between images; see :func:`losskit.functional.ssim_loss`.

    Example:
        >>> import torch, losskit as lk
        >>> x = torch.linspace(0, 1, 64).view(1, 1, 8, 8)
        >>> print(round(float(lk.SSIMLoss(window_size=5)(x, x.flip(-1))), 4))
        0.0256
    """

    family = "imaging"
    functional = staticmethod(IF.ssim_loss)

    def __init__(
        self,
        *,
        max_val: float = 1.0,
        window_size: int = 11,
        sigma: float = 1.5,
        k1: float = 0.01,
        k2: float = 0.03,
        padding: str = "same",
        eps: float = 0.0,
        reduction: str = "mean",
    ) -> None:
        super().__init__(reduction=reduction)
        self.max_val, self.window_size, self.sigma, self.k1, self.k2 = max_val, window_size, sigma, k1, k2
        self.padding, self.eps = padding, eps

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return IF.ssim_loss(
            input, target, max_val=self.max_val, window_size=self.window_size, sigma=self.sigma, k1=self.k1,
            k2=self.k2, padding=self.padding, eps=self.eps, reduction=self.reduction,
        )


class MSSSIMLoss(Loss):
    """Multi-scale structural dissimilarity 1 - MS-SSIM between images; see :func:`losskit.functional.ms_ssim_loss`.

    Example:
        >>> import torch, losskit as lk
        >>> x = torch.linspace(0, 1, 1024).view(1, 1, 32, 32)
        >>> print(round(float(lk.MSSSIMLoss(window_size=3, weights=(0.5, 0.5))(x, x.flip(-1))), 4))
        0.0024
    """

    family = "imaging"
    functional = staticmethod(IF.ms_ssim_loss)

    def __init__(
        self,
        *,
        max_val: float = 1.0,
        window_size: int = 11,
        sigma: float = 1.5,
        k1: float = 0.01,
        k2: float = 0.03,
        weights: Sequence[float] = IF.MS_SSIM_WEIGHTS,
        padding: str = "valid",
        reduction: str = "mean",
    ) -> None:
        super().__init__(reduction=reduction)
        self.max_val, self.window_size, self.sigma, self.k1, self.k2 = max_val, window_size, sigma, k1, k2
        self.weights = IF._check_weights(type(self).__name__, weights)
        self.padding = padding

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return IF.ms_ssim_loss(
            input, target, max_val=self.max_val, window_size=self.window_size, sigma=self.sigma, k1=self.k1,
            k2=self.k2, weights=self.weights, padding=self.padding, reduction=self.reduction,
        )


class PSNRLoss(Loss):
    """Negative peak signal-to-noise ratio in decibels; see :func:`losskit.functional.psnr_loss`.

    Example:
        >>> import torch, losskit as lk
        >>> x = torch.tensor([[0.2, 0.4], [0.5, 0.5]])
        >>> print(round(float(lk.PSNRLoss()(x, torch.tensor([[0.0, 0.4], [0.5, 0.6]]))), 4))
        -20.0
    """

    family = "imaging"
    functional = staticmethod(IF.psnr_loss)

    def __init__(self, *, max_val: float = 1.0, per_image: bool = True, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        self.max_val, self.per_image = max_val, per_image

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return IF.psnr_loss(input, target, max_val=self.max_val, per_image=self.per_image, reduction=self.reduction)


class TotalVariationLoss(Loss):
    """Anisotropic total variation of images (sum of absolute neighbour differences); see
    :func:`losskit.functional.total_variation_loss`.

    Example:
        >>> import torch, losskit as lk
        >>> print(float(lk.TotalVariationLoss()(torch.tensor([[0.0, 1.0], [2.0, 4.0]]))))
        8.0
    """

    family = "imaging"
    functional = staticmethod(IF.total_variation_loss)

    def __init__(self, *, normalized: bool = False, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        self.normalized = normalized

    def forward(self, input: Tensor) -> Tensor:
        return IF.total_variation_loss(input, normalized=self.normalized, reduction=self.reduction)
