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


def _scored(num_classes, classes, include_background):
    if classes is not None:
        return list(classes)
    return list(range(1 if not include_background else 0, num_classes))


def _scores(kind, p, t, *, alpha, beta, nr, dr, eps, squared_pred, soft_label):
    """(score, target count, intersection, |p|, |t|) of one class from its pixels, by the papers' formulas."""
    inter = torch.minimum(p, t).sum() if soft_label and not squared_pred else (p * t).sum()
    sp = (p * p).sum() if squared_pred else p.sum()
    st = (t * t).sum() if squared_pred else t.sum()
    if kind == "dice":  # Milletari et al.: 2|X∩Y| / (|X| + |Y|)
        score = (2 * inter + nr) / torch.clamp(sp + st + dr, min=eps)
    elif kind == "jaccard":  # |X∩Y| / |X∪Y|
        score = (inter + nr) / torch.clamp(sp + st - inter + dr, min=eps)
    else:  # Salehi et al.: alpha on false positives, beta on false negatives (MONAI: FP = |X| - TP)
        fp, fn = sp - inter, st - inter
        score = (inter + nr) / torch.clamp(inter + alpha * fp + beta * fn + dr, min=eps)
    return score, inter, sp, st


def _ref_overlap(kind):
    def ref(input, target, class_weights=None, *, mode, alpha=0.5, beta=0.5, gamma=1.0, from_logits=True,
            smooth=0.0, eps=1e-7, ignore_index=None, log_loss=False, per_image=False, global_batch=False,
            classes=None, include_background=True, smooth_nr=None, smooth_dr=None, squared_pred=False,
            soft_label=False, empty_class="zero", average="macro", reduction="mean"):
        nr = smooth if smooth_nr is None else smooth_nr
        dr = smooth if smooth_dr is None else smooth_dr
        scored = _scored(input.shape[1], classes, include_background)
        groups = _per_class_pixels(input, target, mode=mode, from_logits=from_logits, ignore_index=ignore_index,
                                   per_image=per_image)
        cw = torch.ones(input.shape[1], dtype=input.dtype) if class_weights is None else class_weights.to(input.dtype)
        options = dict(alpha=alpha, beta=beta, nr=nr, dr=dr, eps=eps, squared_pred=squared_pred,
                       soft_label=soft_label)
        if average == "micro":  # kornia: the weighted sums of the scored classes pooled, one Dice per group
            terms = []
            for group in groups:
                inter = sum(cw[k] * _scores(kind, *group[k], **options)[1] for k in scored)
                card = sum(cw[k] * (_scores(kind, *group[k], **options)[2] + _scores(kind, *group[k], **options)[3])
                           for k in scored)
                count = sum(cw[k] * group[k][1].sum() for k in scored)
                score = (2 * inter + nr) / torch.clamp(card + dr, min=eps)
                loss = -torch.log(torch.clamp(score, min=eps)) if log_loss else 1 - score
                if empty_class == "zero" and float(count) == 0:
                    loss = loss * 0
                terms.append(loss)
            out = torch.stack(terms)
            if reduction == "none":
                return out if per_image else out[0]
            return out.sum() if reduction == "sum" else out.mean()
        rows = []
        for group in groups:
            row = []
            for k in scored:
                p, t = group[k]
                score = _scores(kind, p, t, **options)[0]
                loss = -torch.log(torch.clamp(score, min=eps)) if log_loss else 1 - score
                if gamma != 1.0:
                    loss = loss**gamma if float(loss.detach()) > 0 else loss * 0
                if empty_class == "zero" and float(t.sum()) == 0:  # smp: a class without target pixels gives 0
                    loss = p.sum() * 0
                row.append(loss)
            rows.append(torch.stack(row))
        terms = torch.stack(rows)
        weights = cw[scored].expand_as(terms)
        out = _reduce(terms, weights, reduction)
        return out[0] if reduction == "none" and not per_image else out

    ref.__name__ = f"ref_{kind}_loss"
    return ref


