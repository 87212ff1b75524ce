"""Test-database entries of the embedding family (torch's triplet losses); references are torch 2.13's."""

from __future__ import annotations

import torch
import torch.nn.functional as F

import losskit as lk
import losskit.functional as LF
from tests.loss_db import ErrorCase, LossEntry, Sample

_ENUM = {"none": 0, "mean": 1, "sum": 2}


def _ref_triplet(anchor, positive, negative, *, margin=1.0, p=2.0, eps=1e-6, swap=False, reduction="mean"):
    """torch's triplet loss; for margin=0 (rejected by F.triplet_margin_loss's Python check, accepted by
    losskit) torch's own ATen op, which computes the same formula without the check."""
    if margin > 0:
        return F.triplet_margin_loss(anchor, positive, negative, margin=margin, p=p, eps=eps, swap=swap,
                                     reduction=reduction)
    return torch.triplet_margin_loss(anchor, positive, negative, margin, p, eps, swap, _ENUM[reduction])


def _ref_triplet_distance(anchor, positive, negative, *, distance_function=None, margin=1.0, swap=False,
                          reduction="mean"):
    return F.triplet_margin_with_distance_loss(anchor, positive, negative, distance_function=distance_function,
                                               margin=margin, swap=swap, reduction=reduction)


def _cosine_distance(x, y):
    return 1 - F.cosine_similarity(x, y, dim=-1)


def _squared_euclidean_3d(x, y):
    return (x - y).pow(2).sum((1, 2))


def _abs_difference(x, y):
    return (x - y).abs()


def _triplet_samples(dtype):
    a, p, n = (torch.randn(5, 4, dtype=dtype) for _ in range(3))
    g = (0, 1, 2)
    return [
        Sample((a, p, n), {}, "2d", grad=g),
        Sample((a, p, n), {"swap": True, "p": 1.0, "margin": 0.5}, "swap, p=1", grad=g),
        Sample((a, p, n), {"margin": 0.0, "p": 3.0, "eps": 0.0}, "margin 0, p=3, eps 0", grad=g),
        Sample((a.t().contiguous().t(), p[:, [2, 0, 3, 1]], n), {"margin": 2.0}, "non-contiguous", grad=g),
        Sample((a[0], p[0], n[0]), {"swap": True}, "unbatched (D,)", grad=g),
        Sample((a, p, n), {"p": 1.5, "eps": 1e-3, "margin": 3.0}, "p=1.5, eps, margin 3", grad=g),
    ]


def _triplet_distance_samples(dtype):
    a, p, n = (torch.randn(5, 4, dtype=dtype) for _ in range(3))
    big = [torch.randn(3, 2, 4, dtype=dtype) for _ in range(3)]
    g = (0, 1, 2)
    return [
        Sample((a, p, n), {}, "default distance", grad=g),
        Sample((a, p, n), {"distance_function": _cosine_distance, "margin": 0.3}, "cosine distance", grad=g),
        Sample((a, p, n), {"distance_function": _cosine_distance, "swap": True}, "cosine, swap", grad=g),
        Sample(tuple(big), {"distance_function": _squared_euclidean_3d, "margin": 5.0}, "(N, C, L) inputs", grad=g),
        Sample((a[0], p[0], n[0]), {"swap": True}, "unbatched (D,), default distance", grad=g),
        Sample((a[0], p[0], n[0]), {"distance_function": _abs_difference, "margin": 0.5},
               "1-D batch of scalars", grad=g),
        Sample((a.t(), p.t(), n.t()), {"margin": 2.0, "swap": True}, "non-contiguous, swap", grad=g),
    ]


def _nan(*shape: int) -> torch.Tensor:
    t = torch.randn(*shape)
    t.view(-1)[1] = float("nan")
    return t


def _r(*shape: int) -> torch.Tensor:
    return torch.randn(*shape)


