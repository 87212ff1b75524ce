"""Golden values and edge cases of the box-IoU losses.

Peer values: torchvision test/test_ops.py (TestGeneralizedBoxIouLoss, TestDistanceBoxIouLoss,
TestCompleteBoxIouLoss, themselves from fvcore's test_giou_loss.py), with torchvision's ``reduction="none"``
passed explicitly (losskit defaults to ``"mean"``).
"""

from __future__ import annotations

import math

import pytest
import torch

import losskit as lk
import losskit.functional as LF

LOSSES = [LF.generalized_box_iou_loss, LF.distance_box_iou_loss, LF.complete_box_iou_loss]

BOX1 = [-1.0, -1.0, 1.0, 1.0]
BOX2 = [0.0, 0.0, 1.0, 1.0]
BOX3 = [0.0, 1.0, 1.0, 2.0]
BOX4 = [1.0, 1.0, 2.0, 2.0]


def _t(*boxes, dtype=torch.float32):
    return torch.tensor(boxes if len(boxes) > 1 else boxes[0], dtype=dtype)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (BOX1, BOX1, 0.0),  # identical boxes
        (BOX1, BOX2, 0.75),  # quarter-size box inside: IoU 0.25
        (BOX2, BOX3, 1.0),  # side by side: IoU 0, enclosing box = union
        (BOX2, BOX4, 1.5),  # diagonally adjacent: IoU 0, enclosing box = 2 x union
    ],
)
def test_torchvision_giou_values(a, b, expected):
    # torchvision TestGeneralizedBoxIouLoss.test_giou_loss
    out = LF.generalized_box_iou_loss(_t(a), _t(b), reduction="none")
    torch.testing.assert_close(out, torch.tensor(expected))


@pytest.mark.parametrize("fn", [LF.distance_box_iou_loss, LF.complete_box_iou_loss], ids=["diou", "ciou"])
@pytest.mark.parametrize(("a", "b", "expected"), [(BOX1, BOX1, 0.0), (BOX1, BOX2, 0.8125), (BOX1, BOX3, 1.1923),
                                                  (BOX1, BOX4, 1.25)])
def test_torchvision_diou_ciou_values(fn, a, b, expected):
    # torchvision test_distance_iou_loss / test_ciou_loss (squares: the CIoU aspect term is 0)
    out = fn(_t(a), _t(b), reduction="none")
    torch.testing.assert_close(out, torch.tensor(expected), rtol=0, atol=1e-4)


@pytest.mark.parametrize(
    ("fn", "total"),
    [(LF.generalized_box_iou_loss, 2.5), (LF.distance_box_iou_loss, 2.45), (LF.complete_box_iou_loss, 2.45)],
    ids=["giou", "diou", "ciou"],
)
def test_torchvision_batched_reductions(fn, total):
    # torchvision get_boxes(): box1s = [box2, box2] against box2s = [box3, box4]
    a, b = _t(BOX2, BOX2), _t(BOX3, BOX4)
    torch.testing.assert_close(fn(a, b, reduction="sum"), torch.tensor(total), rtol=0, atol=1e-4)
    torch.testing.assert_close(fn(a, b), torch.tensor(total / 2), rtol=0, atol=1e-4)  # default "mean"


def test_ciou_aspect_term_by_hand():
    # by hand: pred [0, 0, 2, 1] (2 x 1), gt [0, 0, 1, 1]: IoU = 1/2, centres (1, .5) and (.5, .5) -> rho^2 = 1/4,
    # enclosing box 2 x 1 -> c^2 = 5; v = 4/pi^2 (atan(1/1) - atan(2/1))^2, alpha = v / (1 - 1/2 + v)
    pred = torch.tensor([0.0, 0.0, 2.0, 1.0], dtype=torch.float64)
    gt = torch.tensor([0.0, 0.0, 1.0, 1.0], dtype=torch.float64)
    v = 4 / math.pi**2 * (math.atan(1.0) - math.atan(2.0)) ** 2
    alpha = v / (0.5 + v)
    expected = 0.5 + 0.25 / 5 + alpha * v
    assert float(LF.complete_box_iou_loss(pred, gt, eps=1e-12)) == pytest.approx(expected, abs=1e-9)
    assert float(LF.distance_box_iou_loss(pred, gt)) == pytest.approx(0.5 + 0.25 / 5, abs=1e-6)
    # GIoU: enclosing area 2 = union -> 1 - IoU
    assert float(LF.generalized_box_iou_loss(pred, gt)) == pytest.approx(0.5, abs=1e-6)


