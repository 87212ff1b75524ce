"""One training run of the lab: the MLP, AdamW, mini-batches, early stopping on the validation criterion with the
best checkpoint kept, optional bf16 autocast and gradient accumulation.

The checkpoint criterion is the validation metric (balanced accuracy, or MAE for regression), with ties between
epochs broken by the class-balanced validation log-loss (the mean over the classes of ``-mean log p_y`` within the
class: a smooth proper score that weighs every class alike and is the same for every loss), so that a balanced
accuracy that saturates on a few dozen rows does not keep the first, undertrained epoch that reached it. When a
class has fewer than :data:`FEW_VALIDATION_ROWS` validation rows, a balanced accuracy over a handful of rows moves
in big steps and picks early, lucky epochs, so the criterion is the class-balanced validation log-loss alone.

Under a process group of several ranks (``torchrun``) the run is data-parallel (:mod:`losskit.lab.ddp`): each
rank trains on its shard of every mini-batch with the loss of the whole mini-batch, and the results equal the
single-process run up to float32 summation order."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from .. import distributed as lkd
from ..advisor import INTERVAL_QUANTILES
from .data import Prepared
from .ddp import PROBE_ROWS, DataParallelRun
from .metrics import balanced_accuracy, classification_metrics, interval_metrics, regression_metrics

__all__ = ["FEW_VALIDATION_ROWS", "RunResult", "TrainConfig", "checkpoint_criterion", "make_mlp", "train_run"]

FEW_VALIDATION_ROWS = 10
"""Below this many validation rows in some class, checkpoints are chosen by the class-balanced log-loss."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything that is the same for every loss."""

    epochs: int = 40
    patience: int = 10
    """Stop after this many epochs without a better validation criterion (0: never stop early)."""
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 1e-2
    hidden: tuple[int, ...] = (128, 64)
    dropout: float = 0.1
    amp: bool = False
    """bf16 autocast on CPU for the forward pass; the loss is computed in float32."""
    accumulate: int = 1
    """Gradient accumulation: one optimizer step every ``accumulate`` mini-batches."""


def make_mlp(in_features: int, out_features: int, hidden: Sequence[int] = (128, 64), dropout: float = 0.1) -> nn.Module:
    """The lab's default network: ``Linear -> ReLU -> Dropout`` per hidden layer, then a linear head."""
    layers: list[nn.Module] = []
    width = in_features
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(dropout)]
        width = h
    layers.append(nn.Linear(width, out_features))
    return nn.Sequential(*layers)


