"""The advisor's decisions on synthetic targets of every kind (losskit.advisor.recommend)."""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest
import torch

import losskit as lk
from losskit.advisor import LOSS_MENU, recommend, resolve_loss_names

needs_weights = pytest.mark.skipif(
    importlib.util.find_spec("losskit.weights") is None and not hasattr(lk, "weights"),
    reason="losskit.weights (class_weights, pos_weight) has not landed yet",
)


def _names(rec) -> list[str]:
    return [c.name for c in rec.candidates]


def _check_code(cand, sample_input, sample_target):
    """The code line is valid Python that builds the same loss (same value on a sample)."""
    scope = {"lk": lk, "torch": torch}
    exec(cand.code, scope)
    built = cand.build()
    torch.testing.assert_close(scope["loss_fn"](sample_input, sample_target), built(sample_input, sample_target),
                               rtol=1e-3, atol=1e-4)


def test_binary_balanced_prefers_plain_bce():
    y = torch.tensor([0, 1] * 20)
    rec = recommend(y)
    assert rec.task == "binary"
    assert rec.stats.class_counts == (20, 20) and rec.stats.imbalance_ratio == 1.0
    assert _names(rec)[0] == "bce" and rec.best.baseline
    assert rec.best.options == {}
    assert all(c.reasons for c in rec.candidates)
    _check_code(rec.best, torch.randn(4, 1), torch.tensor([[0.0], [1.0], [1.0], [0.0]]))


@needs_weights
def test_binary_imbalanced_prefers_pos_weight():
    y = np.array([0] * 90 + [1] * 10)
    rec = recommend(y)
    assert rec.task == "binary" and rec.stats.imbalanced
    assert _names(rec)[:2] == ["bce-posweight", "sigmoid-focal"]
    assert "bce" in _names(rec) and next(c for c in rec.candidates if c.name == "bce").baseline
    # by hand: pos_weight = negatives / positives = 90 / 10
    torch.testing.assert_close(rec.best.options["pos_weight"], torch.tensor([9.0]))
    # alpha set from the positive rate: 1 - 10/100
    assert rec.candidates[1].options["alpha"] == pytest.approx(0.9)
    _check_code(rec.best, torch.randn(5, 1), torch.tensor([[0.0], [1.0], [1.0], [0.0], [0.0]]))


def test_multiclass_balanced_prefers_cross_entropy():
    y = torch.arange(5).repeat(12)
    rec = recommend(y)
    assert rec.task == "multiclass" and rec.stats.num_classes == 5 and not rec.stats.imbalanced
    assert _names(rec)[0] == "ce" and "ce-smooth" in _names(rec)
    assert "ce-weighted" not in _names(rec)


@needs_weights
def test_multiclass_imbalanced_prefers_class_weights_and_focal():
    y = torch.tensor([0] * 100 + [1] * 50 + [2] * 10)
    rec = recommend(y)
    assert rec.task == "multiclass" and rec.stats.imbalance_ratio == pytest.approx(10.0)
    assert _names(rec)[:3] == ["ce-weighted", "focal", "ce"]
    assert rec.candidates[2].baseline
    w = rec.best.options["weight"]
    # by hand: weights proportional to 1/sqrt(count) (ratio 10 < 20): w2/w0 = sqrt(100/10), w1/w0 = sqrt(100/50)
    assert float(w[2] / w[0]) == pytest.approx(math.sqrt(10.0), rel=1e-4)
    assert float(w[1] / w[0]) == pytest.approx(math.sqrt(2.0), rel=1e-4)
    _check_code(rec.best, torch.randn(4, 3), torch.tensor([0, 2, 1, 2]))


@needs_weights
def test_severe_imbalance_uses_effective_number():
    y = np.array([0] * 400 + [1] * 100 + [2] * 10)
    rec = recommend(y, task="multiclass")
    w = rec.best.options["weight"]
    beta = 0.999
    # by hand, Cui et al. 2019: w_c proportional to (1 - beta) / (1 - beta ** n_c)
    expected = (1 - beta**400) / (1 - beta**10)
    assert float(w[2] / w[0]) == pytest.approx(expected, rel=1e-4)
    assert f"{expected:.3g}:1" in rec.best.reasons[0] and "effective number" in rec.best.reasons[0]
    weighted_focal = next(c for c in rec.candidates if c.name == "focal-weighted")
    torch.testing.assert_close(weighted_focal.options["weight"], w)  # the same strength for both


