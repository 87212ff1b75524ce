"""The loss debugger: one forward and backward pass that reports what usually goes wrong around a loss.

:func:`debug_loss` runs ``loss_fn(model(inputs), targets)`` once and returns a :class:`DebugReport`: the shapes,
dtypes, value ranges and NaN/Inf counts of the inputs, outputs and targets; the objections of losskit's guard layer
(run in ``"always"`` mode, errors and warnings captured as text, and the loss recomputed with the guard off so you
still see the number); the loss value; and the gradient norm of every parameter, with vanishing, exploding,
non-finite and missing gradients (parameters the loss does not reach) named. The model's existing ``.grad`` values
are put back afterwards, so the call does not disturb a training loop.

Example:
    >>> import torch, losskit as lk
    >>> from losskit.debug import debug_loss
    >>> model = torch.nn.Linear(3, 1)
    >>> report = debug_loss(model, lk.MSELoss(), torch.randn(8, 3), torch.randn(8))
    >>> report.ok, report.guard[0].split(";")[0][:60]
    (False, 'LossShapeError: mse_loss: target must have the same shape as')
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from . import _validation as V

__all__ = ["DebugReport", "ParamGrad", "TensorSummary", "debug_loss"]


@dataclass(frozen=True)
class TensorSummary:
    """Shape, dtype, device, range and non-finite counts of one tensor."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    device: str
    requires_grad: bool
    minimum: float | None
    maximum: float | None
    mean: float | None
    nan: int
    inf: int

    @classmethod
    def of(cls, name: str, t: Tensor) -> TensorSummary:
        d = t.detach()
        lo = hi = mean = None
        nan = inf = 0
        if d.numel() and (d.is_floating_point() or d.is_complex()):
            nan = int(torch.isnan(d).sum())
            inf = int(torch.isinf(d).sum())
            finite = d[torch.isfinite(d)]
            if finite.numel():
                lo, hi, mean = float(finite.min()), float(finite.max()), float(finite.double().mean())
        elif d.numel():
            lo, hi, mean = float(d.min()), float(d.max()), float(d.double().mean())
        return cls(name, tuple(d.shape), str(d.dtype).replace("torch.", ""), str(d.device), t.requires_grad,
                   lo, hi, mean, nan, inf)

    def __str__(self) -> str:
        rng = f"range [{self.minimum:.4g}, {self.maximum:.4g}], mean {self.mean:.4g}" if self.minimum is not None \
            else "no finite values"
        bad = f", {self.nan} NaN, {self.inf} Inf" if self.nan or self.inf else ""
        return f"{self.name}: shape {V.shape_str(self.shape)}, {self.dtype} on {self.device}, {rng}{bad}"


@dataclass(frozen=True)
class ParamGrad:
    """One parameter's gradient after the backward pass."""

    name: str
    shape: tuple[int, ...]
    norm: float | None
    """The L2 norm of ``.grad`` (``None`` when missing or frozen)."""
    status: str
    """``"ok"``, ``"vanishing"``, ``"exploding"``, ``"nonfinite"``, ``"missing"`` (requires grad but got none) or
    ``"frozen"`` (``requires_grad=False``)."""

    def __str__(self) -> str:
        norm = "-" if self.norm is None else f"{self.norm:.3g}"
        return f"{self.name} {V.shape_str(self.shape)}: grad norm {norm} ({self.status})"


