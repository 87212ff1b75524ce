"""The guard policy: modes, first-call checks, strict warnings, switching off, compile."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import pytest
import torch

import losskit as lk
import losskit.functional as LF
from losskit import _validation as V

NAN = torch.tensor([0.0, float("nan")])


def test_value_checks_run_on_the_first_call_per_input_kind():
    x = torch.randn(2)
    with pytest.raises(lk.NonFiniteError, match="1 NaN"):
        LF.mse_loss(x, NAN)
    LF.mse_loss(x, x)
    # the kind (mse_loss, float32 1-D on cpu) was checked by a clean call: later NaN passes in "first" mode
    assert torch.isnan(LF.mse_loss(x, NAN))
    # a new kind (2-D) is checked again
    with pytest.raises(lk.NonFiniteError):
        LF.mse_loss(x.view(1, 2), NAN.view(1, 2))


def test_always_mode_checks_every_call():
    lk.set_guard("always")
    x = torch.randn(2)
    LF.mse_loss(x, x)
    with pytest.raises(lk.NonFiniteError):
        LF.mse_loss(x, NAN)


def test_off_mode_skips_every_check():
    lk.set_guard("off")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's own broadcast warning
        out = LF.mse_loss(torch.zeros(3, 1), torch.zeros(3))
    assert out.item() == 0.0
    assert torch.isnan(LF.mse_loss(torch.zeros(2), NAN))


def test_metadata_checks_run_on_every_call_in_first_mode():
    x = torch.randn(4)
    LF.mse_loss(x, x)
    for _ in range(3):
        with pytest.raises(lk.LossShapeError):
            LF.mse_loss(x.view(4, 1), x)


def test_strict_mode_raises_warnings_as_errors():
    lk.set_guard("strict")
    with pytest.raises(lk.LossValueError, match="strict"):
        V.warn("some_loss: input looks odd; fix it")


def test_guard_context_manager_restores_mode_and_memory():
    x = torch.randn(2)
    LF.mse_loss(x, x)  # marks the kind as checked
    with lk.guard("always"):
        assert lk.get_guard() == "always"
        with pytest.raises(lk.NonFiniteError):
            LF.mse_loss(x, NAN)
    assert lk.get_guard() == "first"
    assert torch.isnan(LF.mse_loss(x, NAN))  # the kind is still marked as checked


def test_reset_guard_checks_again():
    x = torch.randn(2)
    LF.mse_loss(x, x)
    lk.reset_guard()
    with pytest.raises(lk.NonFiniteError):
        LF.mse_loss(x, NAN)


def test_unknown_mode_is_an_option_error():
    with pytest.raises(lk.LossOptionError, match=r"'firts'.*did you mean 'first'"):
        lk.set_guard("firts")


def test_errors_are_value_and_type_errors():
    assert issubclass(lk.LossShapeError, ValueError)
    assert issubclass(lk.NonFiniteError, ValueError)
    assert issubclass(lk.LossTypeError, TypeError)
    assert issubclass(lk.SuspiciousInputWarning, lk.LosskitWarning)
    assert issubclass(lk.LosskitWarning, UserWarning)


def test_value_checks_are_skipped_while_compiling_in_first_mode():
    """In "first" mode torch.compile traces no value check (no sync, no graph break); metadata checks still run
    and raise losskit's error (tests/test_transforms.py has the "always"/"strict" modes)."""
    torch._dynamo.reset()
    fn = torch.compile(LF.mse_loss, backend="eager", fullgraph=True)
    assert torch.isnan(fn(torch.zeros(2), NAN))
    torch._dynamo.reset()
    with pytest.raises(lk.LossShapeError, match="broadcast"):
        torch.compile(LF.mse_loss, backend="eager")(torch.zeros(3, 1), torch.zeros(3))


def test_environment_variable_sets_the_initial_mode():
    code = "import losskit as lk; print(lk.get_guard())"
    env = {**os.environ, "LOSSKIT_GUARD": "off"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "off"


def test_message_names_loss_argument_received_and_fix():
    with pytest.raises(lk.LossShapeError) as info:
        LF.mse_loss(torch.randn(32, 1), torch.randn(32))
    msg = str(info.value)
    assert msg.startswith("mse_loss:")
    assert "(32, 1)" in msg and "(32,)" in msg
    assert "squeeze" in msg


def test_a_call_whose_checks_fail_does_not_count_as_checked():
    """After a value-check error (or a warning made an error by a filter) the next call is checked again."""
    x = torch.randn(2)
    with pytest.raises(lk.NonFiniteError):
        LF.mse_loss(x, NAN)
    with pytest.raises(lk.NonFiniteError):
        LF.mse_loss(x, NAN)
    LF.mse_loss(x, x)  # a clean call: now the kind counts as checked
    assert torch.isnan(LF.mse_loss(x, NAN))


def test_warning_made_an_error_by_a_filter_is_checked_again():
    probs = torch.tensor([[0.2, 0.8], [0.5, 0.5]])
    target = torch.tensor([1, 0])
    for _ in range(2):
        with warnings.catch_warnings():
            warnings.simplefilter("error", lk.SuspiciousInputWarning)
            with pytest.raises(lk.SuspiciousInputWarning):
                LF.cross_entropy(probs, target)
