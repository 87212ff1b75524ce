"""The lab's outputs: ``results.json``, ``curves.csv``, the PNG figures and a self-contained ``report.html``.

The figures are drawn by :mod:`losskit.lab.report_figures` from the numbers of :mod:`losskit.lab.report_data`, and
the page is laid out by :mod:`losskit.lab.report_html`. Run ``k`` of every row tested on ``splits[k]``, so the
per-class tables, confusion matrices, calibration and ROC curves use every run's own test targets."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .._validation import LossValueError
from . import provenance
from . import report_figures as rf
from .data import Prepared
from .report_html import Figure, render
from .report_segmentation import CAPTION as SEGMENTATION_CAPTION
from .report_segmentation import plot_segmentation
from .runner import CompareResult, compare
from .task_retrieval import plot_projection

__all__ = ["FIGURES", "figures", "write_outputs"]

FIGURES: dict[str, tuple[str, str]] = {
    "metrics": ("metrics.png", "Every run's test value (dots), the mean (diamond) and its 95% interval from the "
                "corrected resampled t (the runs share rows, so the plain interval would be too narrow); axes fit the "
                "data, they do not start at 0."),
    "gains": ("gains.png", "Paired per-run gains over the baseline on the primary metric, the mean and its 95% CI "
              "from the corrected resampled t-test (the numbers of the table above); dashed: the practical margin."),
    "curves": ("curves.png", "Training (solid) and validation (dashed) loss: the mean over the runs that reached "
               "each epoch ± one standard deviation (early-stopped runs leave the mean after their last epoch); "
               "dotted: the median best epoch."),
    "validation": ("validation.png", "The validation metric that chose the checkpoints, mean over runs ± one "
                   "standard deviation (the data of curves.csv)."),
    "confusion": ("confusion.png", "Confusion matrices of the baseline and the winner (or the best by mean): each "
                  "run's matrix divided by its row sums (rows: true class, summing to 1), averaged over the runs."),
    "calibration": ("calibration.png", "Reliability diagrams: share of correct top-class predictions against the "
                    "mean top-class confidence in 15 equal-width bins (the ECE's), the test rows of every run pooled; "
                    "marker area: rows in the bin; dashed: perfect calibration."),
    "roc_pr": ("roc_pr.png", "ROC and precision-recall curves of P(class 1), the test rows of every run pooled into "
               "one curve per row; the legend's AUC and AP are the means of the per-run values (the table's)."),
    "predicted": ("predicted.png", "Predicted against actual test targets for the baseline and the best loss, the "
                  "test rows of every run pooled; the line is predicted = actual."),
    "residuals": ("residuals.png", "Residuals (predicted - actual) of the baseline and the best loss, the test rows "
                  "of every run pooled."),
    "segmentation": ("segmentation.png", SEGMENTATION_CAPTION),
    "projection": ("projection.png", "Retrieval: each loss's test embeddings of the first run on their first two "
                   "principal components (PCA of the embeddings as the loss's distance sees them, unit rows for "
                   "cosine), coloured by class; a flat picture of a D-dimensional space, so read the metrics for the "
                   "verdict."),
}
"""Role -> (PNG file name, caption)."""


def figures(result: CompareResult, splits: Sequence[Prepared]) -> dict[str, Any]:
    """Every figure of the report by role (:data:`FIGURES`); ``None`` where one does not apply to the task."""
    makers: dict[str, Callable[[], Any]] = {
        "metrics": lambda: rf.plot_metrics(result),
        "gains": lambda: rf.plot_gains(result),
        "curves": lambda: rf.plot_curves(result),
        "validation": lambda: rf.plot_validation_metric(result),
        "confusion": lambda: rf.plot_confusion(result, splits),
        "calibration": lambda: rf.plot_calibration(result, splits),
        "roc_pr": lambda: rf.plot_roc_pr(result, splits),
        "predicted": lambda: rf.plot_predicted(result, splits),
        "residuals": lambda: rf.plot_residuals(result, splits),
        "segmentation": lambda: plot_segmentation(result, splits),
        "projection": lambda: plot_projection(result, splits),
    }
    return {role: make() for role, make in makers.items()}


def _curves_csv(result: CompareResult, path: str) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["loss", "seed", "epoch", "train_loss", "val_loss", f"val_{result.metric}"])
        for s in result.summaries:
            if s.kind != "loss":
                continue
            for r in s.runs:
                for e, (t, v, m) in enumerate(zip(r.train_losses, r.val_losses, r.val_metrics), start=1):
                    w.writerow([s.name, r.seed, e, repr(t), repr(v), repr(m)])


def _provenance(result: CompareResult, splits: Sequence[Prepared]) -> dict[str, Any]:
    """The result's provenance; else the one the latest ``compare`` call started (a path that does not attach it);
    else (a result built by hand) one made now, its call unknown."""
    if result.provenance:
        return result.provenance
    origin = provenance.current()
    if origin is None:
        origin = {**provenance.start(compare, {}), "call": None}
    return provenance.finish(origin, dataset=result.dataset, task=result.task, rows=result.num_rows,
                             features=result.num_features, class_names=result.class_names, splits=splits,
                             split_seed=int(result.config.get("split_seed", 0)),
                             custom_model=result.config.get("model") == "custom",
                             processes=int(result.config.get("processes", 1)),
                             runs=int(result.config.get("runs", len(splits))))


def write_outputs(result: CompareResult, splits: Prepared | Sequence[Prepared], folder: str) -> dict[str, str]:
    """Write ``results.json``, ``curves.csv``, the PNG figures that apply to the task and ``report.html`` into
    ``folder``. ``splits[k]`` is the split run ``k`` tested on (one :class:`Prepared`: the first run's only, and the
    figures that need test targets use the first run)."""
    if not os.path.isdir(folder):
        raise LossValueError(f"write_outputs: folder must exist, but got {folder!r}; create it first")
    splits = [splits] if isinstance(splits, Prepared) else list(splits)
    result.provenance = _provenance(result, splits)
    drawn = figures(result, splits)
    pngs: dict[str, Figure | None] = {}
    for role, fig in drawn.items():
        if fig is None:
            pngs[role] = None
            continue
        name, caption = FIGURES[role]
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=90, bbox_inches="tight", pad_inches=0.1)
        pngs[role] = Figure(name, buf.getvalue(), caption)
    paths = {name: os.path.join(folder, name) for name in ("results.json", "curves.csv", "report.html")}
    paths.update({p.name: os.path.join(folder, p.name) for p in pngs.values() if p is not None})
    data = {k: _clean(v) for k, v in result.to_dict().items()}  # _clean of the dict, keys kept
    data["provenance"] = _clean(result.provenance)
    data["files"] = sorted(paths)
    with open(paths["results.json"], "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, allow_nan=False, default=_json_default)
    _curves_csv(result, paths["curves.csv"])
    for p in pngs.values():
        if p is not None:
            with open(paths[p.name], "wb") as fh:
                fh.write(p.png)
    with open(paths["report.html"], "w", encoding="utf-8") as fh:
        fh.write(render(result, splits, pngs))
    return paths


def _clean(value: object) -> object:
    """NaN -> None (JSON has no NaN), recursively."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _json_default(value: object) -> object:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"results.json: cannot store {type(value).__name__}")
