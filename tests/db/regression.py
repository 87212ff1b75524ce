"""Test-database entries of the regression family (torch's pointwise losses)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

import losskit as lk
import losskit.functional as LF
from tests.loss_db import ErrorCase, LossEntry, Sample
from tests.references import torch_pointwise


def _samples(extra: dict):
    def make(dtype: torch.dtype) -> list[Sample]:
        x = torch.randn(6, 5, dtype=dtype) * 2
        y = torch.randn(6, 5, dtype=dtype)
        w = torch.rand(6, 5, dtype=dtype)
        big = torch.randn(3, 4, 2, dtype=dtype)
        return [
            Sample((x, y), dict(extra), "2d"),
            Sample((x.t(), y.t()), dict(extra), "non-contiguous"),
            Sample((torch.tensor(0.7, dtype=dtype), torch.tensor(-0.2, dtype=dtype)), dict(extra), "scalar"),
            Sample((big, big.flip(0)), dict(extra), "3d", grad=(0, 1)),
            Sample((x, y, w), dict(extra), "weighted", grad=(0, 1, 2)),
        ]

    return make


def _errors(fn) -> list[ErrorCase]:
    return [
        ErrorCase("broadcast (N,1) vs (N,)", lambda: ((torch.randn(8, 1), torch.randn(8)), {}), lk.LossShapeError,
                  match=r"\(8, 1\).*\(8,\).*broadcast"),
        ErrorCase("integer predictions", lambda: ((torch.tensor([1, 2]), torch.tensor([1.0, 2.0])), {}),
                  lk.LossTypeError, match="torch.int64"),
        ErrorCase("nan target", lambda: ((torch.randn(4), torch.tensor([0.0, float("nan"), 1.0, 2.0])), {}),
                  lk.NonFiniteError, match="target.*1 NaN"),
        ErrorCase("inf input", lambda: ((torch.tensor([float("inf"), 0.0]), torch.zeros(2)), {}),
                  lk.NonFiniteError, match="input.*1 infinite"),
        ErrorCase("bad reduction", lambda: ((torch.randn(3), torch.randn(3)), {"reduction": "avg"}),
                  lk.LossOptionError, match="'avg'"),
        ErrorCase("weight shape", lambda: ((torch.randn(4, 3), torch.randn(4, 3), torch.rand(3)), {}),
                  lk.LossShapeError, match=r"weight.*\(3,\)"),
        ErrorCase("devices differ", lambda: ((torch.randn(3), torch.randn(3, device="meta")), {}),
                  lk.LossDeviceError, match="meta"),
        ErrorCase("negative weight", lambda: ((torch.randn(3), torch.randn(3), torch.tensor([1.0, -1.0, 1.0])), {}),
                  lk.LossValueError, match="-1"),
    ]


def _empty():
    return (torch.zeros(0, 3), torch.zeros(0, 3)), {}


def _all_zero_weight():
    return (torch.randn(4), torch.randn(4), torch.zeros(4)), {}


ENTRIES = [
    LossEntry(LF.l1_loss, lk.L1Loss, _samples({}), torch_pointwise(F.l1_loss), errors=_errors(LF.l1_loss),
              empty=_all_zero_weight,
              precision_samples=("weighted",)),
    LossEntry(LF.mse_loss, lk.MSELoss, _samples({}), torch_pointwise(F.mse_loss), errors=_errors(LF.mse_loss),
              empty=_empty,
              precision_samples=("weighted",)),
    LossEntry(LF.huber_loss, lk.HuberLoss, _samples({"delta": 0.7}), torch_pointwise(F.huber_loss),
              errors=_errors(LF.huber_loss), empty=_empty,
              precision_samples=("weighted",)),
    LossEntry(LF.smooth_l1_loss, lk.SmoothL1Loss, _samples({"beta": 0.5}), torch_pointwise(F.smooth_l1_loss),
              errors=_errors(LF.smooth_l1_loss), empty=_all_zero_weight,
              precision_samples=("weighted",)),
]
