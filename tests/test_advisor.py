"""The advisor's decisions on synthetic targets of every kind (losskit.advisor.recommend)."""

from __future__ import annotations

import importlib.util
import json
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
    assert {e.head for e in LOSS_MENU.values()} == {"logits", "ordinal", "quantiles", "sigmoid", "value"}
    for name, entry in LOSS_MENU.items():
        assert entry.name == name and entry.tasks and entry.summary


def test_text_and_json_views():
    rec = recommend([0, 1] * 5)
    text = str(rec)
    assert "task: binary" in text and rec.code in text
    d = rec.to_dict()
    assert d["task"] == "binary" and d["candidates"][0]["name"] == "bce"


# --------------------------------------------------------------------------------------------
# ranking data (task="ranking")
# --------------------------------------------------------------------------------------------
def _run_ranking(cand, relevance, mask=None):
    """Build the candidate's Module and call it on scores of the relevance's shape: a finite loss."""
    scores = torch.randn(relevance.shape, generator=torch.Generator().manual_seed(0))
    loss = cand.build()(scores, relevance.float(), mask)
    assert loss.shape == () and torch.isfinite(loss), cand.name
    return loss


GRADED = torch.tensor([[3, 2, 1, 0, 0], [0, 0, 0, 0, 0], [2, 1, 1, 0, 4], [1, 0, 0, 0, 0]])
GRADED_MASK = torch.tensor([[True] * 5, [True] * 5, [True] * 5, [True, True, True, False, False]])


def test_ranking_graded_relevance_puts_lambda_loss_first_and_reports_empty_lists():
    rec = recommend(GRADED, task="ranking", mask=GRADED_MASK)
    assert rec.task == "ranking" and rec.stats.graded and rec.stats.num_levels == 5
    assert _names(rec)[:3] == ["lambda", "neural-ndcg", "listnet"]
    assert next(c for c in rec.candidates if c.name == "listnet").baseline
    # by hand: list 1 has no relevant item; real items 5, 5, 5, 3
    assert rec.stats.no_relevant_share == pytest.approx(0.25) and rec.stats.unrankable_share == pytest.approx(0.25)
    assert (rec.stats.list_length_min, rec.stats.list_length_max) == (3, 5)
    assert any("25.0% of the lists (1 of 4) have no relevant item" in r and "0" in r for r in rec.reasons)
    # by hand, tied pairs of the rankable lists 0, 2, 3: 1 (the two 0s) + 1 (the two 1s) + 1 (0, 0 of 3 items)
    # over 10 + 10 + 3 pairs
    assert rec.stats.tie_share == pytest.approx(3 / 23)
    assert rec.best.options == {"weighting": "ndcg_loss2pp", "mu": 10.0, "sigma": 1.0, "gain": "exp2"}
    for cand in rec.candidates:
        _run_ranking(cand, GRADED, GRADED_MASK)


def test_ranking_binary_relevance_puts_ranknet_first_and_listnet_linear():
    rel = torch.tensor([[1, 0, 0, 0], [0, 1, 0, 1], [0, 0, 0, 0], [1, 0, 0, 0]])
    rec = recommend(rel, task="ranking")
    assert not rec.stats.graded and _names(rec)[0] == "ranknet"
    assert rec.stats.no_relevant_share == pytest.approx(0.25)
    listnet = next(c for c in rec.candidates if c.name == "listnet")
    assert listnet.baseline and listnet.options == {"target_transform": "linear"}
    # by hand: softmax target on the relevant items e/(e+3), 2e/(2e+2), e/(e+3) over the 3 rankable lists
    e = math.e
    mass = (2 * e / (e + 3) + 2 * e / (2 * e + 2)) / 3
    assert rec.stats.softmax_relevant_mass == pytest.approx(mass)
    assert f"{mass:.1%}" in listnet.reasons[0]
    # by hand: ties 3 + (1 + 1) + 3 of 18 pairs, under 50%: ListMLE kept, last, with the ties said
    assert rec.stats.tie_share == pytest.approx(8 / 18)
    assert _names(rec)[-1] == "listmle"
    assert "44.4% of the pairs tie" in rec.candidates[-1].reasons[0]
    for cand in rec.candidates:
        _run_ranking(cand, rel)


