"""The guard layer: losskit's one validation module.

Every loss calls into this module before it computes. It holds three things:

* **the error and warning classes.** Every exception is a :class:`ValueError` or :class:`TypeError`
  subclass (so ``except ValueError`` keeps working) and derives from :class:`LosskitError`; every
  warning derives from :class:`LosskitWarning` (so it can be silenced or turned into an error with
  the :mod:`warnings` filters);
* **the check vocabulary**: small functions such as :func:`check_same_shape` or
  :func:`check_class_target` that build messages of one form,
  ``"<loss>: <argument> <what was expected>, but got <what was received>; <the fix>"``;
* **the policy**, :func:`set_guard`. Checks that only read metadata (shape, dtype, device, options)
  cost microseconds and run on every call. Checks that read tensor *values* (NaN, ranges, probabilities
  that sum to 1) cost a pass over memory and, on an accelerator, a device sync, so by default they
  run only on the first call of each loss for each kind of input (same loss, dtypes, number of
  dimensions and device). A call whose checks fail (an error, or a warning that a filter turns into
  one) does not count as checked.

The modes of :func:`set_guard`:

======== ===================================================================================
mode     what runs
======== ===================================================================================
"first"  metadata checks on every call, value checks on the first call per input kind (default)
"always" metadata and value checks on every call (catches a NaN that appears mid-training)
"strict" as "always", and every losskit warning is raised as an error instead
"off"    nothing: the loss goes straight to its computation
======== ===================================================================================

The initial mode is read from the environment variable ``LOSSKIT_GUARD`` (default ``"first"``).

**Threads.** :func:`set_guard` is one process-wide switch: a mode set in any thread holds in every thread.
:func:`guard` is a block-scoped override for the thread that runs the ``with`` block only (like
:func:`torch.no_grad`); it starts with no input kind marked as checked and leaves the process-wide memory of
checked kinds untouched.

**Where values cannot be read.** Metadata checks run everywhere and raise losskit's errors. Value checks
step aside (the call neither checks nor counts as checked) under :mod:`torch.func` transforms (vmap, grad,
vjp, jacrev ...), on meta and fake tensors, under fake or proxy dispatch modes (``make_fx``), ``torch.jit.trace``
and :func:`torch.export` (strict and non-strict). Under :func:`torch.compile` they add nothing to the graph in
``"first"`` mode; in ``"always"`` and ``"strict"`` they run eagerly at a graph break (with ``fullgraph=True``
that is a :class:`LossOptionError` saying to use ``"first"`` or drop ``fullgraph``). A losskit error raised
while Dynamo traces reaches the caller as itself, ``fullgraph=True`` included (:class:`LosskitError`).
:func:`warn` attributes a warning to the first frame outside losskit and ``torch.nn.Module``'s call
machinery: the user's line.

Example:
    >>> import losskit as lk
    >>> with lk.guard("off"):
    ...     lk.get_guard()
    'off'
    >>> lk.get_guard()
    'first'
"""

from __future__ import annotations

import contextlib
import difflib
import os
import sys
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from types import FrameType
from typing import TypeGuard

import torch
from torch import Tensor

__all__ = [
    "GuardMode",
    "LossDeviceError",
    "LossOptionError",
    "LossShapeError",
    "LossTypeError",
    "LossValueError",
    "LosskitError",
    "LosskitWarning",
    "NonFiniteError",
    "SuspiciousInputWarning",
    "get_guard",
    "guard",
    "reset_guard",
    "set_guard",
]


# --------------------------------------------------------------------------------------------
# errors and warnings
# --------------------------------------------------------------------------------------------
class LosskitError(Exception):
    """Base class of every error losskit raises about its inputs.

    Under :func:`torch.compile` (and strict :func:`torch.export`) the error is raised while Dynamo traces, with
    the same message; its class is then a subclass of both the losskit class and Dynamo's ``TorchRuntimeError``
    (see :func:`_raise_while_tracing`), so ``except lk.LossShapeError`` catches it, ``fullgraph=True`` included.
    """

    def __init__(self, *args: object) -> None:
        if _dynamo_tracing():
            _raise_while_tracing(type(self), args)
        super().__init__(*args)
        if _local.pending is not None:
            _forget_pending()


class LossValueError(LosskitError, ValueError):
    """An input has a value, range or content the loss cannot use."""


class LossShapeError(LossValueError):
    """Shapes that do not fit together (including shapes that would broadcast silently)."""


class LossOptionError(LossValueError):
    """An option (``reduction``, ``label_smoothing``, a margin ...) is out of its domain."""


class LossDeviceError(LossValueError):
    """Tensors of one call live on different devices."""


class NonFiniteError(LossValueError):
    """An input or target holds NaN or infinite values."""


class LossTypeError(LosskitError, TypeError):
    """A tensor has a dtype (or an argument a type) the loss cannot use."""


class LosskitWarning(UserWarning):
    """Base class of every losskit warning."""


class SuspiciousInputWarning(LosskitWarning):
    """An input that is legal but most likely a mistake (probabilities where logits belong ...)."""


# --------------------------------------------------------------------------------------------
# policy
# --------------------------------------------------------------------------------------------
GuardMode = str
_MODES = ("off", "first", "always", "strict")


class _Policy:
    """A guard mode and the input kinds already checked under it."""

    __slots__ = ("mode", "seen")

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.seen: set[tuple] = set()


class _Local(threading.local):
    policy: _Policy | None = None
    """The innermost :func:`guard` block of this thread, if any."""
    pending: tuple[set[tuple], tuple] | None = None
    """The kind (and the set it was added to) whose value checks this thread's current call runs."""


def _initial_mode() -> str:
    env = os.environ.get("LOSSKIT_GUARD", "first").strip().lower() or "first"
    return env if env in _MODES else "first"


_state = _Policy(_initial_mode())
"""The process-wide policy that :func:`set_guard` sets."""
_local = _Local()
_overrides = 0
"""How many :func:`guard` blocks are open in all threads; while none is, every thread reads :data:`_state`
without a thread-local lookup."""
_overrides_lock = threading.Lock()


