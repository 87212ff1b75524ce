"""The curve doctor: one curve per verdict, each rule at just below and just above its documented threshold, and
the log layouts it reads (each written by hand to tmp_path, shaped like what the trainer writes)."""

from __future__ import annotations

import json
import math

import pytest

import losskit as lk
from losskit import doctor
from losskit.cli import main
from losskit.doctor import diagnose_curves, read_curves, read_logs
from losskit.doctor_logs import MAX_POINTS, detect_format

DOWN = [1.0 / (1 + 0.5 * e) for e in range(30)]  # smooth, still falling at the end
PREFIX = [1.3, 1.2, 1.1, 1.05, 1.02, 1.0]  # 10 epochs with a 4-point ramp: w = 3, range 0.3 (1% of it = 0.003)


def ramp(r: float, a: float = 1.0) -> list[float]:
    """4 values on a line from a whose change (last - first) is r times their mean: b = a (2 + r) / (2 - r)."""
    b = a * (2 + r) / (2 - r)
    return [a + (b - a) * i / 3 for i in range(4)]


def falling(n: int, start: float = 1.0, step: float = 0.03) -> list[float]:
    return [start - step * i for i in range(n)]


# ------------------------------------------------------------------------------------------------------------------
# one curve per verdict
# ------------------------------------------------------------------------------------------------------------------
def test_still_improving():
    d = diagnose_curves(DOWN, [v + 0.05 for v in DOWN])
    assert d.verdict == "still_improving" and d.verdicts == ["still_improving"]
    assert d.best_epoch == 30
    assert "train longer" in d.advice


def test_plateau():
    train = [1.0, 0.5, 0.3] + [0.2] * 17
    val = [1.1, 0.6, 0.35] + [0.25 + 0.0005 * (i % 2) for i in range(17)]
    assert diagnose_curves(train, val).verdict == "plateau"


def test_overfitting_from_epoch_k():
    train = [1.0 - 0.045 * e for e in range(20)]
    val = [1.0 - 0.08 * e for e in range(8)] + [0.44 + 0.03 * e for e in range(1, 13)]
    d = diagnose_curves(train, val)
    # by construction the validation minimum is at index 7, epoch 8
    assert d.verdict == "overfitting" and d.overfitting_from == 8 and d.best_epoch == 8
    assert "overfitting from epoch 8" in str(d)


def test_unstable_spikes():
    train = [1.0, 0.8, 0.7, 1.6, 0.6, 0.55, 1.4, 0.5, 0.48, 0.47]
    d = diagnose_curves(train)
    assert d.verdict == "unstable"
    assert d.spikes == [4, 7]  # the two jumps, 1-based epochs
    assert "learning rate" in d.advice


def test_converged_noise_is_flat_not_unstable_or_diverging():
    # the last 4 epochs wiggle by +-20% of a level of 0.01, far below 1% of the curve's range (0.0099)
    train = [1.0, 0.3, 0.1, 0.03, 0.01, 0.014, 0.009, 0.012, 0.008, 0.011]
    assert diagnose_curves(train).verdicts == ["plateau"]


def test_diverging():
    d = diagnose_curves([1.0, 0.8, 0.9, 1.5, 3.0, 8.0, 30.0, 200.0])
    assert d.verdict == "diverging"


def test_rising_training_loss_is_never_plateau():
    # issue 10: a training loss climbing from 0.22 to 0.41 was "plateau ... stop"
    d = diagnose_curves([1.0, 0.6, 0.4, 0.3, 0.25, 0.22, 0.25, 0.29, 0.33, 0.37, 0.41])
    assert d.verdict == "diverging" and "plateau" not in d.verdicts
    assert "stop" not in d.advice


def test_rising_validation_loss_is_never_plateau():
    # issue 10: a validation loss rising 2% per epoch at the end was "plateau" against its own 1% rule
    train = falling(8)
    val = [1.0, 0.8, 0.7, 0.6, 0.612, 0.624, 0.636, 0.65]
    d = diagnose_curves(train, val)
    assert d.verdict == "overfitting" and d.overfitting_from == 4