def ref_generalized_dice_loss(input, target, *, mode, weight_type="square", from_logits=True, smooth=0.0,
                              smooth_nr=None, smooth_dr=None, eps=1e-7, ignore_index=None, per_image=False,
                              global_batch=False, classes=None, include_background=True, soft_label=False,
                              reduction="mean"):
    """Sudre et al., eq. 2, with NiftyNet's (and MONAI's) largest present weight for an absent class."""
    nr = smooth if smooth_nr is None else smooth_nr
    dr = smooth if smooth_dr is None else smooth_dr
    scored = _scored(input.shape[1], classes, include_background)
    groups = _per_class_pixels(input, target, mode=mode, from_logits=from_logits, ignore_index=ignore_index,
                               per_image=per_image)
    terms = []
    for group in groups:
        volumes = [float(group[k][1].sum()) for k in scored]
        raw = [1 / v**2 if weight_type == "square" else 1 / v if weight_type == "simple" else 1.0
               for v in volumes if v > 0]
        top = max(raw) if raw else 0.0
        weights, present = [], iter(raw)
        for v in volumes:
            weights.append(next(present) if v > 0 else (1.0 if weight_type == "uniform" else top))
        num, den = 0.0, 0.0
        for w, k in zip(weights, scored):
            p, t = group[k]
            inter = torch.minimum(p, t).sum() if soft_label else (p * t).sum()
            num = num + w * inter
            den = den + w * (p.sum() + t.sum())
        loss = 1 - (2 * num + nr) / torch.clamp(den + dr, min=eps)
        if sum(volumes) == 0:
            loss = input.sum() * 0
        terms.append(loss)
    out = torch.stack(terms)
    if reduction == "none":
        return out if per_image else out[0]
    return out.sum() if reduction == "sum" else out.mean()


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
                    per_image=False, classes=None, reduction="mean"):
    hinge = mode != "multiclass"
    scored = _scored(input.shape[1], classes, True)
    groups = _per_class_pixels(input, target, mode=mode, from_logits=from_logits, ignore_index=ignore_index,
                               per_image=per_image, activate=not hinge)
    groups = [[group[k] for k in scored] for group in groups]
    rows, counted = [], []
    for group in groups:
        row, cnt = [], []
        for s, t in group:
            errors = 1 - s * (2 * t - 1) if hinge else (t - s).abs()
            if hinge and len(t) == 0:  # Berman's lovasz_hinge_flat: an all-ignored image counts as 0
                row.append(s.sum() * 0)
                cnt.append(1.0)
                continue
            if not hinge and float(t.sum()) == 0:  # "present" classes only
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
        weights = weights * class_weights.to(terms.dtype)[scored]
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


def _with_options(make, kind: str):
    """The overlap samples plus the second-round options: scored classes, MONAI's smoothing, soft labels, the
    absent-class convention, squared sums (Dice, Jaccard) and kornia's micro average (Dice)."""

    def more(dtype: torch.dtype) -> list[Sample]:
        samples = make(dtype)
        torch.manual_seed(7)
        x = torch.randn(2, 3, 4, 5, dtype=dtype) * 2
        labels = torch.randint(0, 2, (2, 4, 5))  # class 2 absent
        labels[0, 0] = 9
        w = torch.tensor([0.5, 2.0, 1.0], dtype=dtype)
        soft = torch.rand(2, 3, 6, dtype=dtype)
        soft[:, 2] = 0
        extra = samples[0].kwargs.copy()
        extra.pop("mode")
        samples += [
            Sample((x, labels), {"mode": "multiclass", "classes": [2, 0], "class_weights": w, "ignore_index": 9,
                                 **extra}, "classes [2, 0] weighted"),
            Sample((x, labels), {"mode": "multiclass", "include_background": False, "smooth_nr": 0.5,
                                 "smooth_dr": 0.25, "ignore_index": 9, "per_image": True, **extra},
                   "include_background=False smooth_nr smooth_dr"),
            Sample((torch.randn(2, 3, 6, dtype=dtype).sigmoid(), soft),
                   {"mode": "multilabel", "from_logits": False, "soft_label": True, "empty_class": "score",
                    "smooth": 0.1, **extra}, "soft_label empty_class=score"),
        ]
        if kind in ("dice", "jaccard"):
            samples.append(Sample((x, labels), {"mode": "multiclass", "squared_pred": True, "ignore_index": 9,
                                                "empty_class": "score", **extra}, "squared_pred"))
        if kind == "dice":
            samples += [
                Sample((x, labels), {"mode": "multiclass", "average": "micro", "ignore_index": 9}, "micro batch"),
                Sample((x, labels), {"mode": "multiclass", "average": "micro", "per_image": True,
                                     "class_weights": w, "log_loss": True, "ignore_index": 9},
                       "micro per_image weighted"),
            ]
        return samples

    return more


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


