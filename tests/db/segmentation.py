"""Test-database entries of the segmentation family: Dice, Jaccard, Tversky, Lovász.

The references are written from the papers' definitions, plainly: one image and one class at a time, ignored
pixels removed by boolean indexing, Python branches for the empty-mask rule and a Python loop for the
Lovász gradient (Berman et al., Alg. 1). None of them calls losskit.
"""

from __future__ import annotations

import torch

import losskit as lk
import losskit.functional as LF
from tests.loss_db import ErrorCase, LossEntry, Sample


# --------------------------------------------------------------------------------------------
# references
# --------------------------------------------------------------------------------------------
def _per_class_pixels(input, target, *, mode, from_logits, ignore_index, per_image, activate=True):
    """groups[g][c] = (scores, labels) of the valid pixels of class c in group g (an image, or the batch)."""
    if activate and from_logits:
        scores = input.softmax(1) if mode == "multiclass" else input.sigmoid()
    else:
        scores = input
    n, c = input.shape[0], input.shape[1]
    groups = []
    for i in range(n):
        row = []
        for k in range(c):
            s = scores[i, k].reshape(-1)
            raw = (target[i] if mode == "multiclass" else target[i, k]).reshape(-1)
            keep = torch.ones_like(raw, dtype=torch.bool) if ignore_index is None else raw != ignore_index
            lab = (raw == k).to(input.dtype) if mode == "multiclass" else raw.to(input.dtype)
            row.append((s[keep], lab[keep]))
        groups.append(row)
    if not per_image:
        groups = [[(torch.cat([g[k][0] for g in groups]), torch.cat([g[k][1] for g in groups])) for k in range(c)]]
    return groups


def _reduce(terms, weights, reduction):
    """terms, weights: (G, C); the weighted-average rule of losskit._reduction."""
    weighted = terms * weights
    if reduction == "none":
        return weighted
    if reduction == "sum":
        return weighted.sum()
    total = weights.sum()
    return weighted.sum() / total if float(total) > 0 else weighted.sum() * 0


def _ref_overlap(kind):
    def ref(input, target, class_weights=None, *, mode, alpha=0.5, beta=0.5, gamma=1.0, from_logits=True,
            smooth=0.0, eps=1e-7, ignore_index=None, log_loss=False, per_image=False, global_batch=False,
            reduction="mean"):
        groups = _per_class_pixels(input, target, mode=mode, from_logits=from_logits, ignore_index=ignore_index,
                                   per_image=per_image)
        rows = []
        for group in groups:
            row = []
            for p, t in group:
                tp = (p * t).sum()
                if kind == "dice":  # Milletari et al.: 2|X∩Y| / (|X| + |Y|)
                    score = (2 * tp + smooth) / torch.clamp(p.sum() + t.sum() + smooth, min=eps)
                elif kind == "jaccard":  # |X∩Y| / |X∪Y|
                    score = (tp + smooth) / torch.clamp(p.sum() + t.sum() - tp + smooth, min=eps)
                else:  # Salehi et al.: alpha on false positives, beta on false negatives
                    fp, fn = (p * (1 - t)).sum(), ((1 - p) * t).sum()
                    score = (tp + smooth) / torch.clamp(tp + alpha * fp + beta * fn + smooth, min=eps)
                loss = -torch.log(torch.clamp(score, min=eps)) if log_loss else 1 - score
                if gamma != 1.0:
                    loss = loss**gamma if float(loss.detach()) > 0 else loss * 0
                if float(t.sum()) == 0:  # smp: a class without target pixels contributes 0
                    loss = p.sum() * 0
                row.append(loss)
            rows.append(torch.stack(row))
        terms = torch.stack(rows)
        weights = torch.ones_like(terms) if class_weights is None else class_weights.to(terms.dtype).expand_as(terms)
        out = _reduce(terms, weights, reduction)
        return out[0] if reduction == "none" and not per_image else out

    ref.__name__ = f"ref_{kind}_loss"
    return ref


