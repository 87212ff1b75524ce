"""Test-database entries of the augmentation family: soft-target cross-entropy, soft-target binary cross-entropy
(timm's BinaryCrossEntropy) and AugMix's JSD + cross-entropy.

The references are written from the definitions, independently of the code under test: explicit target tensors
built with ``F.one_hot`` and torch's own ``softmax``/``binary_cross_entropy_with_logits``/``cross_entropy``; the
JSD term as the AugMix code writes it (``torch.chunk`` into views, the mixture of softmaxes clamped to
``[1e-7, 1]`` and ``p * (log p - log M)`` summed).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

import losskit as lk
import losskit.functional as LF
from tests.loss_db import ErrorCase, LossEntry, Sample
from tests.references import weighted_average


# --------------------------------------------------------------------------------------------
# references
# --------------------------------------------------------------------------------------------
def _reduce(terms: torch.Tensor, reduction: str) -> torch.Tensor:
    return {"none": terms, "sum": terms.sum(), "mean": terms.mean()}[reduction]


def ref_soft_target_cross_entropy(input, target, *, reduction="mean"):
    """-sum_c t_c log softmax(x)_c over the class dim (dim 1, or 0 unbatched)."""
    dim = 1 if input.dim() > 1 else 0
    return _reduce(-(target * torch.log(torch.softmax(input, dim))).sum(dim), reduction)


def ref_soft_target_binary_cross_entropy(input, target, weight=None, *, label_smoothing=0.1, target_threshold=None,
                                         smooth_dense=False, pos_weight=None, reduction="mean"):
    """timm's recipe step by step: one-hot with off = s / C, on = 1 - s + s / C (class indices), dense targets
    as given (or t (1 - s) + s / 2), then the threshold, then torch's BCE with logits per element."""
    num_classes = input.shape[1]
    if target.dim() == 1:
        onehot = F.one_hot(target.long(), num_classes).to(input.dtype)
        off = label_smoothing / num_classes
        t = onehot * (1 - label_smoothing + off) + (1 - onehot) * off
    else:
        t = target * (1 - label_smoothing) + label_smoothing / 2 if smooth_dense else target
    if target_threshold is not None:
        t = (t > target_threshold).to(input.dtype)
    loss = F.binary_cross_entropy_with_logits(input, t, pos_weight=pos_weight, reduction="none")
    w = torch.ones((), dtype=input.dtype) if weight is None else weight
    if reduction == "batchmean":
        return (loss * w).sum(1).mean()
    return weighted_average(loss, w, reduction) if weight is not None else _reduce(loss, reduction)


def ref_jsd_cross_entropy(input, target, *, num_splits=3, alpha=12.0, label_smoothing=0.1, reduction="mean"):
    """Hendrycks et al. (2020), the AugMix ImageNet code per image: CE on the clean view + alpha * mean over views
    of KL(p_view || M), M the mean of the views' softmaxes clamped to [1e-7, 1]."""
    views = torch.chunk(input, num_splits, dim=0)
    batch = views[0].shape[0]
    ce = F.cross_entropy(views[0], target[:batch], label_smoothing=label_smoothing, reduction="none")
    probs = [torch.softmax(v, dim=1) for v in views]
    log_m = torch.clamp(sum(probs) / num_splits, 1e-7, 1).log()
    js = sum((p * (torch.log(p) - log_m)).sum(1) for p in probs) / num_splits
    return _reduce(ce + alpha * js, reduction)


# --------------------------------------------------------------------------------------------
# samples
# --------------------------------------------------------------------------------------------
def _mixup(n: int, c: int, dtype: torch.dtype) -> torch.Tensor:
    """mixup targets: lam * onehot(y1) + (1 - lam) * onehot(y2), lam per row."""
    lam = torch.rand(n, 1, dtype=dtype)
    a = F.one_hot(torch.randint(0, c, (n,)), c).to(dtype)
    b = F.one_hot(torch.randint(0, c, (n,)), c).to(dtype)
    return lam * a + (1 - lam) * b


def _soft_ce_samples(dtype: torch.dtype) -> list[Sample]:
    x = torch.randn(6, 5, dtype=dtype) * 2
    xk = torch.randn(2, 5, 3, 2, dtype=dtype) * 2
    return [
        Sample((x, _mixup(6, 5, dtype)), {}, "mixup targets (6, 5)"),
        Sample(((torch.randn(5, 6, dtype=dtype) * 2).t(), torch.softmax(torch.randn(6, 5, dtype=dtype), 1)), {},
               "non-contiguous, softmax targets", grad=(0, 1)),
        Sample((xk, torch.softmax(torch.randn(2, 5, 3, 2, dtype=dtype), 1)), {}, "K-dim (2, 5, 3, 2)"),
        Sample((x[0], _mixup(1, 5, dtype)[0]), {}, "unbatched (C,)"),
        Sample((x, 0.5 * _mixup(6, 5, dtype)), {}, "targets summing to 0.5 (used as given)", grad=(0, 1)),
    ]