@needs_weights
@pytest.mark.parametrize("rare", [1, 0])
def test_binary_rebalancing_candidates_have_the_same_strength(rare):
    """pos_weight, sigmoid focal's alpha and the two-logit class weights all weight the rare class by
    negatives/positives (19.5:1 here, as in the issue's churn example), whichever class is rare."""
    y = np.array([1 - rare] * 195 + [rare] * 10)
    rec = recommend(y)
    by = {c.name: c for c in rec.candidates}
    assert set(by) == {"bce-posweight", "sigmoid-focal", "bce", "ce-weighted"}
    neg, pos = (195, 10) if rare == 1 else (10, 195)
    # by hand: pos_weight = negatives / positives
    assert float(by["bce-posweight"].options["pos_weight"]) == pytest.approx(neg / pos, rel=1e-6)
    alpha = by["sigmoid-focal"].options["alpha"]
    assert alpha == pytest.approx(neg / (neg + pos), abs=1e-3)  # the share of negatives
    # positive : negative weight of each candidate
    w = by["ce-weighted"].options["weight"]
    ratios = [float(by["bce-posweight"].options["pos_weight"]), alpha / (1 - alpha), float(w[1] / w[0])]
    assert ratios == pytest.approx([neg / pos] * 3, rel=0.02)
    assert "19.5:1" in by["ce-weighted"].reasons[0] and "like pos_weight" in by["ce-weighted"].reasons[0]
    assert "rare " + ("positives" if rare == 1 else "negatives") in by["sigmoid-focal"].reasons[0]


def test_sigmoid_focal_alpha_is_neutral_on_balanced_targets():
    rec = recommend(np.array([0, 1] * 30))
    assert next(c for c in rec.candidates if c.name == "sigmoid-focal").options["alpha"] == 0.5


def test_no_calibration_claims_the_lab_measures_false():
    """Label smoothing raised ECE on digits in the lab (0.120 vs 0.016): the advisor must not promise calibration."""
    texts = [r for y in (np.arange(5).repeat(12), np.array([0, 1] * 20))
             for c in recommend(y).candidates for r in c.reasons]
    assert any("smoothing" in t for t in texts)
    for t in texts:
        assert "improves calibration" not in t and "better calibration" not in t
    smooth = next(t for t in texts if "label smoothing 0.1" in t)
    assert "worsens calibration" in smooth and "ECE" in smooth


def test_long_tailed_positive_regression_targets_point_at_the_log_transform():
    y = np.random.default_rng(3).lognormal(0.0, 1.5, 2000)
    rec = recommend(y)
    assert rec.stats.skewness > 2
    assert any("--target-transform log" in r for r in rec.reasons)
    assert not any("--target-transform" in r for r in recommend(-y).reasons)  # negative values: no log


@needs_weights
def test_multilabel_targets():
    g = torch.Generator().manual_seed(0)
    y = (torch.rand(200, 4, generator=g) < torch.tensor([0.5, 0.3, 0.1, 0.05])).float()
    rec = recommend(y)
    assert rec.task == "multilabel" and rec.stats.num_classes == 4
    assert _names(rec)[0] == "bce-posweight" and "asl" in _names(rec)
    pos = y.sum(0)
    torch.testing.assert_close(rec.best.options["pos_weight"], (200 - pos) / pos)  # by hand: negatives / positives
    assert rec.stats.labels_per_row == pytest.approx(float(y.sum(1).mean()))


def test_one_hot_rows_read_as_multiclass():
    y = torch.eye(3)[torch.tensor([0, 1, 2, 1, 0, 2])]
    rec = recommend(y)
    assert rec.task == "multiclass"
    assert any("argmax" in r for r in rec.reasons)


def test_regression_without_outliers_prefers_mse():
    y = torch.randn(500, generator=torch.Generator().manual_seed(1)) * 3 + 10
    rec = recommend(y)
    assert rec.task == "regression"
    assert rec.stats.outlier_share < 0.01
    assert _names(rec)[0] == "mse" and rec.best.baseline


