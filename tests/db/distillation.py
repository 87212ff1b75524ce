"""Test-database entries of the distillation family.

References: Jensen-Shannon as its definition, 1/2 KL(P || M) + 1/2 KL(Q || M) with torch's own ``kl_div``;
distillation as Hinton et al.'s sum written with torch's ``kl_div`` and ``cross_entropy``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

import losskit as lk
import losskit.functional as LF
from tests.loss_db import ErrorCase, LossEntry, Sample


def _per_sample_reduce(per_sample: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "none":
        return per_sample
    if reduction == "sum":
        return per_sample.sum()
    return per_sample.mean()


def ref_js_div(input, target, *, log_target=False, reduction="mean"):
    """JS(P || Q) = 1/2 KL(P || M) + 1/2 KL(Q || M), M = (P + Q) / 2 (Lin 1991, eq. 4.1), in nats."""
    p = target.exp() if log_target else target
    q = input.exp()
    log_m = (0.5 * (p + q)).log()
    elementwise = 0.5 * F.kl_div(log_m, p, reduction="none") + 0.5 * F.kl_div(log_m, q, reduction="none")
    per_sample = elementwise.sum() if input.dim() == 1 else elementwise.reshape(input.shape[0], -1).sum(1)
    return _per_sample_reduce(per_sample, "mean" if reduction == "batchmean" else reduction)


def ref_distillation(student_logits, teacher_logits, target, *, temperature=4.0, alpha=0.9, reduction="mean"):
    """Hinton et al. 2015: alpha T^2 KL(softmax(t/T) || softmax(s/T)) + (1 - alpha) CE(s, y), per sample."""
    dim = 1 if student_logits.dim() > 1 else 0
    kl = F.kl_div(
        F.log_softmax(student_logits / temperature, dim=dim),
        F.log_softmax(teacher_logits / temperature, dim=dim),
        reduction="none",
        log_target=True,
    ).sum(dim)
    ce = F.cross_entropy(student_logits, target, reduction="none")
    per_position = alpha * temperature**2 * kl + (1 - alpha) * ce
    return _per_sample_reduce(per_position, reduction)


def _js_samples(dtype: torch.dtype) -> list[Sample]:
    logits_q, logits_p = torch.randn(4, 5, dtype=dtype), torch.randn(4, 5, dtype=dtype) * 2
    q, p = F.log_softmax(logits_q, 1), F.softmax(logits_p, 1)
    maps_q = F.log_softmax(torch.randn(2, 3, 4, dtype=dtype), 1)
    maps_p = F.softmax(torch.randn(2, 3, 4, dtype=dtype), 1)
    return [
        Sample((q, p), {}, "4x5", grad=(0, 1)),
        Sample((q, F.log_softmax(logits_p, 1)), {"log_target": True}, "log target", grad=(0, 1)),
        Sample((q[0], p[0]), {}, "one distribution", grad=(0, 1)),
        Sample((maps_q, maps_p), {}, "(N, C, L) maps", grad=(0, 1)),
        Sample((q.t().contiguous().t(), p), {}, "non-contiguous", grad=(0, 1)),
        Sample((q, q.exp()), {}, "identical distributions", grad=(0, 1)),
        Sample((q[:2], p[:2]), {"log_target": False}, "2x5", grad=(0, 1)),
    ]


def _distillation_samples(dtype: torch.dtype) -> list[Sample]:
    student = torch.randn(6, 5, dtype=dtype) * 2
    teacher = student + torch.randn(6, 5, dtype=dtype) * 3
    target = torch.tensor([0, 4, 2, 2, 1, 3])
    maps_s, maps_t = torch.randn(3, 4, 2, dtype=dtype), torch.randn(3, 4, 2, dtype=dtype) * 2
    return [
        Sample((student, teacher, target), {}, "6x5", grad=(0, 1)),
        Sample((student, teacher, target), {"temperature": 1.0, "alpha": 0.5}, "T=1, alpha=0.5", grad=(0, 1)),
        Sample((student, teacher, target), {"alpha": 0.0}, "alpha=0: cross-entropy", grad=(0, 1)),
        Sample((student, teacher, target), {"alpha": 1.0, "temperature": 10.0}, "alpha=1: soft only", grad=(0, 1)),
        Sample((maps_s, maps_t, torch.tensor([[0, 3], [1, 1], [2, 0]])), {"temperature": 2.0}, "K-dimensional",
               grad=(0, 1)),
        Sample((student[0], teacher[0], target[0]), {"temperature": 3.0}, "unbatched", grad=(0, 1)),
        Sample((student.t().contiguous().t(), teacher, target.int().long()), {"temperature": 2.5, "alpha": 0.7},
               "non-contiguous", grad=(0, 1)),
    ]


_P = torch.tensor([[0.2, 0.3, 0.5], [0.6, 0.2, 0.2]])

_JS_ERRORS = [
    ErrorCase("target of another shape", lambda: ((_P.log(), _P[:, :1]), {}), lk.LossShapeError,
              match=r"\(2, 3\).*\(2, 1\)"),
    ErrorCase("negative target", lambda: ((_P.log(), _P - 0.3), {}), lk.LossValueError,
              match="minimum of -0.1.*log_target=True"),
    ErrorCase("log-probability target without log_target", lambda: ((_P.log(), _P.log()), {}), lk.LossValueError,
              match=r"\[-1.6\d*, -0.5\d*\].*looks like log-probabilities; pass log_target=True"),
    ErrorCase("probabilities as input", lambda: ((_P, _P), {}), warns=lk.SuspiciousInputWarning,
              match="input must hold log-probabilities.*up to 0.6"),
    ErrorCase("integer target", lambda: ((_P.log(), torch.ones(2, 3, dtype=torch.long)), {}), lk.LossTypeError,
              match="torch.int64"),
    ErrorCase("nan input", lambda: ((torch.tensor([[math.nan, 0.0, -1.0]]), _P[:1]), {}), lk.NonFiniteError,
              match="input.*1 NaN"),
    ErrorCase("0-dim input", lambda: ((torch.tensor(-0.5), torch.tensor(0.5)), {}), lk.LossShapeError,
              match=r"shape \(\)"),
    ErrorCase("log_target not a bool", lambda: ((_P.log(), _P), {"log_target": "yes"}), lk.LossOptionError,
              match="'yes'"),
    ErrorCase("bad reduction", lambda: ((_P.log(), _P), {"reduction": "batch_mean"}), lk.LossOptionError,
              match="'batch_mean'.*did you mean 'batchmean'"),
]

_S, _T, _Y = torch.randn(6, 4), torch.randn(6, 4), torch.tensor([0, 3, 1, 1, 2, 0])

_DISTILLATION_ERRORS = [
    ErrorCase("teacher of another shape", lambda: ((_S, _T[:, :3], _Y), {}), lk.LossShapeError,
              match=r"\(6, 4\).*\(6, 3\)"),
    ErrorCase("target (N, 1)", lambda: ((_S, _T, _Y[:, None]), {}), lk.LossShapeError, match=r"\(6, 1\)"),
    ErrorCase("float target", lambda: ((_S, _T, _Y.float()), {}), lk.LossTypeError, match="torch.float32"),
    ErrorCase("target out of range", lambda: ((_S, _T, _Y + 2), {}), lk.LossValueError, match=r"\[0, 4\).*5"),
    ErrorCase("integer logits", lambda: ((_Y[:, None].repeat(1, 4), _T, _Y), {}), lk.LossTypeError,
              match="student_logits.*torch.int64"),
    ErrorCase("nan teacher", lambda: ((_S, _T.index_fill(0, torch.tensor([1]), math.nan), _Y), {}),
              lk.NonFiniteError, match="teacher_logits.*4 NaN"),
    ErrorCase("alpha above 1", lambda: ((_S, _T, _Y), {"alpha": 1.5}), lk.LossOptionError, match="alpha.*1.5"),
    ErrorCase("zero temperature", lambda: ((_S, _T, _Y), {"temperature": 0}), lk.LossOptionError,
              match="temperature.*0"),
    ErrorCase("probabilities as student logits", lambda: ((_S.softmax(1), _T, _Y), {}),
              warns=lk.SuspiciousInputWarning, match=r"\(6, 4\).*looks like probabilities"),
]


def _js_empty():
    return (torch.zeros(0, 3), torch.zeros(0, 3)), {}


def _distillation_empty():
    return (torch.zeros(0, 4), torch.zeros(0, 4), torch.zeros(0, dtype=torch.long)), {}


ENTRIES = [
    LossEntry(LF.js_div, lk.JSDivLoss, _js_samples, ref_js_div, errors=_JS_ERRORS, empty=_js_empty,
              reductions=("none", "mean", "sum", "batchmean")),
    LossEntry(LF.distillation_loss, lk.DistillationLoss, _distillation_samples, ref_distillation,
              errors=_DISTILLATION_ERRORS, empty=_distillation_empty),
]
