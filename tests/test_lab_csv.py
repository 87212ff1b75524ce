"""The CSV loader's two passes (dtypes, values, chunks, bounded categories, float32 range), imputation and scaling
fitted on the training rows only, and ``--target-transform log`` (issue 10 parts 4 and 9)."""

from __future__ import annotations

import numpy as np
import pytest

from losskit.lab import LabError, compare, load_csv, prepare
from losskit.lab import data as lab_data
from losskit.lab.data import Dataset

pytest.importorskip("sklearn")


def _csv(tmp_path, header: str, rows: list[str], name: str = "t.csv") -> str:
    path = tmp_path / name
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return str(path)


@pytest.mark.parametrize("chunk", [3, 16_384])
def test_dtypes_and_values_across_chunks(tmp_path, monkeypatch, chunk):
    """Generated rows read back exactly (float32 of each value), whatever the chunk boundaries."""
    monkeypatch.setattr(lab_data, "_CHUNK_ROWS", chunk)
    rng = np.random.default_rng(0)
    n = 40
    a = rng.normal(size=n) * 1e3
    k = rng.integers(-5, 5, n)
    colour = rng.choice(["red", "green", "blue"], n)
    label = rng.choice(["lo", "hi", "mid"], n)
    rows = [f"{float(a[i])!r},{k[i]},{colour[i]},{label[i]}" for i in range(n)]
    rows.insert(5, "")  # a blank line is skipped
    d = load_csv(_csv(tmp_path, "a,k,colour,label", rows), "label")
    assert d.X.dtype == np.float32 and d.X.shape == (n, 2 + 3) and d.X.flags.c_contiguous
    assert d.y.dtype == np.int64 and d.task == "multiclass" and d.class_names == ["hi", "lo", "mid"]
    np.testing.assert_array_equal(d.X[:, 0], a.astype(np.float32))
    np.testing.assert_array_equal(d.X[:, 1], k.astype(np.float32))
    assert d.feature_names == ["a", "k", "colour=blue", "colour=green", "colour=red"] and d.onehot == [(2, 5)]
    np.testing.assert_array_equal(d.X[:, 2:].argmax(1), np.searchsorted(["blue", "green", "red"], colour))
    assert (d.X[:, 2:].sum(1) == 1).all()
    np.testing.assert_array_equal(np.asarray(d.class_names)[d.y], label)


def test_regression_target_is_float64(tmp_path):
    rows = [f"{i},{i * 0.25 + 1000.125}" for i in range(30)]
    d = load_csv(_csv(tmp_path, "x,y", rows), "y")
    assert d.task == "regression" and d.y.dtype == np.float64
    np.testing.assert_array_equal(d.y, np.arange(30) * 0.25 + 1000.125)  # float64: no float32 rounding


def test_float32_overflow_is_named_by_column_and_line(tmp_path):
    rows = [f"{i},{i},{i % 2}" for i in range(20)]
    rows[6] = "6,-1e39,0"
    with pytest.raises(LabError, match=r"column 'b' must fit in float32 .* but got -1e39 on line 8; rescale"):
        load_csv(_csv(tmp_path, "a,b,y", rows), "y")
    rows[6] = "6,3e38,0"  # within float32
    assert load_csv(_csv(tmp_path, "a,b,y", rows), "y").X[6, 1] == np.float32(3e38)


def test_high_cardinality_text_is_dropped(tmp_path, monkeypatch):
    monkeypatch.setattr(lab_data, "MAX_CATEGORIES", 4)
    rows = [f"{i},{'abcdef'[i % 6]},{'abc'[i % 3]},{i % 2}" for i in range(30)]
    d = load_csv(_csv(tmp_path, "x,six,three,y", rows), "y")
    assert d.feature_names == ["x", "three=a", "three=b", "three=c"]
    assert any("dropped column 'six': text with more than 4 distinct values" in n for n in d.notices)


def _ids(prepared, y):
    """Row indices of each split: the regression target is the row index (train/validation are scaled)."""
    back = [np.rint(prepared.to_original(v)).astype(int) for v in (prepared.y_train, prepared.y_val)]
    return back[0], back[1], np.rint(prepared.y_test).astype(int)


