"""Raw torch errors turned into losskit's (or into working calls), and the value checks that run on every call.

The error messages themselves are in the error catalogs of ``tests/db/*.py``; here: the calls that now work, and
the checks of later calls.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import losskit as lk
import losskit.functional as LF


# --------------------------------------------------------------------------------------------
# issue 9 part 6: raw torch errors
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
def test_nll_loss_backward_through_channels_last_input(reduction, weighted):
    """torch's 2-D nll_loss backward raises "grad_input must be contiguous" for channels-last log-probabilities;
    losskit computes the same numbers as on the contiguous copy, and the gradient keeps the input's layout."""
    torch.manual_seed(0)
    logp = torch.randn(2, 3, 4, 5).log_softmax(1)
    t = torch.randint(0, 3, (2, 4, 5))
    t[0, 0, 0] = -100
    w = torch.tensor([0.5, 1.0, 2.0]) if weighted else None
    cl = logp.contiguous(memory_format=torch.channels_last).requires_grad_()
    plain = logp.clone().requires_grad_()
    with pytest.raises(RuntimeError, match="grad_input must be contiguous"):
        F.nll_loss(cl, t, w).backward()  # torch 2.13, the error this fixes
    cl.grad = None
    out = LF.nll_loss(cl, t, w, reduction=reduction)
    ref = F.nll_loss(plain, t, w, reduction=reduction)
    torch.testing.assert_close(out, ref)
    g = torch.rand_like(ref) + 0.5
    out.backward(g)
    ref.backward(g)
    torch.testing.assert_close(cl.grad, plain.grad)
    assert cl.grad.is_contiguous(memory_format=torch.channels_last)


def test_nll_loss_module_on_channels_last_segmentation_logits():
    model_out = torch.randn(2, 4, 6, 6).contiguous(memory_format=torch.channels_last).requires_grad_()
    loss = lk.NLLLoss()(model_out.log_softmax(1), torch.randint(0, 4, (2, 6, 6)))
    loss.backward()
    assert torch.isfinite(model_out.grad).all() and model_out.grad.abs().sum() > 0


def test_class_weight_that_requires_grad_is_refused_only_where_torch_has_no_gradient():
    """Class weights need no gradient with class-index targets (torch's nll_loss kernel), but probability targets
    differentiate through them: that call keeps working and gives the weight a gradient."""
    x = torch.randn(4, 3, requires_grad=True)
    w = torch.tensor([0.5, 1.0, 2.0], requires_grad=True)
    with pytest.raises(lk.LossTypeError, match=r"cross_entropy: weight must be a constant") as info:
        LF.cross_entropy(x, torch.tensor([0, 1, 2, 1]), w)
    assert isinstance(info.value, TypeError)
    with pytest.raises(lk.LossTypeError, match=r"nll_loss: weight must be a constant"):
        lk.NLLLoss(w)(x.log_softmax(1), torch.tensor([0, 1, 2, 1]))
    LF.cross_entropy(x, torch.tensor([0, 1, 2, 1]), w.detach()).backward()  # the fix the message gives
    probs = torch.tensor([[0.7, 0.2, 0.1]]).expand(4, 3)
    LF.cross_entropy(x, probs, w).backward()
    assert w.grad is not None and torch.isfinite(w.grad).all() and w.grad.abs().sum() > 0


def test_targets_and_weights_that_require_grad_work_where_torch_differentiates():
    """Where torch's kernels differentiate w.r.t. a target or weight, losskit does too: no error, finite gradients."""
    x = torch.randn(4, 3, requires_grad=True)
    y = torch.randn(4, 3, requires_grad=True)
    LF.huber_loss(x, y).backward()
    assert y.grad is not None and torch.isfinite(y.grad).all()
    t = torch.rand(4, 3, requires_grad=True)
    LF.binary_cross_entropy_with_logits(x, t).backward()
    assert t.grad is not None and torch.isfinite(t.grad).all()
    w = torch.rand(3, requires_grad=True)
    LF.multi_margin_loss(x, torch.tensor([0, 1, 2, 1]), weight=w).backward()
    assert w.grad is not None and torch.isfinite(w.grad).all()


# --------------------------------------------------------------------------------------------
# issue 9 part 7: value checks cheap enough for every call (default "first" policy)
# --------------------------------------------------------------------------------------------
def test_dice_class_out_of_range_is_caught_on_a_later_call():
    x = torch.randn(2, 3, 8, 8)
    LF.dice_loss(x, torch.randint(0, 3, (2, 8, 8)), mode="multiclass")  # first call: the full value checks
    bad = torch.randint(0, 3, (2, 8, 8))
    bad[1, 4, 4] = 7
    with pytest.raises(lk.LossValueError, match=r"dice_loss: target class indices must lie in \[0, 3\).*but got 7"):
        LF.dice_loss(x, bad, mode="multiclass")
    with pytest.raises(lk.LossValueError, match="but got -1"):
        lk.DiceLoss(mode="multiclass")(x, bad.clamp(max=2) - (bad == 2).long() * 3)


def test_dice_every_call_check_allows_ignore_index():
    x = torch.randn(2, 3, 8, 8)
    t = torch.randint(0, 3, (2, 8, 8))
    t[:, :2] = 255
    first = LF.dice_loss(x, t, mode="multiclass", ignore_index=255)
    again = LF.dice_loss(x, t, mode="multiclass", ignore_index=255)  # the every-call path, ignore values pass
    torch.testing.assert_close(first, again)
    t[0, 5, 5] = 3
    with pytest.raises(lk.LossValueError, match=r"but got 3"):
        LF.dice_loss(x, t, mode="multiclass", ignore_index=255)


def test_blank_in_ctc_targets_is_caught_on_a_later_call():
    torch.manual_seed(0)
    log_probs = torch.randn(12, 2, 5).log_softmax(2)
    il, tl = torch.tensor([12, 12]), torch.tensor([3, 2])
    targets = torch.tensor([[1, 2, 3], [4, 1, 0]])  # the 0 of row 1 is padding: beyond its length 2
    LF.ctc_loss(log_probs, targets, il, tl)
    LF.ctc_loss(log_probs, targets, il, tl)  # padding with the blank is fine on every call
    with pytest.raises(lk.LossValueError, match=r"ctc_loss: targets must not contain the blank index 0.*1 time"):
        LF.ctc_loss(log_probs, torch.tensor([[1, 0, 3], [4, 1, 0]]), il, tl)
    with pytest.raises(lk.LossValueError, match="blank index 0"):
        LF.ctc_loss(log_probs, torch.tensor([1, 0, 3, 4, 1]), il, tl)  # concatenated targets


def test_every_call_checks_follow_the_guard_mode():
    x = torch.randn(1, 3, 4, 4)
    good, bad = torch.zeros(1, 4, 4, dtype=torch.long), torch.full((1, 4, 4), 7)
    LF.dice_loss(x, good, mode="multiclass")
    with lk.guard("off"):  # nothing runs: torch's own behaviour, whatever it is
        try:
            LF.dice_loss(x, bad, mode="multiclass")
        except lk.LosskitError:
            pytest.fail("a losskit check ran with the guard off")
        except RuntimeError:
            pass
    with lk.guard("always"), pytest.raises(lk.LossValueError, match="but got 7"):
        LF.dice_loss(x, bad, mode="multiclass")
    assert lk.get_guard() == "first"
    with pytest.raises(lk.LossValueError, match="but got 7"):
        LF.dice_loss(x, bad, mode="multiclass")