def _lovasz_weights_reference(labels_sorted):
    """Berman et al., Alg. 1: the increments of the Jaccard loss along the sorted pixels, counted in Python."""
    total = int(sum(labels_sorted))
    fg_seen = bg_seen = 0
    jaccard = []
    for v in labels_sorted:
        if v:
            fg_seen += 1
        else:
            bg_seen += 1
        jaccard.append(1.0 - (total - fg_seen) / (total + bg_seen))
    return [jaccard[0]] + [jaccard[i] - jaccard[i - 1] for i in range(1, len(jaccard))]


def ref_lovasz_loss(input, target, class_weights=None, *, mode, from_logits=True, ignore_index=None,
                    per_image=False, reduction="mean"):
    hinge = mode != "multiclass"
    groups = _per_class_pixels(input, target, mode=mode, from_logits=from_logits, ignore_index=ignore_index,
                               per_image=per_image, activate=not hinge)
    rows, counted = [], []
    for group in groups:
        row, cnt = [], []
        for s, t in group:
            errors = 1 - s * (2 * t - 1) if hinge else (t - s).abs()
            present = len(t) > 0 if hinge else float(t.sum()) > 0
            if not present:
                row.append(s.sum() * 0)
                cnt.append(0.0)
                continue
            errors_sorted, order = torch.sort(errors, descending=True)
            labels_sorted = [bool(v) for v in t[order].tolist()]
            w = torch.tensor(_lovasz_weights_reference(labels_sorted), dtype=s.dtype)
            if hinge:
                errors_sorted = torch.relu(errors_sorted)
            row.append((errors_sorted * w).sum())
            cnt.append(1.0)
        rows.append(torch.stack(row))
        counted.append(cnt)
    terms = torch.stack(rows)
    weights = torch.tensor(counted, dtype=terms.dtype)
    if class_weights is not None:
        weights = weights * class_weights.to(terms.dtype)
    out = _reduce(terms, weights, reduction)
    return out[0] if reduction == "none" and not per_image else out


# --------------------------------------------------------------------------------------------
# samples
# --------------------------------------------------------------------------------------------
def _overlap_samples(extra: dict):
    def make(dtype: torch.dtype) -> list[Sample]:
        x = torch.randn(2, 3, 4, 5, dtype=dtype) * 2
        labels = torch.randint(0, 3, (2, 4, 5))
        ignored = labels.clone()
        ignored[0, 0] = 255
        ignored[1, :, 4] = 255
        absent = torch.randint(0, 2, (2, 4, 5))  # class 2 never in the target
        bx = torch.randn(3, 1, 6, dtype=dtype) * 2
        bt = (torch.rand(3, 1, 6) > 0.5).to(dtype)
        bt[1] = 0  # an empty mask in the second image
        ml = torch.randn(2, 3, 3, 2, 2, dtype=dtype)
        soft = torch.rand(2, 3, 3, 2, 2, dtype=dtype)
        mlt = (torch.rand(2, 3, 5) > 0.5).long()
        mlt[:, 1] = 0  # an empty channel
        mlt[0, 0, 0] = -1
        w = torch.tensor([0.5, 2.0, 1.0], dtype=dtype)
        return [
            Sample((x, labels), {"mode": "multiclass", **extra}, "multiclass 2d"),
            Sample((x, ignored), {"mode": "multiclass", "ignore_index": 255, "per_image": True, **extra},
                   "multiclass ignore_index per_image"),
            Sample((x[:, :, 0, :2].contiguous(), labels[:, 0, :2].contiguous()), {"mode": "multiclass", **extra},
                   "multiclass no spatial dims"),
            Sample((bx, bt), {"mode": "binary", "smooth": 1.0, "log_loss": True, **extra}, "binary smooth log_loss"),
            Sample((bx, bt), {"mode": "binary", "per_image": True, **extra}, "binary per_image empty mask"),
            Sample((ml.sigmoid(), soft), {"mode": "multilabel", "from_logits": False, **extra},
                   "multilabel 3d soft targets probabilities"),
            Sample((ml.reshape(2, 3, 12)[..., 1:6], mlt), {"mode": "multilabel", "ignore_index": -1,
                                                          "per_image": True, **extra},
                   "multilabel ignore_index per_image non-contiguous"),
            Sample((x.transpose(2, 3), labels.transpose(1, 2)), {"mode": "multiclass", "global_batch": True, **extra},
                   "non-contiguous global_batch (one process)"),
            Sample((x, absent), {"mode": "multiclass", "class_weights": w, **extra}, "class_weights absent class"),
        ]

    return make


