"""CrossBatchMemory (XBM): agreement with pytorch-metric-learning's CrossBatchMemory over several batches (values,
gradients and the queue itself, float64), the empty start, wrap-around, reset, state_dict/.to(), train vs eval, and
the errors."""

from __future__ import annotations

import pytest
import torch

import losskit as lk
import losskit.functional as LF
import losskit.modules as M

pml = pytest.importorskip("pytorch_metric_learning")
from pytorch_metric_learning import losses  # noqa: E402

# batch sizes that wrap the queue of 10 at different offsets, one batch as large as the queue
SIZES = [4, 3, 6, 4, 10, 2, 5, 7]
PAIRS = {
    "ntxent": (lambda: lk.NTXentLoss(temperature=0.2), lambda: losses.NTXentLoss(temperature=0.2)),
    "contrastive": (lambda: lk.ContrastiveLoss(normalize_embeddings=True, reduction="mean_nonzero"),
                    lambda: losses.ContrastiveLoss()),
    "triplet": (lambda: lk.MinedTripletLoss(reduction="mean_nonzero"), lambda: losses.TripletMarginLoss()),
    # no swap=True: PML's TripletMarginLoss takes d_pn as mat[positive, negative] of the (query, reference)
    # matrix, a reference index used as a query row, so it differs (or fails) once the memory outgrows the batch
    "circle": (lambda: lk.CircleLoss(m=0.4, gamma=80.0, reduction="mean_nonzero"),
               lambda: losses.CircleLoss(m=0.4, gamma=80.0)),
    "multi-similarity": (lambda: lk.MultiSimilarityLoss(beta=40.0),
                         lambda: losses.MultiSimilarityLoss(alpha=2.0, beta=40.0, base=0.5)),
}


def _batches(seed: int = 0, sizes: list[int] = SIZES, d: int = 4):
    g = torch.Generator().manual_seed(seed)
    for n in sizes:
        yield torch.randn(n, d, generator=g, dtype=torch.float64) * 0.5, torch.randint(0, 3, (n,), generator=g)


@pytest.mark.parametrize("key", list(PAIRS))
def test_equals_pml_over_batches(key):
    ours_loss, theirs_loss = PAIRS[key]
    ours = lk.CrossBatchMemory(ours_loss(), 4, memory_size=10).double()
    theirs = losses.CrossBatchMemory(theirs_loss(), 4, memory_size=10)
    for x, y in _batches():
        a, b = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
        la, lb = ours(a, y), theirs(b, y)
        torch.testing.assert_close(la, lb, rtol=1e-9, atol=1e-11)
        (ga,), (gb,) = torch.autograd.grad(la, a), torch.autograd.grad(lb, b)
        torch.testing.assert_close(ga, gb, rtol=1e-8, atol=1e-11)
        torch.testing.assert_close(ours.embedding_memory, theirs.embedding_memory, rtol=0, atol=0)
        assert torch.equal(ours.label_memory, theirs.label_memory)
        assert int(ours.queue_idx) == theirs.queue_idx
        assert bool(ours.has_been_filled) == theirs.has_been_filled


def test_empty_start_is_the_batch_against_itself():
    x, y = next(_batches(1, [6]))
    xbm = lk.CrossBatchMemory(lk.NTXentLoss(temperature=0.2), 4, memory_size=16).double()
    assert float(xbm(x, y)) == pytest.approx(float(LF.nt_xent_loss(x, y, temperature=0.2)), rel=1e-12)
    assert int(xbm.queue_idx) == 6 and not bool(xbm.has_been_filled)
    out = lk.CrossBatchMemory(lk.NTXentLoss(reduction="none"), 4, memory_size=16).double()(x, y)
    assert out.shape == (6, 6)  # candidates: the filled part of the queue only