def test_ranking_full_order_ranks_listmle_second_and_cut_off_configures_neural_ndcg():
    rel = torch.tensor([[4.0, 3.0, 2.0, 1.0, 0.0, 5.0], [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]])
    rec = recommend(rel, task="ranking", k=3)
    assert rec.stats.tie_share == 0.0 and _names(rec)[:2] == ["lambda", "listmle"]
    neural = next(c for c in rec.candidates if c.name == "neural-ndcg")
    assert neural.options["k"] == 3 and any("NDCG@3" in r for r in neural.reasons)
    # a cut-off at the list length is the whole list
    whole = recommend(rel, task="ranking", k=6)
    assert next(c for c in whole.candidates if c.name == "neural-ndcg").options["k"] is None
    for cand in rec.candidates:
        _run_ranking(cand, rel)


def test_ranking_many_ties_leave_listmle_out_and_large_labels_use_linear_gain():
    rel = torch.tensor([[20.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 12.0, 3.0]])
    rec = recommend(rel, task="ranking")
    assert "listmle" not in _names(rec) and any("listmle (ListMLE) left out" in r for r in rec.reasons)
    assert rec.best.options["gain"] == "linear"
    assert next(c for c in rec.candidates if c.name == "neural-ndcg").options["powered_relevancies"] is False


def test_ranking_code_lines_build_the_same_loss():
    rec = recommend(GRADED, task="ranking", k=3)
    scores = torch.randn(GRADED.shape, generator=torch.Generator().manual_seed(1))
    for cand in rec.candidates:
        _check_code(cand, scores, GRADED.float())


@pytest.mark.parametrize(
    ("targets", "kwargs", "error", "match"),
    [
        (torch.zeros(3, 4), {}, lk.LossValueError, r"must hold a list with two real items of different relevance"),
        (torch.tensor([[1.0, -1.0]]), {}, lk.LossValueError, r"negative value\(s\) such as -1; .*mask=relevance != -1"),
        (torch.tensor([1.0, 0.0]), {}, lk.LossShapeError, r"shape \(N, L\).*got shape \(2,\); use relevance\[None\]"),
        (torch.eye(2), {"mask": torch.ones(2, 2)}, lk.LossTypeError, r"mask must be boolean"),
        (torch.eye(2), {"k": 0}, lk.LossOptionError, r"k must be a positive int"),
        (torch.eye(2), {"noisy_labels": True}, lk.LossOptionError, r"noisy_labels applies to class and preference"),
        (None, {}, lk.LossTypeError, r"task='ranking' needs targets"),
    ],
)
def test_ranking_errors(targets, kwargs, error, match):
    with pytest.raises(error, match=match):
        recommend(targets, task="ranking", **kwargs)


def test_family_options_belong_to_their_task():
    with pytest.raises(lk.LossOptionError, match=r"mask applies to task='ranking', but got task=None"):
        recommend([0, 1, 0, 1], mask=torch.ones(4, dtype=torch.bool))
    with pytest.raises(lk.LossOptionError, match=r"reference applies to task='preference'"):
        recommend(torch.eye(2), task="ranking", reference=False)
    with pytest.raises(lk.LossOptionError, match=r"got 'rank'; did you mean 'ranking'"):
        recommend(torch.eye(2), task="rank")
    with pytest.raises(lk.LossTypeError, match=r"targets must be given, but got None"):
        recommend()


# --------------------------------------------------------------------------------------------
# preference data (task="preference")
# --------------------------------------------------------------------------------------------
def _run_preference(cand, b=4):
    """Build the candidate's Module and call it on log-probabilities of the shapes its inputs line names."""
    g = torch.Generator().manual_seed(0)
    pc, pr, rc, rr = (-(torch.rand(b, generator=g) * 3 + 0.1) for _ in range(4))
    fn = cand.build()
    if cand.loss == "KTOLoss":
        loss = fn(pc, pr[: b - 1], rc, rr[: b - 1], torch.tensor(0.05))  # unpaired: B_D != B_U
    elif cand.loss == "CPOLoss":
        loss = fn(pc, pr, torch.tensor([5, 12, 30, 7][:b]))
    elif "reference_chosen_logps" in cand.inputs:
        loss = fn(pc, pr, rc, rr)
    else:
        loss = fn(pc, pr)
    assert loss.shape == () and torch.isfinite(loss), cand.name
    return loss