# --------------------------------------------------------------------------------------------
# the second round: generalized Dice, segmentation focal, Dice + CE, Dice + focal, Hausdorff (erosion)
# --------------------------------------------------------------------------------------------
def _pixels(input, target, *, mode, ignore_index):
    """Logits (N, C, S), 0/1 targets (N, C, S) and the valid mask (N, C, S), one-hot built with a loop."""
    n, c = input.shape[:2]
    x = input.reshape(n, c, -1)
    if mode == "multiclass":
        raw = target.reshape(n, 1, -1).expand(n, c, x.shape[2])
        t = torch.stack([(raw[:, k] == k) for k in range(c)], 1).to(input.dtype)
    else:
        raw = target.reshape(n, c, -1)
        t = raw.to(input.dtype)
    valid = torch.ones_like(raw, dtype=torch.bool) if ignore_index is None else raw != ignore_index
    return x, torch.where(valid, t, torch.zeros_like(t)), valid


def _focal_map(input, target, class_weights, *, mode, alpha, gamma, ignore_index, normalized, reduced_threshold,
               scored):
    """Per-element focal terms (N, K, S) and weights, from torch's BCE: pt = exp(-BCE) (smp's definition)."""
    x, t, valid = _pixels(input, target, mode=mode, ignore_index=ignore_index)
    x, t, valid = x[:, scored], t[:, scored], valid[:, scored]
    bce = torch.nn.functional.binary_cross_entropy_with_logits(x, t, reduction="none")
    pt = torch.exp(-bce)
    if reduced_threshold is None:
        focal = (1 - pt) ** gamma
    else:  # Sergievskiy & Ponamarev
        focal = torch.where(pt < reduced_threshold, torch.ones_like(pt), ((1 - pt) / reduced_threshold) ** gamma)
    terms = focal * bce
    if alpha is not None:
        terms = terms * (alpha * t + (1 - alpha) * (1 - t))
    terms = torch.where(valid, terms, torch.zeros_like(terms))
    if normalized:
        for j in range(len(scored)):
            norm = torch.clamp(focal[:, j][valid[:, j]].sum(), min=1e-6)
            terms = torch.cat([terms[:, :j], terms[:, j:j + 1] / norm, terms[:, j + 1:]], 1)
    cw = torch.ones(input.shape[1], dtype=input.dtype) if class_weights is None else class_weights.to(input.dtype)
    weights = valid.to(input.dtype) * cw[scored].view(1, -1, 1)
    return terms, weights


def _pixel_reduce(terms, weights, reduction, shape):
    if reduction == "none":
        return (terms * weights).reshape(shape)
    if reduction == "sum":
        return (terms * weights).sum()
    total = weights.sum()
    return (terms * weights).sum() / total if float(total) > 0 else (terms * weights).sum() * 0


