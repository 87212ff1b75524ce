"""MultiTaskLoss: static, scheduled and uncertainty weighting, the typed result, and its errors."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import losskit as lk
from losskit.multitask import MultiTaskLoss, MultiTaskResult


def _batch(dtype=torch.float64):
    pred_depth = torch.tensor([1.0, 3.0, -2.0], dtype=dtype, requires_grad=True)
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0]], dtype=dtype, requires_grad=True)
    inputs = {"depth": pred_depth, "seg": logits}
    targets = {"depth": torch.zeros(3, dtype=dtype), "seg": torch.tensor([0, 2])}
    # by hand: L1 mean = (1 + 3 + 2) / 3 = 2; cross-entropy by torch
    parts = {"depth": 2.0, "seg": F.cross_entropy(logits.detach(), targets["seg"]).item()}
    return inputs, targets, parts


def _losses():
    return {"depth": lk.L1Loss(), "seg": lambda x, y: F.cross_entropy(x, y)}  # a Module and a plain callable


def _message_form(err: BaseException) -> None:
    assert str(err).startswith("MultiTaskLoss:") and ";" in str(err)
    assert isinstance(err, lk.LosskitError) and isinstance(err, (ValueError, TypeError))


def test_static_weights_total_parts_and_weights():
    inputs, targets, parts = _batch()
    out = MultiTaskLoss(_losses(), weights={"depth": 0.25})(inputs, targets)
    assert isinstance(out, MultiTaskResult)
    assert out.total.item() == pytest.approx(0.25 * parts["depth"] + 1.0 * parts["seg"], rel=1e-12)
    assert {k: v.item() for k, v in out.weights.items()} == {"depth": 0.25, "seg": 1.0}  # left out -> 1.0
    for task, value in parts.items():
        assert not out.parts[task].requires_grad and out.parts[task].item() == pytest.approx(value, rel=1e-12)
    out.total.backward()
    # d total / d depth prediction = 0.25 * sign(x) / 3 (L1 mean), by hand
    torch.testing.assert_close(inputs["depth"].grad, torch.tensor([1.0, 1.0, -1.0], dtype=torch.float64) / 12)


def test_default_weights_are_one():
    inputs, targets, parts = _batch()
    out = MultiTaskLoss(_losses())(inputs, targets)
    assert out.total.item() == pytest.approx(sum(parts.values()), rel=1e-12)


def test_scheduled_weights_follow_the_step_counter():
    calls = []

    def warmup(step: int) -> dict[str, float]:
        calls.append(step)
        return {"seg": min(1.0, step / 4)}

    inputs, targets, parts = _batch()
    mtl = MultiTaskLoss(_losses(), weights=warmup)
    totals = [mtl(inputs, targets).total.item() for _ in range(3)]
    assert calls == [0, 1, 2] and mtl.step == 3
    for step, total in enumerate(totals):
        assert total == pytest.approx(parts["depth"] + step / 4 * parts["seg"], rel=1e-12)
    assert mtl(inputs, targets, step=8).weights["seg"].item() == 1.0  # an explicit step wins
    mtl.eval()
    mtl(inputs, targets)
    assert mtl.step == 4, "evaluation calls do not advance the schedule"
    assert mtl.current_weights(2) == {"depth": 1.0, "seg": 0.5}


def test_step_counter_is_saved_in_state_dict():
    mtl = MultiTaskLoss(_losses(), weights=lambda step: {})
    inputs, targets, _ = _batch()
    for _ in range(5):
        mtl(inputs, targets)
    fresh = MultiTaskLoss(_losses(), weights=lambda step: {})
    fresh.load_state_dict(mtl.state_dict())
    assert fresh.step == 5


def test_uncertainty_weighting_by_hand():
    inputs, targets, parts = _batch()
    mtl = MultiTaskLoss(_losses(), strategy="uncertainty")
    assert set(dict(mtl.named_parameters())) == {"log_vars.depth", "log_vars.seg"}
    with torch.no_grad():
        mtl.log_vars["depth"].fill_(math.log(4.0))
    out = mtl(inputs, targets)
    # Kendall et al. 2018, eq. (7) form: 1/(2 sigma^2) L + log sigma, with s = log sigma^2
    expected = parts["depth"] / 8 + 0.5 * math.log(4.0) + 0.5 * parts["seg"]
    assert out.total.item() == pytest.approx(expected, rel=1e-6)
    assert out.weights["depth"].item() == pytest.approx(1 / 8) and not out.weights["depth"].requires_grad
    out.total.backward()
    # d/ds [exp(-s) L / 2 + s / 2] = (1 - exp(-s) L) / 2
    assert mtl.log_vars["depth"].grad.item() == pytest.approx(0.5 * (1 - parts["depth"] / 4), rel=1e-6)


def test_uncertainty_learns_sigma_squared_equal_to_the_loss():
    inputs, targets, parts = _batch()
    mtl = MultiTaskLoss(_losses(), strategy="uncertainty")
    opt = torch.optim.Adam(mtl.parameters(), lr=0.05)
    for _ in range(400):
        opt.zero_grad()
        mtl(inputs, targets).total.backward()
        opt.step()
    for task, value in parts.items():
        assert mtl.log_vars[task].exp().item() == pytest.approx(value, rel=0.02)


def test_sub_loss_modules_move_and_save_with_the_container():
    arc = lk.ArcFaceLoss(3, 4, scale=8.0)
    mtl = MultiTaskLoss({"id": arc, "depth": lk.MSELoss()}).to(torch.float64)
    assert arc.centres.dtype == torch.float64 and "loss_modules.id.centres" in mtl.state_dict()
    out = mtl({"id": torch.randn(5, 4, dtype=torch.float64), "depth": torch.randn(2, dtype=torch.float64)},
              {"id": torch.tensor([0, 1, 2, 0, 1]), "depth": torch.zeros(2, dtype=torch.float64)})
    out.total.backward()
    assert arc.centres.grad is not None


# --------------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: MultiTaskLoss({}), lk.LossTypeError, "empty mapping"),
        (lambda: MultiTaskLoss([lk.L1Loss()]), lk.LossTypeError, "list"),
        (lambda: MultiTaskLoss({"a.b": lk.L1Loss()}), lk.LossValueError, "'a.b'"),
        (lambda: MultiTaskLoss({"a": 3.0}), lk.LossTypeError, "task 'a'.*float"),
        (lambda: MultiTaskLoss(_losses(), strategy="uncertainity"), lk.LossOptionError,
         "'uncertainity'.*did you mean 'uncertainty'"),
        (lambda: MultiTaskLoss(_losses(), weights={"depth": 2.0}, strategy="uncertainty"), lk.LossOptionError,
         "weights must be None.*dict"),
        (lambda: MultiTaskLoss(_losses(), weights={"dpeth": 2.0}), lk.LossValueError,
         "'dpeth'.*did you mean 'depth'"),
        (lambda: MultiTaskLoss(_losses(), weights={"depth": -1.0}), lk.LossOptionError, "'depth'.*-1.0"),
        (lambda: MultiTaskLoss(_losses(), weights={"depth": math.nan}), lk.LossOptionError, "nan"),
        (lambda: MultiTaskLoss(_losses(), weights=[1.0, 2.0]), lk.LossTypeError, "weights.*list"),
    ],
    ids=["empty", "list", "dotted-name", "not-callable", "strategy-typo", "weights-with-uncertainty",
         "unknown-weight-task", "negative-weight", "nan-weight", "weights-list"],
)
def test_construction_errors(make, error, match):
    with pytest.raises(error, match=match) as info:
        make()
    _message_form(info.value)


def test_forward_errors():
    inputs, targets, _ = _batch()
    mtl = MultiTaskLoss(_losses())
    cases = [
        (({"depth": inputs["depth"]}, targets), lk.LossValueError, "inputs.*no entry for 'seg'"),
        ((inputs, {**targets, "segm": targets["seg"]}), lk.LossValueError, "targets.*'segm'.*did you mean 'seg'"),
        ((inputs, [targets["depth"]]), lk.LossTypeError, "targets.*list"),
    ]
    for (a, b), error, match in cases:
        with pytest.raises(error, match=match) as info:
            mtl(a, b)
        _message_form(info.value)
    per_element = MultiTaskLoss({"depth": lk.L1Loss(reduction="none")})
    with pytest.raises(lk.LossValueError, match=r"task 'depth'.*0-dim.*\(3,\).*reduction='mean'") as info:
        per_element({"depth": inputs["depth"]}, {"depth": targets["depth"]})
    _message_form(info.value)
    bad_schedule = MultiTaskLoss(_losses(), weights=lambda step: {"sgm": 1.0})
    with pytest.raises(lk.LossValueError, match=r"weights\(step\) names 'sgm'") as info:
        bad_schedule(inputs, targets)
    _message_form(info.value)
