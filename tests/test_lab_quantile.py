"""The lab's quantile candidate for regression: quantiles 0.1, 0.5, 0.9 from a 3-output head, the median as the
point prediction, and the interval [q0.1, q0.9] scored by its coverage (nominal 0.8) and width."""

from __future__ import annotations

import json

import numpy as np
import pytest

from losskit import advisor
from losskit.lab import compare
from losskit.lab.metrics import interval_metrics
from losskit.lab.train import _head, _point

pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")


def test_interval_metrics_by_hand():
    y = np.array([0.0, 1.0, 2.0, 3.0, 10.0])
    lower = np.array([-1.0, 1.0, 2.5, 0.0, 0.0])
    upper = np.array([1.0, 2.0, 3.0, 3.0, 5.0])
    got = interval_metrics(y, lower, upper)
    # inside (ends included): rows 0, 1, 3; row 2 is below its interval, row 4 above: 3/5
    assert got["interval_coverage"] == pytest.approx(0.6)
    assert got["interval_width"] == pytest.approx((2 + 1 + 0.5 + 3 + 5) / 5)


def test_the_quantile_head_has_one_output_per_quantile_and_its_median_is_the_point():
    import torch

    assert advisor.LOSS_MENU["quantile"].head == "quantiles"
    assert _head("quantiles", "regression", None) == len(advisor.INTERVAL_QUANTILES) == 3
    out = torch.tensor([[0.0, 1.0, 2.0], [5.0, 6.0, 7.0]])
    assert _point("quantiles", out).tolist() == [1.0, 6.0]
    loss = advisor.LOSS_MENU["quantile"].build(None, np.zeros(2))  # type: ignore[arg-type]
    assert float(loss(out, torch.tensor([1.0, 6.0]))) > 0


def test_compare_quantile_reports_interval_coverage_and_keeps_mae_for_the_verdict(tmp_path):
    out = tmp_path / "q"
    result = compare("diabetes", losses="mse,quantile", epochs=15, runs=2, out=str(out), progress=False)
    assert result.metric == "mae"
    assert "interval_coverage" in result.metrics and "interval_width" in result.metrics
    q, mse = result.summary("quantile"), result.summary("mse")
    for r in q.runs:
        assert 0.5 <= r.metrics["interval_coverage"] <= 0.97  # nominal 0.8 on 88 test rows after 15 epochs
        assert r.metrics["interval_width"] > 0
        assert np.isfinite(r.metrics["mae"])
    assert all(r.metrics["interval_coverage"] is None for r in mse.runs)
    assert mse.cell("interval_coverage") == "—" and q.cell("interval_coverage") != "—"
    table = result.table()
    assert "interval_coverage (nominal 0.8)" in table
    assert "test mae" in result.verdict
    data = json.loads((out / "results.json").read_text())
    assert data["metric"] == "mae"
    by_name = {d["name"]: d for d in data["losses"]}
    assert by_name["quantile"]["options"]["quantiles"] == [0.1, 0.5, 0.9]
    assert 0.5 <= by_name["quantile"]["mean"]["interval_coverage"] <= 0.97
    assert by_name["mse"]["mean"]["interval_coverage"] is None
    assert all(r["metrics"]["interval_coverage"] is None for r in by_name["mse"]["runs"])


def test_point_losses_alone_show_no_interval_columns():
    result = compare("diabetes", losses="mse", epochs=1, runs=1, out=None, progress=False)
    assert "interval_coverage" not in result.metrics
    assert "interval" not in result.table()
