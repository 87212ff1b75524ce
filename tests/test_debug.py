"""The loss debugger (losskit.debug.debug_loss)."""

from __future__ import annotations

import functools

import pytest
import torch
import torch.nn.modules.loss as torch_losses
from torch import nn
from torch.nn import functional as F

import losskit as lk
from losskit.debug import debug_loss
from losskit.debug_checks import losskit_twin


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
    # the frozen layer is named once, by its module
    (frozen,) = [p for p in report.problems if "is frozen" in p]
    assert frozen.startswith("layer 'frozen' (Linear) is frozen: its 2 parameter(s) have requires_grad=False")
    assert "frozen=['frozen']" in frozen
    # meant to be frozen: a note, not a problem
    report = debug_loss(Net(), lk.MSELoss(), torch.randn(5, 3), torch.randn(5, 1), frozen=["frozen"])
    assert not any("is frozen" in p for p in report.problems)
    assert any(n.startswith("layer 'frozen' (Linear) is frozen") for n in report.notes)

    tiny = nn.Linear(3, 1)
    with torch.no_grad():
        tiny.weight.fill_(1e-9)
        tiny.bias.fill_(0.0)
    report = debug_loss(lambda x: tiny(x) * 1e-9, lk.MSELoss(), torch.randn(5, 3), torch.zeros(5, 1))
    assert report.grads == [] and report.relus == []  # a plain callable has no parameters or modules to report


def test_frozen_backbone_is_named_once_and_a_frozen_weight_alone():
    torch.manual_seed(0)
    model = nn.Sequential()
    model.add_module("backbone", nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 8)))
    model.add_module("head", nn.Linear(8, 1))
    model.backbone.requires_grad_(False)
    report = debug_loss(model, lk.MSELoss(), torch.randn(16, 3), torch.randn(16, 1))
    assert [p.split(":")[0] for p in report.problems] == ["layer 'backbone' (Sequential) is frozen"]
    assert "its 4 parameter(s)" in report.problems[0]
    model.backbone.requires_grad_(True)
    model.head.weight.requires_grad_(False)
    report = debug_loss(model, lk.MSELoss(), torch.randn(16, 3), torch.randn(16, 1))
    assert [p.split(" (")[0] for p in report.problems] == ["parameter 'head.weight' is frozen"]
    model.requires_grad_(False)
    report = debug_loss(model, lk.MSELoss(), torch.randn(16, 3), torch.randn(16, 1))
    assert any(p.startswith("the whole model is frozen") for p in report.problems)
    assert any("does not require grad" in p for p in report.problems)


