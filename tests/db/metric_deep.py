"""Test-database entries of the metric losses added for pytorch-metric-learning depth: mined triplets, Circle,
Multi-Similarity, lifted structure, NT-Xent, N-pair, Proxy-Anchor, Proxy-NCA.

The references are written from the papers' definitions with Python loops over anchors, pairs and triplets; they
share no code with losskit.functional. Agreement with pytorch-metric-learning itself is in tests/test_metric_pml.py.
"""

from __future__ import annotations

import math

import torch

import losskit as lk
import losskit.functional as LF
from tests.loss_db import ErrorCase, LossEntry, Sample

REDUCTIONS = ("none", "mean", "sum", "mean_nonzero")
LABELS = torch.tensor([0, 1, 0, 2, 1, 0, 2, 3])  # class 3 has no positive


# --------------------------------------------------------------------------------------------
# plain pieces
# --------------------------------------------------------------------------------------------
def _unit(v):
    return v / torch.sqrt((v * v).sum()).clamp_min(1e-12)


def _value(a, b, distance, normalize):
    """One entry of the distance/similarity matrix, by its definition."""
    if normalize or distance == "cosine":
        a, b = _unit(a), _unit(b)
    if distance in ("cosine", "dot"):
        return (a * b).sum()
    sq = ((a - b) ** 2).sum()
    if distance == "squared_euclidean":
        return sq
    return torch.sqrt(sq) if float(sq) > 0 else sq * 0.0


def _dist(a, b, distance, normalize):
    v = _value(a, b, distance, normalize)
    return 1 - v if distance in ("cosine", "dot") else v


def _sim(a, b, distance, normalize):
    v = _value(a, b, distance, normalize)
    return v if distance in ("cosine", "dot") else -v


def _lse(values):
    top = max(float(v.detach()) for v in values)
    return top + torch.log(sum(torch.exp(v - top) for v in values))


def _reduce(values: list, shape, count: int, reduction: str, like: torch.Tensor):
    stacked = torch.stack(values).reshape(shape) if values else like.new_zeros(shape)
    if reduction == "none":
        return stacked
    total = stacked.sum()
    if reduction == "sum":
        return total
    if reduction == "mean_nonzero":
        count = int((stacked > 0).sum())
    return total / count if count else total * 0.0


def _refs(x, labels, ref_emb, ref_labels):
    if ref_emb is None:
        return x, labels, True
    return ref_emb, ref_labels, False


def _pairs_of(labels, row_labels, same_rows, indices, i, j):
    """(positive, negative) for the pair (i, j) by the definition."""
    if indices is not None:
        if len(indices) == 3:
            a, p, n = (t.tolist() for t in indices)
            pos = any(a[k] == i and p[k] == j for k in range(len(a)))
            neg = any(a[k] == i and n[k] == j for k in range(len(a)))
        else:
            a1, p, a2, n = (t.tolist() for t in indices)
            pos = any(a1[k] == i and p[k] == j for k in range(len(a1)))
            neg = any(a2[k] == i and n[k] == j for k in range(len(a2)))
        return pos, neg
    same = int(labels[i]) == int(row_labels[j])
    return same and not (same_rows and i == j), not same