def _soft_bce_samples(dtype: torch.dtype) -> list[Sample]:
    x = torch.randn(6, 5, dtype=dtype) * 2
    t = torch.tensor([0, 4, 2, 1, 3, 2])
    return [
        Sample((x, t), {}, "class indices, timm's defaults (smoothing 0.1)"),
        Sample((x, t, torch.rand(5, dtype=dtype) + 0.1),
               {"label_smoothing": 0.0, "pos_weight": torch.rand(5, dtype=dtype) * 3},
               "class indices, weight (C,), pos_weight, no smoothing"),
        Sample((x, _mixup(6, 5, dtype)), {}, "mixup targets (as given)", grad=(0, 1)),
        Sample(((torch.randn(5, 6, dtype=dtype) * 2).t(), _mixup(6, 5, dtype)),
               {"smooth_dense": True, "label_smoothing": 0.2}, "non-contiguous, mixup targets, smooth_dense"),
        Sample((x, _mixup(6, 5, dtype)), {"target_threshold": 0.2}, "mixup targets, target_threshold=0.2"),
        Sample((x, t, torch.rand(6, 5, dtype=dtype)), {"target_threshold": 0.05, "label_smoothing": 0.3},
               "class indices, per-element weight, smoothing 0.3 + threshold", grad=(0, 2)),
    ]


def _jsd_samples(dtype: torch.dtype) -> list[Sample]:
    t = torch.tensor([0, 4, 2, 1])
    x = torch.randn(12, 5, dtype=dtype) * 2
    return [
        Sample((x, t), {}, "3 views of 4 images, timm's defaults"),
        Sample((x, t.repeat(3)), {"label_smoothing": 0.0}, "targets of every row (timm's loader), no smoothing"),
        Sample(((torch.randn(5, 8, dtype=dtype) * 2).t(), t), {"num_splits": 2, "alpha": 1.0},
               "non-contiguous, 2 views"),
        Sample((x[:4], t), {"num_splits": 1}, "1 view: cross-entropy"),
        Sample((torch.randn(16, 3, dtype=dtype) * 3, t % 3),
               {"num_splits": 4, "alpha": 3.0, "label_smoothing": 0.2}, "4 views, 3 classes"),
    ]


# --------------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------------
def _soft_ce_errors() -> list[ErrorCase]:
    x = torch.randn(4, 3)
    return [
        ErrorCase("class-index target", lambda: ((x, torch.tensor([0, 1, 2, 1])), {}), lk.LossTypeError,
                  match=r"torch\.int64.*cross_entropy.*one_hot"),
        ErrorCase("shapes differ", lambda: ((x, torch.rand(4, 4)), {}), lk.LossShapeError, match=r"\(4, 4\)"),
        ErrorCase("target above 1", lambda: ((x, torch.full((4, 3), 2.0)), {}), lk.LossValueError,
                  match=r"target.*\[0, 1\].*\[2, 2\]"),
        ErrorCase("NaN input", lambda: ((torch.tensor([[0.0, float("nan")]]), torch.tensor([[0.5, 0.5]])), {}),
                  lk.NonFiniteError, match="input.*1 NaN"),
        ErrorCase("integer input", lambda: ((torch.ones(4, 3, dtype=torch.long), torch.rand(4, 3)), {}),
                  lk.LossTypeError, match=r"input.*torch\.int64"),
        ErrorCase("bad reduction", lambda: ((x, torch.rand(4, 3)), {"reduction": "batchmean"}), lk.LossOptionError,
                  match="'batchmean'"),
        ErrorCase("softmax output as input", lambda: ((x.softmax(1), torch.rand(4, 3)), {}),
                  warns=lk.SuspiciousInputWarning, match=r"looks like probabilities"),
    ]


