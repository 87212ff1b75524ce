"""``compare``: train the same network with each candidate loss over repeated splits and seeds, and compare them on
the test split with a paired test (:mod:`losskit.lab.stats`).

Run ``r`` (``r = 0 .. runs-1``) uses split ``split_seed + r`` (a fresh stratified train/validation/test split, the
stress options applied anew) and seed ``r`` (initialisation, batch order, dropout), the same for every loss, so the
per-run differences between two losses are paired. Beside the losses the table has two rows that are not losses:

* for two classes, the baseline's models with their decision threshold tuned on the validation split (maximising
  balanced accuracy): a loss whose gain over the baseline is only a moved threshold does not beat this row;
* a simple reference fitted by scikit-learn on the same training rows (logistic regression, or ridge regression),
  which flags networks that are undertrained or ill-suited to the data.

The lab's own MLP trains on one torch thread (its matrices are too small for more to pay); a ``model_fn`` keeps
torch's thread setting.

Started by ``torchrun`` with several processes, ``compare`` joins the process group (gloo) and trains each run
data-parallel (:mod:`losskit.lab.ddp`); only rank 0 prints, shows the progress bar and writes ``out``."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from .. import advisor
from .. import distributed as lkd
from ..doctor import CurveDiagnosis, diagnose_curves
from . import provenance, stats
from ._extras import LabError, check_network, make_dir, require
from .data import IMAGE_DEMOS, Dataset, Prepared, digits_images, load_data, prepare, torch_splits
from .data_shapes import make_fcn, shapes_data
from .ddp import in_process_group, is_main
from .metrics import HIGHER_IS_BETTER, NOMINAL, classification_metrics, regression_metrics
from .tasks import TASKS
from .train import RunResult, TrainConfig, make_mlp, train_run
from .train_torch import make_small_cnn

__all__ = ["CompareResult", "LossSummary", "compare", "default_margin", "primary_metric", "tune_threshold"]

CLASSIFICATION_METRICS = ("balanced_accuracy", "accuracy", "macro_f1", "minority_recall", "roc_auc", "pr_auc",
                          "log_loss", "brier", "ece")
REGRESSION_METRICS = ("mae", "rmse", "r2", "interval_coverage", "interval_width")
INTERVAL_METRICS = ("interval_coverage", "interval_width")
"""Regression metrics of the ``quantile`` candidate only ([q0.1, q0.9]); point losses have none ("—", null)."""
MULTILABEL_METRICS = ("map", "micro_f1", "macro_f1", "roc_auc", "log_loss")
RETRIEVAL_METRICS = ("map_at_r", "recall_at_1", "recall_at_5")
RETRIEVAL_DIM = 32
"""``compare(dataset, task="retrieval")``: the lab's MLP ends in an embedding of this width."""
TABLE_METRICS = {"classification": ("balanced_accuracy", "minority_recall", "macro_f1", "roc_auc", "pr_auc",
                                    "log_loss", "brier", "ece"), "regression": REGRESSION_METRICS,
                 "multilabel": MULTILABEL_METRICS, "retrieval": RETRIEVAL_METRICS}
"""The terminal table's columns (``results.json`` and ``report.html`` have every metric)."""
DEFAULT_CANDIDATES = 4
DEFAULT_RUNS = 10
DEMO_RUNS, DEMO_EPOCHS = 5, 40
"""``compare --dataset digits-images``: 5 runs of at most 40 epochs by default (under 2 minutes on 2 cores)."""
SHAPES_EPOCHS, SHAPES_BATCH = 20, 16
"""``compare --dataset shapes``: 5 runs of at most 20 epochs of the small FCN in batches of 16 (unless
``batch_size`` is given: not 128) (under 2 minutes on 2 cores)."""
MIN_STEPS = 400
"""Automatic epochs: enough for at least this many optimizer steps (at least 40 and at most :data:`MAX_EPOCHS`)."""
MAX_EPOCHS = 300
MARGINS = {"balanced_accuracy": 0.01}
"""Default practical margins in the metric's units; MAE's is 1% of the baseline's mean MAE (:func:`default_margin`)."""
RELATIVE_MARGIN = 0.01


def primary_metric(task: str) -> str:
    """The metric that names the winner: balanced accuracy (classification), test MAE (regression) or mAP
    (multi-label: threshold-free, so a loss that only shifts the label probabilities is not favoured)."""
    return {"regression": "mae", "multilabel": "map", "retrieval": "map_at_r"}.get(task, "balanced_accuracy")


def default_margin(metric: str, baseline_mean: float) -> float:
    """The smallest gain that counts when ``--margin`` is not given: 0.01 (one point) of balanced accuracy; 1% of
    the baseline's mean for MAE (whose units are the target's)."""
    if metric in MARGINS:
        return MARGINS[metric]
    return RELATIVE_MARGIN * abs(baseline_mean)