# --------------------------------------------------------------------------------------------
# references
# --------------------------------------------------------------------------------------------
def ref_mined_triplet(x, labels, *, margin=0.05, mining=None, mining_margin=0.2, swap=False, smooth_loss=False,
                      distance="euclidean", normalize_embeddings=True, indices=None, ref_emb=None, ref_labels=None,
                      global_batch=False, reduction="mean"):
    """Schroff et al. 2015 / Balntas et al. 2016 (swap), PML's triplet selection rules, triplet by triplet."""
    rows, row_labels, same_rows = _refs(x, labels, ref_emb, ref_labels)
    n, m = x.shape[0], rows.shape[0]
    d = [[_dist(x[i], rows[j], distance, normalize_embeddings) for j in range(m)] for i in range(n)]
    terms, count = [], 0
    for a in range(n):
        for p in range(m):
            for k in range(m):
                if indices is not None and len(indices) == 3:
                    ia, ip, ik = (t.tolist() for t in indices)
                    keep = any(ia[t] == a and ip[t] == p and ik[t] == k for t in range(len(ia)))
                else:
                    keep = _pairs_of(labels, row_labels, same_rows, indices, a, p)[0] and \
                        _pairs_of(labels, row_labels, same_rows, indices, a, k)[1]
                if keep and mining is not None:
                    t = float(d[a][k] - d[a][p])
                    keep = {"all": t <= mining_margin, "hard": t <= min(mining_margin, 0.0),
                            "semihard": 0 < t <= mining_margin, "easy": t > mining_margin}[mining]
                if not keep:
                    terms.append(x.sum() * 0.0)
                    continue
                an = d[a][k]
                if swap:
                    pn = _dist(rows[p], rows[k], distance, normalize_embeddings)
                    an = torch.minimum(an, pn)
                v = d[a][p] - an + margin
                terms.append(torch.log1p(torch.exp(v)) if smooth_loss else torch.clamp(v, min=0))
                count += 1
    return _reduce(terms, (n, m, m), count, reduction, x)


def _pair_matrix(x, labels, ref_emb, ref_labels, indices, fn):
    rows, row_labels, same_rows = _refs(x, labels, ref_emb, ref_labels)
    out = []
    for i in range(x.shape[0]):
        pos, neg = [], []
        for j in range(rows.shape[0]):
            is_pos, is_neg = _pairs_of(labels, row_labels, same_rows, indices, i, j)
            if is_pos:
                pos.append(j)
            if is_neg:
                neg.append(j)
        out.append((pos, neg))
    return rows, out


def ref_circle(x, labels, *, m=0.4, gamma=80.0, distance="cosine", normalize_embeddings=True, indices=None,
               ref_emb=None, ref_labels=None, global_batch=False, reduction="mean"):
    """Sun et al. 2020, eq. (5)-(6), pair-label form, alphas as constants."""
    rows, pairs = _pair_matrix(x, labels, ref_emb, ref_labels, indices, None)
    terms, count = [], 0
    for i, (pos, neg) in enumerate(pairs):
        if not pos or not neg:
            terms.append(x.sum() * 0.0)
            continue
        sp = [_sim(x[i], rows[j], distance, normalize_embeddings) for j in pos]
        sn = [_sim(x[i], rows[j], distance, normalize_embeddings) for j in neg]
        lp = [-gamma * max(1 + m - float(s.detach()), 0.0) * (s - (1 - m)) for s in sp]
        ln = [gamma * max(float(s.detach()) + m, 0.0) * (s - m) for s in sn]
        z = _lse(lp) + _lse(ln)
        terms.append(torch.log1p(torch.exp(z)) if float(z) < 30 else z + torch.log1p(torch.exp(-z)))
        count += 1
    return _reduce(terms, (x.shape[0],), count, reduction, x)


def ref_multi_similarity(x, labels, *, alpha=2.0, beta=50.0, base=0.5, mining=False, epsilon=0.1,
                         distance="cosine", normalize_embeddings=True, indices=None, ref_emb=None, ref_labels=None,
                         global_batch=False, reduction="mean"):
    """Wang et al. 2019, eq. (6)-(7) mining and eq. (9) loss."""
    rows, pairs = _pair_matrix(x, labels, ref_emb, ref_labels, indices, None)
    terms, count = [], 0
    for i, (pos, neg) in enumerate(pairs):
        s = {j: _sim(x[i], rows[j], distance, normalize_embeddings) for j in pos + neg}
        if mining:
            max_neg = max((float(s[j]) for j in neg), default=-math.inf)
            min_pos = min((float(s[j]) for j in pos), default=math.inf)
            pos = [j for j in pos if float(s[j]) - epsilon < max_neg]
            neg = [j for j in neg if float(s[j]) + epsilon > min_pos]
        zero = x.sum() * 0.0
        lp = _lse([zero] + [-alpha * (s[j] - base) for j in pos]) / alpha
        ln = _lse([zero] + [beta * (s[j] - base) for j in neg]) / beta
        terms.append(lp + ln)
        count += 1 if (pos or neg) else 0
    return _reduce(terms, (x.shape[0],), count, reduction, x)


