"""losskit.weights: class weights, pos_weight and sampler weights."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.utils.class_weight import compute_class_weight
from torch.utils.data import WeightedRandomSampler

import losskit as lk
import losskit.functional as LF
from losskit.weights import class_weights, pos_weight, sample_weights


def _raises(cls, match, fn, *args, **kwargs):
    """The error is the right class, starts with the function's name and gives a fix after ';'."""
    with pytest.raises(cls, match=match) as info:
        fn(*args, **kwargs)
    message = str(info.value)
    assert message.startswith(f"{fn.__name__}:") and ";" in message, message
    assert isinstance(info.value, lk.LosskitError)


# --------------------------------------------------------------------------------------------
# class_weights
# --------------------------------------------------------------------------------------------
def test_inverse_is_sklearn_balanced_up_to_scale():
    labels = np.array([0] * 50 + [1] * 30 + [2] * 15 + [3] * 5)
    sk = compute_class_weight("balanced", classes=np.arange(4), y=labels)  # n / (C n_c)
    ours = class_weights(torch.as_tensor(labels))
    torch.testing.assert_close(ours, torch.tensor(sk / sk.mean(), dtype=torch.float32))
    assert float(ours.mean()) == pytest.approx(1.0)


def test_effective_number_golden_and_limits():
    # by hand (Cui et al. 2019, eq. of the class-balanced term (1 - beta) / (1 - beta^n)), counts [6, 2, 1],
    # beta = 0.9: raw = [0.1 / (1 - 0.9^6), 0.1 / (1 - 0.81), 1] = [0.21342, 0.52632, 1.0], scaled to mean 1
    labels = torch.tensor([0] * 6 + [1] * 2 + [2])
    raw = [0.1 / (1 - 0.9**6), 0.1 / (1 - 0.9**2), 1.0]
    expected = torch.tensor([r * 3 / sum(raw) for r in raw])
    torch.testing.assert_close(class_weights(labels, method="effective_number", beta=0.9), expected)
    # beta = 0: every class 1; beta -> 1: inverse frequency
    torch.testing.assert_close(class_weights(labels, method="effective_number", beta=0.0), torch.ones(3))
    torch.testing.assert_close(
        class_weights(labels, method="effective_number", beta=1 - 1e-9), class_weights(labels), rtol=1e-6, atol=0
    )
    # large counts stay finite and ordered (1 - beta^n computed with expm1)
    big = torch.cat([torch.zeros(200_000, dtype=torch.long), torch.ones(3, dtype=torch.long)])
    w = class_weights(big, method="effective_number", beta=0.9999)
    assert torch.isfinite(w).all() and float(w[0]) < float(w[1])


def test_inverse_sqrt_by_hand():
    # counts [4, 1]: raw [1/2, 1], mean 3/4 -> [2/3, 4/3]
    torch.testing.assert_close(
        class_weights(torch.tensor([0, 0, 0, 0, 1]), method="inverse_sqrt"), torch.tensor([2 / 3, 4 / 3])
    )


def test_absent_classes_get_zero_and_a_warning():
    with pytest.warns(lk.SuspiciousInputWarning, match=r"class_weights:.*2 of 5 classes.*\[1, 4\].*weight 0"):
        w = class_weights(torch.tensor([0, 0, 2, 3, 3, 3]), num_classes=5)
    assert float(w[1]) == 0.0 and float(w[4]) == 0.0
    assert float(w[[0, 2, 3]].mean()) == pytest.approx(1.0)  # averages to 1 over the classes present
    lk.set_guard("strict")
    with pytest.raises(lk.LossValueError, match="strict"):
        class_weights(torch.tensor([0, 2]), num_classes=3)


def test_array_likes_masks_and_dtype():
    assert class_weights([0, 1, 1, 1]).dtype == torch.get_default_dtype()
    torch.testing.assert_close(class_weights(np.array([0, 1, 1, 1])), class_weights(torch.tensor([0, 1, 1, 1])))
    mask = torch.tensor([[[0, 0], [1, 2]], [[0, 0], [0, 2]]])  # (N, H, W) segmentation labels: 5, 1, 2
    torch.testing.assert_close(class_weights(mask), class_weights(torch.tensor([0] * 5 + [1] + [2] * 2)))
    torch.testing.assert_close(class_weights(torch.tensor([False, True, True])), class_weights([0, 1, 1]))


def test_class_weights_in_cross_entropy_balance_the_classes():
    # with inverse weights, each class contributes the same total weight to the weighted mean
    t = torch.tensor([0] * 9 + [1])
    w = class_weights(t)
    totals = torch.zeros(2).index_add_(0, t, w[t])
    torch.testing.assert_close(totals[0], totals[1])
    x = torch.randn(10, 2)
    assert torch.isfinite(LF.cross_entropy(x, t, w))


