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