def test_regression_with_outliers_prefers_huber():
    rng = np.random.default_rng(2)
    y = rng.normal(0.0, 2.0, 1000)
    y[:50] += 60.0  # 5% gross errors, 30 sigma away
    rec = recommend(y)
    assert rec.stats.outlier_share == pytest.approx(0.05, abs=0.005)
    assert _names(rec)[:2] == ["huber", "l1"] and "mse" in _names(rec)
    sigma = 1.4826 * np.median(np.abs(y - np.median(y)))  # by hand: robust sigma
    assert rec.best.options["delta"] == pytest.approx(1.345 * sigma, rel=1e-3)
    _check_code(rec.best, torch.randn(6), torch.randn(6))


def test_mad_rule_by_hand():
    # by hand: median 5.5; deviations 4, 3.5, 2.5, 1.5, 0.5, 0.5, 1.5, 2.5, 3.5, 94.5 have median 2.5 (the MAD);
    # 100 has modified z 0.6745 * 94.5 / 2.5 = 25.5 > 3.5, the others at most 0.6745 * 4 / 2.5 = 1.08
    rec = recommend([1.5, 2.0, 3, 4, 5, 6, 7, 8, 9, 100.0])
    assert rec.stats.outlier_share == pytest.approx(0.1)
    assert rec.stats.mad_sigma == pytest.approx(1.4826 * 2.5)


def test_task_inference_edge_cases():
    assert recommend(np.array([0.0, 1.0, 2.0, 2.0, 1.0, 0.0])).task == "multiclass"  # float class indices
    assert recommend(np.arange(500) % 250).task == "regression"  # integers with too many values
    assert recommend([True, False, True, False]).task == "binary"
    assert recommend([0, 1, 2, 1], task="regression").task == "regression"


def test_noisy_labels_add_generalized_cross_entropy():
    rec = recommend(torch.arange(4).repeat(10), noisy_labels=True)
    assert "gce" in _names(rec)[:2]


def test_every_candidate_builds_and_computes():
    rec = recommend(torch.arange(3).repeat(10))
    for c in rec.candidates:
        loss = c.build()(torch.randn(6, 3), torch.tensor([0, 1, 2, 0, 1, 2]))
        assert torch.isfinite(loss)


@pytest.mark.parametrize(
    ("targets", "kwargs", "error", "match"),
    [
        ([1, 1, 1, 1], {}, lk.LossValueError, r"recommend: targets must hold at least two classes, but got one.*;"),
        ([1.0, float("nan"), 2.0], {}, lk.NonFiniteError, r"recommend: targets must be finite, but got 1 NaN"),
        (torch.zeros(2, 2, 2), {}, lk.LossShapeError, r"recommend: targets must be 1-D .* got shape \(2, 2, 2\)"),
        ([0, 1], {"task": "multi-class"}, lk.LossOptionError, r"got 'multi-class'; did you mean 'multiclass'"),
        (np.array(["a", "b"]), {}, lk.LossTypeError, r"must be numeric .* got dtype <U1; encode"),
        ([3.0, 3.0, 3.0], {"task": "regression"}, lk.LossValueError, r"must vary, but got the constant 3"),
        ([0.5, 1.5], {"task": "multiclass"}, lk.LossValueError, r"non-integer values such as 0.5"),
        ([1], {}, lk.LossValueError, r"at least 2 samples, but got 1"),
    ],
)
def test_errors(targets, kwargs, error, match):
    with pytest.raises(error, match=match):
        recommend(targets, **kwargs)


def test_loss_names_close_matches_and_task():
    with pytest.raises(lk.LossOptionError, match=r"unknown name 'focall'; did you mean 'focal'"):
        resolve_loss_names("ce,focall", "multiclass")
    with pytest.raises(lk.LossOptionError, match=r"'mse' serves regression targets, but got a multiclass task"):
        resolve_loss_names("mse", "multiclass")
    assert resolve_loss_names(" CE, focal,ce ", "multiclass") == ["ce", "focal"]


def test_menu_is_one_table_with_task_kinds():
    assert {e.head for e in LOSS_MENU.values()} == {"logits", "ordinal", "sigmoid", "value"}
    for name, entry in LOSS_MENU.items():
        assert entry.name == name and entry.tasks and entry.summary


def test_text_and_json_views():
    rec = recommend([0, 1] * 5)
    text = str(rec)
    assert "task: binary" in text and rec.code in text
    d = rec.to_dict()
    assert d["task"] == "binary" and d["candidates"][0]["name"] == "bce"
