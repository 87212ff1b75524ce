r"""Bounding-box regression losses: generalized, distance and complete IoU.

Every function here takes two tensors of boxes of the same shape :math:`(*, 4)` in ``(x1, y1, x2, y2)``
format (corners, ``x1 <= x2`` and ``y1 <= y2``), compares box ``i`` of ``boxes1`` with box ``i`` of
``boxes2`` (no pairwise matrix), and reduces with ``reduction`` (default ``"mean"``: torchvision's
``torchvision.ops.*_box_iou_loss`` default to ``"none"``). The losses are symmetric in the two tensors.

For two boxes with intersection area :math:`I`, union area :math:`U` and smallest enclosing box :math:`C`
(area :math:`|C|`, squared diagonal :math:`c^2`), the definitions are torchvision's, ``eps`` included:

.. math::
    \mathrm{IoU} = \frac{I}{U + \epsilon}.

Degenerate boxes (zero width or height, a point) and identical or disjoint boxes give finite losses and
gradients. The one numerical difference from torchvision: the aspect term of :func:`complete_box_iou_loss`
uses ``atan2(w, h)``, equal to torchvision's ``atan(w / h)`` for ``h > 0`` and to its limit ``pi / 2`` for
``h = 0``, whose gradient stays finite there; a point box (``w = h = 0``) has angle 0, where torchvision gives
NaN.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .. import _validation as V
from .._precision import mixed_precision
from .._reduction import reduce_loss

__all__ = ["complete_box_iou_loss", "distance_box_iou_loss", "generalized_box_iou_loss"]


def _check_boxes(name: str, boxes1: Tensor, boxes2: Tensor, eps: float) -> None:
    V.check_positive(name, "eps", eps)
    if not V.enabled():
        return
    for arg, boxes in (("boxes1", boxes1), ("boxes2", boxes2)):
        V.check_tensor(name, arg, boxes)
        V.check_floating(name, arg, boxes, role="box coordinates")
        if boxes.dim() == 0 or boxes.shape[-1] != 4:
            raise V.LossShapeError(
                f"{name}: {arg} must have shape (*, 4) with boxes as (x1, y1, x2, y2) in the last dim, but got "
                f"{V.shape_str(boxes)}; pass one row of 4 corner coordinates per box"
            )
    V.check_same_shape(
        name, boxes1, boxes2, "boxes1", "boxes2", fix="pass one box of boxes2 for each box of boxes1 (matched pairs)"
    )
    if boxes2.device != boxes1.device:
        V.check_same_device(name, boxes1=boxes1, boxes2=boxes2)
    if V.values_due(name, boxes1, boxes2):
        for arg, boxes in (("boxes1", boxes1), ("boxes2", boxes2)):
            V.check_finite(name, arg, boxes)
            x1, y1, x2, y2 = boxes.detach().unbind(-1)
            bad = (x2 < x1) | (y2 < y1)
            count = int(bad.sum())
            if count:
                raise V.LossValueError(
                    f"{name}: {arg} must hold boxes as (x1, y1, x2, y2) with x2 >= x1 and y2 >= y1, but got "
                    f"{count} of {bad.numel()} boxes with x2 < x1 or y2 < y1; if they are (x, y, w, h) or "
                    "(cx, cy, w, h), convert them with torchvision.ops.box_convert(boxes, in_fmt, 'xyxy')"
                )


def _geometry(boxes1: Tensor, boxes2: Tensor, eps: float) -> dict[str, Tensor]:
    """IoU, union and the smallest enclosing box of each pair, branchless."""
    x1, y1, x2, y2 = boxes1.unbind(-1)
    x1g, y1g, x2g, y2g = boxes2.unbind(-1)
    # relu passes no gradient at 0, like torchvision's strict (x2 > x1) & (y2 > y1) mask
    inter_w = torch.relu(torch.minimum(x2, x2g) - torch.maximum(x1, x1g))
    inter_h = torch.relu(torch.minimum(y2, y2g) - torch.maximum(y1, y1g))
    inter = inter_w * inter_h
    union = (x2 - x1) * (y2 - y1) + (x2g - x1g) * (y2g - y1g) - inter
    enclose_w = torch.maximum(x2, x2g) - torch.minimum(x1, x1g)
    enclose_h = torch.maximum(y2, y2g) - torch.minimum(y1, y1g)
    return {
        "iou": inter / (union + eps),
        "union": union,
        "enclose_w": enclose_w,
        "enclose_h": enclose_h,
    }


def _center_distance(boxes1: Tensor, boxes2: Tensor, g: dict[str, Tensor], eps: float) -> Tensor:
    """Squared distance of the centres over the squared diagonal of the enclosing box (DIoU penalty)."""
    x1, y1, x2, y2 = boxes1.unbind(-1)
    x1g, y1g, x2g, y2g = boxes2.unbind(-1)
    dx = (x1 + x2 - x1g - x2g) / 2
    dy = (y1 + y2 - y1g - y2g) / 2
    diagonal = g["enclose_w"] ** 2 + g["enclose_h"] ** 2 + eps
    return (dx**2 + dy**2) / diagonal


def _aspect_angle(boxes: Tensor) -> Tensor:
    """``atan(w / h)`` as ``atan2(w, h)``: pi/2 for h = 0, and 0 with a zero gradient for a point box."""
    x1, y1, x2, y2 = boxes.unbind(-1)
    w, h = x2 - x1, y2 - y1
    point = (w == 0) & (h == 0)
    one = torch.ones_like(w)
    angle = torch.atan2(torch.where(point, one, w), torch.where(point, one, h))
    return torch.where(point, torch.zeros_like(angle), angle)


@mixed_precision
def generalized_box_iou_loss(
    boxes1: Tensor, boxes2: Tensor, *, eps: float = 1e-7, reduction: str = "mean"
) -> Tensor:
    r"""Generalized IoU loss: IoU loss plus a penalty for the empty part of the enclosing box.

    .. math::
        \ell = 1 - \mathrm{IoU} + \frac{|C| - U}{|C| + \epsilon}

    It lies in [0, 2]; unlike ``1 - IoU`` it still has a gradient for boxes that do not overlap.

    Args:
        boxes1: boxes :math:`(*, 4)` as ``(x1, y1, x2, y2)``, e.g. the predictions; floating dtype.
        boxes2: boxes of the same shape, e.g. the targets.
        eps: added to the denominators, > 0 (default 1e-7, as torchvision).
        reduction: ``"mean"`` (default; torchvision's default is ``"none"``), ``"sum"`` or ``"none"``.

    Shape:
        ``boxes1``, ``boxes2``: :math:`(*, 4)`, the same. Output: scalar, or :math:`(*)` for ``"none"``.

    Raises:
        LossShapeError: last dim not 4; shapes that differ.
        LossTypeError: integer boxes.
        LossValueError: boxes with ``x2 < x1`` or ``y2 < y1`` (value check; the message counts them);
            NaN or Inf coordinates.
        LossOptionError: ``eps <= 0``.

    References:
        Rezatofighi, H., Tsoi, N., Gwak, J., Sadeghian, A., Reid, I., Savarese, S. "Generalized Intersection
        over Union: A Metric and A Loss for Bounding Box Regression", 2019.

    Example:
        >>> import torch, losskit.functional as LF
        >>> pred = torch.tensor([[0.0, 0.0, 1.0, 1.0]])
        >>> gt = torch.tensor([[1.0, 1.0, 2.0, 2.0]])  # touching at a corner: IoU 0, enclosing box area 4
        >>> print(round(float(LF.generalized_box_iou_loss(pred, gt)), 4))
        1.5
    """
    name = "generalized_box_iou_loss"
    V.check_reduction(name, reduction)
    _check_boxes(name, boxes1, boxes2, eps)
    g = _geometry(boxes1, boxes2, eps)
    area = g["enclose_w"] * g["enclose_h"]
    loss = 1 - g["iou"] + (area - g["union"]) / (area + eps)
    return reduce_loss(loss, reduction)


@mixed_precision
def distance_box_iou_loss(
    boxes1: Tensor, boxes2: Tensor, *, eps: float = 1e-7, reduction: str = "mean"
) -> Tensor:
    r"""Distance IoU loss: IoU loss plus the squared centre distance over the enclosing box's squared diagonal.

    .. math::
        \ell = 1 - \mathrm{IoU} + \frac{\rho^2(b_1, b_2)}{c^2 + \epsilon}

    with :math:`\rho` the distance between the box centres.

    Args:
        boxes1, boxes2, eps, reduction: as :func:`generalized_box_iou_loss`.

    Shape:
        As :func:`generalized_box_iou_loss`.

    Raises:
        As :func:`generalized_box_iou_loss`.

    References:
        Zheng, Z., Wang, P., Liu, W., Li, J., Ye, R., Ren, D. "Distance-IoU Loss: Faster and Better Learning
        for Bounding Box Regression", 2020.

    Example:
        >>> import torch, losskit.functional as LF
        >>> pred = torch.tensor([[0.0, 0.0, 1.0, 1.0]])
        >>> gt = torch.tensor([[1.0, 1.0, 2.0, 2.0]])  # centres 2 ** 0.5 apart, enclosing diagonal 8 ** 0.5
        >>> print(round(float(LF.distance_box_iou_loss(pred, gt)), 4))
        1.25
    """
    name = "distance_box_iou_loss"
    V.check_reduction(name, reduction)
    _check_boxes(name, boxes1, boxes2, eps)
    g = _geometry(boxes1, boxes2, eps)
    loss = 1 - g["iou"] + _center_distance(boxes1, boxes2, g, eps)
    return reduce_loss(loss, reduction)


@mixed_precision
def complete_box_iou_loss(
    boxes1: Tensor, boxes2: Tensor, *, eps: float = 1e-7, reduction: str = "mean"
) -> Tensor:
    r"""Complete IoU loss: Distance IoU loss plus an aspect-ratio consistency term.

    .. math::
        \ell = 1 - \mathrm{IoU} + \frac{\rho^2(b_1, b_2)}{c^2 + \epsilon} + \alpha v, \qquad
        v = \frac{4}{\pi^2}\Big(\arctan\frac{w_2}{h_2} - \arctan\frac{w_1}{h_1}\Big)^2, \qquad
        \alpha = \frac{v}{1 - \mathrm{IoU} + v + \epsilon}

    where :math:`\alpha` is a constant of the gradient (detached), as in the paper and torchvision. The
    angles are computed with ``atan2(w, h)`` (see :mod:`losskit.functional.detection`).

    Args:
        boxes1, boxes2, eps, reduction: as :func:`generalized_box_iou_loss`.

    Shape:
        As :func:`generalized_box_iou_loss`.

    Raises:
        As :func:`generalized_box_iou_loss`.

    References:
        Zheng, Z., Wang, P., Liu, W., Li, J., Ye, R., Ren, D. "Distance-IoU Loss: Faster and Better Learning
        for Bounding Box Regression", 2020.

    Example:
        >>> import torch, losskit.functional as LF
        >>> pred = torch.tensor([[0.0, 0.0, 2.0, 1.0]])
        >>> gt = torch.tensor([[0.0, 0.0, 1.0, 1.0]])  # 1 - IoU = 0.5, centres 0.25 / 5, aspect term 0.0032
        >>> print(round(float(LF.complete_box_iou_loss(pred, gt)), 4))
        0.5532
    """
    name = "complete_box_iou_loss"
    V.check_reduction(name, reduction)
    _check_boxes(name, boxes1, boxes2, eps)
    g = _geometry(boxes1, boxes2, eps)
    v = (4 / math.pi**2) * (_aspect_angle(boxes2) - _aspect_angle(boxes1)) ** 2
    alpha = (v / (1 - g["iou"] + v + eps)).detach()
    loss = 1 - g["iou"] + _center_distance(boxes1, boxes2, g, eps) + alpha * v
    return reduce_loss(loss, reduction)
