"""The curve doctor on constructed curves (one per verdict) and on CSV logs."""

from __future__ import annotations

import math

import pytest

import losskit as lk
from losskit.cli import main
from losskit.doctor import diagnose_curves, read_curves

DOWN = [1.0 / (1 + 0.5 * e) for e in range(30)]  # smooth, still falling at the end


def test_still_improving():
    d = diagnose_curves(DOWN, [v + 0.05 for v in DOWN])
    assert d.verdict == "still_improving" and d.verdicts == ["still_improving"]
    assert d.best_epoch == 30
    assert "train longer" in d.advice


def test_plateau():
    train = [1.0, 0.5, 0.3] + [0.2] * 17
    val = [1.1, 0.6, 0.35] + [0.25 + 0.0005 * (i % 2) for i in range(17)]
    d = diagnose_curves(train, val)
    assert d.verdict == "plateau"


def test_overfitting_from_epoch_k():
    train = [1.0 - 0.045 * e for e in range(20)]
    val = [1.0 - 0.08 * e for e in range(8)] + [0.44 + 0.03 * e for e in range(1, 13)]
    d = diagnose_curves(train, val)
    # by construction the validation minimum is at index 7, epoch 8
    assert d.verdict == "overfitting" and d.overfitting_from == 8 and d.best_epoch == 8
    assert "epoch 8" in str(d)


def test_unstable_spikes():
    train = [1.0, 0.8, 0.7, 1.6, 0.6, 0.55, 1.4, 0.5, 0.48, 0.47]
    d = diagnose_curves(train)
    assert d.verdict == "unstable"
    assert d.spikes == [4, 7]  # the two jumps, 1-based epochs
    assert "learning rate" in d.advice


def test_converged_noise_is_not_a_spike():
    train = [1.0, 0.3, 0.1, 0.03, 0.01, 0.014, 0.009, 0.012, 0.008, 0.011]
    assert "unstable" not in diagnose_curves(train).verdicts


def test_diverging():
    d = diagnose_curves([1.0, 0.8, 0.9, 1.5, 3.0, 8.0, 30.0, 200.0])
    assert d.verdict == "diverging"


def test_nan():
    d = diagnose_curves([1.0, 0.8, 0.7, float("nan"), float("nan")], [1.0, 0.9, 0.8, 0.9, float("inf")])
    assert d.verdict == "nan" and d.first_nonfinite == 4
    assert d.verdicts[0] == "nan"


def test_custom_epochs_and_train_only():
    d = diagnose_curves([3.0, 2.0, 1.5, 1.2, 1.0, 0.8], epochs=[10, 20, 30, 40, 50, 60])
    assert d.best_epoch == 60 and d.verdict == "still_improving"


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        (([1.0],), {}, lk.LossShapeError, r"at least 2 epochs, but got 1"),
        (([1.0, 0.5], [1.0]), {}, lk.LossShapeError, r"one value per epoch like train_losses \(2\), but got 1"),
        ((["a", "b"],), {}, lk.LossTypeError, r"train_losses must be a sequence of numbers"),
        (([1.0, 0.5],), {"epochs": [1]}, lk.LossShapeError, r"epochs must have 2 entries"),
    ],
)
def test_errors(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        diagnose_curves(*args, **kwargs)


def test_read_plain_csv_with_other_header_names(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("Epoch,loss,valid_loss\n" + "".join(f"{e},{1 / e:.4f},{1 / e + 0.1:.4f}\n" for e in range(1, 9)))
    runs = read_curves(path)
    ((epochs, train, val),) = runs.values()
    assert epochs == list(range(1, 9)) and train[1] == pytest.approx(0.5) and val[1] == pytest.approx(0.6)


def test_read_lab_csv_groups_runs(tmp_path):
    path = tmp_path / "curves.csv"
    rows = ["loss,seed,epoch,train_loss,val_loss,val_balanced_accuracy"]
    rows += [f"{name},{s},{e},{1 / e},{1 / e},0.5" for name in ("ce", "focal") for s in (0, 1) for e in (1, 2, 3)]
    path.write_text("\n".join(rows) + "\n")
    runs = read_curves(path)
    assert list(runs) == ["loss=ce seed=0", "loss=ce seed=1", "loss=focal seed=0", "loss=focal seed=1"]
    assert all(len(t) == 3 and v is not None for _, t, v in runs.values())


def test_read_errors(tmp_path):
    with pytest.raises(lk.LossValueError, match=r"no such file"):
        read_curves(tmp_path / "missing.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("epoch,accuracy\n1,0.5\n")
    with pytest.raises(lk.LossValueError, match=r"training-loss column .* got columns \['epoch', 'accuracy'\]"):
        read_curves(bad)
    text = tmp_path / "text.csv"
    text.write_text("epoch,train_loss\n1,0.5\n2,oops\n")
    with pytest.raises(lk.LossValueError, match=r"got \['2', 'oops'\] on line 3"):
        read_curves(text)


def test_cli_doctor_with_plot(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    log = tmp_path / "log.csv"
    val = [1.0 - 0.1 * e for e in range(6)] + [0.5 + 0.05 * e for e in range(1, 9)]
    log.write_text("epoch,train_loss,val_loss\n" + "".join(
        f"{e + 1},{1.0 - 0.05 * e},{v}\n" for e, v in enumerate(val)))
    png = tmp_path / "curves.png"
    assert main(["doctor", str(log), "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    assert "overfitting from epoch 6" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["doctor", str(tmp_path / "nope.csv")]) == 2


def test_verdict_is_finite_on_flat_zero_curve():
    d = diagnose_curves([0.0] * 5, [0.0] * 5)
    assert d.verdict == "plateau" and not math.isnan(d.best_epoch)
