"""Golden values, identities and the stateful parts of the long-tail family (the generic tests cover every
reduction, the references, gradcheck, Module == functional, compile and the error catalog via
tests/db/longtail.py)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import losskit as lk
import losskit.functional as LF
from losskit.functional.longtail import equalization_statistics, equalization_weights, ldam_margins
from losskit.weights import class_weights, drw_weights

F64 = {"dtype": torch.float64}
COUNTS = torch.tensor([500, 120, 30, 8, 2])


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(0)
    return torch.randn(7, 5, generator=g, **F64) * 2, torch.tensor([0, 1, 2, 3, 4, 0, 1])


def test_logit_adjustment_identities(batch):
    x, t = batch
    # tau = 0 is cross-entropy; tau = 1 is balanced softmax; priors and counts give the same loss
    torch.testing.assert_close(LF.logit_adjustment_loss(x, t, COUNTS, tau=0.0), F.cross_entropy(x, t))
    torch.testing.assert_close(LF.logit_adjustment_loss(x, t, COUNTS), LF.balanced_softmax_loss(x, t, COUNTS))
    priors = COUNTS.double() / COUNTS.sum()
    torch.testing.assert_close(
        LF.logit_adjustment_loss(x, t, priors, tau=1.7), LF.logit_adjustment_loss(x, t, COUNTS, tau=1.7))


def test_balanced_softmax_golden_by_hand():
    # by hand (Python's math module): x = [0, 0], n = [3, 1], y = 1: -log(1 / (3 + 1)) = log 4 = 1.3862944
    out = LF.balanced_softmax_loss(torch.zeros(1, 2, **F64), torch.tensor([1]), torch.tensor([3, 1]))
    assert float(out) == pytest.approx(math.log(4.0), rel=1e-12)


def test_ldam_margins_and_golden():
    # n^(-1/4) of [10000, 625, 16] is [0.1, 0.2, 0.5]: the rarest class gets max_m
    torch.testing.assert_close(ldam_margins(torch.tensor([10000, 625, 16]), 0.5), torch.tensor([0.1, 0.2, 0.5]))
    # by hand: x = [0.7, 0.5], y = 1 (margin 0.5 = max_m), s = 2: CE([1.4, 0], 1) = log(1 + e^1.4) = 1.6203009
    out = LF.ldam_loss(torch.tensor([[0.7, 0.5]], **F64), torch.tensor([1]), torch.tensor([10000, 16]), s=2.0)
    assert float(out) == pytest.approx(math.log(1 + math.exp(1.4)), rel=1e-12)


def test_drw_schedule():
    # the authors' LDAM-DRW: weights 1 before the epoch, (1 - beta) / (1 - beta^n) normalised to sum C after
    assert torch.equal(drw_weights(COUNTS, 159), torch.ones(5))
    expected = (1 - 0.9999) / (1 - 0.9999 ** COUNTS.double())
    torch.testing.assert_close(drw_weights(COUNTS, 160), (expected / expected.sum() * 5).float())
    labels = torch.repeat_interleave(torch.arange(5), COUNTS)
    torch.testing.assert_close(drw_weights(COUNTS, 200, beta=0.99),
                               class_weights(labels, method="effective_number", beta=0.99))
    loss = lk.LDAMLoss(COUNTS, drw_start_epoch=2)
    x, t = torch.randn(6, 5), torch.tensor([0, 1, 2, 3, 4, 4])
    before = loss(x, t)
    loss.set_epoch(2)
    torch.testing.assert_close(loss(x, t), LF.ldam_loss(x, t, COUNTS, drw_weights(COUNTS, 2, start_epoch=2)))
    assert not torch.allclose(before, loss(x, t))
    with pytest.raises(lk.LossOptionError, match="set_epoch needs drw_start_epoch"):
        lk.LDAMLoss(COUNTS).set_epoch(3)


def test_class_balanced_focal_limits(batch):
    x, t = batch
    w = class_weights(torch.repeat_interleave(torch.arange(5), COUNTS), method="effective_number", beta=0.999)
    # softmax head: gamma = 0 is cross-entropy with the effective-number class weights; beta = 0 is focal_loss
    torch.testing.assert_close(
        LF.class_balanced_focal_loss(x, t, COUNTS, beta=0.999, gamma=0.0), F.cross_entropy(x, t, w.double()))
    torch.testing.assert_close(
        LF.class_balanced_focal_loss(x, t, COUNTS, beta=0.0, gamma=2.0), LF.focal_loss(x, t, gamma=2.0))
    # sigmoid head, beta = 0, gamma = 0: BCE against the one-hot target summed over classes
    y = F.one_hot(t, 5).double()
    torch.testing.assert_close(
        LF.class_balanced_focal_loss(x, t, COUNTS, beta=0.0, gamma=0.0, head="sigmoid"),
        F.binary_cross_entropy_with_logits(x, y, reduction="sum") / 7)


def test_equalization_weights_golden():
    # by hand: pos = neg gives r = 1: q = 1 / (1 + e^{-12 * 0.2}) = 0.9168273, positive weight 1 + 4 (1 - q)
    pos_w, neg_w = equalization_weights(torch.tensor([2.0], **F64), torch.tensor([2.0], **F64))
    q = 1 / (1 + math.exp(-2.4))
    assert float(neg_w) == pytest.approx(q, rel=1e-6) and float(pos_w) == pytest.approx(1 + 4 * (1 - q), rel=1e-6)


def test_equalization_module_accumulates_the_authors_statistics():
    x = torch.tensor([[2.0, -1.0, -3.0], [-1.0, 1.5, -2.0], [0.5, 0.5, 0.5]], **F64)
    t = torch.tensor([0, 1, -100])
    loss = lk.EqualizationLossV2(3).double()
    first = loss(x, t)
    # first call: weights 1, the loss is BCE summed over classes and averaged over the 2 counted rows
    y = F.one_hot(t[:2], 3).double()
    torch.testing.assert_close(first, F.binary_cross_entropy_with_logits(x[:2], y, reduction="sum") / 2)
    # statistics: |p - 1| on positives, p on negatives, summed per class (the ignored row left out)
    p = torch.sigmoid(x[:2])
    torch.testing.assert_close(loss.pos_grad, ((1 - p) * y).sum(0))
    torch.testing.assert_close(loss.neg_grad, (p * (1 - y)).sum(0))
    # the second call uses them, and adds the reweighted gradients
    stats = (loss.pos_grad.clone(), loss.neg_grad.clone())
    second = loss(x, t)
    torch.testing.assert_close(second, LF.equalization_loss_v2(x, t, *stats))
    inc = equalization_statistics(x, t, *stats)
    torch.testing.assert_close(loss.pos_grad, stats[0] + inc[0])
    # eval mode freezes them; state_dict carries them
    loss.eval()
    frozen = loss.pos_grad.clone()
    loss(x, t)
    assert torch.equal(loss.pos_grad, frozen)
    fresh = lk.EqualizationLossV2(3).double()
    fresh.load_state_dict(loss.state_dict())
    torch.testing.assert_close(fresh(x, t), loss(x, t))
    loss.reset_statistics()
    assert float(loss.pos_grad.abs().sum()) == 0.0


def test_equalization_suppresses_rare_negatives():
    # a rare class (small positive gradients) gets its negatives down-weighted and its positives boosted
    pos_w, neg_w = equalization_weights(torch.tensor([50.0, 0.1]), torch.tensor([50.0, 40.0]))
    assert neg_w[1] < 1e-3 < neg_w[0] and pos_w[1] > 4.9 > pos_w[0]


def test_catalog_lists_the_longtail_family():
    rows = {r.name for r in lk.list_losses("longtail")}
    assert rows == {"BalancedSoftmaxLoss", "ClassBalancedFocalLoss", "EqualizationLossV2", "LDAMLoss",
                    "LogitAdjustmentLoss"}
    assert {r.name for r in lk.list_losses("augmentation")} == {"JsdCrossEntropy", "SoftTargetBinaryCrossEntropy",
                                                                "SoftTargetCrossEntropy"}
