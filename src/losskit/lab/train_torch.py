"""One training run of the lab on your own model and ``torch.utils.data`` data: the model from ``model_fn()`` (called
after the run's seed is set, so every loss of a run starts from the same weights), the optimizer, mini-batches from
a ``DataLoader``, early stopping on the validation criterion of the task (:mod:`losskit.lab.tasks`) with the best
checkpoint kept, optional bf16 autocast on CPU and gradient accumulation.

:class:`Splits` holds the three datasets of one run with their targets, read once and checked: every item must be
an ``(input, target)`` pair.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from ._extras import LabError
from .tasks import Task
from .train import RunResult

__all__ = ["OPTIMIZERS", "Splits", "TorchConfig", "fit", "load_splits", "make_small_cnn"]

OPTIMIZERS = ("adamw", "adam", "sgd")
PARTS = ("train", "validation", "test")


@dataclass(frozen=True)
class TorchConfig:
    """Everything that is the same for every loss."""

    epochs: int = 20
    patience: int = 5
    """Stop after this many epochs without a better validation criterion (0: never stop early)."""
    batch_size: int = 128
    optimizer: str = "adamw"
    """``"adamw"``, ``"adam"`` or ``"sgd"`` (momentum 0.9)."""
    lr: float = 3e-3
    weight_decay: float = 1e-2
    amp: bool = False
    """bf16 autocast on CPU for the forward pass; the loss is computed in float32."""
    accumulate: int = 1
    """Gradient accumulation: one optimizer step every ``accumulate`` mini-batches."""


def make_small_cnn(channels: int = 1, classes: int = 10, width: int = 16) -> nn.Module:
    """A small CNN for little images (8x8 digits and up): two 3x3 convolutions with ReLU, average pooling to 4x4
    and a linear head of ``classes`` outputs."""
    return nn.Sequential(
        nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(),
        nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(2 * width * 16, classes),
    )


@dataclass
class Splits:
    """The train, validation and test data of one run, with their targets as numpy arrays."""

    train: Any
    val: Any
    test: Any
    y_train: np.ndarray
    y_val: np.ndarray
    y_test: np.ndarray
    split: int = 0
    """The split seed (repeated splits), or 0 for a fixed split."""
    input_shape: tuple[int, ...] = ()

    @property
    def sizes(self) -> tuple[int, int, int]:
        return len(self.y_train), len(self.y_val), len(self.y_test)


def _targets(part: Any, name: str, where: str) -> tuple[np.ndarray, tuple[int, ...]]:
    """The targets of a Dataset or DataLoader of ``(input, target)`` pairs, stacked; and one input's shape."""
    tensors = getattr(part, "tensors", None)
    if isinstance(tensors, tuple) and len(tensors) == 2 and all(isinstance(t, Tensor) for t in tensors):
        return tensors[1].detach().cpu().numpy(), tuple(tensors[0].shape[1:])  # TensorDataset: no item reads
    if isinstance(part, DataLoader):
        items: Any = iter(part)
        batched = True
    elif hasattr(part, "__getitem__") and hasattr(part, "__len__"):
        items = (part[i] for i in range(len(part)))
        batched = False
    else:
        raise LabError(f"{where}: the {name} data must be a map-style torch Dataset or a DataLoader of (input, target) "
                       f"pairs, but got {type(part).__name__}; pass e.g. torch.utils.data.TensorDataset(x, y)")
    ys: list[Tensor] = []
    shape: tuple[int, ...] = ()
    for k, item in enumerate(items):
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            what = f"a {type(item).__name__}" + (f" of length {len(item)}" if isinstance(item, (tuple, list)) else "")
            raise LabError(f"{where}: every {'batch' if batched else 'item'} of the {name} data must be an (input, "
                           f"target) pair, but got {what} at index {k}; return (x, y) from __getitem__")
        x, y = item
        try:
            y = torch.as_tensor(y)
        except (TypeError, ValueError, RuntimeError):
            raise LabError(f"{where}: the targets of the {name} data must be numbers or tensors, but got "
                           f"{type(y).__name__} at index {k}; return (x, y) with y a class index, a value or a 0/1 "
                           "vector") from None
        if not shape:
            shape = tuple(torch.as_tensor(x).shape[1 if batched else 0:])
        ys.append(y if batched else y.unsqueeze(0))
    if not ys:
        raise LabError(f"{where}: the {name} data must hold at least one (input, target) pair, but got none; check "
                       "the dataset")
    try:
        return torch.cat(ys).detach().cpu().numpy(), shape
    except RuntimeError as err:
        raise LabError(f"{where}: the targets of the {name} data must all have one shape, but got {err}; return "
                       "targets of one shape") from None


def load_splits(data: Any, where: str = "compare", split: int = 0) -> Splits:
    """Check ``data`` = ``(train, val, test)`` and read its targets."""
    if not isinstance(data, (tuple, list)) or len(data) != 3:
        got = f"a {type(data).__name__}" + (f" of length {len(data)}" if isinstance(data, (tuple, list)) else "")
        raise LabError(f"{where}: data must be (train, val, test) datasets, but got {got}; return "
                       "(train, val, test) from the data function")
    ys, shapes = [], []
    for part, name in zip(data, PARTS):
        y, shape = _targets(part, name, where)
        ys.append(y)
        shapes.append(shape)
    for y, name in zip(ys[1:], PARTS[1:]):
        if y.shape[1:] != ys[0].shape[1:]:
            raise LabError(f"{where}: the {name} targets must have the training targets' shape per item "
                           f"{ys[0].shape[1:]}, but got {y.shape[1:]}; return targets of one shape")
    train, val, test = data
    return Splits(train, val, test, ys[0], ys[1], ys[2], split=split, input_shape=shapes[0])


def make_optimizer(name: str, params: Any, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)


class _TensorBatches:
    """Mini-batches of a ``TensorDataset`` by slicing its tensors: the batches a ``DataLoader`` with the same
    ``shuffle`` and generator would give, without a Python call per item (20x faster on 8x8 images)."""

    def __init__(self, part: TensorDataset, batch_size: int, shuffle: bool, seed: int) -> None:
        self.tensors, self.batch_size, self.shuffle = part.tensors, batch_size, shuffle
        self.gen = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return -(-len(self.tensors[0]) // self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, ...]]:
        n = len(self.tensors[0])
        order = torch.randperm(n, generator=self.gen) if self.shuffle else None
        for i in range(0, n, self.batch_size):
            if order is None:
                yield tuple(t[i : i + self.batch_size] for t in self.tensors)
            else:
                idx = order[i : i + self.batch_size]
                yield tuple(t[idx] for t in self.tensors)


def _loader(part: Any, batch_size: int, shuffle: bool, seed: int) -> Any:
    if isinstance(part, DataLoader):
        return part
    if type(part) is TensorDataset and len(part.tensors) == 2:
        return _TensorBatches(part, batch_size, shuffle, seed)
    gen = torch.Generator().manual_seed(seed)
    return DataLoader(part, batch_size=batch_size, shuffle=shuffle, generator=gen if shuffle else None)


def fit(
    loss_name: str,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    head: str,
    task: Task,
    splits: Splits,
    seed: int,
    config: TorchConfig,
    model_fn: Callable[[], nn.Module],
    *,
    num_classes: int | None = None,
    train_counts: list[int] | None = None,
    on_epoch: Callable[[], None] | None = None,
    on_model: Callable[[nn.Module], None] | None = None,
    where: str = "compare",
) -> RunResult:
    """Train ``model_fn()`` with ``loss_fn`` and evaluate its best checkpoint on the test data.

    ``seed`` seeds torch before ``model_fn()`` is called (the initial weights), the batch order and dropout, so two
    losses trained with the same seed start from the same weights and see the same batches."""
    start = time.perf_counter()
    torch.manual_seed(seed)
    model = model_fn()
    if not isinstance(model, nn.Module):
        raise LabError(f"{where}: model_fn() must return a torch.nn.Module, but got {type(model).__name__}; return "
                       "a fresh model from the model function")
    if on_model is not None:
        on_model(model)
    # a loss with parameters (ArcFace's and CosFace's class centres) trains with the model, without weight decay
    extra = [p for p in loss_fn.parameters() if p.requires_grad] if isinstance(loss_fn, nn.Module) else []
    groups: list[dict[str, Any]] = [{"params": list(model.parameters())}]
    if extra:
        groups.append({"params": extra, "weight_decay": 0.0})
    opt = make_optimizer(config.optimizer, groups, config.lr, config.weight_decay)
    train = _loader(splits.train, config.batch_size, True, seed)
    evaluate = [_loader(p, max(256, config.batch_size), False, seed) for p in (splits.val, splits.test)]

    def forward(x: Tensor, check: Tensor | None = None) -> Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=config.amp):
            out = model(x)
        if not isinstance(out, Tensor):
            raise LabError(f"{where}: the model must return a tensor, but got {type(out).__name__}; return the "
                           "logits (or values) tensor from forward")
        if check is not None:
            task.check_output(out, check, num_classes, where)
        return out.float()

    def outputs(loader: Any) -> Tensor:
        with torch.no_grad():
            return torch.cat([forward(torch.as_tensor(x)) for x, _ in loader])

    def loss_of(out: Tensor, y: Tensor) -> Tensor:
        return loss_fn(task.loss_input(head, out), task.loss_target(head, y, out))

    criterion = task.criterion(splits.y_val, num_classes)
    y_val_t = torch.as_tensor(splits.y_val)
    train_losses: list[float] = []
    val_losses: list[float] = []
    val_metrics: list[float] = []
    best_score, best_epoch, best_state = (-np.inf, -np.inf), 0, copy.deepcopy(model.state_dict())
    last_gain, stopped, checked = 0, False, False
    for epoch in range(1, config.epochs + 1):
        model.train()
        total, count = 0.0, 0
        opt.zero_grad(set_to_none=True)
        batches = len(train)
        for b, (x, y) in enumerate(train, start=1):
            y = torch.as_tensor(y)
            out = forward(torch.as_tensor(x), None if checked else y)
            checked = True
            loss = loss_of(out, y)
            if not isinstance(loss, Tensor) or loss.ndim != 0:
                got = f"shape {tuple(loss.shape)}" if isinstance(loss, Tensor) else type(loss).__name__
                raise LabError(f"{where}: loss {loss_name!r} must return a scalar tensor, but got {got}; reduce it "
                               "with .mean()")
            (loss / config.accumulate).backward()
            if b % config.accumulate == 0 or b == batches:
                opt.step()
                opt.zero_grad(set_to_none=True)
            total += float(loss.detach()) * len(y)
            count += len(y)
        train_losses.append(total / max(count, 1))
        model.eval()
        out = outputs(evaluate[0])
        with torch.no_grad():
            val_losses.append(float(loss_of(out, y_val_t)))
        metric, score, tie = task.validation(splits.y_val, out.numpy(), criterion, num_classes)
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
    test_out = outputs(evaluate[1]).numpy()
    val_out = outputs(evaluate[0]).numpy()
    metrics, predictions, probs = task.scores(splits.y_test, test_out, train_counts)
    val_probs = task.probabilities(val_out) if task.name != "regression" else None
    return RunResult(loss_name, seed, train_losses, val_losses, val_metrics, best_epoch, stopped, metrics,
                     time.perf_counter() - start, predictions, probs, val_probs, criterion, splits.split, last_gain)