def _lovasz_samples(dtype: torch.dtype) -> list[Sample]:
    x = torch.randn(2, 3, 4, 4, dtype=dtype) * 2
    labels = torch.randint(0, 3, (2, 4, 4))
    ignored = labels.clone()
    ignored[0, :2] = 7
    labels_one_image = labels.clone()
    labels_one_image[1] = 0  # classes 1 and 2 only in image 0
    absent = torch.randint(0, 2, (2, 4, 4))
    bx = torch.randn(2, 1, 5, 5, dtype=dtype) * 2
    bt = (torch.rand(2, 1, 5, 5) > 0.5).to(dtype)
    bt_long = bt.long()
    bt_long[0, 0, 0] = 255
    ml = torch.randn(2, 3, 6, dtype=dtype) * 2
    mlt = (torch.rand(2, 3, 6) > 0.5).to(dtype)
    w = torch.tensor([1.0, 0.5, 3.0], dtype=dtype)
    return [
        Sample((x, labels), {"mode": "multiclass"}, "multiclass softmax"),
        Sample((x, ignored), {"mode": "multiclass", "ignore_index": 7, "per_image": True, "class_weights": w},
               "multiclass ignore_index per_image weighted"),
        Sample((x, labels_one_image), {"mode": "multiclass", "per_image": True}, "per_image uneven classes"),
        Sample((x.softmax(1), labels), {"mode": "multiclass", "from_logits": False}, "probabilities"),
        Sample((bx, bt), {"mode": "binary"}, "binary hinge"),
        Sample((bx, bt_long), {"mode": "binary", "ignore_index": 255, "per_image": True}, "binary ignore per_image"),
        Sample((ml, mlt), {"mode": "multilabel"}, "multilabel hinge per channel"),
        Sample((ml.transpose(0, 1).contiguous().transpose(0, 1), mlt), {"mode": "multilabel", "per_image": True},
               "multilabel per_image non-contiguous"),
        Sample((x, absent), {"mode": "multiclass", "class_weights": w}, "class_weights absent class"),
    ]


