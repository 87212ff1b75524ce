"""Golden values of the learning-to-rank losses and the NDCG metric, with their sources: by hand (exact arithmetic in
the comments), allRank 1.4.3 (recorded from its loss functions in float64, or float32 where allRank fixes it;
allRank is not a dependency), optax 0.2.8 and rax 0.4.0 (compared live when installed: both are JAX libraries,
optional here). Padding invariance, the rule for lists that do not count, and the metric helper.

The generic tests (test_generic, test_precision, test_transforms) run the database entries of tests/db/ranking.py.
"""

from __future__ import annotations

import math

import pytest
import torch

import losskit as lk
import losskit.functional as LF
from losskit.functional.ranking import ndcg

LOSSES = [LF.ranknet_loss, LF.lambda_loss, LF.listnet_loss, LF.listmle_loss, LF.approx_ndcg_loss,
          LF.neural_ndcg_loss]
IDS = [f.__name__ for f in LOSSES]
D = torch.float64


def t(*rows) -> torch.Tensor:
    return torch.tensor(rows, dtype=D)


def softplus(v: float) -> float:
    return math.log1p(math.exp(v))


# --------------------------------------------------------------------------------------------
# by hand
# --------------------------------------------------------------------------------------------
def test_ranknet_by_hand():
    x, y = t([2.0, 1.0, 0.0]), t([2.0, 0.0, 1.0])
    # pairs 0>1: log(1 + e^-(2-1)); 0>2: log(1 + e^-(2-0)); 2>1: log(1 + e^-(0-1))
    terms = [softplus(-1.0), softplus(-2.0), softplus(1.0)]
    assert float(LF.ranknet_loss(x, y)) == pytest.approx(sum(terms) / 3, rel=1e-14)
    # |y_i - y_j| = 2, 1, 1
    assert float(LF.ranknet_loss(x, y, weighting="difference")) == pytest.approx(
        (2 * terms[0] + terms[1] + terms[2]) / 4, rel=1e-14)
    # |y_i^2 - y_j^2| = 4, 3, 1; sigma = 2 doubles every difference
    weighted = 4 * softplus(-2.0) + 3 * softplus(-4.0) + softplus(2.0)
    assert float(LF.ranknet_loss(x, y, weighting="squared_difference", sigma=2.0)) == pytest.approx(
        weighted / 8, rel=1e-14)


def test_listnet_by_hand():
    x, y = t([2.0, 1.0, 3.0]), t([1.0, 0.0, 0.0])
    lse = math.log(math.exp(2) + math.exp(1) + math.exp(3))
    # linear: all mass on item 0: lse - 2 (optax's docstring example prints 1.408)
    assert float(LF.listnet_loss(x, y, target_transform="linear")) == pytest.approx(lse - 2.0, rel=1e-14)
    # softmax target: P_y = (e, 1, 1) / (e + 2)
    p = [math.e / (math.e + 2), 1 / (math.e + 2), 1 / (math.e + 2)]
    expected = -sum(pi * (xi - lse) for pi, xi in zip(p, (2.0, 1.0, 3.0)))
    assert float(LF.listnet_loss(x, y)) == pytest.approx(expected, rel=1e-14)


def test_listmle_by_hand_with_ties():
    # no tie: order 0, 1: (log(e^1 + e^0) - 1) + 0
    assert float(LF.listmle_loss(t([1.0, 0.0]), t([2.0, 1.0]))) == pytest.approx(softplus(-1.0), rel=1e-14)
    # ties (Breslow): items 0 and 1 tied on top, each with denominator e^a + e^b + e^c; item 2 alone: 0
    a, b, c = 0.3, -0.2, 1.1
    lse = math.log(math.exp(a) + math.exp(b) + math.exp(c))
    got = LF.listmle_loss(t([a, b, c]), t([1.0, 1.0, 0.0]))
    assert float(got) == pytest.approx((lse - a) + (lse - b), rel=1e-14)
    # independent of the order of the tied items
    assert float(LF.listmle_loss(t([b, a, c]), t([1.0, 1.0, 0.0]))) == pytest.approx(float(got), rel=1e-14)