@dataclass
class RunResult:
    """One loss, one seed."""

    loss: str
    seed: int
    train_losses: list[float]
    val_losses: list[float]
    val_metrics: list[float]
    best_epoch: int
    stopped_early: bool
    metrics: dict[str, object]
    """Test metrics of the best checkpoint."""
    seconds: float
    predictions: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    """Test predictions: class indices, or values in the target's units."""
    probabilities: np.ndarray | None = field(repr=False, default=None)
    """Classification: test class probabilities ``(N, C)`` of the best checkpoint."""
    val_probabilities: np.ndarray | None = field(repr=False, default=None)
    """Classification: validation class probabilities ``(N, C)`` of the best checkpoint."""
    criterion: str = "metric"
    """What chose the checkpoint: ``"metric"`` or ``"balanced_log_loss"`` (:func:`checkpoint_criterion`)."""
    split: int = 0
    """The split this run used (``compare``: run ``r`` uses split ``r`` and seed ``r``)."""
    last_gain: int | None = None
    """The last epoch that bettered the criterion itself (not just its tie-break); default ``best_epoch``."""

    @property
    def still_improving(self) -> bool:
        """Ran every epoch and the criterion still got better in the last tenth of them: more epochs would likely
        help."""
        ran = len(self.train_losses)
        gain = self.best_epoch if self.last_gain is None else self.last_gain
        return not self.stopped_early and ran >= 2 and gain > ran - max(1, ran // 10)


def checkpoint_criterion(data: Prepared) -> str:
    """``"balanced_log_loss"`` when some class has fewer than :data:`FEW_VALIDATION_ROWS` validation rows, else
    ``"metric"`` (the validation metric)."""
    if data.task == "regression":
        return "metric"
    counts = np.bincount(np.asarray(data.y_val, dtype=np.int64), minlength=data.num_classes or 0)
    return "balanced_log_loss" if counts.min() < FEW_VALIDATION_ROWS else "metric"


def _balanced_log_loss(y: np.ndarray, probs: np.ndarray) -> float:
    nll = -np.log(np.clip(probs[np.arange(y.size), y], 1e-15, 1.0))
    return float(np.mean([nll[y == k].mean() for k in np.unique(y)]))


def _head(kind: str, task: str, num_classes: int | None) -> int:
    if kind == "logits":
        return num_classes or 2
    if kind == "ordinal":  # one logit per threshold between the ordered classes
        return (num_classes or 2) - 1
    if kind == "sigmoid":
        return 1
    if kind == "quantiles":  # one output per quantile, in increasing order
        return len(INTERVAL_QUANTILES)
    return 1


def _targets(kind: str, y: np.ndarray) -> Tensor:
    if kind in ("logits", "ordinal"):
        return torch.as_tensor(y, dtype=torch.long)
    if kind == "sigmoid":
        return torch.as_tensor(y, dtype=torch.float32).reshape(-1, 1)
    return torch.as_tensor(y, dtype=torch.float32).reshape(-1)


def _output(kind: str, out: Tensor) -> Tensor:
    out = out.float()
    return out.reshape(-1) if kind == "value" else out


def _point(kind: str, out: Tensor) -> Tensor:
    """The point prediction ``(N,)`` of a regression head: the value, or the median of the quantiles."""
    out = _output(kind, out)
    return out[:, INTERVAL_QUANTILES.index(0.5)] if kind == "quantiles" else out


def _quantile_metrics(data: Prepared, out: Tensor) -> tuple[np.ndarray, dict[str, float]]:
    """The median (target units) and :func:`interval_metrics` of [q0.1, q0.9] on the test split. The predictions of
    each row are sorted first (rearrangement, Chernozhukov et al., 2010): crossed quantiles become an interval."""
    q = np.sort(np.stack([data.to_original(c) for c in out.float().numpy().T], 1), axis=1)
    median = q[:, INTERVAL_QUANTILES.index(0.5)]
    return median, interval_metrics(np.asarray(data.y_test), q[:, 0], q[:, -1])


def _probs(kind: str, out: Tensor) -> np.ndarray:
    if kind == "logits":
        return torch.softmax(out.float(), 1).numpy()
    if kind == "ordinal":
        from ..functional.ordinal import ordinal_probabilities

        return ordinal_probabilities(out).numpy()
    p = torch.sigmoid(out.float().reshape(-1)).numpy()
    return np.stack([1.0 - p, p], 1)


def train_run(
    loss_name: str,
    loss_fn: nn.Module,
    head: str,
    data: Prepared,
    seed: int,
    config: TrainConfig,
    *,
    model_fn: Callable[[int, int], nn.Module] | None = None,
    on_epoch: Callable[[], None] | None = None,
) -> RunResult:
    """Train one model with ``loss_fn`` and evaluate its best checkpoint on the test split.

    ``seed`` seeds the initialisation, the batch order and dropout, so two losses trained with the same seed on the
    same ``data`` start from the same weights (but for a head of another width) and see the same batches."""
    start = time.perf_counter()
    classification = data.task != "regression"
    torch.manual_seed(seed)
    n_out = _head(head, data.task, data.num_classes)
    model = (model_fn or (lambda i, o: make_mlp(i, o, config.hidden, config.dropout)))(data.X_train.shape[1], n_out)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    gen = torch.Generator().manual_seed(seed)
    Xtr, Xva, Xte = (torch.as_tensor(a) for a in (data.X_train, data.X_val, data.X_test))
    ytr, yva = _targets(head, data.y_train), _targets(head, data.y_val)
    y_val_np = np.asarray(data.y_val)

    def forward(x: Tensor, net: nn.Module = model) -> Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=config.amp):
            return net(x)

    parallel = None
    if lkd.is_distributed():
        probe_y = ytr[:PROBE_ROWS]  # the same on every rank, so every rank picks the same loss strategy
        probe = torch.randn((len(probe_y), n_out), generator=torch.Generator().manual_seed(0))
        parallel = DataParallelRun(model, loss_fn, head, _output(head, probe), probe_y)

    criterion = checkpoint_criterion(data)
    C = data.num_classes or 2

    def validation_scores(out: Tensor) -> tuple[float, float, float]:
        """The validation metric (for the curves) and the criterion, compared as a pair (higher is better)."""
        if classification:
            probs = _probs(head, out)
            metric = balanced_accuracy(y_val_np, probs.argmax(1), C)
            smooth = -_balanced_log_loss(y_val_np, probs)
            return metric, (metric if criterion == "metric" else smooth), smooth
        mae = float(np.abs(_point(head, out).numpy() - y_val_np).mean())
        return mae, -mae, 0.0

    train_losses: list[float] = []
    val_losses: list[float] = []
    val_metrics: list[float] = []
    best_score, best_epoch, best_state = (-np.inf, -np.inf), 0, copy.deepcopy(model.state_dict())
    last_gain = 0
    stopped = False
    n = len(Xtr)
    for epoch in range(1, config.epochs + 1):
        model.train()
        order = torch.randperm(n, generator=gen)
        total, count = 0.0, 0
        opt.zero_grad(set_to_none=True)
        batches = [order[i : i + config.batch_size] for i in range(0, n, config.batch_size)]
        for b, idx in enumerate(batches, start=1):
            step = b % config.accumulate == 0 or b == len(batches)
            if parallel is not None:  # this rank's shard, the whole batch's loss; DDP averages the gradients
                loss = parallel.backward(lambda net, x: _output(head, forward(x, net)), Xtr, ytr, idx,
                                         accumulate=config.accumulate, sync=step)
            else:
                loss = loss_fn(_output(head, forward(Xtr[idx])), ytr[idx])
                (loss / config.accumulate).backward()
            if step:
                opt.step()
                opt.zero_grad(set_to_none=True)
            total += float(loss.detach()) * len(idx)
            count += len(idx)
        train_losses.append(total / max(count, 1))
        model.eval()
        with torch.no_grad():
            out = forward(Xva)
            val_losses.append(float(loss_fn(_output(head, out), yva)))
            metric, score, tie = validation_scores(out)
        if parallel is not None:
            metric, score, tie = parallel.agree(metric), parallel.agree(score), parallel.agree(tie)
        val_metrics.append(metric)
        if on_epoch is not None:
            on_epoch()
        if score > best_score[0]:
            last_gain = epoch
        if (score, tie) > best_score:
            best_score, best_epoch, best_state = (score, tie), epoch, copy.deepcopy(model.state_dict())
        elif config.patience and epoch - best_epoch >= config.patience:
            stopped = True
            break
    model.load_state_dict(best_state)
    model.eval()
    with torch.no_grad():
        out = forward(Xte)
        val_out = forward(Xva)
    probs = val_probs = None
    if classification:
        probs = _probs(head, out)
        val_probs = _probs(head, val_out)
        metrics = classification_metrics(np.asarray(data.y_test), probs)
        counts = np.asarray(data.train_counts)
        rare = int(np.argmin(np.where(counts > 0, counts, counts.max() + 1)))
        metrics["minority_recall"] = metrics["per_class_recall"][rare]  # type: ignore[index]
        predictions = probs.argmax(1)
    else:
        interval: dict[str, float | None] = {"interval_coverage": None, "interval_width": None}  # point losses
        if head == "quantiles":
            predictions, interval = _quantile_metrics(data, out)  # type: ignore[assignment]
        else:
            predictions = data.to_original(_output(head, out).numpy())  # the target's units
        metrics = {**regression_metrics(np.asarray(data.y_test), predictions), **interval}
    return RunResult(loss_name, seed, train_losses, val_losses, val_metrics, best_epoch, stopped, metrics,
                     time.perf_counter() - start, predictions, probs, val_probs, criterion, 0, last_gain)