# --------------------------------------------------------------------------------------------
# errors and empty inputs
# --------------------------------------------------------------------------------------------
def _errors(extra: dict) -> list[ErrorCase]:
    mc = {"mode": "multiclass", **extra}
    return [
        ErrorCase("unknown mode", lambda: ((torch.randn(2, 3, 4), torch.randint(0, 3, (2, 4))),
                                           {**extra, "mode": "multi_class"}),
                  lk.LossOptionError, match="'multi_class'.*did you mean 'multiclass'"),
        ErrorCase("binary with 3 channels", lambda: ((torch.randn(2, 3, 4), torch.rand(2, 3, 4).round()),
                                                     {**extra, "mode": "binary"}),
                  lk.LossShapeError, match=r"\(2, 3, 4\).*multilabel"),
        ErrorCase("multiclass with one channel", lambda: ((torch.randn(2, 1, 4), torch.zeros(2, 4).long()), mc),
                  lk.LossShapeError, match=r"\(2, 1, 4\).*mode='binary'"),
        ErrorCase("one-hot target in multiclass", lambda: ((torch.randn(2, 3, 4), torch.zeros(2, 3, 4).long()), mc),
                  lk.LossShapeError, match=r"\(2, 3, 4\).*argmax\(1\)"),
        ErrorCase("(N, 1, *) class target", lambda: ((torch.randn(2, 3, 4), torch.zeros(2, 1, 4).long()), mc),
                  lk.LossShapeError, match=r"\(2, 1, 4\).*squeeze\(1\)"),
        ErrorCase("float class indices", lambda: ((torch.randn(2, 3, 4), torch.zeros(2, 4)), mc),
                  lk.LossTypeError, match="torch.float32"),
        ErrorCase("binary target without channel dim",
                  lambda: ((torch.randn(2, 1, 4), torch.zeros(2, 4)), {**extra, "mode": "binary"}),
                  lk.LossShapeError, match=r"\(2, 4\).*unsqueeze\(1\)"),
        ErrorCase("class index out of range", lambda: ((torch.randn(2, 3, 4), torch.full((2, 4), 5)), mc),
                  lk.LossValueError, match=r"\[0, 3\).*5"),
        ErrorCase("mask value 255 without ignore_index",
                  lambda: ((torch.randn(2, 2, 4), torch.full((2, 2, 4), 255.0)), {**extra, "mode": "multilabel"}),
                  lk.LossValueError, match="16 other value.*255"),
        ErrorCase("logits with from_logits=False",
                  lambda: ((torch.randn(2, 3, 4) * 3, torch.randint(0, 3, (2, 4))), {**mc, "from_logits": False}),
                  lk.LossValueError, match="input must lie in"),
        ErrorCase("class_weights length", lambda: ((torch.randn(2, 3, 4), torch.randint(0, 3, (2, 4))),
                                                   {**mc, "class_weights": torch.ones(2)}),
                  lk.LossShapeError, match=r"class_weights.*\(2,\)"),
        ErrorCase("negative class_weights", lambda: ((torch.randn(2, 3, 4), torch.randint(0, 3, (2, 4))),
                                                     {**mc, "class_weights": torch.tensor([1.0, -2.0, 1.0])}),
                  lk.LossValueError, match="-2"),
        ErrorCase("class_weights in binary mode", lambda: ((torch.randn(2, 1, 4), torch.zeros(2, 1, 4)),
                                                           {**extra, "mode": "binary",
                                                            "class_weights": torch.ones(1)}),
                  lk.LossOptionError, match=r"class_weights.*\(1,\)"),
        ErrorCase("integer input", lambda: ((torch.ones(2, 3, 4).long(), torch.randint(0, 3, (2, 4))), mc),
                  lk.LossTypeError, match="torch.int64"),
        ErrorCase("nan logits", lambda: ((torch.full((2, 3, 4), float("nan")), torch.randint(0, 3, (2, 4))), mc),
                  lk.NonFiniteError, match="24 NaN"),
        ErrorCase("devices differ", lambda: ((torch.randn(2, 3, 4), torch.zeros(2, 4, device="meta").long()), mc),
                  lk.LossDeviceError, match="meta"),
        ErrorCase("bad reduction", lambda: ((torch.randn(2, 3, 4), torch.randint(0, 3, (2, 4))),
                                            {**mc, "reduction": "batchwise_mean"}),
                  lk.LossOptionError, match="'batchwise_mean'"),
        ErrorCase("softmax output as logits", lambda: ((torch.randn(2, 3, 4).softmax(1), torch.randint(0, 3, (2, 4))),
                                                       mc),
                  warns=lk.SuspiciousInputWarning, match="looks like probabilities"),
    ]


