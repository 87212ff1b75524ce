"""Golden values and special cases of ctc_loss, against a brute-force reference that enumerates every alignment."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

import losskit as lk
import losskit.functional as LF

F64 = torch.float64


def _collapse(path: tuple[int, ...], blank: int) -> list[int]:
    """CTC's many-to-one map: merge repeated labels, then drop blanks."""
    merged = [k for i, k in enumerate(path) if i == 0 or k != path[i - 1]]
    return [k for k in merged if k != blank]


def brute_ctc(log_probs: torch.Tensor, target: list[int], blank: int = 0) -> torch.Tensor:
    """-log of the summed probability of every path of length T that collapses to ``target`` (definition, Graves
    et al. 2006); ``log_probs`` is (T, C). Exponential in T: tiny inputs only. Differentiable (autograd)."""
    steps, classes = log_probs.shape
    scores = [
        sum(log_probs[t, k] for t, k in enumerate(path))
        for path in itertools.product(range(classes), repeat=steps)
        if _collapse(path, blank) == target
    ]
    if not scores:
        return log_probs.new_tensor(math.inf)
    return -torch.logsumexp(torch.stack(scores), 0)


TARGETS = [[1, 1], [2], [], [1, 2, 1]]
INPUT_LENGTHS = [5, 4, 5, 5]


def _padded() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    targets = torch.tensor([row + [0] * (3 - len(row)) for row in TARGETS])
    return targets, torch.tensor(INPUT_LENGTHS), torch.tensor([len(r) for r in TARGETS])


def test_ctc_by_hand_two_steps():
    # by hand: T=2, classes {blank, a} with p = 1/2 each; "a" has 3 alignments (aa, a-, -a): -log(3/4)
    log_probs = torch.full((2, 1, 2), 0.5, dtype=F64).log()
    out = LF.ctc_loss(log_probs, torch.tensor([[1]]), (2,), (1,), reduction="none")
    assert float(out[0]) == pytest.approx(-math.log(0.75))


def test_ctc_matches_brute_force_enumeration():
    torch.manual_seed(0)
    log_probs = torch.randn(5, 4, 3, dtype=F64).log_softmax(-1)
    targets, il, tl = _padded()
    expected = torch.stack([brute_ctc(log_probs[: INPUT_LENGTHS[n], n], TARGETS[n]) for n in range(4)])
    torch.testing.assert_close(LF.ctc_loss(log_probs, targets, il, tl, reduction="none"), expected)
    torch.testing.assert_close(LF.ctc_loss(log_probs, targets, il, tl, reduction="sum"), expected.sum())
    # "mean": each loss over its target length (at least 1), then the batch mean (torch's definition)
    per_label = expected / torch.tensor([2.0, 1.0, 1.0, 3.0], dtype=F64)
    torch.testing.assert_close(LF.ctc_loss(log_probs, targets, il, tl), per_label.mean())
    concatenated = torch.tensor([v for row in TARGETS for v in row])
    torch.testing.assert_close(LF.ctc_loss(log_probs, concatenated, il, tl, reduction="none"), expected)


def test_ctc_blank_last_matches_brute_force():
    torch.manual_seed(1)
    log_probs = torch.randn(4, 3, dtype=F64).log_softmax(-1)  # unbatched, classes {a=0, b=1, blank=2}
    out = LF.ctc_loss(log_probs, torch.tensor([0, 0]), 4, 2, blank=2, reduction="sum")
    torch.testing.assert_close(out, brute_ctc(log_probs, [0, 0], blank=2))


def test_ctc_gradient_through_log_softmax_equals_the_definitions():
    """torch's CTC gradient (kept by losskit) is exact once chained through log_softmax: compare with autograd
    through the brute-force sum, with respect to the logits."""
    torch.manual_seed(2)
    logits = torch.randn(5, 4, 3, dtype=F64)
    targets, il, tl = _padded()
    a, b = logits.clone().requires_grad_(), logits.clone().requires_grad_()
    LF.ctc_loss(a.log_softmax(-1), targets, il, tl, reduction="sum").backward()
    lp = b.log_softmax(-1)
    sum(brute_ctc(lp[: INPUT_LENGTHS[n], n], TARGETS[n]) for n in range(4)).backward()
    torch.testing.assert_close(a.grad, b.grad)


