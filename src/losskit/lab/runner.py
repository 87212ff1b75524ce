"""``compare``: train the same network with each candidate loss over K seeds and compare them on the test split.

Started by ``torchrun`` with several processes, ``compare`` joins the process group (gloo) and trains each run
data-parallel (:mod:`losskit.lab.ddp`); only rank 0 prints, shows the progress bar and writes ``out``."""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from .. import advisor
from .. import distributed as lkd
from ..doctor import CurveDiagnosis, diagnose_curves
from ._extras import LabError, require
from .data import Dataset, Prepared, load_data, prepare
from .ddp import in_process_group, is_main
from .metrics import HIGHER_IS_BETTER
from .train import RunResult, TrainConfig, train_run

__all__ = ["CompareResult", "LossSummary", "compare", "primary_metric"]

CLASSIFICATION_METRICS = ("balanced_accuracy", "accuracy", "macro_f1", "minority_recall", "ece")
REGRESSION_METRICS = ("mae", "rmse", "r2")
DEFAULT_CANDIDATES = 4


def primary_metric(task: str) -> str:
    """The metric that names the winner: balanced accuracy (classification) or test MAE (regression)."""
    return "mae" if task == "regression" else "balanced_accuracy"


@dataclass
class LossSummary:
    """One candidate loss over all seeds."""

    name: str
    loss: str
    options: dict[str, Any]
    reasons: list[str]
    code: str
    baseline: bool
    mean: dict[str, float]
    std: dict[str, float]
    """Sample standard deviation over seeds (0 with one seed)."""
    runs: list[RunResult] = field(repr=False)
    diagnoses: list[CurveDiagnosis] = field(repr=False)
    per_class_recall_mean: list[float | None] | None = None

    def cell(self, metric: str) -> str:
        """``mean ± std`` as printed in the table."""
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
    """The best loss by the primary metric, named only when its lead exceeds the seed-to-seed spread."""
    verdict: str
    """The sentence that names the winner or says why there is none."""
    advice: list[str]
    """The advisor's reasons on the training targets."""
    out_dir: str | None
    seconds: float
    train_counts: list[int] | None = None
    versus_baseline: list[str] = field(default_factory=list)
    """Each loss against the plain baseline on the primary metric (and minority recall), with the spread."""

    @property
    def metrics(self) -> tuple[str, ...]:
        return REGRESSION_METRICS if self.task == "regression" else CLASSIFICATION_METRICS

    def summary(self, name: str) -> LossSummary:
        return next(s for s in self.summaries if s.name == name)

    def table(self) -> str:
        """The terminal table: one row per loss, ``mean ± std`` over seeds, the primary metric first."""
        cols = [self.metric] + [m for m in self.metrics if m != self.metric]
        head = ["loss"] + [c + (" ↑" if HIGHER_IS_BETTER[c] else " ↓") for c in cols] + ["best epoch", "doctor"]
        rows = [head]
        for s in self.summaries:
            epochs = "/".join(str(r.best_epoch) for r in s.runs)
            verdicts = sorted({d.verdict for d in s.diagnoses})
            rows.append([s.name + (" *" if s.name == self.winner else "")] + [s.cell(c) for c in cols]
                        + [epochs, ",".join(v.replace("_", " ") for v in verdicts)])
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join([*lines, *self.versus_baseline, self.verdict])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (``results.json``)."""
        return {
            "dataset": self.dataset, "task": self.task, "rows": self.num_rows, "features": self.num_features,
            "class_names": self.class_names, "train_class_counts": self.train_counts, "notices": self.notices,
            "config": self.config, "metric": self.metric, "winner": self.winner, "verdict": self.verdict,
            "advice": self.advice, "versus_baseline": self.versus_baseline, "seconds": round(self.seconds, 2),
            "losses": [
                {
                    "name": s.name, "loss": s.loss, "options": {k: advisor._jsonable(v) for k, v in s.options.items()},
                    "reasons": s.reasons, "code": s.code, "baseline": s.baseline, "mean": s.mean, "std": s.std,
                    "per_class_recall_mean": s.per_class_recall_mean,
                    "runs": [
                        {"seed": r.seed, "best_epoch": r.best_epoch, "epochs_run": len(r.train_losses),
                         "stopped_early": r.stopped_early, "seconds": round(r.seconds, 3), "metrics": r.metrics,
                         "doctor": d.to_dict()}
                        for r, d in zip(s.runs, s.diagnoses)
                    ],
                }
                for s in self.summaries
            ],
        }


def _verdict(summaries: list[LossSummary], metric: str, seeds: int) -> tuple[str | None, str]:
    higher = HIGHER_IS_BETTER[metric]
    ranked = sorted(summaries, key=lambda s: s.mean[metric], reverse=higher)
    best = ranked[0]
    if len(ranked) == 1:
        return None, f"one loss only ({best.name}): nothing to compare it with"
    second = ranked[1]
    lead = abs(best.mean[metric] - second.mean[metric])
    spread = max(best.std[metric], second.std[metric])
    what = f"test {metric.replace('_', ' ')}"
    if seeds < 2:
        return None, (f"no winner named: {best.name} leads {second.name} on {what} by {lead:.3g} with one seed, and "
                      "one seed shows no seed-to-seed spread to judge that lead by; run with --seeds 3 or more")
    if lead > spread:
        return best.name, (f"winner: {best.name} on {what} ({best.cell(metric)}), ahead of {second.name} "
                           f"({second.cell(metric)}) by {lead:.3g}, more than the seed-to-seed spread ({spread:.3g})")
    return None, (f"no clear winner: {best.name} leads {second.name} on {what} by {lead:.3g}, which is within the "
                  f"seed-to-seed spread ({spread:.3g}) over {seeds} seeds")


def _versus_baseline(summaries: list[LossSummary], metric: str, seeds: int) -> list[str]:
    base = next((s for s in summaries if s.baseline), None)
    if base is None:
        return []
    metrics = [metric] + (["minority_recall"] if metric == "balanced_accuracy" else [])
    lines = []
    for s in summaries:
        if s is base:
            continue
        parts = []
        for m in metrics:
            gain = (s.mean[m] - base.mean[m]) * (1 if HIGHER_IS_BETTER[m] else -1)
            spread = max(s.std[m], base.std[m])
            if seeds < 2:
                word = "one seed, no spread to judge by"
            elif abs(gain) <= spread:
                word = "within the spread"
            else:
                word = "better beyond the spread" if gain > 0 else "worse beyond the spread"
            diff = round(s.mean[m] - base.mean[m], 10) + 0.0  # no 1e-16 noise, no -0
            parts.append(f"{m.replace('_', ' ')} {diff:+.3g} (spread {spread:.2g}: {word})")
        lines.append(f"{s.name} vs {base.name}: " + "; ".join(parts))
    return lines


def _summarise(name: str, cand: advisor.Candidate, runs: list[RunResult], metrics: Sequence[str]) -> LossSummary:
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
            vals = [row[k] for row in table if row[k] is not None]  # type: ignore[index]
            per_class.append(float(np.mean(vals)) if vals else None)
    diagnoses = [diagnose_curves(r.train_losses, r.val_losses) if len(r.train_losses) >= 2 else
                 CurveDiagnosis("plateau", ["plateau"], ["one epoch only"], "train for more epochs", [1], 1)
                 for r in runs]
    return LossSummary(name, cand.loss, cand.options, cand.reasons, cand.code, cand.baseline, mean, std, runs,
                       diagnoses, per_class)


def _check_out(out: str | None, where: str) -> str | None:
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
                where: str) -> tuple[list[advisor.Candidate], list[str]]:
    targets = prepared.y_train
    rec = advisor.recommend(targets, task=task, noisy_labels=noisy)
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


@in_process_group
def compare(
    dataset: str | Dataset | None = None,
    *,
    csv: str | None = None,
    target: str | None = None,
    task: str | None = None,
    losses: str | Sequence[str] = "auto",
    candidates: int = DEFAULT_CANDIDATES,
    epochs: int = 40,
    seeds: int = 3,
    patience: int = 10,
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
    split_seed: int = 0,
    out: str | os.PathLike | None = "losskit-out",
    progress: bool = True,
    model_fn: Callable[[int, int], nn.Module] | None = None,
    log: Callable[[str], None] | None = None,
) -> CompareResult:
    """Train the same network with each loss over ``seeds`` seeds and compare them on the test split.

    Args:
        dataset: a bundled data set name (``digits``, ``breast_cancer``, ``wine``, ``iris``, ``diabetes``) or a
            :class:`~losskit.lab.data.Dataset`; or ``None`` with ``csv``.
        csv, target: a CSV file and its target column (default the last one).
        task: override the task inferred from the target (``"binary"``, ``"multiclass"``, ``"regression"``).
        losses: ``"auto"`` (the advisor's first ``candidates`` on the training targets, always with the plain
            baseline) or names from :data:`losskit.advisor.LOSS_MENU` (``"ce,focal"`` or a list).
        candidates: how many advisor candidates ``"auto"`` trains (default 4).
        epochs, patience: at most ``epochs`` epochs; stop after ``patience`` epochs without a better validation
            metric (balanced accuracy, or MAE for regression) and evaluate the best checkpoint.
        seeds: seeds ``0..seeds-1``: each seeds the network's initialisation and the batch order, the same for
            every loss; the split is fixed by ``split_seed``.
        batch_size, lr, weight_decay: mini-batch size and AdamW's options.
        hidden, dropout: the MLP's hidden widths and dropout; or ``model_fn(in_features, out_features)``.
        amp: bf16 autocast on CPU for the forward pass. accumulate: gradient-accumulation steps.
        imbalance, label_noise, outliers: stress options on the train and validation rows (see
            :func:`losskit.lab.data.prepare`); the test split stays clean.
        out: the output folder (``results.json``, ``curves.csv``, PNG plots, ``report.html``), written to a temporary
            folder and moved into place at the end; ``None`` writes nothing.
        progress: a tqdm progress bar on stderr.
        log: where progress notes go (default: stderr when ``progress``).

    Under ``torchrun --nproc_per_node=K`` (or an initialised process group of K ranks) every rank trains on its
    shard of each mini-batch with the loss of the whole mini-batch, and every rank returns the same result, equal
    to the one-process result up to float32 summation order; only rank 0 logs, shows progress and writes ``out``.

    Returns:
        A :class:`CompareResult`.

    Raises:
        LabError: bad data, options or output folder (nothing is written).
        MissingExtraError: scikit-learn (bundled data sets), matplotlib (plots) or tqdm (progress) missing.
    """
    where = "compare"
    started = time.perf_counter()
    for arg, value, low in (("epochs", epochs, 1), ("seeds", seeds, 1), ("batch_size", batch_size, 1),
                            ("accumulate", accumulate, 1), ("candidates", candidates, 1), ("patience", patience, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise LabError(f"{where}: {arg} must be an integer >= {low}, but got {value!r}; "
                           f"pass e.g. {arg}={max(low, 3)}")
    for arg, value in (("lr", lr), ("weight_decay", weight_decay)):
        if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0 or (arg == "lr" and value == 0):
            raise LabError(f"{where}: {arg} must be a positive number, but got {value!r}; pass e.g. {arg}=0.003")
    out_dir = _check_out(out, where)
    if out_dir is not None:
        require("matplotlib", what=where)
    if isinstance(dataset, Dataset):
        data = dataset
    else:
        data = load_data(dataset, csv, target, task=task, where=where)
    if task is not None and task != data.task:
        if task == "regression" or data.task == "regression" or task == "binary":
            raise LabError(f"{where}: task must match the target, but got task={task!r} for a {data.task} target "
                           f"{data.target_name!r}; drop --task or pick another column")
    prepared = prepare(data, seed=split_seed, imbalance=imbalance, label_noise=label_noise, outliers=outliers,
                       where=where)
    chosen, advice = _candidates(losses, prepared, data.task, candidates, label_noise > 0, where)
    main = is_main()
    progress = progress and main
    say = (log if main else None) or ((lambda s: print(s, file=sys.stderr)) if progress else (lambda s: None))
    say(f"losskit compare: {data.name} ({data.num_rows} rows, {data.X.shape[1]} features, {data.task}), "
        f"losses {', '.join(c.name for c in chosen)}, {seeds} seed(s), up to {epochs} epochs")
    config = TrainConfig(epochs, patience, batch_size, float(lr), float(weight_decay), tuple(hidden), float(dropout),
                         bool(amp), accumulate)
    bar = None
    if progress:
        tqdm = require("tqdm", what=where).tqdm
        bar = tqdm(total=len(chosen) * seeds * epochs, file=sys.stderr, unit="epoch", desc="compare", leave=False)
    metric_names = REGRESSION_METRICS if data.task == "regression" else CLASSIFICATION_METRICS
    summaries: list[LossSummary] = []
    # the runs seed torch: fork_rng keeps the caller's generator as it was
    with torch.random.fork_rng(devices=[]), contextlib.closing(bar) if bar is not None else contextlib.nullcontext():
        for cand in chosen:
            runs = []
            entry = advisor.LOSS_MENU[cand.name]
            for seed in range(seeds):
                if bar is not None:
                    bar.set_postfix_str(f"{cand.name} seed {seed}")
                before = bar.n if bar is not None else 0
                run = train_run(cand.name, cand.build(), entry.head, prepared, seed, config, model_fn=model_fn,
                                on_epoch=bar.update if bar is not None else None)
                if bar is not None:
                    bar.update(epochs - (bar.n - before))  # early stopping skips the rest
                runs.append(run)
            summaries.append(_summarise(cand.name, cand, runs, metric_names))
    metric = primary_metric(data.task)
    winner, verdict = _verdict(summaries, metric, seeds)
    cfg = {**asdict(config), "hidden": list(config.hidden), "seeds": seeds, "losses": [c.name for c in chosen],
           "imbalance": imbalance, "label_noise": label_noise, "outliers": outliers, "split_seed": split_seed,
           "model": "custom" if model_fn else "mlp", "processes": lkd.world_size()}
    result = CompareResult(
        data.name, data.task, data.num_rows, int(data.X.shape[1]), data.class_names,
        [*data.notices, *prepared.notices], cfg, metric, summaries, winner, verdict, advice, out_dir,
        0.0, prepared.train_counts, _versus_baseline(summaries, metric, seeds),
    )
    result.seconds = time.perf_counter() - started
    if out_dir is not None and main:
        _write(result, prepared, out_dir)
        result.seconds = time.perf_counter() - started
    return result


def _write(result: CompareResult, prepared: Prepared, out_dir: str) -> None:
    """Write every output into a temporary folder beside ``out_dir`` and move it into place."""
    from .report import write_outputs

    parent = os.path.dirname(out_dir)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".losskit-out-", dir=parent)
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