def test_preference_with_reference_puts_dpo_first_at_its_defaults():
    rec = recommend(task="preference", reference=True)
    assert _names(rec) == ["dpo", "ipo", "simpo", "orpo"] and rec.best.baseline
    assert rec.best.options == {"beta": 0.1} and any("default" in r for r in rec.best.reasons)
    assert next(c for c in rec.candidates if c.name == "simpo").options == {"beta": 2.0, "gamma": 1.0}
    assert rec.stats.num_samples == 0 and "no data given" in str(rec)
    for cand in rec.candidates:
        _run_preference(cand)


def test_preference_unstated_reference_is_said_to_be_assumed():
    rec = recommend(task="preference")
    assert any("reference not given: read as available" in r for r in rec.reasons)
    assert any("paired not given" in r for r in rec.reasons)


def test_preference_without_reference_puts_reference_free_losses_first():
    rec = recommend(task="preference", reference=False)
    names = _names(rec)
    assert names[:3] == ["simpo", "cpo", "orpo"] and names[-1] == "dpo-reffree"
    assert rec.candidates[-1].baseline and rec.candidates[-1].options == {"beta": 0.1, "reference_free": True}
    assert "ipo" not in names and "dpo" not in names
    for cand in rec.candidates:
        assert "reference_chosen_logps" not in cand.inputs
        _run_preference(cand)


def test_preference_varying_lengths_rank_length_normalised_losses_first():
    lengths = np.array([[100, 20], [300, 50], [40, 30], [500, 90], [60, 70]])
    rec = recommend(task="preference", reference=True, lengths=lengths)
    assert _names(rec)[:2] == ["simpo", "dpo"]
    # by hand: numpy's 10th / 90th percentiles of the 10 lengths, and the chosen longer in 4 of 5 pairs
    p10, p90 = np.percentile(lengths, [10, 90])
    assert rec.stats.length_spread == pytest.approx(p90 / p10)
    assert rec.stats.chosen_longer_share == pytest.approx(0.8)
    assert "80.0% of the pairs" in rec.best.reasons[0]
    # chosen longer in 2 of 4 pairs, lengths within 1.3x: no length signal
    even = recommend(task="preference", reference=True,
                     lengths=np.array([[100, 90], [110, 120], [95, 105], [120, 100]]))
    assert _names(even)[0] == "dpo" and any("below the 2x" in r for r in even.reasons)


def test_preference_unpaired_labels_get_kto_with_balanced_weights():
    labels = np.array([1] * 70 + [0] * 30)
    rec = recommend(labels, task="preference", reference=True)
    assert _names(rec) == ["kto"] and rec.stats.class_counts == (30, 70)
    o = rec.best.options
    # by hand: lambda_D B_D / (lambda_U B_U) must lie in [1, 4/3] (Ethayarajh et al.); 70 / 30 > 4/3, so
    # undesirable_weight = 0.75 * 70 / 30 = 1.75
    assert o["undesirable_weight"] == pytest.approx(1.75) and o["desirable_weight"] == 1.0
    assert 1.0 <= o["desirable_weight"] * 70 / (o["undesirable_weight"] * 30) <= 4 / 3 + 1e-9
    few = recommend(np.array([1] * 10 + [0] * 40), task="preference").best.options
    assert few["desirable_weight"] == pytest.approx(4.0) and few["undesirable_weight"] == 1.0  # 40 / 10
    _run_preference(rec.best)


def test_preference_unpaired_flag_without_labels_and_without_reference():
    rec = recommend(task="preference", paired=False, reference=False)
    assert _names(rec) == ["kto"]
    assert rec.best.options == {"beta": 0.1, "desirable_weight": 1.0, "undesirable_weight": 1.0}
    assert any("KTO needs the reference model's log-probabilities" in r for r in rec.best.reasons)


def test_preference_noisy_labels_bring_robust_and_conservative_dpo():
    rec = recommend(task="preference", reference=True, noisy_labels=True)
    assert _names(rec)[:3] == ["rdpo", "cdpo", "dpo"]
    assert rec.best.options == {"beta": 0.1, "label_smoothing": 0.1, "loss_type": "robust"}
    assert all(any("assumed flip rate, not measured" in r for r in c.reasons) for c in rec.candidates[:2])
    free = recommend(task="preference", reference=False, noisy_labels=True)
    assert free.best.name == "simpo-smooth" and free.best.options["label_smoothing"] == 0.1
    for cand in rec.candidates + free.candidates:
        _run_preference(cand)