class Gated(nn.Module):
    """head(x) plus side(x) where the first feature exceeds 100: side gets a gradient only from such rows."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.head = nn.Linear(3, 1)
        self.side = nn.Linear(3, 1)

    def forward(self, x):
        return self.head(x) + self.side(x) * (x[:, :1] > 100)


def test_zero_gradient_on_every_checked_batch_is_frozen_in_effect():
    torch.manual_seed(1)
    x, y = torch.randn(8, 3), torch.randn(8, 1)
    report = debug_loss(Gated(), lk.MSELoss(), x, y)
    assert report.grad("side.weight").norm == 0.0 and report.grad("head.weight").status == "ok"
    (cut,) = [p for p in report.problems if "frozen in effect" in p]
    assert cut.startswith("layer 'side' (Linear) is frozen in effect: its 2 parameter(s) get an exactly zero gradient "
                          "on every one of the 1 checked batch(es)")
    assert not any("vanishing" in p for p in report.problems)  # said once, as the layer, not per parameter
    # a second batch where the gate opens: side learns there, so it is not frozen
    x2 = torch.randn(8, 3)
    x2[0, 0] = 200.0
    report = debug_loss(Gated(), lk.MSELoss(), x, y, batches=[(x2, torch.randn(8, 1))])
    assert report.batches == 2 and not any("frozen in effect" in p for p in report.problems)
    # two batches where it stays shut: still frozen, over both
    model = Gated()
    report = debug_loss(model, lk.MSELoss(), x, y, batches=[(torch.randn(8, 3), torch.randn(8, 1))])
    assert any("on every one of the 2 checked batch(es)" in p for p in report.problems)
    assert all(p.grad is None for p in model.parameters())  # the extra batches leave no .grad behind either


def test_dead_relu_reported_with_its_share_apart_from_vanishing_gradients():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 1))
    with torch.no_grad():
        model[0].bias.fill_(-100.0)  # every pre-activation is negative: all 8 units dead
    report = debug_loss(model, lk.MSELoss(), torch.randn(32, 3), torch.randn(32, 1))
    (relu,) = report.relus
    assert (relu.name, relu.units, relu.dead, relu.fraction) == ("1", 8, 8, 1.0)
    dead = [p for p in report.problems if p.startswith("dead ReLU")]
    assert dead == [p for p in report.problems if "'1'" in p] and "8 of 8 units (100%)" in dead[0]
    assert any(p.startswith("layer '0' (Linear) is frozen in effect") and "see above" in p for p in report.problems)
    assert "relu units (over 1 batch(es)):" in str(report) and "1: 8 of 8 units never active (100%)" in str(report)

    # 3 of 8 units dead (38%): a problem at the default 0.1, not with dead_relu=0.5
    with torch.no_grad():
        model[0].bias.copy_(torch.tensor([-100.0] * 3 + [0.0] * 5))
    report = debug_loss(model, lk.MSELoss(), torch.randn(64, 3), torch.randn(64, 1))
    assert report.relus[0].dead == 3 and any("3 of 8 units (38%)" in p for p in report.problems)
    report = debug_loss(model, lk.MSELoss(), torch.randn(64, 3), torch.randn(64, 1), dead_relu=0.5)
    assert report.relus[0].dead == 3 and not any("dead ReLU" in p for p in report.problems)


def test_healthy_relu_net_and_conv_channels_and_shared_relu():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Linear(16, 1))
    report = debug_loss(model, lk.MSELoss(), torch.randn(64, 3), torch.randn(64, 1))
    assert report.ok, report.problems
    assert [(r.name, r.units, r.dead) for r in report.relus] == [("1", 16, 0)]

    conv = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.LazyLinear(1))
    conv(torch.randn(1, 1, 6, 6))  # materialise the lazy layer
    with torch.no_grad():
        conv[0].bias.copy_(torch.tensor([-100.0, 0.0, 0.0, 0.0]))  # channel 0 is dead at every position
    report = debug_loss(conv, lk.MSELoss(), torch.randn(8, 1, 6, 6), torch.randn(8, 1))
    assert [(r.units, r.dead) for r in report.relus] == [(4, 1)]  # units are channels

    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.out = nn.Linear(3, 6), nn.Linear(6, 4), nn.Linear(4, 1)
            self.act = nn.ReLU()

        def forward(self, x):
            return self.out(self.act(self.b(self.act(self.a(x)))))

    report = debug_loss(Shared(), lk.MSELoss(), torch.randn(64, 3), torch.randn(64, 1))
    assert [(r.name, r.units) for r in report.relus] == [("act", 6), ("act (call 2)", 4)]


def test_batch_norm_statistics_are_restored():
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 1))
    before = [b.clone() for b in model.buffers()]
    debug_loss(model, lk.MSELoss(), torch.randn(8, 3) + 5, torch.randn(8, 1), batches=[(torch.randn(8, 3),
                                                                                       torch.randn(8, 1))])
    assert all(torch.equal(a, b) for a, b in zip(before, model.buffers()))


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
    x, y = torch.randn(2, 3), torch.randn(2, 1)
    with pytest.raises(lk.LossTypeError, match=r"frozen must be a list of module names, but got 'backbone'"):
        debug_loss(_model(), lk.MSELoss(), x, y, frozen="backbone")
    named = nn.Sequential()
    named.add_module("backbone", nn.Linear(3, 1))
    with pytest.raises(lk.LossValueError, match=r"frozen must name modules of the model, but got 'backbon'; did "
                       r"you mean 'backbone'\?"):
        debug_loss(named, lk.MSELoss(), x, y, frozen=["backbon"])
    with pytest.raises(lk.LossValueError, match=r"got '3'; use names from model.named_modules\(\)"):
        debug_loss(_model(), lk.MSELoss(), x, y, frozen=["3"])
    with pytest.raises(lk.LossTypeError, match=r"batches must hold \(inputs, targets\) pairs, but got \['Tensor'\]"):
        debug_loss(_model(), lk.MSELoss(), x, y, batches=[x])
    with pytest.raises(lk.LossValueError, match=r"dead_relu must be in \[0, 1\), but got 1.0"):
        debug_loss(_model(), lk.MSELoss(), x, y, dead_relu=1.0)


# ------------------------------------------------------------------------------------------------------------------
# torch's own losses, checked through losskit's guard
# ------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("loss_fn", [nn.CrossEntropyLoss(), F.cross_entropy, functools.partial(F.cross_entropy,
                                                                                                 reduction="sum")],
                         ids=["module", "functional", "partial"])
def test_torch_cross_entropy_after_softmax(loss_fn):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Softmax(dim=1))
    x, y = torch.randn(6, 3), torch.tensor([0, 1, 2, 3, 0, 1])
    report = debug_loss(model, loss_fn, x, y)
    assert not report.ok
    (objection,) = report.guard
    assert objection.startswith("SuspiciousInputWarning: cross_entropy: input must hold logits")
    assert "pass the scores from before softmax()" in objection  # the guard's fix
    assert any("the guard objects" in p and "probabilities" in p for p in report.problems)
    # the value and gradients are torch's own, on the probabilities (what training would use)
    assert report.loss == pytest.approx(float(loss_fn(model(x), y).detach()), rel=1e-6)
    assert any("checked by losskit's guard through" in n for n in report.notes)


@pytest.mark.parametrize("loss_fn", [nn.MSELoss(), F.mse_loss], ids=["module", "functional"])
def test_torch_mse_broadcast(loss_fn):
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    x, y = torch.randn(8, 3), torch.randn(8)
    report = debug_loss(model, loss_fn, x, y)
    assert not report.ok
    (objection,) = report.guard
    assert objection.startswith("LossShapeError: mse_loss: target must have the same shape as input (8, 1), but got "
                                "(8,)")
    assert "use input.squeeze(-1)" in objection
    # torch broadcasts (8, 1) against (8,) to (8, 8): that silent value is the one reported, with torch's warning
    broadcast = ((model(x).detach() - y.unsqueeze(0)) ** 2).mean()
    assert report.loss == pytest.approx(float(broadcast), rel=1e-6)
    assert any(n.startswith("UserWarning: Using a target size") for n in report.notes)


def test_torch_loss_with_options_healthy_and_same_numbers():
    torch.manual_seed(0)
    weight = torch.tensor([1.0, 2.0, 0.5, 1.0])
    torch_ce = nn.CrossEntropyLoss(weight=weight, ignore_index=0, label_smoothing=0.1)
    twin, label = losskit_twin(torch_ce)
    assert label == "lk.CrossEntropyLoss" and isinstance(twin, lk.CrossEntropyLoss)
    logits, target = torch.randn(10, 4), torch.tensor([0, 1, 2, 3, 1, 2, 3, 0, 1, 2])
    assert float(twin(logits, target)) == pytest.approx(float(torch_ce(logits, target)), rel=1e-6)
    model = nn.Linear(3, 4)
    report = debug_loss(model, torch_ce, torch.randn(10, 3), target)
    assert report.ok, report.problems
    assert not any("different value" in n for n in report.notes)


def test_every_torch_loss_module_has_a_losskit_twin():
    names = [n for n in dir(torch_losses) if isinstance(getattr(torch_losses, n), type)
             and issubclass(getattr(torch_losses, n), torch_losses._Loss) and not n.startswith("_")
             and n not in ("NLLLoss2d", "LinearCrossEntropyLoss")]  # deprecated; needs layer sizes
    assert len(names) >= 20
    for n in names:
        twin, label = losskit_twin(getattr(torch_losses, n)())
        assert type(twin) is getattr(lk, n) and label == f"lk.{n}", (n, label)


def test_torch_loss_without_a_faithful_twin_is_said(monkeypatch):
    class NoReduction(nn.Module):
        def forward(self, input, target):
            return ((input - target) ** 2).mean()

    monkeypatch.setattr(lk, "MSELoss", NoReduction)
    twin, why = losskit_twin(nn.MSELoss(reduction="sum"))
    assert twin is None and why == "lk.MSELoss has no option 'reduction' (set to 'sum')"
    report = debug_loss(nn.Linear(3, 1), nn.MSELoss(reduction="sum"), torch.randn(4, 3), torch.randn(4))
    assert report.ok  # unchecked: the broadcast goes unnoticed, and the report says why
    assert any("not checked by losskit's guard: lk.MSELoss has no option 'reduction'" in n for n in report.notes)
    assert losskit_twin(lambda a, b: (a - b).abs().mean()) == (None, "")
