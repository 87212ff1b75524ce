"""Test-database entries of the detection family: generalized, distance and complete box-IoU losses.

The reference computes one pair of boxes at a time from the papers' definitions, with torchvision's ``eps``
placement (Rezatofighi et al., 2019; Zheng et al., 2020): a Python branch for "the boxes overlap", ``atan(w / h)``
for the aspect angle, ``alpha`` detached. It never calls losskit.
"""

from __future__ import annotations

import math

import torch

import losskit as lk
import losskit.functional as LF
from tests.loss_db import ErrorCase, LossEntry, Sample


def _pair_terms(b1, b2, eps):
    """IoU, union, enclosing width/height, squared centre distance of one pair of boxes (1-D tensors of 4)."""
    x1, y1, x2, y2 = b1[0], b1[1], b1[2], b1[3]
    u1, v1, u2, v2 = b2[0], b2[1], b2[2], b2[3]
    iw = torch.min(x2, u2) - torch.max(x1, u1)
    ih = torch.min(y2, v2) - torch.max(y1, v1)
    inter = iw * ih if float(iw.detach()) > 0 and float(ih.detach()) > 0 else (iw * 0) * (ih * 0)
    union = (x2 - x1) * (y2 - y1) + (u2 - u1) * (v2 - v1) - inter
    cw = torch.max(x2, u2) - torch.min(x1, u1)
    ch = torch.max(y2, v2) - torch.min(y1, v1)
    centre = ((x1 + x2) / 2 - (u1 + u2) / 2) ** 2 + ((y1 + y2) / 2 - (v1 + v2) / 2) ** 2
    return inter / (union + eps), union, cw, ch, centre


def _pair_loss(kind, b1, b2, eps):
    iou, union, cw, ch, centre = _pair_terms(b1, b2, eps)
    if kind == "giou":  # Rezatofighi et al., eq. GIoU = IoU - |C \ (A u B)| / |C|
        area = cw * ch
        return 1 - (iou - (area - union) / (area + eps))
    diou = 1 - iou + centre / (cw**2 + ch**2 + eps)  # Zheng et al., eq. 6
    if kind == "diou":
        return diou
    w1, h1 = b1[2] - b1[0], b1[3] - b1[1]
    w2, h2 = b2[2] - b2[0], b2[3] - b2[1]
    v = 4 / math.pi**2 * (torch.atan(w2 / h2) - torch.atan(w1 / h1)) ** 2  # Zheng et al., eq. 9
    alpha = (v / ((1 - iou) + v + eps)).detach()  # eq. 11, a constant of the gradient
    return diou + alpha * v


def _ref(kind):
    def ref(boxes1, boxes2, *, eps=1e-7, reduction="mean"):
        flat1, flat2 = boxes1.reshape(-1, 4), boxes2.reshape(-1, 4)
        terms = [_pair_loss(kind, flat1[i], flat2[i], eps) for i in range(flat1.shape[0])]
        loss = torch.stack(terms).reshape(boxes1.shape[:-1]) if terms else boxes1.sum(-1) * 0
        if reduction == "none":
            return loss
        if reduction == "sum":
            return loss.sum()
        return loss.mean() if loss.numel() else loss.sum()

    ref.__name__ = f"ref_{kind}_loss"
    return ref


def _boxes(shape, dtype, scale=1.0):
    corner = torch.randn(*shape, 2, dtype=dtype) * scale
    size = torch.rand(*shape, 2, dtype=dtype) * 2 + 0.2
    return torch.cat((corner, corner + size), dim=-1)