def _overlap_errors(extra: dict) -> list[ErrorCase]:
    mc = {"mode": "multiclass", **extra}
    return [
        *_errors(extra),
        ErrorCase("eps = 0", lambda: ((torch.randn(2, 3, 4), torch.randint(0, 3, (2, 4))), {**mc, "eps": 0.0}),
                  lk.LossOptionError, match="eps.*0.0"),
        ErrorCase("negative smooth", lambda: ((torch.randn(2, 3, 4), torch.randint(0, 3, (2, 4))),
                                              {**mc, "smooth": -1.0}),
                  lk.LossOptionError, match="smooth.*-1.0"),
        ErrorCase("per_image with global_batch", lambda: ((torch.randn(2, 3, 4), torch.randint(0, 3, (2, 4))),
                                                          {**mc, "per_image": True, "global_batch": True}),
                  lk.LossOptionError, match="per_image=True"),
        ErrorCase("soft mask above 1", lambda: ((torch.randn(2, 1, 4), torch.full((2, 1, 4), 1.5)),
                                                {**extra, "mode": "binary"}),
                  lk.LossValueError, match="in \\[0, 1\\].*1.5"),
    ]


def _tversky_errors() -> list[ErrorCase]:
    mc = {"mode": "multiclass"}
    return [
        *_overlap_errors({}),
        ErrorCase("negative alpha", lambda: ((torch.randn(2, 3, 4), torch.randint(0, 3, (2, 4))),
                                             {**mc, "alpha": -0.3}),
                  lk.LossOptionError, match="alpha.*-0.3"),
        ErrorCase("gamma = 0", lambda: ((torch.randn(2, 3, 4), torch.randint(0, 3, (2, 4))), {**mc, "gamma": 0.0}),
                  lk.LossOptionError, match="gamma.*0.0"),
    ]


def _lovasz_errors() -> list[ErrorCase]:
    return [
        *_errors({}),
        ErrorCase("hinge on probabilities", lambda: ((torch.rand(2, 1, 4), torch.zeros(2, 1, 4)),
                                                     {"mode": "binary", "from_logits": False}),
                  lk.LossOptionError, match="from_logits=False"),
        ErrorCase("soft mask", lambda: ((torch.randn(2, 1, 4), torch.full((2, 1, 4), 0.5)), {"mode": "binary"}),
                  lk.LossValueError, match="0 or 1.*0.5"),
    ]


def _all_ignored(extra: dict):
    def make():
        return (torch.randn(2, 3, 4), torch.full((2, 4), 9)), {"mode": "multiclass", "ignore_index": 9, **extra}

    return make


def _empty_batch():
    return (torch.zeros(0, 1, 4, 4), torch.zeros(0, 1, 4, 4)), {"mode": "binary"}


def _tversky_samples(dtype: torch.dtype) -> list[Sample]:
    """The overlap samples with the focal variant below 1 and above 1, and unequal alpha and beta."""
    samples = _overlap_samples({"alpha": 0.3, "beta": 0.7, "gamma": 0.75})(dtype)
    for s in samples[1::2]:
        s.kwargs.update(alpha=0.7, beta=0.2, gamma=2.0)
    return samples


ENTRIES = [
    LossEntry(LF.dice_loss, lk.DiceLoss, _overlap_samples({}), _ref_overlap("dice"), errors=_overlap_errors({}),
              empty=_all_ignored({}),
              precision_samples=("class_weights absent class",)),
    LossEntry(LF.jaccard_loss, lk.JaccardLoss, _overlap_samples({}), _ref_overlap("jaccard"),
              errors=_overlap_errors({}), empty=_empty_batch,
              precision_samples=("class_weights absent class",)),
    LossEntry(LF.tversky_loss, lk.TverskyLoss, _tversky_samples, _ref_overlap("tversky"), errors=_tversky_errors(),
              empty=_all_ignored({"gamma": 2.0}),
              precision_samples=("class_weights absent class",)),
    LossEntry(LF.lovasz_loss, lk.LovaszLoss, _lovasz_samples, ref_lovasz_loss, errors=_lovasz_errors(),
              empty=_all_ignored({"per_image": True}),
              precision_samples=("class_weights absent class",)),
]