def test_wrap_around_overwrites_the_oldest_rows():
    xbm = lk.CrossBatchMemory(lk.ContrastiveLoss(), 2, memory_size=5)
    rows = torch.arange(16.0).reshape(8, 2)
    xbm(rows[:3], torch.zeros(3, dtype=torch.long))
    xbm(rows[3:7], torch.ones(4, dtype=torch.long))  # slots 3, 4, 0, 1
    assert torch.equal(xbm.embedding_memory, torch.stack([rows[5], rows[6], rows[2], rows[3], rows[4]]))
    assert xbm.label_memory.tolist() == [1, 1, 0, 1, 1]
    assert int(xbm.queue_idx) == 2 and bool(xbm.has_been_filled)


def test_reset_starts_again():
    batches = list(_batches(2, [4, 4, 4]))
    xbm = lk.CrossBatchMemory(lk.NTXentLoss(), 4, memory_size=10).double()
    first = [float(xbm(x, y)) for x, y in batches]
    xbm.reset()
    assert int(xbm.queue_idx) == 0 and not bool(xbm.has_been_filled) and not xbm.embedding_memory.any()
    assert [float(xbm(x, y)) for x, y in batches] == first


def test_state_dict_and_to_carry_the_queue():
    batches = list(_batches(3, [4, 5, 4]))
    xbm = lk.CrossBatchMemory(lk.NTXentLoss(), 4, memory_size=8)
    for x, y in batches[:2]:
        xbm(x.float(), y)
    state = xbm.state_dict()
    assert {"embedding_memory", "label_memory", "queue_idx", "has_been_filled"} <= set(state)
    other = lk.CrossBatchMemory(lk.NTXentLoss(), 4, memory_size=8)
    other.load_state_dict(state)
    x, y = batches[2]
    assert float(other(x.float(), y)) == float(xbm(x.float(), y))
    moved = other.to(torch.float64)
    assert moved.embedding_memory.dtype == torch.float64 and moved.label_memory.dtype == torch.long


def test_eval_mode_enqueues_as_pml():
    xbm = lk.CrossBatchMemory(lk.NTXentLoss(), 4, memory_size=10).eval()
    x, y = next(_batches(4, [3]))
    with torch.no_grad():
        xbm(x.float(), y)
    assert int(xbm.queue_idx) == 3


def test_gradient_reaches_the_anchors_only():
    xbm = lk.CrossBatchMemory(lk.NTXentLoss(), 4, memory_size=10).double()
    x, y = next(_batches(5, [5]))
    x.requires_grad_(True)
    xbm(x, y).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert not xbm.embedding_memory.requires_grad


def test_exported_as_a_utility_not_a_catalog_loss():
    assert "CrossBatchMemory" in lk.__all__ and "CrossBatchMemory" not in M.__all__
    assert "CrossBatchMemory" not in {row.name for row in lk.list_losses()}


@pytest.mark.parametrize(
    ("make", "call", "exc", "words"),
    [
        (lambda: lk.CrossBatchMemory(lk.BatchHardTripletLoss(), 4), None, ValueError, "does not take indices"),
        (lambda: lk.CrossBatchMemory(lk.NTXentLoss(global_batch=True), 4), None, ValueError, "global_batch"),
        (lambda: lk.CrossBatchMemory(lk.NTXentLoss(), 4, memory_size=0), None, ValueError, "memory_size"),
        (lambda: lk.CrossBatchMemory(LF.nt_xent_loss, 4), None, TypeError, "loss Module"),  # type: ignore[arg-type]
        (lambda: lk.CrossBatchMemory(lk.NTXentLoss(), 4, memory_size=3),
         lambda m: m(torch.randn(4, 4), torch.zeros(4, dtype=torch.long)), ValueError, "memory_size >= 4"),
        (lambda: lk.CrossBatchMemory(lk.NTXentLoss(), 4),
         lambda m: m(torch.randn(4, 3), torch.zeros(4, dtype=torch.long)), ValueError, "embedding_size"),
    ],
    ids=["no-ref-emb", "global-batch", "memory-size", "functional", "batch-too-large", "width"],
)
def test_errors(make, call, exc, words):
    with pytest.raises(exc, match=words):
        module = make()
        call(module)