def _samples(dtype: torch.dtype) -> list[Sample]:
    b1, b2 = _boxes((6,), dtype), _boxes((6,), dtype)
    far = _boxes((4,), dtype) + 10  # disjoint from b1[:4]
    inner = b1[:4].clone()
    inner[:, :2] += 0.05  # strictly inside b1
    inner[:, 2:] -= 0.05
    return [
        Sample((b1, b2), {}, "overlapping and not", grad=(0, 1)),
        Sample((_boxes((2, 3), dtype), _boxes((2, 3), dtype)), {"eps": 1e-5}, "batched (2, 3, 4), eps", grad=(0, 1)),
        Sample((b1[0], b2[0]), {}, "one box (4,)", grad=(0, 1)),
        Sample((b1.t().contiguous().t(), b2), {}, "non-contiguous", grad=(0, 1)),
        Sample((b1[:4], far), {}, "disjoint", grad=(0, 1)),
        Sample((b1[:4], inner), {}, "nested", grad=(0, 1)),
        Sample((_boxes((5,), dtype, scale=3.0), _boxes((5,), dtype, scale=3.0)), {}, "spread out", grad=(0, 1)),
    ]


def _errors() -> list[ErrorCase]:
    good = torch.tensor([[0.0, 0.0, 1.0, 1.0], [1.0, 1.0, 3.0, 2.0], [0.0, 0.0, 2.0, 2.0]])
    swapped = good.clone()
    swapped[1] = torch.tensor([3.0, 1.0, 1.0, 2.0])  # x2 < x1
    swapped[2] = torch.tensor([0.0, 2.0, 2.0, 0.0])  # y2 < y1
    return [
        ErrorCase("x2 < x1 in boxes2", lambda: ((good, swapped), {}), lk.LossValueError,
                  match=r"boxes2 .*2 of 3 boxes with x2 < x1 or y2 < y1.*box_convert"),
        ErrorCase("y2 < y1 in boxes1", lambda: ((swapped[2:], good[2:]), {}), lk.LossValueError,
                  match=r"boxes1 .*1 of 1 boxes"),
        ErrorCase("last dim 2", lambda: ((torch.rand(5, 2), torch.rand(5, 2)), {}), lk.LossShapeError,
                  match=r"boxes1 must have shape \(\*, 4\).*\(5, 2\)"),
        ErrorCase("transposed boxes", lambda: ((good, good.t()), {}), lk.LossShapeError,
                  match=r"boxes2 must have shape \(\*, 4\).*\(4, 3\)"),
        ErrorCase("scalar", lambda: ((torch.tensor(1.0), good[0]), {}), lk.LossShapeError, match=r"\(\)"),
        ErrorCase("shapes differ", lambda: ((good, good[:2]), {}), lk.LossShapeError, match=r"\(3, 4\).*\(2, 4\)"),
        ErrorCase("integer boxes", lambda: ((good.long(), good), {}), lk.LossTypeError, match="torch.int64"),
        ErrorCase("nan box", lambda: ((good, torch.full((3, 4), float("nan"))), {}), lk.NonFiniteError,
                  match="boxes2.*12 NaN"),
        ErrorCase("eps = 0", lambda: ((good, good), {"eps": 0.0}), lk.LossOptionError, match="eps.*0.0"),
        ErrorCase("devices differ", lambda: ((good, good.to("meta")), {}), lk.LossDeviceError, match="meta"),
        ErrorCase("bad reduction", lambda: ((good, good), {"reduction": "elementwise_mean"}), lk.LossOptionError,
                  match="'elementwise_mean'"),
    ]


def _empty():
    return (torch.zeros(0, 4), torch.zeros(0, 4)), {}


ENTRIES = [
    LossEntry(LF.generalized_box_iou_loss, lk.GeneralizedBoxIoULoss, _samples, _ref("giou"), errors=_errors(),
              empty=_empty),
    LossEntry(LF.distance_box_iou_loss, lk.DistanceBoxIoULoss, _samples, _ref("diou"), errors=_errors(),
              empty=_empty),
    # alpha is a constant of the gradient (Zheng et al.; torchvision), so the gradient is deliberately not the
    # derivative of the value and gradcheck cannot apply: test_detection.py checks it with alpha frozen instead
    LossEntry(LF.complete_box_iou_loss, lk.CompleteBoxIoULoss, _samples, _ref("ciou"), errors=_errors(),
              empty=_empty, gradcheck=False),
]