def ref_segmentation_focal_loss(input, target, class_weights=None, *, mode, alpha=None, gamma=2.0, ignore_index=None,
                                normalized=False, reduced_threshold=None, classes=None, include_background=True,
                                reduction="mean"):
    scored = _scored(input.shape[1], classes, include_background)
    terms, weights = _focal_map(input, target, class_weights, mode=mode, alpha=alpha, gamma=gamma,
                                ignore_index=ignore_index, normalized=normalized,
                                reduced_threshold=reduced_threshold, scored=scored)
    return _pixel_reduce(terms, weights, reduction, (input.shape[0], len(scored), *input.shape[2:]))


def _ref_dice_part(input, target, class_weights, *, mode, smooth, smooth_nr, smooth_dr, eps, ignore_index, per_image,
                   classes, include_background, squared_pred, empty_class, reduction):
    return _ref_overlap("dice")(
        input, target, class_weights, mode=mode, smooth=smooth, smooth_nr=smooth_nr, smooth_dr=smooth_dr, eps=eps,
        ignore_index=ignore_index, per_image=per_image, classes=classes, include_background=include_background,
        squared_pred=squared_pred, empty_class=empty_class, reduction=reduction,
    )


def ref_dice_ce_loss(input, target, class_weights=None, *, mode, lambda_dice=1.0, lambda_ce=1.0, smooth=0.0,
                     smooth_nr=None, smooth_dr=None, eps=1e-7, ignore_index=None, per_image=False, classes=None,
                     include_background=True, squared_pred=False, empty_class="zero", reduction="mean"):
    dice = _ref_dice_part(input, target, class_weights, mode=mode, smooth=smooth, smooth_nr=smooth_nr,
                          smooth_dr=smooth_dr, eps=eps, ignore_index=ignore_index, per_image=per_image,
                          classes=classes, include_background=include_background, squared_pred=squared_pred,
                          empty_class=empty_class, reduction=reduction)
    if mode == "multiclass":  # torch's cross_entropy (MONAI's CrossEntropyLoss)
        ce = torch.nn.functional.cross_entropy(
            input, target.long(), weight=None if class_weights is None else class_weights.to(input.dtype),
            ignore_index=-100 if ignore_index is None else ignore_index, reduction=reduction)
    else:  # torch's BCE with logits per element, ignored elements out, class weights per channel
        terms, weights = _focal_map(input, target, class_weights, mode=mode, alpha=None, gamma=0.0,
                                    ignore_index=ignore_index, normalized=False, reduced_threshold=None,
                                    scored=list(range(input.shape[1])))
        ce = _pixel_reduce(terms, weights, reduction, input.shape)
    return lambda_dice * dice + lambda_ce * ce


def ref_dice_focal_loss(input, target, class_weights=None, *, mode, lambda_dice=1.0, lambda_focal=1.0, gamma=2.0,
                        alpha=None, smooth=0.0, smooth_nr=None, smooth_dr=None, eps=1e-7, ignore_index=None,
                        per_image=False, classes=None, include_background=True, squared_pred=False,
                        empty_class="zero", reduction="mean"):
    dice = _ref_dice_part(input, target, class_weights, mode=mode, smooth=smooth, smooth_nr=smooth_nr,
                          smooth_dr=smooth_dr, eps=eps, ignore_index=ignore_index, per_image=per_image,
                          classes=classes, include_background=include_background, squared_pred=squared_pred,
                          empty_class=empty_class, reduction=reduction)
    focal = ref_segmentation_focal_loss(input, target, class_weights, mode=mode, alpha=alpha, gamma=gamma,
                                        ignore_index=ignore_index, classes=classes,
                                        include_background=include_background, reduction=reduction)
    return lambda_dice * dice + lambda_focal * focal


def _erode_once(bound):
    """Karimi & Salcudean's erosion step on one map (2-D or 3-D): the mean of the pixel and its face neighbours
    (zero outside), minus 1/2, floored at 0, then rescaled to [0, 1] unless constant."""
    padded = torch.nn.functional.pad(bound, (1,) * (2 * bound.dim()))
    core = tuple(slice(1, -1) for _ in range(bound.dim()))
    total = padded[core].clone()
    for d in range(bound.dim()):
        for shift in (0, 2):
            index = list(core)
            index[d] = slice(shift, shift + bound.shape[d])
            total = total + padded[tuple(index)]
    erosion = torch.clamp(total / (2 * bound.dim() + 1) - 0.5, min=0)
    high, low = erosion.max(), erosion.min()
    if float((high - low).detach()) != 0:
        erosion = (erosion - low) / (high - low)
    return erosion