def test_approx_ndcg_by_hand():
    # smooth ranks: 1 + sigmoid(-1) for the relevant item (gain 1, IDCG 1)
    r = 1 + 1 / (1 + math.e)
    assert float(LF.approx_ndcg_loss(t([1.0, 0.0]), t([1.0, 0.0]))) == pytest.approx(1 - 1 / math.log2(1 + r),
                                                                                      rel=1e-14)
    # temperature 0.5: sigmoid(-2); gain linear of relevance 3 is 3, IDCG = 3
    r = 1 + 1 / (1 + math.exp(2))
    got = LF.approx_ndcg_loss(t([1.0, 0.0]), t([3.0, 0.0]), temperature=0.5, gain="linear")
    assert float(got) == pytest.approx(1 - 1 / math.log2(1 + r), rel=1e-14)


def test_lambda_loss_by_hand():
    x, y = t([0.0, 1.0]), t([1.0, 0.0])  # the relevant item (G = 1 / IDCG = 1) ranks second
    rank_weight = 1.0 - 1.0 / math.log2(3)  # |1/log2(1 + 2) - 1/log2(1 + 1)|
    log2_term = math.log2(1 + math.e)  # -log2 sigmoid(0 - 1)
    assert float(LF.lambda_loss(x, y, weighting="lambdarank")) == pytest.approx(rank_weight * log2_term, rel=1e-14)
    # NDCG-Loss2 on ranks 1 and 2: delta = 1/log2(2) - 1/log2(3), the same number here; ++ adds mu of it
    assert float(LF.lambda_loss(x, y, weighting="ndcg_loss2")) == pytest.approx(rank_weight * log2_term, rel=1e-14)
    assert float(LF.lambda_loss(x, y, mu=3.0)) == pytest.approx(4 * rank_weight * log2_term, rel=1e-14)


def test_neural_ndcg_by_hand():
    # equal scores: NeuralSort's rows are uniform, so both ranks hold gain (1 + 0) / 2; IDCG = 1
    got = LF.neural_ndcg_loss(t([0.0, 0.0]), t([1.0, 0.0]))
    assert float(got) == pytest.approx(1 - 0.5 * (1 + 1 / math.log2(3)), rel=1e-12)
    # k = 1: only rank 1 counts, IDCG@1 = 1
    assert float(LF.neural_ndcg_loss(t([0.0, 0.0]), t([1.0, 0.0]), k=1)) == pytest.approx(0.5, rel=1e-12)


# --------------------------------------------------------------------------------------------
# allRank 1.4.3 (recorded values)
# --------------------------------------------------------------------------------------------
X_AR = t([0.5, 2.0, -1.0, 1.5, 0.0], [1.0, -0.5, 0.3, 2.2, -1.2])
Y_AR = t([2.0, 0.0, 3.0, 1.0, -1.0], [0.0, 1.0, 2.0, 0.0, 1.0])  # -1: allRank's padding
M_AR = Y_AR != -1


@pytest.mark.parametrize(("weighting", "expected"), [
    # allRank lambdaLoss(x[i:i+1], y[i:i+1], weighing_scheme=..., reduction="sum"), float64 inputs
    ("ndcg_loss2pp", [15.224064031378893, 13.589148131424455]),
    ("ndcg_loss2", [1.2309531249751213, 1.0735212433387158]),
    ("lambdarank", [2.9145327816276803, 2.8539356980372963]),
])
def test_lambda_loss_equals_allrank(weighting, expected):
    got = LF.lambda_loss(X_AR, Y_AR.clamp_min(0), M_AR, weighting=weighting, reduction="none")
    torch.testing.assert_close(got, torch.tensor(expected, dtype=D), rtol=1e-6, atol=0)  # allRank: float32 ranks


@pytest.mark.parametrize(("temperature", "expected"), [
    (1.0, [-0.5700463146725998, -0.5684498949550352]),  # allRank approxNDCGLoss(alpha=1)
    (0.5, [-0.5568067763012524, -0.5639472657556336]),  # alpha=2
])
def test_approx_ndcg_equals_allrank(temperature, expected):
    got = LF.approx_ndcg_loss(X_AR, Y_AR.clamp_min(0), M_AR, temperature=temperature, reduction="none")
    torch.testing.assert_close(got - 1, torch.tensor(expected, dtype=D), rtol=1e-7, atol=0)


