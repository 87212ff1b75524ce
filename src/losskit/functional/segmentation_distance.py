r"""A boundary-distance loss for segmentation: the erosion-based Hausdorff distance loss (Karimi & Salcudean,
2019; kornia's ``HausdorffERLoss`` / ``HausdorffERLoss3D``). Modes as in :mod:`losskit.functional.segmentation`."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import _validation as V
from .._precision import mixed_precision
from .._reduction import reduce_loss
from ._segmentation import _check_inputs, _flatten, _probabilities, check_options

__all__ = ["hausdorff_er_loss"]


def check_hausdorff_options(name: str, *, alpha: float, k: int) -> None:
    """``alpha`` >= 0 and ``k`` a positive int (no tensor read)."""
    V.check_positive(name, "alpha", alpha, allow_zero=True)
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise V.LossOptionError(
            f"{name}: k must be a positive int (the number of erosions), but got {k!r}; pass e.g. k=10"
        )


def _cross_kernel(spatial: int, like: Tensor) -> Tensor:
    """The erosion kernel: the pixel and its 2 * ``spatial`` face neighbours, each weighted 1 / (2 spatial + 1)."""
    kernel = torch.zeros((3,) * spatial, dtype=like.dtype, device=like.device)
    centre = (1,) * spatial
    kernel[centre] = 1
    for d in range(spatial):
        for side in (0, 2):
            index = list(centre)
            index[d] = side
            kernel[tuple(index)] = 1
    return (kernel / (2 * spatial + 1)).view(1, 1, *kernel.shape)


@mixed_precision
def hausdorff_er_loss(
    input: Tensor,
    target: Tensor,
    *,
    mode: str,
    alpha: float = 2.0,
    k: int = 10,
    from_logits: bool = True,
    reduction: str = "mean",
) -> Tensor:
    r"""Hausdorff distance loss by morphological erosion, a differentiable surrogate of the boundary distance.

    For each image and class, starting from the squared error :math:`B_0 = (p - t)^2` of the probabilities and
    the one-hot target, each of the ``k`` steps erodes and rescales the previous map,

    .. math::
        E_i = \mathrm{norm}\left(\max(K \ast B_{i-1} - \tfrac12,\ 0)\right), \qquad B_i = E_i, \qquad
        \ell = \sum_{i=1}^{k} i^{\alpha}\, E_i ,

    where :math:`K` is the cross of the pixel and its face neighbours (4 in 2-D, 6 in 3-D), each weighted
    :math:`1/5` (:math:`1/7`), and :math:`\mathrm{norm}` is the min-max rescaling to [0, 1] over the image's
    pixels (skipped where the map is constant). Regions of error that survive many erosions are thick, i.e.
    far from the boundary, and weigh :math:`i^\alpha`: the loss grows with the Hausdorff distance between the
    predicted and the true masks (Karimi & Salcudean's HD-ER). :math:`\ell` is a map of the input's shape;
    ``"mean"`` is its mean over images, classes and pixels (kornia's number, whose ``"none"`` map is ordered
    :math:`(C, N, 1, *)` instead).

    kornia's ``HausdorffERLoss(alpha, k)(probs, labels)`` is ``hausdorff_er_loss(probs, labels.squeeze(1),
    mode="multiclass", from_logits=False, alpha=alpha, k=k)`` (``HausdorffERLoss3D`` for 3-D input).

    Args:
        input: logits (or probabilities with ``from_logits=False``), :math:`(N, C, H, W)` or
            :math:`(N, C, D, H, W)`.
        target: masks of the input's shape (binary, multilabel) or class indices :math:`(N, H, W)` /
            :math:`(N, D, H, W)` (multiclass).
        mode: ``"binary"``, ``"multiclass"`` or ``"multilabel"``; required, keyword-only.
        alpha: exponent of the weight :math:`i^\alpha` of the :math:`i`-th erosion, >= 0 (default 2.0).
        k: number of erosions, a positive int (default 10).
        from_logits: apply sigmoid (binary, multilabel) or softmax (multiclass) first (default ``True``).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (the map, :math:`(N, C, *)`).

    Shape:
        ``input`` :math:`(N, C, *)` with 2 or 3 spatial dimensions; output scalar, or the input's shape for
        ``"none"``.

    Raises:
        LossOptionError: unknown ``mode``; ``alpha < 0``; ``k`` not a positive int.
        LossShapeError: input without 2 or 3 spatial dimensions; shapes that do not fit the mode.
        LossTypeError, LossValueError: as :func:`dice_loss`.

    References:
        Karimi, D., Salcudean, S. E. "Reducing the Hausdorff Distance in Medical Image Segmentation with
        Convolutional Neural Networks", IEEE Transactions on Medical Imaging, 2019.

    Example:
        >>> import torch, losskit.functional as LF
        >>> probs = torch.zeros(1, 1, 5, 5)
        >>> probs[..., 1:4, 1:4] = 1.0  # a 3x3 square predicted, the true mask is empty
        >>> loss = LF.hausdorff_er_loss(probs, torch.zeros(1, 1, 5, 5), mode="binary", from_logits=False, k=2)
        >>> print(round(float(loss), 4))
        0.328
    """
    name = "hausdorff_er_loss"
    V.check_reduction(name, reduction)
    check_options(name, mode=mode)
    check_hausdorff_options(name, alpha=alpha, k=k)
    if isinstance(input, Tensor) and input.dim() not in (4, 5):
        raise V.LossShapeError(
            f"{name}: input must have 2 or 3 spatial dimensions, (N, C, H, W) or (N, C, D, H, W), but got "
            f"{V.shape_str(input)}; add a singleton spatial dimension with input.unsqueeze(-1)"
        )
    _check_inputs(name, input, target, None, mode=mode, from_logits=from_logits, ignore_index=None)
    n, c, spatial = input.shape[0], input.shape[1], input.shape[2:]
    x, t, _ = _flatten(input, target, mode=mode, ignore_index=None)
    p = _probabilities(x, mode=mode, from_logits=from_logits)
    bound = ((p - t) ** 2).reshape(n * c, 1, *spatial)
    kernel = _cross_kernel(len(spatial), bound)
    conv = F.conv2d if len(spatial) == 2 else F.conv3d
    dims = tuple(range(2, bound.dim()))
    eroded = torch.zeros_like(bound)
    for i in range(k):
        dilation = conv(bound, kernel, padding=1)
        erosion = torch.where(dilation < 0.5, torch.zeros_like(dilation), dilation - 0.5)  # kornia's subgradient
        high, low = erosion.amax(dims, keepdim=True), erosion.amin(dims, keepdim=True)
        spread = high - low
        flat = spread == 0
        erosion = torch.where(flat, erosion, (erosion - low) / torch.where(flat, torch.ones_like(spread), spread))
        eroded = eroded + erosion * float(i + 1) ** float(alpha)
        bound = erosion
    return reduce_loss(eroded.reshape(input.shape), reduction)