def set_guard(mode: GuardMode) -> None:
    """Set the guard policy of the whole process: ``"off"``, ``"first"`` (default), ``"always"`` or ``"strict"``.

    Every thread follows it, except inside a :func:`guard` block, whose mode wins in its own thread.
    Changing the mode forgets which input kinds were already checked, so the next call of every loss
    runs its value checks again.
    """
    mode = check_choice("set_guard", "mode", mode, _MODES, fix="the default is 'first'")
    _state.mode = mode
    _state.seen.clear()


def _policy() -> _Policy:
    return (_local.policy or _state) if _overrides else _state


def get_guard() -> GuardMode:
    """The guard policy in force in this thread (a :func:`guard` block's, else :func:`set_guard`'s)."""
    return _policy().mode


def reset_guard() -> None:
    """Forget which input kinds were checked: the next call of every loss runs its value checks."""
    _state.seen.clear()
    if _local.policy is not None:
        _local.policy.seen.clear()


@contextlib.contextmanager
def guard(mode: GuardMode) -> Iterator[None]:
    """Context manager: the guard policy ``mode`` for the code inside the ``with`` block, in this thread only.

    Like :func:`torch.no_grad`, the block does not change what other threads do. It starts with no input kind
    marked as checked and leaves the process-wide memory of checked kinds as it was.
    """
    global _overrides
    policy = _Policy(check_choice("guard", "mode", mode, _MODES, fix="the default is 'first'"))
    outer = _local.policy
    _local.pending = None
    with _overrides_lock:
        _overrides += 1
    _local.policy = policy
    try:
        yield
    finally:
        _local.policy = outer
        with _overrides_lock:
            _overrides -= 1


def enabled() -> bool:
    """Whether metadata checks run (every mode but ``"off"``)."""
    return ((_local.policy or _state) if _overrides else _state).mode != "off"


# --------------------------------------------------------------------------------------------
# where tensor values cannot be read: torch.compile, torch.export, torch.func, fake and meta tensors
# --------------------------------------------------------------------------------------------
def _false() -> bool:
    return False


def _torch_function(owner: str, attr: str) -> Callable[[], object]:
    """``torch.<owner>.<attr>`` if this torch has it, else a function returning False (older torch 2.x)."""
    obj: object = torch
    for part in (*owner.split("."), attr) if owner else (attr,):
        obj = getattr(obj, part, None)
        if obj is None:
            return _false
    return obj  # type: ignore[return-value]


_dynamo_tracing: Callable[[], object] = _torch_function("compiler", "is_dynamo_compiling")
"""True while Dynamo traces (torch.compile, strict torch.export): Dynamo folds it to a constant, and outside
Dynamo it is a plain ``return False`` (~20 ns)."""
if _dynamo_tracing is _false:  # torch < 2.5
    _dynamo_tracing = _torch_function("compiler", "is_compiling")
_compiling = _torch_function("compiler", "is_compiling")
"""True under Dynamo and in non-strict torch.export tracing."""
_exporting = _torch_function("compiler", "is_exporting")
_functorch_active = _torch_function("_C", "_are_functorch_transforms_active")
_jit_tracing = _torch_function("_C", "_get_tracing_state")


def functorch_active() -> bool:
    """Whether a :mod:`torch.func` transform (vmap, grad, vjp, jacrev ...) is active in this thread."""
    return bool(_functorch_active())


_get_dispatch_mode = getattr(torch._C, "_get_dispatch_mode", None)
_MODE_KEYS = tuple(
    getattr(torch._C._TorchDispatchModeKey, key)
    for key in ("FAKE", "PROXY")
    if hasattr(getattr(torch._C, "_TorchDispatchModeKey", None), key)
)
PLAIN_TENSORS = (Tensor, torch.nn.Parameter)
"""Tensor types without ``__torch_function__`` overrides of their own (torch's C entry points may take them)."""


def _is_fake(t: Tensor) -> bool:
    try:
        from torch._subclasses.fake_tensor import is_fake
    except ImportError:  # pragma: no cover - torch without fake tensors
        return False
    return bool(is_fake(t))


def _values_unreadable(tensors: Sequence[Tensor | None]) -> bool:
    """Whether reading the values of ``tensors`` is impossible or meaningless here: a :mod:`torch.func` transform
    (vmap, grad, vjp, jacrev ...), tracing (non-strict torch.export, ``make_fx``, ``torch.jit.trace``), a fake or
    proxy dispatch mode, or a meta or fake tensor."""
    if _dynamo_tracing():  # first: Dynamo folds it to a constant and traces none of the calls below
        return True
    if _functorch_active() or _compiling() or _jit_tracing():
        return True
    if _get_dispatch_mode is not None:
        for key in _MODE_KEYS:
            if _get_dispatch_mode(key) is not None:
                return True
    for t in tensors:
        if t is not None and (t.is_meta or (type(t) not in PLAIN_TENSORS and _is_fake(t))):
            return True
    return False


def _fullgraph_tracing() -> bool:
    """Whether Dynamo traces with ``fullgraph=True`` (a graph break would be an error). Executed by Dynamo at
    trace time, not traced (``_dynamo_marked_constant``)."""
    try:
        from torch._dynamo.symbolic_convert import InstructionTranslator

        tx = InstructionTranslator.current_tx()
        return bool(getattr(tx, "one_graph", False) or getattr(tx, "error_on_graph_break", False))
    except Exception:  # an internal API of torch that moved: assume a graph break is allowed
        return False


_TRACED_CLASSES: dict[type, type] = {}


