import pytest
import torch

import losskit as lk


@pytest.fixture(autouse=True)
def _fresh_guard():
    """Every test starts with the default guard policy and nothing marked as checked."""
    lk.set_guard("first")
    torch.manual_seed(0)
    yield
    lk.set_guard("first")


# helpers of the test suite, not test modules: keep --doctest-modules from importing them twice
collect_ignore_glob = ["db/*.py", "loss_db.py", "references.py"]
