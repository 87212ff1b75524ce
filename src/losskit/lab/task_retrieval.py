"""The retrieval (metric-learning) task of the lab's Dataset path: ``compare(..., task="retrieval")``.

The model maps each input to an embedding ``(N, D)``; the target is the item's class index. Every loss is called as
``loss(embeddings, labels)`` (ArcFace and CosFace hold learnable class centres, which the optimizer trains with the
model, :func:`losskit.lab.train_torch.fit`). The test split is evaluated by nearest neighbours: each test embedding
is a query, and the reference set is the test split itself without the query (pytorch-metric-learning's
``AccuracyCalculator`` with ``embeddings_come_from_same_source=True``).

Metrics (:func:`retrieval_metrics`), the primary one first:

* ``map_at_r``: MAP@R (Musgrave et al. 2020). For a query whose class has ``R`` other items,
  ``(1/R) sum_{i<=R} rel_i * P@i`` over its ``R`` nearest references (``rel_i``: the i-th is of the query's class,
  ``P@i``: the share of the first ``i`` that are), averaged over the queries;
* ``recall_at_1``: the nearest reference is of the query's class (PML's ``precision_at_1``);
* ``recall_at_5``: some reference of the query's class is among the 5 nearest (the usual retrieval Recall@k; not
  PML's ``r_precision``).

A query alone in its class (``R = 0``) has no right answer and is left out of every mean, as PML leaves out "lone
queries". Ties in distance are broken by the reference's position in the test split (the earlier item is nearer:
a stable sort), so the metrics are deterministic; embeddings of continuous outputs practically never tie.

The distance is the one the loss trains: ``"cosine"`` (``1 - cos``) for SupCon, ArcFace, CosFace and for
contrastive and batch-hard triplet, which run on L2-normalised embeddings here (their euclidean distance on the unit
sphere ranks as the cosine one); a loss of your own is measured with ``"euclidean"`` on the raw embeddings unless it
has an attribute ``distance = "cosine"``.

InfoNCE needs two augmented views of every input; a Dataset of ``(input, class)`` pairs has one view, so it is left
out with that reason (:data:`INFONCE_SKIPPED`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor, nn

from ._extras import LabError
from .tasks import Task, _shape

if TYPE_CHECKING:
    from .byo import LossSpec
    from .data import Prepared
    from .runner import CompareResult

__all__ = ["DISTANCES", "INFONCE_SKIPPED", "METRICS", "RETRIEVAL", "RETRIEVAL_LOSSES", "RetrievalTask",
           "nearest", "plot_projection", "projection", "retrieval_losses", "retrieval_metrics"]

DISTANCES = ("cosine", "euclidean")
METRICS = ("map_at_r", "recall_at_1", "recall_at_5")
BLOCK = 1024
"""Queries per block of the distance matrix (memory ``BLOCK x N`` float64)."""
INFONCE_SKIPPED = ("infonce: left out; InfoNCE contrasts two augmented views of each input, and a Dataset of "
                   "(input, class) pairs gives one view (no augmentation is known for your inputs); train it with "
                   "a loss of your own that augments inside the call")


def _as_float(emb: Tensor | np.ndarray) -> np.ndarray:
    return np.asarray(torch.as_tensor(emb).detach().cpu().double().numpy(), dtype=np.float64)


def _seen(emb: np.ndarray, distance: str) -> np.ndarray:
    """The embeddings as the distance sees them: unit rows for ``"cosine"`` (a zero row stays zero)."""
    if distance == "cosine":
        norm = np.linalg.norm(emb, axis=1, keepdims=True)
        return emb / np.maximum(norm, 1e-12)
    return emb


def nearest(embeddings: Tensor | np.ndarray, *, distance: str = "cosine", k: int | None = None) -> np.ndarray:
    """``(N, k)`` indices of each item's ``k`` nearest other items (default all ``N - 1``), nearest first; ties in
    distance go to the earlier item (a stable sort)."""
    if distance not in DISTANCES:
        raise LabError(f"nearest: distance must be one of {', '.join(DISTANCES)}, but got {distance!r}; pass "
                       "distance='cosine'")
    x = _seen(_as_float(embeddings), distance)
    n = x.shape[0]
    k = n - 1 if k is None else min(int(k), n - 1)
    sq = (x * x).sum(1)
    out = np.empty((n, max(k, 0)), dtype=np.int64)
    for start in range(0, n, BLOCK):
        q = x[start : start + BLOCK]
        if distance == "cosine":
            d = 1.0 - q @ x.T
        else:
            d = np.sqrt(np.maximum(sq[start : start + BLOCK, None] + sq[None, :] - 2.0 * (q @ x.T), 0.0))
        rows = np.arange(q.shape[0])
        d[rows, start + rows] = np.inf  # the query is not its own reference
        out[start : start + q.shape[0]] = np.argsort(d, axis=1, kind="stable")[:, :k]
    return out


def retrieval_metrics(embeddings: Tensor | np.ndarray, labels: Tensor | np.ndarray, *, distance: str = "cosine",
                      ks: Sequence[int] = (1, 5)) -> dict[str, float]:
    """``map_at_r`` and ``recall_at_k`` for each ``k`` of ``ks`` of ``embeddings`` ``(N, D)`` with class
    ``labels`` ``(N,)``, every item a query against the others (see the module docstring). NaN when no item shares
    its class with another."""
    y = np.asarray(torch.as_tensor(labels).detach().cpu().numpy()).reshape(-1)
    x = _as_float(embeddings)
    if x.ndim != 2 or x.shape[0] != y.shape[0]:
        raise LabError(f"retrieval_metrics: embeddings must be (N, D) with N = {y.shape[0]} labels, but got "
                       f"{_shape(x)}; pass one embedding per label")
    _, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    r = counts[inverse] - 1  # same-class references of each query
    kept = r > 0
    names = ["map_at_r", *(f"recall_at_{k}" for k in ks)]
    if not kept.any():
        return {m: float("nan") for m in names}
    order = nearest(x, distance=distance, k=max(int(r.max()), *ks))
    rel = (y[order] == y[:, None])[kept]  # (queries, k) a same-class reference at rank i
    r_kept = r[kept]
    ranks = np.arange(1, rel.shape[1] + 1)
    within = ranks[None, :] <= r_kept[:, None]
    precision = np.cumsum(rel, axis=1) / ranks[None, :]
    ap_at_r = (precision * rel * within).sum(1) / r_kept
    out = {"map_at_r": float(ap_at_r.mean())}
    for k in ks:
        out[f"recall_at_{k}"] = float(rel[:, :k].any(1).mean())
    return out


def projection(embeddings: Tensor | np.ndarray, *, distance: str = "cosine") -> np.ndarray:
    """The embeddings (as the distance sees them) on their first two principal components, ``(N, 2)`` float32
    (numpy's SVD of the centred rows; a second zero column when ``D = 1``)."""
    x = _seen(_as_float(embeddings), distance)
    x = x - x.mean(0, keepdims=True)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    p = x @ vt[:2].T
    if p.shape[1] < 2:
        p = np.concatenate([p, np.zeros((p.shape[0], 2 - p.shape[1]))], 1)
    return p.astype(np.float32)


@dataclass(frozen=True)
class RetrievalTask(Task):
    """Embeddings ``(N, D)`` trained on class labels, evaluated by nearest neighbours with ``distance``."""

    distance: str = "cosine"

    def for_head(self, head: str) -> Task:
        return dataclasses.replace(self, distance=head) if head in DISTANCES else self

    def target(self, y: Tensor) -> Tensor:
        return y.reshape(-1).long()

    def check_output(self, out: Tensor, y: Tensor, num_classes: int | None, where: str) -> None:
        n = y.shape[0]
        if out.ndim != 2 or out.shape[0] != n:
            raise LabError(f"{where}: the model's output must be ({n}, D) embeddings for the retrieval task, but got "
                           f"{_shape(out)}; make the model's last layer output one D-dimensional vector per item")

    def loss_input(self, head: str, out: Tensor) -> Tensor:
        return out.float()

    def loss_target(self, head: str, y: Tensor, out: Tensor) -> Tensor:
        return self.target(y)

    def probabilities(self, out: np.ndarray) -> np.ndarray:
        """No probabilities: the embeddings as the distance sees them."""
        return _seen(_as_float(out), self.distance).astype(np.float32)

    def scores(self, y: np.ndarray, out: np.ndarray, train_counts: Sequence[int] | None
               ) -> tuple[dict[str, object], np.ndarray, np.ndarray | None]:
        """The metrics, and as the predictions the test embeddings' 2-D projection (:func:`projection`)."""
        metrics: dict[str, object] = dict(retrieval_metrics(out, y, distance=self.distance))
        metrics["distance"] = self.distance
        return metrics, projection(out, distance=self.distance), None

    def criterion(self, y_val: np.ndarray, num_classes: int | None) -> str:
        return "metric"

    def validation(self, y: np.ndarray, out: np.ndarray, criterion: str, num_classes: int | None
                   ) -> tuple[float, float, float]:
        """MAP@R of the validation split against itself; ties by Recall@1."""
        m = retrieval_metrics(out, y, distance=self.distance, ks=(1,))
        return m["map_at_r"], m["map_at_r"], m["recall_at_1"]


RETRIEVAL: RetrievalTask = RetrievalTask("retrieval", METRICS, METRICS)
"""The registered task (:data:`losskit.lab.tasks.TASKS` ``["retrieval"]``)."""


@dataclass(frozen=True)
class _Entry:
    loss: str
    options: dict[str, Any]
    distance: str
    summary: str
    centres: bool = False


RETRIEVAL_LOSSES: dict[str, _Entry] = {
    "contrastive": _Entry("ContrastiveLoss", {"pos_margin": 0.0, "neg_margin": 1.0, "normalize_embeddings": True},
                          "cosine", "pairs: same-class distances pulled to 0, other-class ones pushed past 1 "
                          "(Hadsell et al. 2006); the baseline"),
    "triplet": _Entry("BatchHardTripletLoss", {"margin": 0.2, "normalize_embeddings": True}, "cosine",
                      "the hardest positive and negative of each anchor in the batch, margin 0.2 (Hermans et al. "
                      "2017)"),
    "supcon": _Entry("SupConLoss", {"temperature": 0.1}, "cosine",
                     "every same-class item of the batch a positive, temperature 0.1 (Khosla et al. 2020)"),
    "arcface": _Entry("ArcFaceLoss", {"margin": 0.5, "scale": 30.0}, "cosine",
                      "softmax over learnable class centres with an additive angular margin 0.5, scale 30 (Deng "
                      "et al. 2019)", centres=True),
    "cosface": _Entry("CosFaceLoss", {"margin": 0.35, "scale": 30.0}, "cosine",
                      "softmax over learnable class centres with a cosine margin 0.35, scale 30 (Wang et al. 2018)",
                      centres=True),
}
"""The retrieval candidates by name; ``infonce`` is named too but left out (:data:`INFONCE_SKIPPED`)."""


def _embedding_dim(model_fn: Callable[[], nn.Module], x: Any, where: str) -> int:
    """D of ``model_fn()`` on two inputs (the caller's torch generator is kept)."""
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(0)
        model = model_fn()
        if not isinstance(model, nn.Module):
            raise LabError(f"{where}: model_fn() must return a torch.nn.Module, but got {type(model).__name__}; "
                           "return a fresh model from the model function")
        model.eval()
        out = model(x)
    if not isinstance(out, Tensor) or out.ndim != 2:
        got = _shape(out) if isinstance(out, Tensor) else type(out).__name__
        raise LabError(f"{where}: the model's output must be (N, D) embeddings for the retrieval task, but got "
                       f"{got}; make the model's last layer output one D-dimensional vector per item")
    return int(out.shape[1])


def _first_inputs(part: Any) -> Tensor:
    tensors = getattr(part, "tensors", None)
    if isinstance(tensors, tuple) and tensors:
        return tensors[0][:2]
    if isinstance(part, torch.utils.data.DataLoader):
        return torch.as_tensor(next(iter(part))[0])[:2]
    return torch.stack([torch.as_tensor(part[i][0]) for i in range(min(2, len(part)))])


def retrieval_losses(losses: Any, splits: Any, model_fn: Callable[[], nn.Module], candidates: int,
                     where: str = "compare") -> tuple[list[LossSpec], list[str]]:
    """The retrieval losses to train and why: ``"auto"`` (every loss of :data:`RETRIEVAL_LOSSES`, contrastive the
    baseline; the menu is short, so ``candidates`` does not cut it), names (``"supcon,arcface"``), or a list /
    mapping mixing names and loss Modules or callables ``loss(embeddings, labels)``. ``splits``: the first run's
    :class:`~losskit.lab.train_torch.Splits`."""
    import losskit

    from .. import advisor
    from .byo import LossSpec, _own

    y = np.concatenate([splits.y_train, splits.y_val, splits.y_test])
    if y.ndim != 1 or y.dtype.kind not in "biu":
        raise LabError(f"{where}: retrieval targets must be one class index per item, but got "
                       f"{'targets of shape ' + str(splits.y_train.shape[1:]) if y.ndim != 1 else y.dtype} per item; "
                       "return (input, class index) pairs")
    classes = int(y.max()) + 1
    counts = np.bincount(splits.y_train.astype(np.int64), minlength=classes)
    advice = [f"retrieval: {classes} classes, {int(counts.min())} to {int(counts.max())} training items per class; "
              "the test split is queried against itself (MAP@R, Recall@1, Recall@5)"]
    dim: list[int] = []

    def menu(name: str, rank: int, label: str | None) -> LossSpec:
        entry = RETRIEVAL_LOSSES[name]
        options = dict(entry.options)
        if entry.centres:
            if not dim:
                dim.append(_embedding_dim(model_fn, _first_inputs(splits.train), where))
            options = {"num_classes": classes, "embedding_dim": dim[0], **options}
        with torch.random.fork_rng(devices=[]):  # centres: the same start in every run (deep copies)
            torch.manual_seed(0)
            module = getattr(losskit, entry.loss)(**options)
        shown = ", ".join(f"{k}={v!r}" for k, v in options.items())
        cand = advisor.Candidate(rank, label or name, entry.loss, options, [entry.summary],
                                 f"loss_fn = losskit.{entry.loss}({shown})", baseline=name == "contrastive" and
                                 label in (None, name))
        return LossSpec(cand, entry.distance, module, menu=name)

    def own(value: Any, label: str | None, rank: int) -> LossSpec:
        spec = _own(value, label, rank, where)
        spec.head = getattr(value, "distance", "euclidean")
        if spec.head not in DISTANCES:
            raise LabError(f"{where}: a retrieval loss's distance attribute must be one of {', '.join(DISTANCES)}, "
                           f"but got {spec.head!r}; set distance = 'cosine' or 'euclidean'")
        return spec

    def known(name: str) -> str:
        key = name.strip().lower()
        if key in ("infonce", "info_nce"):
            return "infonce"
        if key not in RETRIEVAL_LOSSES:
            raise LabError(f"{where}: retrieval losses must be among {', '.join(RETRIEVAL_LOSSES)} (or your own "
                           f"Modules), but got {name!r}; pass e.g. losses='contrastive,supcon'")
        return key

    items: list[tuple[str | None, Any]]
    if isinstance(losses, str) and losses.strip().lower() == "auto":
        items = [(None, n) for n in RETRIEVAL_LOSSES]
        advice.append(INFONCE_SKIPPED)
    elif isinstance(losses, Mapping):
        items = [(str(k), v) for k, v in losses.items()]
    elif isinstance(losses, str):
        items = [(None, n) for n in losses.split(",") if n.strip()]
    elif callable(losses):
        items = [(None, losses)]
    elif isinstance(losses, Sequence):
        items = [(None, v) for v in losses]
    else:
        raise LabError(f"{where}: losses must be 'auto', names, a list or a mapping, but got "
                       f"{type(losses).__name__}; pass e.g. losses='contrastive,supcon'")
    specs: list[LossSpec] = []
    for label, value in items:
        if isinstance(value, str):
            key = known(value)
            if key == "infonce":
                if INFONCE_SKIPPED not in advice:
                    advice.append(INFONCE_SKIPPED)
                continue
            specs.append(menu(key, len(specs) + 1, label))
        else:
            specs.append(own(value, label, len(specs) + 1))
    if not specs:
        raise LabError(f"{where}: losses must name at least one retrieval loss that can train, but got {losses!r}; "
                       "pass e.g. losses='contrastive,supcon'")
    for s in specs:
        advice.append(f"{s.name}: {'; '.join(s.candidate.reasons)}; measured with the {s.head} distance")
    return specs, advice


def plot_projection(result: CompareResult, splits: Sequence[Prepared]) -> Any | None:
    """One panel per trained loss: its first run's test embeddings on their first two principal components
    (:func:`projection`), coloured by class. ``None`` unless the task is retrieval."""
    if result.task != "retrieval":
        return None
    import matplotlib.pyplot as plt

    rows = [s for s in result.summaries if s.kind == "loss" and s.runs]
    if not rows:
        return None
    cols = min(3, len(rows))
    nrow = -(-len(rows) // cols)
    fig = plt.figure(figsize=(3.6 * cols, 3.3 * nrow))
    for k, s in enumerate(rows):
        run = s.runs[0]
        y = np.asarray(splits[0].y_test).reshape(-1)
        p = np.asarray(run.predictions)
        ax = fig.add_subplot(nrow, cols, k + 1)
        ax.scatter(p[:, 0], p[:, 1], c=y, cmap="tab10" if y.max() < 10 else "tab20", s=7, alpha=0.8, linewidths=0)
        m = run.metrics
        ax.set_title(f"{s.name}: MAP@R {float(m['map_at_r']):.3f}, R@1 {float(m['recall_at_1']):.3f}",  # type: ignore[arg-type]
                     fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig
