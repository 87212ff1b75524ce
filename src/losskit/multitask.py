"""Multi-task composition: named sub-losses, each on its own ``(input, target)``, weighted into one total.

:class:`MultiTaskLoss` replaces the "combined loss" every multi-task tutorial writes by hand
(``loss = w1 * l1 + w2 * l2``) with one object that checks the task names, keeps the parts for logging and
weighs them in one of three ways:

* **static**: fixed weights, ``weights={"depth": 0.5}`` (a task left out weighs 1.0);
* **scheduled**: ``weights=lambda step: {...}``, called at every step (loss warm-up, annealing);
* **uncertainty**: ``strategy="uncertainty"`` learns one log-variance per task (Kendall et al., 2018).

Example:
    >>> import torch, losskit as lk
    >>> from losskit.multitask import MultiTaskLoss
    >>> mtl = MultiTaskLoss({"depth": lk.L1Loss(), "size": lk.MSELoss()}, weights={"depth": 0.5})
    >>> out = mtl({"depth": torch.tensor([1.0, 3.0]), "size": torch.tensor([2.0])},
    ...           {"depth": torch.tensor([0.0, 0.0]), "size": torch.tensor([0.0])})
    >>> print(round(float(out.total), 4), {k: float(v) for k, v in out.parts.items()})
    5.0 {'depth': 2.0, 'size': 4.0}
"""

from __future__ import annotations

import difflib
import functools
import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from . import _validation as V

__all__ = ["MultiTaskLoss", "MultiTaskResult"]

_NAME = "MultiTaskLoss"
_STRATEGIES = ("static", "uncertainty")

Weights = Mapping[str, float] | Callable[[int], Mapping[str, float]] | None


@dataclass(frozen=True)
class MultiTaskResult:
    """What :class:`MultiTaskLoss` returns: the total to backpropagate and, per task, its part and weight.

    Attributes:
        total: the weighted sum (0-dim, differentiable): call ``result.total.backward()``.
        parts: each task's own loss, unweighted and detached (0-dim tensors, for logging).
        weights: the factor each part was multiplied by in this call, detached (0-dim tensors); with
            ``strategy="uncertainty"`` that is ``exp(-s) / 2`` for the current log-variance ``s``.
    """

    total: Tensor
    parts: dict[str, Tensor]
    weights: dict[str, Tensor]


def _quoted(names) -> str:
    return ", ".join(repr(n) for n in names)


def _hint(name: str, choices) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f"did you mean {close[0]!r}? " if close else ""


