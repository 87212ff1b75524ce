"""The curve doctor: read a training run's loss curves and say what a practitioner would say.

:func:`diagnose_curves` takes the per-epoch training loss (and, if there is one, the validation loss) and returns
a :class:`CurveDiagnosis`: the verdicts that apply, most urgent first, with the reasons and what to do.

Terms. ``w = min(max(3, n // 5), n - 1)`` is the window: the last ``w`` epochs of a curve of ``n`` epochs. The
*change* of a curve is the change over its last ``w + 1`` values along their least-squares line (for a straight
line, last minus first). A change *counts* at a share ``s`` when it exceeds both ``s`` times the curve's level (the
mean absolute value of those ``w + 1`` values) and ``FLAT`` (1%) of the curve's range (max - min), so the noise of
a converged loss reads as flat. Validation rules use only the epochs where the validation loss was measured (their
own ``n`` and ``w``); the monitored loss is the validation loss if it was measured at 2 epochs or more, else the
training loss.

========================= ==========================================================================================
verdict                   rule
========================= ==========================================================================================
``"nan"``                 a NaN or infinite loss anywhere (a missing value, e.g. a blank cell, is not a loss); the
                          rules below judge the epochs before it, if there are at least 2
``"diverging"``           the training loss rises: its change counts at 5% (``RISE``); or it ends (mean of the last
                          ``w``) above its first value and above twice its minimum (for a loss whose minimum is
                          ``<= 0``: above the minimum by more than twice first - minimum)
``"unstable"``            (not diverging) spikes: an epoch whose training loss is more than 1.3x the previous one and
                          higher by at least 5% of the curve's range, at least twice, or once by more than 2x (for a
                          loss whose minimum is ``<= 0`` the factor is ``1 + rise / range``); or the training loss
                          drifts up: its change counts at 1% (``FLAT``)
``"overfitting"``         the validation loss is lowest at epoch ``k`` and (a) at least 3 validation epochs follow,
                          its end (mean of its last ``w``, or its last value if ``k`` is among them) is more than 5%
                          (``OVERFIT_RISE``) of its level at ``k`` and more than 5% of its range up to ``k`` above the
                          minimum, and the training loss's mean over the last ``w`` is at most 1% above its value at
                          ``k``; or (b) the validation loss's change counts at 1% (rising) while the training loss's
                          does not: overfitting from epoch ``k``
``"still_improving"``     the monitored loss falls: minus its change counts at 1%
``"plateau"``             the monitored loss's change does not count at 1% in either direction
========================= ==========================================================================================

``still_improving`` and ``plateau`` are given only when nothing above them applies (or only ``unstable``), so a
rising training loss is always ``diverging`` or ``unstable`` and a rising validation loss ``overfitting`` (or
the training loss's own verdict).

``losskit doctor FILE ...`` reads the lab's ``curves.csv``, a Lightning ``metrics.csv``, a Hugging Face
``trainer_state.json``, TensorBoard CSV exports or a plain CSV (see :mod:`losskit.doctor_logs`) and prints the
verdicts; ``--plot FILE`` draws the curves with the verdicts (needs matplotlib).

Example:
    >>> from losskit.doctor import diagnose_curves
    >>> d = diagnose_curves([1.0, 0.6, 0.4, 0.3, 0.25, 0.22, 0.2, 0.19], [1.0, 0.7, 0.5, 0.45, 0.5, 0.6, 0.7, 0.8])
    >>> d.verdict, d.overfitting_from
    ('overfitting', 4)
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import _validation as V
from .doctor_logs import FORMAT_NAMES, FORMATS, Curves, detect_format, read_curves, read_logs

__all__ = ["VERDICTS", "CurveDiagnosis", "diagnose_curves", "read_curves", "read_logs", "register"]

VERDICTS = ("nan", "diverging", "unstable", "overfitting", "still_improving", "plateau")

SPIKE_JUMP = 1.3
"""An epoch whose training loss exceeds the previous one by this factor is a spike."""
BIG_SPIKE_JUMP = 2.0
"""One jump by this factor is enough for "unstable"."""
SPIKE_SHARE = 0.05
"""A spike must also rise by this share of the curve's range (max - min), so a converged loss's noise is not one."""
OVERFIT_RISE = 0.05
"""The validation loss must end this share (of its range and of its level) above its minimum."""
RISE = 0.05
"""A training loss whose change counts at this share is diverging."""
FLAT = 0.01
"""Changes that do not count at this share (of the level, and of the range) are flat."""

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
    unit: str = "epoch"
    """What :attr:`epochs` counts: ``"epoch"`` or ``"step"``."""

    def __str__(self) -> str:
        head = self.verdict.replace("_", " ")
        if self.overfitting_from is not None and self.verdict == "overfitting":
            head += f" from {self.unit} {self.overfitting_from}"
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
            "unit": self.unit,
        }


def _floats(name: str, arg: str, values: Iterable[Any], *, missing: bool = False) -> list:
    try:
        out = [None if (missing and v is None) else float(v) for v in values]
    except (TypeError, ValueError):
        raise V.LossTypeError(
            f"{name}: {arg} must be a sequence of numbers (one loss per epoch"
            + (", None where not measured" if missing else "") + f"), but got {type(values).__name__}; "
            "pass e.g. a list of floats"
        ) from None
    return out


def _window(n: int) -> int:
    return min(max(3, n // 5), max(n - 1, 1))


def _change(values: list[float], w: int) -> tuple[float, float, float]:
    """The least-squares change over the last ``w + 1`` values, their level (mean |value|) and the curve's range."""
    tail = values[-w - 1 :]
    m = len(tail)
    xbar, ybar = (m - 1) / 2, sum(tail) / m
    sxx = sum((i - xbar) ** 2 for i in range(m))
    slope = sum((i - xbar) * (v - ybar) for i, v in enumerate(tail)) / sxx if sxx else 0.0
    return slope * (m - 1), sum(abs(v) for v in tail) / m, max(values) - min(values)


