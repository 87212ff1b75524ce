"""losskit: the loss-function layer for PyTorch.

Every torch.nn loss under its torch name with the same numbers, a guard layer that catches the classic
mistakes on the first call, and the loss families people otherwise pull from five other libraries.

    >>> import torch, losskit as lk
    >>> loss = lk.CrossEntropyLoss()(torch.tensor([[2.0, 0.5, -1.0]]), torch.tensor([0]))
    >>> print(round(float(loss), 4))
    0.2413
"""

from __future__ import annotations

from . import distributed, functional, fused, weights
from ._validation import (
    LossDeviceError,
    LosskitError,
    LosskitWarning,
    LossOptionError,
    LossShapeError,
    LossTypeError,
    LossValueError,
    NonFiniteError,
    SuspiciousInputWarning,
    get_guard,
    guard,
    reset_guard,
    set_guard,
)
from .advisor import Recommendation, recommend
from .catalog import LossInfo, list_losses
from .debug import DebugReport, debug_loss
from .doctor import CurveDiagnosis, diagnose_curves
from .modules import *
from .modules import __all__ as _module_names
from .modules._base import Loss
from .multitask import MultiTaskLoss, MultiTaskResult

__version__ = "0.1.0"

__all__ = sorted(
    [
        "CurveDiagnosis",
        "DebugReport",
        "Loss",
        "LossDeviceError",
        "LossInfo",
        "LossOptionError",
        "LossShapeError",
        "LossTypeError",
        "LossValueError",
        "LosskitError",
        "LosskitWarning",
        "MultiTaskLoss",
        "MultiTaskResult",
        "NonFiniteError",
        "Recommendation",
        "SuspiciousInputWarning",
        "debug_loss",
        "diagnose_curves",
        "distributed",
        "functional",
        "fused",
        "get_guard",
        "guard",
        "list_losses",
        "recommend",
        "reset_guard",
        "set_guard",
        "weights",
        *_module_names,
    ]
)
