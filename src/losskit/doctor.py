"""The curve doctor: read a training run's loss curves and say what a practitioner would say.

:func:`diagnose_curves` takes the per-epoch training loss (and, if there is one, the validation loss) and returns
a :class:`CurveDiagnosis`: the verdicts that apply, most urgent first, with the reasons and what to do.

========================= ==========================================================================================
verdict                   rule (``w`` = the last ``max(3, n // 5)`` epochs)
========================= ==========================================================================================
``"nan"``                 a NaN or infinite loss anywhere
``"diverging"``           the training loss ends (mean of ``w``) above its start and above twice its minimum
``"unstable"``            spikes: an epoch whose training loss jumps by more than 30% over the previous one (and by
                          at least 5% of the curve's range), at least twice, or once by more than 2x
``"overfitting"``         the validation loss bottoms out at epoch ``k`` with at least 3 epochs after it, then ends at
                          least 5% (of its range and of its level) above that minimum while the training loss kept going
                          down: overfitting from epoch ``k``
``"still_improving"``     the monitored loss (validation if given, else training) fell over ``w`` by more than 1% of
                          its level and its best epoch is in ``w``
``"plateau"``             none of the above: the monitored loss changed by at most 1% over ``w``
========================= ==========================================================================================

``losskit doctor CURVES.csv`` reads the lab's ``curves.csv`` (one curve per loss and seed) or a plain CSV exported
from any trainer (columns such as ``epoch``, ``train_loss``/``loss``, ``val_loss``/``valid_loss``/``eval_loss``) and
prints the verdicts; ``--plot FILE`` draws the curves with the verdicts (needs matplotlib).

Example:
    >>> from losskit.doctor import diagnose_curves
    >>> d = diagnose_curves([1.0, 0.6, 0.4, 0.3, 0.25, 0.22, 0.2, 0.19], [1.0, 0.7, 0.5, 0.45, 0.5, 0.6, 0.7, 0.8])
    >>> d.verdict, d.overfitting_from
    ('overfitting', 4)
"""

from __future__ import annotations

import argparse
import csv
import difflib
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from . import _validation as V

__all__ = ["VERDICTS", "CurveDiagnosis", "diagnose_curves", "read_curves", "register"]

VERDICTS = ("nan", "diverging", "unstable", "overfitting", "still_improving", "plateau")

SPIKE_JUMP = 1.3
"""An epoch whose training loss exceeds the previous one by this factor is a spike."""
BIG_SPIKE_JUMP = 2.0
"""One jump by this factor is enough for "unstable"."""
SPIKE_SHARE = 0.05
"""A spike must also rise by this share of the curve's range (max - min), so a converged loss's noise is not one."""
OVERFIT_RISE = 0.05
"""The validation loss must end this share (of its range and of its level) above its minimum."""
FLAT = 0.01
"""Changes below this share of the loss's level over the last epochs count as flat."""

_ADVICE = {
    "nan": "lower the learning rate, check the inputs and targets for NaN/Inf (losskit's guard with "
    "lk.set_guard('always') names the call), clip gradients, and compute the loss in float32 under mixed precision",
    "diverging": "lower the learning rate (by 3-10x), add gradient clipping or a warm-up, and check that the loss "
    "matches the output (logits vs probabilities)",
    "unstable": "the learning rate is probably too high: lower it or use a schedule with warm-up; larger batches "
    "or gradient clipping also smooth the steps",
    "overfitting": "keep the checkpoint of the best epoch (early stopping), add regularisation (weight decay, "
    "dropout, label smoothing, augmentation) or get more data",
    "still_improving": "train longer: the loss is still going down",
    "plateau": "converged at this learning rate: stop, or lower the learning rate to go further; if the loss is "
    "still high, the model may be too small (underfitting)",
}


@dataclass
class CurveDiagnosis:
    """The doctor's verdict on one run."""

    verdict: str
    """The most urgent verdict: one of :data:`VERDICTS`."""
    verdicts: list[str]
    """Every verdict that applies, most urgent first."""
    reasons: list[str]
    advice: str
    """What to do about :attr:`verdict`."""
    epochs: list[int]
    best_epoch: int | None = None
    """The epoch with the lowest monitored loss (validation if given)."""
    overfitting_from: int | None = None
    """The epoch after which the validation loss rose (with ``"overfitting"``)."""
    spikes: list[int] = field(default_factory=list)
    """The epochs of the training-loss spikes."""
    first_nonfinite: int | None = None
    """The first epoch with a NaN or infinite loss (with ``"nan"``)."""

    def __str__(self) -> str:
        head = self.verdict.replace("_", " ")
        if self.overfitting_from is not None and self.verdict == "overfitting":
            head += f" from epoch {self.overfitting_from}"
        lines = [head] + [f"  - {r}" for r in self.reasons] + [f"  advice: {self.advice}"]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {
            "verdict": self.verdict,
            "verdicts": list(self.verdicts),
            "reasons": list(self.reasons),
            "advice": self.advice,
            "best_epoch": self.best_epoch,
            "overfitting_from": self.overfitting_from,
            "spikes": list(self.spikes),
            "first_nonfinite": self.first_nonfinite,
        }