def test_class_weights_errors():
    _raises(lk.LossTypeError, r"integer dtype.*torch\.float32.*targets\.long\(\)", class_weights,
            torch.tensor([0.0, 1.0]))
    _raises(lk.LossValueError, r"empty.*\(0,\)", class_weights, torch.tensor([], dtype=torch.long))
    _raises(lk.LossValueError, r">= 0.*-100.*targets != -100", class_weights, torch.tensor([0, -100, 1]))
    _raises(lk.LossValueError, r"num_classes=3.*label 3.*num_classes=4.*1-based", class_weights,
            torch.tensor([1, 2, 3]), 3)
    _raises(lk.LossValueError, r"num_classes=2.*label 5", class_weights, torch.tensor([0, 5]), 2)
    _raises(lk.LossOptionError, r"num_classes.*0", class_weights, torch.tensor([0]), 0)
    _raises(lk.LossOptionError, r"'inverse_sqr'.*did you mean 'inverse_sqrt'", class_weights, torch.tensor([0]),
            method="inverse_sqr")
    _raises(lk.LossOptionError, r"beta.*\[0, 1\).*1\.0", class_weights, torch.tensor([0]), beta=1.0)
    _raises(lk.LossTypeError, r"targets must be a tensor.*object", class_weights, object())


# --------------------------------------------------------------------------------------------
# pos_weight
# --------------------------------------------------------------------------------------------
def test_pos_weight_is_negatives_over_positives():
    t = torch.tensor([[1, 0, 1], [0, 0, 1], [0, 1, 1], [0, 1, 0], [0, 0, 1]])
    # by hand: positives [1, 2, 4], negatives [4, 3, 1]
    torch.testing.assert_close(pos_weight(t), torch.tensor([4.0, 1.5, 0.25]))
    torch.testing.assert_close(pos_weight(t.bool()), pos_weight(t.double()).float())
    assert pos_weight(t.double()).dtype == torch.float64
    # binary (N,) labels -> one entry, which broadcasts against (N,) logits
    torch.testing.assert_close(pos_weight(torch.tensor([1.0, 0.0, 0.0, 0.0])), torch.tensor([3.0]))
    # soft labels count fractionally
    torch.testing.assert_close(pos_weight(torch.tensor([[0.5], [0.25]])), torch.tensor([1.25 / 0.75]))


def test_pos_weight_balances_the_positive_terms():
    # pos_weight * (number of positives) = number of negatives, per label
    t = (torch.rand(40, 6) < torch.linspace(0.05, 0.6, 6)).float()
    t[0] = 1.0
    t[1] = 0.0
    pw = pos_weight(t)
    torch.testing.assert_close(pw * t.sum(0), (1 - t).sum(0))
    assert torch.isfinite(LF.binary_cross_entropy_with_logits(torch.randn(40, 6), t, pos_weight=pw))


def test_pos_weight_degenerate_labels_warn():
    t = torch.tensor([[1, 0, 1], [1, 0, 0]])
    with pytest.warns(lk.SuspiciousInputWarning, match=r"pos_weight:.*labels \[0, 1\].*1\.0"):
        pw = pos_weight(t)
    torch.testing.assert_close(pw, torch.tensor([1.0, 1.0, 1.0]))


def test_pos_weight_errors():
    _raises(lk.LossValueError, r"\[0, 3\].*F\.one_hot", pos_weight, torch.tensor([0, 3, 1]))
    _raises(lk.LossValueError, r"\[0, 255\]", pos_weight, torch.tensor([[0, 255]]))
    _raises(lk.LossShapeError, r"\(2, 2, 2\).*reshape", pos_weight, torch.zeros(2, 2, 2))
    _raises(lk.LossValueError, r"at least one sample.*\(0, 3\)", pos_weight, torch.zeros(0, 3))


# --------------------------------------------------------------------------------------------
# sample_weights
# --------------------------------------------------------------------------------------------
def test_sample_weights_are_class_weights_per_sample():
    t = torch.tensor([2, 0, 0, 1, 0, 2])
    for method in ("inverse", "inverse_sqrt", "effective_number"):
        torch.testing.assert_close(sample_weights(t, method=method), class_weights(t, method=method)[t])
    # classes absent from targets do not matter here: no warning (warnings are errors in this suite)
    torch.testing.assert_close(sample_weights(t, 10), sample_weights(t))


def test_sample_weights_balance_a_weighted_random_sampler():
    labels = torch.tensor([0] * 90 + [1] * 10)
    w = sample_weights(labels)
    sampler = WeightedRandomSampler(w, num_samples=20_000, replacement=True,
                                    generator=torch.Generator().manual_seed(0))
    drawn = labels[torch.tensor(list(sampler))]
    share = float(drawn.float().mean())
    # balanced: each class drawn half of the time (binomial sd 0.0035 at 20000 draws)
    assert abs(share - 0.5) < 0.02, share
    assert math.isclose(float(w[labels == 0].sum()), float(w[labels == 1].sum()), rel_tol=1e-5)


def test_sample_weights_errors():
    _raises(lk.LossShapeError, r"1-D.*\(4, 1\).*squeeze", sample_weights, torch.zeros(4, 1, dtype=torch.long))
    _raises(lk.LossTypeError, r"torch\.float32", sample_weights, torch.zeros(4))
    _raises(lk.LossOptionError, r"'balanced'", sample_weights, torch.zeros(4, dtype=torch.long), method="balanced")
