"""Agreement with pytorch-metric-learning (test-only dependency) on values and gradients, float64, for the metric
losses, distances, miners and AvgNonZeroReducer; plus the split's compatibility and the miners' contracts.

Each comparison records its largest absolute difference (value and gradient) in ``MAX_DIFFS``; run with ``-s`` to
see the table printed at the end of the module.
"""

from __future__ import annotations

import math

import pytest
import torch

import losskit as lk
import losskit.functional as LF
from losskit.functional import metric as MF
from losskit.functional.miners import mine_pairs, mine_triplets

pml = pytest.importorskip("pytorch_metric_learning")
from pytorch_metric_learning import distances, losses, miners, reducers  # noqa: E402

LABELS = torch.tensor([0, 1, 0, 2, 1, 0, 2, 3, 1, 2])
MAX_DIFFS: dict[str, tuple[float, float]] = {}


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    for name, (value, grad) in sorted(MAX_DIFFS.items()):
        print(f"\n{name:48s} value {value:.2e} grad {grad:.2e}", end="")


def _x(seed: int = 0, n: int = 10, d: int = 4) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64)


def _agree(key: str, ours_fn, theirs_fn, *tensors: torch.Tensor) -> None:
    """Values and gradients (w.r.t. every tensor) of ours and PML's agree to float64 precision."""
    a = [t.detach().clone().requires_grad_(True) for t in tensors]
    b = [t if isinstance(t, torch.nn.Parameter) else t.detach().clone().requires_grad_(True) for t in tensors]
    ours, theirs = ours_fn(*a), theirs_fn(*b)
    torch.testing.assert_close(ours, theirs.to(ours.dtype), rtol=1e-9, atol=1e-11)
    ga = torch.autograd.grad(ours, a, allow_unused=True)
    gb = torch.autograd.grad(theirs, b, allow_unused=True)
    worst = 0.0
    for x, y in zip(ga, gb):
        x = torch.zeros_like(a[0]) if x is None else x
        y = torch.zeros_like(x) if y is None else y
        torch.testing.assert_close(x, y, rtol=1e-8, atol=1e-11)
        worst = max(worst, float((x - y).abs().max()))
    old = MAX_DIFFS.get(key, (0.0, 0.0))
    MAX_DIFFS[key] = (max(old[0], float((ours - theirs).abs())), max(old[1], worst))


# --------------------------------------------------------------------------------------------
# distances and the reducer
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (("euclidean", True), lambda: distances.LpDistance()),
        (("euclidean", False), lambda: distances.LpDistance(normalize_embeddings=False)),
        (("squared_euclidean", True), lambda: distances.LpDistance(power=2)),
        (("cosine", False), lambda: distances.CosineSimilarity()),
        (("dot", False), lambda: distances.DotProductSimilarity(normalize_embeddings=False)),
        (("dot", True), lambda: distances.DotProductSimilarity()),
    ],
    ids=["lp", "lp-raw", "lp-squared", "cosine", "dot-raw", "dot-normalised"],
)
def test_distances_equal_pml(ours, theirs):
    from losskit.functional._distances import pairwise

    x, r = _x(), _x(1, 7)
    torch.testing.assert_close(pairwise(x, r, ours[0], normalize_embeddings=ours[1]), theirs()(x, r))


@pytest.mark.parametrize("distance", ["euclidean", "cosine"])
def test_contrastive_mean_nonzero_is_avg_non_zero_reducer(distance):
    kwargs, pml_kwargs = {"pos_margin": 0.1, "neg_margin": 0.9}, {"pos_margin": 0.1, "neg_margin": 0.9}
    pml_distance = distances.LpDistance()
    if distance == "cosine":
        kwargs = {"pos_margin": 0.2, "neg_margin": 0.7}
        pml_kwargs = {"pos_margin": 0.8, "neg_margin": 0.3}  # margins on s = 1 - d
        pml_distance = distances.CosineSimilarity()
    _agree(f"ContrastiveLoss {distance} (AvgNonZero)",
           lambda x: LF.contrastive_loss(x, LABELS, distance=distance, normalize_embeddings=True,
                                         reduction="mean_nonzero", **kwargs),
           lambda x: losses.ContrastiveLoss(distance=pml_distance, **pml_kwargs)(x, LABELS), _x())


# --------------------------------------------------------------------------------------------
# triplets and miners
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("swap", [False, True], ids=["plain", "swap"])
@pytest.mark.parametrize("smooth", [False, True], ids=["hinge", "smooth"])
@pytest.mark.parametrize("reduction", ["mean_nonzero", "mean"])
def test_triplet_margin_loss_all_triplets(swap, smooth, reduction):
    reducer = reducers.AvgNonZeroReducer() if reduction == "mean_nonzero" else reducers.MeanReducer()
    _agree(f"TripletMarginLoss swap={swap} smooth={smooth}",
           lambda x: LF.mined_triplet_loss(x, LABELS, margin=0.3, swap=swap, smooth_loss=smooth, reduction=reduction),
           lambda x: losses.TripletMarginLoss(margin=0.3, swap=swap, smooth_loss=smooth, reducer=reducer)(x, LABELS),
           _x() * 0.5)


