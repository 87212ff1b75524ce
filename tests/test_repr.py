"""A Module's repr shows every option that differs from its default (tensor options by shape) and nothing else."""

from __future__ import annotations

import inspect
import re

import pytest
import torch

import losskit as lk
from tests.db import ENTRIES
from tests.loss_db import LossEntry


def _ids(entries: list[LossEntry]) -> list[str]:
    return [e.name for e in entries]


def _defaults(cls: type) -> dict[str, object]:
    """The constructor's named arguments and defaults, those of losskit's own class for a test double."""
    public = next(c for c in cls.__mro__ if c.__module__.startswith("losskit."))
    params = list(inspect.signature(public.__init__).parameters.values())[1:]
    return {p.name: p.default for p in params if p.kind is not inspect.Parameter.VAR_KEYWORD}


def _required(cls: type) -> set[str]:
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    return {p.name for p in params if p.default is inspect.Parameter.empty and p.kind is not p.VAR_KEYWORD}


def _differs(value: object, default: object) -> bool:
    if isinstance(value, torch.Tensor):
        return True
    if value is None or default is None:
        return (value is None) != (default is None)
    if isinstance(value, (list, tuple)) and isinstance(default, (list, tuple)):
        return tuple(value) != tuple(default)
    return bool(value != default)


@pytest.mark.parametrize("entry", ENTRIES, ids=_ids(ENTRIES))
def test_repr_shows_each_option_given_that_differs_from_its_default(entry: LossEntry):
    defaults = _defaults(entry.module)
    checked = 0
    for sample in entry.samples(torch.float32):
        kwargs, _ = entry.split(sample)
        module = entry.module(**kwargs)
        text = module.extra_repr()
        for name, value in kwargs.items():
            if name not in defaults or name in module._repr_skip:  # device, dtype, initial centres
                continue
            default = defaults[name]
            shown = re.search(rf"\b{name}=", text) is not None
            required = default is inspect.Parameter.empty
            assert shown == (required or _differs(value, default)), (name, value, text)
            if isinstance(value, torch.Tensor):
                assert f"{name}={tuple(value.shape)}" in text, text
            checked += 1
    assert checked >= 0  # some entries pass every option at its default


@pytest.mark.parametrize("entry", ENTRIES, ids=_ids(ENTRIES))
def test_repr_at_the_defaults_shows_only_required_options(entry: LossEntry):
    required = {k for k, v in _defaults(entry.module).items() if v is inspect.Parameter.empty}
    kwargs, _ = entry.split(entry.samples(torch.float32)[0])
    kwargs = {k: v for k, v in kwargs.items() if k in _required(entry.module)}  # a test double may need more
    module = entry.module(**kwargs)
    text = module.extra_repr()
    shown = set(re.findall(r"(\w+)=", text))
    assert shown == required, text
    if not required:
        assert repr(module) == f"{entry.module.__name__}()"
    with_reduction = entry.module(**kwargs, reduction="sum")
    assert "reduction='sum'" in repr(with_reduction)


def test_repr_of_the_issue_cases():
    dice = lk.DiceLoss(mode="multiclass", smooth=1.0, log_loss=True, ignore_index=255, from_logits=False)
    assert repr(dice) == (
        "DiceLoss(mode='multiclass', from_logits=False, smooth=1.0, ignore_index=255, log_loss=True)"
    )
    assert repr(lk.DiceLoss(mode="multiclass")) == "DiceLoss(mode='multiclass')"
    focal = lk.FocalLoss(torch.ones(10), alpha=torch.full((10,), 0.5), gamma=1.0)
    assert repr(focal) == "FocalLoss(weight=(10,), gamma=1.0, alpha=(10,))"
    assert repr(lk.FocalLoss(alpha=0.25)) == "FocalLoss(alpha=0.25)"
    head = lk.LinearCrossEntropyLoss(8, 5, out_features=(2,), bias=True, label_smoothing=0.1, weight=torch.ones(5))
    assert repr(head).splitlines()[:2] == [
        "LinearCrossEntropyLoss(",
        "  in_features=8, num_classes=5, out_features=(2,), bias=True, weight=(5,), label_smoothing=0.1",
    ]
    assert lk.LinearCrossEntropyLoss(8, 5).extra_repr() == "in_features=8, num_classes=5"
    assert lk.ArcFaceLoss(10, 4, centres=torch.zeros(10, 4)).extra_repr() == "num_classes=10, embedding_dim=4"
    # a buffer moved or cast keeps printing by shape; a function option by its name
    assert "pos_weight=(3,)" in repr(lk.BCEWithLogitsLoss(pos_weight=torch.ones(3)).double())
    loss = lk.TripletMarginWithDistanceLoss(distance_function=torch.nn.functional.cosine_similarity)
    assert repr(loss) == "TripletMarginWithDistanceLoss(distance_function=cosine_similarity)"


def test_repr_of_a_user_subclass_that_stores_options_elsewhere():
    class Scaled(lk.MSELoss):
        def __init__(self, factor: float = 1.0, *, reduction: str = "mean") -> None:
            super().__init__(reduction=reduction)
            self._factor = factor  # not under its argument's name: left out, never an error

    assert repr(Scaled(2.0, reduction="sum")) == "Scaled(reduction='sum')"

    class Forwarding(lk.HuberLoss):
        def __init__(self, scale: float = 1.0, **options) -> None:
            super().__init__(**options)
            self.scale = scale

    assert repr(Forwarding(2.0, delta=0.5)) == "Forwarding(scale=2.0, delta=0.5)"  # the parent's options too