def _raise_while_tracing(cls: type, args: tuple) -> None:
    """Raise ``cls(*args)`` from inside Dynamo's tracer, so that it reaches the caller of the compiled function.

    An exception that Dynamo *traces* never leaves a ``fullgraph=True`` region as itself (Dynamo reports
    ``Unsupported: Observed exception``), but Dynamo executes this function for real at trace time
    (``_dynamo_marked_constant``, what ``torch._dynamo.assume_constant_result`` sets) and lets the exceptions of
    its own ``TorchRuntimeError`` family through unchanged. So the error raised is an instance of a subclass of
    both ``cls`` and ``TorchRuntimeError`` with ``cls``'s name and ``cls``'s message.
    """
    try:
        from torch._dynamo.exc import TorchRuntimeError
    except ImportError:  # pragma: no cover - older torch: Dynamo reports the error its own way
        return
    traced = _TRACED_CLASSES.get(cls)
    if traced is None:
        traced = type(
            cls.__name__,
            (cls, TorchRuntimeError),
            {"__module__": cls.__module__, "__qualname__": cls.__qualname__, "__str__": _traced_str},
        )
        _TRACED_CLASSES[cls] = traced
    message = str(args[0]) if args else ""
    err: TorchRuntimeError = TorchRuntimeError.__new__(traced)  # an instance of ``traced``, not initialised yet
    TorchRuntimeError.__init__(err, message)  # Dynamo appends the user's stack to args[0]; str() stays the message
    err.args = args
    err._losskit_message = message  # type: ignore[attr-defined]
    raise err


def _traced_str(self: BaseException) -> str:
    return str(getattr(self, "_losskit_message", BaseException.__str__(self)))


_fullgraph_tracing._dynamo_marked_constant = True  # type: ignore[attr-defined]
_raise_while_tracing._dynamo_marked_constant = True  # type: ignore[attr-defined]


def values_due(name: str, *tensors: Tensor | None) -> bool:
    """Whether the value checks of loss ``name`` run for this call (see the module docstring).

    In ``"first"`` mode a call's kind is the loss name, the first tensor's number of dimensions and device,
    and every tensor's dtype; its value checks run once per kind. In every mode they step aside (``False``)
    where values cannot be read (:func:`_values_unreadable`); a call that stepped aside does not mark its kind
    as checked. Under :func:`torch.compile` they are ``False`` in ``"first"`` mode (nothing is added to the
    graph) and ``True`` in ``"always"``/``"strict"`` mode (the checks then run eagerly at a graph break).
    """
    policy = (_local.policy or _state) if _overrides else _state
    mode = policy.mode
    if mode == "first":
        if _dynamo_tracing():
            return False
        first = tensors[0]
        if first is None:  # no input tensor: nothing to read
            return False
        key = (name, first.ndim, first.device, *[t.dtype for t in tensors if t is not None])
        if key in policy.seen or _values_unreadable(tensors):
            return False
        policy.seen.add(key)
        _local.pending = (policy.seen, key)
        return True
    if mode == "off":
        return False
    if _dynamo_tracing():
        return _values_due_compiled(name)
    _local.pending = None  # no kind to forget if this call's checks fail
    return not _values_unreadable(tensors)


def _values_due_compiled(name: str) -> bool:
    """``"always"``/``"strict"`` mode while Dynamo traces: the value checks run (at a graph break), except under
    torch.export (which must not run them) and under ``fullgraph=True`` (which forbids the graph break)."""
    if _exporting():
        return False
    if _fullgraph_tracing():
        raise LossOptionError(
            f"{name}: the guard mode is {get_guard()!r}, whose value checks read tensor values and so need a graph "
            "break, but torch.compile runs with fullgraph=True; use lk.set_guard('first') (the value checks then run "
            "on the first eager call of each input kind) or compile without fullgraph=True"
        )
    return True


def _forget_pending() -> None:
    """A call whose checks failed does not count as checked: its kind is checked again on the next call."""
    pending, _local.pending = _local.pending, None
    if pending is not None:
        pending[0].discard(pending[1])


_SKIP_PREFIXES = (
    os.path.dirname(os.path.abspath(__file__)) + os.sep,
    os.path.join(os.path.dirname(os.path.abspath(torch.__file__)), "nn", "modules") + os.sep,
)
"""Frames a warning is not attributed to: losskit's own, and torch's ``nn.Module.__call__`` machinery."""


def _user_stacklevel() -> int:
    """The ``stacklevel`` of :func:`warnings.warn`, called from :func:`warn`, that names the first frame outside
    losskit and torch's Module call machinery: the user's line."""
    frame: FrameType | None = sys._getframe(2)  # the caller of warn()
    level = 2
    while frame is not None and frame.f_code.co_filename.startswith(_SKIP_PREFIXES):
        frame = frame.f_back
        level += 1
    return level


def warn(message: str, category: type[Warning] = SuspiciousInputWarning) -> None:
    """Emit a losskit warning located at the user's line, or raise it as :class:`LossValueError` in ``"strict"``
    mode."""
    if _policy().mode == "strict":
        raise LossValueError(f"{message} (raised because the guard mode is 'strict')")
    try:
        warnings.warn(message, category, stacklevel=_user_stacklevel())
    except Exception:  # a warnings filter turned it into an error: the call was not checked successfully
        _forget_pending()
        raise


# --------------------------------------------------------------------------------------------
# message helpers
# --------------------------------------------------------------------------------------------
def shape_str(t: Tensor | Sequence[int]) -> str:
    """``(32, 10)`` for a tensor or a shape; ``()`` for a scalar."""
    dims = tuple(t.shape) if isinstance(t, Tensor) else tuple(t)
    return "(" + ", ".join(str(d) for d in dims) + ("," if len(dims) == 1 else "") + ")"