def auto_epochs(train_rows: int, batch_size: int) -> tuple[int, int]:
    """``(epochs, patience)`` for ``train_rows`` training rows: enough epochs for :data:`MIN_STEPS` optimizer steps
    (within 40 .. :data:`MAX_EPOCHS`), and a patience of a fifth of them (at least 10)."""
    steps = max(1, math.ceil(train_rows / batch_size))
    epochs = min(MAX_EPOCHS, max(40, math.ceil(MIN_STEPS / steps)))
    return epochs, max(10, epochs // 5)


def tune_threshold(y: np.ndarray, p1: np.ndarray) -> float:
    """The decision threshold on ``p1 = P(class 1)`` that maximises balanced accuracy on ``(y, p1)``; among equally
    good thresholds the median one. Class 1 is predicted when ``p1 >= threshold``."""
    y = np.asarray(y, dtype=np.int64)
    p1 = np.asarray(p1, dtype=np.float64)
    values = np.unique(p1)[::-1]  # predict 1 for p1 >= values[k]
    pos, neg = max(int((y == 1).sum()), 1), max(int((y == 0).sum()), 1)
    order = np.argsort(-p1, kind="mergesort")
    tp = np.cumsum(y[order] == 1)
    fp = np.cumsum(y[order] == 0)
    last = np.r_[p1[order][1:] != p1[order][:-1], True]
    tp, fp = np.r_[0, tp[last]], np.r_[0, fp[last]]  # first entry: nothing predicted as 1
    score = 0.5 * (tp / pos + 1.0 - fp / neg)  # score[k]: predict 1 for the k highest distinct values
    best = np.flatnonzero(score >= score.max() - 1e-12)
    k = int(best[len(best) // 2])
    upper = np.r_[1.0, values]  # the value just above the cut ...
    lower = np.r_[values, 0.0]  # ... and the one just below; the cut lies midway (same split of these rows)
    if k == 0 and upper[0] <= lower[0]:
        return float(np.nextafter(lower[0], np.inf))
    return float(0.5 * (upper[k] + lower[k]))


@dataclass
class LossSummary:
    """One row of the table over all runs: a loss, the baseline with a tuned threshold, or the reference."""

    name: str
    loss: str
    options: dict[str, Any]
    reasons: list[str]
    code: str
    baseline: bool
    mean: dict[str, float]
    std: dict[str, float]
    """Sample standard deviation over runs (0 with one run)."""
    runs: list[RunResult] = field(repr=False)
    diagnoses: list[CurveDiagnosis] = field(repr=False)
    per_class_recall_mean: list[float | None] | None = None
    kind: str = "loss"
    """``"loss"``, ``"threshold"`` (the baseline's models, threshold tuned on validation) or ``"reference"``."""

    def cell(self, metric: str) -> str:
        """``mean ± std`` as printed in the table; "—" for a metric this loss does not have (no finite value)."""
        if math.isnan(self.mean.get(metric, math.nan)):
            return "—"
        return f"{self.mean[metric]:.4g} ± {self.std[metric]:.2g}"


@dataclass
class CompareResult:
    """What ``compare`` found; :meth:`table` prints it."""

    dataset: str
    task: str
    num_rows: int
    num_features: int
    class_names: list[str] | None
    notices: list[str]
    config: dict[str, Any]
    metric: str
    """The primary metric (:func:`primary_metric`)."""
    summaries: list[LossSummary]
    winner: str | None
    """The loss that beats every other row but the reference under the paired test, by at least the margin."""
    verdict: str
    """The sentence that names the winner or says why there is none."""
    advice: list[str]
    """The advisor's reasons on the training targets."""
    out_dir: str | None
    seconds: float
    train_counts: list[int] | None = None
    versus_baseline: list[str] = field(default_factory=list)
    """Each row against the baseline on the primary metric: mean difference, interval, Holm-adjusted p-value."""
    comparison: stats.Comparison | None = None
    """Every paired difference, test and p-value behind the verdict (:func:`losskit.lab.stats.decide`)."""
    warnings: list[str] = field(default_factory=list)
    """Runs that ended still improving, losses clearly below the reference."""
    provenance: dict[str, Any] = field(default_factory=dict)
    """Versions, command line, Python call, UTC time, machine, data set and runs (:mod:`losskit.lab.provenance`)."""

    @property
    def metrics(self) -> tuple[str, ...]:
        if self.task == "retrieval":
            return RETRIEVAL_METRICS
        if self.task == "segmentation":
            return TASKS["segmentation"].metrics
        if self.task == "regression":
            return self._regression_metrics(REGRESSION_METRICS)
        return {"multilabel": MULTILABEL_METRICS}.get(self.task, CLASSIFICATION_METRICS)

    def _regression_metrics(self, names: tuple[str, ...]) -> tuple[str, ...]:
        """``names`` without the interval metrics when no loss predicted an interval."""
        interval = any(not math.isnan(s.mean.get(m, math.nan)) for s in self.summaries for m in INTERVAL_METRICS)
        return names if interval else tuple(m for m in names if m not in INTERVAL_METRICS)

    def summary(self, name: str) -> LossSummary:
        return next(s for s in self.summaries if s.name == name)

    def table(self) -> str:
        """The terminal table: one row per loss, ``mean ± std`` over runs, the primary metric first."""
        shown = self.metrics if self.task == "segmentation" else TABLE_METRICS.get(self.task,
                                                                                     TABLE_METRICS["classification"])
        if self.task == "regression":
            shown = self._regression_metrics(tuple(shown))
        cols = [self.metric] + [m for m in shown if m != self.metric]
        head = ["loss"] + [c + (f" (nominal {NOMINAL[c]:g})" if c in NOMINAL else " ↑" if HIGHER_IS_BETTER[c] else
                                " ↓") for c in cols] + ["best epoch", "notes"]
        rows = [head]
        for s in self.summaries:
            tag = {"threshold": " (tuned threshold)", "reference": " (reference)"}.get(s.kind, "")
            tag += " (baseline)" if s.baseline else ""
            if s.kind == "loss":
                epochs = f"{int(np.median([r.best_epoch for r in s.runs]))}/{max(len(r.train_losses) for r in s.runs)}"
                notes = [f"still improving {k}/{len(s.runs)}" for k in [sum(r.still_improving for r in s.runs)] if k]
            else:
                epochs, notes = "-", []
            if any(w.startswith(f"{s.name}: ") and "below the" in w for w in self.warnings):
                notes.append("below reference")
            rows.append([s.name + (" *" if s.name == self.winner else "") + tag] + [s.cell(c) for c in cols]
                        + [epochs, ", ".join(notes)])
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join([*lines, *self.versus_baseline, *(f"warning: {w}" for w in self.warnings), self.verdict])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (``results.json``): every run's metrics, and every paired difference, interval and p-value."""
        return {
            "dataset": self.dataset, "task": self.task, "rows": self.num_rows, "features": self.num_features,
            "class_names": self.class_names, "train_class_counts": self.train_counts, "notices": self.notices,
            "config": self.config, "metric": self.metric, "winner": self.winner, "verdict": self.verdict,
            "advice": self.advice, "versus_baseline": self.versus_baseline, "warnings": self.warnings,
            "comparison": self.comparison.to_dict() if self.comparison is not None else None,
            "seconds": round(self.seconds, 2), "provenance": self.provenance,
            "losses": [
                {
                    "name": s.name, "kind": s.kind, "loss": s.loss,
                    "options": {k: advisor._jsonable(v) for k, v in s.options.items()},
                    "reasons": s.reasons, "code": s.code, "baseline": s.baseline, "mean": s.mean, "std": s.std,
                    "per_class_recall_mean": s.per_class_recall_mean,
                    "runs": [
                        {"run": k, "split": r.split, "seed": r.seed, "best_epoch": r.best_epoch,
                         "epochs_run": len(r.train_losses), "stopped_early": r.stopped_early,
                         "still_improving": r.still_improving, "criterion": r.criterion,
                         "seconds": round(r.seconds, 3), "metrics": r.metrics,
                         "doctor": s.diagnoses[k].to_dict() if k < len(s.diagnoses) else None}
                        for k, r in enumerate(s.runs)
                    ],
                }
                for s in self.summaries
            ],
        }


def _what(metric: str) -> str:
    return f"test {metric.replace('_', ' ')}"


def _verdict(comparison: stats.Comparison | None, rows: int, runs: int, only: str) -> tuple[str | None, str]:
    """The winner (or ``None``) and the sentence saying why, from :func:`losskit.lab.stats.decide`."""
    if comparison is None:
        return None, f"one loss only ({only}): nothing to compare it with"
    c, best, near = comparison, comparison.best, comparison.closest
    assert best is not None and near is not None
    what = _what(c.metric)
    lead = f"{best} leads {near.b} on {what} by {near.test.mean:.3g}"
    if runs < 2:
        return None, (f"no winner named: {lead} in one run, and one run shows no run-to-run spread to judge that "
                      "lead by; run with --runs 5 or more")
    evidence = (f"95% CI [{near.test.ci[0]:.3g}, {near.test.ci[1]:.3g}], p = {near.p_holm:.2g} Holm-adjusted over "
                f"{near.family} comparisons; margin {c.margin:.3g}; {runs} runs")
    if c.winner is not None:
        return best, (f"winner: {best} on {what}, ahead of every other loss by at least the margin with a "
                      f"Holm-adjusted p < {c.alpha:g}; closest: {near.b}, behind by {near.test.mean:.3g} ({evidence})")
    if near.test.mean < c.margin:
        why = ("the lead is below the practical margin, so no number of runs would make it a win: a practical tie"
               " (set --margin to change what counts)")
    elif c.runs_to_resolve is not None:
        n = c.runs_to_resolve
        why = f"about {n} runs (--runs {n}) would resolve a lead this size if it is real"
    else:
        why = ("more splits of this data set cannot resolve a lead this size (the splits share rows, which bounds "
               "what repeated splits can show); only more data could")
    return None, f"no clear winner: {lead} ({evidence}); {why}"


def _versus_baseline(comparison: stats.Comparison | None, summaries: list[LossSummary]) -> list[str]:
    if comparison is None or not comparison.versus_baseline:
        return []
    c = comparison
    extra = [m for m in ("minority_recall", "roc_auc") if m in summaries[0].mean]
    by_name = {s.name: s for s in summaries}
    lines = []
    for p in c.versus_baseline:
        t = p.test
        word = p.better(c.alpha, c.margin)
        if word == p.a:
            judged = "better"
        elif word == p.b:
            judged = "worse"
        elif p.p_holm < c.alpha:
            judged = "different, but by less than the margin"
        else:
            judged = "no clear difference"
        if t.runs < 2:
            judged = "one run, nothing to judge by"
        gain = round(t.mean, 10) + 0.0
        line = (f"{p.a} vs {p.b}: {c.metric.replace('_', ' ')} gain {gain:+.3g} (95% CI [{t.ci[0]:.3g}, "
                f"{t.ci[1]:.3g}], p = {p.p_holm:.2g} Holm over {p.family}): {judged}")
        if extra:
            a, b = by_name[p.a], by_name[p.b]
            diffs = [f"{m.replace('_', ' ')} {round(a.mean[m] - b.mean[m], 10) + 0.0:+.3g}" for m in extra]
            line += f" [{'; '.join(diffs)}]"
        lines.append(line)
    return lines


def _summarise(name: str, cand: advisor.Candidate, runs: list[RunResult], metrics: Sequence[str],
               kind: str = "loss") -> LossSummary:
    mean: dict[str, float] = {}
    std: dict[str, float] = {}
    for m in metrics:
        vals = np.asarray([np.nan if r.metrics.get(m) is None else float(r.metrics[m]) for r in runs])  # type: ignore[arg-type]
        vals = vals[~np.isnan(vals)]
        mean[m] = float(vals.mean()) if vals.size else math.nan
        std[m] = float(vals.std(ddof=1)) if vals.size > 1 else 0.0
    per_class = None
    if "per_class_recall" in runs[0].metrics:
        table = [r.metrics["per_class_recall"] for r in runs]
        per_class = []
        for k in range(len(table[0])):  # type: ignore[arg-type]
            measured = [row[k] for row in table if row[k] is not None]  # type: ignore[index]
            per_class.append(float(np.mean(measured)) if measured else None)
    diagnoses = []
    if kind == "loss":
        diagnoses = [diagnose_curves(r.train_losses, r.val_losses) if len(r.train_losses) >= 2 else
                     CurveDiagnosis("plateau", ["plateau"], ["one epoch only"], "train for more epochs", [1], 1)
                     for r in runs]
    return LossSummary(name, cand.loss, cand.options, cand.reasons, cand.code, cand.baseline and kind == "loss",
                       mean, std, runs, diagnoses, per_class, kind)


def _minority(metrics: dict[str, object], train_counts: list[int] | None) -> None:
    counts = np.asarray(train_counts)
    rare = int(np.argmin(np.where(counts > 0, counts, counts.max() + 1)))
    metrics["minority_recall"] = metrics["per_class_recall"][rare]  # type: ignore[index]


def _threshold_run(run: RunResult, prepared: Prepared) -> RunResult:
    """The baseline's run with its decision threshold tuned on the validation split."""
    assert run.probabilities is not None and run.val_probabilities is not None
    cut = tune_threshold(np.asarray(prepared.y_val), run.val_probabilities[:, 1])
    pred = (run.probabilities[:, 1] >= cut).astype(np.int64)
    metrics = classification_metrics(np.asarray(prepared.y_test), run.probabilities, y_pred=pred)
    _minority(metrics, prepared.train_counts)
    metrics["threshold"] = cut
    return dataclasses.replace(run, metrics=metrics, predictions=pred, train_losses=[], val_losses=[],
                               val_metrics=[], seconds=0.0)


def _reference_run(prepared: Prepared, split: int) -> RunResult:
    """Logistic regression (classification) or ridge regression, fitted by scikit-learn on the training rows."""
    start = time.perf_counter()
    if prepared.task == "regression":
        model = require("sklearn.linear_model", what="compare").Ridge(alpha=1.0)
        model.fit(prepared.X_train, prepared.y_train)
        pred = prepared.to_original(model.predict(prepared.X_test))
        metrics: dict[str, object] = dict(regression_metrics(np.asarray(prepared.y_test), pred))
        probs = None
    else:
        C = prepared.num_classes or 2
        model = require("sklearn.linear_model", what="compare").LogisticRegression(max_iter=2000)
        model.fit(prepared.X_train, prepared.y_train)
        probs = np.zeros((len(prepared.X_test), C))
        probs[:, model.classes_] = model.predict_proba(prepared.X_test)
        metrics = classification_metrics(np.asarray(prepared.y_test), probs)
        _minority(metrics, prepared.train_counts)
        pred = probs.argmax(1)
    return RunResult("reference", split, [], [], [], 0, False, metrics, time.perf_counter() - start, pred, probs,
                     None, "fit", split)


def _reference_candidate(task: str) -> advisor.Candidate:
    if task == "regression":
        return advisor.Candidate(0, "ridge", "sklearn Ridge", {"alpha": 1.0},
                                 ["reference: ridge regression on the same training rows"],
                                 "sklearn.linear_model.Ridge(alpha=1.0)")
    return advisor.Candidate(0, "logistic-regression", "sklearn LogisticRegression", {"C": 1.0},
                             ["reference: logistic regression on the same training rows"],
                             "sklearn.linear_model.LogisticRegression(C=1.0)")


def _warnings(summaries: list[LossSummary], comparison_args: dict[str, Any], metric: str, margin: float,
              alpha: float, epochs: int) -> list[str]:
    """Runs that ended still improving; losses clearly below the reference (paired test, Holm over the losses)."""
    out = []
    losses = [s for s in summaries if s.kind == "loss"]
    for s in losses:
        k = sum(r.still_improving for r in s.runs)
        if k and 2 * k >= len(s.runs):
            out.append(f"{s.name}: {k} of {len(s.runs)} runs ended still improving (best checkpoint in the last tenth "
                       f"of {epochs} epochs): raise --epochs")
    ref = next((s for s in summaries if s.kind == "reference"), None)
    if ref is None:
        return out
    sign = 1.0 if HIGHER_IS_BETTER[metric] else -1.0
    tests = []
    for s in losses:
        d = sign * (np.asarray([r.metrics[metric] for r in ref.runs], dtype=np.float64)
                    - np.asarray([r.metrics[metric] for r in s.runs], dtype=np.float64))
        tests.append(stats.corrected_ttest(d, alpha=alpha, **comparison_args))
    adjusted = stats.holm([t.p_value for t in tests])
    for s, t, p in zip(losses, tests, adjusted):
        clearly = t.mean >= margin and (p < alpha if t.runs >= 2 else t.mean >= 3 * margin)
        if clearly:
            evidence = (f"by {t.mean:.3g}, 95% CI [{t.ci[0]:.3g}, {t.ci[1]:.3g}], p = {p:.2g} Holm over "
                        f"{len(losses)}" if t.runs >= 2 else f"by {t.mean:.3g} in one run")
            out.append(f"{s.name}: {_what(metric)} {s.mean[metric]:.4g} is clearly below the {ref.name} reference's "
                       f"{ref.mean[metric]:.4g} on the same splits ({evidence}): the network is undertrained or "
                       "ill-suited to these data; try more --epochs, another --lr or a smaller --hidden")
    return out


def _check_out(out: str | os.PathLike | None, where: str) -> str | None:
    if out is None:
        return None
    out = os.path.abspath(os.fspath(out))
    if os.path.exists(out):
        if not os.path.isdir(out):
            raise LabError(f"{where}: out must be a folder, but got the existing file {out!r}; choose another --out")
        if os.listdir(out) and not os.path.isfile(os.path.join(out, "results.json")):
            raise LabError(f"{where}: out must be a new folder or a previous losskit output, but got the non-empty "
                           f"folder {out!r}; choose another --out (losskit replaces only its own outputs)")
    parent = os.path.dirname(out)
    while parent and not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent) or not os.access(parent, os.W_OK):
        raise LabError(f"{where}: out must be in a writable folder, but got {out!r} ({parent!r} is not writable); "
                       "choose another --out")
    return out


def _candidates(names: str | Sequence[str], prepared: Prepared, task: str, count: int, noisy: bool,
                where: str, ordinal: bool = False) -> tuple[list[advisor.Candidate], list[str]]:
    targets = prepared.y_train
    rec = advisor.recommend(targets, task=task, noisy_labels=noisy, ordinal=ordinal)
    by_name = {c.name: c for c in rec.candidates}
    if isinstance(names, str) and names.strip().lower() == "auto":
        chosen = rec.candidates[:count]
        base = next((c for c in rec.candidates if c.baseline), None)
        if base is not None and base not in chosen:
            chosen = [*chosen[: count - 1], base] if count > 1 else [*chosen, base]
        return chosen, rec.reasons + [f"{c.name}: {'; '.join(c.reasons)}" for c in chosen]
    out = []
    for n in advisor.resolve_loss_names(names, task, where=where):
        if n in by_name:
            out.append(by_name[n])
            continue
        entry = advisor.LOSS_MENU[n]
        options = entry.configure(rec.stats, targets)
        out.append(advisor.Candidate(len(out) + 1, n, entry.loss, options, [entry.summary],
                                     advisor._code(entry.loss, options, rec.stats), baseline=False))
    return out, rec.reasons


@contextlib.contextmanager
def _threads(count: int | None) -> Iterator[None]:
    """torch's intra-op threads set to ``count`` for the block (``None``: unchanged). The lab's MLPs are too small
    for several threads to pay: on 2 shared cores, ``compare --dataset digits`` took 190 s of CPU with torch's
    default threads and 27 s with one."""
    before = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _configured(cand: advisor.Candidate, prepared: Prepared, task: str, noisy: bool) -> advisor.Candidate:
    """``cand`` with its options computed from this split's training targets (class weights, ``pos_weight``,
    Huber's delta): a run never sees statistics of another split."""
    rec = advisor.recommend(prepared.y_train, task=task, noisy_labels=noisy)
    mine = next((c for c in rec.candidates if c.name == cand.name), None)
    options = mine.options if mine is not None else advisor.LOSS_MENU[cand.name].configure(rec.stats, prepared.y_train)
    return dataclasses.replace(cand, options=options)


@in_process_group
def compare(
    dataset: str | Dataset | None = None,
    *,
    csv: str | None = None,
    target: str | None = None,
    task: str | None = None,
    losses: str | Sequence[str] = "auto",
    candidates: int = DEFAULT_CANDIDATES,
    runs: int | None = None,
    seeds: int | None = None,
    epochs: int | None = None,
    patience: int | None = None,
    batch_size: int = 128,
    lr: float = 3e-3,
    weight_decay: float = 1e-2,
    hidden: Sequence[int] = (128, 64),
    dropout: float = 0.1,
    amp: bool = False,
    accumulate: int = 1,
    imbalance: float | None = None,
    label_noise: float = 0.0,
    outliers: float = 0.0,
    target_transform: str | None = None,
    ordinal: bool = False,
    split_seed: int = 0,
    margin: float | None = None,
    alpha: float = stats.ALPHA,
    out: str | os.PathLike | None = "losskit-out",
    progress: bool = True,
    model_fn: Callable[..., nn.Module] | None = None,
    log: Callable[[str], None] | None = None,
    data: Any = None,
    optimizer: str = "adamw",
) -> CompareResult:
    """Train the same network with each loss over ``runs`` paired runs and compare them on the test split.

    Args:
        dataset: a bundled data set name (``digits``, ``breast_cancer``, ``wine``, ``iris``, ``diabetes``) or a
            :class:`~losskit.lab.data.Dataset`; or ``None`` with ``csv``.
        csv, target: a CSV file and its target column (default the last one).
        task: override the task inferred from the target (``"binary"``, ``"multiclass"``, ``"regression"``);
            ``"retrieval"`` on a class target trains the MLP as an embedding net of :data:`RETRIEVAL_DIM` outputs
            with metric-learning losses (:mod:`losskit.lab.task_retrieval`).
        losses: ``"auto"`` (the advisor's first ``candidates`` on the training targets, always with the plain
            baseline) or names from :data:`losskit.advisor.LOSS_MENU` (``"ce,focal"`` or a list).
        candidates: how many advisor candidates ``"auto"`` trains (default 4).
        runs: run ``r`` uses split ``split_seed + r`` and seed ``r`` for every loss (default 10). ``seeds`` is the
            former name of the same option.
        epochs, patience: at most ``epochs`` epochs; stop after ``patience`` epochs without a better validation
            criterion (:mod:`losskit.lab.train`) and evaluate the best checkpoint. Default: :func:`auto_epochs`
            (enough epochs for 400 optimizer steps, 40 to 300; patience a fifth of them, at least 10).
        batch_size, lr, weight_decay: mini-batch size and AdamW's options.
        hidden, dropout: the MLP's hidden widths and dropout; or ``model_fn(in_features, out_features)``.
        amp: bf16 autocast on CPU for the forward pass. accumulate: gradient-accumulation steps.
        imbalance, label_noise, outliers: stress options on the train and validation rows (see
            :func:`losskit.lab.data.prepare`); the test split stays clean.
        target_transform: ``"log"`` trains regression losses on ``log1p(target)`` (targets >= 0) and maps the
            predictions back, so the metrics stay in the target's units; ``None`` (default) trains on the target.
        ordinal: the classes are ordered (numeric labels by value, text labels alphabetically): "auto" trains the
            ordinal loss ``coral`` (:func:`losskit.functional.coral_loss`) against plain cross-entropy.
        margin: the smallest gain on the primary metric that counts (default :func:`default_margin`).
        alpha: the family-wise error rate of the paired tests (default 0.05; :mod:`losskit.lab.stats`).
        out: the output folder (``results.json``, ``curves.csv``, PNG plots, ``report.html``), written to a temporary
            folder and moved into place at the end; ``None`` writes nothing.
        progress: a tqdm progress bar on stderr.
        log: where progress notes go (default: stderr when ``progress``).
        data, model_fn, optimizer: your own model and data (:mod:`losskit.lab.byo`): ``data`` is
            ``(train, val, test)``, map-style ``torch.utils.data.Dataset`` objects (or ``DataLoader`` objects) of
            ``(input, target)`` pairs, and ``model_fn()`` returns a fresh ``nn.Module``, called once per run after
            the run's seed is set (every loss of a run starts from the same weights). With one fixed split the runs
            vary the seed only and the verdict uses the paired t-test over seeds; ``data`` may instead be a function
            ``split -> (train, val, test)`` for repeated splits (the corrected test). ``task`` is then given or
            inferred from the targets (int scalars: binary / multiclass; float scalars: regression; ``(L,)`` 0/1
            vectors: multilabel); ``losses`` may also be a list mixing menu names with loss Modules or callables,
            or a mapping name -> Module / callable, so a loss of your own competes with the menu's. ``optimizer``:
            ``"adamw"`` (default), ``"adam"`` or ``"sgd"`` (momentum 0.9); epochs default to 20 with a patience of
            5; ``hidden``, ``dropout`` and the stress options do not apply. ``dataset="digits-images"`` is the
            bundled demo: scikit-learn's 8x8 digits as 1x8x8 images and a small CNN, over repeated splits.

    Under ``torchrun --nproc_per_node=K`` (or an initialised process group of K ranks) every rank trains on its
    shard of each mini-batch with the loss of the whole mini-batch, and every rank returns the same result, equal
    to the one-process result up to float32 summation order; only rank 0 logs, shows progress and writes ``out``.

    Returns:
        A :class:`CompareResult`.

    Raises:
        LabError: bad data, options or output folder (nothing is written).
        MissingExtraError: scikit-learn (bundled data sets), matplotlib (plots) or tqdm (progress) missing.
    """
    origin = provenance.start(compare, dict(locals()))  # versions, command line, this call, time, machine
    where = "compare"
    started = time.perf_counter()
    if runs is not None and seeds is not None and runs != seeds:
        raise LabError(f"{where}: runs and seeds name the same option, but got runs={runs!r} and seeds={seeds!r}; "
                       "pass only runs")
    demo = isinstance(dataset, str) and dataset.strip().lower().replace("_", "-") in IMAGE_DEMOS
    if (demo or task == "retrieval") and runs is None and seeds is None:  # retrieval: 5 losses, 5 runs
        runs = DEMO_RUNS
    runs = DEFAULT_RUNS if runs is None and seeds is None else (runs if runs is not None else seeds)
    for arg, value, low in (("epochs", epochs, 1), ("runs", runs, 1), ("batch_size", batch_size, 1),
                            ("accumulate", accumulate, 1), ("candidates", candidates, 1), ("patience", patience, 0)):
        if value is None and arg in ("epochs", "patience"):
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise LabError(f"{where}: {arg} must be an integer >= {low}, but got {value!r}; "
                           f"pass e.g. {arg}={max(low, 3)}")
    for arg, number in (("lr", lr), ("weight_decay", weight_decay)):
        if not isinstance(number, (int, float)) or not math.isfinite(number) or number < 0 or (
            arg == "lr" and number == 0
        ):
            raise LabError(f"{where}: {arg} must be a positive number, but got {number!r}; pass e.g. {arg}=0.003")
    if margin is not None and (isinstance(margin, bool) or not isinstance(margin, (int, float))
                               or not math.isfinite(margin) or margin < 0):
        raise LabError(f"{where}: margin must be a number >= 0 in the primary metric's units, but got {margin!r}; "
                       "pass e.g. margin=0.01")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 < alpha < 1.0:
        raise LabError(f"{where}: alpha must be in (0, 1), but got {alpha!r}; pass e.g. alpha=0.05")
    assert runs is not None
    check_network(hidden, dropout, where)  # widths >= 1, dropout in [0, 1)
    out_dir = _check_out(out, where)
    if out_dir is not None:
        require("matplotlib", what=where)
    if demo:
        shapes = str(dataset).strip().lower() == "shapes"
        data, model_fn = (shapes_data, make_fcn) if shapes else (digits_images, make_small_cnn)
        dataset = None
        epochs = (SHAPES_EPOCHS if shapes else DEMO_EPOCHS) if epochs is None else epochs
        if shapes and batch_size == 128:  # the default batch: 2 steps an epoch on the demo's 240 images
            batch_size = SHAPES_BATCH
    if data is not None:
        return _compare_datasets(data, model_fn, dataset=dataset, csv=csv, task=task, losses=losses,
                                 candidates=candidates, runs=runs, epochs=epochs, patience=patience,
                                 batch_size=batch_size, optimizer=optimizer, lr=lr, weight_decay=weight_decay,
                                 amp=amp, accumulate=accumulate, imbalance=imbalance, label_noise=label_noise,
                                 outliers=outliers, target_transform=target_transform, ordinal=ordinal,
                                 split_seed=split_seed, margin=margin, alpha=alpha, out_dir=out_dir,
                                 progress=progress, log=log)
    if isinstance(dataset, Dataset):
        data = dataset
    else:
        data = load_data(dataset, csv, target, task=task, where=where)
    if task == "retrieval":  # the rows of a class target through an embedding MLP: the Dataset path
        if data.task not in ("binary", "multiclass"):
            raise LabError(f"{where}: task='retrieval' needs a class target, but got a {data.task} target "
                           f"{data.target_name!r}; pick a class column")
        width = int(data.X.shape[1])
        embed = ((lambda: make_mlp(width, RETRIEVAL_DIM, tuple(hidden), float(dropout))) if model_fn is None
                 else (lambda: model_fn(width, RETRIEVAL_DIM)))
        return _compare_datasets(torch_splits(data), embed, dataset=None, csv=None, task="retrieval",
                                 losses=losses, candidates=candidates, runs=runs,
                                 epochs=DEMO_EPOCHS if epochs is None else epochs, patience=patience,
                                 batch_size=batch_size, optimizer=optimizer, lr=lr, weight_decay=weight_decay,
                                 amp=amp, accumulate=accumulate, imbalance=imbalance, label_noise=label_noise,
                                 outliers=outliers, target_transform=target_transform, ordinal=ordinal,
                                 split_seed=split_seed, margin=margin, alpha=alpha, out_dir=out_dir,
                                 progress=progress, log=log, name=data.name, lab_model=model_fn is None)
    if task is not None and task != data.task:
        if "regression" in (task, data.task) or "multilabel" in (task, data.task) or task == "binary":
            raise LabError(f"{where}: task must match the target, but got task={task!r} for a {data.task} target "
                           f"{data.target_name!r}; drop --task or pick another column")
    if data.task == "multilabel":  # several 0/1 label columns: the Dataset path, with the MLP
        width, labels = int(data.X.shape[1]), int(data.y.shape[1])
        make = ((lambda: make_mlp(width, labels, tuple(hidden), float(dropout))) if model_fn is None
                else (lambda: model_fn(width, labels)))
        return _compare_datasets(torch_splits(data), make, dataset=None, csv=None, task="multilabel",
                                 losses=losses, candidates=candidates, runs=runs, epochs=epochs, patience=patience,
                                 batch_size=batch_size, optimizer=optimizer, lr=lr, weight_decay=weight_decay,
                                 amp=amp, accumulate=accumulate, imbalance=imbalance, label_noise=label_noise,
                                 outliers=outliers, target_transform=target_transform, ordinal=ordinal,
                                 split_seed=split_seed, margin=margin, alpha=alpha, out_dir=out_dir,
                                 progress=progress, log=log, name=data.name, lab_model=model_fn is None)
    if ordinal and data.task == "regression":
        raise LabError(f"{where}: ordinal applies to ordered classes, but got a regression target "
                       f"{data.target_name!r}; drop --ordinal (or pass --task multiclass for integer grades)")
    splits = [prepare(data, seed=split_seed + r, imbalance=imbalance, label_noise=label_noise, outliers=outliers,
                      target_transform=target_transform, where=where) for r in range(runs)]
    noisy = label_noise > 0
    chosen, advice = _candidates(losses, splits[0], data.task, candidates, noisy, where, ordinal=ordinal)
    auto = auto_epochs(len(splits[0].y_train), batch_size)
    epochs = auto[0] if epochs is None else epochs
    patience = (auto[1] if epochs == auto[0] else 10) if patience is None else patience
    main = is_main()
    progress = progress and main
    say = (log if main else None) or ((lambda s: print(s, file=sys.stderr)) if progress else (lambda s: None))
    say(f"losskit compare: {data.name} ({data.num_rows} rows, {data.X.shape[1]} features, {data.task}), "
        f"losses {', '.join(c.name for c in chosen)}, {runs} run(s) (split and seed r), up to {epochs} epochs")
    config = TrainConfig(epochs, patience, batch_size, float(lr), float(weight_decay), tuple(hidden), float(dropout),
                         bool(amp), accumulate)
    bar = None
    if progress:
        tqdm = require("tqdm", what=where).tqdm
        bar = tqdm(total=len(chosen) * runs * epochs, file=sys.stderr, unit="epoch", desc="compare", leave=False)
    metric_names: tuple[str, ...] = REGRESSION_METRICS if data.task == "regression" else CLASSIFICATION_METRICS
    if not any(advisor.LOSS_MENU[c.name].head == "quantiles" for c in chosen):  # no interval predicted
        metric_names = tuple(m for m in metric_names if m not in INTERVAL_METRICS)
    by_loss: dict[str, list[RunResult]] = {c.name: [] for c in chosen}
    references: list[RunResult] = []
    # the runs seed torch: fork_rng keeps the caller's generator as it was
    # the lab's own MLP trains on one thread; a custom model_fn keeps torch's setting
    with torch.random.fork_rng(devices=[]), _threads(1 if model_fn is None else None), \
            contextlib.closing(bar) if bar is not None else contextlib.nullcontext():
        for r, prepared in enumerate(splits):
            for cand in chosen:
                if bar is not None:
                    bar.set_postfix_str(f"{cand.name} run {r}")
                before = bar.n if bar is not None else 0
                built = _configured(cand, prepared, data.task, noisy).build() if r else cand.build()
                run = train_run(cand.name, built, advisor.LOSS_MENU[cand.name].head, prepared, r, config,
                                model_fn=model_fn, on_epoch=bar.update if bar is not None else None)
                run.split = split_seed + r
                if bar is not None:
                    bar.update(epochs - (bar.n - before))  # early stopping skips the rest
                by_loss[cand.name].append(run)
            references.append(_reference_run(prepared, split_seed + r))
    summaries = [_summarise(c.name, c, by_loss[c.name], metric_names) for c in chosen]
    base = next((s for s in summaries if s.baseline), None)
    if base is not None and data.task == "binary":
        tuned = [_threshold_run(run, p) for run, p in zip(base.runs, splits)]
        cand = next(c for c in chosen if c.name == base.name)
        summaries.append(_summarise(f"{base.name}+threshold", dataclasses.replace(
            cand, reasons=[f"the {base.name} models with the decision threshold tuned on the validation split to "
                           "maximise balanced accuracy"], options={**cand.options, "thresholds": [
                               float(run.metrics["threshold"]) for run in tuned]}),  # type: ignore[arg-type]
            tuned, metric_names, kind="threshold"))
    summaries.append(_summarise(_reference_candidate(data.task).name, _reference_candidate(data.task), references,
                                metric_names, kind="reference"))
    metric = primary_metric(data.task)
    every = [s for s in summaries if s.kind != "reference"]
    compared = [s for s in every if all(math.isfinite(float(r.metrics[metric])) for r in s.runs)]  # type: ignore[arg-type]
    failed = [s.name for s in every if all(s is not c for c in compared)]
    kept = [s.name for s in compared]
    reference_name = base.name if base is not None and base.name in kept else (compared or every)[0].name
    n_test = float(np.mean([len(p.y_test) for p in splits]))
    sizes = {"n_train": float(data.num_rows) - n_test, "n_test": n_test}
    if margin is None:
        level = next(s for s in every if s.name == reference_name).mean[metric]
        margin = default_margin(metric, level) if math.isfinite(level) else 0.0
    comparison = None
    if len(compared) > 1:
        comparison = stats.decide({s.name: [float(r.metrics[metric]) for r in s.runs] for s in compared},  # type: ignore[arg-type]
                                  metric=metric, higher_is_better=HIGHER_IS_BETTER[metric],
                                  baseline=reference_name, alpha=float(alpha), margin=float(margin), **sizes)
    winner, verdict = _verdict(comparison, len(compared), runs, (compared or every)[0].name)
    if failed:
        verdict += (f"; left out of the comparison for a non-finite test {metric.replace('_', ' ')} in some run "
                    f"(diverged?): {', '.join(failed)}")
    notices = [*data.notices, *splits[0].notices]
    if runs > 1:
        notices.append(f"{runs} runs: run r uses split {split_seed}+r (a fresh stratified split, stress options "
                       "applied anew) and seed r, the same for every loss; class weights and other options are "
                       "recomputed from each split's training rows")
    if any(r.criterion != "metric" for rs in by_loss.values() for r in rs):
        notices.append("checkpoints chosen by the class-balanced validation log-loss in the runs where some class "
                       "has fewer than 10 validation rows (a balanced accuracy over a handful of rows picks lucky "
                       "epochs)")
    cfg = {**asdict(config), "hidden": list(config.hidden), "runs": runs, "losses": [c.name for c in chosen],
           "imbalance": imbalance, "label_noise": label_noise, "outliers": outliers, "split_seed": split_seed,
           "target_transform": target_transform, "ordinal": ordinal, "margin": margin, "alpha": alpha,
           "model": "custom" if model_fn else "mlp", "processes": lkd.world_size(), "baseline": reference_name, **sizes}
    result = CompareResult(
        data.name, data.task, data.num_rows, int(data.X.shape[1]), data.class_names, notices, cfg, metric,
        summaries, winner, verdict, advice, out_dir, 0.0, splits[0].train_counts,
        _versus_baseline(comparison, summaries), comparison,
        _warnings(summaries, sizes, metric, float(margin), float(alpha), epochs),
    )
    result.seconds = time.perf_counter() - started
    result.provenance = provenance.finish(
        origin, dataset=data.name, task=data.task, rows=data.num_rows, features=int(data.X.shape[1]),
        class_names=data.class_names, splits=splits, split_seed=split_seed, custom_model=model_fn is not None,
        processes=lkd.world_size())
    if out_dir is not None and main:
        _write(result, splits, out_dir)
        result.seconds = time.perf_counter() - started
    return result


def _compare_datasets(data: Any, model_fn: Callable[..., nn.Module] | None, *, dataset: Any, csv: str | None,
                      imbalance: float | None, label_noise: float, outliers: float, target_transform: str | None,
                      ordinal: bool, name: str | None = None, lab_model: bool = False, **options: Any
                      ) -> CompareResult:
    """The Dataset path of :func:`compare` (:mod:`losskit.lab.byo`), after the checks of the options it shares."""
    from .byo import compare_torch

    where = "compare"
    if dataset is not None or csv is not None:
        raise LabError(f"{where}: data replaces dataset and csv, but got data with dataset={dataset!r} / "
                       f"csv={csv!r}; pass one data source")
    if model_fn is None:
        raise LabError(f"{where}: data needs model_fn, a function returning a fresh torch.nn.Module, but got none; "
                       "pass model_fn=lambda: MyNet() (--model MODULE:FUNC)")
    stress = {"imbalance": imbalance, "label_noise": label_noise or None, "outliers": outliers or None,
              "target_transform": target_transform, "ordinal": ordinal or None}
    given = [k for k, v in stress.items() if v is not None]
    if given:
        raise LabError(f"{where}: {given[0]} applies to single-target tables (a bundled set or a CSV), but got it with "
                       f"data of your own or a multi-label target; drop {given[0]} (apply it in your Dataset)")
    if lkd.is_distributed():
        raise LabError(f"{where}: data of your own trains in one process, but got {lkd.world_size()} processes; run "
                       "it without torchrun")
    demo = data is digits_images or data is shapes_data
    label = "shapes" if data is shapes_data else "digits-images"
    own = not (demo or lab_model)
    with _threads(None if own else 1):  # the lab's CNN and MLP are too small for more threads to pay (the demo's
        # CNN: 2.9 s a run on one thread, 5.4 s on two)
        return compare_torch(data, model_fn, name=name or (label if demo else "custom"),
                             on_own_threads=own, **options)


def _write(result: CompareResult, prepared: Prepared | Sequence[Prepared], out_dir: str) -> None:
    """Write every output into a temporary folder beside ``out_dir`` and move it into place; ``prepared[k]`` is the
    split run ``k`` tested on (:func:`losskit.lab.report.write_outputs`)."""
    from .report import write_outputs

    parent = os.path.dirname(out_dir)
    os.makedirs(parent, exist_ok=True)
    tmp = make_dir(parent, ".losskit-out-")  # honours the umask (mkdtemp's 0700 would stay on the output)
    old = None
    try:
        write_outputs(result, prepared, tmp)
        if os.path.exists(out_dir):
            old = tempfile.mkdtemp(prefix=".losskit-old-", dir=parent)
            os.rename(out_dir, os.path.join(old, "previous"))
        os.rename(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and not os.path.exists(out_dir):
            os.rename(os.path.join(old, "previous"), out_dir)
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