def ref_lifted_structure(x, labels, *, pos_margin=0.0, neg_margin=1.0, distance="euclidean",
                         normalize_embeddings=True, indices=None, reduction="mean"):
    """Oh Song et al. 2016, eq. (4), per ordered positive pair, with PML's positive margin."""
    n = x.shape[0]
    _, pairs = _pair_matrix(x, labels, None, None, indices, None)
    terms, count = [], 0
    for i in range(n):
        for j in range(n):
            if j not in pairs[i][0]:
                terms.append(x.sum() * 0.0)
                continue
            negs = [neg_margin - _dist(x[i], x[k], distance, normalize_embeddings) for k in pairs[i][1]]
            negs += [neg_margin - _dist(x[j], x[k], distance, normalize_embeddings) for k in pairs[j][1]]
            lse = _lse(negs) if negs else x.sum() * 0.0
            jj = lse + _dist(x[i], x[j], distance, normalize_embeddings) - pos_margin
            terms.append(0.5 * torch.clamp(jj, min=0) ** 2)
            count += 1
    return _reduce(terms, (n, n), count, reduction, x)


def ref_nt_xent(x, labels, *, temperature=0.07, distance="cosine", normalize_embeddings=True, indices=None,
                ref_emb=None, ref_labels=None, global_batch=False, reduction="mean"):
    """Chen et al. 2020, eq. (1), per positive pair, the anchor's negatives in the denominator."""
    rows, pairs = _pair_matrix(x, labels, ref_emb, ref_labels, indices, None)
    terms, count = [], 0
    for i, (pos, neg) in enumerate(pairs):
        for j in range(rows.shape[0]):
            if j not in pos:
                terms.append(x.sum() * 0.0)
                continue
            sp = _sim(x[i], rows[j], distance, normalize_embeddings) / temperature
            sn = [_sim(x[i], rows[k], distance, normalize_embeddings) / temperature for k in neg]
            terms.append(_lse([sp, *sn]) - sp)
            count += 1
    return _reduce(terms, (x.shape[0], rows.shape[0]), count, reduction, x)


def ref_n_pair(x, labels, *, l2_reg=0.0, distance="dot", normalize_embeddings=False, indices=None,
               reduction="mean"):
    """Sohn 2016, eq. (3) with one pair per class, plus TensorFlow's 0.25 * lambda L2 term."""
    n = x.shape[0]
    chosen = []  # (anchor, positive), first per label
    if indices is None:
        for c in dict.fromkeys(int(v) for v in labels):
            members = [i for i in range(n) if int(labels[i]) == c]
            if len(members) >= 2:
                chosen.append((members[0], members[1]))
    else:
        seen = set()
        for a, p in zip(indices[0].tolist(), indices[1].tolist()):
            if int(labels[a]) not in seen:
                seen.add(int(labels[a]))
                chosen.append((a, p))
    terms = [x.sum() * 0.0 for _ in range(n)]
    for a, p in chosen:
        logits = [_sim(x[a], x[q], distance, normalize_embeddings) for _, q in chosen]
        term = _lse(logits) - _sim(x[a], x[p], distance, normalize_embeddings)
        terms[a] = term + 0.25 * l2_reg * ((x[a] ** 2).sum() + (x[p] ** 2).sum())
    return _reduce(terms, (n,), len(chosen), reduction, x)


def ref_proxy_anchor(x, labels, proxies, *, margin=0.1, alpha=32.0, distance="cosine", normalize_embeddings=True,
                     reduction="mean"):
    """Kim et al. 2020, eq. (4): positive and negative terms per proxy."""
    c = proxies.shape[0]
    pos_terms, neg_terms = [], []
    for k in range(c):
        zero = x.sum() * 0.0 + proxies.sum() * 0.0
        s = [_sim(x[i], proxies[k], distance, normalize_embeddings) for i in range(x.shape[0])]
        mine = [i for i in range(x.shape[0]) if int(labels[i]) == k]
        other = [i for i in range(x.shape[0]) if int(labels[i]) != k]
        pos_terms.append(_lse([zero] + [-alpha * (s[i] - margin) for i in mine]))
        neg_terms.append(_lse([zero] + [alpha * (s[i] + margin) for i in other]))
    with_pos = len({int(v) for v in labels})
    pos, neg = torch.stack(pos_terms), torch.stack(neg_terms)
    if reduction == "none":
        return torch.stack([pos, neg])
    if reduction == "sum":
        return pos.sum() + neg.sum()
    if reduction == "mean_nonzero":
        p, q = int((pos > 0).sum()), int((neg > 0).sum())
        return (pos.sum() / p if p else pos.sum() * 0) + (neg.sum() / q if q else neg.sum() * 0)
    return (pos.sum() / with_pos if with_pos else pos.sum() * 0) + neg.sum() / c


