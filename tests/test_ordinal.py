"""The ordinal option: the CORAL loss by hand, its class probabilities, the advisor's ranking with ``ordinal=True``
and ``losskit compare --ordinal`` (issue 10 part 4). The generic tests of the loss run over ``tests/db/ordinal.py``."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import losskit as lk
import losskit.functional as LF
from losskit.advisor import recommend
from losskit.functional.ordinal import ordinal_probabilities


def _softplus(v: float) -> float:
    return math.log1p(math.exp(v))


def test_coral_loss_by_hand():
    x = torch.tensor([[2.0, -1.0], [0.5, 0.5]])
    # by hand: row 0, class 1: above threshold 0 (t=1), not above 1 (t=0): softplus(-2) + softplus(-1);
    # row 1, class 2: above both: 2 softplus(-0.5)
    rows = [_softplus(-2.0) + _softplus(-1.0), 2 * _softplus(-0.5)]
    got = LF.coral_loss(x, torch.tensor([1, 2]), reduction="none")
    torch.testing.assert_close(got, torch.tensor(rows))
    assert float(LF.coral_loss(x, torch.tensor([1, 2]))) == pytest.approx(sum(rows) / 2, rel=1e-6)
    # importances weight the thresholds, not the denominator: lambda = (0, 1) keeps only threshold 1
    kept = [_softplus(-1.0), _softplus(-0.5)]
    assert float(LF.coral_loss(x, torch.tensor([1, 2]), torch.tensor([0.0, 1.0]))) == pytest.approx(
        sum(kept) / 2, rel=1e-6)


def test_ordinal_probabilities_are_a_distribution_in_order():
    x = torch.tensor([[3.0, 0.0, -3.0], [-1.0, 2.0, 0.5]])  # row 1 is not monotone: 0.27 then 0.88
    p = ordinal_probabilities(x)
    torch.testing.assert_close(p.sum(1), torch.ones(2))
    assert (p >= 0).all()
    s = torch.sigmoid(x)
    # by hand: P(0) = 1 - s0, P(1) = s0 - s1, P(2) = s1 - s2, P(3) = s2
    torch.testing.assert_close(p[0], torch.stack([1 - s[0, 0], s[0, 0] - s[0, 1], s[0, 1] - s[0, 2], s[0, 2]]))
    # running minimum: P(y > 1) and P(y > 2) are capped at P(y > 0) = 0.269
    torch.testing.assert_close(p[1], torch.stack([1 - s[1, 0], torch.tensor(0.0), torch.tensor(0.0), s[1, 0]]))


def test_advisor_ranks_coral_first_for_ordered_classes():
    y = np.repeat(np.arange(5), [10, 30, 40, 30, 10])
    rec = recommend(y, ordinal=True)
    names = [c.name for c in rec.candidates]
    assert names[:2] == ["coral", "ce"] and rec.candidates[1].baseline
    assert "ordered" in rec.candidates[0].reasons[0] and "4 thresholds" in rec.candidates[0].reasons[0]
    assert rec.candidates[0].code == "loss_fn = lk.CoralLoss()"
    assert "coral" not in [c.name for c in recommend(y).candidates]
    binary = recommend(np.array([0, 1] * 10), ordinal=True)
    assert "coral" not in [c.name for c in binary.candidates] and any("two classes" in r for r in binary.reasons)
    with pytest.raises(lk.LossOptionError, match=r"ordinal applies to class targets, but got a regression task"):
        recommend(np.linspace(0, 1, 50), ordinal=True)


def test_compare_ordinal_trains_coral_against_cross_entropy(tmp_path):
    pytest.importorskip("sklearn")
    from losskit.lab import compare

    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 3))
    score = x @ np.array([1.5, -1.0, 0.5]) + 0.3 * rng.normal(size=300)
    grade = np.digitize(score, [-1.5, -0.5, 0.5, 1.5])  # 5 ordered grades
    path = tmp_path / "grades.csv"
    path.write_text("a,b,c,grade\n" + "".join(f"{r[0]:.4f},{r[1]:.4f},{r[2]:.4f},{g}\n" for r, g in zip(x, grade)))
    result = compare(csv=str(path), target="grade", ordinal=True, candidates=2, epochs=40, runs=2, out=None,
                     progress=False)
    assert result.config["ordinal"] is True
    names = [s.name for s in result.summaries if s.name in ("coral", "ce")]
    assert names == ["coral", "ce"]
    coral = result.summary("coral")
    assert coral.loss == "CoralLoss" and coral.mean["balanced_accuracy"] > 0.5  # chance is 0.2
    run = coral.runs[0]
    assert run.probabilities.shape[1] == 5 and np.allclose(run.probabilities.sum(1), 1.0)
    with pytest.raises(lk.LossValueError, match=r"ordinal applies to ordered classes, but got a regression"):
        compare("diabetes", ordinal=True, out=None, progress=False)
