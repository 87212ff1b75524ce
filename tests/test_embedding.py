"""Golden values and special cases of the triplet losses."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import losskit as lk
import losskit.functional as LF

F64 = torch.float64
A = torch.tensor([[0.0, 0.0]], dtype=F64)
P = torch.tensor([[3.0, 4.0]], dtype=F64)
N = torch.tensor([[0.0, 5.5]], dtype=F64)


def test_triplet_by_hand():
    # by hand: d(a, p) = 5, d(a, n) = 5.5, d(p, n) = sqrt(9 + 2.25)
    assert float(LF.triplet_margin_loss(A, P, N, eps=0.0)) == pytest.approx(1 + 5 - 5.5)
    assert float(LF.triplet_margin_loss(A, P, N, eps=0.0, swap=True)) == pytest.approx(1 + 5 - math.sqrt(11.25))
    assert float(LF.triplet_margin_loss(A, P, N, eps=0.0, p=1.0)) == pytest.approx(1 + 7 - 5.5)
    assert float(LF.triplet_margin_loss(A, P, N, eps=0.0, margin=0.2)) == 0.0
    # eps is added to the difference before the norm (torch's pairwise_distance): d(a, a) = sqrt(2) eps
    assert float(LF.triplet_margin_loss(A, A, N, eps=0.5, margin=10.0)) == pytest.approx(
        10 + math.sqrt(0.5) - math.hypot(0.5, 5.0)
    )


def test_triplet_margin_zero_is_allowed():
    n_close = torch.tensor([[0.0, 4.5]], dtype=F64)
    with pytest.raises(ValueError, match="margin must be greater than 0"):
        F.triplet_margin_loss(A, P, n_close, margin=0.0)  # torch 2.13
    assert float(LF.triplet_margin_loss(A, P, n_close, margin=0.0, eps=0.0)) == pytest.approx(0.5)  # by hand: 5 - 4.5
    l1 = lambda x, y: (x - y).abs().sum(-1)  # noqa: E731
    out = LF.triplet_margin_with_distance_loss(A, P, n_close, distance_function=l1, margin=0.0)
    assert float(out) == pytest.approx(7 - 4.5)


def test_triplet_rejects_the_broadcast_torch_accepts():
    a, p = torch.randn(4, 3), torch.randn(4, 3)
    shared_negative = torch.randn(1, 3)
    assert F.triplet_margin_loss(a, p, shared_negative, reduction="none").shape == (4,)
    with pytest.raises(lk.LossShapeError, match=r"expand_as\(anchor\)"):
        LF.triplet_margin_loss(a, p, shared_negative)
    out = LF.triplet_margin_loss(a, p, shared_negative.expand_as(a), reduction="none")
    torch.testing.assert_close(out, F.triplet_margin_loss(a, p, shared_negative, reduction="none"))


class _ScaledDistance(torch.nn.Module):
    """A learned metric: s * ||x - y||."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(2.0, dtype=F64))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.scale * (x - y).norm(dim=-1)


def test_distance_module_is_a_submodule_and_trains_like_torchs():
    ours, theirs = _ScaledDistance(), _ScaledDistance()
    loss = lk.TripletMarginWithDistanceLoss(distance_function=ours, margin=2.0, swap=True)
    assert [p for p in loss.parameters()] == [ours.scale]
    a, p, n = (torch.randn(6, 3, dtype=F64) for _ in range(3))
    out = loss(a, p, n)
    ref = torch.nn.TripletMarginWithDistanceLoss(distance_function=theirs, margin=2.0, swap=True)(a, p, n)
    torch.testing.assert_close(out, ref)
    out.backward()
    ref.backward()
    torch.testing.assert_close(ours.scale.grad, theirs.scale.grad)


def test_distance_function_calls():
    calls = []

    def dist(x, y):
        calls.append((tuple(x.shape), tuple(y.shape)))
        return F.pairwise_distance(x, y)

    a, p, n = (torch.randn(3, 2) for _ in range(3))
    LF.triplet_margin_with_distance_loss(a, p, n, distance_function=dist)
    assert len(calls) == 2
    LF.triplet_margin_with_distance_loss(a, p, n, distance_function=dist, swap=True)
    assert len(calls) == 5


def test_triplet_modules_validate_options():
    with pytest.raises(lk.LossOptionError, match="p must be"):
        lk.TripletMarginLoss(p=0.0)
    with pytest.raises(lk.LossOptionError, match="margin"):
        lk.TripletMarginLoss(margin=-1.0)
    with pytest.raises(lk.LossOptionError, match="distance_function"):
        lk.TripletMarginWithDistanceLoss(distance_function="euclidean")
    assert repr(lk.TripletMarginWithDistanceLoss()) == "TripletMarginWithDistanceLoss()"  # the default distance