@pytest.mark.parametrize("strategy", ["all", "semihard", "hard", "easy"])
@pytest.mark.parametrize("distance", ["euclidean", "cosine"])
def test_triplet_miner_and_mining_option(strategy, distance):
    x = _x(3)
    pml_distance = distances.LpDistance() if distance == "euclidean" else distances.CosineSimilarity()
    miner = miners.TripletMarginMiner(margin=0.3, type_of_triplets=strategy, distance=pml_distance)
    theirs = miner(x, LABELS)
    ours = mine_triplets(LABELS, x, strategy=strategy, margin=0.3, distance=distance)
    for a, b in zip(ours, theirs):
        assert torch.equal(a, b)
    loss = losses.TripletMarginLoss(margin=0.1, distance=pml_distance)
    _agree(f"TripletMarginLoss + TripletMarginMiner({strategy}) {distance}",
           lambda e: LF.mined_triplet_loss(e, LABELS, margin=0.1, mining=strategy, mining_margin=0.3,
                                           distance=distance, reduction="mean_nonzero"),
           lambda e: loss(e, LABELS, miner(e, LABELS)), x)
    # the indices path gives the same number
    _agree(f"TripletMarginLoss + TripletMarginMiner({strategy}) {distance}",
           lambda e: LF.mined_triplet_loss(e, LABELS, margin=0.1, indices=ours, distance=distance,
                                           reduction="mean_nonzero"),
           lambda e: loss(e, LABELS, miner(e, LABELS)), x)


def test_pair_miners_equal_pml():
    x = _x(4)
    for ours, theirs in zip(mine_pairs(LABELS), pml.utils.loss_and_miner_utils.get_all_pairs_indices(LABELS)):
        assert torch.equal(ours, theirs)
    ms = miners.MultiSimilarityMiner(epsilon=0.1)(x, LABELS)
    ours_ms = mine_pairs(LABELS, x, strategy="multi_similarity", epsilon=0.1)
    # the same pairs; PML lists each anchor's pairs in order of similarity, losskit in row order
    for k in (0, 2):
        assert sorted(zip(ours_ms[k].tolist(), ours_ms[k + 1].tolist())) == sorted(
            zip(ms[k].tolist(), ms[k + 1].tolist()))
    pm = miners.PairMarginMiner(pos_margin=0.6, neg_margin=0.9, distance=distances.LpDistance())(x, LABELS)
    ours = mine_pairs(LABELS, x, strategy="margin", pos_margin=0.6, neg_margin=0.9, distance="euclidean")
    for a, b in zip(ours, pm):
        assert torch.equal(a, b)


def test_mined_pairs_feed_every_pair_loss():
    x = _x(5)
    idx = mine_pairs(LABELS, x, strategy="multi_similarity")
    _agree("ContrastiveLoss + MultiSimilarityMiner",
           lambda e: LF.contrastive_loss(e, LABELS, normalize_embeddings=True, indices=idx, reduction="mean_nonzero"),
           lambda e: losses.ContrastiveLoss()(e, LABELS, idx), x)
    _agree("CircleLoss + MultiSimilarityMiner",
           lambda e: LF.circle_loss(e, LABELS, indices=idx, reduction="mean_nonzero"),
           lambda e: losses.CircleLoss()(e, LABELS, idx), x)


# --------------------------------------------------------------------------------------------
# pair losses
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("m", "gamma"), [(0.4, 80.0), (0.25, 32.0)])
def test_circle_loss(m, gamma):
    _agree("CircleLoss", lambda e: LF.circle_loss(e, LABELS, m=m, gamma=gamma, reduction="mean_nonzero"),
           lambda e: losses.CircleLoss(m=m, gamma=gamma)(e, LABELS), _x(6) * 0.3)


@pytest.mark.parametrize("mining", [False, True], ids=["no-miner", "ms-miner"])
def test_multi_similarity_loss(mining):
    x = _x(7)
    loss = losses.MultiSimilarityLoss(alpha=2.0, beta=40.0, base=0.5)
    if mining:
        miner = miners.MultiSimilarityMiner(epsilon=0.1)
        _agree("MultiSimilarityLoss + MultiSimilarityMiner",
               lambda e: LF.multi_similarity_loss(e, LABELS, beta=40.0, mining=True, reduction="sum") / len(LABELS),
               lambda e: loss(e, LABELS, miner(e, LABELS)), x)
    else:
        _agree("MultiSimilarityLoss", lambda e: LF.multi_similarity_loss(e, LABELS, beta=40.0),
               lambda e: loss(e, LABELS), x)