def _soft_bce_errors() -> list[ErrorCase]:
    x, t = torch.randn(4, 3), torch.tensor([0, 1, 2, 1])
    return [
        ErrorCase("3-D input", lambda: ((torch.randn(2, 3, 4), t), {}), lk.LossShapeError,
                  match=r"\(N, C\).*\(2, 3, 4\)"),
        ErrorCase("float (N,) target", lambda: ((x, t.float()), {}), lk.LossTypeError,
                  match=r"class indices.*torch\.float32.*target\.long\(\)"),
        ErrorCase("integer (N, C) target", lambda: ((x, torch.ones(4, 3, dtype=torch.long)), {}), lk.LossTypeError,
                  match=r"torch\.int64.*target\.float\(\)"),
        ErrorCase("(N, 1) target", lambda: ((x, torch.ones(4, 1)), {}), lk.LossShapeError, match=r"\(4, 1\)"),
        ErrorCase("index out of range", lambda: ((x, torch.tensor([0, 3, 1, 2])), {}), lk.LossValueError,
                  match=r"\[0, 3\).*but got 3"),
        ErrorCase("dense target above 1", lambda: ((x, torch.full((4, 3), 3.0)), {}), lk.LossValueError,
                  match=r"target.*\[0, 1\]"),
        ErrorCase("weight does not broadcast", lambda: ((x, t, torch.ones(4)), {}), lk.LossShapeError,
                  match=r"weight.*\(4,\)"),
        ErrorCase("negative pos_weight", lambda: ((x, t), {"pos_weight": torch.tensor([1.0, -1.0, 1.0])}),
                  lk.LossValueError, match=r"pos_weight.*-1"),
        ErrorCase("target_threshold a string", lambda: ((x, t), {"target_threshold": "0.2"}), lk.LossOptionError,
                  match=r"target_threshold.*'0\.2'"),
        ErrorCase("label_smoothing > 1", lambda: ((x, t), {"label_smoothing": 2.0}), lk.LossOptionError,
                  match=r"label_smoothing.*2\.0"),
        ErrorCase("bad reduction", lambda: ((x, t), {"reduction": "avg"}), lk.LossOptionError, match="'avg'"),
    ]


def _jsd_errors() -> list[ErrorCase]:
    x, t = torch.randn(6, 3), torch.tensor([0, 1])
    return [
        ErrorCase("rows not a multiple of num_splits", lambda: ((torch.randn(7, 3), t), {}), lk.LossShapeError,
                  match=r"multiple of 3.*\(7, 3\)"),
        ErrorCase("target of wrong length", lambda: ((x, torch.tensor([0, 1, 2])), {}), lk.LossShapeError,
                  match=r"\(2,\).*\(6,\).*\(3,\)"),
        ErrorCase("views' targets differ", lambda: ((x, torch.tensor([0, 1, 0, 1, 1, 1])), {}), lk.LossValueError,
                  match=r"repeat the clean images' labels"),
        ErrorCase("float class indices", lambda: ((x, t.float()), {}), lk.LossTypeError, match=r"torch\.float32"),
        ErrorCase("index out of range", lambda: ((x, torch.tensor([0, 5])), {}), lk.LossValueError,
                  match=r"\[0, 3\).*but got 5"),
        ErrorCase("NaN input", lambda: ((x.index_fill(0, torch.tensor([4]), float("nan")), t), {}),
                  lk.NonFiniteError, match="input.*NaN"),
        ErrorCase("num_splits = 0", lambda: ((x, t), {"num_splits": 0}), lk.LossOptionError, match=r"num_splits.*0"),
        ErrorCase("negative alpha", lambda: ((x, t), {"alpha": -1.0}), lk.LossOptionError, match=r"alpha.*-1\.0"),
        ErrorCase("bad reduction", lambda: ((x, t), {"reduction": "avg"}), lk.LossOptionError, match="'avg'"),
    ]


def _weight_to_ctor(sample: Sample) -> tuple[dict, tuple]:
    ctor = dict(sample.kwargs)
    if len(sample.args) > 2:
        ctor["weight"] = sample.args[2]
    return ctor, sample.args[:2]


ENTRIES = [
    LossEntry(LF.soft_target_cross_entropy, lk.SoftTargetCrossEntropy, _soft_ce_samples,
              ref_soft_target_cross_entropy, errors=_soft_ce_errors(),
              empty=lambda: ((torch.zeros(0, 3), torch.zeros(0, 3)), {})),
    LossEntry(LF.soft_target_binary_cross_entropy, lk.SoftTargetBinaryCrossEntropy, _soft_bce_samples,
              ref_soft_target_binary_cross_entropy, module_call=_weight_to_ctor, errors=_soft_bce_errors(),
              reductions=("none", "mean", "sum", "batchmean"),
              empty=lambda: ((torch.zeros(0, 3), torch.zeros(0, dtype=torch.long)), {}),
              precision_samples=("class indices, weight (C,), pos_weight, no smoothing",)),
    LossEntry(LF.jsd_cross_entropy, lk.JsdCrossEntropy, _jsd_samples, ref_jsd_cross_entropy, errors=_jsd_errors(),
              empty=lambda: ((torch.zeros(0, 3), torch.zeros(0, dtype=torch.long)), {})),
]