@dataclass
class DebugReport:
    """What :func:`debug_loss` saw."""

    inputs: list[TensorSummary]
    outputs: list[TensorSummary]
    targets: list[TensorSummary]
    loss: float | None
    """The loss value (with the guard off if the guard objected); ``None`` if it could not be computed."""
    guard: list[str]
    """The guard layer's objections (errors and warnings), as text."""
    notes: list[str]
    """Other warnings and observations (torch warnings, a non-scalar loss, training mode ...)."""
    grads: list[ParamGrad]
    problems: list[str] = field(default_factory=list)
    """Everything that needs attention, in plain words."""

    @property
    def ok(self) -> bool:
        """No problem found."""
        return not self.problems

    def grad(self, name: str) -> ParamGrad:
        return next(g for g in self.grads if g.name == name)

    def __str__(self) -> str:
        lines = ["losskit debug_loss report"]
        for title, items in (("inputs", self.inputs), ("outputs", self.outputs), ("targets", self.targets)):
            lines += [f"{title}:"] + [f"  {s}" for s in items]
        lines.append(f"loss: {'not computed' if self.loss is None else f'{self.loss:.6g}'}")
        lines += ["guard:"] + ([f"  {g}" for g in self.guard] or ["  no objections"])
        if self.notes:
            lines += ["notes:"] + [f"  {n}" for n in self.notes]
        lines += ["gradients:"] + [f"  {g}" for g in self.grads]
        lines += ["problems:"] + ([f"  - {p}" for p in self.problems] or ["  none found"])
        return "\n".join(lines)


def _summaries(prefix: str, obj: Any) -> list[TensorSummary]:
    if isinstance(obj, Tensor):
        return [TensorSummary.of(prefix, obj)]
    if isinstance(obj, Mapping):
        return [s for k, v in obj.items() for s in _summaries(f"{prefix}[{k!r}]", v)]
    if isinstance(obj, (list, tuple)):
        return [s for i, v in enumerate(obj) for s in _summaries(f"{prefix}[{i}]", v)]
    return []


def _call_model(model: Callable[..., Any], inputs: Any) -> Any:
    if isinstance(inputs, Mapping):
        return model(**inputs)
    if isinstance(inputs, (list, tuple)):
        return model(*inputs)
    return model(inputs)


def _call_loss(loss_fn: Callable[..., Any], outputs: Any, targets: Any) -> Any:
    if isinstance(targets, (list, tuple)):
        return loss_fn(outputs, *targets)
    return loss_fn(outputs, targets)


def debug_loss(
    model: Callable[..., Any],
    loss_fn: Callable[..., Tensor],
    inputs: Any,
    targets: Any,
    *,
    vanishing: float = 1e-7,
    exploding: float = 1e3,
) -> DebugReport:
    """One forward and backward pass of ``loss_fn(model(inputs), targets)``, reported.

    Args:
        model: the network (an ``nn.Module`` for the per-parameter gradients; any callable otherwise).
        loss_fn: the loss, e.g. ``lk.CrossEntropyLoss()`` (any callable returning a tensor).
        inputs: a tensor, a tuple/list (passed as ``model(*inputs)``) or a dict (``model(**inputs)``).
        targets: a tensor, or a tuple/list passed as ``loss_fn(outputs, *targets)``.
        vanishing: gradient norms below this are called vanishing (default 1e-7).
        exploding: gradient norms above this are called exploding (default 1e3).

    Returns:
        A :class:`DebugReport`; ``str(report)`` is a readable summary and ``report.problems`` the list of issues.

    Raises:
        LossTypeError: ``model`` or ``loss_fn`` is not callable.
    """
    name = "debug_loss"
    for arg, fn in (("model", model), ("loss_fn", loss_fn)):
        if not callable(fn):
            raise V.LossTypeError(f"{name}: {arg} must be callable, but got {type(fn).__name__}; pass the module "
                                  "itself, e.g. debug_loss(model, lk.CrossEntropyLoss(), x, y)")
    report = DebugReport(_summaries("input", inputs), [], _summaries("target", targets), None, [], [], [])
    problems = report.problems
    for s in report.inputs + report.targets:
        if s.nan or s.inf:
            problems.append(f"{s.name} holds {s.nan} NaN and {s.inf} Inf value(s): clean the data first")
    params = list(model.named_parameters()) if isinstance(model, nn.Module) else []
    saved = {id(p): p.grad for _, p in params}
    if isinstance(model, nn.Module) and model.training:
        report.notes.append("the model is in training mode (dropout and batch-norm updates are active)")
    try:
        for _, p in params:
            p.grad = None
        try:
            outputs = _call_model(model, inputs)
        except Exception as err:  # report, don't raise: the point is to see what breaks
            problems.append(f"the forward pass failed: {type(err).__name__}: {err}")
            return report
        report.outputs = _summaries("output", outputs)
        for s in report.outputs:
            if s.nan or s.inf:
                problems.append(f"{s.name} holds {s.nan} NaN and {s.inf} Inf value(s): the model produces them "
                                "(check the inputs' scale, the learning rate, log/sqrt/division in forward)")
        loss = _loss_with_guard(loss_fn, outputs, targets, report)
        if loss is None:
            return report
        if not isinstance(loss, Tensor):
            problems.append(f"loss_fn returned {type(loss).__name__}, not a tensor: no gradient can flow")
            return report
        if loss.dim() != 0:
            report.notes.append(f"the loss has shape {V.shape_str(loss)} (reduction='none'?): its sum is "
                                "back-propagated here; reduce it before backward() in training")
            loss = loss.sum()
        report.loss = float(loss.detach())
        if not math.isfinite(report.loss):
            problems.append(f"the loss is {report.loss}: look at the guard's objections and the NaN/Inf counts above")
        if not loss.requires_grad:
            problems.append("the loss does not require grad: the graph is cut (detach(), .item(), numpy, "
                            "torch.no_grad() or parameters with requires_grad=False)")
        else:
            try:
                loss.backward()
            except RuntimeError as err:
                problems.append(f"backward failed: {err}")
        report.grads = [_grad(n, p, vanishing, exploding) for n, p in params]
        for g in report.grads:
            if g.status == "missing":
                problems.append(f"{g.name} gets no gradient: the loss does not depend on it (unused layer, "
                                "detached branch or a wrong output returned)")
            elif g.status == "vanishing":
                problems.append(f"{g.name} has a vanishing gradient (norm {g.norm:.2g} < {vanishing:g})")
            elif g.status == "exploding":
                problems.append(f"{g.name} has an exploding gradient (norm {g.norm:.3g} > {exploding:g}): lower the "
                                "learning rate, clip gradients or normalise the inputs")
            elif g.status == "nonfinite":
                problems.append(f"{g.name} has a NaN or infinite gradient")
        return report
    finally:
        for _, p in params:
            p.grad = saved[id(p)]