def ref_hausdorff_er_loss(input, target, *, mode, alpha=2.0, k=10, from_logits=True, reduction="mean"):
    if from_logits:
        p = input.softmax(1) if mode == "multiclass" else input.sigmoid()
    else:
        p = input
    out = torch.zeros_like(input)
    maps = []
    for i in range(input.shape[0]):
        for c in range(input.shape[1]):
            truth = (target[i] == c).to(input.dtype) if mode == "multiclass" else target[i, c].to(input.dtype)
            bound = (p[i, c] - truth) ** 2
            eroded = torch.zeros_like(bound)
            for step in range(k):
                bound = _erode_once(bound)
                eroded = eroded + bound * (step + 1) ** alpha
            maps.append(eroded)
    out = torch.stack(maps).reshape(input.shape)
    if reduction == "none":
        return out
    return out.sum() if reduction == "sum" else out.mean()


def _generalized_samples(dtype: torch.dtype) -> list[Sample]:
    x = torch.randn(2, 3, 4, 5, dtype=dtype) * 2
    labels = torch.randint(0, 3, (2, 4, 5))
    absent = torch.randint(0, 2, (2, 4, 5))
    absent[1] = 7  # an image with every pixel ignored
    bx = torch.randn(3, 1, 6, dtype=dtype) * 2
    bt = (torch.rand(3, 1, 6) > 0.5).to(dtype)
    bt[1] = 0
    soft = torch.rand(2, 3, 6, dtype=dtype)
    soft[:, 1] = 0
    return [
        Sample((x, labels), {"mode": "multiclass"}, "multiclass square"),
        Sample((x, absent), {"mode": "multiclass", "weight_type": "simple", "per_image": True, "ignore_index": 7,
                             "smooth_nr": 1e-5, "smooth_dr": 1e-5}, "simple per_image all-ignored image"),
        Sample((x, absent), {"mode": "multiclass", "include_background": False, "ignore_index": 7},
               "absent class, no background"),
        Sample((bx, bt), {"mode": "binary", "per_image": True, "weight_type": "uniform"}, "binary uniform empty image"),
        Sample((torch.randn(2, 3, 6, dtype=dtype), soft), {"mode": "multilabel", "soft_label": True,
                                                             "classes": [0, 1], "smooth": 0.5}, "soft_label classes"),
        Sample((x.transpose(2, 3), labels.transpose(1, 2)), {"mode": "multiclass", "global_batch": True,
                                                               "weight_type": "uniform"}, "global_batch uniform"),
    ]


def _focal_samples(dtype: torch.dtype) -> list[Sample]:
    x = torch.randn(2, 3, 4, 5, dtype=dtype) * 2
    labels = torch.randint(0, 3, (2, 4, 5))
    labels[0, 0] = 255
    bx = torch.randn(3, 1, 6, dtype=dtype) * 2
    bt = (torch.rand(3, 1, 6) > 0.5).long()
    bt[0, 0, :2] = -1
    ml = torch.randn(2, 3, 3, 2, dtype=dtype)
    soft = torch.rand(2, 3, 3, 2, dtype=dtype)
    w = torch.tensor([0.5, 2.0, 1.0], dtype=dtype)
    return [
        Sample((x, labels), {"mode": "multiclass", "ignore_index": 255}, "multiclass one-vs-rest"),
        Sample((bx, bt), {"mode": "binary", "ignore_index": -1, "alpha": 0.25}, "binary ignore alpha"),
        Sample((ml, soft), {"mode": "multilabel", "gamma": 1.5, "normalized": True}, "multilabel soft normalized"),
        Sample((x, labels), {"mode": "multiclass", "ignore_index": 255, "reduced_threshold": 0.5, "class_weights": w},
               "reduced_threshold weighted"),
        Sample((x, labels), {"mode": "multiclass", "ignore_index": 255, "classes": [2, 1], "normalized": True,
                             "class_weights": w}, "classes normalized weighted"),
        Sample((ml, (soft > 0.5).to(dtype)), {"mode": "multilabel", "include_background": False, "gamma": 0.0},
               "no background gamma 0"),
    ]