def test_imputation_and_scaling_use_the_training_rows_only():
    n = 60
    rng = np.random.default_rng(1)
    x = (np.arange(n) * 10.0) ** 2  # skewed: the median of any subset differs from the all-rows median
    x[rng.permutation(n)[:12]] = np.nan
    levels = np.where(np.arange(n) < 40, 0, np.where(np.arange(n) % 2, 1, 2))  # one-hot of 3 levels
    onehot = np.eye(3, dtype=np.float32)[levels]
    onehot[[3, 50, 51]] = np.nan
    X = np.column_stack([x, onehot]).astype(np.float32)
    data = Dataset("t", X, np.arange(n, dtype=np.float64), "regression", ["x", "c=a", "c=b", "c=d"], "y",
                   onehot=[(1, 4)])
    p = prepare(data, seed=3)
    tr, va, te = _ids(p, data.y)
    assert sorted(np.concatenate([tr, va, te]).tolist()) == list(range(n))
    med = float(np.nanmedian(X[tr, 0]))
    assert med != pytest.approx(float(np.nanmedian(X[:, 0])))
    filled = np.where(np.isnan(X[tr, 0]), med, X[tr, 0]).astype(np.float64)
    mean, std = filled.mean(), filled.std()
    for ids, part in ((tr, p.X_train), (va, p.X_val), (te, p.X_test)):
        raw = np.where(np.isnan(X[ids, 0]), med, X[ids, 0])
        np.testing.assert_allclose(part[:, 0], (raw - mean) / std, rtol=1e-5, atol=1e-6)
        assert not np.isnan(part).any()
    mode = int(np.argmax(np.nansum(X[tr, 1:], 0)))
    tr_onehot = np.where(np.isnan(X[tr, 1:]), np.eye(3)[mode], X[tr, 1:])
    for ids, part in ((tr, p.X_train), (va, p.X_val), (te, p.X_test)):
        raw = np.where(np.isnan(X[ids, 1:]), np.eye(3)[mode], X[ids, 1:])
        np.testing.assert_allclose(part[:, 1:], (raw - tr_onehot.mean(0)) / tr_onehot.std(0), rtol=1e-5, atol=1e-6)
    note = next(s for s in p.notices if s.startswith("missing feature values imputed"))
    assert "with statistics of the 36 training rows only: " in note and len(tr) == 36
    assert f"'x' by its median {med:g}" in note and "'c' by its most frequent value" in note


def test_log_target_transform_trains_on_log1p_and_maps_back():
    n = 50
    y = np.exp(np.linspace(0, 8, n)) - 1  # long-tailed, >= 0
    data = Dataset("t", np.linspace(0, 1, n, dtype=np.float32)[:, None], y, "regression", ["x"], "y")
    p = prepare(data, seed=0, target_transform="log")
    assert p.y_transform == "log"
    assert np.all(np.isfinite(p.y_train)) and abs(float(np.median(p.y_train))) < 1e-6
    back = p.to_original(p.y_train)
    nearest = y[np.abs(y[None, :] - back[:, None]).argmin(1)]
    np.testing.assert_allclose(back, nearest, rtol=1e-5, atol=1e-5)  # expm1 undoes the scaling and the log1p
    # by hand: the loss sees (log1p(y) - median) / (1.4826 MAD) of the training targets
    logs = np.log1p(nearest)
    center = np.median(logs)
    np.testing.assert_allclose(p.y_train, (logs - center) / (1.4826 * np.median(np.abs(logs - center))),
                               rtol=1e-4, atol=1e-5)
    assert set(p.y_test.tolist()) <= set(y.tolist())  # the test targets stay in the original units
    assert any("log1p(target)" in s for s in p.notices)
    with pytest.raises(LabError, match=r"target_transform 'log' needs targets >= 0, but got -1"):
        prepare(Dataset("t", data.X, y - 1.0, "regression", ["x"], "y"), target_transform="log")
    with pytest.raises(LabError, match=r"target_transform must be one of None, 'log', but got 'sqrt'"):
        prepare(data, target_transform="sqrt")
    cls = Dataset("c", data.X, (np.arange(n) % 2).astype(np.int64), "binary", ["x"], "y", ["a", "b"])
    with pytest.raises(LabError, match=r"applies to regression targets, but got a binary task"):
        prepare(cls, target_transform="log")


def test_compare_with_the_log_transform_reports_original_units(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=120)
    y = np.expm1(1.5 * x + 4 + 0.2 * rng.normal(size=120))  # skewness >> 2
    path = _csv(tmp_path, "x,amount", [f"{a:.5f},{b:.5f}" for a, b in zip(x, y)])
    logged = compare(csv=path, target="amount", losses="mse", epochs=30, runs=1, out=None, progress=False,
                     target_transform="log")
    plain = compare(csv=path, target="amount", losses="mse", epochs=30, runs=1, out=None, progress=False)
    assert logged.config["target_transform"] == "log" and plain.config["target_transform"] is None
    run = logged.summaries[0].runs[0]
    assert run.predictions.min() >= -1.0  # expm1 of anything
    # the test targets are in the original units (mean around e^4), and the MAE is reported on that scale
    assert logged.summaries[0].mean["mae"] > 1.0
    assert any("log1p(target)" in n for n in logged.notices)