def test_preference_code_lines_build_the_same_loss():
    g = torch.Generator().manual_seed(2)
    pc, pr = -(torch.rand(3, generator=g) + 0.1), -(torch.rand(3, generator=g) + 0.1)
    for cand in recommend(task="preference", reference=False).candidates:
        if cand.loss in ("SimPOLoss", "ORPOLoss", "DPOLoss"):
            _check_code(cand, pc, pr)


@pytest.mark.parametrize(
    ("targets", "kwargs", "error", "match"),
    [
        (np.array([0, 2, 1]), {}, lk.LossValueError, r"0/1 labels of unpaired responses"),
        (np.array([0, 1]), {"paired": True}, lk.LossOptionError, r"got paired=True"),
        (None, {"lengths": np.array([[3, 0]])}, lk.LossValueError, r"token counts > 0"),
        (None, {"lengths": np.ones((2, 3))}, lk.LossShapeError, r"\(B, 2\) chosen and rejected"),
        (None, {"lengths": np.ones((2, 2)), "paired": False}, lk.LossShapeError, r"got unpaired data"),
        (np.array([0, 1]), {"lengths": np.ones(3)}, lk.LossShapeError, r"3 lengths for 2 labels"),
        (None, {"reference": "yes"}, lk.LossOptionError, r"reference must be True, False or None"),
        (None, {"ordinal": True}, lk.LossOptionError, r"ordinal applies to class targets"),
    ],
)
def test_preference_errors(targets, kwargs, error, match):
    with pytest.raises(error, match=match):
        recommend(targets, task="preference", **kwargs)


def test_family_menu_is_apart_from_the_lab_menu():
    from losskit.advisor import FAMILY_MENU

    assert not set(FAMILY_MENU) & set(LOSS_MENU)
    assert {e.head for e in FAMILY_MENU.values()} == {"scores", "log-probs"}
    assert all(e.available and e.inputs for e in FAMILY_MENU.values())