def _loss_with_guard(loss_fn: Callable[..., Tensor], outputs: Any, targets: Any, report: DebugReport) -> Any:
    """Run the loss with every guard check on; record objections, then recompute with the guard off if needed."""
    objected = False
    with V.guard("always"), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            loss = _call_loss(loss_fn, outputs, targets)
        except V.LosskitError as err:
            report.guard.append(f"{type(err).__name__}: {err}")
            objected, loss = True, None
        except Exception as err:
            report.problems.append(f"the loss failed: {type(err).__name__}: {err}")
            return None
    for w in caught:
        text = str(w.message)
        if issubclass(w.category, V.LosskitWarning):
            report.guard.append(f"{w.category.__name__}: {text}")
        else:
            report.notes.append(f"{w.category.__name__}: {text}")
    for g in report.guard:
        report.problems.append(f"the guard objects: {g}")
    if not objected:
        return loss
    with V.guard("off"), warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        try:
            loss = _call_loss(loss_fn, outputs, targets)
        except Exception as err:
            report.notes.append(f"with the guard off the loss fails too: {type(err).__name__}: {err}")
            return None
    report.notes.append("the loss value and gradients below were computed with the guard off: they are what "
                        "training would silently use")
    return loss


def _grad(name: str, p: Tensor, vanishing: float, exploding: float) -> ParamGrad:
    shape = tuple(p.shape)
    if not p.requires_grad:
        return ParamGrad(name, shape, None, "frozen")
    if p.grad is None:
        return ParamGrad(name, shape, None, "missing")
    norm = float(p.grad.detach().double().norm())
    if not math.isfinite(norm):
        status = "nonfinite"
    elif norm < vanishing:
        status = "vanishing"
    elif norm > exploding:
        status = "exploding"
    else:
        status = "ok"
    return ParamGrad(name, shape, norm, status)

