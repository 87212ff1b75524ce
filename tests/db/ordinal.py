"""Test-database entry of the ordinal family: the CORAL loss.

The reference follows Cao et al. (2020), eq. 4, written independently of the code under test: the extended
binary labels ``[y > k]`` come from an explicit loop over the thresholds and each term is ``log sigma`` /
``log(1 - sigma)`` of the logit (torch's ``logsigmoid``), summed over the thresholds with their importances
``lambda_k`` and averaged over the rows.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

import losskit as lk
import losskit.functional as LF
from tests.loss_db import ErrorCase, LossEntry, Sample


def ref_coral_loss(input, target, weight=None, *, reduction="mean"):
    """Cao, Mirjalili & Raschka (2020), eq. 4, per row; the mean over the N rows."""
    n, thresholds = input.shape
    lam = torch.ones(thresholds, dtype=input.dtype) if weight is None else weight.to(input.dtype)
    rows = []
    for i in range(n):
        total = torch.zeros((), dtype=input.dtype)
        for k in range(thresholds):
            up = 1.0 if int(target[i]) > k else 0.0
            total = total - lam[k] * (F.logsigmoid(input[i, k]) * up + F.logsigmoid(-input[i, k]) * (1 - up))
        rows.append(total)
    per_row = torch.stack(rows) if rows else input.sum(1)
    return {"none": per_row, "sum": per_row.sum(), "mean": per_row.mean()}[reduction]


def _samples(dtype: torch.dtype) -> list[Sample]:
    x = torch.randn(7, 4, dtype=dtype) * 2  # 5 ordered classes
    t = torch.tensor([0, 4, 2, 1, 3, 4, 0])
    return [
        Sample((x, t), {}, "2d, every class"),
        Sample(((torch.randn(4, 7, dtype=dtype) * 2).t(), t), {}, "non-contiguous input"),
        Sample((x, t, torch.tensor([1.0, 2.0, 0.5, 0.0], dtype=dtype)), {}, "threshold importances"),
        Sample((x[:, :1], (t > 2).long()), {}, "two classes: one threshold"),
    ]


def _module_call(s: Sample) -> tuple[dict, tuple]:
    kwargs = dict(s.kwargs)
    if len(s.args) > 2:
        kwargs["weight"] = s.args[2]
    return kwargs, s.args[:2]


def _errors() -> list[ErrorCase]:
    x, t = torch.randn(4, 3), torch.tensor([0, 3, 2, 1])
    return [
        ErrorCase("a class beyond the thresholds", lambda: ((x, torch.tensor([0, 4, 2, 1])), {}), lk.LossValueError,
                  match=r"target classes must lie in \[0, 3\] .* got the range \[0, 4\]"),
        ErrorCase("1-based labels", lambda: ((x, t + 1), {}), lk.LossValueError, match=r"use target - 1"),
        ErrorCase("float target", lambda: ((x, t.float()), {}), lk.LossTypeError,
                  match=r"torch\.float32.*target\.long"),
        ErrorCase("(N, 1) target", lambda: ((x, t[:, None]), {}), lk.LossShapeError,
                  match=r"\(4,\) .* got \(4, 1\); use target\.squeeze\(-1\)"),
        ErrorCase("1-D input", lambda: ((x[:, 0], t), {}), lk.LossShapeError, match=r"\(N, K-1\).* got \(4,\)"),
        ErrorCase("integer input", lambda: ((x.long(), t), {}), lk.LossTypeError, match=r"input.*torch\.int64"),
        ErrorCase("weight of K entries", lambda: ((x, t, torch.ones(4)), {}), lk.LossShapeError,
                  match=r"weight must be a 1-D tensor of 3 elements .* got shape \(4,\)"),
        ErrorCase("negative weight", lambda: ((x, t, torch.tensor([1.0, -1.0, 1.0])), {}), lk.LossValueError,
                  match=r"weight"),
        ErrorCase("NaN input", lambda: ((torch.full((4, 3), float("nan")), t), {}), lk.NonFiniteError,
                  match=r"input must be finite"),
        ErrorCase("bad reduction", lambda: ((x, t), {"reduction": "avg"}), lk.LossOptionError, match=r"avg"),
    ]


def _empty():
    return (torch.zeros(0, 3), torch.zeros(0, dtype=torch.long)), {}


ENTRIES = [
    LossEntry(LF.coral_loss, lk.CoralLoss, _samples, ref_coral_loss, module_call=_module_call, errors=_errors(),
              empty=_empty),
]