def test_multi_similarity_with_lp_distance_flips_base():
    _agree("MultiSimilarityLoss LpDistance (base -> -base)",
           lambda e: LF.multi_similarity_loss(e, LABELS, base=-0.5, beta=10.0, distance="euclidean"),
           lambda e: losses.MultiSimilarityLoss(beta=10.0, base=0.5, distance=distances.LpDistance())(e, LABELS),
           _x(8))


@pytest.mark.parametrize(("pos", "neg"), [(0.0, 1.0), (0.2, 0.6)])
def test_lifted_structure_loss(pos, neg):
    _agree("LiftedStructureLoss",
           lambda e: LF.lifted_structure_loss(e, LABELS, pos_margin=pos, neg_margin=neg),
           lambda e: losses.LiftedStructureLoss(pos_margin=pos, neg_margin=neg)(e, LABELS), _x(9))


# --------------------------------------------------------------------------------------------
# softmax losses
# --------------------------------------------------------------------------------------------
def test_nt_xent_in_batch_and_with_ref_emb():
    x, r = _x(10), _x(11, 6)
    ref_labels = torch.tensor([0, 1, 4, 2, 0, 3])
    _agree("NTXentLoss", lambda e: LF.nt_xent_loss(e, LABELS, temperature=0.2),
           lambda e: losses.NTXentLoss(temperature=0.2)(e, LABELS), x)
    _agree("NTXentLoss ref_emb",
           lambda e, q: LF.nt_xent_loss(e, LABELS, temperature=0.2, ref_emb=q, ref_labels=ref_labels),
           lambda e, q: losses.NTXentLoss(temperature=0.2)(e, LABELS, ref_emb=q, ref_labels=ref_labels), x, r)


def test_n_pair_loss():
    _agree("NPairsLoss", lambda e: LF.n_pair_loss(e, LABELS, normalize_embeddings=True),
           lambda e: losses.NPairsLoss()(e, LABELS), _x(12))
    _agree("NPairsLoss raw dot",
           lambda e: LF.n_pair_loss(e, LABELS),
           lambda e: losses.NPairsLoss(distance=distances.DotProductSimilarity(normalize_embeddings=False))(e, LABELS),
           _x(12))


# --------------------------------------------------------------------------------------------
# proxy losses
# --------------------------------------------------------------------------------------------
def _with_proxies(peer, proxies):
    peer.proxies.data = proxies.detach().clone()
    return peer


def test_proxy_anchor_loss():
    labels = torch.tensor([0, 3, 1, 3, 3, 1, 0, 4])  # class 2 absent: |P+| = 4 < C = 5
    x, proxies = _x(13, 8, 4), _x(14, 5, 4)
    peer = _with_proxies(losses.ProxyAnchorLoss(5, 4, margin=0.1, alpha=32), proxies)
    _agree("ProxyAnchorLoss", lambda e, p: LF.proxy_anchor_loss(e, labels, p), lambda e, p: peer(e, labels),
           x, peer.proxies)


def test_proxy_nca_loss():
    labels = torch.tensor([0, 3, 1, 3, 3, 1, 0, 4])
    x, proxies = _x(15, 8, 4), _x(16, 5, 4)
    peer = _with_proxies(losses.ProxyNCALoss(5, 4, softmax_scale=3.0), proxies)
    _agree("ProxyNCALoss", lambda e, p: LF.proxy_nca_loss(e, labels, p, softmax_scale=3.0),
           lambda e, p: peer(e, labels), x, peer.proxies)


# --------------------------------------------------------------------------------------------
# the split, the Modules, the miners' contracts
# --------------------------------------------------------------------------------------------
def test_split_keeps_old_import_paths():
    for name in ("contrastive_loss", "batch_hard_triplet_loss", "info_nce_loss", "supcon_loss", "arcface_loss",
                 "cosface_loss"):
        assert getattr(MF, name) is getattr(LF, name)


def test_proxy_module_trains_its_proxies():
    module = lk.ProxyAnchorLoss(3, 4, alpha=8.0)
    assert isinstance(module.proxies, torch.nn.Parameter) and "proxies" in module.state_dict()
    x, labels = torch.randn(12, 4), torch.arange(12) % 3
    opt = torch.optim.SGD(module.parameters(), lr=0.5)
    first = module(x, labels).item()
    for _ in range(20):
        opt.zero_grad()
        module(x, labels).backward()
        opt.step()
    assert module(x, labels).item() < first


