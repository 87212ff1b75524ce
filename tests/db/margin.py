"""Test-database entries of the margin family (torch's margin losses).

References are torch 2.13's functions; the two weighted losses apply losskit's documented weighted mean
(``sum(w * l) / sum(w)``) on top of torch's own per-element numbers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

import losskit as lk
import losskit.functional as LF
from tests.loss_db import ErrorCase, LossEntry, Sample


def _pm1(*shape: int, dtype=torch.float32) -> torch.Tensor:
    return torch.randint(0, 2, shape).to(dtype) * 2 - 1


def _split_weight(s: Sample) -> tuple[dict, tuple]:
    """Module split of a loss whose third positional argument is a constructor weight."""
    ctor = dict(s.kwargs)
    if len(s.args) > 2:
        ctor["weight"] = s.args[2]
    return ctor, s.args[:2]


# --------------------------------------------------------------------------------------------
# references: torch, plus the documented weighted mean
# --------------------------------------------------------------------------------------------
def _reduce(terms: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "none":
        return terms
    return terms.sum() if reduction == "sum" else terms.mean()


def _ref_soft_margin(input, target, *, reduction="mean"):
    return F.soft_margin_loss(input, target.to(input.dtype), reduction=reduction)


def _ref_hinge(input, target, *, margin=1.0, reduction="mean"):
    return F.hinge_embedding_loss(input, target.to(input.dtype), margin=margin, reduction=reduction)


def _ref_ranking(input1, input2, target, *, margin=0.0, reduction="mean"):
    return F.margin_ranking_loss(input1, input2, target.to(input1.dtype), margin=margin, reduction=reduction)


def _ref_cosine(input1, input2, target, *, margin=0.0, reduction="mean"):
    return F.cosine_embedding_loss(input1, input2, target.to(input1.dtype), margin=margin, reduction=reduction)


def _ref_multilabel_soft_margin(input, target, weight=None, *, reduction="mean"):
    """torch's per-sample loss divides sum_c w_c l_nc by C; losskit's by sum_c w_c (weighted average)."""
    target = target.to(input.dtype)
    if weight is None:
        return F.multilabel_soft_margin_loss(input, target, reduction=reduction)
    per_sample = F.multilabel_soft_margin_loss(input, target, weight=weight, reduction="none")
    per_sample = per_sample * input.shape[-1] / weight.sum()
    return _reduce(per_sample, reduction)


def _ref_multi_margin(input, target, weight=None, *, p=1, margin=1.0, reduction="mean"):
    """torch's terms are w[y_i] l_i; losskit's mean divides their sum by sum_i w[y_i] instead of N."""
    target = target.long()  # losskit accepts any integer dtype, torch only int64
    terms = F.multi_margin_loss(input, target, p=p, margin=margin, weight=weight, reduction="none")
    if weight is None or reduction != "mean":
        return _reduce(terms, reduction)
    return terms.sum() / weight[target].sum()


def _ref_multilabel_margin(input, target, *, reduction="mean"):
    return F.multilabel_margin_loss(input, target.long(), reduction=reduction)


# --------------------------------------------------------------------------------------------
# samples
# --------------------------------------------------------------------------------------------
def _soft_margin_samples(dtype):
    x = torch.randn(6, 5, dtype=dtype) * 2
    y = _pm1(6, 5, dtype=dtype)
    return [
        Sample((x, y), {}, "2d"),
        Sample((x.t(), y.t()), {}, "non-contiguous"),
        Sample((x, y.long()), {}, "integer target"),
        Sample((torch.tensor(0.3, dtype=dtype), torch.tensor(-1.0, dtype=dtype)), {}, "scalar"),
        Sample((torch.randn(2, 3, 4, dtype=dtype), _pm1(2, 3, 4, dtype=dtype)), {}, "3d"),
    ]


def _hinge_samples(dtype):
    d = torch.rand(6, 5, dtype=dtype) * 2
    y = _pm1(6, 5, dtype=dtype)
    return [
        Sample((d, y), {}, "2d"),
        Sample((d.t(), y.t()), {"margin": 0.5}, "non-contiguous, margin 0.5"),
        Sample((d, y.to(torch.int32)), {"margin": 1.5}, "int32 target"),
        Sample((torch.tensor(0.4, dtype=dtype), torch.tensor(-1.0, dtype=dtype)), {}, "scalar"),
        Sample((torch.randn(3, 4, dtype=dtype), _pm1(3, 4, dtype=dtype)), {"margin": -0.2}, "negative margin"),
    ]


def _ranking_samples(dtype):
    a, b = torch.randn(8, dtype=dtype), torch.randn(8, dtype=dtype)
    y = _pm1(8, dtype=dtype)
    big = torch.randn(2, 3, 4, dtype=dtype)
    return [
        Sample((a, b, y), {}, "1d", grad=(0, 1)),
        Sample((a, b, y.long()), {"margin": 0.3}, "margin, integer target", grad=(0, 1)),
        Sample((big, big.flip(0), _pm1(2, 3, 4, dtype=dtype)), {"margin": 0.5}, "3d", grad=(0, 1)),
        Sample((big.transpose(0, 2), torch.randn(2, 3, 4, dtype=dtype).transpose(0, 2), _pm1(4, 3, 2, dtype=dtype)), {},
               "non-contiguous", grad=(0, 1)),
    ]


def _cosine_samples(dtype):
    a, b = torch.randn(6, 4, dtype=dtype), torch.randn(6, 4, dtype=dtype)
    y = _pm1(6, dtype=dtype)
    return [
        Sample((a, b, y), {}, "2d", grad=(0, 1)),
        Sample((a, b, y.long()), {"margin": 0.2}, "margin, integer target", grad=(0, 1)),
        Sample((a.t().contiguous().t(), b[:, [3, 1, 0, 2]], y), {"margin": -0.3}, "non-contiguous", grad=(0, 1)),
        Sample((a[0], b[0], torch.tensor(-1.0, dtype=dtype)), {"margin": 0.1}, "unbatched (D,)", grad=(0, 1)),
        Sample((a[0], b[0], torch.tensor(1.0, dtype=dtype)), {}, "unbatched similar", grad=(0, 1)),
    ]


def _multilabel_soft_margin_samples(dtype):
    x = torch.randn(4, 5, dtype=dtype) * 2
    y = torch.randint(0, 2, (4, 5))
    w = torch.rand(5, dtype=dtype) + 0.1
    return [
        Sample((x, y.to(dtype)), {}, "2d"),
        Sample((x, y), {}, "integer target"),
        Sample((x, torch.rand(4, 5, dtype=dtype)), {}, "soft target", grad=(0, 1)),
        Sample((x.t().contiguous().t(), y.to(dtype)), {}, "non-contiguous"),
        Sample((x[0], y[0].to(dtype), w), {}, "unbatched (C,), weighted"),
        Sample((torch.randn(2, 3, 5, dtype=dtype), torch.randint(0, 2, (2, 3, 5)).to(dtype), w), {}, "3d, weighted"),
        Sample((x, y.to(dtype), w), {}, "weighted"),
    ]


def _multi_margin_samples(dtype):
    x = torch.randn(5, 4, dtype=dtype)
    y = torch.tensor([0, 3, 1, 1, 2])
    w = torch.rand(4, dtype=dtype) + 0.1
    return [
        Sample((x, y), {}, "2d"),
        Sample((x, y), {"p": 2, "margin": 0.5}, "p=2, margin 0.5"),
        Sample((x.t().contiguous().t(), y.to(torch.int32)), {"margin": 2.0}, "non-contiguous, int32 target"),
        Sample((x[0], torch.tensor(2)), {}, "unbatched (C,)"),
        Sample((x[0], torch.tensor(2), w), {"p": 2}, "unbatched, weighted"),
        Sample((x, y, w), {"p": 2, "margin": 0.7}, "weighted p=2"),
        Sample((x, y, w), {}, "weighted"),
    ]


def _multilabel_margin_samples(dtype):
    x = torch.randn(4, 5, dtype=dtype)
    y = torch.tensor([[3, 0, -1, 1, 1], [4, -1, 0, 0, 0], [0, 1, 2, 3, 4], [-1, 2, 2, 2, 2]])
    return [
        Sample((x, y), {}, "2d (padding after -1 ignored)"),
        Sample((x.t().contiguous().t(), y.to(torch.int32)), {}, "non-contiguous, int32 target"),
        Sample((x[1], y[1]), {}, "unbatched (C,)"),
        Sample((torch.randn(3, 2, dtype=dtype), torch.tensor([[1, -1], [0, 1], [-1, 0]])), {}, "two classes"),
    ]


# --------------------------------------------------------------------------------------------
# errors and empty inputs
# --------------------------------------------------------------------------------------------
def _nan(*shape: int) -> torch.Tensor:
    t = torch.randn(*shape)
    t.view(-1)[1] = float("nan")
    return t


def _zero_one_case(args: tuple) -> ErrorCase:
    return ErrorCase("{0, 1} targets", lambda: (args, {}), lk.LossValueError,
                     match=r"\{0, 1\} labels \(0, 1\); use target \* 2 - 1")


_Y01 = torch.tensor([0.0, 1.0, 1.0, 0.0])
_Y_PM1 = torch.tensor([1.0, -1.0, 1.0, -1.0])

SOFT_MARGIN_ERRORS = [
    _zero_one_case((torch.randn(4), _Y01)),
    ErrorCase("other non -1/1 target", lambda: ((torch.randn(4), torch.tensor([0.5, -1.0, 1.0, 2.0])), {}),
              warns=lk.SuspiciousInputWarning, match=r"\{-1, 0\.5, 1, 2\}"),
    ErrorCase("broadcast (N,1) vs (N,)", lambda: ((torch.randn(4, 1), _Y_PM1), {}), lk.LossShapeError,
              match=r"\(4, 1\).*\(4,\).*broadcast"),
    ErrorCase("integer predictions", lambda: ((torch.tensor([1, 2, 3, 4]), _Y_PM1), {}), lk.LossTypeError,
              match="torch.int64"),
    ErrorCase("nan input", lambda: ((_nan(4), _Y_PM1), {}), lk.NonFiniteError, match="input.*1 NaN"),
]

HINGE_ERRORS = [
    _zero_one_case((torch.rand(4), _Y01)),
    ErrorCase("target 2", lambda: ((torch.rand(4), torch.tensor([1.0, -1.0, 2.0, 1.0])), {}), lk.LossValueError,
              match=r"\{-1, 1, 2\}"),
    ErrorCase("shape mismatch", lambda: ((torch.rand(4, 3), torch.ones(3, 4)), {}), lk.LossShapeError,
              match=r"\(4, 3\).*\(3, 4\)"),
    ErrorCase("integer predictions", lambda: ((torch.tensor([1, 2, 3, 4]), _Y_PM1), {}), lk.LossTypeError,
              match="torch.int64"),
    ErrorCase("inf input", lambda: ((torch.tensor([float("inf"), 0.0, 1.0, 2.0]), _Y_PM1), {}), lk.NonFiniteError,
              match="input.*1 infinite"),
    ErrorCase("tensor margin", lambda: ((torch.rand(4), _Y_PM1), {"margin": torch.tensor(1.0)}), lk.LossOptionError,
              match="margin.*Tensor"),
]

RANKING_ERRORS = [
    _zero_one_case((torch.randn(4), torch.randn(4), _Y01)),
    ErrorCase("input2 broadcasts", lambda: ((torch.randn(4), torch.randn(1), _Y_PM1), {}), lk.LossShapeError,
              match=r"input2.*\(1,\).*broadcast"),
    ErrorCase("target broadcasts", lambda: ((torch.randn(4, 3), torch.randn(4, 3), _Y_PM1.view(4, 1)), {}),
              lk.LossShapeError, match=r"target.*\(4, 1\)"),
    ErrorCase("integer input2", lambda: ((torch.randn(4), torch.tensor([1, 2, 3, 4]), _Y_PM1), {}), lk.LossTypeError,
              match="input2.*torch.int64"),
    ErrorCase("nan input2", lambda: ((torch.randn(4), _nan(4), _Y_PM1), {}), lk.NonFiniteError,
              match="input2.*1 NaN"),
]

COSINE_ERRORS = [
    _zero_one_case((torch.randn(4, 3), torch.randn(4, 3), _Y01)),
    ErrorCase("target (N, 1)", lambda: ((torch.randn(4, 3), torch.randn(4, 3), _Y_PM1.view(4, 1)), {}),
              lk.LossShapeError, match=r"target must have shape \(4,\).*got \(4, 1\).*squeeze"),
    ErrorCase("input2 broadcasts", lambda: ((torch.randn(4, 3), torch.randn(1, 3), _Y_PM1), {}), lk.LossShapeError,
              match=r"input2.*\(1, 3\).*broadcast"),
    ErrorCase("3-d inputs", lambda: ((torch.randn(2, 4, 3), torch.randn(2, 4, 3), torch.ones(2, 4)), {}),
              lk.LossShapeError, match=r"\(2, 4, 3\) \(3-D\)"),
    ErrorCase("integer input1", lambda: ((torch.ones(4, 3, dtype=torch.int32), torch.randn(4, 3), _Y_PM1), {}),
              lk.LossTypeError, match="input1.*torch.int32"),
    ErrorCase("nan input1", lambda: ((_nan(4, 3), torch.randn(4, 3), _Y_PM1), {}), lk.NonFiniteError,
              match="input1.*1 NaN"),
]

MULTILABEL_SOFT_MARGIN_ERRORS = [
    ErrorCase("-1/1 targets", lambda: ((torch.randn(2, 3), torch.tensor([[1.0, -1.0, 1.0], [-1.0, 1.0, 1.0]])), {}),
              lk.LossValueError, match=r"\[-1, 1\]; .*\(target \+ 1\) / 2"),
    ErrorCase("class-index target", lambda: ((torch.randn(4, 3), torch.tensor([0, 2, 1, 1])), {}), lk.LossShapeError,
              match=r"\(4, 3\).*\(4,\)"),
    ErrorCase("weight length", lambda: ((torch.randn(2, 3), torch.ones(2, 3), torch.ones(4)), {}), lk.LossShapeError,
              match=r"weight.*3 elements.*\(4,\)"),
    ErrorCase("per-element weight", lambda: ((torch.randn(2, 3), torch.ones(2, 3), torch.ones(2, 3)), {}),
              lk.LossShapeError, match=r"weight.*\(2, 3\)"),
    ErrorCase("negative weight", lambda: ((torch.randn(2, 3), torch.ones(2, 3), torch.tensor([1.0, -2.0, 1.0])), {}),
              lk.LossValueError, match="minimum of -2"),
    ErrorCase("integer predictions", lambda: ((torch.ones(2, 3, dtype=torch.int64), torch.ones(2, 3)), {}),
              lk.LossTypeError, match="torch.int64"),
    ErrorCase("nan input", lambda: ((_nan(2, 3), torch.ones(2, 3)), {}), lk.NonFiniteError, match="input.*1 NaN"),
    ErrorCase("0-d input", lambda: ((torch.tensor(1.0), torch.tensor(1.0)), {}), lk.LossShapeError,
              match=r"got shape \(\) \(0-D\)"),
]

MULTI_MARGIN_ERRORS = [
    ErrorCase("p=3", lambda: ((torch.randn(2, 3), torch.tensor([0, 1])), {"p": 3}), lk.LossOptionError, match="got 3"),
    ErrorCase("target (N, 1)", lambda: ((torch.randn(2, 3), torch.tensor([[0], [1]])), {}), lk.LossShapeError,
              match=r"\(2, 1\).*squeeze"),
    ErrorCase("float target", lambda: ((torch.randn(2, 3), torch.tensor([0.0, 1.0])), {}), lk.LossTypeError,
              match="torch.float32"),
    ErrorCase("one-hot target", lambda: ((torch.randn(2, 3), torch.tensor([[1, 0, 0], [0, 1, 0]])), {}),
              lk.LossShapeError, match=r"\(2, 3\).*one-hot"),
    ErrorCase("class out of range", lambda: ((torch.randn(2, 3), torch.tensor([0, 3])), {}), lk.LossValueError,
              match=r"got 3 \(target range \[0, 3\]\)"),
    ErrorCase("weight length", lambda: ((torch.randn(2, 3), torch.tensor([0, 1]), torch.ones(2)), {}),
              lk.LossShapeError, match=r"weight.*\(2,\)"),
    ErrorCase("negative weight", lambda: ((torch.randn(2, 3), torch.tensor([0, 1]), torch.tensor([1.0, -0.5, 1.0])),
                                          {}), lk.LossValueError, match="minimum of -0.5"),
    ErrorCase("integer predictions", lambda: ((torch.ones(2, 3, dtype=torch.int64), torch.tensor([0, 1])), {}),
              lk.LossTypeError, match="torch.int64"),
    ErrorCase("inf input", lambda: ((torch.tensor([[0.0, float("-inf"), 1.0]]), torch.tensor([0])), {}),
              lk.NonFiniteError, match="input.*1 infinite"),
]

MULTILABEL_MARGIN_ERRORS = [
    ErrorCase("float target", lambda: ((torch.randn(2, 3), torch.tensor([[0.0, -1.0, 0.0], [1.0, 2.0, -1.0]])), {}),
              lk.LossTypeError, match="torch.float32"),
    ErrorCase("target below -1", lambda: ((torch.randn(2, 3), torch.tensor([[0, -2, 0], [1, 2, -1]])), {}),
              lk.LossValueError, match=r"got -2 \(target range \[-2, 2\]\)"),
    ErrorCase("target equals C", lambda: ((torch.randn(2, 3), torch.tensor([[3, -1, 0], [1, 2, -1]])), {}),
              lk.LossValueError, match=r"got 3 \(target range \[-1, 3\]\).*1-based"),
    ErrorCase("multi-hot target", lambda: ((torch.randn(2, 4), torch.tensor([[0, 1, 1, 0], [1, 0, 0, 1]])), {}),
              warns=lk.SuspiciousInputWarning, match=r"row 0 repeats an index \(\[0, 1, 1, 0\]\)"),
    ErrorCase("class-index target", lambda: ((torch.randn(4, 3), torch.tensor([0, 2, 1, 1])), {}), lk.LossShapeError,
              match=r"\(4, 3\).*\(4,\)"),
    ErrorCase("3-d input", lambda: ((torch.randn(2, 2, 3), torch.zeros(2, 2, 3, dtype=torch.long)), {}),
              lk.LossShapeError, match=r"\(2, 2, 3\) \(3-D\)"),
    ErrorCase("nan input", lambda: ((_nan(2, 3), torch.tensor([[0, -1, 0], [1, 2, -1]])), {}), lk.NonFiniteError,
              match="input.*1 NaN"),
]


def _empty_pair(shape, target_dtype=torch.float32):
    return lambda: ((torch.zeros(*shape), torch.zeros(*shape, dtype=target_dtype)), {})


ENTRIES = [
    LossEntry(LF.soft_margin_loss, lk.SoftMarginLoss, _soft_margin_samples, _ref_soft_margin,
              errors=SOFT_MARGIN_ERRORS, empty=_empty_pair((0,))),
    LossEntry(LF.hinge_embedding_loss, lk.HingeEmbeddingLoss, _hinge_samples, _ref_hinge,
              errors=HINGE_ERRORS, empty=_empty_pair((0, 3))),
    LossEntry(LF.margin_ranking_loss, lk.MarginRankingLoss, _ranking_samples, _ref_ranking,
              errors=RANKING_ERRORS, empty=lambda: ((torch.zeros(0), torch.zeros(0), torch.zeros(0)), {})),
    LossEntry(LF.cosine_embedding_loss, lk.CosineEmbeddingLoss, _cosine_samples, _ref_cosine,
              errors=COSINE_ERRORS, empty=lambda: ((torch.zeros(0, 4), torch.zeros(0, 4), torch.zeros(0)), {})),
    LossEntry(LF.multilabel_soft_margin_loss, lk.MultiLabelSoftMarginLoss, _multilabel_soft_margin_samples,
              _ref_multilabel_soft_margin, module_call=_split_weight, errors=MULTILABEL_SOFT_MARGIN_ERRORS,
              empty=lambda: ((torch.zeros(0, 5), torch.zeros(0, 5), torch.ones(5)), {}),
              precision_samples=("weighted",)),
    LossEntry(LF.multi_margin_loss, lk.MultiMarginLoss, _multi_margin_samples, _ref_multi_margin,
              module_call=_split_weight, errors=MULTI_MARGIN_ERRORS,
              empty=lambda: ((torch.zeros(0, 4), torch.zeros(0, dtype=torch.long), torch.ones(4)), {}),
              precision_samples=("weighted",)),
    LossEntry(LF.multilabel_margin_loss, lk.MultiLabelMarginLoss, _multilabel_margin_samples, _ref_multilabel_margin,
              errors=MULTILABEL_MARGIN_ERRORS, empty=_empty_pair((0, 4), torch.long)),
]