def test_nan_and_missing_values():
    d = diagnose_curves([1.0, 0.8, 0.7, float("nan"), float("nan")], [1.0, 0.9, 0.8, 0.9, float("inf")])
    assert d.verdict == "nan" and d.first_nonfinite == 4 and d.verdicts[0] == "nan"
    # None is a missing validation value (measured every other epoch), not a NaN loss
    d = diagnose_curves(DOWN[:10], [v + 0.05 if i % 2 else None for i, v in enumerate(DOWN[:10])])
    assert "nan" not in d.verdicts and d.verdict == "still_improving" and d.best_epoch == 10
    d = diagnose_curves([1.0, 0.8, 0.6], [None, None, 0.7])
    assert d.verdict == "still_improving" and "judged on the training loss" in d.reasons[0]


def test_custom_epochs_and_unit():
    d = diagnose_curves([3.0, 2.0, 1.5, 1.2, 1.0, 0.8], epochs=[10, 20, 30, 40, 50, 60])
    assert d.best_epoch == 60 and d.verdict == "still_improving"
    d = diagnose_curves(falling(10), [0.9, 0.8, 0.7, 0.6, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0], epochs=range(100, 1100, 100),
                        unit="step")
    assert str(d).startswith("overfitting from step 500") and d.to_dict()["unit"] == "step"


# ------------------------------------------------------------------------------------------------------------------
# every rule at just below and just above its threshold
# ------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("r", "verdicts"), [
    (0.0501, ["diverging"]),  # RISE: change > 5% of the level
    (0.0499, ["unstable"]),  # below RISE, above FLAT: drifting up
    (0.0101, ["unstable"]),  # FLAT: change > 1% of the level
    (0.0099, ["plateau"]),
    (-0.0099, ["plateau"]),
    (-0.0101, ["still_improving"]),  # falls by more than 1% of the level
])
def test_training_change_thresholds(r, verdicts):
    assert doctor.RISE == 0.05 and doctor.FLAT == 0.01
    assert diagnose_curves(PREFIX + ramp(r)).verdicts == verdicts


@pytest.mark.parametrize(("share", "verdicts"), [(1.01, ["diverging"]), (0.99, ["plateau"])])
def test_a_change_must_also_exceed_1_percent_of_the_range(share, verdicts):
    # range 11 - 1 = 10: a rise of 0.1 * share over the last 4 epochs is ~9.5% of the level (above RISE), so only
    # the range floor (1% of 10 = 0.1) decides
    b = 1.0 + 0.01 * 10.0 * share
    train = [11.0, 6.0, 3.0, 2.0, 1.5, 1.0] + [1.0 + (b - 1.0) * i / 3 for i in range(4)]
    assert diagnose_curves(train).verdicts == verdicts


@pytest.mark.parametrize(("x", "diverging"), [(0.4004, True), (0.3996, False)])
def test_diverging_ends_above_twice_the_minimum(x, diverging):
    # the last 4 epochs are flat at x (no change), so only the "twice the minimum (0.2)" rule can call it
    d = diagnose_curves([0.3, 0.25, 0.2, 0.2, 0.2, 0.2, x, x, x, x])
    assert ("diverging" in d.verdicts) is diverging
    assert d.verdicts == (["diverging"] if diverging else ["plateau"])  # one 1.998x jump is not "unstable"


def test_diverging_needs_to_end_above_the_start():
    assert "diverging" not in diagnose_curves([0.5, 0.3, 0.2, 0.2, 0.2, 0.2, 0.45, 0.45, 0.45, 0.45]).verdicts


@pytest.mark.parametrize(("f", "unstable"), [(1.31, True), (1.29, False)])
def test_two_spikes_above_1_3x(f, unstable):
    train = [1.0, 0.9, 0.8, 0.8 * f, 0.7, 0.66, 0.66 * f, 0.6, 0.56, 0.53, 0.5, 0.48]
    d = diagnose_curves(train)
    assert ("unstable" in d.verdicts) is unstable
    assert d.spikes == ([4, 7] if unstable else [])