def test_module_takes_indices_and_ref_emb_per_call():
    x, r = _x(17), _x(18, 6)
    idx = mine_triplets(LABELS, x, strategy="semihard")
    loss = lk.MinedTripletLoss(margin=0.1)
    torch.testing.assert_close(loss(x, LABELS, idx), LF.mined_triplet_loss(x, LABELS, margin=0.1, indices=idx))
    refl = torch.tensor([0, 1, 2, 3, 0, 1])
    torch.testing.assert_close(lk.NTXentLoss()(x, LABELS, None, r, refl),
                               LF.nt_xent_loss(x, LABELS, ref_emb=r, ref_labels=refl))


def test_miner_output_and_errors():
    a, p, n = mine_triplets(LABELS)
    assert a.dtype == torch.int64 and len(a) == len(p) == len(n) > 0
    assert bool((LABELS[a] == LABELS[p]).all() and (LABELS[a] != LABELS[n]).all() and (a != p).all())
    with pytest.raises(lk.LossOptionError, match=r"strategy.*'semi'"):
        mine_triplets(LABELS, _x(), strategy="semi")
    with pytest.raises(lk.LossOptionError, match="needs embeddings"):
        mine_pairs(LABELS, strategy="multi_similarity")
    with pytest.raises(lk.LossOptionError, match="global_batch"):
        LF.circle_loss(_x(), LABELS, indices=(a, p, n), global_batch=True)


def test_mining_inside_the_loss_compiles():
    torch._dynamo.reset()
    fn = torch.compile(LF.mined_triplet_loss, backend="aot_eager", fullgraph=True)
    x = _x(19).float()
    torch.testing.assert_close(fn(x, LABELS, mining="semihard"), LF.mined_triplet_loss(x, LABELS, mining="semihard"))


def test_catalog_lists_the_deep_metric_losses():
    names = {row.name for row in lk.list_losses("metric")}
    assert {"CircleLoss", "LiftedStructureLoss", "MinedTripletLoss", "MultiSimilarityLoss", "NPairLoss",
            "NTXentLoss", "ProxyAnchorLoss", "ProxyNCALoss"} <= names
    assert math.isfinite(len(names))


@pytest.mark.parametrize("cls", ["ProxyAnchorLoss", "ProxyNCALoss"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none", "mean_nonzero"])
def test_proxy_global_batch_on_one_process_is_the_local_loss(cls, reduction):
    """Without a process group global_batch=True is the plain loss (values and gradients); the multi-process
    equality with the full batch is in tests/test_distributed.py (cases proxy_anchor, proxy_nca)."""
    x, proxies = _x(20), _x(21, 5)
    values, grads = [], []
    for global_batch in (False, True):
        e = x.clone().requires_grad_(True)
        loss = getattr(lk, cls)(5, 4, proxies=proxies, global_batch=global_batch, reduction=reduction)
        out = loss(e, LABELS)
        out.sum().backward()
        values.append(out.detach())
        grads.append((e.grad, loss.proxies.grad))
    torch.testing.assert_close(values[0], values[1], rtol=0, atol=0)
    for a, b in zip(grads[0], grads[1]):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize(("cls", "options"), [
    ("LiftedStructureLoss", {"pos_margin": 0.2, "neg_margin": 0.6}),
    ("NPairLoss", {"l2_reg": 0.02}),
    ("NPairLoss", {"normalize_embeddings": True}),
], ids=["lifted", "n_pair_l2", "n_pair_cosine"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none", "mean_nonzero"])
def test_pair_global_batch_on_one_process_is_the_local_loss(cls, options, reduction):
    """Without a process group global_batch=True is the plain loss (values and gradients); the multi-process
    equality with the full batch is in tests/test_distributed.py (cases lifted_structure, n_pair)."""
    x = _x(22)
    values, grads = [], []
    for global_batch in (False, True):
        e = x.clone().requires_grad_(True)
        out = getattr(lk, cls)(global_batch=global_batch, reduction=reduction, **options)(e, LABELS)
        (out * torch.linspace(0.5, 1.5, out.numel()).reshape(out.shape)).sum().backward()
        values.append(out.detach())
        grads.append(e.grad)
    assert grads[0] is not None and bool(grads[0].abs().sum() > 0)
    torch.testing.assert_close(values[0], values[1], rtol=0, atol=0)
    torch.testing.assert_close(grads[0], grads[1], rtol=0, atol=0)


@pytest.mark.parametrize("fn", [LF.lifted_structure_loss, LF.n_pair_loss])
def test_pair_global_batch_rejects_mined_indices(fn):
    a, p, n = mine_triplets(LABELS)
    with pytest.raises(lk.LossOptionError, match="global_batch"):
        fn(_x(), LABELS, indices=(a, p, n), global_batch=True)
