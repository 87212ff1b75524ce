"""losskit's one mixed-precision rule, applied to every public loss by the decorator :func:`mixed_precision`.

**float16 and bfloat16 inputs compute in float32.** When the first argument (``input``, ``log_probs``,
``embeddings`` ...) is float16 or bfloat16, every float16/bfloat16 tensor argument is cast to float32 before the
loss runs, so the per-element math and every reduction (sums, means, log-sum-exps) accumulate in float32: a mean
of 2^16 values near 10 is 10, not a float16 ``inf``, and losses torch has no half kernel for on CPU
(``multi_margin_loss``, ``multilabel_margin_loss``, ``ctc_loss``) work. The result is cast back to the input's
dtype, as torch's losses return the input's dtype; gradients flow through both casts, so they reach the input
in its own dtype.

**Under autocast every loss returns float32** (float64 for float64 input), as torch's losses do: they are on
autocast's float32 list. Inside the loss autocast is turned off, so matrix products (similarities of
``info_nce_loss``, ``supcon_loss``, ``linear_cross_entropy``) and reductions run in float32 too, and the result
is not cast back.

**Weights follow the computation.** Floating ``weight``, ``pos_weight``, ``alpha`` and ``class_weights`` of
another floating dtype are cast to the dtype the loss computes in (a float32 class weight with bfloat16 logits
under autocast, a float32 weight with float64 input). Integer targets and class indices are never cast;
integer or wrongly shaped weights still raise.

float32 and float64 calls outside autocast take a fast path: one dtype test and one autocast test, about
0.3 microseconds in all. The decorator keeps the loss's signature and docstring (:func:`functools.wraps`) and
is traceable by :func:`torch.compile` (``fullgraph=True``), :mod:`torch.func` transforms and meta tensors: it
reads dtypes and the autocast state only, never tensor values.

Example:
    >>> import torch, losskit.functional as LF
    >>> x = torch.full((2**16,), 10.0, dtype=torch.float16)
    >>> LF.log_cosh_loss(x, torch.zeros_like(x))  # the float16 sum of the terms would overflow
    tensor(9.3047, dtype=torch.float16)
    >>> with torch.autocast("cpu", dtype=torch.bfloat16):
    ...     LF.cross_entropy(torch.randn(4, 3, dtype=torch.bfloat16), torch.tensor([0, 1, 2, 0])).dtype
    torch.float32
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import torch
from torch import Tensor

__all__ = ["compute_dtype", "like_input", "mixed_precision"]

_P = ParamSpec("_P")
_R = TypeVar("_R")

_FULL = (torch.float32, torch.float64)
"""Input dtypes that compute in their own dtype (the fast path)."""

_LOW = (torch.float16, torch.bfloat16)
"""Dtypes that compute in float32."""

_any_autocast: Callable[[], bool] = getattr(torch._C, "_is_any_autocast_enabled", None) or (
    lambda: torch.is_autocast_enabled() or torch.is_autocast_cpu_enabled()  # torch < 2.1
)


def _autocast_on(device_type: str) -> bool:
    """Whether autocast is enabled for ``device_type`` (False for devices autocast does not know, e.g. meta)."""
    available = getattr(torch.amp, "is_autocast_available", None)
    if available is not None:  # torch >= 2.4: one function for every device type
        return available(device_type) and torch.is_autocast_enabled(device_type)
    if device_type == "cpu":
        return torch.is_autocast_cpu_enabled()
    return device_type == "cuda" and torch.is_autocast_enabled()


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype a loss computes in for an input of ``dtype``: float32 for float16/bfloat16, else ``dtype``."""
    return torch.float32 if dtype in _LOW else dtype


def like_input(t: Tensor | None, input: Tensor) -> Tensor | None:
    """A floating weight (``weight``, ``alpha``, ``class_weights`` ...) in ``input``'s dtype, the dtype the loss
    computes in; ``None`` and non-floating tensors (left to the checks) pass unchanged."""
    if t is None or t.dtype == input.dtype or not t.is_floating_point():
        return t
    return t.to(input.dtype)


def _up(value: Any) -> Any:
    if isinstance(value, Tensor) and value.dtype in _LOW:
        return value.float()
    return value


def _call_mixed(fn: Callable[..., Any], first: str, args: tuple, kwargs: dict) -> Any:
    """The slow path: a float16/bfloat16 input, or autocast enabled somewhere."""
    input = args[0] if args else kwargs.get(first)
    if not isinstance(input, Tensor):
        return fn(*args, **kwargs)  # the loss's own checks say what is wrong
    device_type = input.device.type
    if _autocast_on(device_type):
        with torch.autocast(device_type, enabled=False):
            return fn(*[_up(a) for a in args], **{k: _up(v) for k, v in kwargs.items()})
    if input.dtype not in _LOW:
        return fn(*args, **kwargs)
    out = fn(*[_up(a) for a in args], **{k: _up(v) for k, v in kwargs.items()})
    return out.to(input.dtype)


def mixed_precision(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Apply the module's rule to the loss ``fn``, whose first parameter is its input (predictions)."""
    first = next(iter(inspect.signature(fn).parameters))

    @functools.wraps(fn)
    def loss(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            fast = args[0].dtype in _FULL  # type: ignore[attr-defined]
        except (IndexError, AttributeError):
            fast = False
        if fast and not _any_autocast():
            return fn(*args, **kwargs)
        return _call_mixed(fn, first, args, kwargs)

    return loss