def _compound_samples(extra: dict):
    def make(dtype: torch.dtype) -> list[Sample]:
        x = torch.randn(2, 3, 4, 5, dtype=dtype) * 2
        labels = torch.randint(0, 3, (2, 4, 5))
        ignored = labels.clone()
        ignored[0, 0] = 255
        absent = torch.randint(0, 2, (2, 4, 5))
        bx = torch.randn(3, 1, 6, dtype=dtype) * 2
        bt = (torch.rand(3, 1, 6) > 0.5).to(dtype)
        ml = torch.randn(2, 3, 5, dtype=dtype)
        mlt = (torch.rand(2, 3, 5) > 0.5).long()
        mlt[0, 0, 0] = -1
        w = torch.tensor([0.5, 2.0, 1.0], dtype=dtype)
        return [
            Sample((x, labels), {"mode": "multiclass", **extra}, "multiclass"),
            Sample((x, ignored), {"mode": "multiclass", "ignore_index": 255, "per_image": True, "class_weights": w,
                                  **extra}, "ignore per_image weighted"),
            Sample((bx, bt), {"mode": "binary", "smooth": 1.0, **extra}, "binary smooth"),
            Sample((ml, mlt), {"mode": "multilabel", "ignore_index": -1, "class_weights": w, **extra},
                   "multilabel ignore weighted"),
            Sample((x, absent), {"mode": "multiclass", "include_background": False, "smooth_nr": 1e-5,
                                 "smooth_dr": 1e-5, "empty_class": "score", "squared_pred": True, **extra},
                   "MONAI options"),
            Sample((x, labels), {"mode": "multiclass", "classes": [1, 2], "per_image": True, **extra},
                   "classes per_image"),
        ]

    return make


def _hausdorff_samples(dtype: torch.dtype) -> list[Sample]:
    x = torch.randn(2, 3, 6, 5, dtype=dtype) * 2
    labels = torch.randint(0, 3, (2, 6, 5))
    bx = torch.randn(2, 1, 6, 6, dtype=dtype) * 2
    bt = torch.zeros(2, 1, 6, 6, dtype=dtype)
    bt[:, :, 1:4, 2:5] = 1
    vt = torch.zeros(1, 2, 5, 4, 3, dtype=dtype)
    vt[:, 0, 1:4, 1:3] = 1
    v = (1 - 2 * vt) * 2 + torch.randn(1, 2, 5, 4, 3, dtype=dtype) * 0.5  # mostly wrong: the erosions survive
    return [
        Sample((x, labels), {"mode": "multiclass"}, "multiclass 2d"),
        Sample((bx, bt), {"mode": "binary", "k": 4, "alpha": 1.0}, "binary square k=4"),
        Sample((v, vt), {"mode": "multilabel", "k": 3}, "multilabel 3d"),
        Sample((x.softmax(1), labels), {"mode": "multiclass", "from_logits": False, "k": 5}, "probabilities"),
    ]


def _errors_without(extra: dict, drop: tuple[str, ...]) -> list[ErrorCase]:
    return [case for case in _errors(extra) if case.desc not in drop]


_NO_OPTION = ("logits with from_logits=False",)


