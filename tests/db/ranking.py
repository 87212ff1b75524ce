"""Test-database entries of the learning-to-rank losses: RankNet, LambdaLoss, ListNet, ListMLE, ApproxNDCG,
NeuralNDCG.

Each reference works one list at a time with its padding cut away by boolean indexing (so padding invariance is
tested against lists that never had any), in Python loops over items and pairs, from the papers' formulas:
RankNet's pair cross-entropy (Burges et al., 2005), LambdaLoss's weights from ranks found with ``sorted`` (Wang et
al., 2018), ListNet's top-one distributions (Cao et al., 2007), ListMLE's sequential Plackett-Luce factors over the
relevance-sorted list, each tie group sharing the denominator of its first member (Xia et al., 2008; Breslow's
ties), ApproxNDCG's smooth ranks (Qin et al., 2010), and NeuralSort's matrix row by row with Sinkhorn scaling
(Grover et al., 2019; Pobrotyn & Białobrzeski, 2021). A list that is not rankable (fewer than two real items of
different relevance) gives 0 and is left out of the mean. The numbers of allRank, rax and optax are compared in
tests/test_ranking.py.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

import losskit as lk
import losskit.functional as LF
from tests.loss_db import ErrorCase, LossEntry, Sample


# --------------------------------------------------------------------------------------------
# references
# --------------------------------------------------------------------------------------------
def _lists(input, target, mask):
    """``(scores, relevance)`` of each list with its padding removed; ``None`` for a list that is not rankable."""
    out = []
    for i in range(input.shape[0]):
        real = torch.ones(input.shape[1], dtype=torch.bool) if mask is None else mask[i]
        s, y = input[i][real], target[i][real].to(input.dtype)
        out.append((s, y) if len(set(y.tolist())) >= 2 else None)
    return out


def _over_lists(per_list_fn):
    def ref(input, target, mask=None, *, reduction="mean", **options):
        values, count = [], 0
        for item in _lists(input, target, mask):
            if item is None:
                values.append(input.sum() * 0.0)
            else:
                values.append(per_list_fn(*item, **options))
                count += 1
        per_list = torch.stack(values) if values else input.sum(-1)
        if reduction == "none":
            return per_list
        total = per_list.sum()
        return total if reduction == "sum" else (total / count if count else total)

    ref.__name__ = f"ref_{per_list_fn.__name__}"
    return ref


def _gain(y: float, gain: str) -> float:
    return 2.0**y - 1.0 if gain == "exp2" else y


def _idcg(y, gain: str, k=None) -> float:
    ideal = sorted((_gain(v, gain) for v in y.tolist()), reverse=True)[:k]
    return sum(g / math.log2(r + 2) for r, g in enumerate(ideal))


def ranknet(s, y, *, sigma=1.0, weighting="none"):
    num, den = s.sum() * 0.0, 0.0
    for i in range(len(s)):
        for j in range(len(s)):
            if y[i] > y[j]:
                w = {"none": 1.0, "difference": float(y[i] - y[j]),
                     "squared_difference": float(y[i] ** 2 - y[j] ** 2)}[weighting]
                num = num + w * F.softplus(-sigma * (s[i] - s[j]))
                den += w
    return num / den


def lambda_(s, y, *, weighting="ndcg_loss2pp", mu=10.0, sigma=1.0, gain="exp2"):
    order = sorted(range(len(s)), key=lambda i: -float(s[i].detach()))  # stable: ties by position
    rank = {item: r + 1 for r, item in enumerate(order)}
    idcg = _idcg(y, gain)
    g = [_gain(v, gain) / idcg for v in y.tolist()]
    total = s.sum() * 0.0
    for i in range(len(s)):
        for j in range(len(s)):
            if y[i] <= y[j]:
                continue
            lambdarank = abs(1 / math.log2(1 + rank[i]) - 1 / math.log2(1 + rank[j])) * abs(g[i] - g[j])
            gap = abs(rank[i] - rank[j])
            loss2 = (1 / math.log2(1 + gap) - 1 / math.log2(2 + gap)) * abs(g[i] - g[j])
            w = {"lambdarank": lambdarank, "ndcg_loss2": loss2, "ndcg_loss2pp": mu * loss2 + lambdarank}[weighting]
            total = total - w * torch.log2(torch.sigmoid(sigma * (s[i] - s[j])))
    return total


def listnet(s, y, *, target_transform="softmax"):
    p = torch.softmax(y, 0) if target_transform == "softmax" else y / y.sum()
    return -(p * torch.log_softmax(s, 0)).sum()


def listmle(s, y):
    order = sorted(range(len(s)), key=lambda i: -float(y[i]))
    total = s.sum() * 0.0
    first = 0
    for r, item in enumerate(order):
        if r == 0 or y[order[r - 1]] != y[item]:
            first = r  # the first position of this tie group
        rest = torch.stack([s[order[q]] for q in range(first, len(order))])
        total = total - (s[item] - torch.logsumexp(rest, 0))
    return total


def approx_ndcg(s, y, *, temperature=1.0, gain="exp2"):
    dcg = s.sum() * 0.0
    for i in range(len(s)):
        rank = 1.0 + sum(torch.sigmoid((s[j] - s[i]) / temperature) for j in range(len(s)) if j != i)
        dcg = dcg + _gain(float(y[i]), gain) / torch.log2(1.0 + rank)
    return 1.0 - dcg / _idcg(y, gain)


def neural_ndcg(s, y, *, temperature=1.0, powered_relevancies=True, k=None, sinkhorn_iters=50):
    n = len(s)
    spread = torch.stack([sum((s[j] - s[q]).abs() for q in range(n)) for j in range(n)])
    p = torch.stack([torch.softmax(((n + 1 - 2 * r) * s - spread) / temperature, 0) for r in range(1, n + 1)])
    for _ in range(sinkhorn_iters):
        p = p / p.sum(0, keepdim=True).clamp_min(1e-10)
        p = p / p.sum(1, keepdim=True).clamp_min(1e-10)
    gain = "exp2" if powered_relevancies else "linear"
    g = torch.tensor([_gain(v, gain) for v in y.tolist()], dtype=s.dtype)
    dcg = sum((p[r] * g).sum() / math.log2(r + 2) for r in range(min(n, k or n)))
    return 1.0 - dcg / _idcg(y, gain, k)


ref_ranknet_loss = _over_lists(ranknet)
ref_lambda_loss = _over_lists(lambda_)
ref_listnet_loss = _over_lists(listnet)
ref_listmle_loss = _over_lists(listmle)
ref_approx_ndcg_loss = _over_lists(approx_ndcg)
ref_neural_ndcg_loss = _over_lists(neural_ndcg)


# --------------------------------------------------------------------------------------------
# samples
# --------------------------------------------------------------------------------------------
def _make_samples(options: list[dict], *, ties: bool = True):
    """Lists of 6 items: no padding; padding at the end and inside (one list fully padded, one with one real item,
    one without a relevant item); and each of ``options``. ``ties=False`` draws relevance without ties."""

    def make(dtype: torch.dtype) -> list[Sample]:
        x = torch.randn(5, 6, dtype=dtype) * 1.5
        if ties:
            y = torch.randint(0, 4, (5, 6)).to(dtype)
        else:
            y = torch.stack([torch.randperm(6) for _ in range(5)]).to(dtype)
        y[2] = 0.0  # no relevant item: not rankable
        mask = torch.ones(5, 6, dtype=torch.bool)
        mask[0, 4:] = False
        mask[1, torch.tensor([1, 3])] = False
        mask[3] = False  # no real item
        mask[4, 1:] = False  # one real item
        y_int = y.long()
        return [
            Sample((x, y), {}, "lists of 6"),
            Sample((x, y, mask), {}, "padded lists"),
            Sample((torch.randn(6, 5, dtype=dtype).t(), y_int, mask), {}, "non-contiguous, integer relevance"),
            *[Sample((x, y, mask), dict(o), ", ".join(f"{k}={v}" for k, v in o.items())) for o in options],
        ]

    return make


def _common_errors(name: str, extra: list[ErrorCase]) -> list[ErrorCase]:
    x, y = torch.randn(3, 4), torch.tensor([[0.0, 1.0, 2.0, 0.0]] * 3)
    return [
        ErrorCase("1-D input", lambda: ((x[0], y[0]), {}), lk.LossShapeError,
                  match=r"\(N, L\).*got \(4,\); use input\.unsqueeze\(0\)"),
        ErrorCase("target of another shape", lambda: ((x, y[:, :3]), {}), lk.LossShapeError,
                  match=r"target must have the same shape as input \(3, 4\), but got \(3, 3\)"),
        ErrorCase("integer scores", lambda: ((x.long(), y), {}), lk.LossTypeError, match=r"input.*torch\.int64"),
        ErrorCase("float mask", lambda: ((x, y, torch.ones(3, 4)), {}), lk.LossTypeError,
                  match=r"mask must be a boolean.*torch\.float32; use mask\.bool\(\)"),
        ErrorCase("mask of another shape", lambda: ((x, y, torch.ones(3, 1, dtype=torch.bool)), {}),
                  lk.LossShapeError, match=r"mask must have the same shape as input \(3, 4\), but got \(3, 1\)"),
        ErrorCase("allRank's -1 padding without a mask", lambda: ((x, y - torch.tensor([0.0, 0.0, 0.0, 1.0])), {}),
                  lk.LossValueError, match=r"non-negative.*-1.*mask=target != -1"),
        ErrorCase("NaN score of a real item", lambda: ((torch.tensor([[0.0, float("nan")]]), y[:1, :2]), {}),
                  lk.NonFiniteError, match=r"input must be finite.*1 NaN"),
        ErrorCase("infinite relevance", lambda: ((x[:1, :2], torch.tensor([[1.0, float("inf")]])), {}),
                  lk.NonFiniteError, match=r"target must be finite"),
        ErrorCase("devices differ", lambda: ((x, y.to("meta")), {}), lk.LossDeviceError, match=r"meta"),
        ErrorCase("bad reduction", lambda: ((x, y), {"reduction": "avg"}), lk.LossOptionError, match=r"'avg'"),
        *extra,
    ]


def _option_error(desc: str, kwargs: dict, match: str) -> ErrorCase:
    x, y = torch.randn(2, 3), torch.tensor([[0.0, 1.0, 2.0]] * 2)
    return ErrorCase(desc, lambda: ((x, y), dict(kwargs)), lk.LossOptionError, match=match)


def _empty():
    return (torch.zeros(0, 4), torch.zeros(0, 4)), {}


def _entry(functional, module, options, reference, extra_errors, *, ties=True, **kw) -> LossEntry:
    return LossEntry(functional, module, _make_samples(options, ties=ties), reference,
                     errors=_common_errors(functional.__name__, extra_errors), empty=_empty, **kw)


_TEMPERATURE = [_option_error("temperature 0", {"temperature": 0.0}, r"temperature must be a number > 0.*0\.0")]

ENTRIES = [
    _entry(LF.ranknet_loss, lk.RankNetLoss,
           [{"sigma": 2.0, "weighting": "difference"}, {"weighting": "squared_difference"}], ref_ranknet_loss,
           [_option_error("unknown weighting", {"weighting": "diff"}, r"weighting.*'diff'"),
            _option_error("sigma < 0", {"sigma": -1.0}, r"sigma must be a number > 0")]),
    _entry(LF.lambda_loss, lk.LambdaLoss,
           [{"weighting": "lambdarank"}, {"weighting": "ndcg_loss2", "gain": "linear", "sigma": 0.5},
            {"mu": 2.0}], ref_lambda_loss,
           [_option_error("unknown weighting", {"weighting": "ndcgLoss2PP_scheme"}, r"weighting.*ndcg_loss2pp"),
            _option_error("mu < 0", {"mu": -1.0}, r"mu must be a number >= 0")]),
    _entry(LF.listnet_loss, lk.ListNetLoss, [{"target_transform": "linear"}], ref_listnet_loss,
           [_option_error("unknown target_transform", {"target_transform": "exp"}, r"target_transform.*'exp'")]),
    _entry(LF.listmle_loss, lk.ListMLELoss, [], ref_listmle_loss, []),
    _entry(LF.approx_ndcg_loss, lk.ApproxNDCGLoss, [{"temperature": 0.3}, {"gain": "linear"}],
           ref_approx_ndcg_loss,
           [*_TEMPERATURE, _option_error("unknown gain", {"gain": "exp"}, r"gain.*'exp'")]),
    _entry(LF.neural_ndcg_loss, lk.NeuralNDCGLoss,
           [{"k": 3}, {"temperature": 0.5, "powered_relevancies": False}, {"k": 10, "sinkhorn_iters": 5}],
           ref_neural_ndcg_loss,
           [*_TEMPERATURE, _option_error("k = 0", {"k": 0}, r"k must be a positive int.*got 0"),
            _option_error("float k", {"k": 2.5}, r"k must be a positive int.*2\.5"),
            _option_error("sinkhorn_iters 0", {"sinkhorn_iters": 0}, r"sinkhorn_iters must be a positive int")]),
]