def ref_proxy_nca(x, labels, proxies, *, softmax_scale=1.0, distance="squared_euclidean", normalize_embeddings=True,
                  reduction="mean"):
    """Movshovitz-Attias et al. 2017 with the own proxy in the denominator (PML's form)."""
    terms = []
    for i in range(x.shape[0]):
        logits = [softmax_scale * _sim(x[i], proxies[k], distance, normalize_embeddings)
                  for k in range(proxies.shape[0])]
        terms.append(_lse(logits) - logits[int(labels[i])])
    return _reduce(terms, (x.shape[0],), x.shape[0], reduction, x)


# --------------------------------------------------------------------------------------------
# samples
# --------------------------------------------------------------------------------------------
_TRIPLETS = (torch.tensor([0, 0, 2, 5]), torch.tensor([2, 5, 0, 2]), torch.tensor([1, 3, 7, 4]))
_PAIRS = (torch.tensor([0, 2, 1]), torch.tensor([2, 5, 4]), torch.tensor([0, 3, 3, 6]), torch.tensor([1, 0, 7, 1]))


def _labelled(options: list[dict], *, per_call: bool = True, ref: bool = True, gb: bool = True):
    def make(dtype: torch.dtype) -> list[Sample]:
        x = torch.randn(8, 3, dtype=dtype) * 0.6
        wide = torch.randn(3, 8, dtype=dtype) * 0.6
        out = [
            Sample((x, LABELS), dict(options[0]), "8x3"),
            *[Sample((x, LABELS), dict(o), f"options {o}") for o in options[1:]],
            Sample((wide.t(), LABELS.int()), dict(options[0]), "non-contiguous, int32 labels"),
        ]
        if gb:
            out.append(Sample((x, LABELS), {**options[0], "global_batch": True}, "global_batch without a group"))
        if per_call:
            out += [Sample((x, LABELS), {**options[0], "indices": _TRIPLETS}, "mined triplets"),
                    Sample((x, LABELS), {**options[0], "indices": _PAIRS}, "mined pairs")]
        if ref:
            r = torch.randn(5, 3, dtype=dtype)
            out.append(Sample((x, LABELS), {**options[0], "ref_emb": r, "ref_labels": torch.tensor([0, 1, 2, 0, 4])},
                              "reference embeddings"))
        out += [Sample((x[:5], torch.tensor([4, 4, 4, 4, 4])), dict(options[0]), "one class: no negatives"),
                Sample((x[:4] * 3, torch.tensor([1, 0, 1, 0])), dict(options[-1]), "spread out")]
        return out

    return make


def _per_call(sample: Sample) -> tuple[dict, tuple]:
    """Mined indices and reference rows go to forward, the rest to the constructor."""
    ctor = {k: v for k, v in sample.kwargs.items() if k not in ("indices", "ref_emb", "ref_labels")}
    extra = tuple(sample.kwargs.get(k) for k in ("indices", "ref_emb", "ref_labels"))
    while extra and extra[-1] is None:
        extra = extra[:-1]
    return ctor, (*sample.args, *extra)


