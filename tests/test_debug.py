"""The loss debugger (losskit.debug.debug_loss)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import losskit as lk
from losskit.debug import debug_loss


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))


def test_healthy_run_reports_value_and_grad_norms():
    model = _model()
    x, y = torch.randn(8, 3), torch.randn(8, 1)
    report = debug_loss(model, lk.MSELoss(), x, y)
    assert report.ok, report.problems
    assert report.guard == []
    # by hand: the mean squared error and the gradient norms of an independent backward pass
    out = model(x)
    expected = ((out - y) ** 2).mean()
    assert report.loss == pytest.approx(expected.item(), rel=1e-6)
    grads = torch.autograd.grad(expected, list(model.parameters()))
    for (name, _), g in zip(model.named_parameters(), grads):
        assert report.grad(name).norm == pytest.approx(float(g.norm()), rel=1e-5)
        assert report.grad(name).status == "ok"
    assert report.inputs[0].shape == (8, 3) and report.outputs[0].shape == (8, 1)
    assert report.targets[0].dtype == "float32"
    assert all(p.grad is None for p in model.parameters())  # the model's .grad is left as it was
    assert "no objections" in str(report)


def test_existing_grads_are_restored():
    model = _model()
    for p in model.parameters():
        p.grad = torch.full_like(p, 7.0)
    debug_loss(model, lk.MSELoss(), torch.randn(4, 3), torch.randn(4, 1))
    assert all(bool((p.grad == 7.0).all()) for p in model.parameters())


def test_guard_objection_is_captured_and_loss_still_computed():
    model = _model()
    x, y = torch.randn(8, 3), torch.randn(8)
    report = debug_loss(model, lk.MSELoss(), x, y)
    assert not report.ok
    assert len(report.guard) == 1 and "LossShapeError" in report.guard[0] and "(8, 1)" in report.guard[0]
    # with the guard off the loss broadcasts (8, 1) against (8,) to (8, 8): the silent bug, shown
    out = model(x).detach()
    with pytest.warns(UserWarning):
        expected = nn.functional.mse_loss(out, y)
    assert report.loss == pytest.approx(float(expected), rel=1e-6)
    assert any("guard off" in n for n in report.notes)


@pytest.mark.skipif(not hasattr(lk, "CrossEntropyLoss"), reason="lk.CrossEntropyLoss has not landed yet")
def test_guard_warning_probabilities_into_cross_entropy():
    model = nn.Sequential(nn.Linear(3, 4), nn.Softmax(dim=1))
    report = debug_loss(model, lk.CrossEntropyLoss(), torch.randn(6, 3), torch.tensor([0, 1, 2, 3, 0, 1]))
    assert any("SuspiciousInputWarning" in g and "probabilities" in g for g in report.guard)
    assert report.loss is not None


def test_missing_frozen_exploding_vanishing_gradients():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.used = nn.Linear(3, 1)
            self.unused = nn.Linear(3, 1)
            self.frozen = nn.Linear(3, 3)
            self.frozen.requires_grad_(False)
            self.scale = nn.Parameter(torch.tensor(1e6))

        def forward(self, x):
            return self.used(self.frozen(x)) * self.scale

    report = debug_loss(Net(), lk.MSELoss(), torch.randn(5, 3), torch.randn(5, 1))
    assert report.grad("unused.weight").status == "missing" and report.grad("unused.weight").norm is None
    assert report.grad("frozen.weight").status == "frozen"
    assert report.grad("used.weight").status == "exploding"
    assert any("unused.weight gets no gradient" in p for p in report.problems)
    assert not any("frozen" in p for p in report.problems)

    tiny = nn.Linear(3, 1)
    with torch.no_grad():
        tiny.weight.fill_(1e-9)
        tiny.bias.fill_(0.0)
    report = debug_loss(lambda x: tiny(x) * 1e-9, lk.MSELoss(), torch.randn(5, 3), torch.zeros(5, 1))
    assert report.grads == []  # a plain callable has no named parameters to report


def test_vanishing_gradient_named():
    model = nn.Linear(2, 1)
    with torch.no_grad():
        model.weight.fill_(0.0)
        model.bias.fill_(0.0)
    report = debug_loss(model, lk.MSELoss(), torch.randn(4, 2), torch.zeros(4, 1))
    assert report.grad("weight").status == "vanishing" and report.grad("weight").norm == 0.0
    assert any("weight has a vanishing gradient" in p for p in report.problems)


def test_nan_inputs_and_cut_graph():
    model = _model()
    x = torch.randn(4, 3)
    x[0, 0] = float("nan")
    report = debug_loss(model, lk.MSELoss(), x, torch.randn(4, 1))
    assert report.inputs[0].nan == 1
    assert any("input holds 1 NaN" in p for p in report.problems)
    assert any("NonFiniteError" in g for g in report.guard)

    report = debug_loss(lambda x: model(x).detach(), lk.MSELoss(), torch.randn(4, 3), torch.randn(4, 1))
    assert any("does not require grad" in p for p in report.problems)


def test_tuple_and_dict_inputs_and_forward_failure():
    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 1)

        def forward(self, a, b):
            return self.lin(a + b)

    report = debug_loss(Two(), lk.MSELoss(), (torch.randn(2, 3), torch.randn(2, 3)), torch.randn(2, 1))
    assert [s.name for s in report.inputs] == ["input[0]", "input[1]"] and report.ok, report.problems
    report = debug_loss(Two(), lk.MSELoss(), {"a": torch.randn(2, 3), "b": torch.randn(2, 3)}, torch.randn(2, 1))
    assert report.ok, report.problems
    report = debug_loss(Two(), lk.MSELoss(), torch.randn(2, 3), torch.randn(2, 1))
    assert any("forward pass failed: TypeError" in p for p in report.problems)


def test_bad_arguments():
    with pytest.raises(lk.LossTypeError, match=r"debug_loss: loss_fn must be callable, but got str;"):
        debug_loss(_model(), "mse", torch.randn(2, 3), torch.randn(2, 1))
