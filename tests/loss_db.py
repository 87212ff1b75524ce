"""The loss test database: one :class:`LossEntry` per loss, collected by ``tests/db/__init__.py``
from ``tests/db/<family>.py``, each of which defines ``ENTRIES: list[LossEntry]``.
The generic tests (``test_generic.py``) run over
every entry: every reduction, torch parity (values and gradients, float32 and float64, ``grad_output != 1``),
float64 gradcheck, Module == functional, ``torch.compile`` parity, ``state_dict``/``.to()``, and the error
catalog. Golden values per family live in ``test_golden_<family>.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass
class Sample:
    """One call: positional tensors, keyword options."""

    args: tuple
    kwargs: dict = field(default_factory=dict)
    desc: str = ""
    grad: tuple[int, ...] = (0,)
    """Indices of ``args`` that get ``requires_grad`` (floating tensors only)."""
    reference_ok: bool = True
    """False when the reference does not apply (a documented losskit difference)."""


@dataclass
class ErrorCase:
    """A mistake and what the guard layer must say about it."""

    desc: str
    make: Callable[[], tuple[tuple, dict]]
    """Returns ``(args, kwargs)`` for the functional."""
    raises: type[BaseException] | None = None
    warns: type[Warning] | None = None
    match: str = ""
    """A regex the message must contain (the received shape, dtype or value)."""


@dataclass
class LossEntry:
    functional: Callable[..., torch.Tensor]
    module: type
    samples: Callable[[torch.dtype], list[Sample]]
    """Build samples in a floating dtype; called with torch.float32 and torch.float64."""
    reference: Callable[..., torch.Tensor] | None = None
    """Same signature as ``functional``: torch's function for torch's losses, else an independent one."""
    module_call: Callable[[Sample], tuple[dict, tuple]] | None = None
    """Maps a sample to ``(constructor kwargs, forward args)``; default ``(kwargs, args)``."""
    errors: list[ErrorCase] = field(default_factory=list)
    reductions: tuple[str, ...] = ("none", "mean", "sum")
    empty: Callable[[], tuple[tuple, dict]] | None = None
    """An input with nothing to average (empty batch or all ignored): mean must be 0, gradient 0."""
    compile: bool = True
    gradcheck: bool = True
    tol32: dict[str, float] = field(default_factory=dict)
    """Tolerances for float32 parity, default torch's (assert_close defaults)."""
    precision_samples: tuple[str, ...] = ()
    """Descriptions of the samples the precision matrix (``test_precision.py``) runs besides the first one
    (the weighted ones: class weights, ``alpha``, ``pos_weight`` in another dtype than the input under autocast)."""
    precision_tol: dict[str, float] = field(default_factory=dict)
    """Relative tolerances of the precision matrix by precision name (``"float16"``, ``"autocast-bf16"`` ...),
    where this loss needs wider ones than ``test_precision.py`` states; say why beside the entry."""

    @property
    def name(self) -> str:
        return self.functional.__name__

    def split(self, s: Sample) -> tuple[dict, tuple]:
        return self.module_call(s) if self.module_call else (dict(s.kwargs), s.args)


def clone_args(args: tuple, grad: tuple[int, ...]) -> tuple:
    """Fresh leaf copies of the sample's tensors, with ``requires_grad`` on the ``grad`` indices."""
    out: list[Any] = []
    for i, a in enumerate(args):
        if isinstance(a, torch.Tensor):
            a = a.detach().clone()
            if i in grad and a.is_floating_point():
                a.requires_grad_(True)
        out.append(a)
    return tuple(out)