def _proxies(options: list[dict]):
    def make(dtype: torch.dtype) -> list[Sample]:
        proxies = torch.randn(5, 4, dtype=dtype)
        labels = torch.tensor([0, 3, 1, 4, 3, 3])
        x = proxies[labels] + 0.8 * torch.randn(6, 4, dtype=dtype)
        return [
            Sample((x, labels, proxies), dict(options[0]), "6x4, 5 classes, class 2 absent", grad=(0, 2)),
            *[Sample((x, labels, proxies), dict(o), f"options {o}", grad=(0, 2)) for o in options[1:]],
            Sample((x.t().contiguous().t(), labels.int(), proxies), dict(options[0]), "int32 labels", grad=(0, 2)),
            Sample((x[:3], labels[:3], proxies), dict(options[-1]), "3 rows", grad=(0, 2)),
        ]

    return make


def _proxy_call(sample: Sample) -> tuple[dict, tuple]:
    x, labels, proxies = sample.args
    return {"num_classes": proxies.shape[0], "embedding_dim": proxies.shape[1], "proxies": proxies,
            **sample.kwargs}, (x, labels)


# --------------------------------------------------------------------------------------------
# errors and empty cases
# --------------------------------------------------------------------------------------------
def _errors(options: dict, ref: bool = True) -> list[ErrorCase]:
    x = torch.randn(8, 3)
    cases = [
        ErrorCase("labels (N, 1)", lambda: ((x, LABELS[:, None]), options), lk.LossShapeError, match=r"\(8, 1\)"),
        ErrorCase("float labels", lambda: ((x, LABELS.float()), options), lk.LossTypeError, match="torch.float32"),
        ErrorCase("1-D embeddings", lambda: ((torch.randn(5), LABELS[:5]), options), lk.LossShapeError,
                  match=r"\(5,\).*unsqueeze"),
        ErrorCase("nan embeddings", lambda: ((x.index_fill(0, torch.tensor([2]), float("nan")), LABELS), options),
                  lk.NonFiniteError, match="3 NaN"),
        ErrorCase("bad reduction", lambda: ((x, LABELS), {**options, "reduction": "avg_nonzero"}),
                  lk.LossOptionError, match="'avg_nonzero'"),
        ErrorCase("unknown distance", lambda: ((x, LABELS), {**options, "distance": "cosin"}), lk.LossOptionError,
                  match="'cosin'.*did you mean 'cosine'"),
        ErrorCase("indices of one tensor", lambda: ((x, LABELS), {**options, "indices": (torch.arange(3),)}),
                  lk.LossOptionError, match="tuple of length 1"),
        ErrorCase("triplet indices of unequal lengths",
                  lambda: ((x, LABELS), {**options, "indices": (torch.arange(3), torch.arange(3), torch.arange(2))}),
                  lk.LossShapeError, match=r"\[3, 3, 2\]"),
    ]
    if ref:
        cases += [
            ErrorCase("ref_emb without ref_labels", lambda: ((x, LABELS), {**options, "ref_emb": x}),
                      lk.LossOptionError, match="ref_emb was given without ref_labels"),
            ErrorCase("ref_emb of another width",
                      lambda: ((x, LABELS), {**options, "ref_emb": torch.randn(4, 5), "ref_labels": torch.arange(4)}),
                      lk.LossShapeError, match=r"\(M, 3\).*\(4, 5\)"),
        ]
    return cases


def _proxy_errors(options: dict) -> list[ErrorCase]:
    x, labels, proxies = torch.randn(6, 4), torch.tensor([0, 3, 1, 4, 3, 2]), torch.randn(5, 4)
    return [
        ErrorCase("proxies of another width", lambda: ((x, labels, torch.randn(5, 3)), options), lk.LossShapeError,
                  match=r"proxies.*\(5, 3\).*\(6, 4\)"),
        ErrorCase("label outside [0, C)", lambda: ((x, labels.clamp(max=3) + 2, proxies), options),
                  lk.LossValueError, match=r"\[0, 5\).*5 proxies"),
        ErrorCase("float labels", lambda: ((x, labels.float(), proxies), options), lk.LossTypeError,
                  match="torch.float32"),
        ErrorCase("nan proxies", lambda: ((x, labels, proxies.index_fill(0, torch.tensor([1]), math.nan)), options),
                  lk.NonFiniteError, match="proxies.*4 NaN"),
        ErrorCase("bad reduction", lambda: ((x, labels, proxies), {**options, "reduction": "avg"}),
                  lk.LossOptionError, match="'avg'"),
    ]


