"""The loss debugger: one forward and backward pass that reports what usually goes wrong around a loss.

:func:`debug_loss` runs ``loss_fn(model(inputs), targets)`` once and returns a :class:`DebugReport`: the shapes,
dtypes, value ranges and NaN/Inf counts of the inputs, outputs and targets; the objections of losskit's guard layer
(run in ``"always"`` mode, errors and warnings captured as text, and the loss recomputed with the guard off so you
still see the number); the loss value; the gradient norm of every parameter, with vanishing, exploding, non-finite
and missing gradients (parameters the loss does not reach) named; frozen layers, named by module (parameters with
``requires_grad=False``, or an exactly zero gradient on every checked batch); and dead ReLUs (``nn.ReLU`` modules
with units never active on the checked batches), with the share of dead units.

torch's own losses are checked too: a ``torch.nn`` loss Module or ``torch.nn.functional`` function is run through
the losskit loss of the same name (same options, same numbers) for the guard's objections, and then through torch's
own for the value and gradients that training would use. The model's ``.grad`` values and buffers (batch-norm
statistics) are put back afterwards, so the call does not disturb a training loop.

Example:
    >>> import torch, losskit as lk
    >>> from losskit.debug import debug_loss
    >>> model = torch.nn.Linear(3, 1)
    >>> report = debug_loss(model, torch.nn.MSELoss(), torch.randn(8, 3), torch.randn(8))
    >>> report.ok, report.guard[0].split(";")[0][:60]
    (False, 'LossShapeError: mse_loss: target must have the same shape as')
"""

from __future__ import annotations

import difflib
import math
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from . import _validation as V
from .debug_checks import ReluActivity, ReluWatch, frozen_and_dead, losskit_twin

__all__ = ["DebugReport", "ParamGrad", "ReluActivity", "TensorSummary", "debug_loss"]


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
    relus: list[ReluActivity] = field(default_factory=list)
    """Every ``nn.ReLU``/``nn.ReLU6`` call seen, with its units never active on the checked batches."""
    batches: int = 1
    """How many batches were checked for zero gradients and dead units (1 + the extra ``batches`` that ran)."""

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
        if self.relus:
            lines += [f"relu units (over {self.batches} batch(es)):"] + [f"  {r}" for r in self.relus]
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
    frozen: Sequence[str] = (),
    batches: Iterable[tuple[Any, Any]] = (),
    dead_relu: float = 0.1,
) -> DebugReport:
    """One forward and backward pass of ``loss_fn(model(inputs), targets)``, reported.

    Args:
        model: the network (an ``nn.Module`` for the per-parameter gradients, frozen layers and dead ReLUs; any
            callable otherwise).
        loss_fn: the loss, e.g. ``lk.CrossEntropyLoss()`` or torch's ``nn.CrossEntropyLoss()`` (any callable
            returning a tensor; torch's losses are checked through losskit's loss of the same name).
        inputs: a tensor, a tuple/list (passed as ``model(*inputs)``) or a dict (``model(**inputs)``).
        targets: a tensor, or a tuple/list passed as ``loss_fn(outputs, *targets)``.
        vanishing: gradient norms below this are called vanishing (default 1e-7).
        exploding: gradient norms above this are called exploding (default 1e3).
        frozen: names of modules meant to be frozen (e.g. ``["backbone"]``): reported as notes, not problems
            (default none).
        batches: more ``(inputs, targets)`` pairs, each run forward and backward too: a layer is frozen in effect
            when its gradient is exactly zero on every checked batch, and a ReLU unit dead when it is never active
            on any of them (default none: the one batch).
        dead_relu: a ReLU whose share of dead units exceeds this is a problem (default 0.1).

    Returns:
        A :class:`DebugReport`; ``str(report)`` is a readable summary and ``report.problems`` the list of issues.

    Raises:
        LossTypeError: ``model`` or ``loss_fn`` is not callable, ``frozen`` is not a list of names or ``batches``
            not a sequence of ``(inputs, targets)`` pairs.
        LossValueError: ``dead_relu`` is outside ``[0, 1)``, or ``frozen`` names no module of the model.
    """
    name = "debug_loss"
    for arg, fn in (("model", model), ("loss_fn", loss_fn)):
        if not callable(fn):
            raise V.LossTypeError(f"{name}: {arg} must be callable, but got {type(fn).__name__}; pass the module "
                                  "itself, e.g. debug_loss(model, lk.CrossEntropyLoss(), x, y)")
    if isinstance(frozen, str) or not all(isinstance(f, str) for f in frozen):
        raise V.LossTypeError(f"{name}: frozen must be a list of module names, but got {frozen!r}; pass e.g. "
                              "frozen=['backbone']")
    extra = list(batches)
    if not all(isinstance(b, (tuple, list)) and len(b) == 2 for b in extra):
        raise V.LossTypeError(f"{name}: batches must hold (inputs, targets) pairs, but got "
                              f"{[type(b).__name__ for b in extra][:4]}; pass e.g. batches=[(x2, y2), (x3, y3)]")
    if not (V.is_number(dead_relu) and 0 <= dead_relu < 1):
        raise V.LossValueError(f"{name}: dead_relu must be in [0, 1), but got {dead_relu!r}; pass e.g. 0.1")
    report = DebugReport(_summaries("input", inputs), [], _summaries("target", targets), None, [], [], [])
    problems = report.problems
    for s in report.inputs + report.targets:
        if s.nan or s.inf:
            problems.append(f"{s.name} holds {s.nan} NaN and {s.inf} Inf value(s): clean the data first")
    module = model if isinstance(model, nn.Module) else None  # a plain function has no layers to inspect
    params = list(module.named_parameters()) if module is not None else []
    known = {n for n, _ in module.named_modules()} | {n for n, _ in params} if module is not None else set()
    for f in frozen:
        if module is not None and f not in known:
            close = difflib.get_close_matches(f, sorted(known), n=1)
            raise V.LossValueError(f"{name}: frozen must name modules of the model, but got {f!r}; "
                                   + (f"did you mean {close[0]!r}?" if close else "use names from "
                                      "model.named_modules()"))
    buffers = [(b, b.detach().clone()) for b in module.buffers()] if module is not None else []
    saved = {id(p): p.grad for _, p in params}
    if module is not None and module.training:
        report.notes.append("the model is in training mode (dropout and batch-norm updates are active)")
    watch = ReluWatch(model)
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
        zero = {n: bool((p.grad == 0).all()) for n, p in params if p.grad is not None}
        for k, (xb, yb) in enumerate(extra, start=2):
            if not _extra_batch(model, loss_fn, xb, yb, params, watch, zero, report, k):
                continue
            report.batches += 1
        report.relus = watch.activity()
        in_effect: set[str] = set()
        if module is not None:
            layer_problems, layer_notes, in_effect = frozen_and_dead(module, zero, frozen, dead_relu, report.relus,
                                                                     report.batches)
            problems += layer_problems
            report.notes += layer_notes
        for g in report.grads:
            if g.status == "missing":
                problems.append(f"{g.name} gets no gradient: the loss does not depend on it (unused layer, "
                                "detached branch or a wrong output returned)")
            elif g.status == "vanishing" and g.name not in in_effect:
                problems.append(f"{g.name} has a vanishing gradient (norm {g.norm:.2g} < {vanishing:g})")
            elif g.status == "exploding":
                problems.append(f"{g.name} has an exploding gradient (norm {g.norm:.3g} > {exploding:g}): lower the "
                                "learning rate, clip gradients or normalise the inputs")
            elif g.status == "nonfinite":
                problems.append(f"{g.name} has a NaN or infinite gradient")
        return report
    finally:
        watch.remove()
        for _, p in params:
            p.grad = saved[id(p)]
        with torch.no_grad():
            for b, copy in buffers:
                b.copy_(copy)