def _counts(change: float, level: float, span: float, share: float) -> bool:
    """Does a (positive) change count at ``share`` of the level (and exceed FLAT of the range)?"""
    return change > share * level and change > FLAT * span


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
    val_losses: Sequence[float | None] | None = None,
    *,
    epochs: Sequence[int] | None = None,
    unit: str = "epoch",
) -> CurveDiagnosis:
    """Diagnose a run from its per-epoch losses (rules in the module docstring).

    Args:
        train_losses: the training loss per epoch (at least 2 epochs).
        val_losses: the validation loss per epoch, same length, ``None`` at epochs where it was not measured
            (default ``None``: training loss only).
        epochs: the epoch numbers (default ``1, 2, ...``).
        unit: what ``epochs`` counts, for the reasons: ``"epoch"`` (default) or ``"step"``.

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
    train: list[float] = _floats(name, "train_losses", train_losses)
    val: list[float | None] | None = (
        _floats(name, "val_losses", val_losses, missing=True) if val_losses is not None else None
    )
    V.check_choice(name, "unit", unit, ("epoch", "step"))
    n = len(train)
    if n < 2:
        raise V.LossShapeError(
            f"{name}: train_losses must hold at least 2 epochs, but got {n}; train for more epochs first"
        )
    if val is not None and len(val) != n:
        raise V.LossShapeError(
            f"{name}: val_losses must have one value per epoch like train_losses ({n}), but got {len(val)}; "
            "log both once per epoch (None where not measured)"
        )
    ep = [int(e) for e in epochs] if epochs is not None else list(range(1, n + 1))
    if len(ep) != n:
        raise V.LossShapeError(f"{name}: epochs must have {n} entries like train_losses, but got {len(ep)}; "
                               "pass one epoch number per loss")
    verdicts: list[str] = []
    reasons: list[str] = []
    result = CurveDiagnosis("plateau", [], reasons, "", ep, unit=unit)

    # NaN / Inf: nothing else can be judged past that point
    bad = [i for i in range(n) if not math.isfinite(train[i]) or (val is not None and (v := val[i]) is not None
                                                                  and not math.isfinite(v))]
    if bad:
        result.first_nonfinite = ep[bad[0]]
        verdicts.append("nan")
        which = "training" if not math.isfinite(train[bad[0]]) else "validation"
        reasons.append(f"the {which} loss is NaN or infinite from {unit} {ep[bad[0]]} on ({len(bad)} of {n} "
                       f"{unit}s)")
        cut = bad[0]
        if cut < 2:
            result.verdict, result.verdicts, result.advice = "nan", verdicts, _ADVICE["nan"]
            return result
        train, val, ep, n = train[:cut], (val[:cut] if val is not None else None), ep[:cut], cut
    vi = [i for i in range(n) if val is not None and val[i] is not None]
    if val is not None and len(vi) < 2:
        reasons.append(f"the validation loss was measured at {len(vi)} {unit}(s): judged on the training loss")
        vi, val = [], None

    w = _window(n)
    t_change, t_level, t_span = _change(train, w)
    end = sum(train[-w:]) / w
    lo = min(train)
    # diverging
    rising = (end > 2 * lo) if lo > 0 else (end - lo > 2 * abs(train[0] - lo))
    if _counts(t_change, t_level, t_span, RISE):
        verdicts.append("diverging")
        reasons.append(f"the training loss rises {t_change / t_level:.1%} over the last {w} {unit}s "
                       f"({train[-w - 1]:.4g} -> {train[-1]:.4g}; more than {RISE:.0%} counts as diverging)")
    elif end > train[0] and rising:
        verdicts.append("diverging")
        reasons.append(
            f"the training loss ends at {end:.4g} (mean of the last {w} {unit}s), above its start {train[0]:.4g} "
            f"and more than twice its minimum {lo:.4g} ({unit} {ep[train.index(lo)]})"
        )
    # spikes and upward drift
    spikes, worst = _spikes(train, ep)
    result.spikes = spikes
    if "diverging" not in verdicts:
        if len(spikes) >= 2 or worst > BIG_SPIKE_JUMP:
            verdicts.append("unstable")
            shown = ", ".join(map(str, spikes[:8])) + (", ..." if len(spikes) > 8 else "")
            reasons.append(
                f"the training loss spikes at {unit}(s) {shown} (jumps above {SPIKE_JUMP:g}x the previous {unit}, "
                f"the largest {worst:.3g}x)"
            )
        elif _counts(t_change, t_level, t_span, FLAT):
            verdicts.append("unstable")
            reasons.append(f"the training loss drifts up {t_change / t_level:.1%} over the last {w} {unit}s "
                           f"({train[-w - 1]:.4g} -> {train[-1]:.4g}): it should not rise")
    # overfitting
    # the validation losses where measured (vi holds the epochs whose val[i] is not None)
    monitored: list[float] = [v for v in (val[i] for i in vi) if v is not None] if val is not None else train
    idx = vi if val is not None else list(range(n))
    nm = len(monitored)
    wm = _window(nm)
    m_change, m_level, m_span = _change(monitored, wm)
    best_j = min(range(nm), key=lambda j: monitored[j])
    best = idx[best_j]
    result.best_epoch = ep[best]
    if val is not None:
        vmin = monitored[best_j]
        after = nm - 1 - best_j
        vend = sum(monitored[-wm:]) / wm if after >= wm else monitored[-1]
        vrange = max(monitored[: best_j + 1]) - vmin
        threshold = max(OVERFIT_RISE * vrange, OVERFIT_RISE * abs(vmin), 1e-12)
        train_held = end <= train[best] + FLAT * abs(train[best])
        t_rising = _counts(t_change, t_level, t_span, FLAT)
        if after >= 3 and vend - vmin > threshold and train_held:
            verdicts.append("overfitting")
            reasons.append(
                f"the validation loss is lowest at {unit} {ep[best]} ({vmin:.4g}) and ends at {vend:.4g} over the "
                f"{after} {unit}s after it (more than {OVERFIT_RISE:.0%} above), while the training loss keeps "
                f"falling ({train[best]:.4g} -> {train[-1]:.4g})"
            )
        elif _counts(m_change, m_level, m_span, FLAT) and not t_rising:
            verdicts.append("overfitting")
            reasons.append(
                f"the validation loss rises {m_change / m_level:.1%} over its last {wm} {unit}s "
                f"({monitored[-wm - 1]:.4g} -> {monitored[-1]:.4g}) while the training loss does not "
                f"({t_change / t_level if t_level else 0.0:+.1%}); lowest at {unit} {ep[best]} ({vmin:.4g})"
            )
        if "overfitting" in verdicts:
            result.overfitting_from = ep[best]
    # still improving / plateau (on the monitored loss)
    which = "validation" if val is not None else "training"
    if not verdicts or verdicts == ["unstable"]:
        shown = f"({monitored[-wm - 1]:.4g} -> {monitored[-1]:.4g}); best {monitored[best_j]:.4g} at {unit} {ep[best]}"
        if _counts(-m_change, m_level, m_span, FLAT):
            verdicts.append("still_improving")
            reasons.append(f"the {which} loss fell {-m_change / m_level:.1%} over the last {wm} {unit}s {shown}")
        elif not _counts(m_change, m_level, m_span, FLAT):
            verdicts.append("plateau")
            pct = abs(m_change) / m_level if m_level else 0.0
            reasons.append(f"the {which} loss changed {pct:.1%} over the last {wm} {unit}s {shown}")
    order = {v: i for i, v in enumerate(VERDICTS)}
    verdicts.sort(key=order.__getitem__)
    result.verdict, result.verdicts, result.advice = verdicts[0], verdicts, _ADVICE[verdicts[0]]
    return result


# --------------------------------------------------------------------------------------------
# plot and CLI
# --------------------------------------------------------------------------------------------
def plot_curves(runs: dict[str, Curves], diagnoses: dict[str, CurveDiagnosis], path: str | os.PathLike) -> None:
    """One panel per run: training and validation loss, the verdict in the title, spikes and the best epoch marked
    (needs matplotlib).

    Raises:
        LossValueError: ``path`` cannot be written.
    """
    from .lab._extras import figure

    n = len(runs)
    cols = min(n, 3)
    rows = (n + cols - 1) // cols
    fig = figure(figsize=(4.6 * cols, 3.2 * rows))
    for k, (key, c) in enumerate(runs.items()):
        ax = fig.add_subplot(rows, cols, k + 1)
        d = diagnoses[key]
        ax.plot(c.epochs, c.train, label="train", color="tab:blue")
        if c.val is not None:
            pts = [(e, v) for e, v in zip(c.epochs, c.val) if v is not None]
            ax.plot([e for e, _ in pts], [v for _, v in pts], label="validation", color="tab:orange", marker=".")
        for s in d.spikes:
            ax.axvline(s, color="tab:red", alpha=0.25, lw=1)
        if d.overfitting_from is not None:
            ax.axvline(d.overfitting_from, color="tab:purple", ls="--", lw=1, label="overfitting from")
        elif d.best_epoch is not None:
            ax.axvline(d.best_epoch, color="gray", ls=":", lw=1, label=f"best {c.unit}")
        ax.set_title(f"{key}\n{d.verdict.replace('_', ' ')}", fontsize=9)
        ax.set_xlabel(c.unit)
        ax.set_ylabel("loss")
        ax.legend(fontsize=7)
    fig.tight_layout()
    from .lab._extras import save_figure

    save_figure(fig, os.fspath(path), "doctor", "--plot", dpi=90)  # atomic: no half-written PNG on failure


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``losskit doctor``."""
    from .cli import examples

    p = subparsers.add_parser(
        "doctor",
        help="diagnose loss curves from a training log (overfitting, plateau, spikes, divergence, NaN)",
        description="Read a loss log and say, for each run, whether it is still improving, on a plateau, "
        "overfitting from some epoch, unstable, diverging or NaN. Reads the lab's curves.csv, a Lightning CSVLogger "
        "metrics.csv, a Hugging Face trainer_state.json (or its log_history list), TensorBoard scalar CSV exports "
        "(pass the training and validation tags together) and plain CSVs with training/validation loss columns; "
        "the layout is detected from the content.",
        epilog=examples(
            ("losskit doctor losskit-out/curves.csv", "the curves of a losskit compare run"),
            ("losskit doctor lightning_logs/version_0/metrics.csv --plot doctor.png",
             "a Lightning CSVLogger log, with a PNG of the curves and the verdicts"),
            ("losskit doctor train_loss.csv val_loss.csv --format tensorboard",
             "TensorBoard scalar exports of the training and validation tags"),
        ),
    )
    p.add_argument("logs", nargs="+", metavar="FILE", help="the log file(s) to read")
    p.add_argument("--format", choices=FORMATS, default="auto",
                   help="the log's layout (default auto: detected from the content)")
    p.add_argument("--plot", metavar="FILE", help="also write a PNG of the curves with the verdicts (needs "
                   "matplotlib); an existing folder gets doctor.png inside it")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    runs = read_logs(args.logs, format=args.format)
    for path in args.logs:
        fmt = detect_format(path) if args.format == "auto" else args.format
        print(f"{path}: read as {FORMAT_NAMES[fmt]}")
    diagnoses: dict[str, CurveDiagnosis] = {}
    for key, c in runs.items():
        try:
            d = diagnose_curves(c.train, c.val, epochs=c.epochs, unit=c.unit)
        except V.LossShapeError:
            print(f"{key}: not judged: {len(c.train)} {c.unit}(s) with a training loss; at least 2 are needed")
            continue
        diagnoses[key] = d
        print(f"{key}: {d}")
    if not diagnoses:
        raise V.LossValueError("doctor: FILE must hold at least 2 epochs (or steps) of training loss per run, but "
                               "no run has them; train longer or log more often")
    if args.plot:
        from .lab._extras import output_file

        path = output_file(args.plot, "doctor.png", "doctor", "--plot")  # a folder gets doctor.png inside
        plot_curves({k: runs[k] for k in diagnoses}, diagnoses, path)
        print(f"plot: {path}")
    return 0