TRIPLET_ERRORS = [
    ErrorCase("one negative for N anchors", lambda: ((_r(4, 3), _r(4, 3), _r(1, 3)), {}), lk.LossShapeError,
              match=r"negative.*\(1, 3\).*broadcast"),
    ErrorCase("positive shape", lambda: ((_r(4, 3), _r(4, 2), _r(4, 3)), {}), lk.LossShapeError,
              match=r"positive.*\(4, 2\)"),
    ErrorCase("3-d anchor", lambda: ((_r(2, 4, 3), _r(2, 4, 3), _r(2, 4, 3)), {}), lk.LossShapeError,
              match=r"\(2, 4, 3\) \(3-D\)"),
    ErrorCase("p = 0", lambda: ((_r(4, 3), _r(4, 3), _r(4, 3)), {"p": 0}), lk.LossOptionError, match="p.*got 0"),
    ErrorCase("p < 0", lambda: ((_r(4, 3), _r(4, 3), _r(4, 3)), {"p": -2.0}), lk.LossOptionError,
              match="p.*got -2.0"),
    ErrorCase("margin < 0", lambda: ((_r(4, 3), _r(4, 3), _r(4, 3)), {"margin": -0.5}), lk.LossOptionError,
              match="margin.*got -0.5"),
    ErrorCase("swap not bool", lambda: ((_r(4, 3), _r(4, 3), _r(4, 3)), {"swap": "yes"}), lk.LossOptionError,
              match="'yes'"),
    ErrorCase("integer anchor", lambda: ((torch.ones(4, 3, dtype=torch.int64), _r(4, 3), _r(4, 3)), {}),
              lk.LossTypeError, match="anchor.*torch.int64"),
    ErrorCase("nan negative", lambda: ((_r(4, 3), _r(4, 3), _nan(4, 3)), {}), lk.NonFiniteError,
              match="negative.*1 NaN"),
]

TRIPLET_DISTANCE_ERRORS = [
    ErrorCase("one negative for N anchors", lambda: ((_r(4, 3), _r(4, 3), _r(1, 3)), {}), lk.LossShapeError,
              match=r"negative.*\(1, 3\).*broadcast"),
    ErrorCase("distance not reduced over features",
              lambda: ((_r(4, 3), _r(4, 3), _r(4, 3)), {"distance_function": _abs_difference}),
              lk.LossShapeError, match=r"shape \(4,\) for anchor \(4, 3\), but got \(4, 3\)"),
    ErrorCase("distance already averaged",
              lambda: ((_r(4, 3), _r(4, 3), _r(4, 3)), {"distance_function": lambda x, y: (x - y).norm()}),
              lk.LossShapeError, match=r"but got \(\)"),
    ErrorCase("distance not a tensor",
              lambda: ((_r(4, 3), _r(4, 3), _r(4, 3)), {"distance_function": lambda x, y: 1.0}),
              lk.LossTypeError, match="got float"),
    ErrorCase("distance_function not callable",
              lambda: ((_r(4, 3), _r(4, 3), _r(4, 3)), {"distance_function": "cosine"}),
              lk.LossOptionError, match="got str"),
    ErrorCase("margin < 0", lambda: ((_r(4, 3), _r(4, 3), _r(4, 3)), {"margin": -1}), lk.LossOptionError,
              match="margin.*got -1"),
    ErrorCase("integer positive", lambda: ((_r(4, 3), torch.ones(4, 3, dtype=torch.int32), _r(4, 3)), {}),
              lk.LossTypeError, match="positive.*torch.int32"),
    ErrorCase("inf anchor", lambda: ((torch.full((4, 3), float("inf")), _r(4, 3), _r(4, 3)), {}),
              lk.NonFiniteError, match="anchor.*12 infinite"),
]


def _empty():
    return (torch.zeros(0, 4), torch.zeros(0, 4), torch.zeros(0, 4)), {}


ENTRIES = [
    LossEntry(LF.triplet_margin_loss, lk.TripletMarginLoss, _triplet_samples, _ref_triplet,
              errors=TRIPLET_ERRORS, empty=_empty),
    LossEntry(LF.triplet_margin_with_distance_loss, lk.TripletMarginWithDistanceLoss, _triplet_distance_samples,
              _ref_triplet_distance, errors=TRIPLET_DISTANCE_ERRORS, empty=_empty),
]