def _did_you_mean(value: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(value, list(choices), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


# Dynamo cannot trace difflib (heapq's object() sentinel): it runs this for real at trace time (constant arguments)
_did_you_mean._dynamo_marked_constant = True  # type: ignore[attr-defined]


# --------------------------------------------------------------------------------------------
# option checks (no tensor values read)
# --------------------------------------------------------------------------------------------
REDUCTIONS = ("none", "mean", "sum")


def check_choice(name: str, arg: str, value: object, choices: Sequence[str], *, fix: str = "") -> str:
    """An option that must be one of the strings ``choices``.

    The message suggests the closest choice (``did you mean 'mean'?``); without a close one it gives ``fix``
    (default: ``pass <arg>=<first choice>``).
    """
    if not isinstance(value, str) or value not in choices:
        hint = _did_you_mean(str(value), choices) or f"; {fix or f'pass {arg}={choices[0]!r}'}"
        raise LossOptionError(
            f"{name}: {arg} must be one of {', '.join(map(repr, choices))}, but got {value!r}{hint}"
        )
    return value


def check_reduction(name: str, reduction: str, allowed: Sequence[str] = REDUCTIONS) -> str:
    """``reduction`` is one of ``allowed``."""
    if isinstance(reduction, str) and reduction in allowed:
        return reduction
    default = "mean" if "mean" in allowed else allowed[0]
    return check_choice(name, "reduction", reduction, allowed, fix=f"pass reduction={default!r}")


def check_unit_interval(name: str, arg: str, value: float) -> float:
    """A float option that must lie in ``[0, 1]`` (``label_smoothing`` and the like)."""
    if isinstance(value, Tensor) or not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
        raise LossOptionError(
            f"{name}: {arg} must be a float in [0, 1], but got {value!r}; "
            f"pass e.g. {arg}=0.1 (0 turns it off)"
        )
    return float(value)


def is_number(value: object) -> TypeGuard[int | float]:
    """``value`` is a Python int or float, and not a bool (the test of every numeric option)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_positive(name: str, arg: str, value: float, *, allow_zero: bool = False) -> float:
    """A float option that must be > 0 (or >= 0)."""
    ok = is_number(value) and (value >= 0 if allow_zero else value > 0)
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise LossOptionError(
            f"{name}: {arg} must be a number {bound}, but got {value!r}; pass a positive float such as {arg}=1.0"
        )
    return float(value)


def check_ignore_index(name: str, ignore_index: object, *, probabilities: bool = False) -> int:
    """``ignore_index`` is an int (not a bool); with a target of class ``probabilities`` it must be negative
    (unused), since it applies to class indices only."""
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, int):
        raise LossTypeError(
            f"{name}: ignore_index must be an int, but got {ignore_index!r}; pass the target value to skip, "
            "e.g. ignore_index=-100 (the default)"
        )
    if probabilities and ignore_index >= 0:
        raise LossOptionError(
            f"{name}: ignore_index applies to class-index targets only, but got ignore_index={ignore_index} "
            "with a target of class probabilities; drop ignore_index (to skip rows of probabilities, use "
            "reduction='none' and mask the result)"
        )
    return ignore_index


# --------------------------------------------------------------------------------------------
# metadata checks on tensors
# --------------------------------------------------------------------------------------------
def check_tensor(name: str, arg: str, t: object) -> Tensor:
    """``t`` is a tensor."""
    if not isinstance(t, Tensor):
        raise LossTypeError(
            f"{name}: {arg} must be a torch.Tensor, but got {type(t).__name__}; "
            f"wrap it with torch.as_tensor({arg})"
        )
    return t


def check_floating(name: str, arg: str, t: Tensor, *, role: str = "predictions") -> None:
    """``t`` has a floating dtype (predictions, soft targets, weights)."""
    if not t.is_floating_point():
        raise LossTypeError(
            f"{name}: {arg} must be a floating-point tensor of {role}, but got dtype {t.dtype}; "
            f"convert it with {arg}.float()"
        )


def check_same_shape(
    name: str, a: Tensor, b: Tensor, arg_a: str = "input", arg_b: str = "target", *, fix: str | None = None
) -> None:
    """``a`` and ``b`` have the same shape: no silent broadcasting."""
    if a.shape == b.shape:
        return
    if fix is None:
        fix = _broadcast_fix(a, b, arg_a, arg_b)
    raise LossShapeError(
        f"{name}: {arg_b} must have the same shape as {arg_a} {shape_str(a)}, but got {shape_str(b)}"
        f"{' (it would broadcast silently)' if _broadcasts(a.shape, b.shape) else ''}; {fix}"
    )


def _broadcast_shape(a: Sequence[int], b: Sequence[int]) -> tuple[int, ...] | None:
    """The broadcast of shapes ``a`` and ``b``, or ``None``. Plain Python, not ``torch.broadcast_shapes``: under
    torch.compile that is traced as a graph op, whose failure Dynamo reports as its own error."""
    out = []
    for i in range(1, max(len(a), len(b)) + 1):
        da = a[-i] if i <= len(a) else 1
        db = b[-i] if i <= len(b) else 1
        if da != db and da != 1 and db != 1:
            return None
        out.append(db if da == 1 else da)
    return tuple(reversed(out))


def _broadcasts(a: Sequence[int], b: Sequence[int]) -> bool:
    return _broadcast_shape(a, b) is not None


def _broadcasts_into(a: Sequence[int], b: Sequence[int]) -> bool:
    """A tensor of shape ``a`` broadcasts against shape ``b`` without enlarging it."""
    return _broadcast_shape(a, b) == tuple(b)


def check_broadcast_to(name: str, arg: str, t: Tensor | None, input: Tensor, *, fix: str) -> None:
    """An optional floating tensor (per-element or per-class weights) that broadcasts to ``input`` without
    enlarging it."""
    if t is None:
        return
    check_tensor(name, arg, t)
    check_floating(name, arg, t, role="weights")
    if not _broadcasts_into(t.shape, input.shape):
        raise LossShapeError(
            f"{name}: {arg} must broadcast to input {shape_str(input)} without enlarging it, but got shape "
            f"{shape_str(t)}; {fix}"
        )


def _broadcast_fix(a: Tensor, b: Tensor, arg_a: str, arg_b: str) -> str:
    sa, sb = tuple(a.shape), tuple(b.shape)
    if sa == (*sb, 1):
        return f"use {arg_a}.squeeze(-1) (or {arg_b}.unsqueeze(-1))"
    if sb == (*sa, 1):
        return f"use {arg_b}.squeeze(-1) (or {arg_a}.unsqueeze(-1))"
    if a.numel() == b.numel():
        return f"use {arg_b}.view_as({arg_a}) if the elements correspond"
    return f"pass {arg_a} and {arg_b} with one element per prediction"


def check_same_device(name: str, **tensors: Tensor | None) -> None:
    """All given tensors live on one device."""
    items = [(k, t) for k, t in tensors.items() if isinstance(t, Tensor)]
    if len(items) < 2:
        return
    first_name, first = items[0]
    for arg, t in items[1:]:
        if t.device != first.device:
            raise LossDeviceError(
                f"{name}: {arg} must be on the same device as {first_name} ({first.device}), "
                f"but got {t.device}; move it with {arg}.to({first_name}.device)"
            )


def check_vector(name: str, arg: str, t: Tensor | None, length: int, *, what: str = "one entry per class") -> None:
    """A 1-D floating tensor of ``length`` entries (class weights, ``pos_weight``)."""
    if t is None:
        return
    check_tensor(name, arg, t)
    check_floating(name, arg, t, role="weights")
    if t.dim() != 1 or t.shape[0] != length:
        raise LossShapeError(
            f"{name}: {arg} must be a 1-D tensor of {length} elements ({what}), but got shape "
            f"{shape_str(t)}; pass a tensor of shape ({length},)"
        )


def check_class_vector(name: str, arg: str, t: Tensor | None, input: Tensor, num_classes: int) -> None:
    """Optional per-class factors (class ``weight``, focal ``alpha`` ...): :func:`check_vector` of
    ``num_classes`` entries of a floating dtype (any: the loss casts it to the dtype it computes in,
    :mod:`losskit._precision`)."""
    if t is None:
        return
    check_vector(name, arg, t, num_classes)


def checks_due(
    name: str, input: Tensor, target: Tensor, weight: Tensor | None = None, option: object = None
) -> tuple | None:
    """Whether the checks of this call run: ``None`` to skip them (guard ``"off"``, or a call whose signature
    already passed them in ``"first"`` mode), else the call's signature, to give :func:`record_passed` once they
    passed (``()`` when an argument is not a tensor: the checks then say so).

    The signature is everything the checks of a call can read: the loss ``name``, one hashable ``option`` that a
    check reads (e.g. ``ignore_index``; options checked on every call need not be in it) and the shape, dtype,
    device and ``requires_grad`` of each tensor. The metadata checks are pure functions of it, and the value
    checks of its kind ran on the call that recorded it, so in the steady state of ``"first"`` mode a call costs
    one tuple and one set lookup (about 0.5 us) instead of its checks. The records live with the checked input
    kinds: :func:`set_guard`, :func:`reset_guard` and :func:`guard` forget them too. While Dynamo traces, the
    checks always run (they are traced).
    """
    policy = (_local.policy or _state) if _overrides else _state
    if policy.mode == "off":
        return None
    try:
        grads = (input.requires_grad, target.requires_grad)
    except AttributeError:
        return ()
    return signature_due(name, (option, *grads), input, target, weight)


def signature_due(name: str, options: tuple, input: Tensor, target: Tensor, *others: Tensor | None) -> tuple | None:
    """:func:`checks_due` for a loss that skips its option checks too: ``None`` when a call of this signature,
    its ``options`` (``reduction``, ``ignore_index`` ...: every option the call's checks read) included, passed
    every check before in ``"first"`` mode, so that the steady-state call runs no check at all; else the signature
    to give :func:`record_passed`. The caller then runs its option checks (in every mode, ``"off"`` included) and
    its tensor checks if :func:`enabled`. ``()`` in ``"off"`` mode and when an argument is not a tensor (the checks
    then say so).

    The signature is the shape, dtype and device of ``input`` and ``target`` and of the optional tensors
    ``others`` (weights), with their ``requires_grad`` (weights must not need a gradient): the checks of the losses
    that use it read nothing else. Options that compare equal across types must not pass different checks: put
    ``type(option)`` in ``options`` where ``True`` and ``1`` would (an ``int`` option). Cost: about 1 us.
    """
    policy = (_local.policy or _state) if _overrides else _state
    mode = policy.mode
    if mode == "off":
        return ()
    try:
        key: tuple = (name, options, input.shape, input.dtype, input.device, target.shape, target.dtype, target.device)
        for t in others:  # a loop, not a comprehension: no function frame in the steady state
            key += (None,) if t is None else ((t.shape, t.dtype, t.device, t.requires_grad),)
    except AttributeError:
        return ()
    if mode == "first" and not _dynamo_tracing() and key in policy.seen:
        return None
    return key


_len_dispatch_stack: Callable[[], int] = getattr(torch._C, "_len_torch_dispatch_stack", lambda: 0)


def eager_readable(*tensors: Tensor | None) -> bool:
    """Plain CPU tensors (no subclass) in eager mode: no :func:`torch.compile` or export tracing, no
    :mod:`torch.func` transform, no dispatch mode (``make_fx``'s proxy mode, fake tensor mode, user modes), no
    ``torch.jit.trace``. A 0-dim result can then be read with ``.item()`` without a device sync or a traced
    kernel, and torch's C entry points (``torch._C._nn.*``) called directly. About 0.3 us."""
    for t in tensors:
        if t is not None and (type(t) not in PLAIN_TENSORS or not t.is_cpu):
            return False
    if _dynamo_tracing() or _functorch_active() or _len_dispatch_stack():
        return False
    state = _jit_tracing()  # None (or False from the fallback of an older torch) when no trace runs
    return state is None or state is False


def record_passed(key: tuple, *tensors: Tensor | None) -> None:
    """Record that a call of signature ``key`` (:func:`checks_due`) passed every check; call it after the call's
    last check, with the call's ``tensors``. Nothing is recorded where the value checks stepped aside
    (:func:`_values_unreadable`)."""
    policy = (_local.policy or _state) if _overrides else _state
    if key and policy.mode == "first" and not _values_unreadable(tensors):
        policy.seen.add(key)


def class_dim_of(input: Tensor) -> int:
    """The class dimension of class scores: 1 for batched input ``(N, C, ...)``, 0 for one unbatched sample
    ``(C,)`` (the convention of :func:`check_class_inputs`)."""
    return 1 if input.dim() > 1 else 0


def check_class_target(
    name: str, input: Tensor, target: Tensor, *, class_dim: int = 1, allow_probabilities: bool = False
) -> bool:
    """A class-index target for ``input`` with classes along ``class_dim``.

    Returns ``True`` when ``target`` is a tensor of class probabilities (only if ``allow_probabilities``),
    ``False`` when it holds class indices. Catches ``(N, 1)`` targets, float indices and one-hot targets.
    """
    if input.dim() == 1 or input.dim() <= class_dim:
        expected: tuple[int, ...] = ()
        num_classes = input.shape[-1] if input.dim() else 0
        class_axis = input.dim() - 1
    else:
        expected = (*input.shape[:class_dim], *input.shape[class_dim + 1 :])
        num_classes = input.shape[class_dim]
        class_axis = class_dim
    tshape = tuple(target.shape)
    if target.is_floating_point():
        if tshape == tuple(input.shape) and allow_probabilities:
            return True
        if tshape == expected:
            raise LossTypeError(
                f"{name}: target of class indices must have an integer dtype, but got {target.dtype}; "
                f"use target.long()"
                + (" (or pass class probabilities of shape " + shape_str(input) + ")" if allow_probabilities else "")
            )
    elif target.dtype == torch.bool:
        raise LossTypeError(
            f"{name}: target must hold class indices of an integer dtype, but got dtype torch.bool; "
            "use target.long()"
        )
    if tshape == expected:
        return False
    if tshape == (*expected, 1):
        raise LossShapeError(
            f"{name}: target has shape {shape_str(target)} but input {shape_str(input)} needs target "
            f"{shape_str(expected)} of class indices; use target.squeeze(-1)"
        )
    if tshape == tuple(input.shape) and not target.is_floating_point():
        fix = f"use target.argmax({class_axis}) for class indices"
        if allow_probabilities:
            fix += " or target.float() for class probabilities"
        raise LossShapeError(
            f"{name}: target of shape {shape_str(target)} and dtype {target.dtype} looks one-hot, but input "
            f"{shape_str(input)} needs target {shape_str(expected)} of class indices; {fix}"
        )
    want = f"{shape_str(expected)} of class indices"
    if allow_probabilities:
        want += f" or {shape_str(input)} of class probabilities"
    raise LossShapeError(
        f"{name}: target must have shape {want} for input {shape_str(input)} with {num_classes} classes "
        f"along dim {class_axis}, but got {shape_str(target)}; pass one class index per prediction"
    )


# --------------------------------------------------------------------------------------------
# value checks (read tensor values: run them only when values_due() says so)
# --------------------------------------------------------------------------------------------
def check_finite(name: str, arg: str, t: Tensor | None, *, allow_neg_inf: bool = False) -> None:
    """No NaN (and no infinity, except ``-inf`` where log-probabilities of 0 are legal)."""
    if t is None or not t.is_floating_point() or t.numel() == 0:
        return
    bad = torch.isnan(t) if allow_neg_inf else ~torch.isfinite(t)
    if allow_neg_inf:
        bad = bad | (t == float("inf"))
    count = int(bad.sum())
    if count:
        nan = int(torch.isnan(t).sum())
        kinds = f"{nan} NaN" + (f" and {count - nan} infinite" if count - nan else "")
        raise NonFiniteError(
            f"{name}: {arg} must be finite, but got {kinds} value(s) out of {t.numel()}; "
            f"find where they come from (torch.autograd.set_detect_anomaly(True) helps) or mask them out"
        )


def check_class_range(name: str, target: Tensor, num_classes: int, ignore_index: int | None) -> None:
    """Class indices lie in ``[0, num_classes)`` or equal ``ignore_index``."""
    if target.numel() == 0:
        return
    valid = target if ignore_index is None else target[target != ignore_index]
    if valid.numel() == 0:
        return
    lo, hi = int(valid.min()), int(valid.max())
    if lo < 0 or hi >= num_classes:
        bad = lo if lo < 0 else hi
        ign = f" (ignore_index={ignore_index})" if ignore_index is not None else ""
        fix = (
            "labels look 1-based: use target - 1"
            if lo >= 1 and hi == num_classes
            else f"check the labels, or set ignore_index for the value to skip{ign}"
        )
        raise LossValueError(
            f"{name}: target class indices must lie in [0, {num_classes}) or equal ignore_index{ign}, "
            f"but got {bad} (target range [{lo}, {hi}]); {fix}"
        )


def check_unit_range(name: str, arg: str, t: Tensor, *, fix: str) -> None:
    """Values of ``t`` lie in ``[0, 1]``."""
    if t.numel() == 0:
        return
    lo, hi = (float(v) for v in torch.aminmax(t.detach()))
    if lo < 0.0 or hi > 1.0:
        raise LossValueError(f"{name}: {arg} must lie in [0, 1], but got values in [{lo:g}, {hi:g}]; {fix}")


def check_nonnegative(name: str, arg: str, t: Tensor | None) -> None:
    """Weights are >= 0."""
    if t is None or t.numel() == 0:
        return
    lo = float(t.detach().min())
    if lo < 0:
        raise LossValueError(
            f"{name}: {arg} must be non-negative, but got a minimum of {lo:g}; "
            f"weights scale each term's importance: use {arg}.clamp_min(0) or fix how it is computed"
        )


def check_plus_minus_one(name: str, arg: str, t: Tensor, *, strict: bool = True) -> None:
    """Targets of losses that need ``{-1, 1}``; catches ``{0, 1}`` labels."""
    if t.numel() == 0:
        return
    ok = (t == 1) | (t == -1)
    if bool(ok.all()):
        return
    values = torch.unique(t.detach())
    shown = ", ".join(f"{float(v):g}" for v in values[:6]) + (", ..." if values.numel() > 6 else "")
    if bool(((t == 0) | (t == 1)).all()):
        raise LossValueError(
            f"{name}: {arg} must hold -1 or 1, but got {{0, 1}} labels ({shown}); use {arg} * 2 - 1"
        )
    message = f"{name}: {arg} must hold -1 or 1, but got values {{{shown}}}; use torch.where({arg} > 0, 1, -1)"
    if strict:
        raise LossValueError(message)
    warn(message)


def warn_if_probabilities(name: str, input: Tensor, *, class_dim: int = 1) -> None:
    """``input`` of a loss on logits looks like softmax output: every row in ``[0, 1]`` and summing to 1."""
    if input.numel() == 0 or input.dim() == 0:
        return
    dim = class_dim if input.dim() > 1 else 0
    if input.shape[dim] < 2:
        return
    lo, hi = (float(v) for v in torch.aminmax(input.detach()))
    if lo < 0.0 or hi > 1.0:
        return
    sums = input.detach().sum(dim)
    tol = 1e-3 if input.dtype in (torch.float16, torch.bfloat16) else 1e-4
    if bool(((sums - 1).abs() <= tol * input.shape[dim]).all()):
        warn(
            f"{name}: input must hold logits (unnormalised scores), but every row of input "
            f"{shape_str(input)} lies in [0, 1] and sums to 1, so it looks like probabilities; the loss "
            "applies log_softmax itself: pass the scores from before softmax()"
        )


SIGMOID_WARN_NUMEL = 256
"""Losses that apply the sigmoid warn about probabilities given as ``input`` only from this many elements on."""


def warn_if_sigmoid_probabilities(
    name: str, input: Tensor, *, fix: str = "pass the scores from before torch.sigmoid()"
) -> None:
    """``input`` of a loss that applies the sigmoid itself looks like ``sigmoid()`` output: at least
    :data:`SIGMOID_WARN_NUMEL` values, all in ``[0, 1]`` (fewer could be genuine logits)."""
    if input.numel() < SIGMOID_WARN_NUMEL:
        return
    lo, hi = (float(v) for v in torch.aminmax(input.detach()))
    if lo >= 0.0 and hi <= 1.0:
        warn(
            f"{name}: input must hold logits (unnormalised scores), but all {input.numel()} values of input "
            f"{shape_str(input)} lie in [{lo:g}, {hi:g}], so it looks like probabilities (sigmoid output); the loss "
            f"applies the sigmoid itself: {fix}"
        )


def warn_if_logprob_positive(name: str, arg: str, t: Tensor, *, fix: str) -> None:
    """A tensor of log-probabilities must be <= 0; positive values mean probabilities or logits."""
    if t.numel() == 0:
        return
    hi = float(t.detach().max())
    if hi > 0:
        warn(f"{name}: {arg} must hold log-probabilities (<= 0), but got values up to {hi:g}; {fix}")


# --------------------------------------------------------------------------------------------
# composite checks shared by several families
# --------------------------------------------------------------------------------------------
def check_pointwise(
    name: str,
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    *,
    arg_input: str = "input",
    arg_target: str = "target",
) -> None:
    """The checks of an elementwise loss on predictions: float input, same shapes and device, weight.

    Value checks (finite input and target, non-negative weight) run when :func:`values_due` says so.
    """
    check_tensor(name, arg_input, input)
    check_tensor(name, arg_target, target)
    check_floating(name, arg_input, input)
    check_same_shape(name, input, target, arg_input, arg_target)
    if target.device != input.device or (weight is not None and weight.device != input.device):
        check_same_device(name, **{arg_input: input, arg_target: target, "weight": weight})
    if weight is not None:
        check_tensor(name, "weight", weight)
        check_floating(name, "weight", weight, role="weights")
        check_same_shape(
            name, input, weight, arg_input, "weight",
            fix=f"pass one weight per element (weight.expand_as({arg_input}) for a shared one)",
        )
    if values_due(name, input, target, weight):
        check_finite(name, arg_input, input)
        check_finite(name, arg_target, target)
        check_finite(name, "weight", weight)
        check_nonnegative(name, "weight", weight)


def check_binary_inputs(
    name: str,
    input: Tensor,
    target: Tensor,
    *,
    role: str = "logits",
    match_dtype: bool = False,
    **weights: Tensor | None,
) -> None:
    """The metadata checks of a loss with one binary problem per element (binary cross-entropy, sigmoid focal,
    asymmetric): floating ``input`` and ``target`` of one shape (``target`` also of ``input``'s dtype if
    ``match_dtype``), and optional ``weights`` (``weight=``, ``pos_weight=`` ...) that broadcast to ``input``.

    The value checks are :func:`check_binary_values`.
    """
    check_tensor(name, "input", input)
    check_tensor(name, "target", target)
    check_floating(name, "input", input, role=role)
    if not target.is_floating_point():
        fix = "use target.float() (and divide a {0, 255} mask by 255)"
        if target.dim() == input.dim() - 1 and input.dim() >= 1:
            fix = (
                f"for class indices use F.one_hot(target, {input.shape[-1]}).float(); "
                "for 0/1 labels use target.float()"
            )
        raise LossTypeError(
            f"{name}: target must be a floating-point tensor of 0/1 labels (or probabilities in [0, 1]) of input's "
            f"shape {shape_str(input)}, but got dtype {target.dtype} and shape {shape_str(target)}; {fix}"
        )
    if match_dtype and target.dtype != input.dtype:
        raise LossTypeError(
            f"{name}: target must have the dtype of input ({input.dtype}), but got {target.dtype}; "
            "use target.to(input.dtype)"
        )
    check_same_shape(name, input, target)
    for arg, w in weights.items():
        if w is not None:  # the fix is only formatted when there is something to check (hot path)
            per_class = f" or one per class along the last dim ({input.shape[-1]},)" if input.dim() else ""
            check_broadcast_to(name, arg, w, input, fix=f"pass one {arg} per element {shape_str(input)}{per_class}")
    if target.device != input.device or any(w is not None and w.device != input.device for w in weights.values()):
        check_same_device(name, input=input, target=target, **weights)


def check_binary_values(name: str, target: Tensor, **weights: Tensor | None) -> None:
    """The value checks of :func:`check_binary_inputs`: ``target`` finite and in ``[0, 1]`` (the fix names the
    usual culprits, ``{0, 255}`` masks and ``{-1, 1}`` labels), ``weights`` finite and non-negative."""
    check_finite(name, "target", target)
    if target.numel():
        lo, hi = (float(v) for v in torch.aminmax(target.detach()))
        if lo < 0.0 or hi > 1.0:
            if lo >= 0.0 and hi == 255.0:
                fix = "it looks like a {0, 255} mask: use target / 255"
            elif lo == -1.0 and hi == 1.0:
                fix = "it looks like {-1, 1} labels: use (target + 1) / 2"
            else:
                fix = "targets are probabilities of the positive class: rescale or threshold them into [0, 1]"
            raise LossValueError(f"{name}: target must lie in [0, 1], but got values in [{lo:g}, {hi:g}]; {fix}")
    for arg, w in weights.items():
        check_finite(name, arg, w)
        check_nonnegative(name, arg, w)


def check_class_inputs(
    name: str,
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    *,
    allow_probabilities: bool = False,
    role: str = "logits",
    **vectors: Tensor | None,
) -> bool:
    """The metadata checks of a loss on class scores with :func:`losskit.functional.cross_entropy`'s conventions.

    ``input`` of ``role`` (floating), ``(N, C)``, ``(N, C, d1, ...)`` or unbatched ``(C,)``; ``target`` of class
    indices (:func:`check_class_target`; class probabilities of ``input``'s shape too if ``allow_probabilities``);
    optional per-class ``weight`` and ``vectors`` (``alpha=`` ...) of ``C`` entries in ``input``'s dtype
    (:func:`check_class_vector`); one device; ``ignore_index`` unused with probabilities. Returns ``True`` when
    ``target`` holds class probabilities. The type of ``ignore_index`` is :func:`check_ignore_index`'s job (call
    it before, outside ``if enabled()``); the value checks are :func:`check_class_values`.
    """
    check_tensor(name, "input", input)
    check_tensor(name, "target", target)
    check_floating(name, "input", input, role=role)
    if input.dim() == 0:
        raise LossShapeError(
            f"{name}: input must have a class dimension, (N, C), (N, C, d1, ...) or (C,), but got shape (); "
            "pass one score per class"
        )
    probabilities = check_class_target(name, input, target, allow_probabilities=allow_probabilities)
    num_classes = input.shape[class_dim_of(input)]
    tensors = {"weight": weight, **vectors}
    for arg, t in tensors.items():
        check_class_vector(name, arg, t, input, num_classes)
    if target.device != input.device or any(t is not None and t.device != input.device for t in tensors.values()):
        check_same_device(name, input=input, target=target, **tensors)
    if probabilities:
        check_ignore_index(name, ignore_index, probabilities=True)
    return probabilities


def check_class_values(
    name: str,
    target: Tensor,
    num_classes: int,
    ignore_index: int,
    *,
    probabilities: bool = False,
    **vectors: Tensor | None,
) -> None:
    """The value checks of :func:`check_class_inputs` on the target and per-class ``vectors`` (``weight=``,
    ``alpha=`` ...): vectors finite and non-negative; class indices in ``[0, num_classes)`` or ``ignore_index``
    (:func:`check_class_range`), or class ``probabilities`` finite and in ``[0, 1]``."""
    for arg, t in vectors.items():
        check_finite(name, arg, t)
        check_nonnegative(name, arg, t)
    if probabilities:
        check_finite(name, "target", target)
        check_unit_range(
            name, "target", target,
            fix="a target of class probabilities holds probabilities (e.g. scores.softmax(1)); "
            "pass class indices for hard labels",
        )
    else:
        check_class_range(name, target, num_classes, ignore_index)


def check_no_grad(name: str, arg: str, t: Tensor | None, *, kernel: str, fix: str) -> None:
    """``t`` needs no gradient: torch's ``kernel`` computes none for it and would refuse the call with a raw
    ``RuntimeError`` ("is not differentiable with respect to argument ..."). A metadata check."""
    if t is not None and t.requires_grad:
        raise LossTypeError(
            f"{name}: {arg} must be a constant (torch's {kernel} computes no gradient for it), but got a tensor "
            f"with requires_grad=True; {fix}"
        )


def every_call_due(*tensors: Tensor | None) -> bool:
    """Whether the value checks cheap enough for every call run now (the README's policy table names them: the
    class-index range of a multiclass segmentation target, the blank in CTC targets; box order costs about 9% of a
    box loss's forward+backward and stays a first-call check).

    In ``"first"`` mode, on the calls after the first of an input kind (its full value checks ran then), for CPU
    tensors whose values can be read: on a GPU a read is a device sync, and under :func:`torch.compile`,
    :mod:`torch.func` transforms and meta or fake tensors values cannot be read. Never in ``"off"`` mode; in
    ``"always"``/``"strict"`` mode the full value checks run instead. Measured cost: under 3% of the loss's
    forward+backward at common sizes (numbers in the README).
    """
    if get_guard() != "first":
        return False
    if any(t is not None and t.device.type != "cpu" for t in tensors):
        return False
    return not _values_unreadable(tensors)


def check_class_range_every_call(name: str, target: Tensor, num_classes: int, ignore_index: int | None) -> None:
    """:func:`check_class_range` in one ``aminmax`` pass when every index lies in ``[0, num_classes)``; the exact
    check (``ignore_index`` allowed) only when a value lies outside."""
    if target.numel() == 0:
        return
    lo, hi = (int(v) for v in torch.aminmax(target))
    if lo < 0 or hi >= num_classes:
        if ignore_index is not None and not bool(
            ((target != ignore_index) & ((target < 0) | (target >= num_classes))).any()
        ):
            return
        check_class_range(name, target, num_classes, ignore_index)