def _option_errors(name_extra: dict) -> list[ErrorCase]:
    mc = {"mode": "multiclass", **name_extra}
    data = lambda: (torch.randn(2, 3, 4), torch.randint(0, 3, (2, 4)))  # noqa: E731
    return [
        ErrorCase("classes out of range", lambda: (data(), {**mc, "classes": [0, 3]}), lk.LossValueError,
                  match=r"\[0, 3\).*\[0, 3\]"),
        ErrorCase("classes repeated", lambda: (data(), {**mc, "classes": [1, 1]}), lk.LossOptionError,
                  match=r"distinct.*\[1, 1\]"),
        ErrorCase("classes in binary mode", lambda: ((torch.randn(2, 1, 4), torch.zeros(2, 1, 4)),
                                                     {**name_extra, "mode": "binary", "classes": [0]}),
                  lk.LossOptionError, match=r"classes=\[0\].*binary"),
        ErrorCase("classes and include_background", lambda: (data(), {**mc, "classes": [1],
                                                                       "include_background": False}),
                  lk.LossOptionError, match="either classes"),
    ]


def _smoothing_errors(extra: dict) -> list[ErrorCase]:
    mc = {"mode": "multiclass", **extra}
    data = lambda: (torch.randn(2, 3, 4), torch.randint(0, 3, (2, 4)))  # noqa: E731
    return [
        ErrorCase("smooth and smooth_nr", lambda: (data(), {**mc, "smooth": 1.0, "smooth_nr": 0.5}),
                  lk.LossOptionError, match="smooth=1.0.*smooth_nr=0.5"),
        ErrorCase("negative smooth_dr", lambda: (data(), {**mc, "smooth_dr": -1.0}), lk.LossOptionError,
                  match="smooth_dr.*-1.0"),
        ErrorCase("unknown empty_class", lambda: (data(), {**mc, "empty_class": "skip"}), lk.LossOptionError,
                  match="'skip'"),
    ]


def _generalized_errors() -> list[ErrorCase]:
    data = lambda: (torch.randn(2, 3, 4), torch.randint(0, 3, (2, 4)))  # noqa: E731
    return [
        *_errors_without({}, ("class_weights length", "negative class_weights", "class_weights in binary mode")),
        *_option_errors({}),
        ErrorCase("unknown weight_type", lambda: (data(), {"mode": "multiclass", "weight_type": "squared"}),
                  lk.LossOptionError, match="'squared'.*did you mean 'square'"),
    ]


def _focal_errors() -> list[ErrorCase]:
    data = lambda: (torch.randn(2, 3, 4), torch.randint(0, 3, (2, 4)))  # noqa: E731
    return [
        *_errors_without({}, (*_NO_OPTION, "softmax output as logits")),
        *_option_errors({}),
        ErrorCase("alpha above 1", lambda: (data(), {"mode": "multiclass", "alpha": 1.5}), lk.LossOptionError,
                  match="alpha.*1.5"),
        ErrorCase("reduced_threshold 0", lambda: (data(), {"mode": "multiclass", "reduced_threshold": 0.0}),
                  lk.LossOptionError, match="reduced_threshold.*0.0"),
    ]


def _compound_errors(lam: str) -> list[ErrorCase]:
    data = lambda: (torch.randn(2, 3, 4), torch.randint(0, 3, (2, 4)))  # noqa: E731
    return [
        *_errors_without({}, _NO_OPTION),
        *_option_errors({}),
        *_smoothing_errors({}),
        ErrorCase("negative lambda", lambda: (data(), {"mode": "multiclass", lam: -1.0}), lk.LossOptionError,
                  match=f"{lam}.*-1.0"),
        ErrorCase("reduction none", lambda: (data(), {"mode": "multiclass", "reduction": "none"}),
                  lk.LossOptionError, match="'none'"),
    ]


