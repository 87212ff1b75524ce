"""Golden values, peer agreement (pytorch-metric-learning), global batch and extreme inputs of the metric family.

Generic checks (every reduction against the loop references of tests/db/metric.py, float64 gradcheck, Module ==
functional, torch.compile, errors) run in test_generic.py.
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

import losskit as lk
import losskit.functional as LF
from losskit import distributed

LABELS = torch.tensor([0, 1, 0, 2, 1, 0, 2, 3])


# --------------------------------------------------------------------------------------------
# golden values by hand
# --------------------------------------------------------------------------------------------
def test_contrastive_golden_by_hand():
    # points (0, 0), (0, 0.5), (0.3, 0.4); labels 0, 0, 1: d01 = 0.5, d02 = 0.5, d12 = sqrt(0.1)
    x = torch.tensor([[0.0, 0.0], [0.0, 0.5], [0.3, 0.4]], dtype=torch.float64)
    y = torch.tensor([0, 0, 1])
    d12 = math.sqrt(0.1)
    # by hand: pos pairs [0.5 - 0.1]_+, neg pairs [1 - d]_+, each ordered pair counted twice, 6 pairs
    expected = (2 * 0.4 + 2 * 0.5 + 2 * (1 - d12)) / 6
    out = LF.contrastive_loss(x, y, pos_margin=0.1)
    assert out.item() == pytest.approx(expected, rel=1e-12)
    matrix = LF.contrastive_loss(x, y, pos_margin=0.1, reduction="none")
    assert matrix.diagonal().eq(0).all() and matrix[1, 2].item() == pytest.approx(1 - d12)


def test_contrastive_cosine_golden_by_hand():
    # (1, 0), (1, 1), (0, 1): d = 1 - cos = 1 - 1/sqrt(2) for the neighbours, 1 for the orthogonal pair
    x = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]], dtype=torch.float64)
    y = torch.tensor([0, 0, 1])
    near = 1 - 1 / math.sqrt(2)
    # by hand: pair (0,1) positive -> near; (0,2) negative -> [0.5 - 1]_+ = 0; (1,2) negative -> 0.5 - near
    expected = 2 * (near + 0.0 + (0.5 - near))
    out = LF.contrastive_loss(x, y, distance="cosine", neg_margin=0.5, reduction="sum")
    assert out.item() == pytest.approx(expected, rel=1e-12)


def test_batch_hard_golden_by_hand():
    x = torch.tensor([[0.0, 0.0], [0.0, 0.5], [0.3, 0.4]], dtype=torch.float64)
    y = torch.tensor([0, 0, 1])
    # by hand: anchor 0: 0.5 - 0.5 + 0.2; anchor 1: 0.5 - sqrt(0.1) + 0.2; anchor 2 has no positive
    expected = torch.tensor([0.2, 0.7 - math.sqrt(0.1), 0.0], dtype=torch.float64)
    torch.testing.assert_close(LF.batch_hard_triplet_loss(x, y, reduction="none"), expected)
    soft = LF.batch_hard_triplet_loss(x, y, soft_margin=True)
    assert soft.item() == pytest.approx((math.log(2) + math.log1p(math.exp(0.5 - math.sqrt(0.1)))) / 2)


def test_info_nce_equals_clip_formula():
    # CLIP (Radford et al. 2021, fig. 3 pseudo-code): mean of cross-entropy over rows and over columns
    q, k = torch.randn(7, 5, dtype=torch.float64), torch.randn(7, 5, dtype=torch.float64)
    logits = F.normalize(q, dim=1) @ F.normalize(k, dim=1).T / 0.07
    target = torch.arange(7)
    clip = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
    torch.testing.assert_close(LF.info_nce_loss(q, k), clip)
    torch.testing.assert_close(LF.info_nce_loss(q, k, symmetric=False), F.cross_entropy(logits, target))


def test_supcon_with_one_label_per_sample_is_simclr():
    # two views, labels arange(N): the positives are the other view only -> NT-Xent (Chen et al. 2020, eq. 1)
    views = torch.randn(4, 2, 3, dtype=torch.float64)
    z = F.normalize(torch.cat([views[:, 0], views[:, 1]]), dim=1)
    sim = z @ z.T / 0.5
    sim.fill_diagonal_(-math.inf)
    partner = torch.cat([torch.arange(4, 8), torch.arange(4)])
    simclr = F.cross_entropy(sim, partner)
    torch.testing.assert_close(LF.supcon_loss(views, torch.arange(4), temperature=0.5), simclr)


def test_arcface_and_cosface_golden_by_hand():
    x, centres = torch.tensor([[1.0, 0.0]], dtype=torch.float64), torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    centres = centres.double()
    # by hand: theta = 0 -> target logit s cos(0.5), other logit 0
    arc = LF.arcface_loss(x, torch.tensor([0]), centres, scale=4.0)
    assert arc.item() == pytest.approx(math.log1p(math.exp(-4 * math.cos(0.5))), rel=1e-12)
    cos = LF.cosface_loss(x, torch.tensor([0]), centres, scale=4.0)
    assert cos.item() == pytest.approx(math.log1p(math.exp(-4 * 0.65)), rel=1e-12)
    # theta = pi > pi - m: the monotonic branch cos(theta) - m sin(m)
    back = LF.arcface_loss(-x, torch.tensor([0]), centres, scale=4.0)
    target = -1 - 0.5 * math.sin(0.5)
    assert back.item() == pytest.approx(-4 * target + math.log(math.exp(4 * target) + 1), rel=1e-12)


# --------------------------------------------------------------------------------------------
# peer: pytorch-metric-learning (test-only dependency; skipped when absent)
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pml():
    return pytest.importorskip("pytorch_metric_learning")


def _plain_lp():
    from pytorch_metric_learning.distances import LpDistance

    return LpDistance(normalize_embeddings=False)


def test_pml_contrastive_euclidean(pml):
    from pytorch_metric_learning import losses, reducers

    x = torch.randn(8, 3, dtype=torch.float64) * 0.6
    ours = LF.contrastive_loss(x, LABELS, pos_margin=0.1, neg_margin=0.9, reduction="sum")
    theirs = losses.ContrastiveLoss(pos_margin=0.1, neg_margin=0.9, distance=_plain_lp(),
                                    reducer=reducers.SumReducer())(x, LABELS)
    torch.testing.assert_close(ours, theirs)
    # their default reducer (AvgNonZeroReducer): non-zero positive terms averaged, plus the same for negatives
    matrix = LF.contrastive_loss(x, LABELS, pos_margin=0.1, neg_margin=0.9, reduction="none")
    same = LABELS[:, None] == LABELS[None, :]
    pos, neg = matrix[same & (matrix > 0)], matrix[~same & (matrix > 0)]
    default = losses.ContrastiveLoss(pos_margin=0.1, neg_margin=0.9, distance=_plain_lp())(x, LABELS)
    torch.testing.assert_close(pos.mean() + neg.mean(), default)


def test_pml_contrastive_cosine(pml):
    from pytorch_metric_learning import losses, reducers
    from pytorch_metric_learning.distances import CosineSimilarity

    x = torch.randn(8, 3, dtype=torch.float64)
    ours = LF.contrastive_loss(x, LABELS, distance="cosine", pos_margin=0.2, neg_margin=0.7, reduction="sum")
    # PML margins act on the similarity s = 1 - d: pos [m'_pos - s]_+ = [d - (1 - m'_pos)]_+
    theirs = losses.ContrastiveLoss(pos_margin=0.8, neg_margin=0.3, distance=CosineSimilarity(),
                                    reducer=reducers.SumReducer())(x, LABELS)
    torch.testing.assert_close(ours, theirs)


@pytest.mark.parametrize("soft", [False, True], ids=["hinge", "soft"])
def test_pml_batch_hard_triplet(pml, soft: bool):
    from pytorch_metric_learning import losses, miners, reducers

    x = torch.randn(8, 3, dtype=torch.float64, requires_grad=True)
    x2 = x.detach().clone().requires_grad_(True)
    miner = miners.BatchHardMiner(distance=_plain_lp())
    loss = losses.TripletMarginLoss(margin=0.0 if soft else 0.2, smooth_loss=soft, distance=_plain_lp(),
                                    reducer=reducers.MeanReducer())
    theirs = loss(x2, LABELS, miner(x2, LABELS))
    ours = LF.batch_hard_triplet_loss(x, LABELS, soft_margin=soft)
    torch.testing.assert_close(ours, theirs)
    ours.backward()
    theirs.backward()
    torch.testing.assert_close(x.grad, x2.grad)


def test_pml_supcon(pml):
    from pytorch_metric_learning import losses, reducers

    x = torch.randn(8, 3, dtype=torch.float64)
    theirs = losses.SupConLoss(temperature=0.1, reducer=reducers.DoNothingReducer())(x, LABELS)["loss"]["losses"]
    torch.testing.assert_close(LF.supcon_loss(x, LABELS, temperature=0.1, reduction="none"), theirs)
    views = torch.randn(5, 2, 3, dtype=torch.float64)
    labels = torch.tensor([0, 1, 0, 2, 3])
    flat = losses.SupConLoss(temperature=0.2, reducer=reducers.DoNothingReducer())(
        views.reshape(10, 3), labels.repeat_interleave(2)
    )["loss"]["losses"]
    torch.testing.assert_close(LF.supcon_loss(views, labels, temperature=0.2, reduction="none"), flat.view(5, 2))


def test_pml_info_nce_one_direction(pml):
    from pytorch_metric_learning import losses

    q, k = torch.randn(6, 4, dtype=torch.float64), torch.randn(6, 4, dtype=torch.float64)
    ids, ref_ids = torch.arange(6), torch.arange(6)  # two objects: PML drops the diagonal when they are one
    nt_xent = losses.NTXentLoss(temperature=0.07)
    forward = nt_xent(q, ids, ref_emb=k, ref_labels=ref_ids)
    torch.testing.assert_close(LF.info_nce_loss(q, k, symmetric=False), forward)
    both = (forward + nt_xent(k, ids, ref_emb=q, ref_labels=ref_ids)) / 2
    torch.testing.assert_close(LF.info_nce_loss(q, k), both)


@pytest.mark.parametrize("kind", ["arcface", "cosface"])
def test_pml_margin_softmax(pml, kind: str):
    from pytorch_metric_learning import losses

    centres = torch.randn(5, 4, dtype=torch.float64)
    labels = torch.tensor([0, 3, 1, 4, 3, 2, 2, 0])
    x = centres[labels] + 0.8 * torch.randn(8, 4, dtype=torch.float64)
    x[-2:] = -centres[labels[-2:]] + 0.05 * torch.randn(2, 4, dtype=torch.float64)  # past pi - m
    x.requires_grad_(True)
    x2 = x.detach().clone().requires_grad_(True)
    if kind == "arcface":
        peer = losses.ArcFaceLoss(5, 4, margin=math.degrees(0.5), scale=64)  # PML takes degrees
        ours = LF.arcface_loss(x, labels, centres)
    else:
        peer = losses.CosFaceLoss(5, 4, margin=0.35, scale=64)
        ours = LF.cosface_loss(x, labels, centres)
    peer.W.data = centres.T.clone()  # PML stores the centres as (D, C)
    theirs = peer(x2, labels)
    torch.testing.assert_close(ours, theirs)
    ours.backward()
    theirs.backward()
    torch.testing.assert_close(x.grad, x2.grad)


# --------------------------------------------------------------------------------------------
# global batch: simulated ranks through losskit.distributed's API
# --------------------------------------------------------------------------------------------
def _simulate_ranks(monkeypatch, fn, parts: list[tuple], kwargs: dict) -> list[torch.Tensor]:
    """The ``"none"`` terms ``fn`` computes on each rank, with losskit.distributed's gathers returning every
    rank's tensor in rank order (and this rank's offset).

    A first pass records what each rank hands to the gathers; the second pass replays the others' tensors.
    """
    recorded: list[list[torch.Tensor]] = []
    for args in parts:
        calls: list[torch.Tensor] = []

        def record(t, calls=calls):
            calls.append(t.detach())
            return t, 0

        monkeypatch.setattr(distributed, "all_gather_with_offset", record)
        monkeypatch.setattr(distributed, "all_gather", lambda t, record=record: record(t)[0])
        fn(*args, **kwargs, global_batch=True, reduction="none")
        recorded.append(calls)
    outs = []
    for r, args in enumerate(parts):
        step = iter(range(len(recorded[r])))

        def gather_with_offset(t, r=r, step=step):
            k = next(step)
            offset = sum(recorded[q][k].shape[0] for q in range(r))
            return torch.cat([t if q == r else recorded[q][k] for q in range(len(parts))]), offset

        monkeypatch.setattr(distributed, "all_gather_with_offset", gather_with_offset)
        monkeypatch.setattr(distributed, "all_gather", lambda t, g=gather_with_offset: g(t)[0])
        outs.append(fn(*args, **kwargs, global_batch=True, reduction="none"))
    return outs


@pytest.mark.parametrize("sizes", [(4, 4), (3, 5), (2, 3, 3)], ids=["equal", "unequal", "three-ranks"])
@pytest.mark.parametrize("loss", ["contrastive", "triplet", "supcon"])
def test_global_batch_equals_full_batch(monkeypatch, loss: str, sizes: tuple[int, ...]):
    fn = {"contrastive": LF.contrastive_loss, "triplet": LF.batch_hard_triplet_loss, "supcon": LF.supcon_loss}[loss]
    x = torch.randn(8, 3, dtype=torch.float64)
    bounds = torch.tensor((0, *sizes)).cumsum(0).tolist()
    parts = [(x[a:b], LABELS[a:b]) for a, b in itertools.pairwise(bounds)]
    full = fn(x, LABELS, reduction="none")
    outs = _simulate_ranks(monkeypatch, fn, parts, {})
    torch.testing.assert_close(torch.cat(outs), full)


def test_global_batch_info_nce(monkeypatch):
    q, k = torch.randn(7, 4, dtype=torch.float64), torch.randn(7, 4, dtype=torch.float64)
    for symmetric in (True, False):
        outs = _simulate_ranks(monkeypatch, LF.info_nce_loss, [(q[:3], k[:3]), (q[3:], k[3:])],
                               {"symmetric": symmetric})
        torch.testing.assert_close(torch.cat(outs), LF.info_nce_loss(q, k, symmetric=symmetric, reduction="none"))


def test_global_batch_gradient_reaches_local_rows(monkeypatch):
    x = torch.randn(6, 3, dtype=torch.float64)
    local = x[3:].clone().requires_grad_(True)
    parts = [(x[:3], LABELS[:3]), (local, LABELS[3:6])]
    out = _simulate_ranks(monkeypatch, LF.supcon_loss, parts, {})[1]
    out.sum().backward()
    assert local.grad is not None and torch.isfinite(local.grad).all() and local.grad.abs().sum() > 0


# --------------------------------------------------------------------------------------------
# extreme inputs: finite losses and gradients
# --------------------------------------------------------------------------------------------
def _finite_value_and_grad(fn, x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
    x = x.detach().clone().requires_grad_(True)
    out = fn(x, *args, **kwargs)
    out.backward()
    assert torch.isfinite(out).all(), out
    assert x.grad is not None and torch.isfinite(x.grad).all(), x.grad
    return out


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("loss", ["contrastive", "contrastive-cosine", "triplet", "triplet-soft", "supcon"])
def test_identical_embeddings_are_finite(loss: str, dtype: torch.dtype):
    fn, kwargs = {
        "contrastive": (LF.contrastive_loss, {}),
        "contrastive-cosine": (LF.contrastive_loss, {"distance": "cosine"}),
        "triplet": (LF.batch_hard_triplet_loss, {}),
        "triplet-soft": (LF.batch_hard_triplet_loss, {"soft_margin": True}),
        "supcon": (LF.supcon_loss, {}),
    }[loss]
    same = torch.ones(8, 3, dtype=dtype)
    out = _finite_value_and_grad(fn, same, LABELS, **kwargs)
    if loss == "triplet":
        # by hand: every distance 0, so each valid anchor costs the margin
        assert out.item() == pytest.approx(0.2)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_info_nce_identical_and_zero_rows_are_finite(dtype: torch.dtype):
    q = torch.ones(5, 4, dtype=dtype)
    q[0] = 0.0  # a zero embedding normalises to 0
    out = _finite_value_and_grad(LF.info_nce_loss, q, q.clone())
    # by hand: row 0 has all cosines 0 -> log 5; rows 1-4: cos 0 with row 0, 1 with the others -> log(4 + e^(-1/t))
    expected = (math.log(5) + 4 * math.log(4 + math.exp(-1 / 0.07))) / 5
    assert out.item() == pytest.approx(expected, rel=1e-5)
    big = torch.randn(5, 4, dtype=dtype) * 1e4
    _finite_value_and_grad(LF.info_nce_loss, big, big.flip(0), temperature=0.01)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("fn", [LF.arcface_loss, LF.cosface_loss], ids=["arcface", "cosface"])
@pytest.mark.parametrize("sign", [1.0, -1.0], ids=["cos=+1", "cos=-1"])
def test_embedding_on_its_centre_has_finite_gradient(fn, dtype: torch.dtype, sign: float):
    centres = torch.randn(4, 3, dtype=dtype, requires_grad=True)
    labels = torch.tensor([0, 1, 2, 3])
    x = (sign * centres.detach()).clone().requires_grad_(True)
    out = fn(x, labels, centres)
    out.backward()
    assert torch.isfinite(out) and torch.isfinite(x.grad).all() and torch.isfinite(centres.grad).all()


@pytest.mark.parametrize(
    ("fn", "args"),
    [
        (LF.contrastive_loss, (torch.tensor([3]),)),
        (LF.batch_hard_triplet_loss, (torch.tensor([3]),)),
        (LF.supcon_loss, (torch.tensor([3]),)),
        (LF.info_nce_loss, None),
    ],
    ids=["contrastive", "triplet", "supcon", "info_nce"],
)
def test_single_sample_is_zero_with_zero_gradient(fn, args):
    x = torch.randn(1, 3, requires_grad=True)
    out = fn(x, *(args if args is not None else (x.detach() + 1,)))
    out.backward()
    assert out.item() == 0.0 and torch.equal(x.grad, torch.zeros_like(x))


def test_no_valid_triplet_gives_zero_gradient_for_every_reduction():
    x = torch.randn(5, 3, requires_grad=True)
    for reduction in ("mean", "sum", "none"):
        out = LF.batch_hard_triplet_loss(x, torch.zeros(5, dtype=torch.long), reduction=reduction)
        (grad,) = torch.autograd.grad(out.sum(), x)
        assert torch.equal(grad, torch.zeros_like(x)) and not out.detach().any()


# --------------------------------------------------------------------------------------------
# Modules with learnable centres
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", [lk.ArcFaceLoss, lk.CosFaceLoss])
def test_centres_are_a_trainable_parameter(cls):
    module = cls(3, 4, scale=16.0)
    assert isinstance(module.centres, torch.nn.Parameter) and module.centres.shape == (3, 4)
    assert "centres" in module.state_dict()
    x = torch.randn(12, 4)
    labels = torch.arange(12) % 3
    opt = torch.optim.SGD(module.parameters(), lr=0.5)
    first = module(x, labels).item()
    for _ in range(20):
        opt.zero_grad()
        module(x, labels).backward()
        opt.step()
    assert module(x, labels).item() < first


def test_module_option_errors_name_the_module():
    with pytest.raises(lk.LossOptionError, match=r"^ArcFaceLoss: margin .*28.6"):
        lk.ArcFaceLoss(3, 4, margin=28.6)
    with pytest.raises(lk.LossOptionError, match=r"^CosFaceLoss: num_classes .*0"):
        lk.CosFaceLoss(0, 4)
    with pytest.raises(lk.LossShapeError, match=r"^ArcFaceLoss: centres .*\(4, 3\)"):
        lk.ArcFaceLoss(3, 4, centres=torch.randn(4, 3))
    with pytest.raises(lk.LossOptionError, match=r"^ContrastiveLoss: distance .*'l2'"):
        lk.ContrastiveLoss(distance="l2")
    with pytest.raises(lk.LossOptionError, match=r"^InfoNCELoss: temperature"):
        lk.InfoNCELoss(temperature=0)


def test_catalog_lists_the_metric_family():
    names = {row.name for row in lk.list_losses("metric")}
    assert names == {"ArcFaceLoss", "BatchHardTripletLoss", "CircleLoss", "ContrastiveLoss", "CosFaceLoss",
                     "InfoNCELoss", "LiftedStructureLoss", "MinedTripletLoss", "MultiSimilarityLoss", "NPairLoss",
                     "NTXentLoss", "ProxyAnchorLoss", "ProxyNCALoss", "SupConLoss"}