def _distinct_labels():
    return (torch.randn(4, 3), torch.arange(4)), {}


def _no_samples():
    return (torch.zeros(0, 4), torch.zeros(0, dtype=torch.long), torch.randn(3, 4)), {}


_TOL_SCALED = {"rtol": 1e-4, "atol": 1e-4}  # gamma 80 / beta 50 / alpha 32 amplify float32 rounding

ENTRIES = [
    LossEntry(LF.mined_triplet_loss, lk.MinedTripletLoss,
              _labelled([{}, {"mining": "semihard", "margin": 0.2, "normalize_embeddings": False},
                         {"mining": "hard", "swap": True}, {"smooth_loss": True, "distance": "cosine"},
                         {"mining": "all", "mining_margin": 0.3, "distance": "squared_euclidean", "margin": 0.3}]),
              ref_mined_triplet, module_call=_per_call, errors=_errors({}), reductions=REDUCTIONS,
              empty=_distinct_labels),
    LossEntry(LF.circle_loss, lk.CircleLoss,
              _labelled([{"gamma": 8.0}, {}, {"m": 0.25, "gamma": 16.0}, {"gamma": 4.0, "distance": "dot"}]),
              ref_circle, module_call=_per_call, errors=_errors({}), reductions=REDUCTIONS, empty=_distinct_labels,
              # the paper's weights alpha_p, alpha_n are constants in the gradient (detached, as PML and the
              # authors), so the gradient is by design not the numerical Jacobian; parity checks it instead
              gradcheck=False, tol32=_TOL_SCALED),
    LossEntry(LF.multi_similarity_loss, lk.MultiSimilarityLoss,
              _labelled([{"beta": 10.0}, {}, {"mining": True, "epsilon": 0.2},
                         {"mining": True, "distance": "euclidean", "base": -0.5, "beta": 5.0}]),
              ref_multi_similarity, module_call=_per_call, errors=_errors({}), reductions=REDUCTIONS,
              empty=lambda: ((torch.randn(1, 3), torch.tensor([2])), {}), tol32=_TOL_SCALED),
    LossEntry(LF.lifted_structure_loss, lk.LiftedStructureLoss,
              _labelled([{}, {"pos_margin": 0.2, "neg_margin": 0.8, "normalize_embeddings": False},
                         {"distance": "cosine", "neg_margin": 0.5}], ref=False, gb=False),
              ref_lifted_structure, module_call=_per_call, errors=_errors({}, ref=False), reductions=REDUCTIONS,
              empty=_distinct_labels),
    LossEntry(LF.nt_xent_loss, lk.NTXentLoss,
              _labelled([{"temperature": 0.5}, {}, {"temperature": 0.2, "distance": "euclidean"}]),
              ref_nt_xent, module_call=_per_call, errors=_errors({}), reductions=REDUCTIONS, empty=_distinct_labels,
              tol32=_TOL_SCALED),
    LossEntry(LF.n_pair_loss, lk.NPairLoss,
              _labelled([{}, {"l2_reg": 0.02}, {"normalize_embeddings": True, "l2_reg": 0.1}], ref=False, gb=False),
              ref_n_pair, module_call=_per_call, errors=_errors({}, ref=False), reductions=REDUCTIONS,
              empty=_distinct_labels),
    LossEntry(LF.proxy_anchor_loss, lk.ProxyAnchorLoss,
              _proxies([{"alpha": 8.0}, {}, {"margin": 0.2, "alpha": 16.0, "distance": "dot"}]),
              ref_proxy_anchor, module_call=_proxy_call, errors=_proxy_errors({}), reductions=REDUCTIONS,
              empty=_no_samples, tol32=_TOL_SCALED),
    LossEntry(LF.proxy_nca_loss, lk.ProxyNCALoss,
              _proxies([{}, {"softmax_scale": 8.0}, {"distance": "cosine", "softmax_scale": 4.0}]),
              ref_proxy_nca, module_call=_proxy_call, errors=_proxy_errors({}), reductions=REDUCTIONS,
              empty=_no_samples),
]