@pytest.mark.parametrize(("options", "expected"), [
    ({}, [-0.5761262774467468, -0.585106372833252]),  # allRank neuralNDCG, float32 (its NeuralSort is float32)
    ({"k": 2, "temperature": 0.5, "powered_relevancies": False}, [-0.1864663064479828, -0.08563410490751266]),
])
def test_neural_ndcg_equals_allrank(options, expected):
    got = LF.neural_ndcg_loss(X_AR, Y_AR.clamp_min(0), M_AR, reduction="none", **options)
    torch.testing.assert_close(got - 1, torch.tensor(expected, dtype=D), rtol=2e-6, atol=0)


# --------------------------------------------------------------------------------------------
# optax and rax (live, when installed)
# --------------------------------------------------------------------------------------------
def _batch(seed: int = 0, ties: bool = True):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(4, 6, generator=g, dtype=D)
    if ties:
        y = torch.randint(0, 4, (4, 6), generator=g).to(D)
        y[:, 0] = 3.0  # every list rankable
        y[:, 1] = 0.0
    else:
        y = torch.stack([torch.randperm(6, generator=g) for _ in range(4)]).to(D)
    mask = torch.ones(4, 6, dtype=torch.bool)
    mask[1, 4:] = False
    mask[2, 2] = False
    return x, y, mask


@pytest.fixture(scope="module")
def jax64():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    return jax


def test_listnet_equals_optax_ranking_softmax_loss(jax64):
    optax = pytest.importorskip("optax")
    jnp = jax64.numpy
    x, y, mask = _batch()
    ours = LF.listnet_loss(x, y, mask, target_transform="linear", reduction="none")
    theirs = optax.losses.ranking_softmax_loss(jnp.asarray(x.numpy()), jnp.asarray(y.numpy()),
                                               where=jnp.asarray(mask.numpy()), reduce_fn=None)
    # optax uses the relevance unnormalised: sum(y) times the "linear" loss of each list
    torch.testing.assert_close(ours * (y * mask).sum(-1), torch.tensor(theirs.tolist(), dtype=D), rtol=1e-12, atol=0)
    # one relevant item per list: the same numbers, and the same mean (every list counts in both)
    onehot = torch.zeros(4, 6, dtype=D)
    onehot[:, 0] = 1.0
    theirs = optax.losses.ranking_softmax_loss(jnp.asarray(x.numpy()), jnp.asarray(onehot.numpy()),
                                               where=jnp.asarray(mask.numpy()))
    assert float(LF.listnet_loss(x, onehot, mask, target_transform="linear")) == pytest.approx(float(theirs),
                                                                                              rel=1e-12)


def test_optax_counts_a_list_without_relevant_items_losskit_does_not(jax64):
    """The documented difference of the mean: optax divides by 2 lists, losskit by the 1 that can be ranked."""
    optax = pytest.importorskip("optax")
    jnp = jax64.numpy
    x, y = t([0.0, 1.0, 2.0], [0.5, 0.0, 1.0]), t([1.0, 0.0, 0.0], [0.0, 0.0, 0.0])
    theirs = float(optax.losses.ranking_softmax_loss(jnp.asarray(x.numpy()), jnp.asarray(y.numpy())))
    ours = float(LF.listnet_loss(x, y, target_transform="linear"))
    assert ours == pytest.approx(2 * theirs, rel=1e-12)


def _rax_per_list(jax64, fn, x, y, mask, **kw):
    jnp = jax64.numpy
    return torch.tensor([float(fn(jnp.asarray(x[i].numpy()), jnp.asarray(y[i].numpy()),
                                  where=jnp.asarray(mask[i].numpy()), **kw)) for i in range(x.shape[0])], dtype=D)