class MultiTaskLoss(nn.Module):
    r"""A weighted sum of named sub-losses, each applied to its own ``(input, target)``.

    .. math::
        L = \sum_t w_t \, L_t \quad \text{(static or scheduled)}, \qquad
        L = \sum_t \tfrac12 e^{-s_t} L_t + \tfrac12 s_t \quad \text{(uncertainty)}

    With ``strategy="uncertainty"`` each task gets a learned log-variance :math:`s_t = \log \sigma_t^2`
    (a Parameter, initialised to 0, in ``log_vars``; give the module's parameters to the optimizer): Kendall et
    al.'s homoscedastic-uncertainty weighting, eq. (7) form :math:`\frac{1}{2\sigma^2} L + \log \sigma` for
    every task. Minimising over :math:`s_t` gives :math:`\sigma_t^2 = L_t`: a task's weight falls as its loss
    grows. (The common ``exp(-s) * L + s`` re-implementation is twice this, with the same optimum.)

    Args:
        losses: task name -> loss: a losskit or torch Module (moved with ``.to()``, saved in ``state_dict``)
            or any callable ``loss(input, target)`` returning a 0-dim tensor. Names are non-empty strings
            without ``"."``.
        weights: ``None`` (every task 1.0), a mapping task -> weight >= 0 (tasks left out weigh 1.0), or a
            callable ``weights(step) -> mapping`` called at every forward (a schedule). Only with
            ``strategy="static"``.
        strategy: ``"static"`` (default; fixed or scheduled weights) or ``"uncertainty"``.

    ``forward(inputs, targets, *, step=None)`` takes two mappings with exactly one entry per task and returns a
    :class:`MultiTaskResult`. The schedule is called with ``step``, or, when it is ``None``, with the module's
    counter ``self.step``, which counts the forward calls made in training mode (saved in ``state_dict``).

    Raises:
        LossValueError: a task missing from ``inputs``/``targets`` or an entry that is not a task; a weight for
            an unknown task; a sub-loss that does not return a 0-dim tensor.
        LossTypeError: ``losses`` entries that are not callable; ``inputs``/``targets`` that are not mappings.
        LossOptionError: unknown ``strategy``; negative or non-finite weights; ``weights`` with
            ``strategy="uncertainty"``.

    References:
        Kendall, A., Gal, Y., Cipolla, R. "Multi-Task Learning Using Uncertainty to Weigh Losses for Scene
        Geometry and Semantics", 2018.

    Example:
        >>> import torch, losskit as lk
        >>> from losskit.multitask import MultiTaskLoss
        >>> mtl = MultiTaskLoss({"a": lk.MSELoss(), "b": lk.L1Loss()}, strategy="uncertainty")
        >>> out = mtl({"a": torch.tensor([2.0]), "b": torch.tensor([1.0])},
        ...           {"a": torch.tensor([0.0]), "b": torch.tensor([0.0])})
        >>> print(round(float(out.total.detach()), 4), round(float(out.weights["a"]), 4))
        2.5 0.5
    """

    def __init__(
        self,
        losses: Mapping[str, nn.Module | Callable[..., Tensor]],
        *,
        weights: Weights = None,
        strategy: str = "static",
    ) -> None:
        super().__init__()
        if not isinstance(losses, Mapping) or not losses:
            raise V.LossTypeError(
                f"{_NAME}: losses must be a non-empty mapping of task name to loss, but got "
                f"{type(losses).__name__ if not isinstance(losses, Mapping) else 'an empty mapping'}; "
                "pass e.g. {'depth': losskit.L1Loss(), 'seg': losskit.CrossEntropyLoss()}"
            )
        for task, fn in losses.items():
            if not isinstance(task, str) or not task or "." in task:
                raise V.LossValueError(
                    f"{_NAME}: task names must be non-empty strings without '.', but got {task!r}; "
                    "rename the task (e.g. 'depth_l1')"
                )
            if not callable(fn):
                raise V.LossTypeError(
                    f"{_NAME}: the loss of task {task!r} must be an nn.Module or a callable, but got "
                    f"{type(fn).__name__}; pass e.g. losskit.MSELoss() or a function (input, target) -> Tensor"
                )
        if strategy not in _STRATEGIES:
            raise V.LossOptionError(
                f"{_NAME}: strategy must be one of {_quoted(_STRATEGIES)}, but got {strategy!r}; "
                f"{_hint(str(strategy), _STRATEGIES)}pass strategy='static' or strategy='uncertainty'"
            )
        if strategy == "uncertainty" and weights is not None:
            raise V.LossOptionError(
                f"{_NAME}: weights must be None with strategy='uncertainty' (the weights are learned), but got "
                f"{type(weights).__name__}; drop weights, or use strategy='static'"
            )
        self.tasks: tuple[str, ...] = tuple(losses)
        self.strategy = strategy
        self._fns: dict[str, Callable[..., Tensor]] = dict(losses)
        self.loss_modules = nn.ModuleDict({t: f for t, f in losses.items() if isinstance(f, nn.Module)})
        self._schedule: Callable[[int], Mapping[str, float]] | None = None
        self._static: dict[str, float] = {}
        if callable(weights):
            self._schedule = weights
        elif weights is not None:
            self._static = self._check_weights(weights, "weights")
        self.log_vars = (
            nn.ParameterDict({t: nn.Parameter(torch.zeros(())) for t in self.tasks})
            if strategy == "uncertainty"
            else None
        )
        self.step = 0

    # ----------------------------------------------------------------------------------------
    def _check_weights(self, weights: object, arg: str) -> dict[str, float]:
        if not isinstance(weights, Mapping):
            raise V.LossTypeError(
                f"{_NAME}: {arg} must be a mapping of task name to weight, but got {type(weights).__name__}; "
                f"pass e.g. {{{self.tasks[0]!r}: 0.5}}"
            )
        out: dict[str, float] = {}
        for task, w in weights.items():
            if task not in self.tasks:
                raise V.LossValueError(
                    f"{_NAME}: {arg} names {task!r}, which is not a task (tasks: {_quoted(self.tasks)}); "
                    f"{_hint(str(task), self.tasks)}weigh only the tasks given in losses"
                )
            ok = isinstance(w, (int, float)) and not isinstance(w, bool) and math.isfinite(w) and w >= 0
            if not ok:
                raise V.LossOptionError(
                    f"{_NAME}: the weight of task {task!r} must be a finite number >= 0, but got {w!r}; "
                    "pass a float such as 0.5 (0 switches the task off)"
                )
            out[task] = float(w)
        return out

    def _check_entries(self, arg: str, entries: object) -> None:
        if not isinstance(entries, Mapping):
            raise V.LossTypeError(
                f"{_NAME}: {arg} must be a mapping of task name to tensor, but got {type(entries).__name__}; "
                f"pass a dict with the keys {_quoted(self.tasks)}"
            )
        for key in entries:
            if key not in self.tasks:
                raise V.LossValueError(
                    f"{_NAME}: {arg} has an entry {key!r}, which is not a task (tasks: {_quoted(self.tasks)}); "
                    f"{_hint(str(key), self.tasks)}remove it or add a loss for it"
                )
        missing = [t for t in self.tasks if t not in entries]
        if missing:
            raise V.LossValueError(
                f"{_NAME}: {arg} must have one entry per task ({_quoted(self.tasks)}), but got no entry for "
                f"{_quoted(missing)}; pass {arg}[{missing[0]!r}] (or build the loss without that task)"
            )

    def current_weights(self, step: int | None = None) -> dict[str, float]:
        """The static or scheduled weight of every task at ``step`` (default: the module's counter)."""
        if self.strategy == "uncertainty":
            raise V.LossOptionError(
                f"{_NAME}: current_weights needs strategy='static', but got strategy='uncertainty'; read the "
                "learned weights from the weights of the forward's result"
            )
        chosen = self._static
        if self._schedule is not None:
            chosen = self._check_weights(self._schedule(self.step if step is None else step), "weights(step)")
        return {t: chosen.get(t, 1.0) for t in self.tasks}

    # ----------------------------------------------------------------------------------------
    def forward(
        self, inputs: Mapping[str, Any], targets: Mapping[str, Any], *, step: int | None = None
    ) -> MultiTaskResult:
        self._check_entries("inputs", inputs)
        self._check_entries("targets", targets)
        parts: dict[str, Tensor] = {}
        for task in self.tasks:
            value = self._fns[task](inputs[task], targets[task])
            if not isinstance(value, Tensor) or value.dim() != 0:
                got = V.shape_str(value) if isinstance(value, Tensor) else type(value).__name__
                raise V.LossValueError(
                    f"{_NAME}: the loss of task {task!r} must return a 0-dim tensor, but got {got}; "
                    "build it with reduction='mean' or 'sum'"
                )
            parts[task] = value
        if self.strategy == "uncertainty":
            total, used = self._uncertainty(parts)
        else:
            current = self.current_weights(step)
            total = functools.reduce(operator.add, [current[t] * parts[t] for t in self.tasks])
            first = parts[self.tasks[0]]
            used = {t: torch.tensor(current[t], dtype=first.dtype, device=first.device) for t in self.tasks}
        if self.training:
            self.step += 1
        return MultiTaskResult(total, {t: p.detach() for t, p in parts.items()}, used)

    def _uncertainty(self, parts: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        log_vars = self.log_vars
        if log_vars is None:  # not reached: __init__ creates them for this strategy
            raise RuntimeError(f"{_NAME}: strategy 'uncertainty' has no log_vars")
        terms, used = [], {}
        for task in self.tasks:
            s = log_vars[task]
            factor = 0.5 * torch.exp(-s)
            terms.append(factor * parts[task] + 0.5 * s)
            used[task] = factor.detach()
        return functools.reduce(operator.add, terms), used

    # the step counter travels with the checkpoint
    def get_extra_state(self) -> dict[str, int]:
        return {"step": self.step}

    def set_extra_state(self, state: dict[str, int]) -> None:
        self.step = int(state.get("step", 0))

    def extra_repr(self) -> str:
        weights = "scheduled" if self._schedule is not None else (self._static or "1.0 each")
        return f"tasks={self.tasks}, strategy={self.strategy!r}" + (
            f", weights={weights}" if self.strategy == "static" else ""
        )
