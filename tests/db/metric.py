"""Test-database entries of the metric family.

The references are written from the papers' definitions, plainly, with Python loops over anchors and pairs;
they share no code with losskit.functional.metric. Peer agreement with pytorch-metric-learning lives in
tests/test_metric.py.
"""

from __future__ import annotations

import math

import torch

import losskit as lk
import losskit.functional as LF
from tests.loss_db import ErrorCase, LossEntry, Sample


# --------------------------------------------------------------------------------------------
# plain references
# --------------------------------------------------------------------------------------------
def _norm(v: torch.Tensor) -> torch.Tensor:
    return torch.sqrt((v * v).sum())


def _pair_distance(a: torch.Tensor, b: torch.Tensor, distance: str) -> torch.Tensor:
    if distance == "euclidean":
        return _norm(a - b)
    return 1.0 - (a * b).sum() / (_norm(a) * _norm(b))


def _reduce(terms: list[torch.Tensor], shape: tuple[int, ...], count: int, reduction: str, like: torch.Tensor):
    """Plain reduction: the per-term values in ``shape`` for "none", their sum, or sum / count."""
    stacked = torch.stack(terms).reshape(shape) if terms else like.new_zeros(shape)
    if reduction == "none":
        return stacked
    total = stacked.sum()
    if reduction == "sum":
        return total
    return total / count if count else total * 0.0  # the documented rule: a mean over nothing is 0


def ref_contrastive(embeddings, labels, *, pos_margin=0.0, neg_margin=1.0, distance="euclidean",
                    global_batch=False, reduction="mean"):
    """Hadsell et al. 2006 with PML-style margins: every ordered pair i != j, hinge on its distance."""
    n = embeddings.shape[0]
    terms = []
    for i in range(n):
        for j in range(n):
            if i == j:
                terms.append(0.0 * embeddings.sum())
                continue
            d = _pair_distance(embeddings[i], embeddings[j], distance)
            if int(labels[i]) == int(labels[j]):
                terms.append(torch.clamp(d - pos_margin, min=0))
            else:
                terms.append(torch.clamp(neg_margin - d, min=0))
    return _reduce(terms, (n, n), n * (n - 1), reduction, embeddings)


def ref_batch_hard(embeddings, labels, *, margin=0.2, soft_margin=False, global_batch=False, reduction="mean"):
    """Hermans et al. 2017, eq. (5) and the softplus variant: hardest positive and negative per anchor."""
    n = embeddings.shape[0]
    terms, count = [], 0
    for a in range(n):
        pos = [_norm(embeddings[a] - embeddings[p]) for p in range(n) if p != a and int(labels[p]) == int(labels[a])]
        neg = [_norm(embeddings[a] - embeddings[k]) for k in range(n) if int(labels[k]) != int(labels[a])]
        if not pos or not neg:
            terms.append(0.0 * embeddings.sum())
            continue
        gap = torch.stack(pos).max() - torch.stack(neg).min()
        terms.append(torch.log(1 + torch.exp(gap)) if soft_margin else torch.clamp(gap + margin, min=0))
        count += 1
    return _reduce(terms, (n,), count, reduction, embeddings)


def _nce_row(anchor: torch.Tensor, keys: list[torch.Tensor], i: int, temperature: float) -> torch.Tensor:
    sims = [(anchor * k).sum() / (_norm(anchor) * _norm(k)) / temperature for k in keys]
    return -torch.log(torch.exp(sims[i]) / sum(torch.exp(s) for s in sims))


def ref_info_nce(query, key, *, temperature=0.07, symmetric=True, global_batch=False, reduction="mean"):
    """van den Oord et al. 2018 (one direction) and CLIP's symmetric average of both directions."""
    n = query.shape[0]
    terms = []
    for i in range(n):
        forward = _nce_row(query[i], list(key), i, temperature)
        terms.append(0.5 * (forward + _nce_row(key[i], list(query), i, temperature)) if symmetric else forward)
    return _reduce(terms, (n,), n, reduction, query)


