"""The report's segmentation section (:mod:`losskit.lab.task_segmentation`): a picture of each loss's predicted
masks on the first test images of the first run (input, ground truth, one column per loss), and the table of Dice
per class over the runs."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._extras import figure
from .data import Prepared
from .runner import CompareResult, LossSummary
from .task_segmentation import segmentation_metrics

__all__ = ["CAPTION", "per_class_dice_html", "plot_segmentation"]

CAPTION = ("Predicted masks of every loss on the first test images of run 0 (each loss's best checkpoint), beside the "
           "input and the ground truth; under each prediction, that image's mean IoU over the classes present in its "
           "truth or prediction.")
COLORS = ("#202020", "tab:orange", "tab:blue", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink",
          "tab:olive", "tab:cyan", "tab:gray")
"""Class k's colour (background dark); more classes cycle through the last ten."""


def _color(k: int) -> str:
    return COLORS[k] if k < len(COLORS) else COLORS[1 + (k - 1) % (len(COLORS) - 1)]


def _losses(result: CompareResult) -> list[LossSummary]:
    return [s for s in result.summaries if s.kind == "loss"]


def _masks(y: np.ndarray) -> np.ndarray:
    """``(N, H, W)`` class masks from multi-class ``(N, H, W)`` or binary ``(N, 1, H, W)`` targets."""
    y = np.asarray(y)
    return (y[:, 0] if y.ndim == 4 else y).astype(np.int64)


def _show_input(ax: Any, x: np.ndarray) -> None:
    if x.shape[0] == 3:
        rgb = np.transpose(x, (1, 2, 0)).astype(np.float64)
        lo, hi = float(rgb.min()), float(rgb.max())
        ax.imshow((rgb - lo) / (hi - lo) if hi > lo else np.zeros_like(rgb))
    else:
        ax.imshow(x[0], cmap="gray")


def plot_segmentation(result: CompareResult, splits: Sequence[Prepared]) -> Any | None:
    """Rows: the first test images of run 0 (at most the ones kept in ``splits[0].X_test``); columns: the input,
    the ground truth and each trained loss's prediction. ``None`` for other tasks or without kept inputs."""
    if result.task != "segmentation" or not splits or len(splits[0].X_test) == 0:
        return None
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    losses = _losses(result)
    x = np.asarray(splits[0].X_test)
    truth = _masks(splits[0].y_test)[: len(x)]
    k = len(truth)
    names = result.class_names or [str(c) for c in range(int(truth.max()) + 1)]
    C = max(len(names), int(truth.max()) + 1)
    cmap = ListedColormap([_color(c) for c in range(C)])
    cols = 2 + len(losses)
    fig = figure(figsize=(1.7 * cols, 1.8 * k + 0.6))
    for i in range(k):
        panels: list[tuple[str, np.ndarray | None, str]] = [("input", None, ""), ("ground truth", truth[i], "")]
        for s in losses:
            pred = np.asarray(s.runs[0].predictions)[i]
            m = segmentation_metrics(truth[i : i + 1], pred[None], C)
            role = " (winner)" if s.name == result.winner else " (baseline)" if s.baseline else ""
            panels.append((s.name + role, pred, f"IoU {float(m['mean_iou']):.2f}"))  # type: ignore[arg-type]
        for j, (title, mask, note) in enumerate(panels):
            ax = fig.add_subplot(k, cols, i * cols + j + 1)
            if mask is None:
                _show_input(ax, x[i])
            else:
                ax.imshow(mask, cmap=cmap, vmin=-0.5, vmax=C - 0.5, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(title, fontsize=8)
            if note:
                ax.set_xlabel(note, fontsize=7)
    fig.legend(handles=[Patch(color=_color(c), label=str(n)) for c, n in enumerate(names)], loc="lower center",
               ncol=min(len(names), 6), fontsize=8, frameon=False)
    fig.subplots_adjust(bottom=0.6 / (1.8 * k + 0.6) + 0.02, wspace=0.08, hspace=0.3)
    return fig


def _cell(values: Sequence[float]) -> str:
    v = np.asarray([np.nan if x is None else float(x) for x in values], dtype=np.float64)
    v = v[np.isfinite(v)]
    if not v.size:
        return "<td>–</td>"
    spread = float(v.std(ddof=1)) if v.size > 1 else 0.0
    return f"<td>{v.mean():.3f} ± {spread:.3f}</td>"


def per_class_dice_html(result: CompareResult) -> str:
    """Each class's test Dice, mean ± sample standard deviation over the runs (``per_class_dice``)."""
    losses = _losses(result)
    if not losses:
        return ""
    C = len(losses[0].runs[0].metrics["per_class_dice"])  # type: ignore[arg-type]
    names = result.class_names if result.class_names and len(result.class_names) == C else [str(c) for c in
                                                                                           range(C)]
    e = html.escape
    body = []
    for s in losses:
        table = [r.metrics["per_class_dice"] for r in s.runs]
        cells = "".join(_cell([row[c] for row in table]) for c in range(C))  # type: ignore[index]
        mean = s.mean.get("mean_dice", math.nan)
        mark = " class='win'" if s.name == result.winner else ""
        body.append(f"<tr{mark}><td>{e(s.name)}</td>{cells}<td>{mean:.3f}</td></tr>")
    head = "".join(f"<th>{e(str(n))}</th>" for n in names)
    return ("<p>Dice of each class on each run's test split (every test pixel pooled), then the mean ± sample "
            "standard deviation over the runs (– for a class absent from the truth and the predictions). Pixel "
            "accuracy counts every pixel; interior pixel accuracy leaves out the 1-pixel band on each side of the "
            "true class boundaries (pixels whose 3x3 neighbourhood holds another class), where annotations "
            f"disagree by a pixel.</p><table class='num'><tr><th>loss</th>{head}<th>mean Dice</th></tr>"
            f"{''.join(body)}</table>")