def test_family_json_and_cli(tmp_path, capsys):
    import json

    from losskit.cli import main

    d = recommend(GRADED, task="ranking").to_dict()
    assert d["stats"]["no_relevant_share"] == pytest.approx(0.25) and d["candidates"][0]["inputs"]
    csv = tmp_path / "items.csv"
    csv.write_text("qid,rel\nq1,2\nq1,0\nq2,1\nq1,1\nq2,0\nq3,0\n")
    assert main(["recommend", "--task", "ranking", "--csv", str(csv), "--group", "qid", "--target", "rel",
                 "--k", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    # by hand: lists q1 [2, 0, 1], q2 [1, 0], q3 [0] padded to (3, 3); q3 has no relevant item
    assert out["stats"]["shape"] == [3, 3] and out["stats"]["no_relevant_share"] == pytest.approx(1 / 3)
    assert out["candidates"][0]["name"] == "lambda"
    assert main(["recommend", "--task", "preference", "--no-reference"]) == 0
    assert "1. simpo" in capsys.readouterr().out
    assert main(["recommend", "--group", "qid", "--dataset", "iris"]) == 2
    assert "--group applies to --task ranking" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# segmentation masks and retrieval labels (task="segmentation", task="retrieval")
# --------------------------------------------------------------------------------------------
def _masks(n: int = 12, classes: int = 3, size: int = 16, filled: int = 8, empty: int = 0) -> np.ndarray:
    """``n`` class masks ``(n, size, size)``: a square of side ``filled`` of class ``1 + i % (classes - 1)`` in
    each, but the last ``empty`` masks, which are all background."""
    m = np.zeros((n, size, size), dtype=np.int64)
    for i in range(n - empty):
        m[i, :filled, :filled] = 1 + i % (classes - 1)
    return m


def _run_segmentation(cand, masks: np.ndarray, channels: int) -> None:
    """The candidate builds and gives a finite loss with a gradient on logits of the masks' shape."""
    n, size = masks.shape[0], masks.shape[-1]
    logits = torch.randn(n, channels, size, size, generator=torch.Generator().manual_seed(0), requires_grad=True)
    target = torch.as_tensor(masks)
    target = target.float() if masks.ndim == 4 else target.long()
    loss = cand.build()(logits, target)
    loss.backward()
    assert loss.shape == () and torch.isfinite(loss) and torch.isfinite(logits.grad).all(), cand.name


def test_segmentation_balanced_masks_put_cross_entropy_first():
    masks = _masks(filled=12)  # foreground 9/16 of the pixels, two classes of 28% each: largest/smallest 1.6:1
    rec = recommend(masks, task="segmentation")
    assert rec.task == "segmentation" and rec.best.name == "ce" and rec.best.baseline
    assert rec.stats.foreground_fraction == pytest.approx(144 / 256) and rec.stats.empty_share == 0.0
    assert rec.stats.num_classes == 3 and rec.stats.unit == "masks"
    assert any("balanced" in r for r in rec.best.reasons)
    assert "lovasz" in _names(rec)[:4]  # foreground above 20%: the IoU-driven loss ranks high (the lab's plan)
    for cand in rec.candidates:
        _run_segmentation(cand, masks, 3)
        assert cand.options.get("mode", "multiclass") == "multiclass"


def test_segmentation_small_foreground_and_empty_masks_change_the_first_and_the_reasons():
    small = recommend(_masks(filled=3), task="segmentation")  # 9/256 of the pixels foreground
    assert small.best.name == "dice-ce" and _names(small).index("ce") == 2
    assert any("foreground below 20%" in r for r in small.reasons)
    assert any("imbalanced" in r and "dice-ce ranks first" in r for r in small.reasons)
    assert _names(small)[:4] == ["dice-ce", "dice", "ce", "tversky"]

    empty = recommend(_masks(filled=12, empty=6), task="segmentation")  # half the masks have no foreground
    assert empty.stats.empty_share == pytest.approx(0.5)
    assert _names(empty)[:3] == ["dice-ce", "focal", "ce"]
    assert any("50% of the masks are empty" in r for r in empty.reasons)
    assert not any("50% of the masks are empty" in r for r in small.reasons)
    for cand in empty.candidates:
        _run_segmentation(cand, _masks(filled=12, empty=6), 3)


def test_segmentation_binary_masks_use_one_channel_and_bce_as_the_baseline():
    masks = (_masks(filled=4) > 0).astype(np.int64)[:, None]  # (N, 1, H, W) 0/1
    rec = recommend(torch.as_tensor(masks), task="segmentation")
    assert rec.stats.num_classes == 2 and rec.best.name == "dice-ce"
    ce = next(c for c in rec.candidates if c.name == "ce")
    assert ce.loss == "BCEWithLogitsLoss" and ce.baseline
    assert all(c.options.get("mode", "binary") == "binary" for c in rec.candidates)
    assert "(N, 1, H, W)" in rec.best.inputs
    for cand in rec.candidates:
        _run_segmentation(cand, masks, 1)
        scope = {"lk": lk, "torch": torch}
        exec(cand.code, scope)
        assert type(scope["loss_fn"]) is type(cand.build())


def test_segmentation_bad_masks():
    with pytest.raises(lk.LossShapeError, match=r"masks must be \(N, H, W\) class indices"):
        recommend(np.zeros((4, 8), dtype=np.int64), task="segmentation")
    with pytest.raises(lk.LossValueError, match=r"0/1"):
        recommend(np.full((4, 1, 8, 8), 2), task="segmentation")
    with pytest.raises(lk.LossTypeError, match="needs the training masks"):
        recommend(None, task="segmentation")
    with pytest.raises(lk.LossOptionError, match="ordinal applies to class targets"):
        recommend(_masks(), task="segmentation", ordinal=True)


def _run_retrieval(cand, labels: np.ndarray, dim: int) -> None:
    emb = torch.randn(len(labels), dim, generator=torch.Generator().manual_seed(0), requires_grad=True)
    loss = cand.build()(emb, torch.as_tensor(labels, dtype=torch.long))
    loss.backward()
    assert loss.shape == () and torch.isfinite(loss) and torch.isfinite(emb.grad).all(), cand.name


def test_retrieval_many_items_per_class_rank_supcon_first():
    labels = np.repeat(np.arange(6), 20)
    rec = recommend(labels, task="retrieval", embedding_dim=16)
    assert rec.task == "retrieval" and rec.best.name == "supcon"
    assert rec.stats.per_class_median == 20 and rec.stats.singleton_classes == 0
    assert next(c for c in rec.candidates if c.name == "contrastive").baseline
    assert any("batches hold positives" in r for r in rec.reasons)
    arc = next(c for c in rec.candidates if c.name == "arcface")
    assert arc.options["num_classes"] == 6 and arc.options["embedding_dim"] == 16
    for cand in rec.candidates:
        _run_retrieval(cand, labels, 16)


def test_retrieval_few_items_per_class_and_lone_classes_rank_the_proxies_first():
    labels = np.r_[np.repeat(np.arange(30), 3), np.arange(30, 40)]  # 30 classes of 3, 10 classes of one item
    rec = recommend(labels, task="retrieval")
    assert _names(rec)[:2] == ["arcface", "cosface"]
    assert rec.stats.singleton_classes == 10 and rec.stats.num_classes == 40
    assert any("10 of 40 classes have one item" in r and "cannot form a positive pair" in r for r in rec.reasons)
    assert any("a median of 3 items per class" in r for r in rec.best.reasons)
    assert any("placeholder" in r for r in rec.best.reasons)  # embedding_dim not given: 128
    assert rec.best.options["embedding_dim"] == 128 and rec.best.options["num_classes"] == 40
    assert "MPerClassSampler" in " ".join(next(c for c in rec.candidates if c.name == "supcon").reasons)
    for cand in rec.candidates:
        _run_retrieval(cand, labels, 128)


def test_retrieval_labels_that_are_not_indices_and_bad_labels():
    rec = recommend(np.repeat([10, 20, 35], 8), task="retrieval", embedding_dim=8)
    assert any("num_classes=36 keeps centres" in r for r in rec.reasons)
    assert next(c for c in rec.candidates if c.name == "arcface").options["num_classes"] == 36
    rec = recommend(np.repeat([-1, 2], 8), task="retrieval", embedding_dim=8)
    assert any("map the labels to 0..1" in r for r in rec.reasons)
    with pytest.raises(lk.LossValueError, match="at least two classes"):
        recommend(np.zeros(5, dtype=np.int64), task="retrieval")
    with pytest.raises(lk.LossValueError, match="some class two items"):
        recommend(np.arange(5), task="retrieval")
    with pytest.raises(lk.LossShapeError, match=r"one class per item, shape \(N,\)"):
        recommend(np.zeros((4, 2), dtype=np.int64), task="retrieval")
    with pytest.raises(lk.LossOptionError, match="embedding_dim must be a positive int"):
        recommend(np.repeat([0, 1], 4), task="retrieval", embedding_dim=0)
    with pytest.raises(lk.LossOptionError, match="embedding_dim applies to task='retrieval'"):
        recommend(np.repeat([0, 1], 4), embedding_dim=8)


def test_segmentation_and_retrieval_from_the_cli(tmp_path, capsys):
    from losskit.cli import main

    masks = tmp_path / "masks.npy"
    np.save(masks, _masks(filled=3))
    assert main(["recommend", "--task", "segmentation", "--masks", str(masks)]) == 0
    out = capsys.readouterr().out
    assert "task: segmentation" in out and "1. dice-ce" in out
    pt = tmp_path / "masks.pt"
    torch.save(torch.as_tensor(_masks(filled=12)), pt)
    assert main(["recommend", "--task", "segmentation", "--masks", str(pt), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["candidates"][0]["name"] == "ce"
    csv = tmp_path / "items.csv"
    csv.write_text("path,person\n" + "".join(f"img{i}.png,p{i % 30}\n" for i in range(75)))
    assert main(["recommend", "--task", "retrieval", "--csv", str(csv), "--target", "person", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["task"] == "retrieval" and d["stats"]["num_classes"] == 30 and d["candidates"][0]["name"] == "arcface"
    assert main(["recommend", "--task", "segmentation"]) == 2
    assert "needs --masks FILE" in capsys.readouterr().err
    assert main(["recommend", "--masks", str(masks)]) == 2
    assert "--masks applies to --task segmentation" in capsys.readouterr().err
    assert main(["recommend", "--task", "segmentation", "--masks", str(tmp_path / "none.npy")]) == 2