def ref_supcon(embeddings, labels, *, temperature=0.07, global_batch=False, reduction="mean"):
    """Khosla et al. 2020, eq. (2) (L_out): views flattened sample by sample."""
    shape = tuple(embeddings.shape[:-1])
    rows = embeddings.reshape(-1, embeddings.shape[-1])
    views = embeddings.shape[1] if embeddings.dim() == 3 else 1
    row_labels = [int(labels[r // views]) for r in range(rows.shape[0])]
    terms, count = [], 0
    for i in range(rows.shape[0]):
        others = [a for a in range(rows.shape[0]) if a != i]
        positives = [p for p in others if row_labels[p] == row_labels[i]]
        if not positives:
            terms.append(0.0 * rows.sum())
            continue
        sim = {a: (rows[i] * rows[a]).sum() / (_norm(rows[i]) * _norm(rows[a])) / temperature for a in others}
        denominator = sum(torch.exp(sim[a]) for a in others)
        terms.append(-sum(torch.log(torch.exp(sim[p]) / denominator) for p in positives) / len(positives))
        count += 1
    return _reduce(terms, shape, count, reduction, embeddings)


def _margin_ref(embeddings, labels, centres, scale, reduction, modify):
    n, c = embeddings.shape[0], centres.shape[0]
    terms = []
    for i in range(n):
        y = int(labels[i])
        cos = [(embeddings[i] * centres[k]).sum() / (_norm(embeddings[i]) * _norm(centres[k])) for k in range(c)]
        logits = [scale * (modify(cos[k]) if k == y else cos[k]) for k in range(c)]
        top = max(float(v.detach()) for v in logits)  # shift for exp; the value is unchanged
        terms.append(-(logits[y] - top) + torch.log(sum(torch.exp(v - top) for v in logits)))
    return _reduce(terms, (n,), n, reduction, embeddings)


def ref_arcface(embeddings, labels, centres, *, margin=0.5, scale=64.0, reduction="mean"):
    """Deng et al. 2019, eq. (3), with the monotonic fallback cos(theta) - m sin(m) past theta = pi - m."""

    def modify(cos):
        theta = torch.acos(cos)
        if float(theta.detach()) <= math.pi - margin:
            return torch.cos(theta + margin)
        return cos - margin * math.sin(margin)

    return _margin_ref(embeddings, labels, centres, scale, reduction, modify)


def ref_cosface(embeddings, labels, centres, *, margin=0.35, scale=64.0, reduction="mean"):
    """Wang et al. 2018, eq. (4): the true class's cosine minus m, everything scaled by s."""
    return _margin_ref(embeddings, labels, centres, scale, reduction, lambda cos: cos - margin)


# --------------------------------------------------------------------------------------------
# samples
# --------------------------------------------------------------------------------------------
LABELS = torch.tensor([0, 1, 0, 2, 1, 0, 2, 3])  # class 3 has no positive


def _labelled(options: list[dict]):
    def make(dtype: torch.dtype) -> list[Sample]:
        x = torch.randn(8, 3, dtype=dtype) * 0.6
        wide = torch.randn(3, 8, dtype=dtype) * 0.6
        return [
            Sample((x, LABELS), dict(options[0]), "8x3"),
            *[Sample((x, LABELS), dict(o), f"options {o}") for o in options[1:]],
            Sample((wide.t(), LABELS.int()), dict(options[0]), "non-contiguous, int32 labels"),
            Sample((x, LABELS), {**options[0], "global_batch": True}, "global_batch without a process group"),
            Sample((x[:5], torch.tensor([4, 4, 4, 4, 4])), dict(options[0]), "one class: no negatives"),
            Sample((x[:4] * 3, torch.tensor([1, 0, 1, 0])), dict(options[-1]), "spread out"),
        ]

    return make


def _two_views(dtype: torch.dtype) -> list[Sample]:
    q = torch.randn(6, 4, dtype=dtype)
    k = q + 0.7 * torch.randn(6, 4, dtype=dtype)
    return [
        Sample((q, k), {"temperature": 0.5}, "6x4", grad=(0, 1)),
        Sample((q, k), {}, "default temperature", grad=(0, 1)),
        Sample((q, k), {"symmetric": False, "temperature": 0.3}, "one direction", grad=(0, 1)),
        Sample((q.t().contiguous().t(), k), {"temperature": 0.5, "global_batch": True}, "global, non-contiguous",
               grad=(0, 1)),
        Sample((q[:1], k[:1]), {"temperature": 0.5}, "single pair", grad=(0, 1)),
        Sample((q[:4], k[:4]), {"temperature": 0.2, "symmetric": False}, "4 pairs", grad=(0, 1)),
    ]


def _supcon(dtype: torch.dtype) -> list[Sample]:
    x = torch.randn(8, 3, dtype=dtype)
    views = torch.randn(5, 2, 3, dtype=dtype)
    return [
        Sample((x, LABELS), {"temperature": 0.5}, "8x3"),
        Sample((x, LABELS), {}, "default temperature"),
        Sample((x.t().contiguous().t(), LABELS.int()), {"temperature": 0.5, "global_batch": True}, "global, int32"),
        Sample((x[:4], torch.arange(4)), {"temperature": 0.5}, "no positives at all"),
        Sample((views, torch.tensor([0, 1, 0, 2, 3])), {"temperature": 0.3}, "two views"),
    ]


def _centres_samples(options: list[dict]):
    def make(dtype: torch.dtype) -> list[Sample]:
        centres = torch.randn(5, 4, dtype=dtype)
        labels = torch.tensor([0, 3, 1, 4, 3, 2])
        x = centres[labels] + 0.8 * torch.randn(6, 4, dtype=dtype)
        # embeddings nearly opposite their centre: theta > pi - m, the monotonic branch of ArcFace
        far = -centres[labels[:3]] + 0.05 * torch.randn(3, 4, dtype=dtype)
        return [
            Sample((x, labels, centres), dict(options[0]), "6x4, 5 classes", grad=(0, 2)),
            *[Sample((x, labels, centres), dict(o), f"options {o}", grad=(0, 2)) for o in options[1:]],
            Sample((x.t().contiguous().t(), labels.int(), centres), dict(options[0]), "int32 labels", grad=(0, 2)),
            Sample((far, labels[:3], centres), dict(options[-1]), "nearly opposite the centre", grad=(0, 2)),
        ]

    return make


def _centres_call(sample: Sample) -> tuple[dict, tuple]:
    embeddings, labels, centres = sample.args
    ctor = {"num_classes": centres.shape[0], "embedding_dim": centres.shape[1], "centres": centres, **sample.kwargs}
    return ctor, (embeddings, labels)


# --------------------------------------------------------------------------------------------
# error catalogs
# --------------------------------------------------------------------------------------------
def _labelled_errors(options: dict) -> list[ErrorCase]:
    x = torch.randn(8, 3)
    return [
        ErrorCase("labels (N, 1)", lambda: ((x, LABELS[:, None]), options), lk.LossShapeError, match=r"\(8, 1\)"),
        ErrorCase("labels one-hot", lambda: ((x, torch.eye(4, dtype=torch.long)[LABELS]), options),
                  lk.LossShapeError, match=r"\(8, 4\).*one-hot"),
        ErrorCase("labels of another length", lambda: ((x, LABELS[:6]), options), lk.LossShapeError,
                  match=r"\(8,\).*\(6,\)"),
        ErrorCase("float labels", lambda: ((x, LABELS.float()), options), lk.LossTypeError, match="torch.float32"),
        ErrorCase("integer embeddings", lambda: ((LABELS[:, None].repeat(1, 3), LABELS), options), lk.LossTypeError,
                  match="torch.int64"),
        ErrorCase("1-D embeddings", lambda: ((torch.randn(5), LABELS[:5]), options), lk.LossShapeError,
                  match=r"\(5,\).*unsqueeze"),
        ErrorCase("nan embeddings", lambda: ((x.index_fill(0, torch.tensor([2]), float("nan")), LABELS), options),
                  lk.NonFiniteError, match="3 NaN"),
        ErrorCase("bad reduction", lambda: ((x, LABELS), {**options, "reduction": "avg"}), lk.LossOptionError,
                  match="'avg'"),
    ]


_CONTRASTIVE_ERRORS = [
    *_labelled_errors({}),
    ErrorCase("unknown distance", lambda: ((torch.randn(4, 2), torch.arange(4)), {"distance": "cosin"}),
              lk.LossOptionError, match="'cosin'.*did you mean 'cosine'"),
    ErrorCase("negative margin", lambda: ((torch.randn(4, 2), torch.arange(4)), {"neg_margin": -1.0}),
              lk.LossOptionError, match="neg_margin.*-1.0"),
]

_TRIPLET_ERRORS = [
    *_labelled_errors({}),
    ErrorCase("negative margin", lambda: ((torch.randn(4, 2), torch.arange(4)), {"margin": -0.2}),
              lk.LossOptionError, match="margin.*-0.2"),
]

_SUPCON_ERRORS = [
    *_labelled_errors({}),
    ErrorCase("4-D embeddings", lambda: ((torch.randn(2, 2, 2, 2), torch.arange(2)), {}), lk.LossShapeError,
              match=r"\(2, 2, 2, 2\)"),
    ErrorCase("zero temperature", lambda: ((torch.randn(4, 2), torch.arange(4)), {"temperature": 0.0}),
              lk.LossOptionError, match="temperature.*0.0"),
]

_INFO_NCE_ERRORS = [
    ErrorCase("key of another shape", lambda: ((torch.randn(6, 4), torch.randn(5, 4)), {}), lk.LossShapeError,
              match=r"\(6, 4\).*\(5, 4\)"),
    ErrorCase("3-D query", lambda: ((torch.randn(2, 3, 4), torch.randn(2, 3, 4)), {}), lk.LossShapeError,
              match=r"\(2, 3, 4\).*flatten"),
    ErrorCase("integer key", lambda: ((torch.randn(3, 2), torch.ones(3, 2, dtype=torch.long)), {}),
              lk.LossTypeError, match="torch.int64"),
    ErrorCase("infinite key", lambda: ((torch.randn(3, 2), torch.tensor([[0.0, math.inf]] * 3)), {}),
              lk.NonFiniteError, match="key.*3 infinite"),
    ErrorCase("negative temperature", lambda: ((torch.randn(3, 2), torch.randn(3, 2)), {"temperature": -0.1}),
              lk.LossOptionError, match="temperature.*-0.1"),
]


def _centres_errors(options: dict) -> list[ErrorCase]:
    x, labels, centres = torch.randn(6, 4), torch.tensor([0, 3, 1, 4, 3, 2]), torch.randn(5, 4)
    return [
        ErrorCase("centres of another width", lambda: ((x, labels, torch.randn(5, 3)), options), lk.LossShapeError,
                  match=r"\(5, 3\).*\(6, 4\)"),
        ErrorCase("label outside [0, C)", lambda: ((x, labels.clamp(max=3) + 2, centres), options),
                  lk.LossValueError, match=r"\[0, 5\).*5"),
        ErrorCase("1-based labels", lambda: ((x, torch.tensor([1, 2, 3, 4, 5, 5]), centres), options),
                  lk.LossValueError, match="1-based"),
        ErrorCase("labels (N, 1)", lambda: ((x, labels[:, None], centres), options), lk.LossShapeError,
                  match=r"\(6, 1\)"),
        ErrorCase("float labels", lambda: ((x, labels.float(), centres), options), lk.LossTypeError,
                  match="torch.float32"),
        ErrorCase("nan centres", lambda: ((x, labels, centres.index_fill(0, torch.tensor([1]), math.nan)), options),
                  lk.NonFiniteError, match="centres.*4 NaN"),
        ErrorCase("zero scale", lambda: ((x, labels, centres), {**options, "scale": 0.0}), lk.LossOptionError,
                  match="scale.*0.0"),
    ]


# --------------------------------------------------------------------------------------------
# empty cases: nothing to average must give 0 with a zero gradient
# --------------------------------------------------------------------------------------------
def _one_sample():
    return (torch.randn(1, 3), torch.tensor([2])), {}


def _distinct_labels():
    return (torch.randn(4, 3), torch.arange(4)), {}


def _no_pairs():
    return (torch.zeros(0, 4), torch.zeros(0, 4)), {}


def _no_samples():
    return (torch.zeros(0, 4), torch.zeros(0, dtype=torch.long), torch.randn(3, 4)), {}


_TOL_CENTRES = {"rtol": 1e-4, "atol": 1e-4}  # scale 64 amplifies float32 rounding of the cosines

ENTRIES = [
    LossEntry(LF.contrastive_loss, lk.ContrastiveLoss,
              _labelled([{}, {"distance": "cosine", "pos_margin": 0.1, "neg_margin": 0.6},
                         {"pos_margin": 0.3, "neg_margin": 1.2}]),
              ref_contrastive, errors=_CONTRASTIVE_ERRORS, empty=_one_sample),
    LossEntry(LF.batch_hard_triplet_loss, lk.BatchHardTripletLoss,
              _labelled([{}, {"margin": 0.5}, {"soft_margin": True}]),
              ref_batch_hard, errors=_TRIPLET_ERRORS, empty=_distinct_labels),
    LossEntry(LF.info_nce_loss, lk.InfoNCELoss, _two_views, ref_info_nce, errors=_INFO_NCE_ERRORS, empty=_no_pairs),
    LossEntry(LF.supcon_loss, lk.SupConLoss, _supcon, ref_supcon, errors=_SUPCON_ERRORS, empty=_distinct_labels),
    LossEntry(LF.arcface_loss, lk.ArcFaceLoss,
              _centres_samples([{}, {"margin": 0.3, "scale": 8.0}, {"margin": 0.5, "scale": 16.0}]),
              ref_arcface, module_call=_centres_call,
              errors=[*_centres_errors({}),
                      ErrorCase("margin in degrees", lambda: ((torch.randn(2, 4), torch.tensor([0, 1]),
                                                               torch.randn(3, 4)), {"margin": 28.6}),
                                lk.LossOptionError, match=r"radians.*28.6")],
              empty=_no_samples, tol32=_TOL_CENTRES),
    LossEntry(LF.cosface_loss, lk.CosFaceLoss,
              _centres_samples([{}, {"margin": 0.2, "scale": 8.0}, {"margin": 0.4, "scale": 30.0}]),
              ref_cosface, module_call=_centres_call,
              errors=[*_centres_errors({}),
                      ErrorCase("negative margin", lambda: ((torch.randn(2, 4), torch.tensor([0, 1]),
                                                             torch.randn(3, 4)), {"margin": -0.35}),
                                lk.LossOptionError, match="margin.*-0.35")],
              empty=_no_samples, tol32=_TOL_CENTRES),
]