def test_ciou_gradient_treats_alpha_as_constant():
    """CIoU's gradient is that of DIoU + alpha * v with alpha frozen at the current boxes (not gradcheck-able)."""
    b1 = torch.tensor([[0.1, 0.2, 2.3, 1.1], [1.0, -1.0, 1.5, 2.0]], dtype=torch.float64, requires_grad=True)
    b2 = torch.tensor([[0.0, 0.0, 1.2, 1.4], [0.5, -0.5, 2.5, 0.5]], dtype=torch.float64)
    (g_ciou,) = torch.autograd.grad(LF.complete_box_iou_loss(b1, b2, reduction="sum"), b1)

    def v(b):  # Zheng et al., eq. 9, written with atan(w / h)
        w1, h1 = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
        w2, h2 = b2[:, 2] - b2[:, 0], b2[:, 3] - b2[:, 1]
        return 4 / math.pi**2 * (torch.atan(w2 / h2) - torch.atan(w1 / h1)) ** 2

    x1, y1, x2, y2 = b1.detach().unbind(-1)
    u1, v1, u2, v2 = b2.unbind(-1)
    inter = (torch.min(x2, u2) - torch.max(x1, u1)).clamp(min=0) * (torch.min(y2, v2) - torch.max(y1, v1)).clamp(min=0)
    union = (x2 - x1) * (y2 - y1) + (u2 - u1) * (v2 - v1) - inter
    iou = inter / (union + 1e-7)
    alpha = v(b1.detach()) / (1 - iou + v(b1.detach()) + 1e-7)
    frozen = LF.distance_box_iou_loss(b1, b2, reduction="none") + alpha * v(b1)
    (g_frozen,) = torch.autograd.grad(frozen.sum(), b1)
    torch.testing.assert_close(g_ciou, g_frozen)
    assert torch.autograd.gradcheck(lambda b: LF.distance_box_iou_loss(b, b2) + (alpha * v(b)).mean(), (b1,))


@pytest.mark.parametrize("fn", LOSSES, ids=lambda f: f.__name__)
def test_symmetric(fn):
    a = torch.tensor([[0.0, 0.0, 2.0, 3.0], [1.0, 1.0, 4.0, 2.0]])
    b = torch.tensor([[1.0, 0.5, 3.0, 1.0], [5.0, 5.0, 6.0, 7.0]])
    torch.testing.assert_close(fn(a, b, reduction="none"), fn(b, a, reduction="none"))


# degenerate and extreme boxes: (boxes1, boxes2, expected GIoU, DIoU, CIoU) worked out by hand
EDGE_CASES = [
    # identical boxes: all 0
    ("identical", [0.0, 0.0, 2.0, 3.0], [0.0, 0.0, 2.0, 3.0], 0.0, 0.0, 0.0),
    # zero-width pred inside a 2 x 2 gt, same centre: IoU 0, enclosing = gt = union -> GIoU 1, DIoU 1;
    # v = 4/pi^2 (pi/4 - 0)^2 = 1/4, alpha = (1/4) / (1 + 1/4) -> CIoU 1 + 1/20
    ("zero width", [1.0, 0.0, 1.0, 2.0], [0.0, 0.0, 2.0, 2.0], 1.0, 1.0, 1.05),
    # zero-height gt: atan(2 / 0) = pi/2 (torchvision's value; its gradient is NaN there, ours finite)
    ("zero height", [0.0, 0.0, 2.0, 2.0], [0.0, 1.0, 2.0, 1.0], 1.0, 1.0, 1.05),
    # two identical points: every area and distance 0 -> 1 - 0 + 0 (torchvision's CIoU gives NaN: atan(0/0))
    ("point boxes", [1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0], 1.0, 1.0, 1.0),
    # disjoint unit squares 3 apart on x: enclosing 4 x 1, union 2 -> GIoU 1 + 2/4; rho^2 = 9, c^2 = 17
    ("disjoint", [0.0, 0.0, 1.0, 1.0], [3.0, 0.0, 4.0, 1.0], 1.5, 1 + 9 / 17, 1 + 9 / 17),
    # huge coordinates: same geometry as "disjoint", shifted by 1e4
    ("far from origin", [1e4, 1e4, 1e4 + 1, 1e4 + 1], [1e4 + 3, 1e4, 1e4 + 4, 1e4 + 1], 1.5, 1 + 9 / 17, 1 + 9 / 17),
]


@pytest.mark.parametrize(("desc", "a", "b", "giou", "diou", "ciou"), EDGE_CASES, ids=[c[0] for c in EDGE_CASES])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_edge_boxes_finite_values_and_gradients(desc, a, b, giou, diou, ciou, dtype):
    for fn, expected in zip(LOSSES, (giou, diou, ciou)):
        x = torch.tensor(a, dtype=dtype, requires_grad=True)
        y = torch.tensor(b, dtype=dtype, requires_grad=True)
        loss = fn(x, y)
        loss.backward()
        assert float(loss.detach()) == pytest.approx(expected, abs=1e-5), (desc, fn.__name__)
        assert torch.isfinite(x.grad).all() and torch.isfinite(y.grad).all(), (desc, fn.__name__)


def test_module_options_and_catalog():
    loss = lk.CompleteBoxIoULoss(eps=1e-6, reduction="sum")
    assert "eps=1e-06" in repr(loss) and "reduction='sum'" in repr(loss)
    with pytest.raises(lk.LossOptionError, match="GeneralizedBoxIoULoss: eps"):
        lk.GeneralizedBoxIoULoss(eps=-1.0)
    rows = {row.name: row.functional for row in lk.list_losses("detection")}
    assert rows == {
        "CompleteBoxIoULoss": "complete_box_iou_loss",
        "DistanceBoxIoULoss": "distance_box_iou_loss",
        "GeneralizedBoxIoULoss": "generalized_box_iou_loss",
    }


def test_reversed_boxes_are_caught_on_the_first_call_only_by_default():
    good = torch.tensor([[0.0, 0.0, 1.0, 1.0]])
    bad = torch.tensor([[1.0, 0.0, 0.0, 1.0]])
    LF.generalized_box_iou_loss(good, good)  # the value checks ran for this input kind
    LF.generalized_box_iou_loss(bad, good)  # "first" policy: not checked again
    with lk.guard("always"), pytest.raises(lk.LossValueError, match=r"boxes1 .*1 of 1 boxes"):
        LF.generalized_box_iou_loss(bad, good)