def _hausdorff_errors() -> list[ErrorCase]:
    img = lambda: (torch.randn(2, 3, 4, 4), torch.randint(0, 3, (2, 4, 4)))  # noqa: E731
    return [
        ErrorCase("one spatial dimension", lambda: ((torch.randn(2, 3, 4), torch.randint(0, 3, (2, 4))),
                                                    {"mode": "multiclass"}),
                  lk.LossShapeError, match=r"2 or 3 spatial.*\(2, 3, 4\)"),
        ErrorCase("k = 0", lambda: (img(), {"mode": "multiclass", "k": 0}), lk.LossOptionError, match="k.*0"),
        ErrorCase("negative alpha", lambda: (img(), {"mode": "multiclass", "alpha": -1.0}), lk.LossOptionError,
                  match="alpha.*-1.0"),
        ErrorCase("unknown mode", lambda: (img(), {"mode": "multi_class"}), lk.LossOptionError,
                  match="did you mean 'multiclass'"),
        ErrorCase("one-hot target", lambda: ((torch.randn(2, 3, 4, 4), torch.zeros(2, 3, 4, 4).long()),
                                             {"mode": "multiclass"}),
                  lk.LossShapeError, match=r"argmax\(1\)"),
        ErrorCase("class index out of range", lambda: ((torch.randn(2, 3, 4, 4), torch.full((2, 4, 4), 3)),
                                                       {"mode": "multiclass"}),
                  lk.LossValueError, match=r"\[0, 3\)"),
    ]


def _hausdorff_empty():
    return (torch.zeros(0, 1, 4, 4), torch.zeros(0, 1, 4, 4)), {"mode": "binary"}


ENTRIES = [
    LossEntry(LF.dice_loss, lk.DiceLoss, _with_options(_overlap_samples({}), "dice"), _ref_overlap("dice"),
              errors=[*_overlap_errors({}), *_option_errors({}), *_smoothing_errors({})],
              empty=_all_ignored({}),
              precision_samples=("class_weights absent class",)),
    LossEntry(LF.jaccard_loss, lk.JaccardLoss, _with_options(_overlap_samples({}), "jaccard"), _ref_overlap("jaccard"),
              errors=_overlap_errors({}), empty=_empty_batch,
              precision_samples=("class_weights absent class",)),
    LossEntry(LF.tversky_loss, lk.TverskyLoss, _with_options(_tversky_samples, "tversky"), _ref_overlap("tversky"),
              errors=_tversky_errors(),
              empty=_all_ignored({"gamma": 2.0}),
              precision_samples=("class_weights absent class",)),
    LossEntry(LF.lovasz_loss, lk.LovaszLoss, _lovasz_samples, ref_lovasz_loss, errors=_lovasz_errors(),
              empty=_all_ignored({"per_image": True}),
              precision_samples=("class_weights absent class",)),
    LossEntry(LF.generalized_dice_loss, lk.GeneralizedDiceLoss, _generalized_samples, ref_generalized_dice_loss,
              errors=_generalized_errors(), empty=_all_ignored({})),
    LossEntry(LF.segmentation_focal_loss, lk.SegmentationFocalLoss, _focal_samples, ref_segmentation_focal_loss,
              errors=_focal_errors(), empty=_all_ignored({}),
              precision_samples=("reduced_threshold weighted",)),
    LossEntry(LF.dice_ce_loss, lk.DiceCELoss, _compound_samples({"lambda_ce": 0.5}), ref_dice_ce_loss,
              errors=_compound_errors("lambda_ce"), reductions=("mean", "sum"), empty=_all_ignored({}),
              precision_samples=("ignore per_image weighted",)),
    LossEntry(LF.dice_focal_loss, lk.DiceFocalLoss, _compound_samples({"lambda_focal": 2.0, "alpha": 0.25}),
              ref_dice_focal_loss, errors=_compound_errors("lambda_focal"), reductions=("mean", "sum"),
              empty=_all_ignored({}), precision_samples=("ignore per_image weighted",)),
    LossEntry(LF.hausdorff_er_loss, lk.HausdorffERLoss, _hausdorff_samples, ref_hausdorff_er_loss,
              errors=_hausdorff_errors(), empty=_hausdorff_empty,
              tol32={"rtol": 1e-4, "atol": 1e-5}),  # k erosions, each a sum of 5-7 float32 terms rescaled by its range
]