def _extra_batch(model: Any, loss_fn: Callable[..., Any], xb: Any, yb: Any, params: Sequence[tuple[str, Tensor]],
                 watch: ReluWatch, zero: dict[str, bool], report: DebugReport, k: int) -> bool:
    """Forward and backward on one more batch (guard off, warnings muted), updating ``zero``; False if it failed."""
    for _, p in params:
        p.grad = None
    watch.new_pass()
    try:
        with V.guard("off"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            loss = _call_loss(loss_fn, _call_model(model, xb), yb)
            (loss.sum() if loss.dim() else loss).backward()
    except Exception as err:
        report.notes.append(f"batch {k} could not be checked: {type(err).__name__}: {err}")
        return False
    for n, p in params:
        if n in zero:
            zero[n] = zero[n] and p.grad is not None and bool((p.grad == 0).all())
    return True


def _loss_with_guard(loss_fn: Callable[..., Tensor], outputs: Any, targets: Any, report: DebugReport) -> Any:
    """Run the loss with every guard check on; record objections, then recompute with the guard off if needed.

    A torch loss is checked through its losskit twin (same name, same options) and then run as torch's own."""
    twin, label = losskit_twin(loss_fn)
    if twin is None and label:
        report.notes.append(f"loss_fn is torch's {type(loss_fn).__name__}, not checked by losskit's guard: {label}")
    objected = False
    with V.guard("always"), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            loss = _call_loss(twin if twin is not None else loss_fn, outputs, targets)
        except V.LosskitError as err:
            report.guard.append(f"{type(err).__name__}: {err}")
            objected, loss = True, None
        except Exception as err:
            if twin is None:
                report.problems.append(f"the loss failed: {type(err).__name__}: {err}")
                return None
            report.notes.append(f"{label} could not check this call ({type(err).__name__}: {err}); torch's loss "
                                "ran unchecked")
            loss = None
    for w in caught:
        text = str(w.message)
        if issubclass(w.category, V.LosskitWarning):
            report.guard.append(f"{w.category.__name__}: {text}")
        else:
            report.notes.append(f"{w.category.__name__}: {text}")
    for g in report.guard:
        report.problems.append(f"the guard objects: {g}")
    if twin is None and not objected:
        return loss
    checked = loss
    with V.guard("off"), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            loss = _call_loss(loss_fn, outputs, targets)
        except Exception as err:
            if twin is not None:
                report.problems.append(f"the loss failed: {type(err).__name__}: {err}")
            else:
                report.notes.append(f"with the guard off the loss fails too: {type(err).__name__}: {err}")
            return None
    if twin is not None:
        report.notes += [f"{w.category.__name__}: {w.message}" for w in caught]
        report.notes.append(f"loss_fn is torch's: its call was checked by losskit's guard through {label} (the same "
                            "loss and options); the value and gradients below are torch's own"
                            + (", what training would silently use" if objected else ""))
        if isinstance(checked, Tensor) and isinstance(loss, Tensor) and checked.shape == loss.shape and not bool(
                torch.allclose(checked.detach().double(), loss.detach().double(), rtol=1e-4, atol=1e-6,
                               equal_nan=True)):
            report.notes.append(f"{label} gives a different value from torch's loss here: its objections may not "
                                "apply")
    elif objected:
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