def _floats(name: str, arg: str, values: object) -> list[float]:
    try:
        out = [float(v) for v in values]  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise V.LossTypeError(
            f"{name}: {arg} must be a sequence of numbers (one loss per epoch), but got {type(values).__name__}; "
            "pass e.g. a list of floats"
        ) from None
    return out


def _window(n: int) -> int:
    return min(max(3, n // 5), max(n - 1, 1))


def _spikes(train: list[float], epochs: list[int]) -> tuple[list[int], float]:
    """Epochs of the training-loss spikes and the largest jump factor (or range-relative jump)."""
    spikes: list[int] = []
    worst = 1.0
    positive = min(train) > 0
    span = (max(train) - min(train)) or 1.0
    for i in range(1, len(train)):
        prev, cur = train[i - 1], train[i]
        if (cur - prev) < SPIKE_SHARE * span:  # tiny wiggles of a converged loss are not spikes
            continue
        jump = cur / prev if positive else 1.0 + (cur - prev) / span
        worst = max(worst, jump)
        if jump > SPIKE_JUMP:
            spikes.append(epochs[i])
    return spikes, worst


def diagnose_curves(
    train_losses: Sequence[float],
    val_losses: Sequence[float] | None = None,
    *,
    epochs: Sequence[int] | None = None,
) -> CurveDiagnosis:
    """Diagnose a run from its per-epoch losses (rules in the module docstring).

    Args:
        train_losses: the training loss per epoch (at least 2 epochs).
        val_losses: the validation loss per epoch, same length (default ``None``: training loss only).
        epochs: the epoch numbers (default ``1, 2, ...``).

    Returns:
        A :class:`CurveDiagnosis` with the verdicts, reasons and advice.

    Raises:
        LossTypeError: the losses are not numbers.
        LossShapeError: fewer than 2 epochs, or lengths that differ.

    Example:
        >>> from losskit.doctor import diagnose_curves
        >>> diagnose_curves([2.0, 1.5, 1.1, 0.8, 0.6, 0.45]).verdict
        'still_improving'
    """
    name = "diagnose_curves"
    train = _floats(name, "train_losses", train_losses)
    val = _floats(name, "val_losses", val_losses) if val_losses is not None else None
    n = len(train)
    if n < 2:
        raise V.LossShapeError(
            f"{name}: train_losses must hold at least 2 epochs, but got {n}; train for more epochs first"
        )
    if val is not None and len(val) != n:
        raise V.LossShapeError(
            f"{name}: val_losses must have one value per epoch like train_losses ({n}), but got {len(val)}; "
            "log both once per epoch"
        )
    ep = [int(e) for e in epochs] if epochs is not None else list(range(1, n + 1))
    if len(ep) != n:
        raise V.LossShapeError(f"{name}: epochs must have {n} entries like train_losses, but got {len(ep)}; "
                               "pass one epoch number per loss")
    verdicts: list[str] = []
    reasons: list[str] = []
    result = CurveDiagnosis("plateau", [], reasons, "", ep)

    # NaN / Inf: nothing else can be judged past that point
    bad = [i for i in range(n) if not math.isfinite(train[i]) or (val is not None and not math.isfinite(val[i]))]
    if bad:
        result.first_nonfinite = ep[bad[0]]
        verdicts.append("nan")
        which = "training" if not math.isfinite(train[bad[0]]) else "validation"
        reasons.append(f"the {which} loss is NaN or infinite from epoch {ep[bad[0]]} on ({len(bad)} of {n} epochs)")
        cut = bad[0]
        if cut < 2:
            result.verdict, result.verdicts, result.advice = "nan", verdicts, _ADVICE["nan"]
            return result
        train, val, ep, n = train[:cut], (val[:cut] if val is not None else None), ep[:cut], cut

    w = _window(n)
    tail = train[-w:]
    end = sum(tail) / len(tail)
    lo = min(train)
    # diverging
    rising = (end > 2 * lo) if lo > 0 else (end - lo > 2 * abs(train[0] - lo) + 1e-12)
    if end > train[0] and rising:
        verdicts.append("diverging")
        reasons.append(
            f"the training loss ends at {end:.4g} (mean of the last {w} epochs), above its start {train[0]:.4g} "
            f"and more than twice its minimum {lo:.4g} (epoch {ep[train.index(lo)]})"
        )
    # spikes
    spikes, worst = _spikes(train, ep)
    if "diverging" not in verdicts and (len(spikes) >= 2 or worst > BIG_SPIKE_JUMP):
        verdicts.append("unstable")
        shown = ", ".join(map(str, spikes[:8])) + (", ..." if len(spikes) > 8 else "")
        reasons.append(
            f"the training loss spikes at epoch(s) {shown} (jumps above {SPIKE_JUMP:g}x the previous epoch, the "
            f"largest {worst:.3g}x)"
        )
    result.spikes = spikes
    # overfitting
    monitored = val if val is not None else train
    best = min(range(n), key=lambda i: monitored[i])
    result.best_epoch = ep[best]
    if val is not None:
        vmin = val[best]
        vend = sum(val[-w:]) / w if n - best - 1 >= w else val[-1]
        vrange = max(val[: best + 1]) - vmin
        rise = vend - vmin
        after = n - 1 - best
        train_kept_falling = sum(train[-w:]) / w <= train[best] * (1 + FLAT)
        threshold = max(OVERFIT_RISE * vrange, OVERFIT_RISE * abs(vmin), 1e-12)
        if after >= 3 and rise > threshold and train_kept_falling:
            verdicts.append("overfitting")
            result.overfitting_from = ep[best]
            reasons.append(
                f"the validation loss is lowest at epoch {ep[best]} ({vmin:.4g}) and rises to {vend:.4g} over the "
                f"{after} epochs after it, while the training loss keeps falling ({train[best]:.4g} -> "
                f"{train[-1]:.4g})"
            )
    # still improving / plateau (on the monitored loss)
    which = "validation" if val is not None else "training"
    recent = monitored[-w - 1 :]
    drop = recent[0] - recent[-1]
    level = max(abs(recent[0]), abs(recent[-1]), 1e-12)
    if not verdicts or verdicts == ["unstable"]:
        if drop > FLAT * level and best >= n - w:
            verdicts.append("still_improving")
            reasons.append(
                f"the {which} loss fell {drop / level:.1%} over the last {w} epochs ({recent[0]:.4g} -> "
                f"{recent[-1]:.4g}) and is at its best at epoch {ep[best]}"
            )
        else:
            verdicts.append("plateau")
            reasons.append(
                f"the {which} loss changed {abs(drop) / level:.1%} over the last {w} epochs ({recent[0]:.4g} -> "
                f"{recent[-1]:.4g}); best {monitored[best]:.4g} at epoch {ep[best]}"
            )
    order = {v: i for i, v in enumerate(VERDICTS)}
    verdicts.sort(key=order.__getitem__)
    result.verdict, result.verdicts, result.advice = verdicts[0], verdicts, _ADVICE[verdicts[0]]
    return result


# --------------------------------------------------------------------------------------------
# reading loss logs
# --------------------------------------------------------------------------------------------
_EPOCH = ("epoch", "epochs", "step", "steps", "iter", "iteration", "global_step")
_TRAIN = ("train_loss", "training_loss", "train/loss", "loss/train", "train", "loss", "trn_loss", "train_epoch_loss")
_VAL = (
    "val_loss", "valid_loss", "validation_loss", "val/loss", "loss/val", "loss/valid", "eval_loss", "val",
    "valid", "validation", "dev_loss", "test_loss", "val_epoch_loss",
)
_GROUP = ("loss", "seed", "run")


def _norm(h: str) -> str:
    return h.strip().lower().replace(" ", "_").replace("-", "_")


def read_curves(path: str | os.PathLike) -> dict[str, tuple[list[int], list[float], list[float] | None]]:
    """Read a loss log: ``{run name: (epochs, train losses, validation losses or None)}``.

    Accepts the lab's ``curves.csv`` (columns ``loss, seed, epoch, train_loss, val_loss, ...``: one run per loss
    and seed) and plain logs with an optional epoch column and a training-loss column under any common name.

    Raises:
        LossValueError: a missing file, no header, no recognisable training-loss column, or non-numbers.
    """
    name = "doctor"
    if not os.path.isfile(path):
        raise V.LossValueError(f"{name}: CURVES must be an existing CSV file, but got {str(path)!r} (no such file); "
                               "check the path")
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
    except UnicodeDecodeError:
        raise V.LossValueError(f"{name}: CURVES must be a UTF-8 text CSV, but got undecodable bytes in {str(path)!r}; "
                               "export the log as CSV") from None
    rows = [r for r in rows if any(c.strip() for c in r)]
    if len(rows) < 2:
        raise V.LossValueError(f"{name}: CURVES must have a header row and at least one data row, but got "
                               f"{len(rows)} row(s) in {str(path)!r}; export the full log")
    header = [_norm(h) for h in rows[0]]
    has_val_col = any(h in header for h in _VAL)
    lab_format = "train_loss" in header and "seed" in header and "loss" in header

    def find(options: Sequence[str], exclude: Sequence[int] = ()) -> int | None:
        for o in options:
            if o in header and header.index(o) not in exclude:
                return header.index(o)
        return None

    i_epoch = find(_EPOCH)
    i_train = find(("train_loss", *_TRAIN[1:]) if lab_format else _TRAIN)
    i_val = find(_VAL, exclude=[i_train] if i_train is not None else []) if has_val_col else None
    if i_train is None:
        close = difflib.get_close_matches("train_loss", header, n=2, cutoff=0.4)
        raise V.LossValueError(
            f"{name}: CURVES must have a training-loss column (train_loss, loss, ...), but got columns "
            f"{rows[0]}; rename it to train_loss" + (f" (is it {close[0]!r}?)" if close else "")
        )
    groups = [header.index(g) for g in _GROUP if g in header and header.index(g) not in (i_train, i_val)]
    runs: dict[str, tuple[list[int], list[float], list[float] | None]] = {}
    for line, row in enumerate(rows[1:], start=2):
        if len(row) < len(header):
            row = row + [""] * (len(header) - len(row))
        key = " ".join(f"{rows[0][g]}={row[g]}" for g in groups) if groups else os.path.basename(str(path))
        epochs, train, val = runs.setdefault(key, ([], [], [] if i_val is not None else None))
        try:
            t = float(row[i_train]) if row[i_train].strip() else math.nan
            v = (float(row[i_val]) if row[i_val].strip() else math.nan) if i_val is not None else None
            e = int(float(row[i_epoch])) if i_epoch is not None else len(epochs) + 1
        except ValueError:
            raise V.LossValueError(
                f"{name}: CURVES must hold numbers in its loss and epoch columns, but got {row!r} on line {line}; "
                "fix or drop that line"
            ) from None
        epochs.append(e)
        train.append(t)
        if val is not None and v is not None:
            val.append(v)
    return runs


# --------------------------------------------------------------------------------------------
# plot and CLI
# --------------------------------------------------------------------------------------------
def plot_curves(
    runs: dict[str, tuple[list[int], list[float], list[float] | None]],
    diagnoses: dict[str, CurveDiagnosis],
    path: str | os.PathLike,
) -> None:
    """One panel per run: training and validation loss, the verdict in the title, spikes and the best epoch marked
    (needs matplotlib)."""
    from .lab._extras import figure

    n = len(runs)
    cols = min(n, 3)
    rows = (n + cols - 1) // cols
    fig = figure(figsize=(4.6 * cols, 3.2 * rows))
    for k, (key, (ep, train, val)) in enumerate(runs.items()):
        ax = fig.add_subplot(rows, cols, k + 1)
        d = diagnoses[key]
        ax.plot(ep, train, label="train", color="tab:blue")
        if val is not None:
            ax.plot(ep, val, label="validation", color="tab:orange")
        for s in d.spikes:
            ax.axvline(s, color="tab:red", alpha=0.25, lw=1)
        if d.overfitting_from is not None:
            ax.axvline(d.overfitting_from, color="tab:purple", ls="--", lw=1, label="overfitting from")
        elif d.best_epoch is not None:
            ax.axvline(d.best_epoch, color="gray", ls=":", lw=1, label="best epoch")
        ax.set_title(f"{key}\n{d.verdict.replace('_', ' ')}", fontsize=9)
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``losskit doctor``."""
    p = subparsers.add_parser(
        "doctor",
        help="diagnose loss curves from a CSV log (overfitting, plateau, spikes, divergence, NaN)",
        description="Read a loss log (the lab's curves.csv, or any CSV with an epoch column and training/validation "
        "loss columns such as train_loss/loss and val_loss/valid_loss/eval_loss) and say, for each run, whether "
        "it is still improving, on a plateau, overfitting from some epoch, unstable, diverging or NaN.",
    )
    p.add_argument("curves", metavar="CURVES.csv", help="the loss log to read")
    p.add_argument("--plot", metavar="FILE", help="also write a PNG of the curves with the verdicts (needs matplotlib)")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    runs = read_curves(args.curves)
    diagnoses: dict[str, CurveDiagnosis] = {}
    for key, (ep, train, val) in runs.items():
        d = diagnose_curves(train, val, epochs=ep)
        diagnoses[key] = d
        print(f"{key}: {d}")
    if args.plot:
        plot_curves(runs, diagnoses, args.plot)
        print(f"plot: {args.plot}")
    return 0