@pytest.mark.parametrize(("f", "unstable"), [(2.01, True), (1.99, False)])
def test_one_spike_above_2x(f, unstable):
    train = [1.0, 0.8, 0.6, 0.5, 0.5 * f, 0.45, 0.42, 0.4, 0.38, 0.36, 0.35, 0.34]
    d = diagnose_curves(train)
    assert d.spikes == [5] and ("unstable" in d.verdicts) is unstable


@pytest.mark.parametrize(("share", "unstable"), [(1.01, True), (0.99, False)])
def test_spike_must_rise_5_percent_of_the_range(share, unstable):
    # a 3.4x jump of a small loss: a spike only if it also rises by 5% of the range (max 1.0 - min 0.014)
    rise = 0.05 * (1.0 - 0.014) * share
    train = [1.0, 0.5, 0.1, 0.02, 0.02 + rise, 0.02, 0.019, 0.018, 0.017, 0.016, 0.015, 0.014]
    d = diagnose_curves(train)
    assert ("unstable" in d.verdicts) is unstable and d.spikes == ([5] if unstable else [])


@pytest.mark.parametrize(("share", "overfitting"), [(1.01, True), (0.99, False)])
def test_overfitting_rise_above_5_percent(share, overfitting):
    # minimum 0.5 at epoch 6, then flat at y for 4 epochs (no change, so only rule (a) can call it): threshold
    # 5% of max(range up to the minimum 0.5, level 0.5) = 0.025
    y = 0.5 + 0.05 * 0.5 * share
    d = diagnose_curves(falling(10), [1.0, 0.9, 0.8, 0.7, 0.6, 0.5, y, y, y, y])
    assert ("overfitting" in d.verdicts) is overfitting
    assert d.verdict == ("overfitting" if overfitting else "plateau")
    if overfitting:
        assert d.overfitting_from == 6


@pytest.mark.parametrize(("h", "overfitting"), [(1.0099, True), (1.0101, False)])
def test_overfitting_needs_the_training_loss_held(h, overfitting):
    # the training loss ends (mean of the last 3) h times its value at the validation minimum (epoch 6)
    train = [0.8, 0.7, 0.6, 0.5, 0.4, 0.3] + [0.3 * h] * 4
    d = diagnose_curves(train, [1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.6, 0.6, 0.6, 0.6])
    assert ("overfitting" in d.verdicts) is overfitting


@pytest.mark.parametrize(("after", "overfitting"), [(3, True), (2, False)])
def test_overfitting_needs_3_epochs_after_the_minimum(after, overfitting):
    # 20 epochs (w = 4); the last 5 validation values have a flat least-squares line, so rule (b) stays silent
    tail = [0.65, 0.5, 0.6, 0.6, 0.6] if after == 3 else [0.575, 0.65, 0.5, 0.6, 0.6]
    val = [1.0 - 0.02 * i for i in range(15)] + tail
    d = diagnose_curves(falling(20, step=0.02), val)
    assert d.best_epoch == 20 - after
    assert ("overfitting" in d.verdicts) is overfitting


@pytest.mark.parametrize(("r", "verdict"), [(0.0101, "overfitting"), (0.0099, "plateau")])
def test_overfitting_when_validation_rises_above_1_percent(r, verdict):
    val = [0.7, 0.65, 0.6, 0.57, 0.55, 0.53, *ramp(r, a=0.5)]
    d = diagnose_curves(falling(10), val)
    assert d.verdicts == [verdict]
    if verdict == "overfitting":
        assert d.overfitting_from == 7 and "rises 1.0%" in d.reasons[0]