def test_ranknet_listmle_and_ndcg_equal_rax(jax64):
    rax = pytest.importorskip("rax")
    x, y, mask = _batch()
    torch.testing.assert_close(LF.ranknet_loss(x, y, mask, reduction="none"),
                               _rax_per_list(jax64, rax.pairwise_logistic_loss, x, y, mask), rtol=1e-12, atol=0)
    xt, yt, mt = _batch(1, ties=False)  # rax breaks ties by position, losskit by Breslow's rule: lists without ties
    torch.testing.assert_close(LF.listmle_loss(xt, yt, mt, reduction="none"),
                               _rax_per_list(jax64, rax.listmle_loss, xt, yt, mt), rtol=1e-12, atol=0)
    for k in (None, 3):
        torch.testing.assert_close(ndcg(x, y, k=k, mask=mask),
                                   _rax_per_list(jax64, rax.ndcg_metric, x, y, mask, topn=k), rtol=1e-12, atol=0)
    torch.testing.assert_close(ndcg(x, y, mask=mask, gain="linear"),
                               _rax_per_list(jax64, rax.ndcg_metric, x, y, mask, gain_fn=lambda v: v),
                               rtol=1e-12, atol=0)


# --------------------------------------------------------------------------------------------
# padding, and the lists that do not count
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("loss", LOSSES, ids=IDS)
def test_padding_changes_nothing_and_gets_no_gradient(loss):
    g = torch.Generator().manual_seed(3)
    x = torch.randn(4, 7, generator=g, dtype=D)
    y = torch.randint(0, 3, (4, 7), generator=g).to(D)
    y[:, 0], y[:, 2] = 2.0, 0.0
    mask = torch.rand(4, 7, generator=g) > 0.35
    mask[:, 0] = mask[:, 2] = True
    garbage_x = torch.where(mask, x, torch.tensor([float("nan"), 1e30, -1e30, float("inf")] * 7, dtype=D)[:28]
                            .view(4, 7))
    garbage_y = torch.where(mask, y, -1.0)  # allRank's padding value
    leaf = garbage_x.clone().requires_grad_(True)
    with lk.guard("always"):  # the value checks run, and read the real items only
        out = loss(leaf, garbage_y, mask, reduction="none")
    out.backward(torch.rand(4, generator=g, dtype=D) + 0.5)
    assert (leaf.grad[~mask] == 0).all() and torch.isfinite(leaf.grad).all()
    for i in range(4):  # each list alone, its padding cut away
        alone = loss(x[i][mask[i]].unsqueeze(0), y[i][mask[i]].unsqueeze(0), reduction="none")
        torch.testing.assert_close(out[i], alone[0], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("loss", LOSSES, ids=IDS)
def test_lists_that_cannot_be_ranked_give_zero_and_leave_the_mean(loss):
    x = t([0.3, -1.0, 2.0], [1.0, 2.0, 0.0], [0.5, 0.1, 0.0], [1.5, 0.2, -0.3], [0.0, 1.0, 2.0])
    y = t([0.0, 2.0, 1.0], [0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [3.0, 0.0, 0.0], [1.0, 0.0, 2.0])
    mask = torch.tensor([[True] * 3, [True] * 3, [True] * 3, [True, False, False], [False] * 3])
    # rankable: list 0 only (no relevant item; all equal; one real item; no real item)
    leaf = x.clone().requires_grad_(True)
    per_list = loss(leaf, y, mask, reduction="none")
    assert (per_list[1:] == 0).all()
    mean = loss(leaf, y, mask)
    torch.testing.assert_close(mean, per_list[0])
    mean.backward()
    assert (leaf.grad[1:] == 0).all() and (leaf.grad[0] != 0).any()
    nothing = loss(leaf[1:], y[1:], mask[1:])
    assert float(nothing.detach()) == 0.0


def test_allrank_padding_maps_to_a_mask():
    x, y = X_AR, Y_AR
    got = LF.listnet_loss(x, y.clamp_min(0), y != -1, reduction="none")
    alone = LF.listnet_loss(x[:1, :4], y[:1, :4], reduction="none")
    torch.testing.assert_close(got[0], alone[0], rtol=1e-14, atol=0)


def test_module_takes_the_mask():
    x, y, mask = _batch()
    torch.testing.assert_close(lk.NeuralNDCGLoss(k=3)(x, y, mask), LF.neural_ndcg_loss(x, y, mask, k=3))
    assert repr(lk.LambdaLoss(weighting="lambdarank")) == "LambdaLoss(weighting='lambdarank')"


# --------------------------------------------------------------------------------------------
# the metric, and the smooth NDCGs against it
# --------------------------------------------------------------------------------------------
def test_ndcg_by_hand():
    x, y = t([3.0, 2.0, 1.0]), t([0.0, 2.0, 1.0])
    # ranks 1, 2, 3 hold gains 0, 3, 1; ideal 3, 1, 0
    assert float(ndcg(x, y)[0]) == pytest.approx((3 / math.log2(3) + 1 / 2) / (3 + 1 / math.log2(3)), rel=1e-14)
    assert float(ndcg(x, y, k=1)[0]) == 0.0
    assert float(ndcg(x, y, k=2)[0]) == pytest.approx((3 / math.log2(3)) / (3 + 1 / math.log2(3)), rel=1e-14)
    # linear gains 0, 2, 1; ideal 2, 1, 0
    assert float(ndcg(x, y, gain="linear")[0]) == pytest.approx((2 / math.log2(3) + 1 / 2) / (2 + 1 / math.log2(3)),
                                                                rel=1e-14)
    assert float(ndcg(x, t([0.0, 0.0, 0.0]))[0]) == 0.0  # no relevant item: 0 (rax), not allRank's 1
    # ties in scores: the earlier item ranks higher
    assert float(ndcg(t([1.0, 1.0]), t([0.0, 1.0]))[0]) == pytest.approx(1 / math.log2(3), rel=1e-14)
    # padded items rank last whatever their score
    assert float(ndcg(t([9.0, 1.0]), t([5.0, 1.0]), mask=torch.tensor([[False, True]]))[0]) == 1.0


def test_ndcg_checks():
    with pytest.raises(lk.LossOptionError, match=r"ndcg: k must be a positive int.*got -1"):
        ndcg(t([1.0, 0.0]), t([1.0, 0.0]), k=-1)
    with pytest.raises(lk.LossOptionError, match=r"ndcg: gain.*'exp'"):
        ndcg(t([1.0, 0.0]), t([1.0, 0.0]), gain="exp")
    with lk.guard("always"), pytest.raises(lk.LossValueError, match=r"ndcg: target must hold non-negative"):
        ndcg(t([1.0, 0.0]), t([1.0, -1.0]))


@pytest.mark.parametrize("k", [None, 2, 4])
def test_smooth_ndcgs_tend_to_ndcg_as_the_temperature_falls(k):
    x, y, mask = _batch(5)
    x = x + torch.arange(6, dtype=D) * 0.05  # scores at least a little apart
    exact = ndcg(x, y, k=k, mask=mask)
    neural = 1 - LF.neural_ndcg_loss(x, y, mask, temperature=1e-3, k=k, reduction="none")
    torch.testing.assert_close(neural, exact, rtol=0, atol=1e-6)
    if k is None:
        approx = 1 - LF.approx_ndcg_loss(x, y, mask, temperature=1e-3, reduction="none")
        torch.testing.assert_close(approx, exact, rtol=0, atol=1e-6)
    # and at the usual temperature they lie below the perfect ranking's 1 and follow the metric's order
    perfect = ndcg(y + 0.0, y, k=k, mask=mask)
    assert (perfect == 1).all()
    assert (1 - LF.neural_ndcg_loss(y, y, mask, k=k, reduction="none") >
            1 - LF.neural_ndcg_loss(-y, y, mask, k=k, reduction="none")).all()


def test_training_step_raises_ndcg():
    """A few gradient steps of each loss on scores alone raise NDCG@3 of a batch of lists."""
    g = torch.Generator().manual_seed(11)
    y = torch.randint(0, 4, (8, 10), generator=g).to(D)
    y[:, 0] = 3.0
    start = torch.randn(8, 10, generator=g, dtype=D)
    before = ndcg(start, y, k=3).mean()
    for loss in LOSSES:
        x = start.clone().requires_grad_(True)
        opt = torch.optim.SGD([x], lr=10.0)
        for _ in range(30):
            opt.zero_grad()
            loss(x, y).backward()
            opt.step()
        assert ndcg(x.detach(), y, k=3).mean() > before + 0.2, loss.__name__  # 0.46 -> 0.76 (approx) .. 1.0