@pytest.mark.parametrize("layout", ["padded", "concatenated", "unbatched"])
def test_ctc_gradcheck_through_log_softmax(layout):
    torch.manual_seed(3)
    targets, il, tl = _padded()
    if layout == "concatenated":
        targets = torch.tensor([v for row in TARGETS for v in row])
    logits = torch.randn(5, 4, 3, dtype=F64, requires_grad=True)
    if layout == "unbatched":
        logits = torch.randn(5, 3, dtype=F64, requires_grad=True)
        targets, il, tl = torch.tensor([1, 2, 1]), 5, 3
    for reduction in ("none", "mean", "sum"):
        fn = lambda x, r=reduction: LF.ctc_loss(x.log_softmax(-1), targets, il, tl, reduction=r)  # noqa: E731
        assert torch.autograd.gradcheck(fn, (logits,))


def test_ctc_infeasible_is_inf_and_warns_unless_zero_infinity():
    log_probs = torch.randn(3, 1, 3, dtype=F64).log_softmax(-1).requires_grad_()
    targets = torch.tensor([[1, 1]])  # needs 3 steps (a blank between the repeats): input length 2 is too short
    with pytest.warns(lk.SuspiciousInputWarning, match="input length 2 for 2 labels needing 3 steps"):
        assert math.isinf(float(LF.ctc_loss(log_probs, targets, (2,), (2,), reduction="sum").detach()))
    lk.reset_guard()
    out = LF.ctc_loss(log_probs, targets, (2,), (2,), zero_infinity=True)
    assert float(out.detach()) == 0.0
    out.backward()
    assert (log_probs.grad == 0).all()
    # three steps are enough: finite, and equal to the enumeration
    torch.testing.assert_close(LF.ctc_loss(log_probs, targets, (3,), (2,), reduction="sum"),
                               brute_ctc(log_probs[:, 0], [1, 1]))


def test_ctc_empty_batch():
    log_probs = torch.zeros(4, 0, 3, requires_grad=True)
    empty = torch.zeros(0, dtype=torch.long)
    none = LF.ctc_loss(log_probs, torch.zeros(0, 2, dtype=torch.long), empty, empty, reduction="none")
    assert none.shape == (0,)
    out = LF.ctc_loss(log_probs, torch.zeros(0, 2, dtype=torch.long), empty, empty)
    assert float(out.detach()) == 0.0  # torch raises "log_probs tensor must not be empty"
    out.backward()
    assert (log_probs.grad == 0).all()


def test_ctc_under_torch_compile_breaks_the_graph_but_matches_eager():
    torch._dynamo.reset()
    log_probs = torch.randn(5, 4, 3).log_softmax(-1)
    targets, il, tl = _padded()
    compiled = torch.compile(LF.ctc_loss, backend="aot_eager")
    torch.testing.assert_close(compiled(log_probs, targets, il, tl), LF.ctc_loss(log_probs, targets, il, tl))


def test_ctc_module_options():
    with pytest.raises(lk.LossOptionError, match=r"blank.*-1"):
        lk.CTCLoss(blank=-1)
    with pytest.raises(lk.LossOptionError, match="zero_infinity"):
        lk.CTCLoss(zero_infinity=1)
    targets, il, tl = _padded()
    log_probs = torch.randn(5, 4, 3, dtype=F64).log_softmax(-1)
    torch.testing.assert_close(lk.CTCLoss(reduction="sum")(log_probs, targets, il, tl),
                               F.ctc_loss(log_probs, targets, il, tl, reduction="sum"))