def test_window():
    assert [doctor._window(n) for n in (2, 3, 4, 10, 19, 20, 50)] == [1, 2, 3, 3, 3, 4, 10]


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        (([1.0],), {}, lk.LossShapeError, r"at least 2 epochs, but got 1"),
        (([1.0, 0.5], [1.0]), {}, lk.LossShapeError, r"one value per epoch like train_losses \(2\), but got 1"),
        ((["a", "b"],), {}, lk.LossTypeError, r"train_losses must be a sequence of numbers"),
        (([1.0, 0.5], ["x", None]), {}, lk.LossTypeError, r"val_losses must be .* None where not measured"),
        (([1.0, 0.5],), {"epochs": [1]}, lk.LossShapeError, r"epochs must have 2 entries"),
        (([1.0, 0.5],), {"unit": "batch"}, lk.LossOptionError, r"unit"),
    ],
)
def test_errors(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        diagnose_curves(*args, **kwargs)


def test_verdict_is_finite_on_flat_zero_curve():
    d = diagnose_curves([0.0] * 5, [0.0] * 5)
    assert d.verdict == "plateau" and not math.isnan(d.best_epoch)


# ------------------------------------------------------------------------------------------------------------------
# the log layouts
# ------------------------------------------------------------------------------------------------------------------
TRAIN8 = [1.20, 0.90, 0.72, 0.61, 0.53, 0.47, 0.42, 0.38]
VAL8 = [1.00, 0.80, 0.70, 0.65, 0.66, 0.675, 0.69, 0.71]  # lowest at the 4th epoch, then +1.5% to +3% per epoch


def lightning_csv(val_every: int = 1) -> str:
    """A CSVLogger metrics.csv: self.log('train_loss', on_step=True, on_epoch=True) every 2 of 4 steps per
    epoch, self.log('val_loss') and self.log('val_acc') at each validation; epochs from 0, blank cells."""
    lines = ["epoch,step,train_loss_epoch,train_loss_step,val_acc,val_loss"]
    for e, (t, v) in enumerate(zip(TRAIN8, VAL8)):
        for k in (1, 3):
            lines.append(f"{e},{4 * e + k},,{t + (0.02 if k == 1 else -0.02):.4f},,")
        if e % val_every == val_every - 1:
            lines.append(f"{e},{4 * e + 3},,,0.{70 + e},{v}")
        lines.append(f"{e},{4 * e + 3},{t},,,")
    return "\n".join(lines) + "\n"


def test_lightning_metrics_csv(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text(lightning_csv())
    assert detect_format(path) == "lightning"
    ((key, c),) = read_curves(path).items()
    assert key == "metrics.csv" and c.unit == "epoch"
    assert c.epochs == list(range(8)) and c.train == TRAIN8 and c.val == VAL8  # the epoch-level values, not NaN
    d = diagnose_curves(c.train, c.val, epochs=c.epochs)
    assert d.verdict == "overfitting" and d.overfitting_from == 3


def test_lightning_step_only_loss_and_validation_every_other_epoch(tmp_path):
    # no train_loss_epoch: the epoch's training loss is the mean of its step values (t + 0.02 and t - 0.02)
    text = lightning_csv(val_every=2).replace("train_loss_epoch", "lr_epoch")
    path = tmp_path / "metrics.csv"
    path.write_text(text)
    ((_, c),) = read_curves(path).items()
    assert c.train == pytest.approx(TRAIN8)
    assert c.val == [None, 0.8, None, 0.65, None, 0.675, None, 0.71]
    assert diagnose_curves(c.train, c.val, epochs=c.epochs).verdict != "nan"


def test_hf_log_history_json(tmp_path):
    history = []
    for e, (t, v) in enumerate(zip(TRAIN8, VAL8), start=1):
        history += [
            {"epoch": e - 0.5, "grad_norm": 1.2, "learning_rate": 5e-5, "loss": t + 0.05, "step": 10 * e - 5},
            {"epoch": float(e), "grad_norm": 1.1, "learning_rate": 4e-5, "loss": t - 0.05, "step": 10 * e},
            {"epoch": float(e), "eval_loss": v, "eval_accuracy": 0.8, "eval_runtime": 1.5, "step": 10 * e},
        ]
    history.append({"epoch": 8.0, "step": 80, "total_flos": 1e12, "train_loss": 99.0, "train_runtime": 60.0})
    path = tmp_path / "log_history.json"
    path.write_text(json.dumps(history, indent=2))
    assert detect_format(path) == "hf"
    ((_, c),) = read_curves(path).items()
    assert c.epochs == list(range(1, 9)) and c.train == pytest.approx(TRAIN8) and c.val == VAL8
    assert 99.0 not in c.train  # the end-of-training summary is not a training point
    assert diagnose_curves(c.train, c.val, epochs=c.epochs).overfitting_from == 4


def test_hf_trainer_state_with_step_evaluation_in_one_epoch(tmp_path):
    # one epoch of 100 steps: loss every 10 steps, eval_loss every 20; rounded epochs as older versions write them
    log = [{"epoch": round(s / 100, 2), "learning_rate": 1e-4, "loss": 2.0 - 0.01 * s, "step": s}
           for s in range(10, 101, 10)]
    log += [{"epoch": round(s / 100, 2), "eval_loss": 1.9 - 0.008 * s, "eval_runtime": 0.9, "step": s}
            for s in range(20, 101, 20)]
    log.sort(key=lambda e: (e["step"], "eval_loss" in e))
    state = {"best_metric": None, "epoch": 1.0, "global_step": 100, "log_history": log, "max_steps": 100}
    path = tmp_path / "trainer_state.json"
    path.write_text(json.dumps(state))
    ((_, c),) = read_curves(path).items()
    assert c.unit == "step" and c.epochs == [20, 40, 60, 80, 100]
    # the training losses at steps (20k-20, 20k] are averaged onto the evaluation at step 20k
    assert c.train == pytest.approx([2.0 - 0.01 * (s - 5) for s in (20, 40, 60, 80, 100)])
    assert c.val == pytest.approx([1.9 - 0.008 * s for s in (20, 40, 60, 80, 100)])
    assert diagnose_curves(c.train, c.val, epochs=c.epochs, unit=c.unit).verdict == "still_improving"


def test_hf_log_history_saved_as_csv(tmp_path):
    # pd.DataFrame(trainer.state.log_history).to_csv(...): an unnamed index column, blank cells, the summary row last
    cols = ["", "loss", "grad_norm", "learning_rate", "epoch", "step", "eval_loss", "eval_runtime", "train_runtime",
            "train_loss"]
    lines, k = [",".join(cols)], 0
    for e, (t, v) in enumerate(zip(TRAIN8, VAL8), start=1):
        lines += [f"{k},{t},1.0,5e-05,{e - 0.5},{10 * e - 5},,,,", f"{k + 1},{t},1.0,5e-05,{float(e)},{10 * e},,,,",
                  f"{k + 2},,,,{float(e)},{10 * e},{v},1.5,,"]
        k += 3
    lines.append(f"{k},,,,8.0,80,,,60.0,99.0")
    path = tmp_path / "log_history.csv"
    path.write_text("\n".join(lines) + "\n")
    ((_, c),) = read_curves(path).items()
    assert c.epochs == list(range(1, 9)) and c.train == TRAIN8 and c.val == VAL8


def test_tensorboard_exports_paired_by_run(tmp_path, capsys):
    train = tmp_path / "run-version_0-tag-train_loss.csv"
    val = tmp_path / "run-version_0-tag-val_loss.csv"
    train.write_text("Wall time,Step,Value\n" + "".join(
        f"{1.7e9 + s:.3f},{s},{1.0 / (1 + s / 50):.5f}\n" for s in range(0, 400, 10)))
    val.write_text("Wall time,Step,Value\n" + "".join(
        f"{1.7e9 + s:.3f},{s},{v}\n" for s, v in zip(range(49, 400, 50), [0.9, 0.7, 0.6, 0.55, 0.57, 0.6, 0.63, 0.66])))
    assert detect_format(train) == "tensorboard"
    ((key, c),) = read_logs([train, val]).items()
    assert key == "version_0" and c.unit == "step" and c.epochs == list(range(49, 400, 50))
    assert c.train[0] == pytest.approx(sum(1.0 / (1 + s / 50) for s in range(0, 50, 10)) / 5, rel=1e-4)
    assert main(["doctor", str(train), str(val)]) == 0
    out = capsys.readouterr().out
    assert "read as a TensorBoard scalar export" in out and "version_0: overfitting from step 199" in out


def test_tensorboard_json_export(tmp_path):
    path = tmp_path / "loss.json"
    path.write_text(json.dumps([[1.7e9 + s, s, 1.0 / (1 + s)] for s in range(10)]))
    assert detect_format(path) == "tensorboard"
    ((_, c),) = read_curves(path).items()
    assert c.epochs == list(range(10)) and c.train[3] == pytest.approx(0.25) and c.unit == "step"


def test_lightning_validation_logged_per_batch_uses_the_epoch_value(tmp_path):
    # self.log("val_loss", on_step=True, on_epoch=True) in validation_step: val_loss_step rows and one val_loss_epoch
    lines = ["epoch,step,train_loss,val_loss_epoch,val_loss_step"]
    for e, (t, v) in enumerate(zip(TRAIN8, VAL8)):
        lines += [f"{e},{4 * e + 3},{t},,", f"{e},{4 * e + 3},,,{v + 0.3}", f"{e},{4 * e + 3},,{v},"]
    path = tmp_path / "metrics.csv"
    path.write_text("\n".join(lines) + "\n")
    ((_, c),) = read_curves(path).items()
    assert c.val == VAL8 and c.train == TRAIN8


def test_long_training_only_log_is_binned(tmp_path):
    path = tmp_path / "run-a-tag-loss.csv"
    path.write_text("Wall time,Step,Value\n" + "".join(f"0,{s},{1.0 / (1 + s)}\n" for s in range(1000)))
    ((_, c),) = read_curves(path).items()
    assert len(c.train) == 100 <= MAX_POINTS and c.val is None and c.epochs[:2] == [9, 19]
    assert c.train[0] == pytest.approx(sum(1.0 / (1 + s) for s in range(10)) / 10)


def test_read_plain_csv_with_other_header_names_and_blank_cells(tmp_path):
    path = tmp_path / "log.csv"
    rows = [f"{e},{1 / e:.4f},{'' if e == 3 else f'{1 / e + 0.1:.4f}'}" for e in range(1, 9)]
    path.write_text("Epoch,loss,valid_loss\n" + "\n".join(rows) + "\n")
    assert detect_format(path) == "csv"
    ((epochs, train, val, unit),) = read_curves(path).values()
    assert epochs == list(range(1, 9)) and train[1] == pytest.approx(0.5) and val[1] == pytest.approx(0.6)
    assert val[2] is None and unit == "epoch"


def test_nan_written_in_a_log_is_a_nan_loss(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("epoch,train_loss,val_loss\n1,1.0,1.1\n2,0.8,0.9\n3,nan,\n4,nan,\n")
    ((_, c),) = read_curves(path).items()
    assert diagnose_curves(c.train, c.val, epochs=c.epochs).first_nonfinite == 3


def test_read_lab_csv_groups_runs(tmp_path):
    path = tmp_path / "curves.csv"
    rows = ["loss,seed,epoch,train_loss,val_loss,val_balanced_accuracy"]
    rows += [f"{name},{s},{e},{1 / e},{1 / e},0.5" for name in ("ce", "focal") for s in (0, 1) for e in (1, 2, 3)]
    path.write_text("\n".join(rows) + "\n")
    assert detect_format(path) == "lab"
    runs = read_curves(path)
    assert list(runs) == ["loss=ce seed=0", "loss=ce seed=1", "loss=focal seed=0", "loss=focal seed=1"]
    assert all(c.train == [1.0, 0.5, 1 / 3] and c.val == c.train for c in runs.values())


def test_read_errors(tmp_path):
    with pytest.raises(lk.LossValueError, match=r"no such file"):
        read_curves(tmp_path / "missing.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("epoch,accuracy\n1,0.5\n")
    with pytest.raises(lk.LossValueError, match=r"training-loss column .* got columns \['epoch', 'accuracy'\]"):
        read_curves(bad)
    text = tmp_path / "text.csv"
    text.write_text("epoch,train_loss\n1,0.5\n\n2,oops\n")
    with pytest.raises(lk.LossValueError, match=r"got 'oops' in column 'train_loss' on line 4"):
        read_curves(text)
    val_only = tmp_path / "run-x-tag-val_loss.csv"
    val_only.write_text("Wall time,Step,Value\n0,1,0.5\n")
    with pytest.raises(lk.LossValueError, match=r"validation curve \(from its name\) without a training curve"):
        read_curves(val_only)


def write_cli_cases(tmp_path):
    cases = {}
    cases["missing"] = (str(tmp_path / "nope.csv"), "no such file")
    cases["folder"] = (str(tmp_path), "got the folder")
    binary = tmp_path / "events.out.tfevents.123.host"
    binary.write_bytes(b"\x18\x00\x00\x00\x00\x00\x00\x00\xa3\x7f\x4b\x22\x09\x00\x00\x80\xff\xfe")
    cases["binary"] = (str(binary), "export the scalars as CSV")
    empty = tmp_path / "empty.csv"
    empty.write_text("\n\n")
    cases["empty"] = (str(empty), "is empty")
    broken = tmp_path / "broken.json"
    broken.write_text('{"log_history": [{"loss": 1.0,')
    cases["bad json"] = (str(broken), "must be valid JSON")
    other = tmp_path / "config.json"
    other.write_text('{"lr": 0.1, "epochs": 3}')
    cases["unknown json"] = (str(other), "unknown layout: an object without a 'log_history' list")
    noloss = tmp_path / "acc.csv"
    noloss.write_text("epoch,accuracy\n1,0.5\n2,0.6\n")
    cases["no loss column"] = (str(noloss), "training-loss column")
    return cases


@pytest.mark.parametrize("case", ["missing", "folder", "binary", "empty", "bad json", "unknown json",
                                  "no loss column"])
def test_cli_one_line_errors_exit_2(tmp_path, capsys, case):
    path, message = write_cli_cases(tmp_path)[case]
    assert main(["doctor", path]) == 2
    err = capsys.readouterr().err
    assert err.startswith("losskit doctor: error: doctor: ") and message in err and err.count("\n") == 1


def test_cli_reads_each_layout_and_format_override(tmp_path, capsys):
    lightning = tmp_path / "metrics.csv"
    lightning.write_text(lightning_csv())
    hf = tmp_path / "trainer_state.json"
    hf.write_text(json.dumps({"log_history": [{"epoch": e, "loss": t, "step": 10 * e}
                                              for e, t in enumerate(TRAIN8, start=1)]}))
    plain = tmp_path / "plain.csv"
    plain.write_text("epoch,train_loss\n" + "".join(f"{e},{t}\n" for e, t in enumerate(TRAIN8, start=1)))
    assert main(["doctor", str(lightning), str(hf), str(plain)]) == 0
    out = capsys.readouterr().out
    assert "read as a Lightning CSVLogger metrics.csv" in out and "read as a Hugging Face Trainer log_history" in out
    assert "read as a plain CSV log" in out
    assert f"{lightning}: overfitting from epoch 3" in out and f"{hf}: still improving" in out
    assert main(["doctor", str(lightning), "--format", "csv"]) == 0  # the same reader, named as plain CSV
    assert "read as a plain CSV log" in capsys.readouterr().out
    assert main(["doctor", str(plain), "--format", "lightning"]) == 2
    assert "must have 'epoch' and 'step' columns" in capsys.readouterr().err
    assert main(["doctor", str(hf), "--format", "tensorboard"]) == 2
    assert "to be read as TensorBoard's JSON export, but" in capsys.readouterr().err
    assert main(["doctor", str(hf), "--format", "lightning"]) == 2
    assert "is JSON, which --format lightning cannot read" in capsys.readouterr().err


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
    assert main(["doctor", str(log), "--plot", str(tmp_path / "no" / "such" / "dir.png")]) == 2
    err = capsys.readouterr().err
    assert "--plot must be a writable file path" in err and err.count("\n") == 1
